use sea_orm::entity::prelude::*;

/// When a customer is due to run out of a product they order: from their last order of it,
/// its quantity and the days one unit lasts (the product's default, or the customer's own
/// interval once learned).
#[derive(Clone, Debug, PartialEq, DeriveEntityModel)]
#[sea_orm(table_name = "replenishment_items")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub customer_id: i64,
    pub product_id: i64,
    pub last_order_id: i64,
    pub last_ordered_at: i64,
    /// Units of the last order.
    pub quantity: i32,
    pub days_per_unit: f64,
    /// Whether `days_per_unit` is the customer's own (two orders or more).
    pub learned: bool,
    /// When it is due: from the last order, or later when postponed.
    pub due_at: i64,
    /// Not due before this (a postponement), until the next order of the product.
    pub postponed_until: Option<i64>,
    /// `waiting`, `in_cart` or `declined`.
    pub status: String,
    /// The open predicted cart that holds it.
    pub cart_id: Option<i64>,
    pub updated_at: i64,
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
