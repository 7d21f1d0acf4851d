use sea_orm::entity::prelude::*;

/// One event for one endpoint, in the webhook outbox. A membership change's message names the
/// change (`change_id`) and gets its body when first sent; every other message carries its
/// body from the start. The body, once set, is what every attempt sends.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_messages")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub endpoint_id: i64,
    pub event_type: String,
    /// The customer it is about: messages about one customer reach an endpoint in order.
    pub customer_id: Option<i64>,
    pub change_id: Option<i64>,
    /// The JSON envelope sent.
    #[sea_orm(column_type = "Text", nullable)]
    pub payload: Option<String>,
    pub occurred_at: i64,
    pub created_at: i64,
    /// `queued`, `sending`, `succeeded` or `failed`.
    pub status: String,
    pub due_at: i64,
    /// Sending attempts begun so far.
    pub attempts: i32,
    pub lease_owner: Option<String>,
    pub lease_until: Option<i64>,
    /// Why its last attempt failed, or why it was given up.
    pub reason: Option<String>,
    pub updated_at: Option<i64>,
    /// What wrote it, when writing it twice must not send it twice (an effect's owner and
    /// index).
    #[sea_orm(unique)]
    pub dedupe_key: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
