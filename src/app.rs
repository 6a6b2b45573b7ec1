//! Wires configuration, store and API into a running service, and builds wapdr's own registration
//! for WAP. The binary's commands and the end-to-end tests both start wapdr through [`start`].

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use axum_server::tls_rustls::RustlsConfig;
use secrecy::SecretString;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use uuid::Uuid;

use crate::api::{self, AppState, EndpointSecrets};
use crate::clock;
use crate::config::{Config, EndpointCredentials};
use crate::contract::{
    AuthenticationMode, ResourceProvider, ResourceProviderEndpoint, ResourceProviderType,
    TenantEndpoint,
};
use crate::engine::{self, Engine, EngineSettings, Registry, Runbooks};
use crate::fabric::replication::PollLimits;
use crate::fabric::{AsrEngine, AsrSettings, HttpSettings, ReplicationEngine, RetryPolicy};
use crate::store::{self, SharedStore};
use crate::workflows::{
    DISABLE_DR, DisableDr, ENABLE_DR, EnableDr, Failover, FailoverDeadline, PAIR_CLOUDS,
    PROTECT_NEW_VMS, PairClouds, ProtectNewVms, RECONCILE_MIRRORS, RECONCILE_VM,
    REPLICATION_HEALTH, ReconcileMirrors, ReconcileVm, ReplicationHealth, SITE_HEARTBEAT,
    SiteFailover, SiteHeartbeat, StampClients, USAGE_METER, UsageMeter, probe_http,
};

/// A running wapdr: its bound address and a way to stop it.
pub struct Running {
    /// The address the server listens on (port 0 in the config becomes a real port here).
    pub addr: SocketAddr,
    /// `https` when it serves a configured certificate, else `http`.
    pub scheme: &'static str,
    /// The store it uses.
    pub store: SharedStore,
    /// The endpoint credentials in force.
    pub secrets: EndpointSecrets,
    shutdown: oneshot::Sender<()>,
    server: JoinHandle<std::io::Result<()>>,
    engine_shutdown: tokio::sync::watch::Sender<bool>,
    engine_tasks: Vec<JoinHandle<()>>,
    shutdown_grace: std::time::Duration,
}

impl Running {
    /// The base URL of the server.
    pub fn url(&self) -> String {
        format!("{}://{}", self.scheme, self.addr)
    }

    /// Stops accepting connections and claiming steps, lets in-flight requests and steps finish
    /// (steps within the engine's grace, then their leases are given back), and waits.
    pub async fn stop(self) -> anyhow::Result<()> {
        let _ = self.shutdown.send(());
        let _ = self.engine_shutdown.send(true);
        for task in self.engine_tasks {
            task.await.context("engine task panicked")?;
        }
        self.server.await.context("server task panicked")??;
        Ok(())
    }

    /// Stops everything at once, as a killed process would: requests and steps are dropped
    /// mid-call, nothing is given back, and other instances take over when the leases run out.
    /// For crash tests.
    pub fn abort(self) {
        self.server.abort();
        for task in self.engine_tasks {
            task.abort();
        }
    }

    /// Serves until ctrl-c (or SIGTERM) comes through `signals`, then shuts down gracefully and
    /// logs that it stopped. A second signal while steps still finish stops at once (an error:
    /// their leases are left to run out, and other instances take the steps over then).
    pub async fn until_signal(self, mut signals: StopSignals) -> anyhow::Result<()> {
        signals.recv().await;
        let grace = self.shutdown_grace.as_secs();
        tracing::info!(
            grace_seconds = grace,
            "shutting down: no new requests or steps; running steps have {grace} s to finish, \
             then their leases are given back"
        );
        tokio::select! {
            stopped = self.stop() => {
                stopped?;
                tracing::info!("stopped");
                Ok(())
            }
            () = signals.recv() => {
                tracing::warn!("a second signal: stopping at once, leaving running steps to their leases");
                anyhow::bail!("stopped at once by a second signal")
            }
        }
    }
}

/// The workflows this build registers that need nothing but the store; those that need this
/// instance's fabric clients (`pair_clouds`, `enable_dr`, `disable_dr`, `reconcile_vm`, and the
/// runbooks' `protect_new_vms`, `replication_health`, `reconcile_mirrors` and `site_heartbeat`)
/// or its configuration (the runbook's `usage_meter`, which writes the RP's name) are added by
/// [`start_with_workflows`].
pub fn workflows() -> Registry {
    Registry::new()
}

/// Opens the store (applying migrations), resolves credentials, loads the runbooks, binds, and
/// starts serving and (when enabled) the engine, with this build's workflows.
pub async fn start(config: &Config) -> anyhow::Result<Running> {
    start_with_workflows(config, workflows()).await
}

