//! The lab: a faithful, in-memory fabric for two or more stamps behind the same HTTP contracts as
//! the real systems (`schemas/fabric-http.md`): per stamp SPF VMM OData and the WAP admin API; one
//! ASR vault over ARM; an Azure AD token endpoint; plus a control API for knobs, outages and the
//! clock. wapdr's real clients run against it unchanged, over real sockets.
//!
//! Only the binary's `lab`/`demo` commands and tests may use this module, and it must never import
//! `crate::fabric`: the lab is the other side of the wire, not a mock of wapdr's clients.

// Handlers answer refusals with ready-made responses carried in `Err`; their size is irrelevant
// next to a network round trip.
#![allow(clippy::result_large_err)]

pub mod asr;
pub mod clock;
pub mod control;
pub mod knobs;
pub mod net;
pub mod odata;
pub mod odata_write;
pub mod seed;
pub mod spf;
mod spf_entities;
mod spf_read;
mod spf_write;
pub mod token;
pub mod wap_admin;
mod wap_admin_subscriptions;
pub mod world;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use anyhow::Context as _;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use uuid::Uuid;

use self::clock::LabClock;
use self::knobs::Knobs;
use self::net::{Service, ServiceKind};
use self::world::World;

/// Which seeded world the lab starts with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum WorldKind {
    /// Two stamps, two cloud pairs, three tenants with 5–20 VMs each.
    #[default]
    Small,
    /// 10,000 subscriptions with 100,000 VMs on the first stamp (sizes in `[large]`).
    Large,
    /// Stamps with one cloud each and nothing else.
    Empty,
}

/// The lab's configuration (a TOML file; see `lab.example.toml`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LabConfig {
    /// The seeded world.
    pub world: WorldKind,
    /// The address every listener binds.
    pub host: IpAddr,
    /// Control API port (0 = any).
    pub control_port: u16,
    /// ASR (ARM) port.
    pub asr_port: u16,
    /// Token endpoint port.
    pub token_port: u16,
    /// The stamps (default `A` and `B`).
    pub stamps: Vec<StampConfig>,
    /// Behaviour knobs.
    pub knobs: Knobs,
    /// The ASR vault and its service principal.
    pub asr: AsrConfig,
    /// Sizes of the large world.
    pub large: LargeConfig,
}

/// One stamp's listeners and credentials.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StampConfig {
    /// Short name (`A`).
    pub name: String,
    /// SPF port (0 = any).
    pub spf_port: u16,
    /// WAP admin API port (0 = any).
    pub wap_admin_port: u16,
    /// SPF Basic user (default `spfadmin`).
    pub spf_username: Option<String>,
    /// SPF Basic password (default `lab-spf-<name>`).
    pub spf_password: Option<String>,
    /// WAP admin bearer token (default `lab-wap-admin-<name>`).
    pub wap_admin_token: Option<String>,
    /// Starts cut off.
    pub down: bool,
}

/// The vault coordinates and the Azure AD application.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsrConfig {
    /// Azure subscription of the vault.
    pub subscription_id: Uuid,
    /// Resource group.
    pub resource_group: String,
    /// Vault name.
    pub vault: String,
    /// Azure AD tenant.
    pub tenant_id: Uuid,
    /// Application (client) id.
    pub client_id: Uuid,
    /// Client secret.
    pub client_secret: String,
    /// `expires_in` of issued tokens, in lab seconds.
    pub token_lifetime_seconds: u64,
}

/// The large world's size.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LargeConfig {
    /// Subscriptions (each a user, a subscription and a user role).
    pub subscriptions: usize,
    /// VMs spread over them.
    pub vms: usize,
}

impl Default for LabConfig {
    fn default() -> Self {
        LabConfig {
            world: WorldKind::Small,
            host: IpAddr::V4(Ipv4Addr::LOCALHOST),
            control_port: 0,
            asr_port: 0,
            token_port: 0,
            stamps: vec![StampConfig::named("A"), StampConfig::named("B")],
            knobs: Knobs::default(),
            asr: AsrConfig::default(),
            large: LargeConfig::default(),
        }
    }
}

