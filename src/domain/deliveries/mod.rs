//! The outbox: every message Nudge decided to send, with its attempts and what happened to
//! it after. The dispatcher ([`dispatch`]) claims due deliveries with a lease, checks consent,
//! suppression, quiet hours and frequency caps at send time ([`claim`]), renders and sends
//! them, and records the outcome; [`tracking`] records opens, clicks, unsubscribes and the SMS
//! provider's reports.
//!
//! Statuses: `queued` (waiting for its due time, also between retries), `sending` (claimed;
//! its due time is the end of the lease), `sent`, `delivered` (the provider confirmed),
//! `failed` (permanently, or out of attempts), `skipped` (not sent, with the reason) and
//! `unknown` (the provider may have it; never re-sent automatically).

pub mod claim;
pub mod dispatch;
pub mod erasure;
pub mod follow;
pub mod hooks;
pub mod outbox;
pub mod query;
pub mod retention;
pub mod secrets;
pub mod suppressions;
pub mod test_message;
pub mod tracking;

pub use crate::domain::message::Purpose;
pub use dispatch::{Dispatcher, Senders};

use crate::domain::lease::{self, LeaseColumns, Leased};
use entity::delivery;
use sea_orm::UpdateMany;
use sea_orm::sea_query::Expr;

impl Leased for delivery::Entity {
    fn lease_columns() -> LeaseColumns<delivery::Column> {
        LeaseColumns {
            id: delivery::Column::Id,
            status: delivery::Column::Status,
            due_at: delivery::Column::DueAt,
            attempts: delivery::Column::Attempts,
            lease_owner: delivery::Column::LeaseOwner,
            lease_until: delivery::Column::LeaseUntil,
            updated_at: delivery::Column::UpdatedAt,
        }
    }
}

/// Sets a delivery's new status and reason and gives its lease back.
pub(crate) fn settle(
    update: UpdateMany<delivery::Entity>,
    status: Status,
    reason: Option<String>,
    now_ms: i64,
) -> UpdateMany<delivery::Entity> {
    lease::release(update, status.as_str(), now_ms)
        .col_expr(delivery::Column::Reason, Expr::value(reason))
}

/// Where a delivery stands.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    Queued,
    Sending,
    Sent,
    Delivered,
    Failed,
    Skipped,
    Unknown,
}

impl Status {
    pub const ALL: [Status; 7] = [
        Status::Queued,
        Status::Sending,
        Status::Sent,
        Status::Delivered,
        Status::Failed,
        Status::Skipped,
        Status::Unknown,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Queued => lease::QUEUED,
            Status::Sending => lease::SENDING,
            Status::Sent => "sent",
            Status::Delivered => "delivered",
            Status::Failed => "failed",
            Status::Skipped => "skipped",
            Status::Unknown => "unknown",
        }
    }

    pub fn from_stored(s: &str) -> Self {
        Self::ALL
            .into_iter()
            .find(|status| status.as_str() == s)
            .unwrap_or(Status::Queued)
    }
}
