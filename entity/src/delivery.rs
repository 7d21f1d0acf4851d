use sea_orm::entity::prelude::*;

/// One message to one recipient on one channel, in the outbox. `dedupe_key` makes a second
/// copy of the same message impossible.
#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "deliveries")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    #[sea_orm(unique)]
    pub dedupe_key: String,
    pub channel: String,
    pub purpose: String,
    pub customer_id: Option<i64>,
    pub recipient: Option<String>,
    pub subject: Option<String>,
    pub body_html: Option<String>,
    pub body_text: Option<String>,
    pub status: String,
    pub action_id: Option<i64>,
    pub firing_id: Option<i64>,
    pub created_at: i64,
    pub due_at: i64,
    pub campaign_id: Option<i64>,
    pub run_id: Option<i64>,
    pub template_id: Option<i64>,
    /// Sending attempts begun so far.
    pub attempts: i32,
    /// While `sending`: when the claiming process's lease ends.
    pub lease_until: Option<i64>,
    pub lease_owner: Option<String>,
    /// The template variant the message was rendered in.
    pub locale: Option<String>,
    pub rendered_subject: Option<String>,
    pub rendered_html: Option<String>,
    pub rendered_text: Option<String>,
    /// The targets of the message's tracked links, by index.
    pub links: Option<Json>,
    pub provider_id: Option<String>,
    /// Why it was skipped, failed or deferred.
    pub reason: Option<String>,
    pub sent_at: Option<i64>,
    pub opened_at: Option<i64>,
    pub clicked_at: Option<i64>,
    pub updated_at: Option<i64>,
    /// The campaign step that queued it.
    pub step_id: Option<String>,
    pub unsubscribed_at: Option<i64>,
    pub bounced_at: Option<i64>,
    /// When the SMS provider confirmed it.
    pub delivered_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
