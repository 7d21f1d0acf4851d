//! Sea-ORM models of Nudge's tables: columns and relations only, no behaviour.
//!
//! Instants are `i64` epoch milliseconds (UTC); money is `i64` minor units of the row's
//! currency. The domain layer converts both to richer types.

pub mod action_firing;
pub mod api_key;
pub mod app_secret;
pub mod banner;
pub mod campaign;
pub mod campaign_run;
pub mod campaign_run_step;
pub mod cart_line;
pub mod console_session;
pub mod customer;
pub mod customer_action;
pub mod customer_role;
pub mod customer_tag;
pub mod delivery;
pub mod delivery_attempt;
pub mod delivery_event;
pub mod event;
pub mod membership_change;
pub mod message_effect;
pub mod order;
pub mod order_credit;
pub mod order_line;
pub mod predicted_cart;
pub mod predicted_cart_line;
pub mod product;
pub mod replenishment_clock;
pub mod replenishment_item;
pub mod role;
pub mod role_product;
pub mod segment;
pub mod segment_member;
pub mod stat_day;
pub mod stat_fact;
pub mod suppression;
pub mod tag;
pub mod template;
pub mod template_locale;
pub mod webhook_attempt;
pub mod webhook_endpoint;
pub mod webhook_message;
pub mod webhook_subscription;
