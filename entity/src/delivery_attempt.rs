use sea_orm::entity::prelude::*;

/// One try at sending a delivery and how it ended (`sent`, `transient`, `permanent`,
/// `unknown`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "delivery_attempts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub delivery_id: i64,
    pub attempt: i32,
    pub started_at: i64,
    pub finished_at: i64,
    pub outcome: String,
    pub detail: Option<String>,
    pub provider_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
