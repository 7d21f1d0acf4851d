use sea_orm::entity::prelude::*;

/// The shop's catalog as far as conditions need it. `price` is in minor units of `currency`;
/// `category_ids` is a JSON array of the shop's category ids.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "products")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    pub name: String,
    pub sku: Option<String>,
    pub price: i64,
    pub currency: String,
    pub category_ids: Json,
    pub manufacturer: Option<String>,
    pub vendor: Option<String>,
    pub replenishment_days: Option<i32>,
    /// The product's picture (an absolute http(s) URL), shown on predicted cart pages.
    pub image_url: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::role_product::Entity")]
    RoleProduct,
    #[sea_orm(has_many = "super::order_line::Entity")]
    OrderLine,
}

impl Related<super::role_product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RoleProduct.def()
    }
}

impl Related<super::order_line::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::OrderLine.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
