//! Content drift, written by `event-store`: the catalog of the latest
//! announced checksum per content item, and the page views and forms that
//! saw a different one.
//!
//! Both writes take a whole batch in one statement (`handle` passes a batch
//! of one), so there is one SQL path whatever the batch size:
//!
//! - [`catalog`]: `content_published` upserts `content_catalog`, newest
//!   announcement (edge time, then event id) per item winning, so a late,
//!   older announcement never replaces a newer checksum;
//! - [`drift`]: a page view or form with a `content_checksum` is compared
//!   with its item's catalog row. It drifts when the checksums differ and
//!   the catalog's version is not newer than the view (a view made before
//!   the current announcement cannot be judged against it). Each drifting
//!   event is recorded once in `content_drift_events` (keyed by event id),
//!   and only those fresh rows add to `content_drift.count`, so a
//!   redelivered view never counts twice. Items the catalog does not know
//!   are not drift: nothing was announced to compare with.
//!
//! The metric `hookline_content_drift_total{content_type}` counts the fresh
//! drift rows. It is incremented inside the batch's transaction, so in the
//! rare case that the commit itself fails it may count a sighting that is
//! then retried; `content_drift` is the exact record.

use hookline_core::Event;
use hookline_core::event::EventData;
use sqlx::PgConnection;

/// The metric's name.
pub const DRIFT_METRIC: &str = "hookline_content_drift_total";

/// Registers the metric's `# HELP` text.
pub fn describe_metrics() {
    metrics::describe_counter!(
        DRIFT_METRIC,
        "Page views and forms whose content_checksum differs from the CRM's catalog, by content type (each event once)"
    );
}

/// Upserts the catalog with the `content_published` events of a batch.
pub async fn catalog(tx: &mut PgConnection, events: &[&Event]) -> Result<(), sqlx::Error> {
    let mut c = CatalogColumns::default();
    for event in events {
        if let EventData::ContentPublished(p) = &event.data {
            c.content_type.push(p.content_type.as_str());
            c.content_id.push(&p.content_id);
            c.slug.push(&p.slug);
            c.title.push(&p.title);
            c.checksum.push(p.checksum.as_str());
            c.at.push(event.occurred_at);
            c.event_id.push(event.id.as_str());
        }
    }
    if c.event_id.is_empty() {
        return Ok(());
    }
    // DISTINCT ON keeps the newest announcement per item of this batch (one
    // upsert may not touch a row twice); the WHERE keeps a newer stored one.
    sqlx::query(
        "INSERT INTO content_catalog AS c \
         (content_type, content_id, slug, title, checksum, published_at, updated_at, event_id) \
         SELECT DISTINCT ON (t, i) t, i, s, ti, cs, at, at, e \
         FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
                     $6::timestamptz[], $7::text[]) AS u(t, i, s, ti, cs, at, e) \
         ORDER BY t, i, at DESC, e DESC \
         ON CONFLICT (content_type, content_id) DO UPDATE SET \
           slug = EXCLUDED.slug, title = EXCLUDED.title, checksum = EXCLUDED.checksum, \
           updated_at = EXCLUDED.updated_at, event_id = EXCLUDED.event_id \
         WHERE (c.updated_at, c.event_id) < (EXCLUDED.updated_at, EXCLUDED.event_id)",
    )
    .bind(&c.content_type)
    .bind(&c.content_id)
    .bind(&c.slug)
    .bind(&c.title)
    .bind(&c.checksum)
    .bind(&c.at)
    .bind(&c.event_id)
    .execute(&mut *tx)
    .await?;
    Ok(())
}

