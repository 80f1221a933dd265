//! Harness of the actions tests: a fresh CRM database on the real Postgres,
//! `hookline actions` as real OS processes, and polling with deadlines
//! (never fixed sleeps) for what they do.

#![allow(dead_code)]

pub mod smtp_sink;

use hookline_core::Config;
use hookline_core::db;
use serde_json::Value;
use sqlx::PgPool;
use std::future::Future;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Polls `check` until it returns `Some`, or panics naming `what`.
pub async fn wait_for<T, F, Fut>(what: &str, limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A free TCP port on 127.0.0.1 (bound and released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// One test's CRM database and the `hookline actions` processes on it.
pub struct Env {
    /// The isolated configuration (a fresh CRM database).
    pub config: Config,
    /// A pool on that database, migrated.
    pub pool: PgPool,
    dir: tempfile::TempDir,
    children: Vec<Child>,
}

impl Env {
    /// A fresh, migrated CRM database.
    pub async fn new() -> Self {
        let config = hookline_core::testing::isolated_config();
        let pool = db::connect(&config.crm.database_url, crm_consumers::schema::SCHEMA, 4)
            .await
            .expect("CRM database");
        Self {
            config,
            pool,
            dir: tempfile::tempdir().expect("temp dir"),
            children: Vec::new(),
        }
    }

    /// Inserts a task as the automation consumer would; returns its id.
    pub async fn task(&self, kind: &str, rule: &str, contact_key: &str, payload: Value) -> i64 {
        sqlx::query_scalar(
            "INSERT INTO automation_tasks (rule, kind, fired_on, contact_key, event_id, payload) \
             VALUES ($1, $2, 'event', $3, $4, $5) RETURNING id",
        )
        .bind(rule)
        .bind(kind)
        .bind(contact_key)
        .bind(format!("evt_{}", uuid::Uuid::now_v7()))
        .bind(sqlx::types::Json(payload))
        .fetch_one(&self.pool)
        .await
        .expect("insert task")
    }

    /// `(status, attempts, last_error, claimed_by)` of task `id`.
    pub async fn state(&self, id: i64) -> (String, i32, Option<String>, Option<String>) {
        sqlx::query_as(
            "SELECT status, attempts, last_error, claimed_by FROM automation_tasks WHERE id = $1",
        )
        .bind(id)
        .fetch_one(&self.pool)
        .await
        .expect("task row")
    }

    /// How many tasks are in `status`.
    pub async fn count(&self, status: &str) -> i64 {
        sqlx::query_scalar("SELECT count(*) FROM automation_tasks WHERE status = $1")
            .bind(status)
            .fetch_one(&self.pool)
            .await
            .expect("count")
    }

    fn command(&self, args: &[&str], env: &[(&str, String)], log: &str) -> Command {
        let mut cmd = Command::new(hookline_bin());
        cmd.args(args)
            .current_dir(self.dir.path())
            .env("HOOKLINE__CRM__DATABASE_URL", &self.config.crm.database_url)
            .env(
                "HOOKLINE__OPS__LISTEN",
                format!("127.0.0.1:{}", free_port()),
            )
            .env("HOOKLINE__LOG__LEVEL", "info,actions=debug")
            .stdin(Stdio::null());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let file = |suffix: &str| {
            std::fs::File::create(self.dir.path().join(format!("{log}.{suffix}"))).expect("log")
        };
        cmd.stdout(file("out")).stderr(file("err"));
        cmd
    }

    /// Starts `hookline actions` with `env`; returns its index for [`Env::kill`].
    pub fn start(&mut self, env: &[(&str, String)]) -> usize {
        let n = self.children.len();
        let child = self
            .command(&["actions"], env, &format!("actions-{n}"))
            .spawn()
            .expect("spawn hookline actions");
        self.children.push(child);
        n
    }

    /// The OS pid of process `n`.
    pub fn pid(&self, n: usize) -> u32 {
        self.children[n].id()
    }

    /// SIGKILLs process `n` (no drain, no clean-up: a crash).
    pub fn kill(&mut self, n: usize) {
        let child = &mut self.children[n];
        child.kill().expect("kill");
        child.wait().expect("reap");
    }

    /// Runs `hookline <args>` to completion: `(exit code, stdout, stderr)`.
    pub fn cli(&self, args: &[&str]) -> (i32, String, String) {
        let out = self
            .command(args, &[], "cli")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .output()
            .expect("run hookline");
        let text = |b: Vec<u8>| String::from_utf8_lossy(&b).into_owned();
        (
            out.status.code().unwrap_or(-1),
            text(out.stdout),
            text(out.stderr),
        )
    }

    /// Everything the processes logged so far (for failure messages).
    pub fn logs(&self) -> String {
        let mut all = String::new();
        for entry in std::fs::read_dir(self.dir.path())
            .into_iter()
            .flatten()
            .flatten()
        {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            all.push_str(&format!("== {}\n{text}\n", entry.path().display()));
        }
        all
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let url = self.config.crm.database_url.clone();
        // The pool holds connections; DROP ... WITH (FORCE) ends them.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build();
            if let Ok(rt) = rt {
                let _ = rt.block_on(db::drop_database(&url));
            }
        })
        .join();
    }
}

/// The `hookline` binary beside the test binary (`cargo build -p hookline`
/// first).
pub fn hookline_bin() -> std::path::PathBuf {
    let exe = std::env::current_exe().expect("test binary path");
    let dir = exe
        .parent()
        .and_then(|d| d.parent())
        .expect("target/<profile>/deps");
    let bin = dir.join("hookline");
    assert!(
        bin.exists(),
        "{} missing: run `cargo build -p hookline` first",
        bin.display()
    );
    bin
}
