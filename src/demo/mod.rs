//! `wapdr demo`: the lab fabric for two stamps, wapdr on SQLite, and a scripted scenario that drives
//! both over HTTP with wapdr's real clients, as a provider's WAP would. It exits 0 only if every
//! step succeeded. Part of the binary, not the library: only `lab`/`demo` may use the lab.
//!
//! The DR flows join the scenario as they land: enablement and protection ([`protection`]), then
//! a drill, a planned failover, commit, reprotect and failback ([`failover`]).

mod failover;
pub(crate) mod protection;

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use secrecy::{ExposeSecret as _, SecretString};
use serde_json::{Value, json};
use wapdr::app::{self, Running};
use wapdr::config::{AsrConfig, Config};
use wapdr::fabric::spf::VmQuery;
use wapdr::fabric::wap_admin::SubscriptionQuery;
use wapdr::fabric::{HttpSettings, RetryPolicy, SpfClient, WapAdminClient};
use wapdr::lab::{LabAccess, StampAccess};

/// The OData service root under a stamp's SPF base URL.
const SPF_SERVICE: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc/";

/// What the scenario found and did, for the `--json` summary.
#[derive(Default)]
pub struct Summary {
    steps: Vec<Value>,
    figures: serde_json::Map<String, Value>,
    /// No progress bars (the output is for a machine).
    quiet: bool,
}

impl Summary {
    /// An empty summary; `quiet` hides progress bars (the `--json` run).
    pub fn new(quiet: bool) -> Self {
        Self {
            quiet,
            ..Self::default()
        }
    }

    pub(crate) fn step(&mut self, name: &str, detail: String, data: Value) {
        println!("  \u{2713} {detail}");
        self.steps
            .push(json!({ "step": name, "detail": detail, "data": data }));
    }

    /// Records a headline figure (counts, seconds) for the summary's top level.
    fn figure(&mut self, name: &str, value: Value) {
        self.figures.insert(name.to_owned(), value);
    }

    /// The one-line JSON summary: `ok`, total `seconds`, the headline figures, every step.
    pub fn to_json(&self, ok: bool, started: Instant) -> Value {
        let mut summary = json!({
            "ok": ok,
            "seconds": (started.elapsed().as_secs_f64() * 1000.0).round() / 1000.0,
        });
        if let Some(object) = summary.as_object_mut() {
            object.extend(self.figures.clone());
            object.insert("steps".into(), json!(self.steps));
        }
        summary
    }
}

/// A wapdr configuration for the demo: a fresh SQLite file and a free port, unless the caller
/// gave a configuration file.
pub fn demo_config(given: Option<Config>) -> anyhow::Result<(Config, Option<std::path::PathBuf>)> {
    if let Some(config) = given {
        return Ok((config, None));
    }
    let dir = std::env::temp_dir().join(format!("wapdr-demo-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let config = Config::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\n[database]\nurl = \"sqlite://{}\"\n[engine]\nrunbooks_dir = \"{}\"\n",
        dir.join("wapdr.db").display(),
        concat!(env!("CARGO_MANIFEST_DIR"), "/runbooks"),
    ))?;
    Ok((config, Some(dir)))
}

/// The lab's vault as wapdr's `[asr]` configuration, with as many operations at once as the
/// lab's vault runs (`concurrency`): none ever waits in its queue.
pub fn lab_vault(lab: &LabAccess, concurrency: usize) -> AsrConfig {
    let access = &lab.asr;
    AsrConfig {
        arm_url: access.arm.clone(),
        login_url: lab.token.clone(),
        tenant_id: access.tenant_id.to_string(),
        client_id: access.client_id.to_string(),
        client_secret: SecretString::from(access.client_secret.clone()),
        subscription_id: access.subscription_id.to_string(),
        resource_group: access.resource_group.clone(),
        vault: access.vault.clone(),
        max_parallel_operations: u32::try_from(concurrency).unwrap_or(u32::MAX),
    }
}

