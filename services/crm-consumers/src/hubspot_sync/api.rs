//! HubSpot's CRM v3 contacts batch upsert, and what its answers mean.
//!
//! `POST {base_url}/crm/v3/objects/contacts/batch/upsert` with
//! `{"inputs":[{"idProperty":"email","id":<email>,"properties":{…}}]}`, at
//! most [`MAX_INPUTS`] inputs and no id twice. HubSpot answers `200`
//! `{"status":"COMPLETE","results":[{"id","properties",…}]}` when every
//! input was written, `207` with `results` and `errors` when some were not,
//! `429` with `Retry-After` when rate-limited, `401` for a bad token and
//! other 4xx (`{"status":"error","message",…}`) for a request it will never
//! accept.

use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

/// The most inputs HubSpot takes in one batch call.
pub const MAX_INPUTS: usize = 100;

/// The batch upsert path under `hubspot.base_url`.
pub const UPSERT_PATH: &str = "/crm/v3/objects/contacts/batch/upsert";

/// The wait when a 429 carries no usable `Retry-After` (HubSpot's
/// ten-second burst window).
const DEFAULT_RETRY_AFTER: Duration = Duration::from_secs(10);

/// One contact to upsert, keyed by email.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct Input {
    /// Always `email`: HubSpot finds the contact by this property.
    #[serde(rename = "idProperty")]
    pub id_property: &'static str,
    /// The email (lower-cased).
    pub id: String,
    /// Contact properties to write.
    pub properties: BTreeMap<&'static str, String>,
}

#[derive(Serialize)]
struct Request<'a> {
    inputs: &'a [Input],
}

#[derive(Debug, Default, Deserialize)]
struct Answer {
    #[serde(default)]
    results: Vec<Record>,
    #[serde(default)]
    errors: Vec<ErrorBody>,
    #[serde(default)]
    message: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Record {
    id: String,
    #[serde(default)]
    properties: HashMap<String, Option<String>>,
}

#[derive(Debug, Deserialize)]
struct ErrorBody {
    #[serde(default)]
    message: String,
}

/// What a call that HubSpot accepted wrote.
#[derive(Debug, Default)]
pub struct Written {
    /// HubSpot's contact id by lower-cased email, for the inputs it wrote.
    pub ids: HashMap<String, String>,
    /// Whether every input was written (`200`); else the errors of the rest.
    pub errors: Vec<String>,
}

/// Why a call wrote nothing.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    /// `429`: wait this long, then call again.
    #[error("HubSpot rate limit reached; retry after {0:?}")]
    RateLimited(Duration),
    /// `401`: the access token is wrong, expired or revoked.
    #[error("HubSpot refused hubspot.access_token (401): {0}")]
    Unauthorized(String),
    /// Another 4xx: the request will never be accepted as it is.
    #[error("HubSpot rejected the upsert ({status}): {message}")]
    Rejected {
        /// The status code.
        status: u16,
        /// HubSpot's message.
        message: String,
    },
    /// A time-out or no connection: HubSpot is away for now. The error
    /// names no URL (the token is a header, never in it either).
    #[error("HubSpot unavailable: {0}")]
    Unreachable(#[source] reqwest::Error),
    /// 5xx: HubSpot is away for now.
    #[error("HubSpot unavailable: {status}: {message}")]
    Unavailable {
        /// The status code.
        status: StatusCode,
        /// HubSpot's message.
        message: String,
    },
}

/// A client of one HubSpot account. Holds the token; has no `Debug`, so it
/// cannot end up in a log line.
pub struct Api {
    http: reqwest::Client,
    url: String,
    token: String,
}

impl Api {
    /// Calls `base_url` with `token`, each call cut off after `timeout`.
    pub fn new(base_url: &str, token: &str, timeout: Duration) -> Result<Self, reqwest::Error> {
        let http = reqwest::Client::builder()
            .timeout(timeout)
            .connect_timeout(Duration::from_secs(5))
            .build()?;
        Ok(Self {
            http,
            url: format!("{}{UPSERT_PATH}", base_url.trim_end_matches('/')),
            token: token.to_string(),
        })
    }

