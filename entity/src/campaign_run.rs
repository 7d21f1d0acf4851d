use sea_orm::entity::prelude::*;

/// One customer going through one campaign for one subject (an order, a cart, a year's
/// birthday …). Unique per (campaign, customer, subject).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign_runs")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub campaign_id: i64,
    pub customer_id: i64,
    /// The subject for people: `order:<id>`, `cart:<instant>`, `birthday:<year>` …
    pub subject_key: String,
    /// The subject as the unique index sees it: the order id, the instant or the year.
    pub subject_ref: i64,
    /// 0 for campaigns that admit a customer once ever (one run per customer holds it).
    pub entry_key: Option<i64>,
    pub order_id: Option<i64>,
    /// The instant the run is timed from.
    pub anchor_at: i64,
    /// active, completed, converted, exited or skipped.
    pub status: String,
    /// The step the run is at (a wait being waited, or the next step to take).
    pub step_id: Option<String>,
    pub step_started_at: Option<i64>,
    /// When the runner next looks at the run; `None` once it has ended.
    pub next_due_at: Option<i64>,
    pub entered_at: i64,
    pub ended_at: Option<i64>,
    pub end_reason: Option<String>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