/// Runs the scenario against a started lab and wapdr.
pub async fn run(
    lab: &LabAccess,
    running: &Running,
    config: &Config,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let http = HttpSettings {
        connect_timeout: Duration::from_secs(5),
        request_timeout: Duration::from_secs(30),
        ca_bundle: None,
    };
    let retry = RetryPolicy::new(5, Duration::from_millis(50), Duration::from_secs(2));
    let stamps = &lab.stamps;
    summary.step(
        "lab",
        format!(
            "lab up: {} (ASR vault at {})",
            stamps
                .iter()
                .map(|s| format!(
                    "stamp {} (SPF {}, WAP admin {})",
                    s.name, s.spf, s.wap_admin
                ))
                .collect::<Vec<_>>()
                .join(", "),
            lab.asr.arm
        ),
        json!({ "stamps": stamps.iter().map(|s| s.name.clone()).collect::<Vec<_>>() }),
    );
    summary.step(
        "wapdr",
        format!(
            "wapdr serving at {} on {}",
            running.url(),
            running.store.backend()
        ),
        json!({ "url": running.url(), "store": running.store.backend() }),
    );

    // Register the RP in each stamp's WAP, as a provider does once per environment.
    let mut rp_config = config.clone();
    rp_config.public_url = Some(running.url());
    let registration = app::registration(
        &rp_config,
        &running.secrets,
        app::instance_id(&running.store).await?,
    );
    for stamp in stamps {
        wap_admin(stamp, &http, &retry)?
            .register_resource_provider(&registration)
            .await
            .with_context(|| format!("registering wapdr in stamp {}'s WAP", stamp.name))?;
    }
    summary.step(
        "register",
        format!(
            "registered '{}' in WAP on stamps {}",
            registration.name,
            names(stamps)
        ),
        json!({ "rp": registration.name }),
    );

    // Discover each stamp through SPF and the WAP admin API.
    for stamp in stamps {
        let spf = spf_client(stamp, &http, &retry)?;
        let clouds = spf.list_clouds(stamp.stamp_id).await?;
        let vms = spf
            .list_vms(&VmQuery {
                stamp_id: Some(stamp.stamp_id),
                ..VmQuery::default()
            })
            .await?;
        let admin = wap_admin(stamp, &http, &retry)?;
        let plans = admin.list_plans().await?;
        let subscriptions = admin
            .list_subscriptions(&SubscriptionQuery::default())
            .await?;
        let cloud_names: Vec<&str> = clouds.iter().map(|c| c.name.as_str()).collect();
        summary.step(
            "discover",
            format!(
                "stamp {}: {} clouds ({}), {} plans, {} subscriptions, {} VMs",
                stamp.name,
                clouds.len(),
                cloud_names.join(", "),
                plans.len(),
                subscriptions.len(),
                vms.len()
            ),
            json!({ "stamp": stamp.name, "clouds": clouds.len(), "plans": plans.len(),
                    "subscriptions": subscriptions.len(), "vms": vms.len() }),
        );
    }

    // The replication engine: the vault sees each stamp's VMM server and its clouds.
    // The engine the service itself builds from `[asr]` (the lab's vault, unless configured).
    let asr = app::replication_engine(config)?.context("the demo needs a replication engine")?;
    let sites = asr.sites().await?;
    let mut containers = 0;
    for site in &sites {
        containers += asr.containers(&site.id).await?.len();
    }
    ensure!(
        sites.len() == stamps.len(),
        "the vault should see one VMM site per stamp, saw {}",
        sites.len()
    );
    summary.step(
        "asr",
        format!(
            "ASR vault: {} VMM sites, {containers} clouds as protection containers",
            sites.len()
        ),
        json!({ "sites": sites.len(), "containers": containers }),
    );

    let gold = provider_setup(lab, running, summary).await?;

    // Act as WAP: a tenant of stamp A on the paired Gold plan acquires the DR add-on.
    let tenant = wap_admin(&stamps[0], &http, &retry)?
        .list_subscriptions(&SubscriptionQuery::default())
        .await?
        .into_iter()
        .find(|s| {
            s.account_admin_live_email_id.is_some() && s.plan_id.as_deref() == Some(&gold.plan_id)
        })
        .context("the lab world should have a tenant subscription on stamp A's Gold plan")?;
    let admin_id = tenant
        .account_admin_live_email_id
        .clone()
        .unwrap_or_default();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()?;
    let (user, password) = &running.secrets.notification;
    let created = client
        .post(format!("{}/notification/subscriptions", running.url()))
        .basic_auth(user, Some(password.expose_secret()))
        .json(&json!({
            "SubscriptionId": tenant.subscription_id.to_string(),
            "SubscriptionName": tenant.subscription_name,
            "State": 0,
            "QuotaSettings": [
                { "Key": "DrEnabled", "Value": "true" },
                { "Key": "ReplicationFrequencySeconds", "Value": "30" },
                { "Key": "SelfService", "Value": "Drill" }
            ],
            "AdminId": admin_id,
            "CoAdminIds": tenant.co_admin_names,
        }))
        .send()
        .await?;
    let status = created.status();
    let body: Value = created.json().await.unwrap_or(Value::Null);
    if !status.is_success() {
        bail!("wapdr refused the subscription notification with {status}: {body}");
    }
    summary.step(
        "subscribe",
        format!(
            "WAP told wapdr that {admin_id} took the DR add-on on subscription {}: {status}",
            tenant.subscription_id
        ),
        body,
    );

    let (tenant_user, tenant_password) = &running.secrets.tenant;
    let tenant_url = format!(
        "{}/tenant/subscriptions/{}",
        running.url(),
        tenant.subscription_id
    );
    let own = client
        .get(&tenant_url)
        .basic_auth(tenant_user, Some(tenant_password.expose_secret()))
        .header("x-ms-principal-id", &admin_id)
        .send()
        .await?
        .status();
    let stranger = client
        .get(&tenant_url)
        .basic_auth(tenant_user, Some(tenant_password.expose_secret()))
        .header("x-ms-principal-id", "stranger@contoso.com")
        .send()
        .await?
        .status();
    ensure!(
        own.is_success(),
        "the tenant could not read its own subscription: {own}"
    );
    ensure!(
        stranger == reqwest::StatusCode::NOT_FOUND,
        "a stranger got {stranger}, not 404"
    );
    summary.step(
        "tenant",
        format!("the tenant reads its subscription ({own}); a stranger gets {stranger}"),
        json!({ "own": own.as_u16(), "stranger": stranger.as_u16() }),
    );

    // Enable DR runs: every VM protected, the mirror on stamp B, then a new VM by event.
    let quiet = summary.quiet;
    protection::watch_enablement(running, tenant.subscription_id, quiet, summary).await?;
    protection::check_mirror(
        &wap_admin(&stamps[1], &http, &retry)?,
        tenant.subscription_id,
        summary,
    )
    .await?;
    protection::protect_new_vm(
        running,
        &spf_client(&stamps[0], &http, &retry)?,
        stamps[0].stamp_id,
        gold.cloud_id,
        tenant.subscription_id,
        &admin_id,
        summary,
    )
    .await?;
    failover::fail_over_and_back(running, tenant.subscription_id, summary).await?;
    Ok(())
}

