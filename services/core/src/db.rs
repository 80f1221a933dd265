//! Postgres: create the database if absent, connect, migrate.
//!
//! Each database's migrations belong to the crate that owns its tables and
//! are embedded in the binary there: the `rc` database's in webhook-out
//! (`webhook_out::store::SCHEMA`), the `crm` database's in crm-consumers
//! (`crm_consumers::schema::SCHEMA`). The owner hands its [`Schema`] to
//! [`connect`], which creates the database, connects and migrates.
//! `hookline migrate` applies both; each service applies its database's at
//! start-up too, so a fresh stack needs no manual step.
//!
//! TLS comes from the URL (`sslmode=require`, `sslmode=verify-full&sslrootcert=…`),
//! through rustls with the system's trust store plus `sslrootcert`. A
//! setting that cannot work (bad URL, failed TLS, refused login, unreadable
//! certificate file) is not retried: it stops start-up naming the URL's key.

use crate::config::ConfigError;
use sqlx::migrate::Migrator;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, PgPool};
use std::str::FromStr;
use std::time::{Duration, Instant};

/// Why Postgres could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum DbError {
    /// The URL does not parse.
    #[error("bad database URL: {url}: {source}")]
    BadUrl {
        /// The URL without credentials.
        url: String,
        /// Why it does not parse.
        source: sqlx::Error,
    },
    /// The server did not answer in time.
    #[error("Postgres unreachable ({url}): {source}")]
    Unreachable {
        /// The URL without credentials.
        url: String,
        /// The last error.
        source: sqlx::Error,
    },
    /// A query failed.
    #[error("Postgres: {0}")]
    Query(#[from] sqlx::Error),
    /// A migration failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL's settings cannot work; the cause names the key to fix.
    #[error("Postgres: {0}")]
    Refused(#[source] ConfigError),
}

impl DbError {
    /// Turns a failure that retrying cannot fix into a [`ConfigError`]
    /// naming `key`, so the service exits 2 with one line; keeps others.
    fn blame(self, key: &'static str) -> Self {
        let message = match &self {
            DbError::BadUrl { url, source } => format!("{url}: {source}"),
            DbError::Query(e) | DbError::Unreachable { source: e, .. } => match refusal(e) {
                Some(message) => message,
                None => return self,
            },
            _ => return self,
        };
        DbError::Refused(ConfigError::Invalid { key, message })
    }
}

/// Why an error is the operator's to fix, or `None` when the server may
/// simply not be up yet.
fn refusal(e: &sqlx::Error) -> Option<String> {
    use std::io::ErrorKind;
    match e {
        sqlx::Error::Tls(_) => Some(format!(
            "TLS to Postgres failed (check sslmode and sslrootcert): {e}"
        )),
        sqlx::Error::Configuration(_) => Some(format!("cannot be used: {e}")),
        // rustls reports a failed handshake (untrusted certificate, wrong
        // host name) as invalid data on the socket.
        sqlx::Error::Io(io) if io.kind() == ErrorKind::InvalidData => Some(format!(
            "TLS to Postgres failed (check sslmode, sslrootcert and the host name): {e}"
        )),
        sqlx::Error::Io(io)
            if matches!(io.kind(), ErrorKind::NotFound | ErrorKind::PermissionDenied) =>
        {
            Some(format!("names a file that cannot be read: {e}"))
        }
        sqlx::Error::Database(db) if matches!(db.code().as_deref(), Some("28P01" | "28000")) => {
            Some(format!("login refused by Postgres: {e}"))
        }
        _ => None,
    }
}

/// A database's migrations and the configuration key of its URL, as the
/// crate owning that database declares them (a `static`, so the embedded
/// migrations are built once).
#[derive(Clone, Copy, Debug)]
pub struct Schema {
    /// The configuration key of this database's URL (`rc.database_url`,
    /// `crm.database_url`), named when the URL's settings cannot work.
    pub key: &'static str,
    /// The migrations, from `sqlx::migrate!` in the owning crate.
    pub migrator: &'static Migrator,
}

fn options(url: &str) -> Result<PgConnectOptions, DbError> {
    PgConnectOptions::from_str(url)
        .map(|o| o.disable_statement_logging())
        .map_err(|source| DbError::BadUrl {
            url: redact(url),
            source,
        })
}

/// The URL with any password replaced, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) if u.password().is_some() => {
            let _ = u.set_password(Some("***"));
            u.to_string()
        }
        _ => url.to_string(),
    }
}

