//! `event-store`: every event into `content_events`, form submitters into
//! `contacts`, content announcements and drift into `content_catalog` and
//! `content_drift` (see [`crate::drift`]), and events of types hookline does
//! not model into `other_events`, as received.
//!
//! `content_events` keeps the legacy Node receiver's columns, so queries written for
//! the legacy app keep working; `payload` is the event's `data` as received. A
//! contact is upserted from each identified form submission, merging: a
//! field the form left blank never erases what an earlier form told us.

use crate::drift;
use crate::identity::{self, Contact, Profile};
use crate::runner::{Consumer, HandlerError};
use async_trait::async_trait;
use hookline_core::event::{FormSubmission, PageView};
use hookline_core::{Event, EventData, EventType, OtherEvent};
use sqlx::PgConnection;
use sqlx::types::Json;

/// The `event-store` consumer.
#[derive(Debug, Default)]
pub struct EventStore;

impl EventStore {
    /// The consumer (it has no settings).
    pub fn new() -> Self {
        Self
    }
}

/// One `content_events` row.
struct Row<'a> {
    content_type: Option<&'a str>,
    content_id: Option<&'a str>,
    slug: Option<&'a str>,
    title: Option<&'a str>,
    community: Option<&'a str>,
    contact_id: Option<&'a str>,
    email: Option<String>,
    url: Option<&'a str>,
    payload: serde_json::Value,
}

fn row(event: &Event) -> Result<Row<'_>, serde_json::Error> {
    Ok(match &event.data {
        EventData::PageView(p) => {
            let PageView {
                content_type,
                content_id,
                slug,
                title,
                community,
                contact_id,
                url,
                ..
            } = p;
            Row {
                content_type: Some(content_type.as_str()),
                content_id: Some(content_id),
                slug: Some(slug),
                title: title.as_deref(),
                community: community.as_deref(),
                contact_id: contact_id.as_deref(),
                email: None,
                url: url.as_deref(),
                payload: serde_json::to_value(p)?,
            }
        }
        EventData::FormSubmission(f) => {
            let FormSubmission {
                content_type,
                content_id,
                slug,
                contact_id,
                ..
            } = f;
            Row {
                content_type: content_type.map(|t| t.as_str()),
                content_id: content_id.as_deref(),
                slug: slug.as_deref(),
                title: None,
                community: None,
                contact_id: contact_id.as_deref(),
                email: identity::form_email(f),
                url: None,
                payload: serde_json::to_value(f)?,
            }
        }
        EventData::ContentPublished(c) => Row {
            content_type: Some(c.content_type.as_str()),
            content_id: Some(&c.content_id),
            slug: Some(&c.slug),
            title: Some(&c.title),
            community: None,
            contact_id: None,
            email: None,
            url: None,
            payload: serde_json::to_value(c)?,
        },
    })
}