/// [`start`] with the given workflows (tests register their own).
pub async fn start_with_workflows(config: &Config, registry: Registry) -> anyhow::Result<Running> {
    let store = store::open(&config.database.url, config.database.max_connections)
        .await
        .with_context(|| format!("opening the store at {}", redact_url(&config.database.url)))?;
    let secrets = resolve_secrets(config, &store).await?;
    let http = fabric_http(config);
    // A CA bundle that cannot be read is a configuration error at start, not at the first call.
    http.build_client("fabric")
        .context("configuring the [fabric] CA bundle")?;
    let fabric = Arc::new(
        StampClients::new(
            http.clone(),
            RetryPolicy::default(),
            replication_engine(config)?,
        )
        // The heartbeat asks the vault through its own engine: short timeouts, no retries.
        .with_probe_engine(replication_engine_with(
            config,
            &probe_http(&http),
            RetryPolicy::no_retry(),
        )?)
        .with_alert_webhook(config.alerts.webhook_url.clone()),
    );
    // The setup workflows need this instance's fabric clients, so they join here (unless the
    // caller brought its own, as tests do).
    let mut registry = registry;
    if registry.get(PAIR_CLOUDS).is_none() {
        registry.register(Arc::new(PairClouds::new(fabric.clone())));
    }
    if registry.get(ENABLE_DR).is_none() {
        registry.register(Arc::new(EnableDr::new(fabric.clone())));
        registry.register(Arc::new(Failover::new(fabric.clone())));
        registry.register(Arc::new(FailoverDeadline));
        registry.register(Arc::new(SiteFailover));
    }
    if registry.get(DISABLE_DR).is_none() {
        registry.register(Arc::new(DisableDr::new(fabric.clone())));
    }
    if registry.get(RECONCILE_VM).is_none() {
        registry.register(Arc::new(ReconcileVm::new(fabric.clone())));
    }
    if registry.get(PROTECT_NEW_VMS).is_none() {
        registry.register(Arc::new(ProtectNewVms::new(fabric.clone())));
    }
    if registry.get(REPLICATION_HEALTH).is_none() {
        registry.register(Arc::new(ReplicationHealth::new(fabric.clone())));
    }
    if registry.get(RECONCILE_MIRRORS).is_none() {
        registry.register(Arc::new(ReconcileMirrors::new(fabric.clone())));
    }
    if registry.get(USAGE_METER).is_none() {
        registry.register(Arc::new(UsageMeter::new(config.rp.name.as_str())));
    }
    if registry.get(SITE_HEARTBEAT).is_none() {
        registry.register(Arc::new(SiteHeartbeat::new(fabric.clone())));
    }
    let registry = Arc::new(registry);
    let definitions =
        engine::runbooks::load_definitions(std::path::Path::new(&config.engine.runbooks_dir))?;
    let runbooks = Arc::new(Runbooks::install(store.clone(), registry.clone(), definitions).await?);
    let state = AppState {
        store: store.clone(),
        rp_name: Arc::from(config.rp.name.as_str()),
        rp_display_name: Arc::from(config.rp.display_name.as_str()),
        runbooks: runbooks.clone(),
        fabric,
        registry: registry.clone(),
        vm_lists: Arc::new(api::VmLists::new(HELD_VM_RECORDS)),
    };
    let router = api::router(state, &secrets, config.limits.max_body_bytes);
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("binding {}", config.listen))?;
    let addr = listener.local_addr()?;
    let (shutdown, signal) = oneshot::channel::<()>();
    let server = match config.server.tls() {
        None => tokio::spawn(async move {
            axum::serve(listener, router)
                .with_graceful_shutdown(async move {
                    let _ = signal.await;
                })
                .await
        }),
        Some((cert, key)) => serve_https(listener, router, (cert, key), signal).await?,
    };
    let (engine_shutdown, engine_stop) = tokio::sync::watch::channel(false);
    let mut engine_tasks = Vec::new();
    if config.engine.enabled {
        let stopped = |mut stop: tokio::sync::watch::Receiver<bool>| async move {
            let _ = stop.wait_for(|stop| *stop).await;
        };
        let settings = EngineSettings {
            concurrency: config.engine.concurrency,
            lease: std::time::Duration::from_secs(config.engine.lease_seconds),
            poll_interval: std::time::Duration::from_millis(config.engine.poll_interval_ms),
            shutdown_grace: std::time::Duration::from_secs(config.engine.shutdown_grace_seconds),
        };
        let instance = format!("wapdr-{}-{}", std::process::id(), Uuid::new_v4().simple());
        let worker = Engine::new(store.clone(), registry, instance)
            .with_settings(settings)
            .with_runbooks(runbooks.clone());
        engine_tasks.push(tokio::spawn(worker.run(stopped(engine_stop.clone()))));
        engine_tasks.push(tokio::spawn(engine::keep_statistics(
            store.clone(),
            engine::STATISTICS_INTERVAL,
            stopped(engine_stop.clone()),
        )));
        engine_tasks.push(tokio::spawn(
            runbooks.run_schedules(
                clock::system(),
                settings
                    .poll_interval
                    .max(std::time::Duration::from_secs(1)),
                stopped(engine_stop),
            ),
        ));
    }
    tracing::info!(%addr, store = store.backend(), engine = config.engine.enabled, "wapdr listening");
    Ok(Running {
        addr,
        scheme: config.scheme(),
        store,
        secrets,
        shutdown,
        server,
        engine_shutdown,
        engine_tasks,
        shutdown_grace: std::time::Duration::from_secs(config.engine.shutdown_grace_seconds),
    })
}

