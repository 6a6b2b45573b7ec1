//! wapdr's real fabric clients pointed at a lab on random ports, and the lab's control API.

#![allow(dead_code)]

use std::time::Duration;

use secrecy::SecretString;
use serde_json::{Value, json};
use wapdr::fabric::asr::{AsrEngine, AsrSettings};
use wapdr::fabric::replication::PollLimits;
use wapdr::fabric::{HttpSettings, RetryPolicy, SpfClient, WapAdminClient};
use wapdr::lab::{Lab, LabConfig, LabHandle, WorldKind};

/// The OData service root under a stamp's SPF base URL.
pub const SPF_SERVICE: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc/";

/// A small-world lab with a fast clock: one lab minute per 0.1 s.
pub async fn small_lab() -> LabHandle {
    let mut config = LabConfig {
        world: WorldKind::Small,
        ..LabConfig::default()
    };
    config.knobs.acceleration = 600.0;
    config.knobs.operation_seconds = 60.0;
    config.knobs.vm_create_seconds = 60.0;
    Lab::start(config).await.expect("lab starts")
}

/// Short timeouts and quick retries: the lab is local.
pub fn http() -> HttpSettings {
    HttpSettings {
        connect_timeout: Duration::from_secs(2),
        request_timeout: Duration::from_secs(10),
        ca_bundle: None,
    }
}

/// Enough quick retries to ride out the error-rate knob.
pub fn retries() -> RetryPolicy {
    RetryPolicy::new(8, Duration::from_millis(5), Duration::from_millis(50))
}

/// The SPF client of stamp `index` (0 = A).
pub fn spf(lab: &LabHandle, index: usize) -> SpfClient {
    let stamp = &lab.stamps()[index];
    SpfClient::new(
        &format!("{}{SPF_SERVICE}", stamp.spf),
        &stamp.spf_username,
        SecretString::from(stamp.spf_password.clone()),
        &http(),
        retries(),
    )
    .expect("SPF client")
    .named(&format!("SPF stamp {}", stamp.name))
}

/// The WAP admin API client of stamp `index`.
pub fn wap_admin(lab: &LabHandle, index: usize) -> WapAdminClient {
    let stamp = &lab.stamps()[index];
    WapAdminClient::new(
        &stamp.wap_admin,
        SecretString::from(stamp.wap_admin_token.clone()),
        "admin@provider.local",
        &http(),
        retries(),
    )
    .expect("WAP admin client")
}

/// The ASR engine behind the lab's vault and token endpoint.
pub fn asr(lab: &LabHandle) -> AsrEngine {
    let access = lab.asr();
    AsrEngine::new(
        AsrSettings {
            arm_url: access.arm.clone(),
            login_url: lab.token().to_owned(),
            tenant_id: access.tenant_id.to_string(),
            client_id: access.client_id.to_string(),
            client_secret: SecretString::from(access.client_secret.clone()),
            subscription_id: access.subscription_id.to_string(),
            resource_group: access.resource_group.clone(),
            vault: access.vault.clone(),
            api_version: "2025-08-01".into(),
            setup_timeout: Duration::from_secs(30),
            poll: PollLimits {
                min_interval: Duration::from_millis(20),
                max_interval: Duration::from_millis(200),
            },
        },
        &http(),
        retries(),
    )
    .expect("ASR engine")
}

/// Changes lab knobs through the control API (a partial JSON object).
pub async fn set_knobs(lab: &LabHandle, knobs: Value) {
    let response = reqwest::Client::new()
        .put(format!("{}/lab/knobs", lab.control()))
        .json(&knobs)
        .send()
        .await
        .expect("control API");
    assert!(
        response.status().is_success(),
        "knobs {knobs}: {}",
        response.status()
    );
}

/// Cuts stamp `name` off, or brings it back.
pub async fn set_outage(lab: &LabHandle, name: &str, down: bool) {
    let response = reqwest::Client::new()
        .post(format!("{}/lab/stamps/{name}/outage", lab.control()))
        .json(&json!({ "down": down }))
        .send()
        .await
        .expect("control API");
    assert!(
        response.status().is_success(),
        "outage {name}: {}",
        response.status()
    );
}

/// Requests the lab received per service (`A/spf`, `A/wap_admin`, `asr`, `token`).
pub async fn calls(lab: &LabHandle) -> Value {
    reqwest::get(format!("{}/lab/calls", lab.control()))
        .await
        .expect("control API")
        .json()
        .await
        .expect("calls JSON")
}

/// ASR item operations the lab counts (`{control}/lab/operations`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsrOperations {
    /// Submitted and not ended now: waiting for a slot or running.
    pub outstanding: u64,
    /// The most outstanding at once since the last reset, exact in lab time.
    pub peak_outstanding: u64,
}

impl AsrOperations {
    fn from_answer(answer: &Value) -> Self {
        let count = |name: &str| {
            answer["asr_operations"][name]
                .as_u64()
                .unwrap_or_else(|| panic!("{name} in {answer}"))
        };
        AsrOperations {
            outstanding: count("outstanding"),
            peak_outstanding: count("peak_outstanding"),
        }
    }
}

/// The ASR item operations outstanding now and their peak since the last reset.
pub async fn asr_operations(lab: &LabHandle) -> AsrOperations {
    let answer: Value = reqwest::get(format!("{}/lab/operations", lab.control()))
        .await
        .expect("control API")
        .json()
        .await
        .expect("operations JSON");
    AsrOperations::from_answer(&answer)
}

/// Starts a new measurement of ASR item operations (the peak restarts from what is outstanding).
pub async fn reset_asr_operations(lab: &LabHandle) -> AsrOperations {
    let answer: Value = reqwest::Client::new()
        .delete(format!("{}/lab/operations", lab.control()))
        .send()
        .await
        .expect("control API")
        .json()
        .await
        .expect("operations JSON");
    AsrOperations::from_answer(&answer)
}
