//! crm-consumers integration tests, against the real NATS and Postgres.

mod consumers;
mod runner;
mod support;
