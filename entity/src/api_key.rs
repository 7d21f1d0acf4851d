use sea_orm::entity::prelude::*;

/// An API key. Only the SHA-256 of the secret is stored; `prefix` is the key's first
/// characters, kept so that people can tell their keys apart.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "api_keys")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub scope: String,
    pub prefix: String,
    #[sea_orm(unique)]
    pub key_hash: String,
    pub created_at: i64,
    pub last_used_at: Option<i64>,
    pub revoked_at: Option<i64>,
    /// The key of customer signatures (storefront keys); never shown after it is made.
    pub identity_secret: Option<String>,
    /// Whether customer-specific operations must carry a valid signature.
    pub identity_required: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
