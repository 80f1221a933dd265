//! A hookline stack of separate processes.

use crate::{free_port, hookline_bin, wait_for};
use hookline_core::Config;
use hookline_core::testing;
use std::collections::BTreeMap;
use std::fs::File;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One process of the pipeline.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Service {
    /// `hookline edge`
    Edge,
    /// `hookline dedupe`
    Dedupe,
    /// `hookline webhook-out`
    WebhookOut,
    /// `hookline ingest`
    Ingest,
    /// `hookline consume <name>`
    Consumer(&'static str),
}

impl Service {
    /// Every process of a full pipeline, one per CRM consumer.
    pub const ALL: [Service; 7] = [
        Service::Edge,
        Service::Dedupe,
        Service::WebhookOut,
        Service::Ingest,
        Service::Consumer("event-store"),
        Service::Consumer("engagement-score"),
        Service::Consumer("automation"),
    ];

    fn args(self) -> Vec<&'static str> {
        match self {
            Service::Edge => vec!["edge"],
            Service::Dedupe => vec!["dedupe"],
            Service::WebhookOut => vec!["webhook-out"],
            Service::Ingest => vec!["ingest"],
            Service::Consumer(name) => vec!["consume", name],
        }
    }

    fn label(self) -> String {
        self.args().join("-")
    }
}

/// Shared secret of the config webhook and the ingest (tests look for it in logs).
pub const SHARED_SECRET: &str = "e2e-shared-secret-NEVER-LOGGED";
/// API key of the config webhook and the ingest.
pub const API_KEY: &str = "e2e-api-key-NEVER-LOGGED";
/// Admin token of webhook-out.
pub const ADMIN_TOKEN: &str = "e2e-admin-token-NEVER-LOGGED";

/// A stack: isolated config, one port per listener, the running processes.
pub struct Stack {
    /// The isolated configuration (prefix, databases) the processes share.
    pub config: Config,
    /// Listener port of each process (HTTP API or ops).
    pub ports: BTreeMap<Service, u16>,
    /// Ops listener (`/metrics`) port of the processes whose API port is
    /// public (edge, ingest); the others serve ops routes on `ports`.
    pub ops_ports: BTreeMap<Service, u16>,
    /// Extra environment for every process (tests may add keys).
    pub extra_env: Vec<(String, String)>,
    /// Extra environment of one process, after `extra_env` (its own NATS
    /// login, say).
    pub service_env: BTreeMap<Service, Vec<(String, String)>>,
    dir: tempfile::TempDir,
    children: BTreeMap<Service, Child>,
    http: reqwest::Client,
}

impl Stack {
    /// A new stack; nothing is started yet.
    pub fn new() -> Self {
        let config = testing::isolated_config();
        let ports = Service::ALL.iter().map(|s| (*s, free_port())).collect();
        let ops_ports = [Service::Edge, Service::Ingest]
            .into_iter()
            .map(|s| (s, free_port()))
            .collect();
        Self {
            config,
            ports,
            ops_ports,
            extra_env: Vec::new(),
            service_env: BTreeMap::new(),
            dir: tempfile::tempdir().expect("temp dir"),
            children: BTreeMap::new(),
            http: reqwest::Client::new(),
        }
    }

    /// Base URL of a process's listener.
    pub fn url(&self, service: Service) -> String {
        format!("http://127.0.0.1:{}", self.ports[&service])
    }

    /// Base URL of a process's ops listener (`/healthz`, `/readyz`, `/metrics`).
    pub fn ops_url(&self, service: Service) -> String {
        let port = self
            .ops_ports
            .get(&service)
            .unwrap_or(&self.ports[&service]);
        format!("http://127.0.0.1:{port}")
    }

