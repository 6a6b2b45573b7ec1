//! The demo's DR enablement act (DESIGN.md flows 2–3): after WAP tells wapdr that a tenant took
//! the DR add-on, watch every VM get protected (a progress bar), check the mirror subscription on
//! the recovery stamp, then create a new VM for the tenant and time how long it takes to be
//! protected after the VM-created event.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use indicatif::{ProgressBar, ProgressStyle};
use secrecy::ExposeSecret as _;
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::app::Running;
use wapdr::domain::SubscriptionId;
use wapdr::fabric::spf::{NewVm, Owner};
use wapdr::fabric::{SpfClient, WapAdminClient};

use super::Summary;

/// How long the demo waits for the tenant's VMs to be protected.
const PROTECTION_DEADLINE: Duration = Duration::from_secs(180);

/// A case-insensitive member of a JSON object (wapdr answers in PascalCase; be tolerant).
pub(super) fn member<'a>(value: &'a Value, name: &str) -> &'a Value {
    value
        .as_object()
        .and_then(|o| {
            o.iter()
                .find(|(k, _)| k.eq_ignore_ascii_case(name))
                .map(|(_, v)| v)
        })
        .unwrap_or(&Value::Null)
}

/// A case-insensitive text member (empty when absent).
pub(super) fn text<'a>(value: &'a Value, name: &str) -> &'a str {
    member(value, name).as_str().unwrap_or_default()
}

/// The admin API of the running wapdr, as a provider's script would call it.
pub(crate) struct Admin<'a> {
    client: reqwest::Client,
    running: &'a Running,
}

impl<'a> Admin<'a> {
    /// The admin API of `running`.
    pub(crate) fn new(running: &'a Running) -> anyhow::Result<Self> {
        Ok(Self {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()?,
            running,
        })
    }

    /// One admin call; a non-success answer is an error quoting it.
    pub(crate) async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> anyhow::Result<Value> {
        let (user, password) = &self.running.secrets.admin;
        let mut request = self
            .client
            .request(
                method.clone(),
                format!("{}/admin{path}", self.running.url()),
            )
            .basic_auth(user, Some(password.expose_secret()));
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await?;
        let status = response.status();
        let body: Value = response.json().await.unwrap_or(Value::Null);
        ensure!(
            status.is_success(),
            "{method} /admin{path} answered {status}: {body}"
        );
        Ok(body)
    }

    /// One admin `GET` answered with text (an HTML report); a non-success answer is an error.
    pub(super) async fn text(&self, path: &str) -> anyhow::Result<String> {
        let (user, password) = &self.running.secrets.admin;
        let response = self
            .client
            .get(format!("{}/admin{path}", self.running.url()))
            .basic_auth(user, Some(password.expose_secret()))
            .send()
            .await?;
        let status = response.status();
        let body = response.text().await?;
        ensure!(
            status.is_success(),
            "GET /admin{path} answered {status}: {body}"
        );
        Ok(body)
    }

    pub(super) async fn vms(&self, subscription: SubscriptionId) -> anyhow::Result<Vec<Value>> {
        let body = self
            .call(
                reqwest::Method::GET,
                &format!("/subscriptions/{subscription}/vms"),
                None,
            )
            .await?;
        Ok(body.as_array().cloned().unwrap_or_default())
    }

    /// The subscription's DR status (phase, message, stamps, counts).
    pub(super) async fn dr(&self, subscription: SubscriptionId) -> anyhow::Result<Value> {
        self.call(
            reqwest::Method::GET,
            &format!("/subscriptions/{subscription}/dr"),
            None,
        )
        .await
    }
}

/// Counts VM records by state.
fn by_state(vms: &[Value]) -> BTreeMap<String, u64> {
    let mut counts = BTreeMap::new();
    for vm in vms {
        *counts.entry(text(vm, "State").to_owned()).or_insert(0) += 1;
    }
    counts
}

/// Whether a VM needs nothing more from enablement: protected, or reported as left out.
fn settled(vm: &Value) -> bool {
    matches!(
        text(vm, "State"),
        "Protected" | "Excluded" | "OverQuota" | "Unprotectable"
    )
}

