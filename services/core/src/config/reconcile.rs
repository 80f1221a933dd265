//! `reconcile.*`: where the CRM side's `hookline reconcile` finds the RC's
//! health-sync API, and which webhook re-delivers what it finds missing.

use super::ConfigError;
use serde::{Deserialize, Serialize};

/// `reconcile.*`
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ReconcileConfig {
    /// Base URL of the RC's edge, where `GET /api/health-sync` is served
    /// (e.g. `https://rc.example.org`).
    pub rc_url: Option<String>,
    /// Bearer token of health-sync: the RC's `edge.health_sync_api_key`.
    pub api_key: Option<String>,
    /// The webhook (`wh_…`) that delivers to this CRM: `--repair` resends
    /// the missing events through it (with the admin API's URL and token,
    /// as `hookline webhooks` finds them).
    pub webhook_id: Option<String>,
}

impl ReconcileConfig {
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        if let Some(url) = &self.rc_url {
            let ok = url::Url::parse(url).is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
            if !ok {
                return Err(ConfigError::Invalid {
                    key: "reconcile.rc_url",
                    message: "must be an http(s):// URL".into(),
                });
            }
        }
        if let Some(id) = &self.webhook_id
            && !id.starts_with("wh_")
        {
            return Err(ConfigError::Invalid {
                key: "reconcile.webhook_id",
                message: "must be a webhook id (wh_…)".into(),
            });
        }
        Ok(())
    }
}
