//! What follows a message's final outcome, in the transaction that records it. The outbox
//! knows nothing of what queued a message; whoever queues messages with consequences (a
//! campaign step's effects follow its message) hands the dispatcher a [`Follow`], and the
//! dispatcher tells it of every delivery of a run that ends sent, skipped, failed or unknown.

use super::Status;
use crate::db::WriteTxn;
use crate::error::AppResult;
use crate::events::MembershipChange;
use futures_util::future::BoxFuture;

/// A delivery whose outcome is final.
#[derive(Clone, Debug)]
pub struct Settled {
    pub delivery_id: i64,
    pub at_ms: i64,
    /// `Sent`, `Skipped`, `Failed` or `Unknown`.
    pub status: Status,
    /// Why it was not sent, when it was not.
    pub reason: Option<String>,
}

/// Told of final outcomes inside the transaction that writes them; what it writes commits
/// with them. Membership changes it returns are announced after the commit.
pub trait Follow: Send + Sync {
    fn settled<'a>(
        &'a self,
        txn: &'a WriteTxn,
        settled: Vec<Settled>,
    ) -> BoxFuture<'a, AppResult<Vec<MembershipChange>>>;

    /// Announces the changes of a committed transaction.
    fn announce(&self, changes: Vec<MembershipChange>);
}

/// Nothing follows (a dispatcher in a test of its own).
pub struct Nothing;

impl Follow for Nothing {
    fn settled<'a>(
        &'a self,
        _txn: &'a WriteTxn,
        _settled: Vec<Settled>,
    ) -> BoxFuture<'a, AppResult<Vec<MembershipChange>>> {
        Box::pin(async { Ok(Vec::new()) })
    }

    fn announce(&self, _changes: Vec<MembershipChange>) {}
}
