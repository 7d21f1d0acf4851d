//! The black-box suite: every test starts its own Nudge on a random port with a fresh
//! database (SQLite by default, PostgreSQL when `NUDGE_TEST_DATABASE_URL` is set) and talks to
//! it over HTTP.

mod actions;
mod auth;
mod backpressure;
mod campaign_runs;
mod campaigns;
mod catalog;
mod cli;
mod conditions_sql;
mod console;
mod customers;
mod deliveries;
mod erasure;
mod events;
mod export;
mod fairness;
mod health;
mod helpers;
mod hostile;
mod identity;
mod ingest_groups;
mod limits;
mod loaders;
mod logs;
mod membership;
mod metrics;
mod pagination;
mod process;
mod processors;
mod replenishment;
mod roles;
mod rounds;
mod schema;
mod segments;
mod shelves;
mod slow_clients;
mod smtp_sink;
mod socket_keys;
mod startup;
mod stats;
mod supervision;
mod tags;
mod validation;
mod webhooks;
