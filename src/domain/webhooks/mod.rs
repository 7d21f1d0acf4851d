//! Webhooks: what integrators' endpoints are sent and how. The event types and the envelope
//! ([`event`]), the outbox every cause writes to in its own transaction ([`outbox`]), the
//! endpoints ([`endpoints`]), and Standard Webhooks signatures ([`signature`]). Where an endpoint may point
//! ([`crate::delivery::address`]) and the HTTP client are transport. Sending lives above, in
//! [`crate::domain::webhook_sender`], beside the deliveries it emails staff through.

pub mod changes;
pub mod endpoints;
pub mod event;
pub mod messages;
pub mod outbox;
pub mod signature;
