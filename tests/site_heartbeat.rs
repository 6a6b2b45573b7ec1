//! The site heartbeat end to end on a small lab, with both stamps registered through the admin
//! API: every stamp Up after a run; stamp A cut off for real is Degraded at once and Down after
//! `missed_before_alert` runs while B stays Up; one alert per change reaches the provider's
//! webhook, and one more when A is back; the history lists the probes newest first; the
//! AutoFailover opt-in round-trips through the stamps API; bad queries are WAP errors.

mod common;

use std::time::{Duration, Instant};

use common::alerts::{Received, alert_sink};
use common::app::{Backend, TestApp};
use common::dr::admin;
use common::dr_api::{leaf, xml_leaves};
use common::lab::{set_outage, small_lab};
use common::setup::{asr_section, register_lab_stamps, stamp_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::lab::LabHandle;

on_both_backends!(
    every_registered_stamp_is_up_after_a_heartbeat_and_a_healthy_start_raises_no_alert,
    a_stamp_cut_off_is_degraded_then_down_and_up_again_with_one_alert_per_change,
    heartbeats_running_at_once_record_every_probe_and_alert_a_change_once,
    the_history_lists_probes_newest_first_within_limit_and_since,
    stamps_never_probed_show_verdict_unknown,
    auto_failover_round_trips_through_the_stamps_api_and_reaches_the_heartbeat,
    bad_health_queries_are_wap_errors_and_unknown_stamps_are_not_found,
);

/// A lab, wapdr with its vault and an alert sink, and both lab stamps registered.
struct World {
    app: TestApp,
    lab: LabHandle,
    a: String,
    b: String,
    alerts: Received,
}

async fn world(backend: Backend) -> Option<World> {
    let lab = small_lab().await;
    let (hook, alerts) = alert_sink().await;
    let extra = format!(
        "{}\n[alerts]\nwebhook_url = \"{hook}\"\n",
        asr_section(&lab)
    );
    let app = TestApp::start_configured(backend, wapdr::app::workflows(), &extra).await?;
    // The heartbeat runs when a test starts it, not on a schedule tick mid-test.
    let (status, view) = admin(
        &app,
        Method::PUT,
        "/runbooks/site-heartbeat",
        Some(json!({"schedule": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    let (a, b) = register_lab_stamps(&app, &lab).await;
    Some(World {
        app,
        lab,
        a,
        b,
        alerts,
    })
}

/// Starts the site-heartbeat runbook with `parameters` and waits for its job to succeed; the
/// per-stamp outputs.
async fn heartbeat(w: &World, parameters: Value) -> Vec<Value> {
    let id = start_heartbeat(w, parameters).await;
    outputs_of(w, &id).await
}

/// Starts the site-heartbeat runbook with `parameters`; its job id.
async fn start_heartbeat(w: &World, parameters: Value) -> String {
    let (status, job) = admin(
        &w.app,
        Method::POST,
        "/runbooks/site-heartbeat/start",
        Some(json!({ "parameters": parameters })),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    job["Id"].as_str().unwrap().to_owned()
}

/// Waits for heartbeat job `id` to succeed; the per-stamp outputs.
async fn outputs_of(w: &World, id: &str) -> Vec<Value> {
    let deadline = Instant::now() + Duration::from_secs(60);
    let job = loop {
        let (_, job) = admin(&w.app, Method::GET, &format!("/jobs/{id}"), None).await;
        if matches!(
            job["State"].as_str(),
            Some("Succeeded" | "Failed" | "Cancelled")
        ) {
            break job;
        }
        assert!(Instant::now() < deadline, "the heartbeat did not end");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(job["State"], "Succeeded", "{job:#}");
    job["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Kind"] == "probe_stamp")
        .map(|s| serde_json::from_str(s["Output"].as_str().unwrap()).unwrap())
        .collect()
}

/// The output of `stamp` among a heartbeat's outputs.
fn of<'a>(outputs: &'a [Value], stamp: &str) -> &'a Value {
    outputs
        .iter()
        .find(|o| o["stampId"] == stamp)
        .unwrap_or_else(|| panic!("no output for {stamp}: {outputs:#?}"))
}

/// `GET /admin/stamps/{id}/health` with `query`.
async fn health(w: &World, stamp: &str, query: &str) -> (StatusCode, Value) {
    admin(
        &w.app,
        Method::GET,
        &format!("/stamps/{stamp}/health{query}"),
        None,
    )
    .await
}

fn alerts(w: &World) -> Vec<Value> {
    w.alerts.lock().unwrap().clone()
}

const THREE: fn() -> Value = || json!({"missed_before_alert": 3});

async fn every_registered_stamp_is_up_after_a_heartbeat_and_a_healthy_start_raises_no_alert(
    backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let outputs = heartbeat(&w, json!({})).await;
    assert_eq!(outputs.len(), 2, "{outputs:#?}");
    for (stamp, name) in [(&w.a, "A"), (&w.b, "B")] {
        assert_eq!(
            of(&outputs, stamp),
            &json!({
                "stampId": stamp, "name": name, "verdict": "Up", "previousVerdict": null,
                "changed": false, "consecutiveMisses": 0, "autoFailover": false,
            })
        );
    }
    let (status, all) = admin(&w.app, Method::GET, "/site-health", None).await;
    assert_eq!(status, StatusCode::OK);
    let verdicts: Vec<&str> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["Verdict"].as_str().unwrap())
        .collect();
    assert_eq!(verdicts, ["Up", "Up"], "{all:#}");
    let (_, a) = health(&w, &w.a, "").await;
    assert_eq!(a["Verdict"], "Up");
    assert_eq!(a["ConsecutiveMisses"], 0);
    let services = a["Services"].as_array().unwrap();
    let names: Vec<&str> = services
        .iter()
        .map(|s| s["Service"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["SPF", "WAP admin API", "Replication engine"]);
    for service in services {
        assert_eq!(service["Ok"], true, "{service}");
        assert_eq!(service["Reachable"], true, "{service}");
        assert_eq!(service["CredentialsAccepted"], true, "{service}");
        assert!(service["LatencyMs"].is_i64(), "{service}");
    }
    // Stamp A's VMM stamp id was found by the heartbeat and kept, as verify keeps it.
    let (_, stamp) = admin(&w.app, Method::GET, &format!("/stamps/{}", w.a), None).await;
    assert_eq!(
        stamp["SpfStampId"],
        w.lab.stamps()[0].stamp_id.to_string(),
        "{stamp}"
    );
    assert!(alerts(&w).is_empty(), "{:#?}", alerts(&w));
}

async fn a_stamp_cut_off_is_degraded_then_down_and_up_again_with_one_alert_per_change(
    backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    heartbeat(&w, THREE()).await;
    set_outage(&w.lab, "A", true).await;

    let first = heartbeat(&w, THREE()).await;
    let a = of(&first, &w.a);
    assert_eq!(
        (&a["verdict"], &a["previousVerdict"], &a["changed"]),
        (&json!("Degraded"), &json!("Up"), &json!(true))
    );
    assert_eq!(a["consecutiveMisses"], 1);
    assert_eq!(of(&first, &w.b)["verdict"], "Up");
    assert_eq!(of(&first, &w.b)["changed"], false);
    let (_, detail) = health(&w, &w.a, "").await;
    let services = detail["Services"].as_array().unwrap();
    assert_eq!(services[0]["Reachable"], false, "SPF: {detail:#}");
    assert_eq!(services[1]["Reachable"], false, "WAP: {detail:#}");
    assert_eq!(
        services[2]["Ok"], true,
        "the vault still knows A: {detail:#}"
    );
    let sent = alerts(&w);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["Kind"], "SiteHealth");
    assert_eq!(sent[0]["StampId"], w.a.as_str());
    assert_eq!(sent[0]["StampName"], "A");
    assert_eq!(sent[0]["Verdict"], "Degraded");
    assert_eq!(sent[0]["PreviousVerdict"], "Up");
    assert!(
        sent[0]["Reason"].as_str().unwrap().contains("unreachable"),
        "{}",
        sent[0]
    );
    assert!(sent[0]["DetectedAt"].is_string() && sent[0]["AlertId"].is_string());

    let second = heartbeat(&w, THREE()).await;
    let a = of(&second, &w.a);
    assert_eq!(
        (&a["verdict"], &a["changed"], &a["consecutiveMisses"]),
        (&json!("Degraded"), &json!(false), &json!(2))
    );
    assert_eq!(alerts(&w).len(), 1, "no alert while the verdict stays");

    let third = heartbeat(&w, THREE()).await;
    let a = of(&third, &w.a);
    assert_eq!(
        (&a["verdict"], &a["previousVerdict"], &a["changed"]),
        (&json!("Down"), &json!("Degraded"), &json!(true))
    );
    assert_eq!(a["consecutiveMisses"], 3);
    assert_eq!(of(&third, &w.b)["verdict"], "Up");
    let sent = alerts(&w);
    assert_eq!(sent.len(), 2, "{sent:#?}");
    assert_eq!(
        (&sent[1]["Verdict"], &sent[1]["PreviousVerdict"]),
        (&json!("Down"), &json!("Degraded"))
    );
    assert_ne!(sent[1]["AlertId"], sent[0]["AlertId"]);

    let fourth = heartbeat(&w, THREE()).await;
    assert_eq!(of(&fourth, &w.a)["verdict"], "Down");
    assert_eq!(of(&fourth, &w.a)["changed"], false);
    assert_eq!(alerts(&w).len(), 2, "Down stays Down without a new alert");
    let (_, all) = admin(&w.app, Method::GET, "/site-health", None).await;
    let down = all
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["StampId"] == w.a.as_str())
        .unwrap();
    assert_eq!(down["Verdict"], "Down");
    assert_eq!(down["PreviousVerdict"], "Degraded");
    assert_eq!(down["ConsecutiveMisses"], 4);

    set_outage(&w.lab, "A", false).await;
    let back = heartbeat(&w, THREE()).await;
    let a = of(&back, &w.a);
    assert_eq!(
        (&a["verdict"], &a["previousVerdict"], &a["changed"]),
        (&json!("Up"), &json!("Down"), &json!(true))
    );
    assert_eq!(a["consecutiveMisses"], 0);
    let sent = alerts(&w);
    assert_eq!(sent.len(), 3, "{sent:#?}");
    assert_eq!(
        (&sent[2]["Verdict"], &sent[2]["PreviousVerdict"]),
        (&json!("Up"), &json!("Down"))
    );
    assert!(
        sent.iter().all(|s| s["StampId"] == w.a.as_str()),
        "B never alerted"
    );

    // Every probe is in A's history, newest first.
    let (status, detail) = health(&w, &w.a, "").await;
    assert_eq!(status, StatusCode::OK);
    let verdicts: Vec<&str> = detail["History"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["Verdict"].as_str().unwrap())
        .collect();
    assert_eq!(
        verdicts,
        ["Up", "Down", "Down", "Degraded", "Degraded", "Up"]
    );
}

async fn heartbeats_running_at_once_record_every_probe_and_alert_a_change_once(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    heartbeat(&w, THREE()).await;
    set_outage(&w.lab, "A", true).await;
    // Two heartbeats at once (a manual start beside a tick, or two instances): both see A cut off.
    let (one, two) = tokio::join!(start_heartbeat(&w, THREE()), start_heartbeat(&w, THREE()));
    let (one, two) = tokio::join!(outputs_of(&w, &one), outputs_of(&w, &two));
    let mine = [of(&one, &w.a), of(&two, &w.a)];
    let changed = mine.iter().filter(|o| o["changed"] == true).count();
    assert_eq!(changed, 1, "one of them records the change: {mine:#?}");
    let mut misses: Vec<i64> = mine
        .iter()
        .map(|o| o["consecutiveMisses"].as_i64().unwrap())
        .collect();
    misses.sort_unstable();
    assert_eq!(misses, [1, 2], "neither probe is lost: {mine:#?}");
    let sent = alerts(&w);
    assert_eq!(sent.len(), 1, "{sent:#?}");
    assert_eq!(sent[0]["Verdict"], "Degraded");
    let (_, detail) = health(&w, &w.a, "").await;
    assert_eq!(detail["History"].as_array().unwrap().len(), 3, "{detail:#}");
    assert_eq!(detail["ConsecutiveMisses"], 2);
}

async fn the_history_lists_probes_newest_first_within_limit_and_since(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    heartbeat(&w, json!({})).await;
    set_outage(&w.lab, "A", true).await;
    heartbeat(&w, json!({})).await;
    set_outage(&w.lab, "A", false).await;
    heartbeat(&w, json!({})).await;

    let (_, all) = health(&w, &w.a, "").await;
    let history = all["History"].as_array().unwrap();
    assert_eq!(history.len(), 3, "{all:#}");
    let times: Vec<&str> = history
        .iter()
        .map(|p| p["ProbedAt"].as_str().unwrap())
        .collect();
    let mut sorted = times.clone();
    sorted.sort_by(|x, y| y.cmp(x));
    assert_eq!(times, sorted, "newest first");
    assert_eq!(history[1]["Verdict"], "Degraded");
    assert_eq!(history[1]["Services"][0]["Reachable"], false);
    assert_eq!(all["LastProbeAt"], history[0]["ProbedAt"]);

    let (_, two) = health(&w, &w.a, "?limit=2").await;
    assert_eq!(two["History"].as_array().unwrap().len(), 2);
    assert_eq!(two["History"][0]["ProbedAt"], times[0]);
    let (_, since) = health(&w, &w.a, &format!("?since={}", times[1])).await;
    let kept: Vec<&Value> = since["History"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| &p["ProbedAt"])
        .collect();
    assert_eq!(kept, [&json!(times[0]), &json!(times[1])], "{since:#}");

    // The same view as DataContract XML.
    let xml = w
        .app
        .admin(Method::GET, &format!("/stamps/{}/health?limit=1", w.a))
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<StampHealth "), "{xml}");
    let leaves = xml_leaves(&xml);
    assert_eq!(leaf(&leaves, "Verdict"), ["Up", "Up"], "{xml}");
    assert_eq!(leaf(&leaves, "StampName"), ["A"]);
    assert_eq!(
        leaf(&leaves, "Service"),
        [
            "SPF",
            "WAP admin API",
            "Replication engine",
            "SPF",
            "WAP admin API",
            "Replication engine"
        ]
    );
}

async fn stamps_never_probed_show_verdict_unknown(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    let (status, all) = admin(&w.app, Method::GET, "/site-health", None).await;
    assert_eq!(status, StatusCode::OK);
    let all = all.as_array().unwrap();
    assert_eq!(all.len(), 2);
    for stamp in all {
        assert_eq!(stamp["Verdict"], "Unknown", "{stamp}");
        assert_eq!(stamp["Since"], Value::Null);
        assert_eq!(stamp["LastProbeAt"], Value::Null);
    }
    let (status, b) = health(&w, &w.b, "").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(b["Verdict"], "Unknown");
    assert_eq!(b["StampName"], "B");
    assert_eq!(b["History"], json!([]));
    assert_eq!(b["Services"], json!([]));
    let xml = w
        .app
        .admin(Method::GET, "/site-health")
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(
        leaf(&xml_leaves(&xml), "Verdict"),
        ["Unknown", "Unknown"],
        "{xml}"
    );
}

async fn auto_failover_round_trips_through_the_stamps_api_and_reaches_the_heartbeat(
    backend: Backend,
) {
    let Some(w) = world(backend).await else {
        return;
    };
    let (_, a) = admin(&w.app, Method::GET, &format!("/stamps/{}", w.a), None).await;
    assert_eq!(a["AutoFailover"], false, "off unless the provider opts in");

    let path = format!("/stamps/{}", w.a);
    let (status, a) = admin(
        &w.app,
        Method::PUT,
        &path,
        Some(json!({"autoFailover": true})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{a}");
    assert_eq!(a["AutoFailover"], true);
    // A PUT that does not name it keeps it.
    let (_, a) = admin(
        &w.app,
        Method::PUT,
        &path,
        Some(json!({"tenantPortalUrl": "https://portal-a.example"})),
    )
    .await;
    assert_eq!(a["AutoFailover"], true, "{a}");
    let (_, listed) = admin(&w.app, Method::GET, "/stamps", None).await;
    let flags: Vec<(&str, &Value)> = listed
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["Name"].as_str().unwrap(), &s["AutoFailover"]))
        .collect();
    assert_eq!(flags, [("A", &json!(true)), ("B", &json!(false))]);

    let outputs = heartbeat(&w, json!({})).await;
    assert_eq!(of(&outputs, &w.a)["autoFailover"], true);
    assert_eq!(of(&outputs, &w.b)["autoFailover"], false);

    // XML both ways: a body sets it off, the answer says so.
    let xml = w
        .app
        .admin(Method::PUT, &path)
        .header("content-type", "application/xml")
        .header("accept", "application/xml")
        .body(
            r#"<Stamp xmlns="http://schemas.microsoft.com/windowsazure"><AutoFailover>false</AutoFailover></Stamp>"#,
        )
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert_eq!(leaf(&xml_leaves(&xml), "AutoFailover"), ["false"], "{xml}");

    // A new stamp may opt in when it is registered; a value that is not a boolean is refused.
    let mut body = stamp_body(&w.lab, 1);
    body["name"] = json!("C");
    body["autoFailover"] = json!(true);
    let (status, c) = admin(&w.app, Method::POST, "/stamps", Some(body.clone())).await;
    assert_eq!(status, StatusCode::CREATED, "{c}");
    assert_eq!(c["AutoFailover"], true);
    body["name"] = json!("D");
    body["autoFailover"] = json!("sometimes");
    let (status, error) = admin(&w.app, Method::POST, "/stamps", Some(body)).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
    assert!(error["Message"].is_string(), "{error}");
}

async fn bad_health_queries_are_wap_errors_and_unknown_stamps_are_not_found(backend: Backend) {
    let Some(w) = world(backend).await else {
        return;
    };
    for query in [
        "?limit=0",
        "?limit=1001",
        "?limit=ten",
        "?since=yesterday",
        "?since=2026-13-01T00:00:00Z",
    ] {
        let (status, error) = health(&w, &w.a, query).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{query}: {error}");
        assert_eq!(error["Code"], "BadRequest", "{query}: {error}");
        assert!(
            error["Message"].as_str().is_some_and(|m| !m.is_empty()),
            "{query}: {error}"
        );
    }
    let (status, _) = health(&w, &w.a, "?limit=1000&since=2026-01-01T00:00:00Z").await;
    assert_eq!(status, StatusCode::OK);
    for unknown in [Uuid::new_v4().to_string(), "not-a-stamp".to_owned()] {
        let (status, error) = health(&w, &unknown, "").await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{unknown}: {error}");
        assert_eq!(error["Code"], "NotFound", "{error}");
    }
    let xml = w
        .app
        .admin(Method::GET, &format!("/stamps/{}/health?limit=0", w.b))
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(xml.status(), StatusCode::BAD_REQUEST);
    let text = xml.text().await.unwrap();
    assert!(text.contains("<Error "), "{text}");
    // A bad parameter starts nothing either.
    let (status, error) = admin(
        &w.app,
        Method::POST,
        "/runbooks/site-heartbeat/start",
        Some(json!({"parameters": {"missed_before_alert": 0}})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{error}");
}
