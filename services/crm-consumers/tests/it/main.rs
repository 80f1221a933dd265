//! crm-consumers integration tests, against the real NATS and Postgres.

mod runner;
mod support;
