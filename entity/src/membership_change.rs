use sea_orm::entity::prelude::*;

/// One change of a customer's roles, tags or segments, in the order it happened (`id`).
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
    pub segment_id: Option<i64>,
    /// Why a segment's membership changed: `event:<event id>`, `admin`, `time:…`,
    /// `definition`, `erased`.
    pub reason: Option<String>,
    /// The customer's external id when the change was logged (older rows have none).
    pub customer_external_id: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
