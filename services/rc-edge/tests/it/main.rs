//! rc-edge against the real NATS: every endpoint, every refusal, 503 when
//! NATS cannot take an event, privacy of the visitor block, rate limit, CORS.

mod arb_json;
mod content;
mod endpoints;
mod fuzz;
mod health_sync;
mod privacy;
mod protection;
mod support;
mod unavailable;