/// Records the drifting page views and forms of a batch; returns how many
/// were new.
pub async fn drift(tx: &mut PgConnection, events: &[&Event]) -> Result<u64, sqlx::Error> {
    let mut c = SeenColumns::default();
    for event in events {
        if let Some((kind, id, seen)) = event.data.seen_checksum() {
            c.event_id.push(event.id.as_str());
            c.content_type.push(kind.as_str());
            c.content_id.push(id);
            c.seen.push(seen.to_ascii_lowercase());
            c.at.push(event.occurred_at);
        }
    }
    if c.event_id.is_empty() {
        return Ok(0);
    }
    let fresh: Vec<(String, i64)> = sqlx::query_as(
        "WITH fresh AS ( \
           INSERT INTO content_drift_events \
             (event_id, content_type, content_id, expected, seen, seen_at) \
           SELECT u.e, u.t, u.i, c.checksum, u.s, u.at \
           FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[]) \
                AS u(e, t, i, s, at) \
           JOIN content_catalog c ON c.content_type = u.t AND c.content_id = u.i \
           WHERE c.checksum <> u.s AND c.updated_at <= u.at \
           ORDER BY u.e \
           ON CONFLICT (event_id) DO NOTHING \
           RETURNING content_type, content_id, expected, seen, seen_at \
         ), recorded AS ( \
           INSERT INTO content_drift AS d \
             (content_type, content_id, expected, seen, first_seen, last_seen, count) \
           SELECT content_type, content_id, expected, seen, min(seen_at), max(seen_at), count(*) \
           FROM fresh GROUP BY content_type, content_id, expected, seen \
           ON CONFLICT (content_type, content_id, expected, seen) DO UPDATE SET \
             count = d.count + EXCLUDED.count, \
             first_seen = LEAST(d.first_seen, EXCLUDED.first_seen), \
             last_seen = GREATEST(d.last_seen, EXCLUDED.last_seen) \
         ) \
         SELECT content_type, count(*) FROM fresh GROUP BY content_type",
    )
    .bind(&c.event_id)
    .bind(&c.content_type)
    .bind(&c.content_id)
    .bind(&c.seen)
    .bind(&c.at)
    .fetch_all(&mut *tx)
    .await?;
    let mut total = 0;
    for (content_type, n) in fresh {
        let n = u64::try_from(n).unwrap_or(0);
        metrics::counter!(DRIFT_METRIC, "content_type" => content_type).increment(n);
        total += n;
    }
    Ok(total)
}

/// The columns of a batch's announcements.
#[derive(Default)]
struct CatalogColumns<'a> {
    content_type: Vec<&'static str>,
    content_id: Vec<&'a str>,
    slug: Vec<&'a str>,
    title: Vec<&'a str>,
    checksum: Vec<&'a str>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
    event_id: Vec<&'a str>,
}

/// The columns of a batch's checksum sightings.
#[derive(Default)]
struct SeenColumns<'a> {
    event_id: Vec<&'a str>,
    content_type: Vec<&'static str>,
    content_id: Vec<&'a str>,
    seen: Vec<String>,
    at: Vec<chrono::DateTime<chrono::Utc>>,
}

/// One `content_drift` row with its item's current slug and title, for
/// `hookline drift`.
#[derive(Debug, serde::Serialize, sqlx::FromRow)]
pub struct DriftRow {
    /// `event`, `resource` or `news`.
    pub content_type: String,
    /// The content's id.
    pub content_id: String,
    /// The item's slug in the catalog now.
    pub slug: Option<String>,
    /// The item's title in the catalog now.
    pub title: Option<String>,
    /// The checksum the catalog held when the events were seen.
    pub expected: String,
    /// The checksum the page views or forms carried.
    pub seen: String,
    /// The earliest drifting event (edge time).
    pub first_seen: chrono::DateTime<chrono::Utc>,
    /// The latest drifting event (edge time).
    pub last_seen: chrono::DateTime<chrono::Utc>,
    /// Distinct events that saw `seen` while `expected` was current.
    pub count: i64,
    /// Whether `expected` is still the catalog's checksum (false: the item
    /// was announced again since).
    pub current: bool,
}

/// The drift rows, most recently seen first, at most `limit`.
pub async fn list(pool: &sqlx::PgPool, limit: i64) -> Result<Vec<DriftRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT d.content_type, d.content_id, c.slug, c.title, d.expected, d.seen, \
                d.first_seen, d.last_seen, d.count, \
                COALESCE(c.checksum = d.expected, false) AS current \
         FROM content_drift d \
         LEFT JOIN content_catalog c USING (content_type, content_id) \
         ORDER BY d.last_seen DESC, d.content_type, d.content_id \
         LIMIT $1",
    )
    .bind(limit)
    .fetch_all(pool)
    .await
}
