use sea_orm::entity::prelude::*;

/// One try at sending a webhook message: when, how long it took, and the answer (its status
/// and the first KiB of its body) or why there was none.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub message_id: i64,
    pub attempt: i32,
    pub started_at: i64,
    pub latency_ms: i64,
    pub status_code: Option<i32>,
    pub response: Option<String>,
    pub error: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