#[async_trait]
impl Consumer for EventStore {
    fn name(&self) -> &'static str {
        "event-store"
    }

    fn event_types(&self) -> &[EventType] {
        &EventType::ALL
    }

    /// Every row of the batch in one `INSERT … SELECT FROM UNNEST`; contacts
    /// (form submissions only) one upsert each, in order, so a later form
    /// merges over an earlier one.
    async fn handle_batch(
        &self,
        events: &[&Event],
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        let mut c = Columns::default();
        for event in events {
            let r = row(event)?;
            c.event_id.push(event.id.as_str());
            c.event_name.push(event.event_type().as_str());
            c.content_type.push(r.content_type);
            c.content_id.push(r.content_id);
            c.slug.push(r.slug);
            c.title.push(r.title);
            c.community.push(r.community);
            c.contact_id
                .push(r.contact_id.map(str::trim).filter(|s| !s.is_empty()));
            c.email.push(r.email);
            c.url.push(r.url);
            c.payload.push(Json(r.payload));
            c.ts.push(event.occurred_at);
        }
        sqlx::query(
            "INSERT INTO content_events \
             (event_id, event_name, content_type, content_id, slug, title, community, \
              contact_id, email, url, payload, ts) \
             SELECT * FROM UNNEST($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], \
              $6::text[], $7::text[], $8::text[], $9::text[], $10::text[], $11::jsonb[], \
              $12::timestamptz[]) \
             ON CONFLICT (event_id) DO NOTHING",
        )
        .bind(&c.event_id)
        .bind(&c.event_name)
        .bind(&c.content_type)
        .bind(&c.content_id)
        .bind(&c.slug)
        .bind(&c.title)
        .bind(&c.community)
        .bind(&c.contact_id)
        .bind(&c.email)
        .bind(&c.url)
        .bind(&c.payload)
        .bind(&c.ts)
        .execute(&mut *tx)
        .await?;
        for event in events {
            if let (EventData::FormSubmission(form), Some(contact)) =
                (&event.data, identity::contact(event))
            {
                upsert_contact(tx, &contact, &identity::profile(form)).await?;
            }
        }
        // The catalog first, so views later in the batch compare with the
        // announcements before them; drift last, so its metric is counted
        // only when nothing after it in the batch can fail.
        drift::catalog(tx, events).await?;
        drift::drift(tx, events).await?;
        Ok(())
    }

    /// A single event goes the batch's way too: one SQL path.
    async fn handle(&self, event: &Event, tx: &mut PgConnection) -> Result<(), HandlerError> {
        self.handle_batch(std::slice::from_ref(&event), tx).await
    }

    /// Every type: the CRM keeps what it was sent, even what nothing reads yet.
    fn other_event_types(&self) -> &[&str] {
        &["*"]
    }

    async fn handle_other(
        &self,
        event: &OtherEvent,
        tx: &mut PgConnection,
    ) -> Result<(), HandlerError> {
        sqlx::query(
            "INSERT INTO other_events (id, type, source, payload, received_at) \
             VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
        )
        .bind(event.id.as_str())
        .bind(&event.kind)
        .bind(&event.source)
        .bind(Json(&event.payload))
        .bind(event.received_at)
        .execute(&mut *tx)
        .await?;
        Ok(())
    }
}

/// The `content_events` columns of a batch, one array each.
#[derive(Default)]
struct Columns<'a> {
    event_id: Vec<&'a str>,
    event_name: Vec<&'static str>,
    content_type: Vec<Option<&'a str>>,
    content_id: Vec<Option<&'a str>>,
    slug: Vec<Option<&'a str>>,
    title: Vec<Option<&'a str>>,
    community: Vec<Option<&'a str>>,
    contact_id: Vec<Option<&'a str>>,
    email: Vec<Option<String>>,
    url: Vec<Option<&'a str>>,
    payload: Vec<Json<serde_json::Value>>,
    ts: Vec<chrono::DateTime<chrono::Utc>>,
}

/// Inserts the contact or merges the form's non-blank fields into it.
async fn upsert_contact(
    tx: &mut PgConnection,
    contact: &Contact,
    profile: &Profile,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO contacts AS c \
         (contact_key, contact_id, email, first_name, last_name, company, job_title, country) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
         ON CONFLICT (contact_key) DO UPDATE SET \
           contact_id = COALESCE(NULLIF(EXCLUDED.contact_id, ''), c.contact_id), \
           email      = COALESCE(NULLIF(EXCLUDED.email, ''), c.email), \
           first_name = COALESCE(NULLIF(EXCLUDED.first_name, ''), c.first_name), \
           last_name  = COALESCE(NULLIF(EXCLUDED.last_name, ''), c.last_name), \
           company    = COALESCE(NULLIF(EXCLUDED.company, ''), c.company), \
           job_title  = COALESCE(NULLIF(EXCLUDED.job_title, ''), c.job_title), \
           country    = COALESCE(NULLIF(EXCLUDED.country, ''), c.country), \
           updated_at = now()",
    )
    .bind(&contact.key)
    .bind(&contact.contact_id)
    .bind(profile.email.as_ref().or(contact.email.as_ref()))
    .bind(&profile.first_name)
    .bind(&profile.last_name)
    .bind(&profile.company)
    .bind(&profile.job_title)
    .bind(&profile.country)
    .execute(&mut *tx)
    .await?;
    Ok(())
}
