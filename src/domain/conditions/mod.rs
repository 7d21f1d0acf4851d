//! The one condition language of Nudge: `all` / `any` / `not` over typed predicates about a
//! customer, their memberships and the event at hand. Customer actions, campaigns and segments
//! all use it. A condition is stored as JSON in the shape of its GraphQL input; [`evaluate`]
//! is a pure function of the condition and the [`Facts`].

mod eval;
mod facts;
pub mod load;
pub mod sql;

pub use eval::evaluate;
pub use facts::{EventFacts, Facts, Item, OrderFacts, RunFacts};

use crate::domain::message::Channel;
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
    /// The customer's birthday falls in one of these months (1–12).
    BirthdayMonth {
        months: Vec<u32>,
    },
    /// The customer consents to marketing on this channel.
    Consent {
        channel: Channel,
    },
    /// The customer's own IANA time zone is one of these (a customer without one has none).
    TimeZone {
        zones: Vec<String>,
    },
    /// The customer is a member of one of these segments.
    InSegment {
        segment_ids: Vec<i64>,
    },
    /// A person opened the message the run sent at step `step_id` (a click counts as an open;
    /// machine opens do not). Campaigns only.
    MessageOpened {
        step_id: String,
    },
    /// A link of the message the run sent at step `step_id` was clicked; only links whose
    /// address contains `link_contains` (case-insensitive), when given. Campaigns only.
    MessageClicked {
        step_id: String,
        link_contains: Option<String>,
    },
    /// A person opened the page of the run's predicted cart (the one a `replenishmentDue` run
    /// is about, else the newest gathered since the run entered). Campaigns only.
    CartViewed {},
    /// The run's predicted cart was confirmed, postponed or declined, or ordered meanwhile.
    /// Campaigns only.
    CartDecided {},
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

/// Which facts of a customer a condition reads, as a set: a segment is evaluated again for a
/// customer only when one of the facts it reads changed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Reads(u16);

impl Reads {
    pub const NOTHING: Reads = Reads(0);
    pub const ROLES: Reads = Reads(1);
    pub const TAGS: Reads = Reads(1 << 1);
    /// Lifetime spent, orders count and the last order's date.
    pub const ORDERS: Reads = Reads(1 << 2);
    pub const REGISTRATION: Reads = Reads(1 << 3);
    pub const LAST_LOGIN: Reads = Reads(1 << 4);
    /// Type, wholesale, affiliate, custom attributes, birthday and time zone.
    pub const PROFILE: Reads = Reads(1 << 5);
    pub const CONSENT: Reads = Reads(1 << 6);
    pub const SEGMENTS: Reads = Reads(1 << 7);
    /// The event at hand or the cart (never part of a segment).
    pub const EVENT: Reads = Reads(1 << 8);
    /// The run's own messages and predicted cart (campaigns only).
    pub const RUN: Reads = Reads(1 << 9);
    pub const EVERYTHING: Reads = Reads(u16::MAX);

    pub fn union(self, other: Reads) -> Reads {
        Reads(self.0 | other.0)
    }

    /// Whether the two sets share a fact.
    pub fn meets(self, other: Reads) -> bool {
        self.0 & other.0 != 0
    }
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
        for (path, problem) in self.problems() {
            let at: Vec<&str> = std::iter::once(field)
                .chain(path.iter().map(String::as_str))
                .collect();
            checker.refuse_at(&at, ViolationCode::Invalid, problem);
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

    /// Every role the condition refers to, with its path below the condition
    /// (`["all", "0", "hasRole", "1"]`).
    pub fn role_refs(&self) -> Vec<(Vec<String>, i64)> {
        let mut refs = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |path, c| {
            if let Condition::HasRole { role_ids } = c {
                for (n, id) in role_ids.iter().enumerate() {
                    let mut at = path.to_vec();
                    at.push(n.to_string());
                    refs.push((at, *id));
                }
            }
        });
        refs
    }