    /// Upserts `inputs` (at most [`MAX_INPUTS`], distinct emails) in one call.
    pub async fn upsert(&self, inputs: &[Input]) -> Result<Written, ApiError> {
        let response = self
            .http
            .post(&self.url)
            .bearer_auth(&self.token)
            .json(&Request { inputs })
            .send()
            .await
            // The error names the URL, never the token (it is a header).
            .map_err(|e| ApiError::Unreachable(e.without_url()))?;
        let status = response.status();
        let retry_after = retry_after(response.headers());
        let body = response.bytes().await.unwrap_or_default();
        let answer: Answer = serde_json::from_slice(&body).unwrap_or_default();
        let message = || {
            answer
                .message
                .clone()
                .unwrap_or_else(|| String::from_utf8_lossy(&body).chars().take(300).collect())
        };
        match status {
            s if s.is_success() => Ok(written(&answer, status)),
            StatusCode::TOO_MANY_REQUESTS => Err(ApiError::RateLimited(
                retry_after.unwrap_or(DEFAULT_RETRY_AFTER),
            )),
            StatusCode::UNAUTHORIZED => Err(ApiError::Unauthorized(message())),
            s if s.is_client_error() => Err(ApiError::Rejected {
                status: s.as_u16(),
                message: message(),
            }),
            status => Err(ApiError::Unavailable {
                status,
                message: message(),
            }),
        }
    }
}

fn written(answer: &Answer, status: StatusCode) -> Written {
    let ids = answer
        .results
        .iter()
        .filter_map(|r| {
            let email = r.properties.get("email")?.as_deref()?;
            Some((email.trim().to_lowercase(), r.id.clone()))
        })
        .collect();
    let mut errors: Vec<String> = answer.errors.iter().map(|e| e.message.clone()).collect();
    if status == StatusCode::MULTI_STATUS && errors.is_empty() {
        errors.push("207 without errors listed".into());
    }
    Written { ids, errors }
}

/// `Retry-After` in seconds (what HubSpot sends), at least one second.
fn retry_after(headers: &reqwest::header::HeaderMap) -> Option<Duration> {
    let secs: f64 = headers
        .get(reqwest::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    (secs.is_finite() && secs >= 0.0).then(|| Duration::from_secs_f64(secs.clamp(1.0, 3600.0)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inputs_serialise_in_hubspots_shape() {
        let input = Input {
            id_property: "email",
            id: "ann@example.com".into(),
            properties: [("email", "ann@example.com".to_string())].into(),
        };
        let body = serde_json::to_value(Request { inputs: &[input] }).unwrap();
        assert_eq!(
            body,
            serde_json::json!({"inputs": [{"idProperty": "email", "id": "ann@example.com",
                "properties": {"email": "ann@example.com"}}]})
        );
    }

    #[test]
    fn retry_after_reads_seconds() {
        let mut h = reqwest::header::HeaderMap::new();
        assert_eq!(retry_after(&h), None);
        h.insert("retry-after", "3".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(3)));
        h.insert("retry-after", "0".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(1)));
        h.insert("retry-after", "soon".parse().unwrap());
        assert_eq!(retry_after(&h), None);
    }

    #[test]
    fn results_map_emails_to_contact_ids() {
        let answer: Answer = serde_json::from_value(serde_json::json!({
            "status": "COMPLETE",
            "results": [{"id": "51", "properties": {"email": "Ann@Example.com"}, "new": true}]
        }))
        .unwrap();
        let w = written(&answer, StatusCode::OK);
        assert_eq!(w.ids["ann@example.com"], "51");
        assert!(w.errors.is_empty());
        assert_eq!(
            written(&Answer::default(), StatusCode::MULTI_STATUS)
                .errors
                .len(),
            1
        );
    }
}
