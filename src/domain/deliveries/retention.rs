//! Forgetting old message texts: after `NUDGE_RETENTION_DAYS`, a finished message's rendered
//! subject and bodies (and the template texts it carried) are cleared in small batches. Its
//! row stays — status, times, tracked links, attempts and tracking events — so statistics,
//! attribution and link redirects are unchanged; "view in browser" finds nothing to show.

use super::Status;
use crate::error::AppResult;
use entity::delivery;
use sea_orm::sea_query::Expr;
use sea_orm::{
    ColumnTrait, Condition, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};

/// Rows looked at per statement.
const BATCH: u64 = 2_000;

/// Clears the texts of messages finished more than `days` days before `now`; returns how many.
/// `days` of 0 keeps everything.
pub async fn forget_texts(
    db: &DatabaseConnection,
    now: chrono::DateTime<chrono::Utc>,
    days: u32,
) -> AppResult<u64> {
    if days == 0 {
        return Ok(0);
    }
    let cutoff = now - chrono::Duration::days(i64::from(days));
    purge_texts(db, crate::clock::to_millis(cutoff)).await
}

/// Clears the texts of messages finished and created before `cutoff_ms`; returns how many.
/// Walks the table by id (ids grow with creation time) and stops at the first batch made
/// entirely after the cutoff.
pub async fn purge_texts(db: &DatabaseConnection, cutoff_ms: i64) -> AppResult<u64> {
    let open = [Status::Queued.as_str(), Status::Sending.as_str()];
    let mut after = 0_i64;
    let mut purged = 0;
    loop {
        let batch: Vec<(i64, i64)> = delivery::Entity::find()
            .select_only()
            .column(delivery::Column::Id)
            .column(delivery::Column::CreatedAt)
            .filter(delivery::Column::Id.gt(after))
            .order_by_asc(delivery::Column::Id)
            .limit(BATCH)
            .into_tuple()
            .all(db)
            .await?;
        let (Some(&(first, first_at)), Some(&(last, _))) = (batch.first(), batch.last()) else {
            return Ok(purged);
        };
        if first_at >= cutoff_ms {
            return Ok(purged);
        }
        let none = Expr::value(Option::<String>::None);
        let cleared = delivery::Entity::update_many()
            .col_expr(delivery::Column::RenderedSubject, none.clone())
            .col_expr(delivery::Column::RenderedHtml, none.clone())
            .col_expr(delivery::Column::RenderedText, none.clone())
            .col_expr(delivery::Column::Subject, none.clone())
            .col_expr(delivery::Column::BodyHtml, none.clone())
            .col_expr(delivery::Column::BodyText, none)
            .filter(delivery::Column::Id.between(first, last))
            .filter(delivery::Column::CreatedAt.lt(cutoff_ms))
            .filter(delivery::Column::Status.is_not_in(open))
            .filter(
                Condition::any()
                    .add(delivery::Column::RenderedHtml.is_not_null())
                    .add(delivery::Column::RenderedText.is_not_null())
                    .add(delivery::Column::BodyHtml.is_not_null())
                    .add(delivery::Column::BodyText.is_not_null()),
            )
            .exec(db)
            .await?;
        purged += cleared.rows_affected;
        after = last;
    }
}