impl Default for StampConfig {
    fn default() -> Self {
        StampConfig::named("A")
    }
}

impl StampConfig {
    /// A stamp with default ports and credentials.
    pub fn named(name: &str) -> Self {
        StampConfig {
            name: name.to_owned(),
            spf_port: 0,
            wap_admin_port: 0,
            spf_username: None,
            spf_password: None,
            wap_admin_token: None,
            down: false,
        }
    }
}

impl Default for AsrConfig {
    fn default() -> Self {
        AsrConfig {
            subscription_id: Uuid::from_u128(0x5a1e_0000_0000_4000_8000_0000_0000_0001),
            resource_group: "wapdr-lab".into(),
            vault: "wapdr-vault".into(),
            tenant_id: Uuid::from_u128(0x7e4a_0000_0000_4000_8000_0000_0000_0001),
            client_id: Uuid::from_u128(0xc11e_0000_0000_4000_8000_0000_0000_0001),
            client_secret: "lab-client-secret".into(),
            token_lifetime_seconds: 3599,
        }
    }
}

impl Default for LargeConfig {
    fn default() -> Self {
        LargeConfig {
            subscriptions: 10_000,
            vms: 100_000,
        }
    }
}

impl LabConfig {
    /// Reads a TOML file (unknown keys are errors, so a typo is caught).
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path)
            .with_context(|| format!("reading lab config {}", path.display()))?;
        let config: LabConfig = toml::from_str(&text)
            .with_context(|| format!("parsing lab config {}", path.display()))?;
        config.validate()?;
        Ok(config)
    }

    /// Refuses configurations the lab cannot run.
    pub fn validate(&self) -> anyhow::Result<()> {
        self.knobs.validate().map_err(anyhow::Error::msg)?;
        if self.stamps.is_empty() {
            anyhow::bail!("the lab needs at least one stamp");
        }
        if self.world == WorldKind::Small && self.stamps.len() < 2 {
            anyhow::bail!("the small world needs two stamps");
        }
        Ok(())
    }
}

/// Everything a client needs to reach the lab: what `wapdr lab` prints as its one JSON line and
/// `GET {control}/lab/describe` answers, so a lab in another process is reached as one in this
/// one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct LabAccess {
    /// The control API's base URL.
    pub control: String,
    /// Per stamp: URLs and credentials.
    pub stamps: Vec<StampAccess>,
    /// The vault's coordinates.
    pub asr: AsrAccess,
    /// The token endpoint's base URL.
    pub token: String,
}

/// What clients need to reach one stamp.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StampAccess {
    /// Short name.
    pub name: String,
    /// SPF stamp id.
    pub stamp_id: Uuid,
    /// SPF base URL (the OData service is under `/SC2012R2/VMM/Microsoft.Management.Odata.svc/`).
    pub spf: String,
    /// SPF Basic user.
    pub spf_username: String,
    /// SPF Basic password.
    pub spf_password: String,
    /// WAP admin API base URL.
    pub wap_admin: String,
    /// WAP admin bearer token.
    pub wap_admin_token: String,
    /// The tenant portal's URL (a placeholder page on the WAP admin listener).
    pub tenant_portal: String,
}

/// What clients need to reach the vault.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AsrAccess {
    /// ARM base URL.
    pub arm: String,
    /// Azure subscription.
    pub subscription_id: Uuid,
    /// Resource group.
    pub resource_group: String,
    /// Vault name.
    pub vault: String,
    /// Azure AD tenant.
    pub tenant_id: Uuid,
    /// Client id.
    pub client_id: Uuid,
    /// Client secret.
    pub client_secret: String,
}

/// The state every lab handler shares.
#[derive(Debug)]
pub struct LabState {
    /// The world.
    pub world: Mutex<World>,
    knobs: RwLock<Knobs>,
    /// Lab time.
    pub clock: LabClock,
    calls: Mutex<BTreeMap<String, u64>>,
    /// Every service's URL and credentials.
    pub access: LabAccess,
    /// Per stamp: whether it is cut off.
    outages: Vec<watch::Sender<bool>>,
    /// Token lifetime in lab seconds.
    pub token_lifetime_seconds: u64,
}

