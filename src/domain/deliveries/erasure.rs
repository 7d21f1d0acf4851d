//! What erasing a customer ([`crate::domain::erasure`]) does to the outbox. What the shop
//! keeps is aggregate history without a person in it: every delivery stays, with its channel, purpose, campaign or action, status
//! and times, but without the customer, the recipient's address (marketing messages), the
//! rendered content, tracked links, the provider's message id or the provider's words
//! (attempt details, failure reasons). Staff and test messages keep their own recipient.
//! Messages not sent yet are skipped ("the customer was erased"); one already handed to a
//! provider at that moment may still arrive, but its outcome is not written back. The
//! suppression list keeps the customer's addresses, unlinked, so that an unsubscribe or a
//! STOP is still honoured if the address comes back.

use super::{Purpose, Status, settle};
use crate::domain::stats::metric::SkipReason;
use crate::domain::stats::{self, Fact, Metric};
use crate::error::AppResult;
use entity::{delivery, delivery_attempt, delivery_event, suppression};
use sea_orm::sea_query::{Expr, Query};
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

/// Why the erased customer's unsent messages were not sent.
pub const ERASED: &str = "the customer was erased";

/// Takes the customer's personal data out of the outbox and the suppression list, inside the
/// caller's transaction (which then deletes the customer).
pub async fn forget_customer(
    txn: &impl ConnectionTrait,
    customer_id: i64,
    now_ms: i64,
) -> AppResult<()> {
    let of_customer = || {
        Query::select()
            .column(delivery::Column::Id)
            .from(delivery::Entity)
            .and_where(delivery::Column::CustomerId.eq(customer_id))
            .to_owned()
    };
    delivery_attempt::Entity::update_many()
        .col_expr(
            delivery_attempt::Column::Detail,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            delivery_attempt::Column::ProviderId,
            Expr::value(Option::<String>::None),
        )
        .filter(delivery_attempt::Column::DeliveryId.in_subquery(of_customer()))
        .exec(txn)
        .await?;
    delivery_event::Entity::update_many()
        .col_expr(
            delivery_event::Column::Detail,
            Expr::value(Option::<String>::None),
        )
        .filter(delivery_event::Column::DeliveryId.in_subquery(of_customer()))
        .exec(txn)
        .await?;
    // Unsent messages are never sent; a dispatcher holding one loses its lease, so what it
    // would record afterwards (fenced by the lease) is not written.
    let unsent = delivery::Entity::find()
        .filter(delivery::Column::CustomerId.eq(customer_id))
        .filter(delivery::Column::Status.is_in([Status::Queued.as_str(), Status::Sending.as_str()]))
        .filter(delivery::Column::Purpose.eq(Purpose::Marketing.as_str()))
        .all(txn)
        .await?;
    let facts = unsent
        .iter()
        .map(|d| Fact::of_message(Metric::Skipped, d, now_ms).keyed(SkipReason::Erased.as_str()))
        .collect();
    stats::note(txn, facts).await?;
    settle(
        delivery::Entity::update_many(),
        Status::Skipped,
        Some(ERASED.to_owned()),
        now_ms,
    )
    .filter(delivery::Column::CustomerId.eq(customer_id))
    .filter(delivery::Column::Status.is_in([Status::Queued.as_str(), Status::Sending.as_str()]))
    .exec(txn)
    .await?;
    // Skip reasons are Nudge's own words; failure reasons quote the provider (addresses).
    let provider_words = Expr::case(
        delivery::Column::Status.eq(Status::Skipped.as_str()),
        Expr::col(delivery::Column::Reason),
    )
    .finally(Expr::value(Option::<String>::None));
    let own_recipient = Expr::case(
        delivery::Column::Purpose.eq(Purpose::Marketing.as_str()),
        Expr::value(Option::<String>::None),
    )
    .finally(Expr::col(delivery::Column::Recipient));
    delivery::Entity::update_many()
        .col_expr(
            delivery::Column::CustomerId,
            Expr::value(Option::<i64>::None),
        )
        .col_expr(delivery::Column::Recipient, own_recipient.into())
        .col_expr(delivery::Column::Reason, provider_words.into())
        .col_expr(
            delivery::Column::RenderedSubject,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            delivery::Column::RenderedHtml,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            delivery::Column::RenderedText,
            Expr::value(Option::<String>::None),
        )
        .col_expr(
            delivery::Column::Links,
            Expr::value(Option::<serde_json::Value>::None),
        )
        .col_expr(
            delivery::Column::ProviderId,
            Expr::value(Option::<String>::None),
        )
        .filter(delivery::Column::CustomerId.eq(customer_id))
        .exec(txn)
        .await?;
    suppression::Entity::update_many()
        .col_expr(
            suppression::Column::CustomerId,
            Expr::value(Option::<i64>::None),
        )
        .filter(suppression::Column::CustomerId.eq(customer_id))
        .exec(txn)
        .await?;
    Ok(())
}
