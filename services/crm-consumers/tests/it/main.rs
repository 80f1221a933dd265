//! crm-consumers integration tests, against the real NATS and Postgres.

mod batch;
mod consumers;
mod drift;
mod example;
mod ordering;
mod others;
mod recorder;
mod registry;
mod runner;
mod support;
