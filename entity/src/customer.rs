use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub external_id: String,
    pub email: Option<String>,
    pub phone: Option<String>,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub birthday: Option<Date>,
    pub birthday_month: Option<i16>,
    pub birthday_day: Option<i16>,
    pub time_zone: Option<String>,
    pub locale: Option<String>,
    pub customer_type: String,
    pub wholesale: bool,
    pub affiliate_id: Option<String>,
    pub email_consent: bool,
    pub email_consent_at: Option<i64>,
    pub email_consent_source: Option<String>,
    pub sms_consent: bool,
    pub sms_consent_at: Option<i64>,
    pub sms_consent_source: Option<String>,
    pub registered_at: Option<i64>,
    pub last_login_at: Option<i64>,
    pub last_order_at: Option<i64>,
    pub orders_count: i32,
    pub total_spent: i64,
    pub attributes: Json,
    pub cart_updated_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::customer_role::Entity")]
    CustomerRole,
    #[sea_orm(has_many = "super::customer_tag::Entity")]
    CustomerTag,
    #[sea_orm(has_many = "super::order::Entity")]
    Order,
}

impl Related<super::customer_role::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerRole.def()
    }
}

impl Related<super::customer_tag::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::CustomerTag.def()
    }
}

impl Related<super::order::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Order.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}
