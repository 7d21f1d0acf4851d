use sea_orm::entity::prelude::*;

/// A campaign message step's effects, waiting for the message's final outcome: applied when
/// it is sent, dropped when it is skipped or fails.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "message_effects")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub delivery_id: i64,
    pub run_id: i64,
    pub campaign_id: i64,
    pub step_id: String,
    pub effects: Json,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