impl LabState {
    /// The knobs in force.
    pub fn knobs(&self) -> Knobs {
        self.knobs.read().expect("knobs lock").clone()
    }

    /// Replaces the knobs (the clock follows `acceleration`).
    pub fn set_knobs(&self, knobs: Knobs) {
        self.clock.set_acceleration(knobs.acceleration);
        *self.knobs.write().expect("knobs lock") = knobs;
    }

    /// Locks the world and brings its time-driven state (ASR jobs) up to lab-now.
    pub fn world(&self) -> (MutexGuard<'_, World>, OffsetDateTime) {
        let mut world = self.world.lock().expect("world lock");
        let now = self.clock.now();
        let knobs = self.knobs();
        asr::jobs::settle(&mut world, now, &knobs);
        (world, now)
    }

    fn count_call(&self, service: Service) {
        let key = match service.stamp {
            Some(i) => format!("{}/{}", self.access.stamps[i].name, service.kind.name()),
            None => service.kind.name().to_owned(),
        };
        self.count(&key);
    }

    /// Adds one to counter `key` of `GET {control}/lab/calls`.
    fn count(&self, key: &str) {
        *self
            .calls
            .lock()
            .expect("calls lock")
            .entry(key.to_owned())
            .or_default() += 1;
    }

    /// Requests received per service (`A/spf`, `A/wap_admin`, `asr`, `token`), the vault's
    /// listings of a site's containers among them (`asr/container_lists`), and those the knobs
    /// disturbed (`injected/errors`, `injected/latency_spikes`).
    pub fn calls(&self) -> BTreeMap<String, u64> {
        self.calls.lock().expect("calls lock").clone()
    }

    /// Cuts a stamp off (`down`) or brings it back; replication reacts in lab time.
    pub fn set_outage(&self, stamp: usize, down: bool) {
        {
            let (mut world, now) = self.world();
            asr::model::stamp_outage_changed(&mut world, stamp, down, now);
        }
        self.outages[stamp].send_replace(down);
    }

    /// Whether a stamp is cut off now.
    pub fn is_down(&self, stamp: usize) -> bool {
        *self.outages[stamp].borrow()
    }
}

/// A running lab.
pub struct LabHandle {
    /// Shared state (tests may inspect it; clients must use HTTP).
    pub state: Arc<LabState>,
    shutdown: watch::Sender<bool>,
    tasks: Vec<JoinHandle<()>>,
}

impl LabHandle {
    /// Every service's URL and credentials.
    pub fn access(&self) -> &LabAccess {
        &self.state.access
    }

    /// The control API's base URL.
    pub fn control(&self) -> &str {
        &self.state.access.control
    }

    /// Per stamp access.
    pub fn stamps(&self) -> &[StampAccess] {
        &self.state.access.stamps
    }

    /// The vault's access.
    pub fn asr(&self) -> &AsrAccess {
        &self.state.access.asr
    }

    /// The token endpoint's base URL.
    pub fn token(&self) -> &str {
        &self.state.access.token
    }

    /// The one JSON line `wapdr lab` prints: every service's base URL and credentials.
    pub fn describe(&self) -> serde_json::Value {
        serde_json::to_value(&self.state.access).expect("plain data serializes")
    }

    /// Stops every listener and waits for them.
    pub async fn shutdown(self) {
        let _ = self.shutdown.send(true);
        for task in self.tasks {
            let _ = task.await;
        }
    }
}

/// The lab itself.
pub struct Lab;

