use sea_orm::entity::prelude::*;

/// A reaction to one kind of event: a condition, effects and a repeat policy.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_actions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub active: bool,
    pub active_from: Option<i64>,
    pub active_to: Option<i64>,
    pub trigger: String,
    /// The segment a `segment_joined` / `segment_left` trigger listens to.
    pub trigger_segment_id: Option<i64>,
    pub condition: Json,
    pub effects: Json,
    pub repeat_policy: String,
    pub repeat_days: Option<i32>,
    pub created_at: i64,
    pub updated_at: i64,
    /// Why Nudge switched the rule off: its stored definition no longer decodes.
    pub broken_reason: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
