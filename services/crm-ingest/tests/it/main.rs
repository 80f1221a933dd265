//! crm-ingest against the real NATS: one test binary, one module per concern.

mod accept;
mod fuzz;
mod ops;
mod optimocms;
mod refuse;
mod support;
