use sea_orm::entity::prelude::*;

/// One line of a run's log: what a step did, or why the run entered, waited or ended.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "campaign_run_steps")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub run_id: i64,
    pub step_id: Option<String>,
    pub at: i64,
    pub outcome: String,
    pub detail: Option<String>,
    pub delivery_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