    /// The environment every process gets.
    pub fn env(&self, service: Service) -> Vec<(String, String)> {
        let c = &self.config;
        let port = self.ports[&service];
        let listen = format!("127.0.0.1:{port}");
        let ops_listen = format!(
            "127.0.0.1:{}",
            self.ops_ports.get(&service).unwrap_or(&port)
        );
        let ingest = self.ports[&Service::Ingest];
        let mut env: Vec<(String, String)> = [
            ("HOOKLINE__NATS__URL", c.nats.url.clone()),
            ("HOOKLINE__NATS__PREFIX", c.nats.prefix.clone()),
            ("HOOKLINE__RC__DATABASE_URL", c.rc.database_url.clone()),
            ("HOOKLINE__CRM__DATABASE_URL", c.crm.database_url.clone()),
            ("HOOKLINE__EDGE__LISTEN", listen.clone()),
            ("HOOKLINE__WEBHOOK_OUT__LISTEN", listen.clone()),
            ("HOOKLINE__INGEST__LISTEN", listen.clone()),
            ("HOOKLINE__OPS__LISTEN", ops_listen),
            ("HOOKLINE__EDGE__RATE_LIMIT_PER_SECOND", "0".into()),
            ("HOOKLINE__INGEST__RATE_LIMIT_PER_SECOND", "0".into()),
            (
                "HOOKLINE__EDGE__FINGERPRINT_SECRET",
                "e2e-fingerprint-NEVER-LOGGED".into(),
            ),
            (
                "HOOKLINE__WEBHOOK_OUT__ALLOW_PRIVATE_NETWORKS",
                "true".into(),
            ),
            ("HOOKLINE__WEBHOOK_OUT__ADMIN_TOKEN", ADMIN_TOKEN.into()),
            (
                "HOOKLINE__WEBHOOK_OUT__ENCRYPTION_KEYS",
                c.webhook_out.encryption_keys.join(","),
            ),
            (
                "HOOKLINE__WEBHOOK_OUT__RETRY_SCHEDULE",
                "200ms,500ms,1s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s,2s".into(),
            ),
            (
                "HOOKLINE__CONSUMERS__BACKOFF",
                "100ms,250ms,500ms,1s".into(),
            ),
            ("HOOKLINE__CONSUMERS__MAX_DELIVER", "1000".into()),
            ("HOOKLINE__CONSUMERS__ACK_WAIT", "5s".into()),
            ("HOOKLINE__OPS__SHUTDOWN_GRACE", "5s".into()),
            ("HOOKLINE__LOG__LEVEL", "info".into()),
            (
                "CRM_WEBHOOK_URL",
                format!("http://127.0.0.1:{ingest}/api/webhooks/resources-centre"),
            ),
            ("CRM_SHARED_SECRET", SHARED_SECRET.into()),
            ("CRM_WEBHOOK_KEY", API_KEY.into()),
            ("WEBHOOK_SHARED_SECRET", SHARED_SECRET.into()),
            ("WEBHOOK_API_KEY", API_KEY.into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        env.extend(self.extra_env.iter().cloned());
        env.extend(
            self.service_env
                .get(&service)
                .into_iter()
                .flatten()
                .cloned(),
        );
        env
    }

    fn log_path(&self, service: Service) -> PathBuf {
        self.dir.path().join(format!("{}.log", service.label()))
    }

    /// Starts a process (appending to its log) without waiting for it.
    pub fn spawn(&mut self, service: Service) {
        let log = File::options()
            .create(true)
            .append(true)
            .open(self.log_path(service))
            .expect("log file");
        let child = Command::new(hookline_bin())
            .args(service.args())
            .env_clear()
            .envs(self.env(service))
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("log handle"))
            .stderr(log)
            .spawn()
            .expect("hookline starts");
        self.children.insert(service, child);
    }

    /// Starts a process and waits until its `/readyz` answers 200.
    pub async fn start(&mut self, service: Service) {
        self.spawn(service);
        self.wait_ready(service).await;
    }

    /// Starts every process of the pipeline, in pipeline order.
    pub async fn start_all(&mut self) {
        for s in Service::ALL {
            self.start(s).await;
        }
    }

    /// Waits until a process answers `/readyz` with 200.
    pub async fn wait_ready(&mut self, service: Service) {
        let url = format!("{}/readyz", self.url(service));
        let http = self.http.clone();
        let label = service.label();
        let log = self.log_path(service);
        let child = self.children.get_mut(&service).expect("started");
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                panic!(
                    "{label} exited with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if let Ok(r) = http.get(&url).send().await
                && r.status().is_success()
            {
                // The answer must come from this process, not from another
                // that holds the port while this one failed to bind it.
                if let Ok(Some(status)) = child.try_wait() {
                    panic!(
                        "{label} exited with {status} although its port answered:\n{}",
                        std::fs::read_to_string(&log).unwrap_or_default()
                    );
                }
                return;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{label} not ready in 60 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// `kill -9`: the process gets no chance to clean up.
    pub fn kill9(&mut self, service: Service) {
        if let Some(mut child) = self.children.remove(&service) {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit (at most `limit`).
    /// Returns whether it exited by itself and successfully.
    pub async fn terminate(&mut self, service: Service, limit: Duration) -> bool {
        self.signal_term(service);
        self.wait_exit(service, limit).await
    }

    /// Sends SIGTERM to a running process (without waiting).
    pub fn signal_term(&mut self, service: Service) {
        self.signal(service, "TERM");
    }

    /// Sends a signal (`TERM`, `INT`, …) to a running process.
    pub fn signal(&mut self, service: Service, name: &str) {
        if let Some(child) = self.children.get(&service) {
            let _ = Command::new("kill")
                .args([format!("-{name}"), child.id().to_string()])
                .status();
        }
    }

    /// Waits for a signalled process to exit (at most `limit`; then it is
    /// killed). Returns whether it exited by itself and successfully.
    pub async fn wait_exit(&mut self, service: Service, limit: Duration) -> bool {
        let Some(mut child) = self.children.remove(&service) else {
            return true;
        };
        let deadline = std::time::Instant::now() + limit;
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if std::time::Instant::now() >= deadline {
                let _ = child.kill();
                let _ = child.wait();
                return false;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What one process logged so far.
    pub fn log(&self, service: Service) -> String {
        std::fs::read_to_string(self.log_path(service)).unwrap_or_default()
    }

    /// Everything every process logged so far.
    pub fn logs(&self) -> String {
        let mut out = String::new();
        for s in Service::ALL {
            if let Ok(text) = std::fs::read_to_string(self.log_path(s)) {
                out.push_str(&text);
            }
        }
        out
    }

    /// A shared HTTP client.
    pub fn http(&self) -> &reqwest::Client {
        &self.http
    }

    /// POSTs JSON to the edge; returns the status and body.
    pub async fn post_edge(
        &self,
        path: &str,
        body: &serde_json::Value,
    ) -> (u16, serde_json::Value) {
        let resp = self
            .http
            .post(format!("{}{path}", self.url(Service::Edge)))
            .json(body)
            .send()
            .await
            .expect("edge answers");
        let status = resp.status().as_u16();
        let json = resp.json().await.unwrap_or(serde_json::Value::Null);
        (status, json)
    }

    /// A pool on the CRM database.
    pub async fn crm_pool(&self) -> sqlx::PgPool {
        sqlx::PgPool::connect(&self.config.crm.database_url)
            .await
            .expect("CRM database")
    }

    /// Counts rows of a query returning one bigint, or None when the table
    /// does not exist yet.
    pub async fn count(&self, pool: &sqlx::PgPool, sql: &str) -> Option<i64> {
        sqlx::query_scalar::<_, i64>(sql).fetch_one(pool).await.ok()
    }

    /// Stops every process and removes the stack's streams and databases.
    pub async fn cleanup(mut self) {
        let running: Vec<Service> = self.children.keys().copied().collect();
        for s in running {
            self.kill9(s);
        }
        testing::cleanup(&self.config).await;
    }

    /// Waits until `sql` (one bigint) equals `expected`.
    pub async fn wait_count(&self, pool: &sqlx::PgPool, sql: &str, expected: i64, limit: Duration) {
        let what = format!("`{sql}` to reach {expected}");
        wait_for(&what, limit, || async move {
            (self.count(pool, sql).await == Some(expected)).then_some(())
        })
        .await
    }
}

impl Default for Stack {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for Stack {
    /// Stops every process; when a test failed, keeps every process's log in
    /// a file that outlives the stack's own directory, and says where.
    fn drop(&mut self) {
        if std::thread::panicking() {
            let dir = std::env::temp_dir().join("hookline-e2e-failures");
            let path = dir.join(format!("{}.log", self.config.nats.prefix));
            match std::fs::create_dir_all(&dir).and_then(|()| std::fs::write(&path, self.logs())) {
                Ok(()) => eprintln!("process logs of the failed test: {}", path.display()),
                Err(e) => eprintln!("process logs of the failed test not saved: {e}"),
            }
        }
        for child in self.children.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