/// Stamp A's side of the pair the provider set up, and wapdr's ids of the stamps.
pub(crate) struct PrimarySide {
    /// The plan on stamp A.
    pub(crate) plan_id: String,
    /// The cloud on stamp A.
    pub(crate) cloud_id: uuid::Uuid,
    /// wapdr's ids of the stamps, in the lab's order.
    pub(crate) stamp_ids: Vec<String>,
}

/// Flow 1 of DESIGN.md through wapdr's admin API: register both stamps, verify them, create a
/// replication policy and pair stamp A's Gold plan and cloud with stamp B's, until the vault says
/// Paired.
pub(crate) async fn provider_setup(
    lab: &LabAccess,
    running: &Running,
    summary: &mut Summary,
) -> anyhow::Result<PrimarySide> {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .build()?;
    let (user, password) = running.secrets.admin.clone();
    let admin = |method: reqwest::Method, path: &str| {
        client
            .request(method, format!("{}/admin{path}", running.url()))
            .basic_auth(&user, Some(password.expose_secret()))
    };
    let mut stamp_ids = Vec::new();
    for stamp in &lab.stamps {
        let created = admin(reqwest::Method::POST, "/stamps")
            .json(&json!({
                "Name": stamp.name,
                "SpfUrl": format!("{}{SPF_SERVICE}", stamp.spf),
                "SpfUsername": stamp.spf_username,
                "SpfPassword": stamp.spf_password,
                "WapAdminUrl": stamp.wap_admin,
                "WapAdminToken": stamp.wap_admin_token,
                "TenantPortalUrl": stamp.tenant_portal,
            }))
            .send()
            .await?;
        let status = created.status();
        let body: Value = created.json().await.unwrap_or(Value::Null);
        ensure!(
            status.is_success(),
            "registering stamp {} was refused ({status}): {body}",
            stamp.name
        );
        let id = body["Id"].as_str().context("a stamp id")?.to_owned();
        let report: Value = admin(reqwest::Method::POST, &format!("/stamps/{id}/verify"))
            .send()
            .await?
            .json()
            .await?;
        ensure!(
            report["Ok"] == true,
            "stamp {} did not verify: {report}",
            stamp.name
        );
        stamp_ids.push(id);
    }
    summary.step(
        "stamps",
        format!(
            "stamps {} registered with wapdr and verified (SPF, WAP admin API, vault)",
            names(&lab.stamps)
        ),
        json!({ "stamps": stamp_ids }),
    );

    let policy = admin(reqwest::Method::POST, "/policies")
        .json(&json!({ "Name": "gold-5min", "CopyFrequencySeconds": 300, "RecoveryPoints": 4 }))
        .send()
        .await?;
    ensure!(
        policy.status().is_success(),
        "the policy was refused: {}",
        policy.text().await?
    );

    let (paired, primary) = pair_cloud(
        &protection::Admin::new(running)?,
        &stamp_ids,
        "Gold",
        "gold-5min",
    )
    .await?;
    summary.step(
        "pair",
        "Gold on stamp A paired with Gold on stamp B through a pair_clouds job: the vault says Paired".to_owned(),
        paired,
    );
    Ok(PrimarySide {
        stamp_ids,
        ..primary
    })
}

