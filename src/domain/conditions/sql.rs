//! A condition as SQL over the customers table: for conditions about a customer's own facts
//! (roles, tags, spend, orders, dates, type, attributes), a `WHERE` fragment over the alias `c`
//! that selects exactly the customers [`super::evaluate`] holds for at the same instant — so a
//! segment can be built with one set-based statement instead of a customer at a time. Every
//! fragment is TRUE or FALSE, never NULL, so `not` means what it means in Rust. Conditions
//! about an event (its items, order, URL) have no meaning without one and are refused with
//! the path of the offending part.

use super::{Condition, DatedFact, ItemScope};
use crate::domain::message::Channel;
use sea_orm::{DbBackend, Value};

const DAY_MS: i64 = 86_400_000;

/// A `WHERE` fragment with `?` placeholders, and the values they stand for, in order.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Fragment {
    pub sql: String,
    pub values: Vec<Value>,
}

impl Fragment {
    /// A fragment of `sql` with the values of its placeholders.
    pub fn new(sql: impl Into<String>, values: Vec<Value>) -> Self {
        Fragment {
            sql: sql.into(),
            values,
        }
    }

    /// Adds text without placeholders.
    pub fn text(&mut self, sql: &str) -> &mut Self {
        self.sql.push_str(sql);
        self
    }

    /// Adds another fragment, its values after these.
    pub fn push(&mut self, other: &Fragment) -> &mut Self {
        self.sql.push_str(&other.sql);
        self.values.extend(other.values.iter().cloned());
        self
    }
}

/// A part of a condition that has no SQL form: its path inside the condition and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Unsupported {
    pub path: Vec<String>,
    pub message: String,
}

/// Compiles `condition` for `backend`, as evaluated at `now_ms`.
pub fn compile(
    condition: &Condition,
    backend: DbBackend,
    now_ms: i64,
) -> Result<Fragment, Unsupported> {
    let mut out = Fragment::default();
    let mut path = Vec::new();
    write(condition, backend, now_ms, &mut path, &mut out)?;
    Ok(out)
}

fn write(
    c: &Condition,
    backend: DbBackend,
    now_ms: i64,
    path: &mut Vec<String>,
    out: &mut Fragment,
) -> Result<(), Unsupported> {
    let refuse = |path: &[String], what: &str| {
        let mut path = path.to_vec();
        path.push(c.part_name().to_owned());
        Err(Unsupported {
            path,
            message: format!("{what} is about an event and has no meaning for a customer alone"),
        })
    };
    match c {
        Condition::All(parts) | Condition::Any(parts) => {
            let (joint, empty) = match c {
                Condition::All(_) => (" AND ", "1 = 1"),
                _ => (" OR ", "1 = 0"),
            };
            let key = match c {
                Condition::All(_) => "all",
                _ => "any",
            };
            if parts.is_empty() {
                out.sql.push_str(empty);
                return Ok(());
            }
            out.sql.push('(');
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    out.sql.push_str(joint);
                }
                path.extend([key.to_owned(), i.to_string()]);
                write(part, backend, now_ms, path, out)?;
                path.truncate(path.len() - 2);
            }
            out.sql.push(')');
        }
        Condition::Not(inner) => {
            out.sql.push_str("NOT (");
            path.push("not".into());
            write(inner, backend, now_ms, path, out)?;
            path.pop();
            out.sql.push(')');
        }
        Condition::Items(p) if p.scope == ItemScope::Event => {
            return refuse(path, "items of the event");
        }
        Condition::Items(_) => {
            let mut path = path.clone();
            path.push(c.part_name().to_owned());
            return Err(Unsupported {
                path,
                message: "the items of the cart cannot define a segment yet".into(),
            });
        }
        Condition::OrderTotal(_) => return refuse(path, "orderTotal"),
        Condition::NthOrder { .. } => return refuse(path, "nthOrder"),
        Condition::PaymentMethod { .. } => return refuse(path, "paymentMethod"),
        Condition::Url(_) => return refuse(path, "url"),
        Condition::MessageOpened { .. }
        | Condition::MessageClicked { .. }
        | Condition::CartViewed {}
        | Condition::CartDecided {} => {
            let mut path = path.clone();
            path.push(c.part_name().to_owned());
            return Err(Unsupported {
                path,
                message: "looks at a campaign run's own messages or cart and has no meaning for \
                          a customer alone"
                    .into(),
            });
        }
        Condition::HasRole { role_ids } => {
            out.sql.push_str(
                "EXISTS (SELECT 1 FROM customer_roles cr WHERE cr.customer_id = c.id AND cr.role_id IN (",
            );
            list(out, role_ids.iter().map(|id| Value::from(*id)));
            out.sql.push_str("))");
        }
        Condition::InSegment { segment_ids } => {
            out.sql.push_str(
                "EXISTS (SELECT 1 FROM segment_members sm WHERE sm.customer_id = c.id AND sm.segment_id IN (",
            );
            list(out, segment_ids.iter().map(|id| Value::from(*id)));
            out.sql.push_str("))");
        }
        Condition::HasTag { tag_id, value } => {
            out.sql.push_str(
                "EXISTS (SELECT 1 FROM customer_tags ct WHERE ct.customer_id = c.id AND ct.tag_id = ?",
            );
            out.values.push((*tag_id).into());
            if let Some(value) = value {
                out.sql.push_str(" AND ct.value = ?");
                out.values.push(value.clone().into());
            }
            out.sql.push(')');
        }
        Condition::LifetimeSpent(range) => between(out, "c.total_spent", range.min, range.max),
        Condition::OrdersCount(range) => between(out, "c.orders_count", range.min, range.max),
        Condition::CustomerType { company } => {
            out.sql.push_str(if *company {
                "c.customer_type = 'company'"
            } else {
                "c.customer_type <> 'company'"
            });
        }
        Condition::Wholesale { wholesale } => {
            out.sql.push_str("c.wholesale = ?");
            out.values.push((*wholesale).into());
        }
        Condition::Affiliate { affiliate_ids } => {
            out.sql.push_str("(c.affiliate_id IS NOT NULL");
            if !affiliate_ids.is_empty() {
                out.sql.push_str(" AND c.affiliate_id IN (");
                list(out, affiliate_ids.iter().map(|a| Value::from(a.clone())));
                out.sql.push(')');
            }
            out.sql.push(')');
        }
        Condition::Attribute { key, equals } => {
            // The stored value as JSON text, NULL when the key is missing.
            let stored = match backend {
                DbBackend::Postgres => "(c.attributes::jsonb -> ?)",
                _ => "(c.attributes -> ?)",
            };
            let wanted = match backend {
                DbBackend::Postgres => "CAST(? AS jsonb)",
                _ => "json(?)",
            };
            let label = match backend {
                DbBackend::Postgres => key.clone(),
                // SQLite reads a label that starts with `$` as a path: spell it as one.
                _ => format!("$.\"{}\"", key.replace('"', "\\\"")),
            };
            out.sql
                .push_str(&format!("({stored} IS NOT NULL AND {stored} = {wanted})"));
            out.values.push(label.clone().into());
            out.values.push(label.into());
            out.values.push(equals.to_string().into());
        }
        Condition::DaysSince { fact, range } => {
            let column = match fact {
                DatedFact::Registration => "c.registered_at",
                DatedFact::LastLogin => "c.last_login_at",
                DatedFact::LastOrder => "c.last_order_at",
            };
            // floor((now − at) / day) ∈ [min, max]  ⇔  now − (max + 1)·day < at ≤ now − min·day
            out.sql.push_str(&format!("({column} IS NOT NULL"));
            if let Some(min) = range.min {
                out.sql.push_str(&format!(" AND {column} <= ?"));
                out.values
                    .push(now_ms.saturating_sub(min.saturating_mul(DAY_MS)).into());
            }
            if let Some(max) = range.max {
                out.sql.push_str(&format!(" AND {column} > ?"));
                let days = max.saturating_add(1);
                out.values
                    .push(now_ms.saturating_sub(days.saturating_mul(DAY_MS)).into());
            }
            out.sql.push(')');
        }
        Condition::BirthdayMonth { months } => {
            out.sql
                .push_str("(c.birthday_month IS NOT NULL AND c.birthday_month IN (");
            list(out, months.iter().map(|m| Value::from(*m as i32)));
            out.sql.push_str("))");
        }
        Condition::Consent { channel } => out.sql.push_str(match channel {
            Channel::Email => "c.email_consent = ?",
            Channel::Sms => "c.sms_consent = ?",
        }),
        Condition::TimeZone { zones } => {
            out.sql
                .push_str("(c.time_zone IS NOT NULL AND c.time_zone IN (");
            list(out, zones.iter().map(|z| Value::from(z.clone())));
            out.sql.push_str("))");
        }
    }
    if matches!(c, Condition::Consent { .. }) {
        out.values.push(true.into());
    }
    Ok(())
}

