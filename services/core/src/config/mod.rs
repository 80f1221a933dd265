//! Configuration: built-in defaults, then `hookline.toml` (or `--config`), then
//! the legacy Node app's variable names, then `HOOKLINE__SECTION__KEY`.
//!
//! Every section derives `Default` with the documented defaults, so a test can
//! build a `Config` in code and a user needs no file at all. A bad value stops
//! start-up with one line naming the key.

mod actions;
mod duration;
mod nats;
mod public;
mod reconcile;
mod secrets;
mod sections;
mod validate;

pub use actions::{ActionsConfig, EmailTemplate};

pub use duration::{parse_duration, serde_duration, serde_durations};
pub use nats::{NatsConfig, NatsTlsConfig};
pub use public::*;
pub use reconcile::ReconcileConfig;
pub use secrets::{MIN_SECRET_BYTES, decode_encryption_key, require_secret};
pub use sections::*;

use config::{Environment, File, FileFormat, Map, Source, Value, ValueKind};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A configuration that cannot be used, naming the key at fault.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// A key has a value of the wrong shape.
    #[error("config: {0}")]
    Parse(#[source] Box<::config::ConfigError>),
    /// A key has a value the service cannot work with.
    #[error("config: `{key}` {message}")]
    Invalid {
        /// The dotted key, e.g. `edge.listen`.
        key: &'static str,
        /// What is wrong with it.
        message: String,
    },
}

impl From<::config::ConfigError> for ConfigError {
    fn from(e: ::config::ConfigError) -> Self {
        Self::Parse(Box::new(e))
    }
}

/// The whole configuration of a hookline stack.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Config {
    /// NATS connection and namespacing.
    pub nats: NatsConfig,
    /// The RC side's Postgres (webhook-out state).
    pub rc: DatabaseConfig,
    /// The CRM side's Postgres and its consumers' rules.
    pub crm: CrmConfig,
    /// rc-edge.
    pub edge: EdgeConfig,
    /// dedupe.
    pub dedupe: DedupeConfig,
    /// webhook-out.
    pub webhook_out: WebhookOutConfig,
    /// The webhook created from config at start-up (the legacy Node app's one-CRM setup).
    pub crm_webhook: CrmWebhookConfig,
    /// crm-ingest.
    pub ingest: IngestConfig,
    /// The CRM consumer runner.
    pub consumers: ConsumersConfig,
    /// Health and metrics listener of services without an HTTP API.
    pub ops: OpsConfig,
    /// Logging.
    pub log: LogConfig,
    /// Span export (OTLP).
    pub telemetry: TelemetryConfig,
    /// The worker performing automation tasks (`hookline actions`).
    pub actions: ActionsConfig,
    /// The `hubspot-sync` consumer.
    pub hubspot: HubspotConfig,
    /// `hookline reconcile`: the CRM side's comparison with the RC.
    pub reconcile: ReconcileConfig,
}

/// Keys whose environment value is a comma-separated list.
const LIST_KEYS: &[&str] = &[
    "edge.trusted_proxies",
    "edge.cors_origins",
    "webhook_out.retry_schedule",
    "webhook_out.allowed_networks",
    "webhook_out.encryption_keys",
    "ingest.secrets",
    "ingest.optimocms_secrets",
    "ingest.trusted_proxies",
    "consumers.backoff",
    "actions.backoff",
];

/// The legacy Node app's variable names and the key each one sets.
pub const SEED_ALIASES: &[(&str, &str)] = &[
    ("CRM_WEBHOOK_URL", "crm_webhook.url"),
    ("CRM_WEBHOOK_KEY", "crm_webhook.api_key"),
    ("CRM_SHARED_SECRET", "crm_webhook.secret"),
    ("DEDUP_WINDOW_MINUTES", "dedupe.page_view_window"),
    ("PUBLIC_BASE_URL", "edge.public_base_url"),
    ("WEBHOOK_API_KEY", "ingest.api_key"),
    ("WEBHOOK_SHARED_SECRET", "ingest.secrets"),
    ("SIG_TTL_SECONDS", "ingest.sig_ttl_seconds"),
];

