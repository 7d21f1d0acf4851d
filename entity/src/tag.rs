use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tags")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::customer_tag::Entity")]
    CustomerTag,
}

impl Related<super::customer_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerTag.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
