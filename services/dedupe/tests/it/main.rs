//! dedupe against the real NATS: counts, windows, crash safety, several
//! instances, bots, and the whole path from the edge's HTTP API.

mod crash;
mod dead_letter;
mod rules;
mod support;
mod through_edge;
