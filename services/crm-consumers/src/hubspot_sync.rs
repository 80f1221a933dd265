//! `hubspot-sync`: upserts the contact of every form submission into
//! HubSpot, a consumer that talks to an external API.
//!
//! Enabled when `hubspot.access_token` is set. Each form with an email
//! becomes one input of HubSpot's batch upsert by email (see [`api`]):
//! `email`, `firstname`, `lastname`, `phone`, `company` from the fields
//! (blank ones left out, so an upsert never clears what HubSpot knows),
//! `hs_lead_status: NEW` and `source: "<source> form: <form id>"`. Up to 100
//! inputs per call; a batch that holds one email twice (two forms of the same
//! person) makes a second call, as HubSpot refuses an id twice in one input.
//!
//! **Once per form.** The runner's rule is that a handler only writes through
//! its transaction, because anything else repeats on redelivery. An HTTP call
//! cannot be inside a transaction, so this consumer keeps a ledger instead:
//! the moment HubSpot answers 2xx, the event ids of that call are committed to
//! `hubspot_upserts` on a connection of their own, before the runner's
//! transaction (which records `processed_events`) commits. A batch that comes
//! back — the process was killed mid-batch, a later call of the batch failed,
//! the commit failed — skips every event in the ledger and calls HubSpot only
//! for the rest. What remains is one window: a crash after HubSpot applied a
//! call and before the ledger insert (one local round trip) commits, or a
//! call cut off by `consumers.ack_wait`. Those contacts are upserted again
//! with the same properties, which HubSpot merges into the same contact (the
//! upsert is keyed by email). We prefer that to the alternative — recording
//! the call before making it — which would lose contacts in the same window.
//!
//! **Failures.** 429: wait `Retry-After` (within half of `ack_wait`, else the
//! runner holds the batch and this consumer does not call HubSpot before
//! the time it was given). 401: logged once, as an error naming the key;
//! the consumer pauses, holding its batch and asking again with the runner's
//! back-off, silently, and says so when the token works again. Other 4xx:
//! the event is dead-lettered to `CRM_DLQ` (a batch call that fails is redone
//! one event per call, so only the bad contact goes). 5xx and network
//! errors: the batch is held until HubSpot is back. Holding never counts a
//! delivery and never dead-letters.

pub mod api;

use crate::runner::{Consumer, HandlerError};
use api::{Api, ApiError, Input, MAX_INPUTS};
use async_trait::async_trait;
use hookline_core::db;
use hookline_core::{Config, Event, EventData, EventType};
use sqlx::{PgConnection, PgPool};
use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Mutex, OnceLock as OnceCell};
use std::time::{Duration, Instant};

use crate::identity;

/// The consumer's name.
pub const NAME: &str = "hubspot-sync";

/// HubSpot is answering.
const UP: u8 = 0;
/// HubSpot refused the token (401); logged once.
const UNAUTHORIZED: u8 = 1;
/// HubSpot is away (5xx, network); logged once.
const DOWN: u8 = 2;

/// Upserts form contacts into HubSpot. No `Debug`: it holds the token.
pub struct HubspotSync {
    api: Api,
    /// `crm.database_url`, for the ledger's pool.
    database_url: String,
    /// The ledger's own connections (not the runner's transaction), made
    /// on first use (inside the runtime).
    ledger: OnceCell<PgPool>,
    /// Longest wait for a `Retry-After` inside one batch.
    wait_budget: Duration,
    /// No call before this instant (the last `Retry-After`).
    not_before: Mutex<Option<Instant>>,
    state: AtomicU8,
}

/// One form's contact, ready to send.
struct Pending<'a> {
    event: &'a Event,
    input: Input,
}

