//! Previewing a segment: how many customers a condition selects now and the first of them (by
//! id), without saving anything. A condition about an event is refused with the path of the
//! part (`VALIDATION`).

use crate::db::raw_statement;
use crate::domain::conditions::Condition;
use crate::domain::conditions::sql::compile;
use crate::domain::validate::Checker;
use crate::error::{AppError, AppResult, FieldViolation, ViolationCode};
use entity::customer;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait};

/// The most members a preview lists.
pub const PREVIEW_MEMBERS: u64 = 20;

/// What a condition selects now.
#[derive(Clone, Debug)]
pub struct Preview {
    pub member_count: i64,
    /// The first members by id, at most [`PREVIEW_MEMBERS`].
    pub members: Vec<customer::Model>,
}

/// Counts and lists the customers `condition` holds for at `now_ms`; `field` names the
/// condition in the caller's input, for errors. A condition that nests too deep, is too large
/// or has a part that can never be meaningful is refused like one saved with an action.
pub async fn preview(
    db: &DatabaseConnection,
    condition: &Condition,
    now_ms: i64,
    field: &[String],
) -> AppResult<Preview> {
    let mut checker = Checker::new();
    condition.check(&field.join("."), &mut checker);
    checker.finish()?;
    let backend = db.get_database_backend();
    let fragment = compile(condition, backend, now_ms).map_err(|refused| {
        let mut path = field.to_vec();
        path.extend(refused.path);
        AppError::Invalid(vec![FieldViolation {
            field: path,
            code: ViolationCode::Invalid,
            message: refused.message,
        }])
    })?;
    let counted = db
        .query_one_raw(raw_statement(
            backend,
            &format!(
                "SELECT CAST(COUNT(*) AS BIGINT) AS n FROM customers c WHERE {}",
                fragment.sql
            ),
            fragment.values.clone(),
        ))
        .await?;
    let member_count = match counted {
        Some(row) => row.try_get::<i64>("", "n")?,
        None => 0,
    };
    let members = customer::Entity::find()
        .from_raw_sql(raw_statement(
            backend,
            &format!(
                "SELECT c.* FROM customers c WHERE {} ORDER BY c.id LIMIT {PREVIEW_MEMBERS}",
                fragment.sql
            ),
            fragment.values,
        ))
        .all(db)
        .await?;
    Ok(Preview {
        member_count,
        members,
    })
}
