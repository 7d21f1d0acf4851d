use sea_orm::entity::prelude::*;

/// One product of a predicted cart, with the quantity proposed and its price when gathered.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "predicted_cart_lines")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub cart_id: i64,
    pub position: i32,
    pub product_id: i64,
    pub item_id: i64,
    pub quantity: i32,
    pub unit_price: i64,
    pub currency: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::product::Entity",
        from = "Column::ProductId",
        to = "super::product::Column::Id"
    )]
    Product,
}

impl Related<super::product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Product.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
