//! One set of figures as GraphQL shows it: counts, and rates where a count has a denominator.

use super::super::money::Money;
use crate::domain::stats::Metric;
use crate::domain::stats::read::Counts;
use async_graphql::{Object, SimpleObject};

/// How many, for one reason.
#[derive(SimpleObject, Clone, Debug)]
pub struct ReasonCount {
    /// The reason: a code for skips (`NO_CONSENT`, `SUPPRESSED`, `FREQUENCY_CAP`,
    /// `NO_CONTACT`, `INVALID_ADDRESS`, `CUSTOMER_GONE`, `ERASED`), the sentence for exits.
    pub reason: String,
    pub count: i64,
}

/// The figures of one scope over one range (or one day). Messages count marketing messages
/// only (not staff notifications or test sends).
pub struct Figures {
    pub counts: Counts,
    /// Runs going now; `None` where the figures are one day's.
    pub active: Option<i64>,
    pub currency: String,
}

impl Figures {
    fn get(&self, metric: Metric) -> i64 {
        self.counts
            .iter()
            .filter(|((m, _), _)| *m == metric)
            .map(|(_, v)| v)
            .sum()
    }

    fn by_reason(&self, metric: Metric) -> Vec<ReasonCount> {
        let mut list: Vec<ReasonCount> = self
            .counts
            .iter()
            .filter(|((m, _), v)| *m == metric && **v != 0)
            .map(|((_, key), count)| ReasonCount {
                reason: key.clone(),
                count: *count,
            })
            .collect();
        list.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.reason.cmp(&b.reason)));
        list
    }

    fn rate(&self, part: Metric, whole: Metric) -> Option<f64> {
        ratio(self.get(part), self.get(whole))
    }
}

/// `part / whole`, or `None` when there is no whole.
fn ratio(part: i64, whole: i64) -> Option<f64> {
    (whole > 0).then(|| part as f64 / whole as f64)
}

