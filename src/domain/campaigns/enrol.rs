//! Enrolment: runs are created by one `INSERT … SELECT … ON CONFLICT DO NOTHING` per campaign
//! and anchor, so the database does the work in one statement, and a subject enrolled before
//! (or, for once-ever campaigns, any earlier entry) is skipped by the unique indexes. The
//! re-entry delay is a `NOT EXISTS` over the campaign's runs of the same customer.
//!
//! A new run is `pending`: the runner checks the entry audience when it first takes it.

use super::status::RunStatus;
use super::{Campaign, Reentry};
use crate::db::raw_statement;
use crate::error::AppResult;
use sea_orm::{ConnectionTrait, Value};

const DAY_MS: i64 = 86_400_000;

/// Rows to enrol: a `SELECT` of `customer_id`, `subject_key`, `subject_ref`, `order_id` and
/// `anchor_at` (by those names; `order_id` cast to BIGINT when NULL), with its values.
pub struct Candidates {
    pub sql: String,
    pub values: Vec<Value>,
}

/// The entry key of a campaign's runs: one per customer ever for once-ever campaigns.
fn entry_key(campaign: &Campaign) -> Option<i64> {
    (campaign.reentry == Reentry::OnceEver).then_some(0)
}

/// Enrols the candidates into the campaign at `now_ms`; returns how many runs were created.
pub async fn enrol(
    txn: &impl ConnectionTrait,
    campaign: &Campaign,
    now_ms: i64,
    candidates: Candidates,
) -> AppResult<u64> {
    let mut sql = String::from(
        "INSERT INTO campaign_runs (campaign_id, customer_id, subject_key, subject_ref, entry_key, \
         order_id, anchor_at, status, step_id, step_started_at, next_due_at, entered_at, ended_at, \
         end_reason, updated_at) \
         SELECT ?, d.customer_id, d.subject_key, d.subject_ref, ?, d.order_id, d.anchor_at, ?, \
         CAST(NULL AS TEXT), ?, ?, ?, CAST(NULL AS BIGINT), CAST(NULL AS TEXT), ? FROM (",
    );
    sql.push_str(&candidates.sql);
    sql.push_str(") d WHERE ");
    let mut values: Vec<Value> = vec![
        campaign.model.id.into(),
        entry_key(campaign).into(),
        RunStatus::Pending.as_str().into(),
        now_ms.into(),
        now_ms.into(),
        now_ms.into(),
        now_ms.into(),
    ];
    values.extend(candidates.values);
    let (reentry, reentry_values) = reentry_filter(campaign, now_ms);
    sql.push_str(&reentry);
    values.extend(reentry_values);
    sql.push_str(" ON CONFLICT DO NOTHING");
    let statement = raw_statement(txn.get_database_backend(), &sql, values);
    Ok(txn.execute_raw(statement).await?.rows_affected())
}

/// The re-entry delay as a condition on a candidate row `d` (`1 = 1` without one).
fn reentry_filter(campaign: &Campaign, now_ms: i64) -> (String, Vec<Value>) {
    match campaign.reentry {
        Reentry::AtMostEveryDays(days) => (
            "NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = ? \
             AND r.customer_id = d.customer_id AND r.entered_at > ? AND r.status <> ?)"
                .to_owned(),
            vec![
                campaign.model.id.into(),
                (now_ms - i64::from(days) * DAY_MS).into(),
                RunStatus::Skipped.as_str().into(),
            ],
        ),
        Reentry::OnceEver | Reentry::OncePerSubject => ("1 = 1".to_owned(), Vec::new()),
    }
}

/// Everything that keeps a candidate row `d` out of the campaign at `now_ms`, as one
/// condition: the re-entry delay, and what the unique indexes refuse (a run for the same
/// subject; for once-ever campaigns, any earlier entry). A preview, which writes nothing,
/// filters with it to show only who a tick would really enrol.
pub(super) fn admission_filter(campaign: &Campaign, now_ms: i64) -> (String, Vec<Value>) {
    let (mut sql, mut values) = reentry_filter(campaign, now_ms);
    sql.push_str(
        " AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = ? \
         AND r.customer_id = d.customer_id AND r.subject_ref = d.subject_ref)",
    );
    values.push(campaign.model.id.into());
    if let Some(key) = entry_key(campaign) {
        sql.push_str(
            " AND NOT EXISTS (SELECT 1 FROM campaign_runs r WHERE r.campaign_id = ? \
             AND r.customer_id = d.customer_id AND r.entry_key = ?)",
        );
        values.push(campaign.model.id.into());
        values.push(key.into());
    }
    (sql, values)
}

/// One customer and subject as candidates (the processor's enrolments).
pub fn one(
    customer_id: i64,
    (subject_key, subject_ref): (String, i64),
    order_id: Option<i64>,
    anchor_at: i64,
) -> Candidates {
    Candidates {
        sql: "SELECT CAST(? AS BIGINT) AS customer_id, CAST(? AS TEXT) AS subject_key, CAST(? AS BIGINT) AS subject_ref, \
              CAST(? AS BIGINT) AS order_id, CAST(? AS BIGINT) AS anchor_at"
            .to_owned(),
        values: vec![
            customer_id.into(),
            subject_key.into(),
            subject_ref.into(),
            order_id.into(),
            anchor_at.into(),
        ],
    }
}
