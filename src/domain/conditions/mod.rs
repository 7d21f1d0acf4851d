//! The one condition language of Nudge: `all` / `any` / `not` over typed predicates about a
//! customer, their memberships and the event at hand. Customer actions, campaigns and segments
//! all use it. A condition is stored as JSON in the shape of its GraphQL input; [`evaluate`]
//! is a pure function of the condition and the [`Facts`].

mod eval;
mod facts;

pub use eval::evaluate;
pub use facts::{EventFacts, Facts, Item, OrderFacts};

use crate::domain::validate::Checker;
use crate::error::ViolationCode;
use serde::{Deserialize, Serialize};

/// How deep `all` / `any` / `not` may nest.
pub const MAX_DEPTH: usize = 8;
/// The most predicates one condition may hold.
pub const MAX_NODES: usize = 200;

/// A boolean expression over a customer and an event.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", rename_all_fields = "camelCase")]
pub enum Condition {
    /// True when every part is true (and for an empty list).
    All(Vec<Condition>),
    /// True when some part is true (false for an empty list).
    Any(Vec<Condition>),
    Not(Box<Condition>),
    /// Products, categories, manufacturers or vendors among the items of the event (the cart
    /// of a cart event, the lines of an order event, the viewed product) or the current cart.
    Items(ItemsPredicate),
    /// The customer has one of these roles.
    HasRole {
        role_ids: Vec<i64>,
    },
    /// The customer has this tag (with this value, when given).
    HasTag {
        tag_id: i64,
        value: Option<String>,
    },
    /// The event's order total, in minor units of the store currency.
    OrderTotal(Range),
    /// Lifetime spent, in minor units of the store currency.
    LifetimeSpent(Range),
    /// Orders placed and not cancelled.
    OrdersCount(Range),
    /// The event's order is the customer's `n`th.
    NthOrder {
        n: i32,
    },
    /// The event's order was paid with one of these methods.
    PaymentMethod {
        methods: Vec<String>,
    },
    CustomerType {
        company: bool,
    },
    Wholesale {
        wholesale: bool,
    },
    /// Came through an affiliate: any, or one of `affiliate_ids`.
    Affiliate {
        affiliate_ids: Vec<String>,
    },
    /// The visited page's URL or referrer contains or equals a text (case-insensitive).
    Url(UrlPredicate),
    /// A custom attribute equals a JSON value.
    Attribute {
        key: String,
        equals: serde_json::Value,
    },
    /// Whole days since registration, last login or last order.
    DaysSince {
        fact: DatedFact,
        range: Range,
    },
}

/// Which property of an item a predicate looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemAttribute {
    Product,
    Category,
    Manufacturer,
    Vendor,
}

/// Whether one or all of the listed values must be present.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Quantifier {
    Any,
    All,
}

/// Which items a predicate looks at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ItemScope {
    /// The items the event is about.
    Event,
    /// The customer's current cart.
    Cart,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ItemsPredicate {
    pub attribute: ItemAttribute,
    /// Product, category, manufacturer or vendor ids as the shop knows them.
    pub values: Vec<String>,
    pub quantifier: Quantifier,
    pub scope: ItemScope,
}

/// An inclusive range; a missing end is open.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Range {
    pub min: Option<i64>,
    pub max: Option<i64>,
}

impl Range {
    pub fn contains(&self, value: i64) -> bool {
        self.min.is_none_or(|min| value >= min) && self.max.is_none_or(|max| value <= max)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum UrlField {
    Url,
    Referrer,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TextMatch {
    Contains,
    Equals,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UrlPredicate {
    pub field: UrlField,
    pub matching: TextMatch,
    pub value: String,
}

/// A dated fact of a customer.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum DatedFact {
    Registration,
    LastLogin,
    LastOrder,
}

impl Condition {
    /// The always-true condition.
    pub fn always() -> Self {
        Condition::All(Vec::new())
    }

    /// Refuses, as `field`, a condition that nests too deep, is too large or can never be
    /// meaningful. References (roles, tags) are the caller's to check.
    pub fn check(&self, field: &str, checker: &mut Checker) {
        if self.depth() > MAX_DEPTH {
            checker.refuse(
                field,
                ViolationCode::OutOfRange,
                format!("nests deeper than {MAX_DEPTH} levels"),
            );
        }
        if self.size() > MAX_NODES {
            checker.refuse(
                field,
                ViolationCode::OutOfRange,
                format!("has more than {MAX_NODES} parts"),
            );
        }
        if let Some(problem) = self.first_problem() {
            checker.refuse(field, ViolationCode::Invalid, problem);
        }
    }

    /// Nesting depth (a predicate alone is 1).
    pub fn depth(&self) -> usize {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                1 + parts.iter().map(Condition::depth).max().unwrap_or(0)
            }
            Condition::Not(inner) => 1 + inner.depth(),
            _ => 1,
        }
    }

    /// Number of nodes.
    pub fn size(&self) -> usize {
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                1 + parts.iter().map(Condition::size).sum::<usize>()
            }
            Condition::Not(inner) => 1 + inner.size(),
            _ => 1,
        }
    }

    /// Every role id the condition refers to.
    pub fn role_ids(&self) -> Vec<i64> {
        let mut ids = Vec::new();
        self.visit(&mut |c| {
            if let Condition::HasRole { role_ids } = c {
                ids.extend(role_ids.iter().copied());
            }
        });
        ids
    }

    /// Every tag id the condition refers to.
    pub fn tag_ids(&self) -> Vec<i64> {
        let mut ids = Vec::new();
        self.visit(&mut |c| {
            if let Condition::HasTag { tag_id, .. } = c {
                ids.push(*tag_id);
            }
        });
        ids
    }

    /// The first part that can never be meaningful (an empty list, a range whose minimum is
    /// above its maximum …), described for people.
    pub fn first_problem(&self) -> Option<String> {
        let mut problem = None;
        self.visit(&mut |c| {
            if problem.is_some() {
                return;
            }
            let bad_range = |r: &Range| r.min.zip(r.max).is_some_and(|(min, max)| min > max);
            problem = match c {
                Condition::Items(p) if p.values.is_empty() => {
                    Some("items needs at least one value")
                }
                Condition::HasRole { role_ids } if role_ids.is_empty() => {
                    Some("hasRole needs at least one role")
                }
                Condition::PaymentMethod { methods } if methods.is_empty() => {
                    Some("paymentMethod needs at least one method")
                }
                Condition::NthOrder { n } if *n < 1 => Some("nthOrder counts from 1"),
                Condition::Url(p) if p.value.trim().is_empty() => Some("url needs a text to match"),
                Condition::Attribute { key, .. } if key.trim().is_empty() => {
                    Some("attribute needs a key")
                }
                Condition::OrderTotal(r)
                | Condition::LifetimeSpent(r)
                | Condition::OrdersCount(r)
                | Condition::DaysSince { range: r, .. }
                    if bad_range(r) =>
                {
                    Some("a range's min is above its max")
                }
                _ => None,
            }
            .map(str::to_owned);
        });
        problem
    }

    fn visit(&self, f: &mut impl FnMut(&Condition)) {
        f(self);
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                for part in parts {
                    part.visit(f);
                }
            }
            Condition::Not(inner) => inner.visit(f),
            _ => {}
        }
    }
}