impl Config {
    /// Loads the configuration from the process environment and `path` (or
    /// `./hookline.toml` when it exists), then validates it.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let env: Vec<(String, String)> = std::env::vars().collect();
        Self::load_from(path, &env)
    }

    /// Like [`Config::load`], with an explicit environment (for tests).
    pub fn load_from(path: Option<&Path>, env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut builder = config::Config::builder();
        match path {
            Some(p) => {
                builder = builder.add_source(File::from(p).format(FileFormat::Toml).required(true))
            }
            None => {
                builder =
                    builder.add_source(File::new("hookline.toml", FileFormat::Toml).required(false))
            }
        }
        let hookline_env: Map<String, String> = env
            .iter()
            .filter(|(k, _)| k.starts_with("HOOKLINE__"))
            .cloned()
            .collect();
        let mut environment = Environment::with_prefix("HOOKLINE")
            .prefix_separator("__")
            .separator("__")
            .list_separator(",")
            .try_parsing(true)
            .source(Some(hookline_env));
        for key in LIST_KEYS {
            environment = environment.with_list_parse_key(key);
        }
        let built = builder
            .add_source(SeedAliases::from_env(env)?)
            .add_source(environment)
            .build()?;
        let config: Config = built.try_deserialize()?;
        config.validate()?;
        Ok(config)
    }

    /// The effective configuration with every secret replaced by `***`, for
    /// `hookline config` and start-up logs.
    pub fn redacted(&self) -> serde_json::Value {
        let mut c = self.clone();
        let hide = |s: &mut Option<String>| {
            if s.is_some() {
                *s = Some("***".into());
            }
        };
        hide(&mut c.edge.fingerprint_secret);
        hide(&mut c.edge.identity_secret);
        hide(&mut c.edge.health_sync_api_key);
        hide(&mut c.reconcile.api_key);
        hide(&mut c.edge.content_api_key);
        hide(&mut c.webhook_out.admin_token);
        hide(&mut c.webhook_out.ops_webhook_secret);
        hide(&mut c.crm_webhook.secret);
        hide(&mut c.crm_webhook.api_key);
        hide(&mut c.ingest.api_key);
        hide(&mut c.nats.password);
        hide(&mut c.nats.token);
        hide(&mut c.hubspot.access_token);
        c.nats.url = crate::nats::redact_url(&c.nats.url);
        c.ingest.secrets.iter_mut().for_each(|s| *s = "***".into());
        c.ingest
            .optimocms_secrets
            .iter_mut()
            .for_each(|s| *s = "***".into());
        c.webhook_out
            .encryption_keys
            .iter_mut()
            .for_each(|s| *s = "***".into());
        c.actions.redact();
        c.rc.database_url = crate::db::redact(&c.rc.database_url);
        c.crm.database_url = crate::db::redact(&c.crm.database_url);
        serde_json::to_value(c).expect("config serialises")
    }

    /// Stream and subject names under this stack's prefix.
    pub fn names(&self) -> crate::Names {
        crate::Names::new(self.nats.prefix.clone())
    }
}

/// The legacy Node app's `.env` names as a configuration source, below `HOOKLINE__…`.
#[derive(Clone, Debug)]
struct SeedAliases(Map<String, Value>);

impl SeedAliases {
    fn from_env(env: &[(String, String)]) -> Result<Self, ConfigError> {
        let mut map = Map::new();
        for (name, key) in SEED_ALIASES {
            let Some((_, raw)) = env.iter().find(|(k, _)| k == name) else {
                continue;
            };
            let value = match *name {
                "DEDUP_WINDOW_MINUTES" => {
                    let minutes: u64 = raw.trim().parse().map_err(|_| ConfigError::Invalid {
                        key: "dedupe.page_view_window",
                        message: format!(
                            "DEDUP_WINDOW_MINUTES must be a whole number of minutes, got {raw:?}"
                        ),
                    })?;
                    ValueKind::String(format!("{minutes}m"))
                }
                "WEBHOOK_SHARED_SECRET" => ValueKind::Array(vec![Value::new(
                    Some(&name.to_string()),
                    ValueKind::String(raw.clone()),
                )]),
                "SIG_TTL_SECONDS" => {
                    let secs: u64 = raw.trim().parse().map_err(|_| ConfigError::Invalid {
                        key: "ingest.sig_ttl_seconds",
                        message: format!("SIG_TTL_SECONDS must be a whole number, got {raw:?}"),
                    })?;
                    ValueKind::U64(secs)
                }
                _ => ValueKind::String(raw.clone()),
            };
            map.insert(key.to_string(), Value::new(Some(&name.to_string()), value));
        }
        Ok(Self(map))
    }
}

impl Source for SeedAliases {
    fn clone_into_box(&self) -> Box<dyn Source + Send + Sync> {
        Box::new(self.clone())
    }

    fn collect(&self) -> Result<Map<String, Value>, config::ConfigError> {
        // Dotted keys must become nested tables for the config crate.
        let mut root = Map::new();
        for (key, value) in &self.0 {
            let (section, field) = key.split_once('.').expect("alias keys are dotted");
            let entry = root
                .entry(section.to_string())
                .or_insert_with(|| Value::new(None, ValueKind::Table(Map::new())));
            if let ValueKind::Table(table) = &mut entry.kind {
                table.insert(field.to_string(), value.clone());
            }
        }
        Ok(root)
    }
}

#[cfg(test)]
mod tests;
