use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "roles")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    #[sea_orm(unique)]
    pub system_name: String,
    pub priority: i32,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::customer_role::Entity")]
    CustomerRole,
    #[sea_orm(has_many = "super::role_product::Entity")]
    RoleProduct,
}

impl Related<super::customer_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerRole.def()
    }
}

impl Related<super::role_product::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::RoleProduct.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