#[Object]
impl Figures {
    /// Runs that passed the entry audience and started.
    async fn entered(&self) -> i64 {
        self.get(Metric::Entered)
    }
    /// Customers checked against the entry audience and not in it.
    async fn not_in_audience(&self) -> i64 {
        self.get(Metric::NotInAudience)
    }
    /// Runs going now, whatever the range (null on a day's figures).
    async fn active(&self) -> Option<i64> {
        self.active
    }
    /// Runs that took their last step.
    async fn completed(&self) -> i64 {
        self.get(Metric::Completed)
    }
    /// Runs that reached their exit goal (for a step: runs whose last message before the goal
    /// was this step's).
    async fn converted(&self) -> i64 {
        self.get(Metric::Converted)
    }
    /// Runs that ended early.
    async fn exited(&self) -> i64 {
        self.get(Metric::Exited)
    }
    async fn exited_by_reason(&self) -> Vec<ReasonCount> {
        self.by_reason(Metric::Exited)
    }
    /// Runs that could not go on.
    async fn runs_failed(&self) -> i64 {
        self.get(Metric::RunFailed)
    }
    /// Runs that arrived at this step (on a step's figures).
    async fn reached(&self) -> i64 {
        self.get(Metric::Reached)
    }
    /// Times a customer action fired.
    async fn fired(&self) -> i64 {
        self.get(Metric::Fired)
    }
    /// Messages put in the outbox.
    async fn queued(&self) -> i64 {
        self.get(Metric::Queued)
    }
    /// Messages the mail server or SMS provider accepted.
    async fn sent(&self) -> i64 {
        self.get(Metric::Sent)
    }
    /// Messages not sent (no consent, suppressed, over the frequency cap, no address …).
    async fn skipped(&self) -> i64 {
        self.get(Metric::Skipped)
    }
    async fn skipped_by_reason(&self) -> Vec<ReasonCount> {
        self.by_reason(Metric::Skipped)
    }
    /// Times a message was held for the recipient's quiet hours.
    async fn deferred(&self) -> i64 {
        self.get(Metric::Deferred)
    }
    /// Messages never accepted: a permanent error, attempts used up, an address refused.
    async fn failed(&self) -> i64 {
        self.get(Metric::Failed)
    }
    /// Messages whose fate is unknown (no answer after the request went out).
    async fn unknown(&self) -> i64 {
        self.get(Metric::Unknown)
    }
    /// SMS the provider confirmed delivered.
    async fn delivered(&self) -> i64 {
        self.get(Metric::Delivered)
    }
    /// Messages whose address was refused, or that the provider reported undeliverable.
    async fn bounced(&self) -> i64 {
        self.get(Metric::Bounced)
    }
    async fn unsubscribed(&self) -> i64 {
        self.get(Metric::Unsubscribed)
    }
    /// Opens by people (every hit of the pixel that does not look automatic).
    async fn opens(&self) -> i64 {
        self.get(Metric::Opens)
    }
    /// Messages opened by a person at least once (a click counts as an open).
    async fn unique_opens(&self) -> i64 {
        self.get(Metric::UniqueOpens)
    }
    /// Opens that look automatic: within seconds of the send, from a privacy proxy or a
    /// scanner. Never counted as unique opens.
    async fn machine_opens(&self) -> i64 {
        self.get(Metric::MachineOpens)
    }
    async fn clicks(&self) -> i64 {
        self.get(Metric::Clicks)
    }
    /// Messages with at least one click.
    async fn unique_clicks(&self) -> i64 {
        self.get(Metric::UniqueClicks)
    }
    /// Orders credited to these messages.
    async fn conversions(&self) -> i64 {
        self.get(Metric::Conversions)
    }
    /// Revenue of the credited orders, in the store currency (refunds and cancellations
    /// taken back out).
    async fn revenue(&self) -> Money {
        Money::new(self.get(Metric::Revenue), &self.currency)
    }
    /// uniqueOpens / sent.
    async fn open_rate(&self) -> Option<f64> {
        self.rate(Metric::UniqueOpens, Metric::Sent)
    }
    /// uniqueClicks / sent.
    async fn click_rate(&self) -> Option<f64> {
        self.rate(Metric::UniqueClicks, Metric::Sent)
    }
    /// uniqueClicks / uniqueOpens.
    async fn click_to_open_rate(&self) -> Option<f64> {
        self.rate(Metric::UniqueClicks, Metric::UniqueOpens)
    }
    /// unsubscribed / sent.
    async fn unsubscribe_rate(&self) -> Option<f64> {
        self.rate(Metric::Unsubscribed, Metric::Sent)
    }
    /// bounced / (sent + failed).
    async fn bounce_rate(&self) -> Option<f64> {
        ratio(
            self.get(Metric::Bounced),
            self.get(Metric::Sent) + self.get(Metric::Failed),
        )
    }
    /// delivered / sent (SMS report deliveries; email does not).
    async fn delivery_rate(&self) -> Option<f64> {
        self.rate(Metric::Delivered, Metric::Sent)
    }
    /// skipped / queued.
    async fn skip_rate(&self) -> Option<f64> {
        self.rate(Metric::Skipped, Metric::Queued)
    }
    /// conversions / sent: the share of recipients whose order was credited.
    async fn conversion_rate(&self) -> Option<f64> {
        self.rate(Metric::Conversions, Metric::Sent)
    }
    /// converted / entered.
    async fn run_conversion_rate(&self) -> Option<f64> {
        self.rate(Metric::Converted, Metric::Entered)
    }
    /// revenue / sent, in the store currency (rounded down to the minor unit).
    async fn revenue_per_recipient(&self) -> Option<Money> {
        let sent = self.get(Metric::Sent);
        (sent > 0).then(|| Money::new(self.get(Metric::Revenue) / sent, &self.currency))
    }
}
