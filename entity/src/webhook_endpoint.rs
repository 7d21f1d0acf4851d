use sea_orm::entity::prelude::*;

/// Where an integrator wants webhook messages sent, with the secret they are signed with and
/// what they are about.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "webhook_endpoints")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(column_type = "Text")]
    pub url: String,
    pub description: Option<String>,
    /// What it wants, as JSON: event types (`null`: all) and role, tag and segment ids.
    #[sea_orm(column_type = "Text")]
    pub filter: String,
    /// `whsec_…`: the secret messages are signed with.
    #[sea_orm(column_type = "Text")]
    pub secret: String,
    /// The secret before the last rotation, still signed with until `previous_secret_until`.
    pub previous_secret: Option<String>,
    pub previous_secret_until: Option<i64>,
    /// The integrator key that created it (`None`: an admin did).
    pub owner_key_id: Option<i64>,
    pub disabled_at: Option<i64>,
    pub disabled_reason: Option<String>,
    /// When its current run of failures began (`None`: its last attempt succeeded).
    pub failing_since: Option<i64>,
    pub last_success_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