impl Lab {
    /// Seeds the world, binds every listener and starts serving.
    pub async fn start(config: LabConfig) -> anyhow::Result<LabHandle> {
        config.validate()?;
        let host = config.host;
        let url = |addr: SocketAddr| format!("http://{addr}");

        let mut stamp_listeners = Vec::new();
        for stamp in &config.stamps {
            let spf = net::bind(SocketAddr::new(host, stamp.spf_port)).await?;
            let wap = net::bind(SocketAddr::new(host, stamp.wap_admin_port)).await?;
            stamp_listeners.push((spf, wap));
        }
        let asr_listener = net::bind(SocketAddr::new(host, config.asr_port)).await?;
        let token_listener = net::bind(SocketAddr::new(host, config.token_port)).await?;
        let control_listener = net::bind(SocketAddr::new(host, config.control_port)).await?;

        let started = std::time::Instant::now();
        let world = seed::build(&config)?;
        tracing::info!(elapsed = ?started.elapsed(), "lab world seeded");

        let mut stamps = Vec::new();
        for (i, stamp) in config.stamps.iter().enumerate() {
            let (spf, wap) = &stamp_listeners[i];
            let wap_url = url(wap.local_addr()?);
            stamps.push(StampAccess {
                name: stamp.name.clone(),
                stamp_id: world.stamps[i].id,
                spf: url(spf.local_addr()?),
                spf_username: stamp
                    .spf_username
                    .clone()
                    .unwrap_or_else(|| "spfadmin".into()),
                spf_password: stamp
                    .spf_password
                    .clone()
                    .unwrap_or_else(|| format!("lab-spf-{}", stamp.name.to_ascii_lowercase())),
                wap_admin_token: stamp.wap_admin_token.clone().unwrap_or_else(|| {
                    format!("lab-wap-admin-{}", stamp.name.to_ascii_lowercase())
                }),
                tenant_portal: format!("{wap_url}/tenantportal/"),
                wap_admin: wap_url,
            });
        }
        let asr_access = AsrAccess {
            arm: url(asr_listener.local_addr()?),
            subscription_id: config.asr.subscription_id,
            resource_group: config.asr.resource_group.clone(),
            vault: config.asr.vault.clone(),
            tenant_id: config.asr.tenant_id,
            client_id: config.asr.client_id,
            client_secret: config.asr.client_secret.clone(),
        };
        let state = Arc::new(LabState {
            world: Mutex::new(world),
            knobs: RwLock::new(config.knobs.clone()),
            clock: LabClock::new(config.knobs.acceleration),
            calls: Mutex::new(BTreeMap::new()),
            outages: stamps.iter().map(|_| watch::channel(false).0).collect(),
            access: LabAccess {
                control: url(control_listener.local_addr()?),
                stamps,
                asr: asr_access,
                token: url(token_listener.local_addr()?),
            },
            token_lifetime_seconds: config.asr.token_lifetime_seconds,
        });

        let (shutdown, shutdown_rx) = watch::channel(false);
        let mut tasks = Vec::new();
        for (i, (spf, wap)) in stamp_listeners.into_iter().enumerate() {
            let spf_router = net::fabric_layer(
                spf::router(state.clone(), i),
                state.clone(),
                Service {
                    kind: ServiceKind::Spf,
                    stamp: Some(i),
                },
            );
            let wap_router = net::fabric_layer(
                wap_admin::router(state.clone(), i),
                state.clone(),
                Service {
                    kind: ServiceKind::WapAdmin,
                    stamp: Some(i),
                },
            );
            let down = state.outages[i].subscribe();
            tasks.push(net::serve_with_outage(
                spf,
                spf_router,
                down.clone(),
                shutdown_rx.clone(),
            ));
            tasks.push(net::serve_with_outage(
                wap,
                wap_router,
                down,
                shutdown_rx.clone(),
            ));
        }
        let asr_router = net::fabric_layer(
            asr::router(state.clone()),
            state.clone(),
            Service {
                kind: ServiceKind::Asr,
                stamp: None,
            },
        );
        let token_router = net::fabric_layer(
            token::router(state.clone()),
            state.clone(),
            Service {
                kind: ServiceKind::Token,
                stamp: None,
            },
        );
        tasks.push(net::serve(asr_listener, asr_router, shutdown_rx.clone()));
        tasks.push(net::serve(
            token_listener,
            token_router,
            shutdown_rx.clone(),
        ));
        tasks.push(net::serve(
            control_listener,
            control::router(state.clone()),
            shutdown_rx,
        ));

        for (i, stamp) in config.stamps.iter().enumerate() {
            if stamp.down {
                state.set_outage(i, true);
            }
        }
        Ok(LabHandle {
            state,
            shutdown,
            tasks,
        })
    }
}
