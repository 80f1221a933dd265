//! A PostgreSQL cluster owned by one test: `initdb` into a temp dir, `pg_ctl`
//! on a free port with its socket in that dir, trust auth for `postgres`.
//!
//! Fault tests stop it (`-m immediate`: the postmaster and every backend die
//! at once, as in a crash) and start it again; they never touch the
//! machine's shared cluster. initdb refuses to run as root, so as root every
//! command runs as the `postgres` user (`runuser`) and the temp dir is
//! handed to it.

use crate::free_port;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The directory of `initdb` and `pg_ctl`: `HOOKLINE_PG_BIN`, else the
/// newest `/usr/lib/postgresql/*/bin`, else whatever is on `PATH`.
pub fn pg_bin_dir() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("HOOKLINE_PG_BIN") {
        return Some(PathBuf::from(p));
    }
    let mut found: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let version = e.file_name().to_str()?.parse::<u32>().ok()?;
            let bin = e.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .collect();
    found.sort();
    found.pop().map(|(_, bin)| bin)
}

fn is_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// A test-owned cluster.
pub struct PgCluster {
    port: u16,
    dir: tempfile::TempDir,
    bin: Option<PathBuf>,
    as_postgres: bool,
    running: bool,
}

impl PgCluster {
    /// initdb + start; waits until it accepts connections.
    pub async fn start() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let as_postgres = is_root();
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:postgres"])
                .arg(dir.path())
                .status()
                .expect("chown");
            assert!(status.success(), "chown of the temp dir to postgres");
        }
        let mut pg = Self {
            port: free_port(),
            dir,
            bin: pg_bin_dir(),
            as_postgres,
            running: false,
        };
        let data = pg.data_dir();
        let out = pg
            .command("initdb")
            .arg("-D")
            .arg(&data)
            .args(["-U", "postgres", "-A", "trust", "-E", "UTF8", "--no-sync"])
            .output()
            .expect("initdb runs");
        assert!(
            out.status.success(),
            "initdb failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        pg.start_again().await;
        pg
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn command(&self, tool: &str) -> Command {
        let program = match &self.bin {
            Some(bin) => bin.join(tool),
            None => PathBuf::from(tool),
        };
        if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(program);
            c
        } else {
            Command::new(program)
        }
    }

    /// The port it listens on (127.0.0.1 only).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `postgres://postgres@127.0.0.1:<port>/<database>`.
    pub fn url(&self, database: &str) -> String {
        format!("postgres://postgres@127.0.0.1:{}/{database}", self.port)
    }

    /// The same database name as `url` (any server), on this cluster.
    pub fn rehome(&self, url: &str) -> String {
        let database = url.rsplit('/').next().expect("a database in the URL");
        self.url(database)
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server log.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.log_path()).unwrap_or_default()
    }

    /// `pg_ctl start` on the same port and data dir, waiting until it is up.
    /// `fsync=off`: nothing here survives an OS crash, and an `immediate`
    /// stop only kills processes (written pages stay in the page cache), so
    /// the crash-recovery path is exercised all the same, faster.
    pub async fn start_again(&mut self) {
        let opts = format!(
            "-p {} -k {} -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=200",
            self.port,
            self.dir.path().display()
        );
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .arg("-l")
            .arg(self.log_path())
            .args(["-w", "-t", "60", "-o", &opts, "start"])
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl start failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            self.log()
        );
        self.running = true;
        let url = self.url("postgres");
        crate::wait_for(
            "the test Postgres to accept connections",
            Duration::from_secs(60),
            || {
                let url = url.clone();
                async move {
                    let pool = sqlx::PgPool::connect(&url).await.ok()?;
                    let one: i32 = sqlx::query_scalar("SELECT 1").fetch_one(&pool).await.ok()?;
                    pool.close().await;
                    (one == 1).then_some(())
                }
            },
        )
        .await;
    }

    /// `pg_ctl stop -m immediate`: every backend dies at once; the next start
    /// runs crash recovery.
    pub fn stop_immediate(&mut self) {
        if !self.running {
            return;
        }
        let out = self
            .command("pg_ctl")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-m", "immediate", "-w", "stop"])
            .output()
            .expect("pg_ctl runs");
        assert!(
            out.status.success(),
            "pg_ctl stop failed: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        self.running = false;
    }

    /// The temp dir holding data, socket and log.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let _ = self
                .command("pg_ctl")
                .arg("-D")
                .arg(self.data_dir())
                .args(["-m", "immediate", "-w", "stop"])
                .output();
        }
    }
}
