use sea_orm::entity::prelude::*;

/// What a storefront reported, append-only. `event_id` is the client's idempotency key;
/// `fingerprint` a hash of the content, to tell a repeat from a conflicting reuse of the id.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "events")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub event_id: String,
    pub customer_id: i64,
    pub kind: String,
    pub payload: Json,
    pub fingerprint: String,
    pub occurred_at: i64,
    pub received_at: i64,
    pub processed_at: Option<i64>,
    pub outcome: Option<Json>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "Column::CustomerId",
        to = "super::customer::Column::Id",
        on_delete = "Cascade"
    )]
    Customer,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