impl HubspotSync {
    /// The consumer, when `hubspot.access_token` is set; `None` disables it.
    /// A token that is set but short stops `hookline consume` before this
    /// (`Config::require_hubspot_secrets`).
    pub fn from_config(config: &Config) -> Option<Self> {
        let token = config.hubspot.token()?;
        let wait_budget = config.consumers.ack_wait / 2;
        let api = match Api::new(
            &config.hubspot.base_url,
            token,
            wait_budget.max(Duration::from_secs(1)),
        ) {
            Ok(api) => api,
            Err(e) => {
                tracing::error!(error = %e, "hubspot-sync: cannot build an HTTP client; disabled");
                return None;
            }
        };
        Some(Self {
            api,
            database_url: config.crm.database_url.clone(),
            ledger: OnceCell::new(),
            wait_budget,
            not_before: Mutex::new(None),
            state: AtomicU8::new(UP),
        })
    }

    /// Calls HubSpot for one chunk and records what it wrote in the ledger.
    async fn send(&self, chunk: &[Pending<'_>]) -> Result<(), HandlerError> {
        let inputs: Vec<Input> = chunk.iter().map(|p| p.input.clone()).collect();
        let started = Instant::now();
        let written = loop {
            self.wait_turn(started).await?;
            match self.api.upsert(&inputs).await {
                Ok(written) => break written,
                Err(ApiError::RateLimited(wait)) => {
                    tracing::debug!(retry_after = ?wait, "hubspot-sync: rate limited");
                    *self.not_before.lock().expect("not poisoned") = Some(Instant::now() + wait);
                }
                Err(e) => return Err(self.failed(e)),
            }
        };
        self.answered();
        let done: Vec<&Pending> = if written.errors.is_empty() {
            chunk.iter().collect()
        } else {
            chunk
                .iter()
                .filter(|p| written.ids.contains_key(&p.input.id))
                .collect()
        };
        let ids: Vec<&str> = done.iter().map(|p| p.event.id.as_str()).collect();
        let emails: Vec<&str> = done.iter().map(|p| p.input.id.as_str()).collect();
        let contacts: Vec<Option<&str>> = done
            .iter()
            .map(|p| written.ids.get(&p.input.id).map(String::as_str))
            .collect();
        sqlx::query(
            "INSERT INTO hubspot_upserts (event_id, email, hubspot_id) \
             SELECT * FROM unnest($1::text[], $2::text[], $3::text[]) ON CONFLICT DO NOTHING",
        )
        .bind(&ids)
        .bind(&emails)
        .bind(&contacts)
        .execute(self.ledger()?)
        .await?;
        metrics::counter!("hookline_hubspot_upserts_total").increment(done.len() as u64);
        match written.errors.as_slice() {
            [] => Ok(()),
            // Alone in its call: this contact is what HubSpot refuses.
            errors if chunk.len() == 1 => Err(HandlerError::permanent(format!(
                "HubSpot did not write the contact: {}",
                errors.join("; ")
            ))),
            // The runner redoes the batch one event per call; the written
            // ones are in the ledger and are skipped.
            errors => Err(HandlerError::retry(format!(
                "HubSpot wrote {} of {} contacts: {}",
                done.len(),
                chunk.len(),
                errors.join("; ")
            ))),
        }
    }

    /// The ledger's pool. The runner's pool on the same URL connected and
    /// migrated already, so this cannot fail in practice.
    fn ledger(&self) -> Result<&PgPool, HandlerError> {
        if let Some(pool) = self.ledger.get() {
            return Ok(pool);
        }
        let pool = db::connect_lazy(&self.database_url, 2).map_err(HandlerError::unavailable)?;
        Ok(self.ledger.get_or_init(|| pool))
    }

    /// Waits out a `Retry-After` that fits in this batch's budget, or tells
    /// the runner to hold the batch until later.
    async fn wait_turn(&self, started: Instant) -> Result<(), HandlerError> {
        let until = *self.not_before.lock().expect("not poisoned");
        let Some(until) = until else { return Ok(()) };
        let now = Instant::now();
        if until <= now {
            return Ok(());
        }
        if until.duration_since(started) > self.wait_budget {
            return Err(HandlerError::unavailable(
                "HubSpot rate limit: waiting for Retry-After",
            ));
        }
        tokio::time::sleep_until(until.into()).await;
        Ok(())
    }

    /// Turns a failed call into the runner's verdict, logging a change of
    /// HubSpot's state once rather than on every held retry.
    fn failed(&self, e: ApiError) -> HandlerError {
        match e {
            ApiError::Unauthorized(_) => {
                if self.state.swap(UNAUTHORIZED, Ordering::Relaxed) != UNAUTHORIZED {
                    tracing::error!(error = %e, "hubspot-sync paused: check hubspot.access_token (a private-app token with the crm.objects.contacts.write scope); retrying with back-off, silently");
                }
                HandlerError::unavailable(e)
            }
            ApiError::Unreachable(_) | ApiError::Unavailable { .. } | ApiError::RateLimited(_) => {
                if self.state.swap(DOWN, Ordering::Relaxed) != DOWN {
                    tracing::warn!(error = %e, "hubspot-sync: HubSpot unavailable; holding events until it answers");
                }
                HandlerError::unavailable(e)
            }
            ApiError::Rejected { .. } => HandlerError::permanent(e),
        }
    }

    fn answered(&self) {
        if self.state.swap(UP, Ordering::Relaxed) != UP {
            tracing::info!("hubspot-sync: HubSpot accepts calls again; resuming");
        }
    }
}

#[async_trait]
impl Consumer for HubspotSync {
    fn name(&self) -> &'static str {
        NAME
    }

