//! Spreadsheet export: the members of a segment, a role or a tag as CSV (RFC 4180, UTF-8, a
//! header row of [`COLUMNS`]), produced a page of customers at a time so memory stays flat
//! whatever the group's size. A text cell that a spreadsheet would read as a formula (it
//! starts with `=`, `+`, `-`, `@`, a tab or a carriage return) is written with a leading `'`.
//! Numbers and instants Nudge writes itself are written as they are.
//!
//! Pages are read by customer id, each in its own statement: a customer who joins or leaves
//! during a long export may or may not be in it, and none is written twice.

use crate::clock::from_millis;
use crate::db::raw_statement;
use crate::domain::values::format_amount;
use crate::error::{AppError, AppResult};
use entity::{role, segment, tag};
use futures_util::Stream;
use sea_orm::{ConnectionTrait, DatabaseConnection, EntityTrait, Value};

/// Customers per page.
const PAGE: u64 = 5000;

/// The customer columns an export reads, in the order of [`COLUMNS`] (a customer's custom
/// attributes are not exported, so never parsed).
const CUSTOMER_COLUMNS: &str = "c.id, c.external_id, c.email, c.phone, c.first_name, \
     c.last_name, c.customer_type, c.wholesale, c.locale, c.time_zone, c.email_consent, \
     c.sms_consent, c.registered_at, c.last_login_at, c.last_order_at, c.orders_count, \
     c.total_spent";

/// The columns of every export, in order.
pub const COLUMNS: [&str; 19] = [
    "customer_id",
    "external_id",
    "email",
    "phone",
    "first_name",
    "last_name",
    "type",
    "wholesale",
    "locale",
    "time_zone",
    "email_consent",
    "sms_consent",
    "registered_at",
    "last_login_at",
    "last_order_at",
    "orders_count",
    "total_spent",
    "member_since",
    "tag_value",
];

/// A group whose members can be exported.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Group {
    Segment(i64),
    Role(i64),
    Tag(i64),
}

impl Group {
    /// The group named by a kind (`segments`, `roles`, `tags`, or the singular) and an id.
    pub fn parse(kind: &str, id: i64) -> Option<Self> {
        match kind {
            "segment" | "segments" => Some(Group::Segment(id)),
            "role" | "roles" => Some(Group::Role(id)),
            "tag" | "tags" => Some(Group::Tag(id)),
            _ => None,
        }
    }

    /// A file name for the export (`segment-7.csv`).
    pub fn file_name(self) -> String {
        match self {
            Group::Segment(id) => format!("segment-{id}.csv"),
            Group::Role(id) => format!("role-{id}.csv"),
            Group::Tag(id) => format!("tag-{id}.csv"),
        }
    }

    /// The membership table, its group column, its since column and its value column.
    fn table(self) -> (&'static str, &'static str, &'static str, &'static str, i64) {
        match self {
            Group::Segment(id) => ("segment_members", "segment_id", "joined_at", "NULL", id),
            Group::Role(id) => ("customer_roles", "role_id", "assigned_at", "NULL", id),
            Group::Tag(id) => ("customer_tags", "tag_id", "set_at", "m.value", id),
        }
    }
}

/// Whether the group exists; `NOT_FOUND` otherwise.
pub async fn check(db: &impl ConnectionTrait, group: Group) -> AppResult<()> {
    let found = match group {
        Group::Segment(id) => segment::Entity::find_by_id(id).one(db).await?.is_some(),
        Group::Role(id) => role::Entity::find_by_id(id).one(db).await?.is_some(),
        Group::Tag(id) => tag::Entity::find_by_id(id).one(db).await?.is_some(),
    };
    if found {
        Ok(())
    } else {
        Err(AppError::NotFound(
            format!("{group:?} does not exist").to_lowercase(),
        ))
    }
}

/// How many customers the group has now (for a progress bar).
pub async fn count(db: &impl ConnectionTrait, group: Group) -> AppResult<u64> {
    let (table, column, _, _, id) = group.table();
    let row = db
        .query_one_raw(raw_statement(
            db.get_database_backend(),
            &format!("SELECT CAST(COUNT(*) AS BIGINT) AS n FROM {table} WHERE {column} = ?"),
            [Value::from(id)],
        ))
        .await?;
    Ok(match row {
        Some(row) => u64::try_from(row.try_get::<i64>("", "n")?).unwrap_or(0),
        None => 0,
    })
}

/// One member as exported.
struct Member {
    id: i64,
    external_id: String,
    email: Option<String>,
    phone: Option<String>,
    first_name: Option<String>,
    last_name: Option<String>,
    customer_type: String,
    wholesale: bool,
    locale: Option<String>,
    time_zone: Option<String>,
    email_consent: bool,
    sms_consent: bool,
    registered_at: Option<i64>,
    last_login_at: Option<i64>,
    last_order_at: Option<i64>,
    orders_count: i32,
    total_spent: i64,
    member_since: i64,
    tag_value: Option<String>,
}

