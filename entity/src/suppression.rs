use sea_orm::entity::prelude::*;

/// An address no message may go to on a channel (`unsubscribed`, `bounced`, `stop`,
/// `manual`); unique per channel and address.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "suppressions")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub channel: String,
    pub address: String,
    pub reason: String,
    pub customer_id: Option<i64>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