    fn event_types(&self) -> &[EventType] {
        &[EventType::FormSubmission]
    }

    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        self.handle_batch(&[event], tx).await
    }

    async fn handle_batch(
        &self,
        events: &[&Event],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let ids: Vec<&str> = events.iter().map(|e| e.id.as_str()).collect();
        let done: HashSet<String> =
            sqlx::query_scalar("SELECT event_id FROM hubspot_upserts WHERE event_id = ANY($1)")
                .bind(&ids)
                .fetch_all(&mut *tx)
                .await?
                .into_iter()
                .collect();
        let pending = events
            .iter()
            .filter(|e| !done.contains(e.id.as_str()))
            .filter_map(|e| {
                Some(Pending {
                    event: e,
                    input: input(e)?,
                })
            });
        for chunk in chunks(pending) {
            self.send(&chunk).await?;
        }
        Ok(())
    }
}

/// Splits into calls of at most [`MAX_INPUTS`] with no email twice.
fn chunks<'a>(pending: impl Iterator<Item = Pending<'a>>) -> Vec<Vec<Pending<'a>>> {
    let mut out: Vec<Vec<Pending<'a>>> = Vec::new();
    for p in pending {
        let fits = out
            .iter()
            .position(|c| c.len() < MAX_INPUTS && !c.iter().any(|q| q.input.id == p.input.id));
        match fits {
            Some(i) => out[i].push(p),
            None => out.push(vec![p]),
        }
    }
    out
}

/// The batch-upsert input of a form with an email, as the CMS vendor's
/// HubSpot example maps it.
fn input(event: &Event) -> Option<Input> {
    let EventData::FormSubmission(form) = &event.data else {
        return None;
    };
    let profile = identity::profile(form);
    let email = profile.email.as_deref()?.trim().to_lowercase();
    let mut properties: BTreeMap<&'static str, String> = BTreeMap::new();
    properties.insert("email", email.clone());
    let optional = [
        ("firstname", profile.first_name),
        ("lastname", profile.last_name),
        ("phone", profile.phone),
        ("company", profile.company),
    ];
    for (name, value) in optional {
        if let Some(value) = value {
            properties.insert(name, value);
        }
    }
    properties.insert("hs_lead_status", "NEW".into());
    properties.insert("source", format!("{} form: {}", source(form), form.form_id));
    Some(Input {
        id_property: "email",
        id: email,
        properties,
    })
}

/// Who sent the form: OptimoCMS forms carry a site id, the rest come from
/// the Resources Centre.
fn source(form: &hookline_core::event::FormSubmission) -> &'static str {
    if identity::field(&form.fields, &["siteid"]).is_some() {
        "OptimoCMS"
    } else {
        "Resources Centre"
    }
}

#[cfg(test)]
mod tests;
