use sea_orm::entity::prelude::*;

/// One change of a customer's roles or tags, in the order it happened (`id`).
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "membership_changes")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub kind: String,
    pub role_id: Option<i64>,
    pub tag_id: Option<i64>,
    pub value: Option<String>,
    pub previous_value: Option<String>,
    pub source: String,
    pub occurred_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
