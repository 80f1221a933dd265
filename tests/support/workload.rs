//! A known workload for the fault tests, and the exact CRM state it must
//! produce, computed here from the events sent — never read back from the
//! product's own tables.
//!
//! Events come in *groups*: every event of a group has the same dedupe key
//! (same content and contact for a view; same form, identity and fields for
//! a form), so dedupe keeps exactly one of them, whichever it saw first. All
//! copies of a group have the same body, so whichever survives, its effects
//! (points, counters, campaign touches, tasks) are the same. Each group
//! carries a marker (`title` of a view, `fields.ref` of a form) that finds
//! its row in `content_events`.
//!
//! An attempt without a 202 (the edge was killed while it was in flight, or
//! answered 503 while NATS was away) is *unknown*: it may or may not have
//! landed. Dedupe still keeps one event per group, so a group with any 202
//! must be stored exactly once (under an accepted id, unless one of its
//! attempts is unknown and may have won), and a group with none at most once.

use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};

/// Points of `crm.scoring`'s defaults (services/core config sections.rs),
/// restated here so the test does not compute expectations with the
/// product's own code.
const VIEW_POINTS: i64 = 1;
const FORM_POINTS: i64 = 10;

fn bonus(content_type: &str) -> i64 {
    match content_type {
        "event" => 2,
        "resource" => 3,
        _ => 0,
    }
}

const CONTENT_TYPES: [&str; 3] = ["event", "resource", "news"];
const CAMPAIGNS: [&str; 3] = ["spring_launch", "ai_q4", "webinar_series"];
const FORMS: [&str; 3] = ["newsletter", "whitepaper-download", "contact-us"];
/// Contacts known by id in a workload of up to a few hundred groups (more
/// contacts for more groups: see [`Workload::with_contacts`]), and
/// submitters known only by email.
const CONTACT_IDS: usize = 8;
const EMAIL_ONLY: usize = 3;
/// Content items views are drawn from.
const CONTENT_POOL: usize = 60;

/// Whether quick mode (`HOOKLINE_QUICK=1`) is on: fewer events.
pub fn quick() -> bool {
    std::env::var("HOOKLINE_QUICK").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// `normal` groups per batch, or `quick` in quick mode.
pub fn size(normal: usize, quick_size: usize) -> usize {
    if quick() { quick_size } else { normal }
}

/// Event type of a planned event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `POST /api/page-view`
    PageView,
    /// `POST /api/form-submission`
    Form,
}

impl Kind {
    /// The edge path.
    pub fn path(self) -> &'static str {
        match self {
            Kind::PageView => "/api/page-view",
            Kind::Form => "/api/form-submission",
        }
    }
}

/// One dedupe group: what its surviving event does to the CRM.
#[derive(Clone, Debug)]
pub struct Group {
    /// Marker stored in `title` (views) or `fields.ref` (forms).
    pub marker: String,
    /// View or form.
    pub kind: Kind,
    /// The CRM contact key (`contact_id`, else lower-case email); None when
    /// anonymous.
    pub contact_key: Option<String>,
    /// Points the surviving event adds.
    pub points: i64,
    /// `utm_campaign` it carries.
    pub campaign: Option<String>,
    /// How many copies were planned.
    pub copies: usize,
}

/// One request to send.
#[derive(Clone, Debug)]
pub struct Planned {
    /// Index of its group.
    pub group: usize,
    /// Which endpoint.
    pub kind: Kind,
    /// The JSON body.
    pub body: Value,
}

/// What the edge said about one request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome {
    /// 202 with this event id: durably in RC_RAW.
    Accepted(String),
    /// 503: the edge could not confirm the publish in time (the client
    /// sends again); the event may still land.
    Unavailable,
    /// No answer, or another status: may or may not have landed.
    Unknown(String),
}

impl Outcome {
    /// A 202.
    pub fn is_accepted(&self) -> bool {
        matches!(self, Outcome::Accepted(_))
    }
}

