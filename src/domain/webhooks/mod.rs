//! Webhooks: signed, durable calls to integrators' endpoints, following the Standard Webhooks
//! specification.

pub mod address;
pub mod signature;
