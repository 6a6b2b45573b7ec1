//! A wapdr started for a test: real listener on port 0, a fresh database per test (SQLite file or
//! PostgreSQL database), known endpoint credentials, and request builders per endpoint.

#![allow(dead_code)]

use reqwest::{Method, RequestBuilder};
use tempfile::TempDir;
use wapdr::app::{self, Running};
use wapdr::config::Config;
use wapdr::engine::Registry;
use wapdr::store::SharedStore;

/// Which store a test runs on.
#[derive(Debug, Clone, Copy)]
pub enum Backend {
    /// A fresh SQLite file.
    Sqlite,
    /// A fresh PostgreSQL database (skipped, with a message, when not configured).
    Postgres,
}

/// The credentials every test app uses, per endpoint.
pub const NOTIFICATION: (&str, &str) = ("wap-notify", "notify-pass");
pub const USAGE: (&str, &str) = ("wap-usage", "usage-pass");
pub const ADMIN: (&str, &str) = ("wap-admin", "admin-pass");
pub const TENANT: (&str, &str) = ("wap-tenant", "tenant-pass");

/// A running wapdr and what it runs on.
pub struct TestApp {
    running: Option<Running>,
    config: Config,
    toml: String,
    registry: Registry,
    /// The base URL of the current listener.
    pub url: String,
    /// A plain HTTP client.
    pub client: reqwest::Client,
    _dir: TempDir,
}

impl TestApp {
    /// Starts wapdr on a fresh database; `None` when the backend is not configured here.
    pub async fn start(backend: Backend) -> Option<Self> {
        Self::start_with_workflows(backend, app::workflows()).await
    }

    /// Starts wapdr with the given workflows registered (tests bring their own).
    pub async fn start_with_workflows(backend: Backend, registry: Registry) -> Option<Self> {
        Self::start_configured(backend, registry, "").await
    }

    /// Starts wapdr with `extra` TOML sections (an `[asr]` vault, ...) after the test defaults.
    pub async fn start_configured(
        backend: Backend,
        registry: Registry,
        extra: &str,
    ) -> Option<Self> {
        Self::start_with_engine(backend, registry, extra, "").await
    }

    /// [`start_configured`](Self::start_configured) with `engine` lines added to the `[engine]`
    /// section (`concurrency = 32`, `lease_seconds = 2`, ...).
    pub async fn start_with_engine(
        backend: Backend,
        registry: Registry,
        extra: &str,
        engine: &str,
    ) -> Option<Self> {
        let dir = tempfile::tempdir().expect("tempdir");
        let database_url = match backend {
            Backend::Sqlite => super::sqlite_url(dir.path()),
            Backend::Postgres => super::fresh_postgres_url().await?,
        };
        Some(Self::start_on(dir, &database_url, registry, extra, engine).await)
    }

    /// [`start_with_engine`](Self::start_with_engine) on the database at `database_url` (a
    /// server the test runs itself), keeping `dir` for the app's life.
    pub async fn start_on(
        dir: TempDir,
        database_url: &str,
        registry: Registry,
        extra: &str,
        engine: &str,
    ) -> Self {
        let toml = format!(
            r#"
            listen = "127.0.0.1:0"
            [database]
            url = "{database_url}"
            max_connections = 5
            [limits]
            max_body_bytes = 65536
            [engine]
            poll_interval_ms = 50
            {engine}
            [endpoints.notification]
            username = "{}"
            password = "{}"
            [endpoints.usage]
            username = "{}"
            password = "{}"
            [endpoints.admin]
            username = "{}"
            password = "{}"
            [endpoints.tenant]
            username = "{}"
            password = "{}"
            {extra}
            "#,
            NOTIFICATION.0, NOTIFICATION.1, USAGE.0, USAGE.1, ADMIN.0, ADMIN.1, TENANT.0, TENANT.1,
        );
        let config = Config::from_toml(&toml).expect("test config");
        let running = app::start_with_workflows(&config, registry.clone())
            .await
            .expect("wapdr starts");
        Self {
            registry,
            url: running.url(),
            running: Some(running),
            config,
            toml,
            client: reqwest::Client::new(),
            _dir: dir,
        }
    }

    /// Kills wapdr at once (requests and steps dropped mid-call, leases left to run out) and
    /// starts it again on the same database, as a crashed and restarted instance.
    pub async fn crash_and_restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.abort();
        }
        let running = app::start_with_workflows(&self.config, self.registry.clone())
            .await
            .expect("wapdr restarts");
        self.url = running.url();
        self.running = Some(running);
    }

    /// Stops wapdr and starts it again on the same database (a new port).
    pub async fn restart(&mut self) {
        if let Some(running) = self.running.take() {
            running.stop().await.expect("stops cleanly");
        }
        let running = app::start_with_workflows(&self.config, self.registry.clone())
            .await
            .expect("wapdr restarts");
        self.url = running.url();
        self.running = Some(running);
    }

    /// The configuration the app was started with, as TOML (for `wapdr serve` processes started
    /// on the same database, see `common::serve`).
    pub fn config_toml(&self) -> &str {
        &self.toml
    }

    /// The store the app runs on (to seed what no endpoint creates yet).
    pub fn store(&self) -> SharedStore {
        self.running.as_ref().expect("running").store.clone()
    }

    /// A store of its own on the app's database: what another instance sharing it would write with.
    pub async fn other_instance_store(&self) -> SharedStore {
        wapdr::store::open(&self.config.database.url, 2)
            .await
            .expect("a second store on the app's database")
    }

    /// Runs raw SQL on the app's database (to simulate what no API does, like time passing).
    pub async fn execute(&self, sql: &str) {
        super::execute_sql(&self.config.database.url, sql).await;
    }

    /// A request to `path` with no credentials.
    pub fn anonymous(&self, method: Method, path: &str) -> RequestBuilder {
        self.client.request(method, format!("{}{path}", self.url))
    }

    /// A request to the notification endpoint (`path` relative to `/notification`).
    pub fn notification(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, &format!("/notification{path}"))
            .basic_auth(NOTIFICATION.0, Some(NOTIFICATION.1))
    }

    /// A request to the usage endpoint (`path` relative to the root).
    pub fn usage(&self, path: &str) -> RequestBuilder {
        self.anonymous(Method::GET, path)
            .basic_auth(USAGE.0, Some(USAGE.1))
    }

    /// A request to the admin endpoint (`path` relative to `/admin`).
    pub fn admin(&self, method: Method, path: &str) -> RequestBuilder {
        self.anonymous(method, &format!("/admin{path}"))
            .basic_auth(ADMIN.0, Some(ADMIN.1))
    }

    /// A request to the tenant endpoint on behalf of `principal` (`path` relative to `/tenant`).
    pub fn tenant(&self, method: Method, path: &str, principal: Option<&str>) -> RequestBuilder {
        let request = self
            .anonymous(method, &format!("/tenant{path}"))
            .basic_auth(TENANT.0, Some(TENANT.1));
        match principal {
            Some(p) => request.header("x-ms-principal-id", p),
            None => request,
        }
    }
}

/// Runs each named `async fn(Backend)` as one test per backend: `mod sqlite` and `mod postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::app::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    super::$name($crate::common::app::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A response's body as JSON (panics, naming the problem, when it is not JSON).
pub async fn json_of(response: reqwest::Response) -> serde_json::Value {
    response.json().await.expect("a JSON body")
}

/// Reads a contract fixture from `../shared/fixtures/wap/`.
pub fn fixture(name: &str) -> String {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/wap/");
    std::fs::read_to_string(format!("{path}{name}")).unwrap_or_else(|e| panic!("{name}: {e}"))
}
