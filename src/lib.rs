//! Nudge: a marketing-automation backend for online shops.

pub mod clock;
pub mod config;
pub mod db;
pub mod delivery;
pub mod domain;
pub mod error;
pub mod events;
pub mod graphql;
pub mod http;
pub mod prometheus;
pub mod readiness;
pub mod scheduler;
pub mod startup;
pub mod state;
pub mod supervisor;
pub mod telemetry;
