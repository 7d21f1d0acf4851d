//! The condition language on the API: a recursive `@oneOf` input, turned into the domain's
//! [`Condition`]. Amounts are decimal strings in the store currency.

use crate::domain::conditions::{
    Condition, DatedFact, ItemAttribute as DItemAttribute, ItemScope as DItemScope, ItemsPredicate,
    Quantifier as DQuantifier, Range, TextMatch as DTextMatch, UrlField as DUrlField, UrlPredicate,
};
use crate::domain::values::{Currency, parse_amount};
use crate::error::{FieldViolation, ViolationCode};
use async_graphql::{Enum, ID, InputObject, Json, OneofObject};

use super::channel::Channel;
use super::customers::CustomerKind;

macro_rules! mirror_enum {
    ($(#[$doc:meta])* $name:ident => $domain:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Enum, Clone, Copy, Debug, PartialEq, Eq)]
        pub enum $name { $($variant),+ }

        impl From<$name> for $domain {
            fn from(v: $name) -> Self {
                match v { $($name::$variant => $domain::$variant),+ }
            }
        }
    };
}

mirror_enum!(
    /// Which property of an item to look at.
    ItemAttribute => DItemAttribute { Product, Category, Manufacturer, Vendor }
);
mirror_enum!(
    /// Whether one or all of the values must be present.
    Quantifier => DQuantifier { Any, All }
);
mirror_enum!(
    /// The event's items (cart lines, order lines, the viewed product) or the current cart.
    ItemScope => DItemScope { Event, Cart }
);
mirror_enum!(
    /// The page's URL or its referrer.
    UrlField => DUrlField { Url, Referrer }
);
mirror_enum!(
    /// How text is compared (case-insensitive).
    TextMatch => DTextMatch { Contains, Equals }
);
mirror_enum!(
    /// A dated fact of a customer.
    DatedFactKind => DatedFact { Registration, LastLogin, LastOrder }
);

/// Products, categories, manufacturers or vendors among items.
#[derive(InputObject)]
pub struct ItemsConditionInput {
    pub attribute: ItemAttribute,
    /// The shop's ids (product external ids, category ids) or names (manufacturer, vendor).
    pub values: Vec<String>,
    #[graphql(name = "match", default_with = "Quantifier::Any")]
    pub quantifier: Quantifier,
    #[graphql(default_with = "ItemScope::Event")]
    pub scope: ItemScope,
}

/// The customer has this tag (with this value, when given).
#[derive(InputObject)]
pub struct HasTagInput {
    pub tag_id: ID,
    pub value: Option<String>,
}

/// An inclusive range of amounts (decimal strings in the store currency); an end may be open.
#[derive(InputObject)]
pub struct AmountRangeInput {
    pub min: Option<String>,
    pub max: Option<String>,
}

/// An inclusive range of whole numbers; an end may be open.
#[derive(InputObject)]
pub struct IntRangeInput {
    pub min: Option<i32>,
    pub max: Option<i32>,
}

/// Text in the visited page's URL or referrer.
#[derive(InputObject)]
pub struct UrlConditionInput {
    pub field: UrlField,
    #[graphql(name = "match", default_with = "TextMatch::Contains")]
    pub matching: TextMatch,
    pub value: String,
}

/// A custom attribute equal to a JSON value.
#[derive(InputObject)]
pub struct AttributeConditionInput {
    pub key: String,
    pub equals: Json<serde_json::Value>,
}

/// Whole days since a dated fact.
#[derive(InputObject)]
pub struct DaysSinceInput {
    pub fact: DatedFactKind,
    pub min: Option<i32>,
    pub max: Option<i32>,
}

/// Came through an affiliate: any (empty list) or one of these.
#[derive(InputObject)]
pub struct AffiliateConditionInput {
    #[graphql(default)]
    pub affiliate_ids: Vec<String>,
}

/// A message step of the same campaign whose message the run sent.
#[derive(InputObject)]
pub struct MessageOpenedInput {
    pub step_id: String,
}

/// A click on a link of the message a step of the same campaign sent.
#[derive(InputObject)]
pub struct MessageClickedInput {
    pub step_id: String,
    /// Only links whose address contains this text (case-insensitive); any link when absent.
    pub link_contains: Option<String>,
}

/// A condition: exactly one field. `all` of nothing is true, `any` of nothing is false.
#[derive(OneofObject)]
pub enum ConditionInput {
    All(Vec<ConditionInput>),
    Any(Vec<ConditionInput>),
    Not(Box<ConditionInput>),
    Items(ItemsConditionInput),
    /// The customer has one of these roles.
    HasRole(Vec<ID>),
    HasTag(HasTagInput),
    /// The event's order total (orders in other currencies never match).
    OrderTotal(AmountRangeInput),
    /// Lifetime spent.
    LifetimeSpent(AmountRangeInput),
    /// Orders placed and not cancelled.
    OrdersCount(IntRangeInput),
    /// The event's order is the customer's Nth (1 = first order).
    NthOrder(i32),
    /// The event's order was paid with one of these methods (case-insensitive).
    PaymentMethod(Vec<String>),
    CustomerType(CustomerKind),
    Wholesale(bool),
    Affiliate(AffiliateConditionInput),
    Url(UrlConditionInput),
    Attribute(AttributeConditionInput),
    DaysSince(DaysSinceInput),
    /// The customer's birthday falls in one of these months (1–12).
    BirthdayMonth(Vec<i32>),
    /// The customer consents to marketing on this channel.
    Consent(Channel),
    /// The customer's own IANA time zone is one of these (a customer without one matches none).
    TimeZone(Vec<String>),
    /// The customer is a member of one of these segments.
    InSegment(Vec<ID>),
    /// Campaigns only: a person opened the message this run sent at the step (a click counts;
    /// machine opens do not).
    MessageOpened(MessageOpenedInput),
    /// Campaigns only: a link of the message this run sent at the step was clicked.
    MessageClicked(MessageClickedInput),
    /// Campaigns only: a person opened the page of the run's predicted cart (`true`), or did
    /// not (`false`).
    CartViewed(bool),
    /// Campaigns only: the run's predicted cart was confirmed, postponed, declined or ordered
    /// (`true`), or is still open (`false`).
    CartDecided(bool),
}

/// Converts an input condition; `path` names where it sits in the operation's input.
pub fn to_condition(
    input: ConditionInput,
    currency: &str,
    path: &[String],
    violations: &mut Vec<FieldViolation>,
) -> Condition {
    let at = |extra: &[&str]| -> Vec<String> {
        path.iter()
            .cloned()
            .chain(extra.iter().map(|s| (*s).to_owned()))
            .collect()
    };
    let mut refuse = |field: Vec<String>, code, message: &str| {
        violations.push(FieldViolation {
            field,
            code,
            message: message.to_owned(),
        })
    };
    let id =
        |raw: &ID, field: Vec<String>, refuse: &mut dyn FnMut(Vec<String>, ViolationCode, &str)| {
            raw.parse::<i64>()
                .ok()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| {
                    refuse(field, ViolationCode::Invalid, "is not a valid id");
                    0
                })
        };
    let amount = |raw: Option<String>,
                  field: Vec<String>,
                  refuse: &mut dyn FnMut(Vec<String>, ViolationCode, &str)| {
        let currency = Currency::parse(currency).ok()?;
        match parse_amount(&raw?, &currency) {
            Ok(minor) => Some(minor),
            Err((code, message)) => {
                refuse(field, code, &message);
                None
            }
        }
    };
    match input {
        ConditionInput::All(parts) => {
            Condition::All(nested(parts, currency, path, "all", violations))
        }
        ConditionInput::Any(parts) => {
            Condition::Any(nested(parts, currency, path, "any", violations))
        }
        ConditionInput::Not(inner) => Condition::Not(Box::new(to_condition(
            *inner,
            currency,
            &at(&["not"]),
            violations,
        ))),
        ConditionInput::Items(i) => Condition::Items(ItemsPredicate {
            attribute: i.attribute.into(),
            values: i.values.into_iter().map(|v| v.trim().to_owned()).collect(),
            quantifier: i.quantifier.into(),
            scope: i.scope.into(),
        }),
        ConditionInput::HasRole(ids) => Condition::HasRole {
            role_ids: ids
                .iter()
                .enumerate()
                .map(|(n, raw)| id(raw, at(&["hasRole", &n.to_string()]), &mut refuse))
                .collect(),
        },
        ConditionInput::InSegment(ids) => Condition::InSegment {
            segment_ids: ids
                .iter()
                .enumerate()
                .map(|(n, raw)| id(raw, at(&["inSegment", &n.to_string()]), &mut refuse))
                .collect(),
        },
        ConditionInput::HasTag(t) => Condition::HasTag {
            tag_id: id(&t.tag_id, at(&["hasTag", "tagId"]), &mut refuse),
            value: t.value,
        },
        ConditionInput::OrderTotal(r) => Condition::OrderTotal(Range {
            min: amount(r.min, at(&["orderTotal", "min"]), &mut refuse),
            max: amount(r.max, at(&["orderTotal", "max"]), &mut refuse),
        }),
        ConditionInput::LifetimeSpent(r) => Condition::LifetimeSpent(Range {
            min: amount(r.min, at(&["lifetimeSpent", "min"]), &mut refuse),
            max: amount(r.max, at(&["lifetimeSpent", "max"]), &mut refuse),
        }),
        ConditionInput::OrdersCount(r) => Condition::OrdersCount(Range {
            min: r.min.map(i64::from),
            max: r.max.map(i64::from),
        }),
        ConditionInput::NthOrder(n) => Condition::NthOrder { n },
        ConditionInput::PaymentMethod(methods) => Condition::PaymentMethod { methods },
        ConditionInput::CustomerType(kind) => Condition::CustomerType {
            company: kind == CustomerKind::Company,
        },
        ConditionInput::Wholesale(wholesale) => Condition::Wholesale { wholesale },
        ConditionInput::Affiliate(a) => Condition::Affiliate {
            affiliate_ids: a.affiliate_ids,
        },
        ConditionInput::Url(u) => Condition::Url(UrlPredicate {
            field: u.field.into(),
            matching: u.matching.into(),
            value: u.value,
        }),
        ConditionInput::Attribute(a) => Condition::Attribute {
            key: a.key,
            equals: a.equals.0,
        },
        ConditionInput::DaysSince(d) => Condition::DaysSince {
            fact: d.fact.into(),
            range: Range {
                min: d.min.map(i64::from),
                max: d.max.map(i64::from),
            },
        },
        ConditionInput::BirthdayMonth(months) => Condition::BirthdayMonth {
            // A month outside 1–12 (0 stands for a negative one) is refused on save.
            months: months.into_iter().map(|m| m.max(0) as u32).collect(),
        },
        ConditionInput::Consent(channel) => Condition::Consent {
            channel: channel.into(),
        },
        ConditionInput::TimeZone(zones) => Condition::TimeZone {
            zones: zones.into_iter().map(|z| z.trim().to_owned()).collect(),
        },
        ConditionInput::MessageOpened(m) => Condition::MessageOpened {
            step_id: m.step_id.trim().to_owned(),
        },
        ConditionInput::MessageClicked(m) => Condition::MessageClicked {
            step_id: m.step_id.trim().to_owned(),
            link_contains: m.link_contains,
        },
        ConditionInput::CartViewed(wanted) => as_wanted(Condition::CartViewed {}, wanted),
        ConditionInput::CartDecided(wanted) => as_wanted(Condition::CartDecided {}, wanted),
    }
}

/// `condition` when `wanted`, its negation otherwise.
fn as_wanted(condition: Condition, wanted: bool) -> Condition {
    if wanted {
        condition
    } else {
        Condition::Not(Box::new(condition))
    }
}

fn nested(
    parts: Vec<ConditionInput>,
    currency: &str,
    path: &[String],
    name: &str,
    violations: &mut Vec<FieldViolation>,
) -> Vec<Condition> {
    parts
        .into_iter()
        .enumerate()
        .map(|(i, part)| {
            let mut sub = path.to_vec();
            sub.push(name.to_owned());
            sub.push(i.to_string());
            to_condition(part, currency, &sub, violations)
        })
        .collect()
}
