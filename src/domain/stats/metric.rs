//! The figures Nudge counts, and the text each is stored as — named here only.

/// One counted figure. Keyed metrics (a skip's or an exit's reason, a link) say so in
/// [`Metric::keyed`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    // Runs.
    /// Passed the entry audience and started.
    Entered,
    /// Checked against the entry audience and not in it.
    NotInAudience,
    Completed,
    Converted,
    /// Ended early, keyed by the reason.
    Exited,
    /// Could not go on.
    RunFailed,
    /// Runs going now: +1 when one starts, −1 when it ends. Counted on [`ALL_TIME`] only.
    Active,
    /// Runs that took a campaign step (a step's funnel figure).
    Reached,
    // Customer actions.
    Fired,
    // Messages.
    Queued,
    Sent,
    /// Not sent, keyed by the reason's code.
    Skipped,
    /// Held for the recipient's quiet hours (each time).
    Deferred,
    Failed,
    Unknown,
    /// The SMS provider confirmed it.
    Delivered,
    /// The address was refused, or the provider reported it undeliverable.
    Bounced,
    Unsubscribed,
    // Engagement.
    /// Open hits that look human.
    Opens,
    /// Messages opened by a person (a human open or a click), once each.
    UniqueOpens,
    /// Open hits that look automatic (prefetch, scanners, privacy proxies).
    MachineOpens,
    Clicks,
    UniqueClicks,
    /// Clicks, keyed by the link.
    LinkClicks,
    /// Messages whose link was clicked, once per message and link, keyed by the link.
    LinkUniqueClicks,
    // Outcome.
    /// Orders credited.
    Conversions,
    /// Revenue of credited orders, in minor units of the store currency.
    Revenue,
    // Segments.
    /// Customers who joined a segment.
    Joined,
    /// Customers who left a segment.
    Left,
}

/// The day gauges ([`Metric::Active`]) are counted on, which no real event has.
pub const ALL_TIME: i32 = 0;

impl Metric {
    pub const ALL: [Metric; 29] = [
        Metric::Entered,
        Metric::NotInAudience,
        Metric::Completed,
        Metric::Converted,
        Metric::Exited,
        Metric::RunFailed,
        Metric::Active,
        Metric::Reached,
        Metric::Fired,
        Metric::Queued,
        Metric::Sent,
        Metric::Skipped,
        Metric::Deferred,
        Metric::Failed,
        Metric::Unknown,
        Metric::Delivered,
        Metric::Bounced,
        Metric::Unsubscribed,
        Metric::Opens,
        Metric::UniqueOpens,
        Metric::MachineOpens,
        Metric::Clicks,
        Metric::UniqueClicks,
        Metric::LinkClicks,
        Metric::LinkUniqueClicks,
        Metric::Conversions,
        Metric::Revenue,
        Metric::Joined,
        Metric::Left,
    ];

    /// The stored text.
    pub fn as_str(self) -> &'static str {
        match self {
            Metric::Entered => "entered",
            Metric::NotInAudience => "notInAudience",
            Metric::Completed => "completed",
            Metric::Converted => "converted",
            Metric::Exited => "exited",
            Metric::RunFailed => "runFailed",
            Metric::Active => "active",
            Metric::Reached => "reached",
            Metric::Fired => "fired",
            Metric::Queued => "queued",
            Metric::Sent => "sent",
            Metric::Skipped => "skipped",
            Metric::Deferred => "deferred",
            Metric::Failed => "failed",
            Metric::Unknown => "unknown",
            Metric::Delivered => "delivered",
            Metric::Bounced => "bounced",
            Metric::Unsubscribed => "unsubscribed",
            Metric::Opens => "opens",
            Metric::UniqueOpens => "uniqueOpens",
            Metric::MachineOpens => "machineOpens",
            Metric::Clicks => "clicks",
            Metric::UniqueClicks => "uniqueClicks",
            Metric::LinkClicks => "linkClicks",
            Metric::LinkUniqueClicks => "linkUniqueClicks",
            Metric::Conversions => "conversions",
            Metric::Revenue => "revenue",
            Metric::Joined => "joined",
            Metric::Left => "left",
        }
    }

    /// The metric of a stored text (`None`: not one Nudge writes).
    pub fn from_stored(s: &str) -> Option<Self> {
        Metric::ALL.into_iter().find(|m| m.as_str() == s)
    }

    /// Whether the figure is a level now rather than a count of what happened on a day.
    pub fn is_gauge(self) -> bool {
        self == Metric::Active
    }
}

/// Why a message was not sent, as counted: a code per kind of reason (the delivery keeps the
/// full sentence).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SkipReason {
    CustomerGone,
    NoContact,
    InvalidAddress,
    Suppressed,
    NoConsent,
    FrequencyCap,
    Erased,
}

impl SkipReason {
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::CustomerGone => "CUSTOMER_GONE",
            SkipReason::NoContact => "NO_CONTACT",
            SkipReason::InvalidAddress => "INVALID_ADDRESS",
            SkipReason::Suppressed => "SUPPRESSED",
            SkipReason::NoConsent => "NO_CONSENT",
            SkipReason::FrequencyCap => "FREQUENCY_CAP",
            SkipReason::Erased => "ERASED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_metric_reads_back_from_its_stored_text() {
        for metric in Metric::ALL {
            assert_eq!(Metric::from_stored(metric.as_str()), Some(metric));
        }
        assert_eq!(Metric::from_stored("views"), None);
    }
}