/// Pairs the cloud named `cloud` (and the plan bound to it) on the first stamp with the one on
/// the second through wapdr's admin API, and waits until the vault says Paired; the pair as
/// wapdr shows it, and the first stamp's side.
pub(crate) async fn pair_cloud(
    admin: &protection::Admin<'_>,
    stamp_ids: &[String],
    cloud: &str,
    policy: &str,
) -> anyhow::Result<(Value, PrimarySide)> {
    // The cloud of each stamp and the plan bound to it, from wapdr's live inventory.
    let mut sides = Vec::new();
    for id in stamp_ids {
        let clouds = admin
            .call(reqwest::Method::GET, &format!("/stamps/{id}/clouds"), None)
            .await?;
        let found = clouds
            .as_array()
            .and_then(|c| {
                c.iter()
                    .find(|c| c["Name"].as_str().is_some_and(|n| n.contains(cloud)))
            })
            .with_context(|| format!("a {cloud} cloud"))?["Id"]
            .clone();
        let plans = admin
            .call(reqwest::Method::GET, &format!("/stamps/{id}/plans"), None)
            .await?;
        let plan = plans
            .as_array()
            .and_then(|p| p.iter().find(|p| p["CloudId"] == found))
            .with_context(|| format!("a plan bound to the {cloud} cloud"))?["Id"]
            .clone();
        sides.push(json!({ "StampId": id, "PlanId": plan, "CloudId": found }));
    }
    ensure!(sides.len() >= 2, "pairing needs two stamps");
    let pair = admin
        .call(
            reqwest::Method::POST,
            "/cloud-pairs",
            Some(json!({ "Primary": sides[0], "Recovery": sides[1], "Policy": policy })),
        )
        .await?;
    let pair_id = pair["Id"].as_str().context("a pair id")?.to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    let paired = loop {
        let now = admin
            .call(
                reqwest::Method::GET,
                &format!("/cloud-pairs/{pair_id}"),
                None,
            )
            .await?;
        match now["State"].as_str() {
            Some("Paired") => break now,
            Some("Failed") => bail!("the vault refused the pairing: {}", now["Error"]),
            _ if Instant::now() > deadline => {
                bail!("the pairing did not finish within a minute: {now}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let primary = PrimarySide {
        plan_id: sides[0]["PlanId"].as_str().context("a plan id")?.to_owned(),
        cloud_id: sides[0]["CloudId"]
            .as_str()
            .and_then(|c| uuid::Uuid::parse_str(c).ok())
            .context("a cloud id")?,
        stamp_ids: stamp_ids.to_vec(),
    };
    Ok((paired, primary))
}

fn names(stamps: &[StampAccess]) -> String {
    stamps
        .iter()
        .map(|s| s.name.as_str())
        .collect::<Vec<_>>()
        .join(" and ")
}

fn spf_client(
    stamp: &StampAccess,
    http: &HttpSettings,
    retry: &RetryPolicy,
) -> anyhow::Result<SpfClient> {
    Ok(SpfClient::new(
        &format!("{}{SPF_SERVICE}", stamp.spf),
        &stamp.spf_username,
        SecretString::from(stamp.spf_password.clone()),
        http,
        retry.clone(),
    )?
    .named(&format!("SPF stamp {}", stamp.name)))
}

fn wap_admin(
    stamp: &StampAccess,
    http: &HttpSettings,
    retry: &RetryPolicy,
) -> anyhow::Result<WapAdminClient> {
    Ok(WapAdminClient::new(
        &stamp.wap_admin,
        SecretString::from(stamp.wap_admin_token.clone()),
        "admin@provider.local",
        http,
        retry.clone(),
    )?)
}
