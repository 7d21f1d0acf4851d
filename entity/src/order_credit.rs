use sea_orm::entity::prelude::*;

/// The message an order was credited to, the touch that earned it and why; `revenue` is what
/// the statistics count for it now (0 once the order is cancelled or refunded).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "order_credits")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub order_id: i64,
    pub delivery_id: Option<i64>,
    pub channel: String,
    pub campaign_id: Option<i64>,
    pub step_id: Option<String>,
    pub action_id: Option<i64>,
    pub template_id: Option<i64>,
    pub locale: Option<String>,
    /// `click`, `open` or `delivery`.
    pub touch: String,
    pub touched_at: i64,
    pub sent_at: i64,
    pub window_ms: i64,
    /// Whether the order counts as a conversion now (not cancelled or refunded).
    pub counted: bool,
    pub revenue: i64,
    pub currency: String,
    pub reason: String,
    pub credited_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
