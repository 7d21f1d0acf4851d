//! Predicted carts: each customer's due items ([`crate::domain::orders::replenishment`])
//! gathered into one cart for them to confirm, postpone or decline. The weekly collection
//! ([`collect`]) makes them; the customer decides once ([`decide`]).

pub mod collect;
pub mod decide;
pub mod link;
pub mod read;

/// Where a cart stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CartStatus {
    /// Waiting for the customer's decision.
    Open,
    Confirmed,
    Postponed,
    Declined,
    /// The customer ordered everything in it meanwhile.
    Closed,
}

impl CartStatus {
    pub const ALL: [CartStatus; 5] = [
        CartStatus::Open,
        CartStatus::Confirmed,
        CartStatus::Postponed,
        CartStatus::Declined,
        CartStatus::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            CartStatus::Open => "open",
            CartStatus::Confirmed => "confirmed",
            CartStatus::Postponed => "postponed",
            CartStatus::Declined => "declined",
            CartStatus::Closed => "closed",
        }
    }

    /// The status a stored row names; `None` for text Nudge never writes.
    pub fn from_stored(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|status| status.as_str() == s)
    }
}
