//! Every business rule of Nudge. Nothing here knows about HTTP or GraphQL: callers pass a
//! database handle, the current instant and validated or raw inputs, and get models or an
//! [`AppError`](crate::error::AppError) back.

pub mod actions;
pub mod api_keys;
pub mod campaigns;
pub mod clockwork;
pub mod conditions;
pub mod customers;
pub mod deliveries;
pub mod erasure;
pub mod event_kind;
pub mod export;
pub mod ingest;
pub mod lease;
pub mod membership;
pub mod message;
pub mod orders;
pub mod page;
pub mod predicted_carts;
pub mod products;
pub mod react;
pub mod records;
pub mod roles;
pub mod segments;
pub mod shop_orders;
pub mod stale;
pub mod stats;
pub mod storefront;
pub mod tags;
pub mod templates;
pub mod time;
pub mod validate;
pub mod values;
pub mod webhook_sender;
pub mod webhooks;