/// Serves `router` over HTTPS with the certificate and key of `[server]` (rustls) until `signal`,
/// then lets open requests finish.
async fn serve_https(
    listener: TcpListener,
    router: axum::Router,
    (cert, key): (&str, &str),
    signal: oneshot::Receiver<()>,
) -> anyhow::Result<JoinHandle<std::io::Result<()>>> {
    let tls = RustlsConfig::from_pem_file(cert, key)
        .await
        .with_context(|| format!("loading the [server] certificate {cert} and key {key}"))?;
    let handle = axum_server::Handle::new();
    let stopper = handle.clone();
    tokio::spawn(async move {
        let _ = signal.await;
        stopper.graceful_shutdown(None);
    });
    let server = axum_server::from_tcp_rustls(listener.into_std()?, tls)?.handle(handle);
    Ok(tokio::spawn(server.serve(router.into_make_service())))
}

/// The transport settings of every outbound fabric client: the default timeouts, and the
/// `[fabric]` CA bundle trusted besides the built-in roots.
pub fn fabric_http(config: &Config) -> HttpSettings {
    HttpSettings {
        ca_bundle: config.fabric.ca_bundle.as_ref().map(Into::into),
        ..HttpSettings::default()
    }
}

/// The replication engine the `[asr]` section configures, or `None` without one.
pub fn replication_engine(config: &Config) -> anyhow::Result<Option<Arc<dyn ReplicationEngine>>> {
    replication_engine_with(config, &fabric_http(config), RetryPolicy::default())
}

/// [`replication_engine`] with these transport settings and retries.
pub fn replication_engine_with(
    config: &Config,
    http: &HttpSettings,
    retry: RetryPolicy,
) -> anyhow::Result<Option<Arc<dyn ReplicationEngine>>> {
    let Some(asr) = &config.asr else {
        return Ok(None);
    };
    let settings = AsrSettings {
        arm_url: asr.arm_url.clone(),
        login_url: asr.login_url.clone(),
        tenant_id: asr.tenant_id.clone(),
        client_id: asr.client_id.clone(),
        client_secret: asr.client_secret.clone(),
        subscription_id: asr.subscription_id.clone(),
        resource_group: asr.resource_group.clone(),
        vault: asr.vault.clone(),
        api_version: ASR_API_VERSION.into(),
        setup_timeout: std::time::Duration::from_secs(120),
        poll: PollLimits::default(),
    };
    let engine = AsrEngine::new(settings, http, retry)
        .context("configuring the [asr] replication engine")?
        .with_max_parallel_operations(asr.max_parallel_operations);
    Ok(Some(Arc::new(engine)))
}

/// How many VM records the API holds in memory between reads of subscriptions' VM lists (about
/// half a kilobyte each): the lists of the 200 busiest subscriptions of 100 VMs, some 10 MB.
const HELD_VM_RECORDS: u64 = 20_000;

/// The ARM `api-version` of Recovery Services wapdr speaks.
const ASR_API_VERSION: &str = "2025-08-01";

/// Each endpoint's credentials: the configured password, or one generated once and kept in the
/// store (so every instance on the same database, and `wapdr register`, agree on it).
pub async fn resolve_secrets(
    config: &Config,
    store: &SharedStore,
) -> anyhow::Result<EndpointSecrets> {
    async fn one(
        store: &SharedStore,
        name: &str,
        creds: &EndpointCredentials,
    ) -> anyhow::Result<(String, SecretString)> {
        let password = match &creds.password {
            Some(password) => password.clone(),
            None => {
                let candidate = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
                let kept = store
                    .put_setting_if_absent(
                        &format!("endpoints.{name}.generated_password"),
                        &candidate,
                    )
                    .await?;
                SecretString::from(kept)
            }
        };
        Ok((creds.username.clone(), password))
    }
    let endpoints = &config.endpoints;
    Ok(EndpointSecrets {
        notification: one(store, "notification", &endpoints.notification).await?,
        usage: one(store, "usage", &endpoints.usage).await?,
        admin: one(store, "admin", &endpoints.admin).await?,
        tenant: one(store, "tenant", &endpoints.tenant).await?,
    })
}

