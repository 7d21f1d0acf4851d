use sea_orm::entity::prelude::*;

/// A banner shown to one customer from `starts_at` until `ends_at` or until dismissed.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "banners")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub action_id: Option<i64>,
    /// The action firing that showed it, or none for a campaign's.
    pub firing_id: Option<i64>,
    /// The campaign run that showed it.
    pub run_id: Option<i64>,
    /// The owner and the effect's place: one banner per firing (or run step) and effect.
    #[sea_orm(unique)]
    pub owner_key: String,
    pub effect_index: i32,
    pub title: String,
    pub body_html: String,
    pub coupon_code: Option<String>,
    pub starts_at: i64,
    pub ends_at: Option<i64>,
    pub dismissed_at: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
