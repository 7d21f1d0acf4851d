//! Customers: identity, consent and the facts marketing needs. Reads live here; writes in
//! [`write`].

mod bulk;
mod write;

pub(crate) use bulk::{load_or_create, save_changed};
pub(crate) use write::apply;
pub use write::{ConsentInput, CustomerInput, create, delete_in, update};

use crate::db::in_list;
use crate::domain::page::{Page, PageRequest, fetch_page};
use crate::domain::records::group_by;
use crate::domain::validate::Checker;
use crate::error::{AppError, AppResult, ViolationCode};
use entity::{cart_line, customer, customer_role, customer_tag, product, tag};
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr, Query};
use sea_orm::{ColumnTrait, Condition, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// Whether a customer is a person or a company.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CustomerType {
    Person,
    Company,
}

impl CustomerType {
    pub fn as_str(self) -> &'static str {
        match self {
            CustomerType::Person => "person",
            CustomerType::Company => "company",
        }
    }

    /// Reads the stored spelling; anything unknown reads as a person.
    pub fn from_stored(s: &str) -> Self {
        if s == "company" {
            CustomerType::Company
        } else {
            CustomerType::Person
        }
    }
}

/// Filters of the admin customer list; all given filters must match.
#[derive(Clone, Debug, Default)]
pub struct CustomerFilter {
    /// Exact address, compared case-insensitively.
    pub email: Option<String>,
    pub role_id: Option<i64>,
    /// A tag's name; with `tag_value`, only customers whose tag has that value.
    pub tag: Option<String>,
    pub tag_value: Option<String>,
    /// Part of the external id, email, phone or name, case-insensitive.
    pub text: Option<String>,
}

/// The customer with this id.
pub async fn find(db: &impl ConnectionTrait, id: i64) -> AppResult<Option<customer::Model>> {
    Ok(customer::Entity::find_by_id(id).one(db).await?)
}

/// The customer the shop knows by `external_id`.
pub async fn find_by_external_id(
    db: &impl ConnectionTrait,
    external_id: &str,
) -> AppResult<Option<customer::Model>> {
    Ok(customer::Entity::find()
        .filter(customer::Column::ExternalId.eq(external_id.trim()))
        .one(db)
        .await?)
}

/// Like [`find`], but a missing customer is `NOT_FOUND`.
pub async fn get(db: &impl ConnectionTrait, id: i64) -> AppResult<customer::Model> {
    find(db, id)
        .await?
        .ok_or_else(|| AppError::NotFound(format!("customer {id} does not exist")))
}

/// The longest text a customer filter takes: a search is a pattern over five columns of
/// every customer, and SQLite refuses very long patterns.
pub const MAX_FILTER_TEXT: usize = 100;

impl CustomerFilter {
    /// Refuses filter values longer than [`MAX_FILTER_TEXT`] (`VALIDATION`, with the field).
    pub fn check(&self) -> AppResult<()> {
        let mut checker = Checker::new();
        for (field, value) in [
            ("email", &self.email),
            ("tag", &self.tag),
            ("tagValue", &self.tag_value),
            ("text", &self.text),
        ] {
            if let Some(value) = value
                && value.chars().count() > MAX_FILTER_TEXT
            {
                checker.refuse_at(
                    &["filter", field],
                    ViolationCode::TooLong,
                    format!("must be at most {MAX_FILTER_TEXT} characters"),
                );
            }
        }
        checker.finish()
    }
}

/// One page of customers matching `filter`, oldest first. A filter value that is too long
/// is `VALIDATION`.
pub async fn list(
    db: &impl ConnectionTrait,
    filter: &CustomerFilter,
    page: PageRequest,
) -> AppResult<Page<customer::Model>> {
    filter.check()?;
    let mut condition = Condition::all();
    if let Some(email) = filter.email.as_deref() {
        condition = condition.add(customer::Column::Email.eq(email.trim().to_lowercase()));
    }
    if let Some(role_id) = filter.role_id {
        condition = condition.add(
            customer::Column::Id.in_subquery(
                Query::select()
                    .column(customer_role::Column::CustomerId)
                    .from(customer_role::Entity)
                    .and_where(customer_role::Column::RoleId.eq(role_id))
                    .to_owned(),
            ),
        );
    }
    if let Some(tag_name) = filter.tag.as_deref() {
        let mut tagged = Query::select()
            .column((customer_tag::Entity, customer_tag::Column::CustomerId))
            .from(customer_tag::Entity)
            .inner_join(
                tag::Entity,
                Expr::col((tag::Entity, tag::Column::Id))
                    .equals((customer_tag::Entity, customer_tag::Column::TagId)),
            )
            .and_where(Expr::col((tag::Entity, tag::Column::Name)).eq(tag_name.trim()))
            .to_owned();
        if let Some(value) = filter.tag_value.as_deref() {
            tagged.and_where(
                Expr::col((customer_tag::Entity, customer_tag::Column::Value)).eq(value),
            );
        }
        condition = condition.add(customer::Column::Id.in_subquery(tagged));
    }
    if let Some(text) = filter
        .text
        .as_deref()
        .map(str::trim)
        .filter(|t| !t.is_empty())
    {
        let pattern = format!("%{}%", escape_like(&text.to_lowercase()));
        let mut any = Condition::any();
        for column in [
            customer::Column::ExternalId,
            customer::Column::Email,
            customer::Column::Phone,
            customer::Column::FirstName,
            customer::Column::LastName,
        ] {
            any = any.add(
                Expr::expr(Func::lower(Expr::col((customer::Entity, column))))
                    .like(LikeExpr::new(pattern.clone()).escape('\\')),
            );
        }
        condition = condition.add(any);
    }
    let select = customer::Entity::find().filter(condition);
    Ok(fetch_page(db, select, customer::Column::Id, page).await?)
}

/// A customer's current cart with its products, oldest line first.
pub async fn cart(
    db: &impl ConnectionTrait,
    customer_id: i64,
) -> AppResult<Vec<(cart_line::Model, product::Model)>> {
    let mut carts = carts_of(db, &[customer_id]).await?;
    Ok(carts.remove(&customer_id).unwrap_or_default())
}

/// The carts of `customer_ids`, each as [`cart`] gives it.
pub async fn carts_of(
    db: &impl ConnectionTrait,
    customer_ids: &[i64],
) -> AppResult<HashMap<i64, Vec<(cart_line::Model, product::Model)>>> {
    let rows = cart_line::Entity::find()
        .filter(cart_line::Column::CustomerId.is_in(in_list(customer_ids.iter().copied())))
        .find_also_related(product::Entity)
        .order_by_asc(cart_line::Column::AddedAt)
        .order_by_asc(cart_line::Column::ProductId)
        .all(db)
        .await?
        .into_iter()
        .filter_map(|(line, product)| product.map(|p| (line, p)));
    Ok(group_by(rows, |(line, _)| line.customer_id))
}

fn escape_like(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        if matches!(c, '%' | '_' | '\\') {
            escaped.push('\\');
        }
        escaped.push(c);
    }
    escaped
}
