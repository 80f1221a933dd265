//! Exact counts for infrastructure fault tests: a known workload with known
//! duplicates, sent through the edge the way a browser would (retrying a 503
//! after `Retry-After`), and the CRM tables checked against values the test
//! computes itself from the workload (never read back from the product).
//!
//! Every logical event has its own `content_id`, so "once per logical event"
//! is checkable in `content_events` whatever event id survived dedupe.
//! Duplicates are the same body sent again: the edge gives it a new id and
//! dedupe must drop it (page views: same content and contact; forms: same
//! form, identity and fields).

use hookline_core::config::ScoringConfig;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};

mod run;

pub use run::{Figures, diagnose, send_all, verify, wait_settled};

/// The CRM consumers whose `processed_events` rows are checked.
pub const CONSUMERS: [&str; 3] = ["event-store", "engagement-score", "automation"];

/// One logical event: what the client means to record once.
#[derive(Clone, Debug)]
pub struct Logical {
    /// Edge path it is posted to.
    pub path: &'static str,
    /// The JSON body (identical on every send).
    pub body: Value,
    /// Unique per logical event.
    pub content_id: String,
    /// `contact_id`, else the lower-cased email; `None` for anonymous views.
    pub contact_key: Option<String>,
    /// Page view (`true`) or form submission.
    pub is_view: bool,
    /// Points by the default scoring (`crm.scoring`).
    pub points: i64,
    /// `utm_campaign`, if any.
    pub campaign: Option<String>,
}

/// A workload: the logical events and the order of sends (with repeats).
#[derive(Debug)]
pub struct Workload {
    /// Logical events.
    pub events: Vec<Logical>,
    /// Indices into `events`; each appears once, the known duplicates twice.
    pub sends: Vec<usize>,
}

/// A small deterministic generator (no dependency, reproducible runs).
struct Lcg(u64);
impl Lcg {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// Points of an event by the default scoring, computed here from the rule
/// as documented (event type points plus the content type's bonus), not by
/// calling the product's scoring code.
fn points(is_view: bool, content_type: Option<&str>) -> i64 {
    let s = ScoringConfig::default();
    let base = if is_view {
        s.page_view
    } else {
        s.form_submission
    };
    base + content_type
        .and_then(|t| s.content_type.get(t).copied())
        .unwrap_or(0)
}

impl Workload {
    /// `unique` logical events (tagged `tag` so runs never collide), about
    /// one in six sent twice. Contacts: heavy ones that cross the SDR
    /// threshold (50), light ones that only read news (1 point each) and stay
    /// below it, email-only form submitters, and a few anonymous views.
    pub fn new(tag: &str, unique: usize) -> Self {
        let mut rng = Lcg(unique as u64 ^ 0x5eed);
        let heavy = (unique / 60).max(2);
        let light = (unique / 100).max(2);
        let mut events = Vec::with_capacity(unique);
        for i in 0..unique {
            let content_id = format!("{tag}-c{i}");
            let slug = format!("slug-{i}");
            let roll = rng.below(100);
            let logical = if roll < 5 {
                // Anonymous page view: deduped by fingerprint, no contact.
                Logical {
                    path: "/api/page-view",
                    body: json!({"content_type": "event", "content_id": content_id, "slug": slug}),
                    content_id,
                    contact_key: None,
                    is_view: true,
                    points: points(true, Some("event")),
                    campaign: None,
                }
            } else if roll < 25 {
                // A light contact reading news (1 point): 20 % of events over
                // `light` contacts keeps each one well under 50 points.
                let contact = format!("{tag}-light{}", rng.below(light as u64));
                Logical {
                    path: "/api/page-view",
                    body: json!({"content_type": "news", "content_id": content_id,
                        "slug": slug, "contact_id": contact, "title": "News"}),
                    content_id,
                    contact_key: Some(contact),
                    is_view: true,
                    points: points(true, Some("news")),
                    campaign: None,
                }
            } else if roll < 80 {
                let contact = format!("{tag}-heavy{}", rng.below(heavy as u64));
                let ct = ["event", "resource", "news"][rng.below(3) as usize];
                let campaign = (rng.below(4) == 0).then(|| format!("camp{}", rng.below(2)));
                let mut body = json!({"content_type": ct, "content_id": content_id,
                    "slug": slug, "contact_id": contact, "title": format!("Page {i}"),
                    "community": "finance"});
                if let Some(c) = &campaign {
                    body["utm_campaign"] = json!(c);
                }
                Logical {
                    path: "/api/page-view",
                    body,
                    content_id,
                    contact_key: Some(contact),
                    is_view: true,
                    points: points(true, Some(ct)),
                    campaign,
                }
            } else if roll < 90 {
                // A form by a known contact, on a resource page.
                let contact = format!("{tag}-heavy{}", rng.below(heavy as u64));
                Logical {
                    path: "/api/form-submission",
                    body: json!({"form_id": format!("form{}", i % 3), "content_type": "resource",
                        "content_id": content_id, "slug": slug, "contact_id": contact,
                        "fields": {"first_name": "Ada", "ref": format!("{i}")}}),
                    content_id,
                    contact_key: Some(contact),
                    is_view: false,
                    points: points(false, Some("resource")),
                    campaign: None,
                }
            } else {
                // A form by email only (mixed case: the key is lower-cased),
                // on no content page.
                let n = rng.below(heavy as u64);
                let email = format!("Person{n}.{tag}@Example.COM");
                Logical {
                    path: "/api/form-submission",
                    body: json!({"form_id": "newsletter", "content_id": content_id,
                        "email": email, "fields": {"ref": format!("{i}"), "company": "ACME"}}),
                    content_id,
                    contact_key: Some(email.to_lowercase()),
                    is_view: false,
                    points: points(false, None),
                    campaign: None,
                }
            };
            events.push(logical);
        }
        let mut sends: Vec<usize> = (0..unique).collect();
        for (i, event) in events.iter().enumerate() {
            // Anonymous views are not repeated on purpose: their identity is
            // a fingerprint whose salt rotates at midnight UTC.
            if rng.below(6) == 0 && event.contact_key.is_some() {
                sends.push(i);
            }
        }
        // Shuffle: a repeat may come right after its original (both in
        // flight at once) or much later.
        for i in (1..sends.len()).rev() {
            let j = rng.below(i as u64 + 1) as usize;
            sends.swap(i, j);
        }
        Self { events, sends }
    }

