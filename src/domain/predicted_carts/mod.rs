//! Predicted carts: each customer's due items ([`crate::domain::orders::replenishment`])
//! gathered into one cart for them to confirm, postpone or decline. The weekly collection
//! ([`collect`]) makes them; the customer decides once ([`decide`]).

pub mod collect;
pub mod decide;
pub mod link;
pub mod read;

pub use crate::domain::orders::carts::CartStatus;
