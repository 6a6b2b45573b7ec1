//! The world a benchmark runs on: the lab fabric with a generated world (the large world's
//! shape, at the benchmark's size) in a process of its own, a real wapdr in this one on a fresh SQLite file or PostgreSQL database,
//! both stamps registered and both clouds paired through wapdr's admin API (the demo's provider
//! setup), and the tenants of stamp A told to wapdr through the notification endpoint as WAP
//! would.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use sqlx::{Connection as _, PgConnection};
use uuid::Uuid;
use wapdr::app::{self, Running};
use wapdr::config::Config;
use wapdr::domain::LifecycleState;
use wapdr::fabric::wap_admin::{AdminSubscription, SubscriptionQuery};
use wapdr::fabric::{HttpSettings, RetryPolicy, WapAdminClient};
use wapdr::lab::{LabConfig, LargeConfig, WorldKind};
use wapdr::store::SubscriptionFilter;

use super::lab_process::LabProcess;
use super::process::Proc;
use crate::demo::{self, Summary, protection::Admin};

/// A store to run on.
#[derive(Debug, Clone)]
pub enum Backend {
    /// A fresh SQLite file in a temporary folder.
    Sqlite,
    /// A fresh database on this PostgreSQL server, dropped at the end.
    Postgres(String),
}

impl Backend {
    /// `sqlite` or `postgres`.
    pub fn name(&self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres(_) => "postgres",
        }
    }
}

/// A large world's size: tenants on stamp A and the VMs spread over them.
#[derive(Debug, Clone, Copy)]
pub struct Sizes {
    /// Subscriptions.
    pub subscriptions: usize,
    /// VMs.
    pub vms: usize,
}

/// Where a run's database lives, to remove it at the end.
enum Database {
    Sqlite(PathBuf),
    Postgres { server: String, name: String },
}

/// A large-world lab of `subscriptions` tenants on stamp A with `vms` VMs spread over them
/// (alternately on the Gold and Silver plans), the clock at `acceleration`, `concurrency` ASR
/// operations at once, each taking `operation_seconds` lab seconds.
pub fn lab_config(
    subscriptions: usize,
    vms: usize,
    knobs: serde_json::Value,
) -> anyhow::Result<LabConfig> {
    let mut config = LabConfig {
        world: WorldKind::Large,
        large: LargeConfig { subscriptions, vms },
        ..LabConfig::default()
    };
    // Initial replication is not what the benchmarks measure: a seeded VM replicates in a lab
    // second or so.
    config.knobs.initial_replication_bytes_per_second = 64.0 * 1024.0 * 1024.0 * 1024.0;
    let mut merged = serde_json::to_value(&config.knobs)?;
    if let (Some(target), Some(changes)) = (merged.as_object_mut(), knobs.as_object()) {
        target.extend(changes.clone());
    }
    config.knobs = serde_json::from_value(merged).context("bench knobs")?;
    // Tokens live an hour of real time, as Azure AD's do: at a fast lab clock the default hour
    // of lab time is seconds, and wapdr's calls would meet expired tokens (401) all along.
    config.asr.token_lifetime_seconds = (3600.0 * config.knobs.acceleration) as u64;
    Ok(config)
}

/// The lab, wapdr and the provider's setup.
pub struct BenchWorld {
    /// The lab fabric, in its own process.
    pub lab: LabProcess,
    /// wapdr.
    pub running: Running,
    /// wapdr's ids of stamps A and B.
    pub stamp_ids: Vec<String>,
    /// The store's name (`sqlite`, `postgres`).
    pub backend: &'static str,
    /// A plain HTTP client for wapdr's endpoints.
    pub client: reqwest::Client,
    database: Database,
}