/// The RP instance id registered in WAP: generated once and kept in the store.
pub async fn instance_id(store: &SharedStore) -> anyhow::Result<Uuid> {
    let kept = store
        .put_setting_if_absent("rp.instance_id", &Uuid::new_v4().to_string())
        .await?;
    Uuid::parse_str(&kept).context("the stored rp.instance_id is not a GUID")
}

/// The body of WAP's `POST /resourceproviders` that registers this instance.
pub fn registration(
    config: &Config,
    secrets: &EndpointSecrets,
    instance_id: Uuid,
) -> ResourceProvider {
    use secrecy::ExposeSecret as _;
    let base = config.public_url();
    let endpoint =
        |path: &str, (user, password): &(String, SecretString)| ResourceProviderEndpoint {
            forwarding_address: format!("{base}{path}"),
            authentication_mode: AuthenticationMode::Basic,
            authentication_username: Some(user.clone()),
            authentication_password: Some(password.expose_secret().to_owned()),
        };
    ResourceProvider {
        name: config.rp.name.clone(),
        display_name: Some(config.rp.display_name.clone()),
        description: Some(
            "Disaster recovery for VM Clouds subscriptions: replication to a second stamp, drills and failover.".into(),
        ),
        enabled: true,
        pass_through_enabled: true,
        allow_anonymous_access: false,
        allow_multiple_instances: false,
        admin_endpoint: Some(endpoint("/admin", &secrets.admin)),
        tenant_endpoint: Some(TenantEndpoint {
            endpoint: endpoint("/tenant/", &secrets.tenant),
            source_uri_template: Some(format!("{{subid}}/services/{}/{{*path}}", config.rp.name)),
            target_uri_template: Some("subscriptions/{subid}/{*path}".into()),
        }),
        usage_endpoint: Some(endpoint("/", &secrets.usage)),
        health_check_endpoint: None,
        notification_endpoint: Some(endpoint("/notification", &secrets.notification)),
        instance_id: Some(instance_id.to_string()),
        instance_display_name: Some(config.rp.display_name.clone()),
        max_quota_update_batch_size: config.rp.max_quota_update_batch_size.into(),
        subscription_status_polling_interval: std::time::Duration::from_secs(
            config.rp.subscription_status_polling_seconds,
        ),
        provider_type: ResourceProviderType::Standard,
        settings: Vec::new(),
    }
}

/// A database URL with any password replaced, for messages and logs.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme_end), Some(at)) if at > scheme_end => {
            let userinfo = &url[scheme_end + 3..at];
            match userinfo.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..scheme_end + 3], &url[at..]),
                None => url.to_owned(),
            }
        }
        _ => url.to_owned(),
    }
}

/// Waits for ctrl-c (or SIGTERM on Unix).
pub async fn shutdown_signal() {
    match StopSignals::listen() {
        Ok(mut signals) => signals.recv().await,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

/// The process's stop signals — SIGINT (ctrl-c) and SIGTERM on Unix, ctrl-c elsewhere — caught
/// from the moment this is created. A signal that comes before anyone waits for it is kept for
/// the next [`recv`](Self::recv); without this, a service manager's SIGTERM arriving just after
/// start, before the wait began, met the default action and ended the process at once, not
/// gracefully.
pub struct StopSignals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Starts catching the stop signals (needs a Tokio runtime).
    pub fn listen() -> std::io::Result<Self> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{SignalKind, signal};
            Ok(Self {
                interrupt: signal(SignalKind::interrupt())?,
                terminate: signal(SignalKind::terminate())?,
            })
        }
        #[cfg(not(unix))]
        Ok(Self {})
    }

    /// Waits for the next stop signal (or returns at once for one already caught).
    pub async fn recv(&mut self) {
        #[cfg(unix)]
        tokio::select! {
            _ = self.interrupt.recv() => {},
            _ = self.terminate.recv() => {},
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_passwords_are_redacted() {
        assert_eq!(
            redact_url("postgres://wapdr:s3cret@db.local:5432/wapdr"),
            "postgres://wapdr:***@db.local:5432/wapdr"
        );
        assert_eq!(
            redact_url("postgres://wapdr@db/wapdr"),
            "postgres://wapdr@db/wapdr"
        );
        assert_eq!(redact_url("sqlite://wapdr.db"), "sqlite://wapdr.db");
    }
}