/// Creates the URL's database if it does not exist (connecting to the
/// server's `postgres` database to do so).
pub async fn create_database_if_absent(url: &str) -> Result<(), DbError> {
    let opts = options(url)?;
    let name = opts.get_database().unwrap_or("postgres").to_string();
    let admin = opts.clone().database("postgres");
    let mut conn = connect_with_retry(&admin, url, Duration::from_secs(30)).await?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut conn)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(&sql).execute(&mut conn).await {
            Ok(_) => tracing::info!(database = %name, "created database"),
            // Two services racing to create it: the other one won. Postgres
            // reports that as 42P04 (duplicate_database) or, when both
            // passed its own existence check, as 23505 (unique violation on
            // pg_database_datname_index).
            Err(sqlx::Error::Database(e))
                if matches!(e.code().as_deref(), Some("42P04" | "23505")) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// Drops a database (tests clean up with it).
pub async fn drop_database(url: &str) -> Result<(), DbError> {
    let opts = options(url)?;
    let name = opts.get_database().unwrap_or_default().to_string();
    let mut conn = opts.database("postgres").connect().await?;
    let sql = format!(
        "DROP DATABASE IF EXISTS \"{}\" WITH (FORCE)",
        name.replace('"', "\"\"")
    );
    sqlx::query(&sql).execute(&mut conn).await?;
    Ok(())
}

async fn connect_with_retry(
    opts: &PgConnectOptions,
    url: &str,
    patience: Duration,
) -> Result<sqlx::PgConnection, DbError> {
    let started = Instant::now();
    loop {
        match opts.connect().await {
            Ok(c) => return Ok(c),
            Err(source) if refusal(&source).is_some() => return Err(DbError::Query(source)),
            Err(source) if started.elapsed() >= patience => {
                return Err(DbError::Unreachable {
                    url: redact(url),
                    source,
                });
            }
            Err(e) => {
                tracing::warn!(url = %redact(url), error = %e, "Postgres not reachable yet, retrying");
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
        }
    }
}

/// A pool on `url`, with the database created and `schema` migrated.
pub async fn connect(url: &str, schema: Schema, max_connections: u32) -> Result<PgPool, DbError> {
    connect_pool(url, schema, max_connections)
        .await
        .map_err(|e| e.blame(schema.key))
}

async fn connect_pool(url: &str, schema: Schema, max_connections: u32) -> Result<PgPool, DbError> {
    create_database_if_absent(url).await?;
    let pool = PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options(url)?)
        .await?;
    migrate(&pool, schema.migrator).await?;
    Ok(pool)
}

/// A pool on `url` that connects on first use, for a side channel of a
/// service whose main pool [`connect`] already created and migrated the
/// database (e.g. a consumer recording an external call outside the
/// runner's transaction).
pub fn connect_lazy(url: &str, max_connections: u32) -> Result<PgPool, DbError> {
    Ok(PgPoolOptions::new()
        .max_connections(max_connections)
        .acquire_timeout(Duration::from_secs(10))
        .connect_lazy_with(options(url)?))
}

/// Applies a migration set. Safe to run concurrently (sqlx takes an advisory lock).
pub async fn migrate(pool: &PgPool, migrator: &Migrator) -> Result<(), DbError> {
    migrator.run(pool).await?;
    Ok(())
}