    /// Every segment the condition refers to, with its path (`[…, "inSegment", "0"]`).
    pub fn segment_refs(&self) -> Vec<(Vec<String>, i64)> {
        let mut refs = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |path, c| {
            if let Condition::InSegment { segment_ids } = c {
                for (n, id) in segment_ids.iter().enumerate() {
                    let mut at = path.to_vec();
                    at.push(n.to_string());
                    refs.push((at, *id));
                }
            }
        });
        refs
    }

    /// Whether the condition reads the passing of time (days since …): membership can change
    /// with nothing but the clock.
    pub fn time_boundaries(&self) -> Vec<(DatedFact, Range)> {
        let mut found = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |_, c| {
            if let Condition::DaysSince { fact, range } = c {
                found.push((*fact, *range));
            }
        });
        found
    }

    /// The facts the condition reads.
    pub fn reads(&self) -> Reads {
        let mut reads = Reads::NOTHING;
        self.visit_predicates(&mut Vec::new(), &mut |_, c| {
            reads = reads.union(match c {
                Condition::HasRole { .. } => Reads::ROLES,
                Condition::HasTag { .. } => Reads::TAGS,
                Condition::LifetimeSpent(_) | Condition::OrdersCount(_) => Reads::ORDERS,
                Condition::DaysSince { fact, .. } => match fact {
                    DatedFact::Registration => Reads::REGISTRATION,
                    DatedFact::LastLogin => Reads::LAST_LOGIN,
                    DatedFact::LastOrder => Reads::ORDERS,
                },
                Condition::CustomerType { .. }
                | Condition::Wholesale { .. }
                | Condition::Affiliate { .. }
                | Condition::Attribute { .. }
                | Condition::BirthdayMonth { .. }
                | Condition::TimeZone { .. } => Reads::PROFILE,
                Condition::Consent { .. } => Reads::CONSENT,
                Condition::InSegment { .. } => Reads::SEGMENTS,
                Condition::Items(_)
                | Condition::OrderTotal(_)
                | Condition::NthOrder { .. }
                | Condition::PaymentMethod { .. }
                | Condition::Url(_) => Reads::EVENT,
                Condition::MessageOpened { .. }
                | Condition::MessageClicked { .. }
                | Condition::CartViewed {}
                | Condition::CartDecided {} => Reads::RUN,
                Condition::All(_) | Condition::Any(_) | Condition::Not(_) => Reads::NOTHING,
            });
        });
        reads
    }

    /// Every tag the condition refers to, with its path (`[…, "hasTag", "tagId"]`).
    pub fn tag_refs(&self) -> Vec<(Vec<String>, i64)> {
        let mut refs = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |path, c| {
            if let Condition::HasTag { tag_id, .. } = c {
                let mut at = path.to_vec();
                at.push("tagId".to_owned());
                refs.push((at, *tag_id));
            }
        });
        refs
    }

    /// Every message step the condition looks at, with its path (`[…, "messageOpened",
    /// "stepId"]`).
    pub fn step_refs(&self) -> Vec<(Vec<String>, String)> {
        let mut refs = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |path, c| {
            if let Condition::MessageOpened { step_id }
            | Condition::MessageClicked { step_id, .. } = c
            {
                let mut at = path.to_vec();
                at.push("stepId".to_owned());
                refs.push((at, step_id.clone()));
            }
        });
        refs
    }

    /// The parts that look at a campaign run (its messages, its predicted cart), with their
    /// paths: only a campaign's conditions may hold them.
    pub fn run_parts(&self) -> Vec<Vec<String>> {
        let mut parts = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |path, c| {
            if c.reads() == Reads::RUN {
                parts.push(path.to_vec());
            }
        });
        parts
    }

    /// Refuses, as `field`, the parts that look at a campaign run: customer actions and
    /// segments have no run.
    pub fn refuse_run_parts(&self, field: &str, checker: &mut Checker) {
        for path in self.run_parts() {
            let at: Vec<&str> = std::iter::once(field)
                .chain(path.iter().map(String::as_str))
                .collect();
            checker.refuse_at(
                &at,
                ViolationCode::Invalid,
                "looks at a campaign run's own messages or cart: only a campaign's steps can use it",
            );
        }
    }

    /// Every part that can never be meaningful (an empty list, a range whose minimum is
    /// above its maximum …), with its path below the condition and why, for people.
    pub fn problems(&self) -> Vec<(Vec<String>, String)> {
        let mut problems = Vec::new();
        self.visit_predicates(&mut Vec::new(), &mut |path, c| {
            let bad_range = |r: &Range| r.min.zip(r.max).is_some_and(|(min, max)| min > max);
            let problem = match c {
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
                Condition::BirthdayMonth { months } if months.is_empty() => {
                    Some("birthdayMonth needs at least one month")
                }
                Condition::BirthdayMonth { months }
                    if months.iter().any(|m| !(1..=12).contains(m)) =>
                {
                    Some("a month is from 1 to 12")
                }
                Condition::InSegment { segment_ids } if segment_ids.is_empty() => {
                    Some("inSegment needs at least one segment")
                }
                Condition::MessageClicked {
                    link_contains: Some(text),
                    ..
                } if text.trim().is_empty() => Some("linkContains needs a text, or leave it out"),
                Condition::TimeZone { zones } if zones.is_empty() => {
                    Some("timeZone needs at least one zone")
                }
                Condition::TimeZone { zones }
                    if zones.iter().any(|z| z.parse::<chrono_tz::Tz>().is_err()) =>
                {
                    Some("a time zone is not an IANA name such as Europe/Warsaw")
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
            };
            if let Some(problem) = problem {
                problems.push((path.to_vec(), problem.to_owned()));
            }
        });
        problems
    }

    /// The input field that names this part (`all`, `hasRole` …).
    fn part_name(&self) -> &'static str {
        match self {
            Condition::All(_) => "all",
            Condition::Any(_) => "any",
            Condition::Not(_) => "not",
            Condition::Items(_) => "items",
            Condition::HasRole { .. } => "hasRole",
            Condition::HasTag { .. } => "hasTag",
            Condition::OrderTotal(_) => "orderTotal",
            Condition::LifetimeSpent(_) => "lifetimeSpent",
            Condition::OrdersCount(_) => "ordersCount",
            Condition::NthOrder { .. } => "nthOrder",
            Condition::PaymentMethod { .. } => "paymentMethod",
            Condition::CustomerType { .. } => "customerType",
            Condition::Wholesale { .. } => "wholesale",
            Condition::Affiliate { .. } => "affiliate",
            Condition::Url(_) => "url",
            Condition::Attribute { .. } => "attribute",
            Condition::DaysSince { .. } => "daysSince",
            Condition::BirthdayMonth { .. } => "birthdayMonth",
            Condition::Consent { .. } => "consent",
            Condition::TimeZone { .. } => "timeZone",
            Condition::InSegment { .. } => "inSegment",
            Condition::MessageOpened { .. } => "messageOpened",
            Condition::MessageClicked { .. } => "messageClicked",
            Condition::CartViewed {} => "cartViewed",
            Condition::CartDecided {} => "cartDecided",
        }
    }

    /// Calls `f` with every predicate (not `all`, `any` or `not`) and its path below the
    /// condition, such as `["all", "0", "not", "hasRole"]`.
    fn visit_predicates(&self, path: &mut Vec<String>, f: &mut impl FnMut(&[String], &Condition)) {
        path.push(self.part_name().to_owned());
        match self {
            Condition::All(parts) | Condition::Any(parts) => {
                for (n, part) in parts.iter().enumerate() {
                    path.push(n.to_string());
                    part.visit_predicates(path, f);
                    path.pop();
                }
            }
            Condition::Not(inner) => inner.visit_predicates(path, f),
            predicate => f(path, predicate),
        }
        path.pop();
    }
}
