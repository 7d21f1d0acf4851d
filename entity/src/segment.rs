use sea_orm::entity::prelude::*;

/// A customer group defined by a condition over customer facts; its members are kept in
/// [`super::segment_member`].
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub name: String,
    pub description: Option<String>,
    /// The condition, as JSON in the shape of its GraphQL input.
    #[sea_orm(column_type = "Text")]
    pub condition: String,
    /// The instant up to which members were checked against time boundaries (days since …).
    pub checked_up_to: i64,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