/// `column` within the inclusive range (open at a missing end).
fn between(out: &mut Fragment, column: &str, min: Option<i64>, max: Option<i64>) {
    out.sql.push('(');
    out.sql.push_str("1 = 1");
    if let Some(min) = min {
        out.sql.push_str(&format!(" AND {column} >= ?"));
        out.values.push(min.into());
    }
    if let Some(max) = max {
        out.sql.push_str(&format!(" AND {column} <= ?"));
        out.values.push(max.into());
    }
    out.sql.push(')');
}

/// `?, ?, …` for `values` (a list that is never empty: conditions are checked on save; an
/// empty one matches nothing).
fn list(out: &mut Fragment, values: impl Iterator<Item = Value>) {
    let mut any = false;
    for (i, value) in values.enumerate() {
        if i > 0 {
            out.sql.push_str(", ");
        }
        out.sql.push('?');
        out.values.push(value);
        any = true;
    }
    if !any {
        out.sql.push_str("NULL");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::conditions::{Range, UrlField, UrlPredicate};

    #[test]
    fn a_condition_about_an_event_is_refused_with_its_path() {
        let c = Condition::All(vec![
            Condition::Wholesale { wholesale: true },
            Condition::Not(Box::new(Condition::Url(UrlPredicate {
                field: UrlField::Url,
                matching: crate::domain::conditions::TextMatch::Contains,
                value: "sale".into(),
            }))),
        ]);
        let refused = compile(&c, DbBackend::Sqlite, 0).unwrap_err();
        assert_eq!(refused.path, vec!["all", "1", "not", "url"]);
        assert!(refused.message.starts_with("url is about an event"));
    }

    #[test]
    fn days_since_becomes_a_range_over_the_instant() {
        let c = Condition::DaysSince {
            fact: DatedFact::LastOrder,
            range: Range {
                min: Some(90),
                max: Some(180),
            },
        };
        let f = compile(&c, DbBackend::Sqlite, 1_000 * DAY_MS).unwrap();
        assert_eq!(
            f.sql,
            "(c.last_order_at IS NOT NULL AND c.last_order_at <= ? AND c.last_order_at > ?)"
        );
        assert_eq!(
            f.values,
            vec![Value::from(910 * DAY_MS), Value::from(819 * DAY_MS)]
        );
    }
}