/// Tiny deterministic generator (xorshift64*): the same seed, the same
/// workload, so a failure can be reproduced.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

/// The workload of one test and everything the edge answered.
pub struct Workload {
    contacts: usize,
    rng: Rng,
    groups: Vec<Group>,
    used_views: HashSet<(String, Option<String>)>,
    fresh_content: usize,
    /// (group, outcome) of every request sent.
    results: Vec<(usize, Outcome)>,
}

/// Totals of a run, for the report.
#[derive(Clone, Debug, Default)]
pub struct Figures {
    /// Requests sent to the edge.
    pub sent: usize,
    /// Answered 202.
    pub accepted: usize,
    /// Attempts without a 202 (unknown fate), 503s included.
    pub unknown: usize,
    /// 503s among them.
    pub unavailable: usize,
    /// Groups without any 202 that landed all the same.
    pub unknown_landed: usize,
    /// Accepted events dedupe dropped as planned duplicates.
    pub duplicates: usize,
    /// Unique events in the CRM.
    pub unique: usize,
    /// Their ids.
    pub survivors: BTreeSet<String>,
}

impl Figures {
    /// One line for the reliability figures: what was sent, what the edge
    /// answered, what dedupe dropped, and that nothing was lost or doubled
    /// (only ever printed after [`crate::check::check_crm`] passed).
    pub fn report(&self, scenario: &str, faults: &str) {
        eprintln!(
            "RELIABILITY {scenario}: sent {} accepted {} unknown {} (503 {}, landed {}) duplicates dropped {} unique {} faults [{faults}] lost 0 doubled 0",
            self.sent,
            self.accepted,
            self.unknown,
            self.unavailable,
            self.unknown_landed,
            self.duplicates,
            self.unique
        );
    }
}

impl Workload {
    /// A workload drawn from `seed`.
    pub fn new(seed: u64) -> Self {
        Self::with_contacts(seed, CONTACT_IDS)
    }

    /// A workload over `contacts` contacts known by id. A thousand groups
    /// over the default eight would push every one of them over the SDR
    /// threshold; about one contact per twenty groups keeps both sides.
    pub fn with_contacts(seed: u64, contacts: usize) -> Self {
        Self {
            contacts: contacts.max(2),
            rng: Rng(seed.max(1)),
            groups: Vec::new(),
            used_views: HashSet::new(),
            fresh_content: CONTENT_POOL,
            results: Vec::new(),
        }
    }

    /// Every group planned so far.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// `groups` new groups (with duplicates when `duplicates`), their events
    /// shuffled so copies of a group may be in flight together.
    pub fn batch(&mut self, groups: usize, duplicates: bool) -> Vec<Planned> {
        let mut out = Vec::new();
        for _ in 0..groups {
            let copies = if !duplicates {
                1
            } else {
                match self.rng.below(10) {
                    0..=6 => 1,
                    7 | 8 => 2,
                    _ => 3,
                }
            };
            let (group, body) = self.group(copies);
            let idx = self.groups.len();
            let kind = group.kind;
            self.groups.push(group);
            out.extend((0..copies).map(|_| Planned {
                group: idx,
                kind,
                body: body.clone(),
            }));
        }
        for i in (1..out.len()).rev() {
            let j = self.rng.below(i + 1);
            out.swap(i, j);
        }
        out
    }

    fn contact(&mut self) -> usize {
        // Skewed, so some contacts cross the SDR threshold and some do not.
        let a = self.rng.below(self.contacts);
        let b = self.rng.below(self.contacts);
        let c = self.rng.below(self.contacts);
        a.min(b).min(c)
    }

