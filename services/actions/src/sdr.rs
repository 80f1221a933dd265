//! `sdr_task`: hands a hot lead to the sales team as a Standard Webhooks
//! signed POST to `actions.sdr_webhook_url`.
//!
//! The `webhook-id` is `task_<id>` on every attempt, so a receiver that
//! dedupes by it (as the spec asks) acts once even when a worker died after
//! the receiver's 2xx and the task was sent again.

use crate::Failure;
use hookline_core::config::{ActionsConfig, ConfigError};
use hookline_core::handoff::SdrHandoff;
use hookline_core::signing::{self, Secret};
use serde_json::{Value, json};

/// The webhook side of the worker.
pub struct SdrHook {
    url: String,
    secret: Secret,
    slack: bool,
    http: reqwest::Client,
}

impl SdrHook {
    /// The hand-off of `config`, or `None` when `actions.sdr_webhook_url` is
    /// unset.
    pub fn new(config: &ActionsConfig) -> Result<Option<Self>, ConfigError> {
        let Some(url) = &config.sdr_webhook_url else {
            return Ok(None);
        };
        let secret = config
            .sdr_webhook_secret
            .as_deref()
            .map(Secret::standard)
            .and_then(Result::ok)
            .ok_or(ConfigError::Invalid {
                key: "actions.sdr_webhook_secret",
                message: "must be a whsec_ secret when actions.sdr_webhook_url is set".into(),
            })?;
        let http = reqwest::Client::builder()
            .timeout(config.send_timeout)
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .map_err(|e| ConfigError::Invalid {
                key: "actions.sdr_webhook_url",
                message: format!("cannot build an HTTP client: {e}"),
            })?;
        Ok(Some(Self {
            url: url.clone(),
            secret,
            slack: config.sdr_slack,
            http,
        }))
    }

    /// Posts `lead` for task `id`: 2xx is done; 408, 429, 5xx and network
    /// errors are retried; any other status will not change and fails the
    /// task.
    pub async fn send(&self, id: i64, lead: &SdrHandoff) -> Result<(), Failure> {
        let body = if self.slack {
            serde_json::to_vec(&slack_body(lead))
        } else {
            serde_json::to_vec(lead)
        }
        .expect("JSON serialises");
        let msg_id = format!("task_{id}");
        let now = chrono::Utc::now().timestamp();
        let signature = signing::standard::sign(&self.secret, &msg_id, now, &body);
        let response = self
            .http
            .post(&self.url)
            .header("content-type", "application/json")
            .header(signing::WEBHOOK_ID, &msg_id)
            .header(signing::WEBHOOK_TIMESTAMP, now.to_string())
            .header(signing::WEBHOOK_SIGNATURE, signature)
            .body(body)
            .send()
            .await
            .map_err(|e| Failure::retry(format!("SDR webhook: {}", e.without_url())))?;
        let status = response.status();
        if status.is_success() {
            Ok(())
        } else if status.is_server_error() || matches!(status.as_u16(), 408 | 429) {
            Err(Failure::retry(format!("SDR webhook answered {status}")))
        } else {
            Err(Failure::permanent(format!("SDR webhook answered {status}")))
        }
    }
}

/// A Slack-compatible body (`text` for notifications, `blocks` for the
/// message): who, how hot, and what they looked at last.
pub fn slack_body(lead: &SdrHandoff) -> Value {
    let contact = &lead.contact;
    let name = [&contact.first_name, &contact.last_name]
        .into_iter()
        .flatten()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .join(" ");
    let who = match (name.trim(), &contact.email) {
        ("", Some(email)) => email.clone(),
        ("", None) => lead.contact_key.clone(),
        (name, Some(email)) => format!("{name} <{email}>"),
        (name, None) => name.to_string(),
    };
    let score = lead.score.map_or("unknown".to_string(), |s| s.to_string());
    let text = format!("Hot lead: {who}, engagement score {score}");
    let touches: Vec<String> = lead
        .last_touches
        .iter()
        .map(|t| {
            let what = t
                .title
                .as_deref()
                .or(t.slug.as_deref())
                .unwrap_or("(untitled)");
            let at = hookline_core::event::rfc3339_millis::format(&t.at);
            format!("• {} {what} — {at}", t.event)
        })
        .collect();
    let company = contact.company.as_deref().unwrap_or("-");
    let touches = if touches.is_empty() {
        "No recent touches recorded.".to_string()
    } else {
        format!("Last touches:\n{}", touches.join("\n"))
    };
    json!({
        "text": text,
        "blocks": [
            {"type": "section", "text": {"type": "mrkdwn", "text": format!("*{text}*\nCompany: {company}")}},
            {"type": "section", "text": {"type": "mrkdwn", "text": touches}},
        ],
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use hookline_core::handoff::{SdrContact, Touch};

    #[test]
    fn the_slack_body_names_the_contact_score_and_touches() {
        let lead = SdrHandoff {
            kind: "sdr_task".into(),
            task_id: 1,
            rule: "sdr-hot-lead".into(),
            event_id: "evt_1".into(),
            contact_key: "c-1".into(),
            contact: SdrContact {
                first_name: Some("Ada".into()),
                last_name: Some("Lovelace".into()),
                email: Some("ada@example.org".into()),
                company: Some("ACME".into()),
                ..SdrContact::default()
            },
            score: Some(55),
            threshold: Some(50),
            last_touches: vec![Touch {
                event_id: "evt_0".into(),
                event: "page_view".into(),
                content_type: None,
                content_id: None,
                slug: None,
                title: Some("Pricing".into()),
                url: None,
                at: chrono::Utc::now(),
            }],
        };
        let body = slack_body(&lead);
        let text = body["text"].as_str().unwrap();
        assert!(
            text.contains("Ada Lovelace <ada@example.org>") && text.contains("55"),
            "{text}"
        );
        let touches = body["blocks"][1]["text"]["text"].as_str().unwrap();
        assert!(touches.contains("Pricing"), "{touches}");
    }
}