impl Member {
    fn read(r: &sea_orm::QueryResult) -> Result<Self, sea_orm::DbErr> {
        Ok(Member {
            id: r.try_get("", "id")?,
            external_id: r.try_get("", "external_id")?,
            email: r.try_get("", "email")?,
            phone: r.try_get("", "phone")?,
            first_name: r.try_get("", "first_name")?,
            last_name: r.try_get("", "last_name")?,
            customer_type: r.try_get("", "customer_type")?,
            wholesale: r.try_get("", "wholesale")?,
            locale: r.try_get("", "locale")?,
            time_zone: r.try_get("", "time_zone")?,
            email_consent: r.try_get("", "email_consent")?,
            sms_consent: r.try_get("", "sms_consent")?,
            registered_at: r.try_get("", "registered_at")?,
            last_login_at: r.try_get("", "last_login_at")?,
            last_order_at: r.try_get("", "last_order_at")?,
            orders_count: r.try_get("", "orders_count")?,
            total_spent: r.try_get("", "total_spent")?,
            member_since: r.try_get("", "member_since")?,
            tag_value: r.try_get("", "tag_value")?,
        })
    }
}

/// A piece of the export: CSV text and how many members' rows it holds.
pub struct Chunk {
    pub bytes: Vec<u8>,
    pub members: u64,
}

/// The export as chunks of CSV text: the header row, then a chunk per page of members, by
/// customer id. `currency` is the store's, which lifetime spent is kept in.
pub fn csv(
    db: DatabaseConnection,
    group: Group,
    currency: String,
) -> impl Stream<Item = AppResult<Chunk>> {
    async_stream::try_stream! {
        let header = write_rows(std::iter::once(COLUMNS.map(str::to_owned).to_vec()))?;
        yield Chunk { bytes: header, members: 0 };
        let (table, column, since, value, id) = group.table();
        let mut after = 0_i64;
        loop {
            let sql = format!(
                "SELECT {CUSTOMER_COLUMNS}, m.{since} AS member_since, {value} AS tag_value \
                 FROM {table} m JOIN customers c ON c.id = m.customer_id \
                 WHERE m.{column} = ? AND m.customer_id > ? ORDER BY m.customer_id LIMIT {PAGE}"
            );
            let rows = db
                .query_all_raw(raw_statement(
                    db.get_database_backend(),
                    &sql,
                    [Value::from(id), Value::from(after)],
                ))
                .await?;
            let page = rows
                .iter()
                .map(Member::read)
                .collect::<Result<Vec<_>, sea_orm::DbErr>>()?;
            let Some(last) = page.last() else {
                break;
            };
            after = last.id;
            let full = page.len() as u64 == PAGE;
            let members = page.len() as u64;
            let bytes = write_rows(page.into_iter().map(|m| row(m, &currency)))?;
            yield Chunk { bytes, members };
            if !full {
                break;
            }
        }
    }
}

/// One member's cells, in the order of [`COLUMNS`].
fn row(c: Member, currency: &str) -> Vec<String> {
    let text = |s: Option<String>| s.map(neutralise).unwrap_or_default();
    let instant = |t: Option<i64>| t.map(|t| from_millis(t).to_rfc3339()).unwrap_or_default();
    vec![
        c.id.to_string(),
        neutralise(c.external_id),
        text(c.email),
        text(c.phone),
        text(c.first_name),
        text(c.last_name),
        c.customer_type,
        c.wholesale.to_string(),
        text(c.locale),
        text(c.time_zone),
        c.email_consent.to_string(),
        c.sms_consent.to_string(),
        instant(c.registered_at),
        instant(c.last_login_at),
        instant(c.last_order_at),
        c.orders_count.to_string(),
        format_amount(c.total_spent, currency),
        instant(Some(c.member_since)),
        text(c.tag_value),
    ]
}

/// A text a spreadsheet would take for a formula, made plain text with a leading `'`.
pub fn neutralise(text: String) -> String {
    if text.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{text}")
    } else {
        text
    }
}

/// Rows as CSV text (RFC 4180: quoted where needed, CRLF line ends).
fn write_rows(rows: impl IntoIterator<Item = Vec<String>>) -> AppResult<Vec<u8>> {
    let mut writer = csv::WriterBuilder::new()
        .terminator(csv::Terminator::CRLF)
        .from_writer(Vec::new());
    for row in rows {
        writer.write_record(&row).map_err(AppError::internal)?;
    }
    writer
        .into_inner()
        .map_err(|e| AppError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formulas_are_neutralised_and_quotes_doubled() {
        let rows = vec![vec![
            neutralise("=HYPERLINK(\"x\")".into()),
            neutralise("+1".into()),
            neutralise("-2".into()),
            neutralise("@cmd".into()),
            neutralise("\tx".into()),
            neutralise("Zoë, \"the\" best\nline".into()),
        ]];
        let text = String::from_utf8(write_rows(rows).unwrap()).unwrap();
        assert_eq!(
            text,
            "\"'=HYPERLINK(\"\"x\"\")\",'+1,'-2,'@cmd,'\tx,\"Zoë, \"\"the\"\" best\nline\"\r\n"
        );
    }
}
