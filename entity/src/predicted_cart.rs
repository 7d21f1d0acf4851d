use sea_orm::entity::prelude::*;

/// A customer's due items gathered into one cart for them to confirm, postpone or decline;
/// at most one is open per customer.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "predicted_carts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    /// `open`, `confirmed`, `postponed` or `declined`.
    pub status: String,
    pub created_at: i64,
    /// When the customer first looked at it.
    pub viewed_at: Option<i64>,
    pub decided_at: Option<i64>,
    /// What was decided, as JSON (the lines confirmed, the days postponed).
    pub decision: Option<String>,
    /// The reorder a confirmation recorded.
    pub order_id: Option<i64>,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
