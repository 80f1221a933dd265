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
//!
//! Entries are kept small, because a dedupe window holds many keys and moka
//! itself spends about 300 bytes on each: the cache key is the first 128 bits
//! of the (SHA-256, hex) dedupe key and the owner is a 64-bit keyed hash of
//! its event id, where the strings cost over 150 bytes more. Only equality
//! is ever asked of either, and a false match needs a 2⁻⁶⁴ collision.

use async_nats::jetstream::kv::{self, Operation, UpdateErrorKind};
use bytes::Bytes;
use hookline_core::event::{EventId, EventType};
use moka::Expiry;
use moka::sync::Cache;
use sha2::{Digest, Sha256};
use std::hash::{BuildHasher, RandomState};
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

/// A keyed 64-bit hash of an owner's event id.
type OwnerTag = u64;

#[derive(Clone, Copy, Debug)]
struct Owner {
    id: OwnerTag,
    /// No later than the KV entry's own expiry.
    expires: Instant,
}

struct UntilKvExpiry;

impl Expiry<u128, Owner> for UntilKvExpiry {
    fn expire_after_create(&self, _: &u128, v: &Owner, now: Instant) -> Option<Duration> {
        Some(v.expires.saturating_duration_since(now))
    }

    fn expire_after_update(
        &self,
        _: &u128,
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
    /// `content_published`: judged by [`crate::latest`], never cached.
    content_published: (kv::Store, Duration),
    cache: Cache<u128, Owner>,
    /// Keys the owner tags (random per process: the tags never leave it).
    tags: RandomState,
}

impl Claims {
    /// Claims against these stores, with a cache of `capacity` keys.
    pub fn new(
        page_view: (kv::Store, Duration),
        form_submission: (kv::Store, Duration),
        content_published: (kv::Store, Duration),
        capacity: u64,
    ) -> Self {
        Self {
            page_view,
            form_submission,
            content_published,
            cache: Cache::builder()
                .max_capacity(capacity)
                .expire_after(UntilKvExpiry)
                .build(),
            tags: RandomState::new(),
        }
    }

    fn tag(&self, id: &str) -> OwnerTag {
        self.tags.hash_one(id)
    }

    fn store(&self, kind: EventType) -> &(kv::Store, Duration) {
        match kind {
            EventType::PageView => &self.page_view,
            EventType::FormSubmission => &self.form_submission,
            EventType::ContentPublished => &self.content_published,
        }
    }

    /// Judges a `content_published` by the latest checksum of its item.
    pub async fn latest(
        &self,
        key: &str,
        checksum: &str,
        id: &EventId,
    ) -> Result<Verdict, ClaimError> {
        crate::latest::judge(&self.content_published.0, key, checksum, id).await
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
            let mine = self.tag(id.as_str());
            if owner.is_some_and(|o| o != mine) {
                // A duplicate — unless this is a redelivery of an event
                // that had already claimed today's key.
                let current = self.lookup(kind, &keys.current).await?;
                return Ok(match current {
                    Some(o) if o == mine => Verdict::Mine,
                    _ => Verdict::Duplicate,
                });
            }
        }
        self.claim(kind, &keys.current, id).await
    }

    /// The owner of `key`, from the cache or the KV store (never creates it).
    async fn lookup(&self, kind: EventType, key: &str) -> Result<Option<OwnerTag>, ClaimError> {
        let cache_key = cache_key(kind, key);
        if let Some(owner) = self.cached(cache_key) {
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
        let mine = self.tag(id.as_str());
        if let Some(owner) = self.cached(cache_key) {
            metrics::counter!("hookline_dedupe_cache_hits_total").increment(1);
            return Ok(verdict(owner, mine));
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
                            id: mine,
                            expires: sent + *window,
                        },
                    );
                    return Ok(Verdict::Mine);
                }
                Err(e) if e.kind() == UpdateErrorKind::WrongLastRevision => {
                    match store.entry(key).await? {
                        Some(entry) if entry.operation == Operation::Put => {
                            let owner = self.remember_read(cache_key, &entry, *window);
                            return Ok(verdict(owner, mine));
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

    fn cached(&self, cache_key: u128) -> Option<OwnerTag> {
        self.cache
            .get(&cache_key)
            .filter(|o| o.expires > Instant::now())
            .map(|o| o.id)
    }

    /// Caches an owner read from KV until shortly before its entry expires.
    fn remember_read(&self, cache_key: u128, entry: &kv::Entry, window: Duration) -> OwnerTag {
        let id = self.tag(String::from_utf8_lossy(&entry.value).as_ref());
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
                    id,
                    expires: Instant::now() + left.min(window),
                },
            );
        }
        id
    }
}

fn verdict(owner: OwnerTag, mine: OwnerTag) -> Verdict {
    if owner == mine {
        Verdict::Mine
    } else {
        Verdict::Duplicate
    }
}

/// The cache key: the first 128 bits of the dedupe key, which is a hex
/// SHA-256 digest over the event type and its parts (see [`crate::key`]);
/// anything else is hashed with the type.
fn cache_key(kind: EventType, key: &str) -> u128 {
    if let Some(prefix) = key.get(..32)
        && let Ok(bits) = u128::from_str_radix(prefix, 16)
    {
        return bits;
    }
    let digest = Sha256::new()
        .chain_update(kind.as_str())
        .chain_update([0])
        .chain_update(key)
        .finalize();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest[..16]);
    u128::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hex_digests_key_by_their_first_128_bits() {
        let key = "00112233445566778899aabbccddeeff0123456789abcdef0123456789abcdef";
        assert_eq!(
            cache_key(EventType::PageView, key),
            0x00112233445566778899aabbccddeeff
        );
    }

    #[test]
    fn other_keys_are_hashed_with_their_type() {
        let a = cache_key(EventType::PageView, "short");
        let b = cache_key(EventType::FormSubmission, "short");
        assert_ne!(a, b);
        assert_eq!(a, cache_key(EventType::PageView, "short"));
    }

    #[test]
    fn verdict_compares_owner_tags() {
        assert_eq!(verdict(7, 7), Verdict::Mine);
        assert_eq!(verdict(7, 8), Verdict::Duplicate);
    }
}