/// Watches enablement to its end with a progress bar; returns the VM records.
pub async fn watch_enablement(
    running: &Running,
    subscription: SubscriptionId,
    quiet: bool,
    summary: &mut Summary,
) -> anyhow::Result<Vec<Value>> {
    let admin = Admin::new(running)?;
    let started = Instant::now();
    let bar = if quiet {
        ProgressBar::hidden()
    } else {
        ProgressBar::new(0)
    };
    bar.set_style(
        ProgressStyle::with_template("  {spinner} protecting VMs [{bar:30}] {pos}/{len} {msg}")?
            .progress_chars("=> "),
    );
    let vms = loop {
        let vms = admin.vms(subscription).await?;
        let dr = admin.dr(subscription).await?;
        let phase = text(&dr, "Phase").to_owned();
        bar.set_length(vms.len() as u64);
        bar.set_position(vms.iter().filter(|v| settled(v)).count() as u64);
        bar.set_message(format!("{:?}, DR {phase}", by_state(&vms)));
        bar.tick();
        if phase == "Failed" {
            bar.abandon();
            bail!("enablement failed: {}", member(&dr, "Message"));
        }
        if !vms.is_empty() && vms.iter().all(settled) && phase == "Enabled" {
            break vms;
        }
        ensure!(
            started.elapsed() < PROTECTION_DEADLINE,
            "the VMs were not protected within {PROTECTION_DEADLINE:?}: {:?}",
            by_state(&vms)
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    bar.finish_and_clear();
    let counts = by_state(&vms);
    let protected = counts.get("Protected").copied().unwrap_or(0);
    ensure!(protected > 0, "no VM was protected: {counts:?}");
    ensure!(
        vms.iter()
            .filter(|v| text(v, "State") == "Protected")
            .all(|v| !member(v, "ReplicaVmId").is_null()),
        "a protected VM has no replica"
    );
    let seconds = started.elapsed().as_secs_f64();
    summary.step(
        "protect",
        format!(
            "enable DR: {protected} of {} VMs protected, each with its replica on stamp B, in {seconds:.1}s ({counts:?})",
            vms.len()
        ),
        json!({ "vms": vms.len(), "byState": counts, "seconds": round(seconds) }),
    );
    summary.figure("vms", json!(vms.len()));
    summary.figure("protected", json!(protected));
    summary.figure("byState", json!(counts));
    summary.figure("secondsToProtectAll", json!(round(seconds)));
    Ok(vms)
}

/// Checks the mirror subscription on the recovery stamp: the same id, suspended, with its owner.
pub async fn check_mirror(
    recovery: &WapAdminClient,
    subscription: SubscriptionId,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let mirror = recovery
        .get_subscription(subscription)
        .await?
        .context("stamp B's WAP has no mirror subscription with the same id")?;
    let state = format!("{:?}", mirror.state);
    ensure!(
        state.contains("Suspended"),
        "the mirror subscription should be suspended until a failover, it is {state}"
    );
    summary.step(
        "mirror",
        format!(
            "stamp B's WAP holds subscription {subscription} for {} on plan {} ({state}) until a failover",
            mirror.account_admin_live_email_id.clone().unwrap_or_default(),
            mirror.plan_id.as_deref().unwrap_or("?")
        ),
        json!({ "plan": mirror.plan_id, "state": state }),
    );
    Ok(())
}

/// Creates a VM for the tenant on stamp A, sends the VM-created event as SPF/SMA would, and
/// times creation → protection requested → protected.
pub async fn protect_new_vm(
    running: &Running,
    spf: &SpfClient,
    spf_stamp_id: Uuid,
    cloud_id: Uuid,
    subscription: SubscriptionId,
    owner: &str,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let admin = Admin::new(running)?;
    let created_at = Instant::now();
    let vm = spf
        .create_vm(&NewVm {
            stamp_id: spf_stamp_id,
            cloud_id,
            name: "web-new-01".into(),
            owner: Some(Owner {
                user_name: Some(owner.to_owned()),
                role_name: Some(format!("{owner}_{subscription}")),
                role_id: Some(subscription.as_uuid()),
            }),
            cpu_count: Some(2),
            memory: Some(4096),
            total_size: Some(20 * 1024 * 1024 * 1024),
            ..NewVm::default()
        })
        .await
        .context("creating a new VM for the tenant on stamp A")?;
    admin
        .call(
            reqwest::Method::POST,
            "/events/vms",
            Some(json!({ "Event": "created", "StampId": spf_stamp_id, "VmId": vm.id })),
        )
        .await
        .context("sending the VM-created event")?;
    let mut requested = None;
    let protected = loop {
        let vms = admin.vms(subscription).await?;
        let record = vms
            .iter()
            .find(|v| text(v, "Id").eq_ignore_ascii_case(&vm.id.to_string()));
        let state = record.map(|r| text(r, "State")).unwrap_or("unseen");
        if requested.is_none() && matches!(state, "Enabling" | "Protected") {
            requested = Some(created_at.elapsed().as_secs_f64());
        }
        if state == "Protected" {
            break created_at.elapsed().as_secs_f64();
        }
        ensure!(
            !matches!(state, "Unprotectable" | "Failed" | "OverQuota" | "Excluded"),
            "the new VM was not protected: {record:?}"
        );
        ensure!(
            created_at.elapsed() < PROTECTION_DEADLINE,
            "the new VM was not protected within {PROTECTION_DEADLINE:?} (state {state})"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let requested = requested.unwrap_or(protected);
    summary.step(
        "new-vm",
        format!(
            "a new VM '{}' on stamp A: protection requested {requested:.1}s and replicating {protected:.1}s after its creation (VM-created event)",
            vm.name
        ),
        json!({ "vm": vm.id, "secondsToRequested": round(requested), "secondsToProtected": round(protected) }),
    );
    summary.figure("newVmSecondsToProtectionRequested", json!(round(requested)));
    summary.figure("newVmSecondsToProtected", json!(round(protected)));
    Ok(())
}

fn round(seconds: f64) -> f64 {
    (seconds * 1000.0).round() / 1000.0
}
