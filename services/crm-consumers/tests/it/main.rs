//! crm-consumers integration tests, against the real NATS and Postgres.

mod consumers;
mod example;
mod registry;
mod runner;
mod support;
