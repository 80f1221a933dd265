//! webhook-out against the real NATS and Postgres.

mod admin;
mod config_webhook;
mod delivery;
mod disable;
mod encryption;
mod find;
mod harness;
mod ops_events;
mod replay;
mod resend;
mod ssrf;
