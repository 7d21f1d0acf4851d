//! What a condition is evaluated against: a snapshot of one customer and, when an event is
//! being handled, that event.

use entity::customer;
use std::collections::{HashMap, HashSet};

/// One product in a cart, an order or a view, with the catalog facts conditions look at.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Item {
    pub product_external_id: String,
    pub category_ids: Vec<String>,
    pub manufacturer: Option<String>,
    pub vendor: Option<String>,
    pub quantity: i32,
}

/// The order an event is about.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OrderFacts {
    /// Minor units of `currency`.
    pub total: i64,
    pub currency: String,
    pub payment_method: Option<String>,
    /// Which of the customer's orders this is (1 for the first).
    pub nth: i32,
}

/// The event being handled.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EventFacts {
    pub items: Vec<Item>,
    pub order: Option<OrderFacts>,
    pub url: Option<String>,
    pub referrer: Option<String>,
}

/// What a campaign run's customer did with its messages and its predicted cart.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunFacts {
    /// The message steps whose message a person opened (or clicked).
    pub opened_steps: HashSet<String>,
    /// (step id, address) of every link clicked in the run's messages.
    pub clicks: Vec<(String, String)>,
    /// A person opened the page of the run's predicted cart.
    pub cart_viewed: bool,
    /// The run's predicted cart is no longer open.
    pub cart_decided: bool,
}

/// Everything a condition may look at.
#[derive(Clone, Copy, Debug)]
pub struct Facts<'a> {
    /// The evaluation instant, epoch milliseconds.
    pub now_ms: i64,
    pub store_currency: &'a str,
    pub customer: &'a customer::Model,
    pub role_ids: &'a HashSet<i64>,
    /// Tag id → value.
    pub tags: &'a HashMap<i64, Option<String>>,
    /// The segments the customer is a member of.
    pub segment_ids: &'a HashSet<i64>,
    pub cart: &'a [Item],
    pub event: Option<&'a EventFacts>,
    /// The campaign run a step is taken for (`None` outside campaigns: run predicates are
    /// false).
    pub run: Option<&'a RunFacts>,
}
