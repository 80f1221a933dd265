//! A fake of HubSpot's CRM v3 contacts batch upsert, recording every call.
//!
//! It follows the documented behaviour: `Authorization: Bearer <token>` or
//! `401` (`category: INVALID_AUTHENTICATION`); at most 100 inputs, each
//! `{"idProperty","id","properties"}`, no id twice, else `400`
//! (`VALIDATION_ERROR`); `429` with `Retry-After` (seconds) when rate
//! limited; otherwise `200 {"status":"COMPLETE","results":[{"id",
//! "properties","createdAt","updatedAt","archived","new"}],"startedAt",
//! "completedAt"}` with one contact per email.

use axum::Json;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::sync::{Arc, Mutex};
use std::time::Instant;

/// One request and how it was answered.
#[derive(Clone, Debug)]
pub struct Call {
    /// The status answered.
    pub status: u16,
    /// When it arrived.
    pub at: Instant,
    /// The inputs' `(id, properties)`.
    pub inputs: Vec<(String, BTreeMap<String, String>)>,
}

#[derive(Default)]
struct State0 {
    token: String,
    calls: Vec<Call>,
    contacts: BTreeMap<String, u64>,
    rate_limited: BTreeSet<usize>,
    retry_after_secs: u64,
    rejected_email: Option<String>,
}

/// The fake; `url()` is its base URL (`hubspot.base_url`).
pub struct FakeHubspot {
    state: Arc<Mutex<State0>>,
    url: String,
}

impl FakeHubspot {
    /// Starts it accepting `token`; call numbers in `rate_limited` (1-based,
    /// counting every call) get a 429 with `Retry-After: retry_after_secs`.
    pub async fn start(token: &str, rate_limited: &[usize], retry_after_secs: u64) -> Self {
        let state = Arc::new(Mutex::new(State0 {
            token: token.to_string(),
            rate_limited: rate_limited.iter().copied().collect(),
            retry_after_secs,
            ..Default::default()
        }));
        let app = axum::Router::new()
            .route("/crm/v3/objects/contacts/batch/upsert", post(upsert))
            .with_state(state.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { state, url }
    }

    /// The base URL.
    pub fn url(&self) -> String {
        self.url.clone()
    }

    /// Every call so far.
    pub fn calls(&self) -> Vec<Call> {
        self.state.lock().expect("lock").calls.clone()
    }

    /// Accept this token from now on.
    pub fn set_token(&self, token: &str) {
        self.state.lock().expect("lock").token = token.to_string();
    }

    /// Refuse (400) any batch holding this email.
    pub fn reject(&self, email: &str) {
        self.state.lock().expect("lock").rejected_email = Some(email.to_string());
    }

    /// `(email, source)` of every input HubSpot wrote (answered 200), with
    /// repeats.
    pub fn upserted(&self) -> Vec<(String, String)> {
        self.calls()
            .iter()
            .filter(|c| c.status == 200)
            .flat_map(|c| c.inputs.iter())
            .map(|(id, p)| (id.clone(), p.get("source").cloned().unwrap_or_default()))
            .collect()
    }
}

fn error(status: StatusCode, category: &str, message: &str) -> Response {
    let body = json!({"status": "error", "message": message, "category": category,
        "correlationId": "00000000-0000-0000-0000-000000000000"});
    (status, Json(body)).into_response()
}

async fn upsert(
    State(state): State<Arc<Mutex<State0>>>,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> Response {
    let mut s = state.lock().expect("lock");
    let inputs = parse(&body);
    let number = s.calls.len() + 1;
    let auth = headers.get("authorization").and_then(|v| v.to_str().ok());
    let (status, response) = if auth != Some(format!("Bearer {}", s.token).as_str()) {
        let message = "Authentication credentials not found.";
        (
            401,
            error(StatusCode::UNAUTHORIZED, "INVALID_AUTHENTICATION", message),
        )
    } else if s.rate_limited.contains(&number) {
        let mut r = error(
            StatusCode::TOO_MANY_REQUESTS,
            "RATE_LIMITS",
            "You have reached your ten_secondly_rolling limit.",
        );
        let after = s.retry_after_secs.to_string().parse().expect("header");
        r.headers_mut().insert("retry-after", after);
        (429, r)
    } else {
        match &inputs {
            Err(why) => (400, error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", why)),
            Ok(list)
                if list
                    .iter()
                    .any(|(id, _)| Some(id) == s.rejected_email.as_ref()) =>
            {
                let why = "Property values were not valid: email";
                (400, error(StatusCode::BAD_REQUEST, "VALIDATION_ERROR", why))
            }
            Ok(list) => (200, apply(&mut s, list)),
        }
    };
    s.calls.push(Call {
        status,
        at: Instant::now(),
        inputs: inputs.unwrap_or_default(),
    });
    response
}

type Inputs = Vec<(String, BTreeMap<String, String>)>;

fn parse(body: &[u8]) -> Result<Inputs, String> {
    let value: Value =
        serde_json::from_slice(body).map_err(|e| format!("Invalid input JSON: {e}"))?;
    let inputs = value["inputs"].as_array().ok_or("inputs is required")?;
    if inputs.is_empty() || inputs.len() > 100 {
        return Err(format!(
            "inputs must hold 1 to 100 items, not {}",
            inputs.len()
        ));
    }
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for input in inputs {
        if input["idProperty"] != "email" {
            return Err("idProperty must be email here".into());
        }
        let id = input["id"].as_str().ok_or("id is required")?.to_string();
        if !seen.insert(id.clone()) {
            return Err(format!("Duplicate IDs found in batch input: [{id}]"));
        }
        let properties = input["properties"]
            .as_object()
            .ok_or("properties is required")?
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap_or_default().to_string()))
            .collect();
        out.push((id, properties));
    }
    Ok(out)
}

fn apply(s: &mut State0, inputs: &Inputs) -> Response {
    let now = chrono::Utc::now().to_rfc3339();
    let results: Vec<Value> = inputs
        .iter()
        .map(|(email, properties)| {
            let next = s.contacts.len() as u64 + 1001;
            let new = !s.contacts.contains_key(email);
            let id = *s.contacts.entry(email.clone()).or_insert(next);
            json!({"id": id.to_string(), "properties": properties, "createdAt": now,
                "updatedAt": now, "archived": false, "new": new})
        })
        .collect();
    let body =
        json!({"status": "COMPLETE", "results": results, "startedAt": now, "completedAt": now});
    (StatusCode::OK, Json(body)).into_response()
}
