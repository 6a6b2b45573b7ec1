//! Test support for the lab's black-box tests: start a lab on port 0 and talk to it with plain
//! reqwest, the way any client would (no wapdr client code here: those are tested elsewhere).

#![allow(dead_code)]

use reqwest::{Client, Response};
use serde_json::{Value, json};
use wapdr::lab::{Lab, LabConfig, LabHandle, WorldKind};

/// The SPF OData service path.
pub const SVC: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc/";

/// A lab on random ports with the given world, fast operations and a fast clock.
pub async fn start(world: WorldKind) -> LabHandle {
    let mut config = LabConfig {
        world,
        ..LabConfig::default()
    };
    config.knobs.acceleration = 600.0;
    config.knobs.operation_seconds = 60.0;
    config.knobs.vm_create_seconds = 120.0;
    start_with(config).await
}

/// A lab with an explicit configuration.
pub async fn start_with(config: LabConfig) -> LabHandle {
    Lab::start(config).await.expect("lab starts")
}

/// A client that keeps no connections, so an outage is seen at once.
pub fn client() -> Client {
    Client::builder()
        .pool_max_idle_per_host(0)
        .build()
        .expect("client")
}

/// `GET {spf}{SVC}{path}` with Basic auth and the given Accept.
pub async fn spf_get(lab: &LabHandle, stamp: usize, path: &str, accept: Option<&str>) -> Response {
    let s = &lab.stamps()[stamp];
    let mut request = client()
        .get(format!("{}{SVC}{path}", s.spf))
        .basic_auth(&s.spf_username, Some(&s.spf_password));
    if let Some(accept) = accept {
        request = request.header("Accept", accept);
    }
    request.send().await.expect("spf reachable")
}

/// `GET` as minimal-metadata JSON, asserting 200.
pub async fn spf_json(lab: &LabHandle, stamp: usize, path: &str) -> Value {
    let response = spf_get(
        lab,
        stamp,
        path,
        Some("application/json;odata=minimalmetadata"),
    )
    .await;
    let status = response.status();
    let body: Value = response.json().await.expect("json");
    assert_eq!(status, 200, "GET {path}: {body}");
    body
}

/// A write to SPF with a JSON body.
pub async fn spf_send(
    lab: &LabHandle,
    stamp: usize,
    method: &str,
    path: &str,
    body: Value,
) -> Response {
    let s = &lab.stamps()[stamp];
    client()
        .request(
            method.parse().expect("method"),
            format!("{}{SVC}{path}", s.spf),
        )
        .basic_auth(&s.spf_username, Some(&s.spf_password))
        .header("Accept", "application/json;odata=minimalmetadata")
        .json(&body)
        .send()
        .await
        .expect("spf reachable")
}

/// A WAP admin API call with the stamp's token.
pub async fn wap(
    lab: &LabHandle,
    stamp: usize,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> Response {
    let s = &lab.stamps()[stamp];
    let mut request = client()
        .request(
            method.parse().expect("method"),
            format!("{}/{path}", s.wap_admin),
        )
        .bearer_auth(&s.wap_admin_token)
        .header("x-ms-principal-id", "admin");
    if let Some(body) = body {
        request = request.json(&body);
    }
    request.send().await.expect("wap reachable")
}

/// A control API call.
pub async fn control(lab: &LabHandle, method: &str, path: &str, body: Option<Value>) -> Value {
    let mut request = client().request(
        method.parse().expect("method"),
        format!("{}{path}", lab.control()),
    );
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("control reachable");
    assert!(
        response.status().is_success(),
        "control {path}: {}",
        response.status()
    );
    response.json().await.expect("json")
}

/// Jumps lab time forward.
pub async fn advance(lab: &LabHandle, seconds: f64) {
    control(
        lab,
        "POST",
        "/lab/clock/advance",
        Some(json!({"seconds": seconds})),
    )
    .await;
}

/// The key URL of a VM on stamp `stamp`.
pub fn vm_key(lab: &LabHandle, stamp: usize, id: &str) -> String {
    format!(
        "VirtualMachines(ID=guid'{id}',StampId=guid'{}')",
        lab.stamps()[stamp].stamp_id
    )
}
