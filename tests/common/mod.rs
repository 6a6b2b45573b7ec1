//! Test support shared by the integration tests: a fresh database per test, for either backend.
//!
//! PostgreSQL tests run when `WAPDR_TEST_POSTGRES_URL` names a server wapdr may create databases
//! on; each test gets its own `wapdr_t_<uuid>` database. Without the variable they are skipped with
//! a message on stderr, except under CI (`CI` set), where a skip would hide a failure and panics.
//! Databases a crashed run left behind are dropped by the next run once they are an hour old.

#![allow(dead_code)]

pub mod alerts;
pub mod app;
pub mod dr;
pub mod dr_api;
pub mod engine;
pub mod failover;
pub mod lab;
#[cfg(unix)]
pub mod own_postgres;
pub mod routes;
pub mod serve;
pub mod setup;

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::{Connection, PgConnection};

/// The environment variable naming the PostgreSQL server for tests.
pub const POSTGRES_URL_VAR: &str = "WAPDR_TEST_POSTGRES_URL";

/// What a skipped PostgreSQL test prints to stderr.
pub const POSTGRES_SKIP_MESSAGE: &str =
    "SKIPPED: WAPDR_TEST_POSTGRES_URL is not set; PostgreSQL tests did not run";

/// The prefix of every database the tests create.
const TEST_DATABASE_PREFIX: &str = "wapdr_t_";

/// How old a left-behind test database must be before a later run drops it.
const STALE_AFTER: Duration = Duration::from_secs(3600);

/// A SQLite URL for a fresh database file in `dir` (a tempdir the test keeps alive).
pub fn sqlite_url(dir: &Path) -> String {
    format!("sqlite://{}", dir.join("wapdr.db").display())
}

/// The URL of a fresh, empty PostgreSQL database, or `None` (after the skip message) when
/// `WAPDR_TEST_POSTGRES_URL` is not set. The database is left behind; prefer
/// [`fresh_postgres_database`] when the test can drop it at the end.
pub async fn fresh_postgres_url() -> Option<String> {
    fresh_postgres_database().await.map(|db| db.url)
}

/// A fresh, empty PostgreSQL database, or `None` (after the skip message) when
/// `WAPDR_TEST_POSTGRES_URL` is not set. Panics under CI when it is not set.
pub async fn fresh_postgres_database() -> Option<TestDatabase> {
    let server_url = postgres_server_url()?;
    let mut admin = PgConnection::connect(&server_url)
        .await
        .unwrap_or_else(|err| panic!("cannot connect to {POSTGRES_URL_VAR}: {err}"));
    drop_stale_databases(&mut admin).await;
    let name = format!("{TEST_DATABASE_PREFIX}{}", uuid::Uuid::new_v4().as_simple());
    sqlx::raw_sql(&format!(r#"CREATE DATABASE "{name}""#))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|err| panic!("cannot create test database {name}: {err}"));
    // The creation time goes in the comment so a later run can tell a crashed run's leftovers.
    sqlx::raw_sql(&format!(
        r#"COMMENT ON DATABASE "{name}" IS 'wapdr test database created at {}'"#,
        unix_now()
    ))
    .execute(&mut admin)
    .await
    .unwrap_or_else(|err| panic!("cannot comment test database {name}: {err}"));
    admin.close().await.ok();
    Some(TestDatabase {
        url: with_database(&server_url, &name),
        server_url,
        name,
    })
}

/// The server URL from the environment, or `None` after printing the skip message.
///
/// Panics under CI: CI must never skip the PostgreSQL tests silently.
pub fn postgres_server_url() -> Option<String> {
    match std::env::var(POSTGRES_URL_VAR) {
        Ok(url) if !url.trim().is_empty() => Some(url),
        _ if std::env::var_os("CI").is_some() => {
            panic!("{POSTGRES_URL_VAR} must be set under CI: the PostgreSQL tests may not skip")
        }
        _ => {
            eprintln!("{POSTGRES_SKIP_MESSAGE}");
            None
        }
    }
}

/// A database created for one test.
#[derive(Debug)]
pub struct TestDatabase {
    /// The URL of the test's own database.
    pub url: String,
    /// The URL the test database was created through.
    server_url: String,
    /// The database's name (`wapdr_t_<uuid>`).
    name: String,
}

impl TestDatabase {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Drops the database, ending any connection still open to it (call at the end of a test).
    pub async fn drop_database(self) {
        let mut admin = PgConnection::connect(&self.server_url)
            .await
            .unwrap_or_else(|err| panic!("cannot connect to {POSTGRES_URL_VAR}: {err}"));
        sqlx::raw_sql(&format!(
            r#"DROP DATABASE IF EXISTS "{}" WITH (FORCE)"#,
            self.name
        ))
        .execute(&mut admin)
        .await
        .unwrap_or_else(|err| panic!("cannot drop test database {}: {err}", self.name));
        admin.close().await.ok();
    }
}

/// `url` with its database (the path) replaced by `database`, query parameters kept.
pub fn with_database(url: &str, database: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (url, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let server = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}

/// Drops test databases older than an hour (left by runs that crashed before dropping them).
async fn drop_stale_databases(admin: &mut PgConnection) {
    let leftovers: Vec<(String, Option<String>)> = sqlx::query_as(
        "SELECT datname, shobj_description(oid, 'pg_database') FROM pg_database \
         WHERE datname LIKE 'wapdr\\_t\\_%'",
    )
    .fetch_all(&mut *admin)
    .await
    .unwrap_or_default();
    let now = unix_now();
    for (name, comment) in leftovers {
        let created = comment
            .as_deref()
            .and_then(|c| c.rsplit(' ').next())
            .and_then(|secs| secs.parse::<u64>().ok());
        if created.is_some_and(|at| now.saturating_sub(at) > STALE_AFTER.as_secs()) {
            // Another run may be dropping it too; either way it goes.
            let _ = sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                .execute(&mut *admin)
                .await;
        }
    }
}

/// Runs raw SQL on the database at `url` (to simulate what no API does, like a lease running out
/// or time passing).
pub async fn execute_sql(url: &str, sql: &str) {
    if url.starts_with("sqlite:") {
        let pool = sqlx::SqlitePool::connect(url).await.expect("sqlite");
        sqlx::raw_sql(sql).execute(&pool).await.expect("sql");
        pool.close().await;
    } else {
        let pool = sqlx::PgPool::connect(url).await.expect("postgres");
        sqlx::raw_sql(sql).execute(&pool).await.expect("sql");
        pool.close().await;
    }
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}