    /// Sends that are known duplicates.
    pub fn duplicates(&self) -> usize {
        self.sends.len() - self.events.len()
    }

    /// The expected end state, computed from the workload alone.
    pub fn expected(&self) -> Expected {
        let mut e = Expected::default();
        for l in &self.events {
            e.content_ids.insert(l.content_id.clone());
            let Some(key) = &l.contact_key else { continue };
            let s = e.scores.entry(key.clone()).or_default();
            s.score += l.points;
            if l.is_view {
                s.page_views += 1;
            } else {
                s.form_submissions += 1;
                e.thank_you.insert(l.content_id.clone());
            }
            if let Some(c) = &l.campaign {
                *e.touches.entry((key.clone(), c.clone())).or_default() += 1;
            }
        }
        e.sdr = e
            .scores
            .iter()
            .filter(|(_, s)| s.score >= 50)
            .map(|(k, _)| k.clone())
            .collect();
        e
    }
}

/// One contact's expected engagement row.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Score {
    /// Sum of points.
    pub score: i64,
    /// Page views.
    pub page_views: i64,
    /// Form submissions.
    pub form_submissions: i64,
}

/// The end state the CRM must reach.
#[derive(Clone, Debug, Default)]
pub struct Expected {
    /// One `content_events` row each.
    pub content_ids: BTreeSet<String>,
    /// `engagement_scores` by contact key.
    pub scores: BTreeMap<String, Score>,
    /// Content ids of forms that must have a `thank-you` task.
    pub thank_you: BTreeSet<String>,
    /// Contact keys with an `sdr-hot-lead` task (score ≥ 50).
    pub sdr: BTreeSet<String>,
    /// `campaign_touches` by (contact key, campaign).
    pub touches: BTreeMap<(String, String), i64>,
}

/// What the client saw while sending.
#[derive(Debug, Default)]
pub struct SendLog {
    /// Event ids the edge answered 202 with, by logical event.
    pub accepted: BTreeMap<usize, Vec<String>>,
    /// Logical events that had at least one attempt without a 202 (a 503 or
    /// a transport error): one of those attempts may have landed.
    pub retried: BTreeSet<usize>,
    /// 503 answers.
    pub unavailable: usize,
    /// Requests that got no answer (connection refused/reset, time-out).
    pub transport_errors: usize,
    /// Any other status: (logical event, status, body). Must stay empty.
    pub unexpected: Vec<(usize, u16, String)>,
    /// Logical events the client gave up on (retries over the deadline).
    pub gave_up: Vec<usize>,
}

impl SendLog {
    /// All 202s.
    pub fn accepted_count(&self) -> usize {
        self.accepted.values().map(Vec::len).sum()
    }
}
