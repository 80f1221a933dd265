//! What a task needs beyond its payload, read from the CRM tables at send
//! time: the contact's profile (a form may have filled in a name after the
//! rule fired), their current score and their last touches.

use crate::store::Claimed;
use chrono::{DateTime, Utc};
use hookline_core::handoff::{SdrContact, SdrHandoff, Touch};
use serde_json::{Map, Value, json};
use sqlx::PgPool;

const PROFILE: [&str; 7] = [
    "contact_id",
    "email",
    "first_name",
    "last_name",
    "company",
    "job_title",
    "country",
];

/// How many recent events an SDR hand-off lists.
const TOUCHES: i64 = 5;

async fn profile(pool: &PgPool, contact_key: &str) -> Result<Map<String, Value>, sqlx::Error> {
    let row: Option<(Value,)> = sqlx::query_as(
        "SELECT json_build_object('contact_id', contact_id, 'email', email, \
           'first_name', first_name, 'last_name', last_name, 'company', company, \
           'job_title', job_title, 'country', country) \
         FROM contacts WHERE contact_key = $1",
    )
    .bind(contact_key)
    .fetch_optional(pool)
    .await?;
    Ok(match row {
        Some((Value::Object(map),)) => map,
        _ => Map::new(),
    })
}

/// The template variables of an email: the task's payload, with the
/// contact's stored profile filling fields the payload lacks.
pub async fn email_vars(pool: &PgPool, task: &Claimed) -> Result<Value, sqlx::Error> {
    let mut vars = match &task.payload.0 {
        Value::Object(map) => map.clone(),
        _ => Map::new(),
    };
    for (key, value) in profile(pool, &task.contact_key).await? {
        let missing = vars
            .get(&key)
            .is_none_or(|v| v.is_null() || v.as_str() == Some(""));
        if missing && !value.is_null() {
            vars.insert(key, value);
        }
    }
    vars.insert("task_id".into(), json!(task.id));
    Ok(Value::Object(vars))
}

/// The SDR hand-off: the contact, their score and their last touches.
pub async fn lead(pool: &PgPool, task: &Claimed) -> Result<SdrHandoff, sqlx::Error> {
    let payload = &task.payload.0;
    let mut profile = profile(pool, &task.contact_key).await?;
    for key in PROFILE {
        if profile.get(key).is_none_or(Value::is_null)
            && let Some(v) = payload.get(key).filter(|v| !v.is_null())
        {
            profile.insert(key.into(), v.clone());
        }
    }
    let text = |key: &str| profile.get(key).and_then(Value::as_str).map(str::to_string);
    let contact = SdrContact {
        contact_id: text("contact_id"),
        email: text("email"),
        first_name: text("first_name"),
        last_name: text("last_name"),
        company: text("company"),
        job_title: text("job_title"),
        country: text("country"),
    };
    let score: Option<i64> =
        sqlx::query_scalar("SELECT score FROM engagement_scores WHERE contact_key = $1")
            .bind(&task.contact_key)
            .fetch_optional(pool)
            .await?;
    let touches: Vec<TouchRow> = sqlx::query_as(
        "SELECT event_id, event_name, content_type, content_id, slug, title, url, ts \
         FROM content_events \
         WHERE ($1::text IS NOT NULL AND contact_id = $1) \
            OR ($2::text IS NOT NULL AND lower(email) = lower($2)) \
         ORDER BY ts DESC LIMIT $3",
    )
    .bind(&contact.contact_id)
    .bind(&contact.email)
    .bind(TOUCHES)
    .fetch_all(pool)
    .await?;
    Ok(SdrHandoff {
        kind: "sdr_task".into(),
        task_id: task.id,
        rule: task.rule.clone(),
        event_id: task.event_id.clone(),
        contact_key: task.contact_key.clone(),
        contact,
        score: score.or_else(|| payload.get("score").and_then(Value::as_i64)),
        threshold: payload.get("threshold").and_then(Value::as_i64),
        last_touches: touches.into_iter().map(Touch::from).collect(),
    })
}

#[derive(sqlx::FromRow)]
struct TouchRow {
    event_id: String,
    event_name: String,
    content_type: Option<String>,
    content_id: Option<String>,
    slug: Option<String>,
    title: Option<String>,
    url: Option<String>,
    ts: DateTime<Utc>,
}

impl From<TouchRow> for Touch {
    fn from(r: TouchRow) -> Self {
        Self {
            event_id: r.event_id,
            event: r.event_name,
            content_type: r.content_type,
            content_id: r.content_id,
            slug: r.slug,
            title: r.title,
            url: r.url,
            at: r.ts,
        }
    }
}