impl BenchWorld {
    /// Starts the lab, then wapdr on `backend` with `engine` lines in its `[engine]` section,
    /// registers both stamps and pairs Gold and Silver.
    pub async fn start(
        backend: &Backend,
        lab_config: LabConfig,
        engine: &str,
    ) -> anyhow::Result<Self> {
        let lab = LabProcess::start(&lab_config).await?;
        let (url, database) = match backend {
            Backend::Sqlite => {
                let dir = std::env::temp_dir()
                    .join(format!("wapdr-bench-{}", uuid::Uuid::new_v4().simple()));
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                (
                    format!("sqlite://{}", dir.join("wapdr.db").display()),
                    Database::Sqlite(dir),
                )
            }
            Backend::Postgres(server) => {
                let name = format!("wapdr_bench_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::connect(server).await.with_context(|| {
                    format!("connecting to PostgreSQL at {}", app::redact_url(server))
                })?;
                sqlx::raw_sql(&format!(r#"CREATE DATABASE "{name}""#))
                    .execute(&mut admin)
                    .await?;
                admin.close().await.ok();
                (
                    with_database(server, &name),
                    Database::Postgres {
                        server: server.clone(),
                        name,
                    },
                )
            }
        };
        let mut config = Config::from_toml(&format!(
            "listen = \"127.0.0.1:0\"\n[log]\nlevel = \"error\"\n[database]\nurl = \"{url}\"\nmax_connections = 16\n[engine]\nrunbooks_dir = \"{}\"\npoll_interval_ms = 50\n{engine}\n",
            concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"),
        ))?;
        config.asr = Some(demo::lab_vault(lab.access(), lab_config.knobs.concurrency));
        let running = app::start(&config).await?;
        let mut summary = Summary::new(true);
        let gold = demo::provider_setup(lab.access(), &running, &mut summary).await?;
        let admin = Admin::new(&running)?;
        demo::pair_cloud(&admin, &gold.stamp_ids, "Silver", "gold-5min").await?;
        Ok(Self {
            lab,
            stamp_ids: gold.stamp_ids,
            running,
            backend: backend.name(),
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .pool_max_idle_per_host(256)
                .build()?,
            database,
        })
    }

    /// wapdr's process (this one) and the lab's, to read memory and CPU.
    pub fn processes(&self) -> anyhow::Result<(Proc, Proc)> {
        Ok((Proc::myself()?, self.lab.process()?))
    }

    /// wapdr's admin API.
    pub fn admin(&self) -> anyhow::Result<Admin<'_>> {
        Admin::new(&self.running)
    }

    /// Stamp A's WAP admin API, as the lab serves it.
    pub fn wap_a(&self) -> anyhow::Result<WapAdminClient> {
        let stamp = &self.lab.stamps()[0];
        Ok(WapAdminClient::new(
            &stamp.wap_admin,
            SecretString::from(stamp.wap_admin_token.clone()),
            "admin@provider.local",
            &HttpSettings {
                connect_timeout: Duration::from_secs(5),
                request_timeout: Duration::from_secs(120),
                ca_bundle: None,
            },
            RetryPolicy::new(5, Duration::from_millis(50), Duration::from_secs(2)),
        )?)
    }

    /// Stamp A's tenant subscriptions, as WAP lists them.
    pub async fn tenants(&self) -> anyhow::Result<Vec<AdminSubscription>> {
        Ok(self
            .wap_a()?
            .list_subscriptions(&SubscriptionQuery::default())
            .await?)
    }

    /// `POST /notification/subscriptions` with DR on for `tenant`, as WAP sends it when the
    /// tenant takes the add-on; an error unless wapdr accepted it.
    pub async fn notify(&self, tenant: &AdminSubscription) -> anyhow::Result<()> {
        let (user, password) = &self.running.secrets.notification;
        let response = self
            .client
            .post(format!("{}/notification/subscriptions", self.running.url()))
            .basic_auth(user, Some(password.expose_secret()))
            .json(&notification_body(tenant))
            .send()
            .await?;
        let status = response.status();
        if !status.is_success() {
            bail!(
                "wapdr refused the notification of {} with {status}: {}",
                tenant.subscription_id,
                response.text().await.unwrap_or_default()
            );
        }
        Ok(())
    }

    /// Tells wapdr about every tenant of stamp A, `in_flight` notifications at once.
    pub async fn notify_all(
        &self,
        tenants: &[AdminSubscription],
        in_flight: usize,
    ) -> anyhow::Result<()> {
        use futures::{StreamExt as _, TryStreamExt as _};
        futures::stream::iter(tenants.iter().map(|t| self.notify(t)))
            .buffer_unordered(in_flight)
            .try_collect::<Vec<()>>()
            .await?;
        Ok(())
    }

