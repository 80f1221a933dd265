//! Claiming dedupe keys in the KV bucket, with a cache in front.
//!
//! The KV bucket is the single source of truth shared by every dedupe
//! instance: the first event to `create` a key owns it until the bucket's
//! `max_age` (the window) removes it — so the window starts at the first
//! view, never at a calendar boundary. The value is the owner's event id,
//! which is what makes a crash harmless: an event redelivered after a crash
//! finds its own id under its key and carries on ("mine"), while any other
//! event with the same key is a duplicate.
//!
//! The moka cache remembers owners we have seen, each entry expiring no later
//! than its KV entry does, so hot duplicates cost no round trip. A miss only
//! costs the round trip; correctness never depends on the cache.

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use bytes::Bytes;
use hookline_core::event::{EventId, EventType};
use moka::Expiry;
use moka::sync::Cache;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::key::Keys;

/// Room left for clock difference between this host and the NATS server
/// when working out how long a KV entry written by someone else still lives.
const CLOCK_MARGIN: Duration = Duration::from_secs(2);

/// How often a claim is retried when the key vanishes between our `create`
/// and our read (its window ended in between).
const CLAIM_ATTEMPTS: usize = 4;

/// Whether an event is the first of its key inside the window.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Verdict {
    /// The key is this event's: forward it.
    Mine,
    /// Another event owns the key: drop this one.
    Duplicate,
}

/// A KV operation failed; the message is nak'ed and retried later.
#[derive(Debug, thiserror::Error)]
pub enum ClaimError {
    /// Writing the key failed.
    #[error("KV create: {0}")]
    Create(#[from] kv::UpdateError),
    /// Reading the key failed.
    #[error("KV read: {0}")]
    Read(#[from] kv::EntryError),
    /// The key kept changing under us.
    #[error("KV key kept changing; giving up for now")]
    Contended,
}

#[derive(Clone, Debug)]
struct Owner {
    id: Arc<str>,
    /// No later than the KV entry's own expiry.
    expires: Instant,
}

struct UntilKvExpiry;

impl Expiry<String, Owner> for UntilKvExpiry {
    fn expire_after_create(&self, _: &String, v: &Owner, now: Instant) -> Option<Duration> {
        Some(v.expires.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &String,
        v: &Owner,
        now: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(v.expires.saturating_duration_since(now))
    }
}

/// One KV store and window per event type, and the shared cache.
pub struct Claims {
    page_view: (kv::Store, Duration),
    form_submission: (kv::Store, Duration),
    cache: Cache<String, Owner>,
}

impl Claims {
    /// Claims against these stores, with a cache of `capacity` keys.
    pub fn new(
        page_view: (kv::Store, Duration),
        form_submission: (kv::Store, Duration),
        capacity: u64,
    ) -> Self {
        Self {
            page_view,
            form_submission,
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilKvExpiry)
                .build(),
        }
    }

    fn store(&self, kind: EventType) -> &(kv::Store, Duration) {
        match kind {
            EventType::PageView => &self.page_view,
            EventType::FormSubmission => &self.form_submission,
        }
    }

    /// Decides whether the event `id` with `keys` is the first in its window.
    pub async fn judge(
        &self,
        kind: EventType,
        keys: &Keys,
        id: &EventId,
    ) -> Result<Verdict, ClaimError> {
        if let Some(previous) = &keys.previous {
            // The same visitor under yesterday's fingerprint key.
            let owner = self.lookup(kind, previous).await?;
            if owner.is_some_and(|o| o.as_ref() != id.as_str()) {
                // A duplicate — unless this is a redelivery of an event
                // that had already claimed today's key.
                let current = self.lookup(kind, &keys.current).await?;
                return Ok(match current {
                    Some(o) if o.as_ref() == id.as_str() => Verdict::Mine,
                    _ => Verdict::Duplicate,
                });
            }
        }
        self.claim(kind, &keys.current, id).await
    }

    /// The owner of `key`, from the cache or the KV store (never creates it).
    async fn lookup(&self, kind: EventType, key: &str) -> Result<Option<Arc<str>>, ClaimError> {
        let cache_key = cache_key(kind, key);
        if let Some(owner) = self.cached(&cache_key) {
            return Ok(Some(owner));
        }
        let (store, window) = self.store(kind);
        match store.entry(key).await? {
            Some(entry) if entry.operation == Operation::Put => {
                Ok(Some(self.remember_read(cache_key, &entry, *window)))
            }
            _ => Ok(None),
        }
    }

    /// Creates `key` with `id`, or finds who owns it.
    async fn claim(&self, kind: EventType, key: &str, id: &EventId) -> Result<Verdict, ClaimError> {
        let cache_key = cache_key(kind, key);
        if let Some(owner) = self.cached(&cache_key) {
            metrics::counter!("hookline_dedupe_cache_hits_total").increment(1);
            return Ok(verdict(&owner, id));
        }
        let (store, window) = self.store(kind);
        let value = Bytes::copy_from_slice(id.as_str().as_bytes());
        let mut expected_revision = 0;
        for _ in 0..CLAIM_ATTEMPTS {
            let sent = Instant::now();
            match store.update(key, value.clone(), expected_revision).await {
                Ok(_) => {
                    // The entry was written after `sent`, so it outlives `sent + window`.
                    self.cache.insert(
                        cache_key,
                        Owner {
                            id: Arc::from(id.as_str()),
                            expires: sent + *window,
                        },
                    );
                    return Ok(Verdict::Mine);
                }
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                    match store.entry(key).await? {
                        Some(entry) if entry.operation == Operation::Put => {
                            let owner = self.remember_read(cache_key, &entry, *window);
                            return Ok(verdict(&owner, id));
                        }
                        // A delete marker: take the key over its revision.
                        Some(entry) => expected_revision = entry.revision,
                        // Expired between our write and our read: try again.
                        None => expected_revision = 0,
                    }
                }
                Err(e) => return Err(e.into()),
            }
        }
        Err(ClaimError::Contended)
    }

    fn cached(&self, cache_key: &str) -> Option<Arc<str>> {
        self.cache
            .get(cache_key)
            .filter(|o| o.expires > Instant::now())
            .map(|o| o.id)
    }

    /// Caches an owner read from KV until shortly before its entry expires.
    fn remember_read(&self, cache_key: String, entry: &kv::Entry, window: Duration) -> Arc<str> {
        let id: Arc<str> = Arc::from(String::from_utf8_lossy(&entry.value).as_ref());
        let now_ns = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as i128)
            .unwrap_or(0);
        let age_ns = (now_ns - entry.created.unix_timestamp_nanos()).max(0);
        let left_ns = window.as_nanos() as i128 - age_ns - CLOCK_MARGIN.as_nanos() as i128;
        if left_ns > 0 {
            let left = Duration::from_nanos(u64::try_from(left_ns).unwrap_or(u64::MAX));
            self.cache.insert(
                cache_key,
                Owner {
                    id: id.clone(),
                    expires: Instant::now() + left.min(window),
                },
            );
        }
        id
    }
}

fn verdict(owner: &str, id: &EventId) -> Verdict {
    if owner == id.as_str() {
        Verdict::Mine
    } else {
        Verdict::Duplicate
    }
}

fn cache_key(kind: EventType, key: &str) -> String {
    format!("{}/{key}", kind.as_str())
}
