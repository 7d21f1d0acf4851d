//! Leases on outbox rows — the one claiming mechanism of everything Nudge sends (messages to
//! people, webhook messages to endpoints).
//!
//! A row waits `queued` until its due time. A sender claims it in a transaction: `sending`,
//! one more attempt, its lease (owner and end) recorded, and its due time moved to the end of
//! the lease — so a row whose sender died is due again when the lease runs out, and is taken
//! over. An outcome is recorded only through [`fence`]: while the row is still the same
//! sender's, at the same attempt, so a sender whose lease was taken over cannot overwrite the
//! newer outcome. [`pump`] sends what was claimed, a bounded number at once, recording outcomes
//! as they finish.

mod pump;

pub use pump::pump;

use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, UpdateMany};

/// Waiting for its due time (also between retries).
pub const QUEUED: &str = "queued";
/// Claimed; its due time is the end of the lease.
pub const SENDING: &str = "sending";

/// The columns a leased outbox table has.
pub struct LeaseColumns<C> {
    pub id: C,
    pub status: C,
    pub due_at: C,
    pub attempts: C,
    pub lease_owner: C,
    pub lease_until: C,
    pub updated_at: C,
}

/// An outbox table whose rows are claimed with leases.
pub trait Leased: EntityTrait {
    fn lease_columns() -> LeaseColumns<Self::Column>;
}

/// Rows whose time has come: queued and due, or claimed with their lease over.
pub fn due<E: Leased>(now_ms: i64) -> Condition {
    let c = E::lease_columns();
    Condition::all()
        .add(c.status.is_in([QUEUED, SENDING]))
        .add(c.due_at.lte(now_ms))
}

/// Claims rows `ids` for `owner` until `lease_until`: `sending`, one more attempt.
pub fn take<E: Leased>(
    ids: impl IntoIterator<Item = i64>,
    owner: &str,
    lease_until: i64,
    now_ms: i64,
) -> UpdateMany<E> {
    let c = E::lease_columns();
    E::update_many()
        .filter(c.id.is_in(ids))
        .col_expr(c.status, Expr::value(SENDING))
        .col_expr(c.due_at, Expr::value(lease_until))
        .col_expr(c.lease_until, Expr::value(lease_until))
        .col_expr(c.lease_owner, Expr::value(owner))
        .col_expr(c.attempts, Expr::col(c.attempts).add(1))
        .col_expr(c.updated_at, Expr::value(now_ms))
}

/// An update of row `id` that applies only while `owner` still holds it at attempt
/// `attempts`.
pub fn fence<E: Leased>(id: i64, owner: &str, attempts: i32) -> UpdateMany<E> {
    let c = E::lease_columns();
    E::update_many()
        .filter(c.id.eq(id))
        .filter(c.status.eq(SENDING))
        .filter(c.lease_owner.eq(owner))
        .filter(c.attempts.eq(attempts))
}

/// Sets a row's new status and gives its lease back.
pub fn release<E: Leased>(update: UpdateMany<E>, status: &str, now_ms: i64) -> UpdateMany<E> {
    let c = E::lease_columns();
    update
        .col_expr(c.status, Expr::value(status))
        .col_expr(c.lease_owner, Expr::value(Option::<String>::None))
        .col_expr(c.lease_until, Expr::value(Option::<i64>::None))
        .col_expr(c.updated_at, Expr::value(now_ms))
}

/// A fresh name for this process's leases.
pub fn owner_name() -> String {
    format!("{}-{:016x}", std::process::id(), rand::random::<u64>())
}