    fn group(&mut self, copies: usize) -> (Group, Value) {
        let marker = format!("g{}", self.groups.len());
        let content_type = CONTENT_TYPES[self.rng.below(CONTENT_TYPES.len())];
        let campaign = self
            .rng
            .chance(40)
            .then(|| CAMPAIGNS[self.rng.below(CAMPAIGNS.len())].to_string());
        if self.rng.chance(65) {
            // A page view: identified (85 %) or anonymous.
            let contact = self
                .rng
                .chance(85)
                .then(|| format!("ct-{}", self.contact()));
            let mut content_id = None;
            for _ in 0..20 {
                let c = format!("c{}", self.rng.below(CONTENT_POOL));
                if !self.used_views.contains(&(c.clone(), contact.clone())) {
                    content_id = Some(c);
                    break;
                }
            }
            let content_id = content_id.unwrap_or_else(|| {
                self.fresh_content += 1;
                format!("c{}", self.fresh_content)
            });
            self.used_views
                .insert((content_id.clone(), contact.clone()));
            let mut body = json!({
                "content_type": content_type,
                "content_id": content_id,
                "slug": format!("{content_type}-{content_id}"),
                "title": marker,
                "community": "platform-teams",
            });
            if let Some(c) = &contact {
                body["contact_id"] = json!(c);
            }
            if let Some(c) = &campaign {
                body["utm_campaign"] = json!(c);
            }
            let group = Group {
                marker,
                kind: Kind::PageView,
                points: VIEW_POINTS + bonus(content_type),
                campaign: campaign.filter(|_| contact.is_some()),
                contact_key: contact,
                copies,
            };
            return (group, body);
        }
        // A form: by contact id (with or without email) or by email alone.
        let form_id = FORMS[self.rng.below(FORMS.len())];
        let (contact_id, email) = if self.rng.chance(70) {
            let c = self.contact();
            let email = self
                .rng
                .chance(50)
                .then(|| format!("person{c}@example.test"));
            (Some(format!("ct-{c}")), email)
        } else {
            let e = self.rng.below(EMAIL_ONLY);
            (None, Some(format!("solo{e}@example.test")))
        };
        let on_page = self.rng.chance(60);
        let mut fields = json!({"ref": marker, "first_name": "Ada", "company": "Acme"});
        if let Some(c) = &campaign {
            fields["utm_campaign"] = json!(c);
        }
        let mut body = json!({"form_id": form_id, "fields": fields});
        if on_page {
            body["content_type"] = json!(content_type);
            body["content_id"] = json!(format!("c{}", self.rng.below(CONTENT_POOL)));
        }
        if let Some(c) = &contact_id {
            body["contact_id"] = json!(c);
        }
        if let Some(e) = &email {
            body["email"] = json!(e);
        }
        let group = Group {
            marker,
            kind: Kind::Form,
            contact_key: contact_id.or(email),
            points: FORM_POINTS + if on_page { bonus(content_type) } else { 0 },
            campaign,
            copies,
        };
        (group, body)
    }

    /// Records what the edge answered.
    pub fn record(&mut self, results: Vec<(usize, Outcome)>) {
        self.results.extend(results);
    }

    /// Every outcome so far.
    pub fn results(&self) -> &[(usize, Outcome)] {
        &self.results
    }

    /// Ids the edge accepted, by group.
    pub fn accepted_by_group(&self) -> BTreeMap<usize, BTreeSet<String>> {
        let mut out: BTreeMap<usize, BTreeSet<String>> = BTreeMap::new();
        for (g, o) in &self.results {
            if let Outcome::Accepted(id) = o {
                out.entry(*g).or_default().insert(id.clone());
            }
        }
        out
    }

    /// The ids the edge accepted for groups in `range`.
    pub fn accepted_ids_of(&self, groups: std::ops::Range<usize>) -> BTreeSet<String> {
        self.results
            .iter()
            .filter(|(g, _)| groups.contains(g))
            .filter_map(|(_, o)| match o {
                Outcome::Accepted(id) => Some(id.clone()),
                Outcome::Unavailable | Outcome::Unknown(_) => None,
            })
            .collect()
    }
}