    /// Waits (with a bar) until `expected` subscriptions are Provisioned and none is still
    /// Provisioning or Updating; the time it took (to within the one-second poll), or an error
    /// when `limit` passed first or some ended otherwise.
    pub async fn until_provisioned(
        &self,
        expected: usize,
        limit: Duration,
        quiet: bool,
    ) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let bar = bar(expected as u64, "Provisioned", quiet);
        loop {
            let counts = self.count_lifecycles().await?;
            let count = |state| counts.get(&state).copied().unwrap_or(0);
            let provisioned = count(LifecycleState::Provisioned);
            bar.set_position(provisioned as u64);
            if provisioned >= expected {
                bar.finish_and_clear();
                return Ok(started.elapsed());
            }
            if count(LifecycleState::Provisioning) + count(LifecycleState::Updating) == 0 {
                bar.finish_and_clear();
                bail!("only {provisioned} of {expected} subscriptions ended Provisioned");
            }
            if started.elapsed() > limit {
                bar.finish_and_clear();
                bail!(
                    "{provisioned} of {expected} subscriptions Provisioned after {}s",
                    limit.as_secs()
                );
            }
            // Each look reads every subscription: looking often would load the store it measures.
            tokio::time::sleep(Duration::from_secs(1)).await;
        }
    }

    /// Subscriptions per lifecycle state, read a thousand at a time in one pass.
    async fn count_lifecycles(
        &self,
    ) -> anyhow::Result<std::collections::HashMap<LifecycleState, usize>> {
        let mut filter = SubscriptionFilter {
            limit: Some(1000),
            ..SubscriptionFilter::default()
        };
        let mut counts = std::collections::HashMap::new();
        loop {
            let page = self.running.store.list_subscriptions(&filter).await?;
            for sub in &page {
                *counts.entry(sub.lifecycle).or_default() += 1;
            }
            if page.len() < 1000 {
                return Ok(counts);
            }
            filter.after = page.last().map(|s| s.id);
        }
    }

    /// Creates `count` running VMs of `tenant` on stamp A (in its plan's cloud); their ids.
    pub async fn add_vms(
        &self,
        tenant: &AdminSubscription,
        count: usize,
        prefix: &str,
    ) -> anyhow::Result<Vec<Uuid>> {
        let cloud = if tenant
            .plan_id
            .as_deref()
            .is_some_and(|p| p.contains("silver"))
        {
            "Silver"
        } else {
            "Gold"
        };
        let stamp = &self.lab.stamps()[0].name;
        let response = self
            .client
            .post(format!("{}/lab/stamps/{stamp}/vms", self.lab.control()))
            .json(&json!({
                "count": count,
                "subscription_id": tenant.subscription_id.to_string(),
                "cloud": cloud,
                "name_prefix": prefix,
                "total_size": 1_i64 << 30,
                "running": true,
            }))
            .send()
            .await?;
        let status = response.status();
        let body: Value = response.json().await?;
        ensure!(status.is_success(), "the lab refused the VMs: {body}");
        let ids = body["ids"]
            .as_array()
            .context("the new VMs' ids")?
            .iter()
            .filter_map(|id| id.as_str().and_then(|id| Uuid::parse_str(id).ok()))
            .collect();
        Ok(ids)
    }

    /// Stops wapdr and the lab and removes the database.
    pub async fn stop(self) -> anyhow::Result<()> {
        self.running.stop().await?;
        self.lab.stop().await;
        match self.database {
            Database::Sqlite(dir) => {
                let _ = std::fs::remove_dir_all(dir);
            }
            Database::Postgres { server, name } => {
                let mut admin = PgConnection::connect(&server).await?;
                sqlx::raw_sql(&format!(r#"DROP DATABASE IF EXISTS "{name}" WITH (FORCE)"#))
                    .execute(&mut admin)
                    .await?;
                admin.close().await.ok();
            }
        }
        Ok(())
    }
}

/// The notification body WAP sends when `tenant` takes the DR add-on.
pub fn notification_body(tenant: &AdminSubscription) -> Value {
    json!({
        "SubscriptionId": tenant.subscription_id.to_string(),
        "SubscriptionName": tenant.subscription_name,
        "State": 0,
        "LifecycleState": 0,
        "QuotaSettings": [{ "Key": "DrEnabled", "Value": "true" }],
        "AdminId": tenant.account_admin_live_email_id,
        "CoAdminIds": tenant.co_admin_names,
    })
}

/// A progress bar of `total` `what` on stderr (hidden when `quiet`).
pub fn bar(total: u64, what: &str, quiet: bool) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(total);
    bar.set_style(
        ProgressStyle::with_template(&format!(
            "  {{elapsed_precise}} [{{bar:40}}] {{pos}}/{{len}} {what}"
        ))
        .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// `url` with its database (the path) replaced by `database`, query parameters kept.
fn with_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let authority = base.find("://").map_or(0, |i| i + 3);
    let server = base[authority..]
        .find('/')
        .map_or(base, |slash| &base[..authority + slash]);
    match query {
        Some(query) => format!("{server}/{database}?{query}"),
        None => format!("{server}/{database}"),
    }
}
