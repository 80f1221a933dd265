//! A test consumer that records every effect in a table without a unique
//! key — so an effect applied twice shows as two rows — and fails on request.

use async_trait::async_trait;
use crm_consumers::runner::{Consumer, HandlerError};
use hookline_core::{Event, EventType};
use sqlx::PgConnection;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

/// Writes one `effects` row per applied event; fails on request.
pub struct Recorder {
    pub name: &'static str,
    pub types: Vec<EventType>,
    /// Fail this many more times, after writing (the write must be rolled
    /// back). Twice fails both the fast and the careful attempt of the first
    /// delivery, so the event must come back from JetStream.
    pub fail: Mutex<HashMap<String, u32>>,
    /// Panic this many more times, after writing.
    pub panic: Mutex<HashMap<String, u32>>,
    /// Always fail.
    pub poison: HashSet<String>,
    /// Fail permanently (straight to the DLQ).
    pub reject: HashSet<String>,
    /// Kill our own database connection once, mid-batch.
    pub disconnect_once: Mutex<HashSet<String>>,
}

impl Recorder {
    pub fn new(name: &'static str) -> Self {
        Self {
            name,
            types: EventType::ALL.to_vec(),
            fail: Mutex::default(),
            panic: Mutex::default(),
            poison: HashSet::new(),
            reject: HashSet::new(),
            disconnect_once: Mutex::default(),
        }
    }
}

/// Uses up one of the failures planned for `id`.
fn take(plan: &Mutex<HashMap<String, u32>>, id: &str) -> bool {
    let mut plan = plan.lock().unwrap();
    match plan.get_mut(id) {
        Some(n) if *n > 0 => {
            *n -= 1;
            true
        }
        _ => false,
    }
}

#[async_trait]
impl Consumer for Recorder {
    fn name(&self) -> &'static str {
        self.name
    }

    fn event_types(&self) -> &[EventType] {
        &self.types
    }

    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        let id = event.id.to_string();
        sqlx::query("INSERT INTO effects (event_id) VALUES ($1)")
            .bind(&id)
            .execute(&mut *tx)
            .await?;
        if self.disconnect_once.lock().unwrap().remove(&id) {
            sqlx::query("SELECT pg_terminate_backend(pg_backend_pid())")
                .execute(&mut *tx)
                .await?;
        }
        if self.poison.contains(&id) {
            return Err(HandlerError::retry("poison event: always fails"));
        }
        if self.reject.contains(&id) {
            return Err(HandlerError::permanent("unacceptable data"));
        }
        if take(&self.fail, &id) {
            return Err(HandlerError::retry("fails after writing"));
        }
        if take(&self.panic, &id) {
            panic!("handler bug on {id}");
        }
        Ok(())
    }
}
