use sea_orm::entity::prelude::*;

/// A change to a figure, not yet folded into [`super::stat_day`]: `delta` of `metric` (with
/// its `key`: a reason, a link) at `at`, in the cohort of `cohort`, for what the dimensions
/// name.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "stat_facts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub metric: String,
    pub key: String,
    pub at: i64,
    pub cohort: i64,
    pub delta: i64,
    pub channel: Option<String>,
    pub campaign_id: Option<i64>,
    pub step_id: Option<String>,
    pub action_id: Option<i64>,
    pub template_id: Option<i64>,
    pub locale: Option<String>,
    pub segment_id: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
