//! The usage-meter runbook end to end: DR subscriptions are seeded through the store (the meter
//! reads nothing else), the runbook is started through the admin API or its webhook, and the
//! records are read back as WAP's usage collector reads them, `GET /usage?lastID=&batchSize=`.
//!
//! Checked: one record per Enabled DR subscription for the last complete period with its
//! protected-VM hours; drill hours while a drill is up; failed-over hours while it runs on its
//! recovery stamp; a period metered again (however started, even at once) appends nothing; a
//! back-filled earlier period is metered once; bad parameters are refused with a clear message.

mod common;

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use common::app::Backend;
use common::dr_api::{World, add_dr, add_subscription, send, world};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;
use wapdr::domain::{
    DrPhase, FailoverPhase, FailoverState, MeteringPeriod, ProtectedVm, SubscriptionId,
    VmProtectionState,
};

on_both_backends!(
    each_enabled_dr_subscription_gets_one_record_of_its_protected_vm_hours_for_the_last_complete_period,
    a_drill_adds_drill_hours_and_running_on_the_recovery_stamp_adds_failed_over_hours,
    metering_the_same_period_again_appends_nothing,
    a_back_filled_earlier_period_is_metered_once_even_when_started_twice_at_once,
    more_subscriptions_than_a_page_are_metered_page_by_page,
    bad_parameters_are_refused_with_a_clear_message_and_meter_nothing,
);

/// The RP name test apps register under (the config default).
const RP: &str = "disasterrecovery";

/// A store-seeded world whose usage-meter runs only when a test starts it.
async fn metered_world(backend: Backend, quota: &[(&str, &str)]) -> Option<World> {
    let w = world(backend, quota, false).await?;
    // A schedule tick mid-test would meter a period of its own.
    let (status, view) = w
        .admin(
            Method::PUT,
            "/runbooks/usage-meter",
            Some(json!({"schedule": null})),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{view}");
    Some(w)
}

/// Stores `count` VM records of `sub` in `state` (named `{prefix}-{n}`).
async fn add_vms(
    w: &World,
    sub: SubscriptionId,
    prefix: &str,
    state: VmProtectionState,
    count: usize,
) {
    for n in 0..count {
        let mut vm = ProtectedVm::pending(
            sub,
            Uuid::new_v4(),
            format!("{prefix}-{n}"),
            w.a,
            Uuid::new_v4(),
            w.pair,
        );
        vm.state = state;
        w.app.store().save_protected_vm(&vm).await.unwrap();
    }
}

/// Another subscription of the world's pair in `phase`, active on `active`.
async fn add_dr_subscription(w: &World, phase: DrPhase, active: Uuid) -> SubscriptionId {
    let sub = add_subscription(&w.app, &[]).await;
    add_dr(&w.app, sub, phase, w.pair, (w.a, w.b), active).await;
    sub
}

/// Records a subscription's failover phase.
async fn set_failover_phase(w: &World, sub: SubscriptionId, phase: FailoverPhase) {
    let mut state = FailoverState::new(sub);
    state.phase = phase;
    w.app.store().save_failover(&state).await.unwrap();
}

/// Starts the runbook through the admin API; the status and the job (or error) it answers.
async fn start(w: &World, parameters: Value) -> (StatusCode, Value) {
    w.admin(
        Method::POST,
        "/runbooks/usage-meter/start",
        Some(json!({ "parameters": parameters })),
    )
    .await
}

/// Starts the runbook through its webhook, as a provider's SMA schedule would.
async fn start_by_webhook(w: &World, parameters: Value) -> (StatusCode, Value) {
    let (_, runbook) = w.admin(Method::GET, "/runbooks/usage-meter", None).await;
    let token = runbook["WebhookToken"].as_str().expect("a webhook token");
    let request = w
        .app
        .anonymous(Method::POST, "/webhooks/runbooks/usage-meter")
        .header("x-wapdr-webhook-token", token);
    send(request, Some(json!({ "parameters": parameters }))).await
}

/// Waits for a started job to end; returns it with its steps.
async fn finished(w: &World, (status, job): (StatusCode, Value)) -> Value {
    assert_eq!(status, StatusCode::ACCEPTED, "{job}");
    let id = job["Id"].as_str().unwrap().to_owned();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let (_, job) = w.admin(Method::GET, &format!("/jobs/{id}"), None).await;
        if matches!(
            job["State"].as_str(),
            Some("Succeeded" | "Failed" | "Cancelled")
        ) {
            return job;
        }
        assert!(Instant::now() < deadline, "job {id} did not end: {job:#}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Runs the runbook with `parameters` to success; the output of its `total` step.
async fn meter(w: &World, parameters: Value) -> Value {
    let job = finished(w, start(w, parameters).await).await;
    assert_eq!(job["State"], "Succeeded", "{job:#}");
    total(&job)
}

/// The output of a finished job's `total` step.
fn total(job: &Value) -> Value {
    let step = job["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["Kind"] == "total")
        .unwrap_or_else(|| panic!("no total step: {job:#}"));
    serde_json::from_str(step["Output"].as_str().unwrap()).unwrap()
}

/// What WAP's collector gets after `last_id` (as JSON records), up to 100.
async fn collect(w: &World, last_id: Option<i64>) -> Vec<Value> {
    collect_batch(w, last_id, 100).await
}

/// What WAP's collector gets after `last_id` in a batch of `size`.
async fn collect_batch(w: &World, last_id: Option<i64>, size: u32) -> Vec<Value> {
    let last = last_id.map_or(String::new(), |id| id.to_string());
    let response = w
        .app
        .usage(&format!("/usage?lastID={last}&batchSize={size}"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let records: Value = response.json().await.unwrap();
    records.as_array().expect("a JSON array").clone()
}

/// Records by subscription id (panics when a subscription has two).
fn by_subscription(records: &[Value]) -> BTreeMap<String, Value> {
    let mut out = BTreeMap::new();
    for record in records {
        let sub = record["SubscriptionId"].as_str().unwrap().to_owned();
        assert!(
            out.insert(sub.clone(), record.clone()).is_none(),
            "two records for {sub}: {records:#?}"
        );
    }
    out
}

fn time_of(value: &Value) -> OffsetDateTime {
    OffsetDateTime::parse(value.as_str().unwrap(), &Rfc3339).unwrap()
}

fn rfc3339(at: OffsetDateTime) -> String {
    at.format(&Rfc3339).unwrap()
}

fn event_ids(records: &[Value]) -> Vec<i64> {
    records
        .iter()
        .map(|r| r["EventId"].as_i64().unwrap())
        .collect()
}

/// The three meters of a record: protected, drill, failed-over VM hours.
fn meters(record: &Value) -> (&str, &str, &str) {
    let resources = &record["Resources"];
    (
        resources["ProtectedVmHours"].as_str().unwrap(),
        resources["DrillVmHours"].as_str().unwrap(),
        resources["FailedOverVmHours"].as_str().unwrap(),
    )
}

async fn each_enabled_dr_subscription_gets_one_record_of_its_protected_vm_hours_for_the_last_complete_period(
    backend: Backend,
) {
    let Some(w) = metered_world(backend, &[("ReplicationFrequencySeconds", "30")]).await else {
        return;
    };
    add_vms(&w, w.sub, "web", VmProtectionState::Protected, 3).await;
    add_vms(&w, w.sub, "new", VmProtectionState::Enabling, 1).await;
    add_vms(&w, w.sub, "skip", VmProtectionState::Excluded, 1).await;
    add_vms(&w, w.sub, "bad", VmProtectionState::Failed, 1).await;
    let small = add_dr_subscription(&w, DrPhase::Enabled, w.a).await;
    add_vms(&w, small, "db", VmProtectionState::Protected, 2).await;
    let empty = add_dr_subscription(&w, DrPhase::Enabled, w.a).await;
    for phase in [
        DrPhase::Enabling,
        DrPhase::Disabling,
        DrPhase::Disabled,
        DrPhase::Failed,
    ] {
        let not_enabled = add_dr_subscription(&w, phase, w.a).await;
        add_vms(&w, not_enabled, "other", VmProtectionState::Protected, 1).await;
    }
    let before = w.now().await;

    let output = meter(&w, json!({})).await;

    let after = w.now().await;
    assert_eq!(
        (
            &output["metered"],
            &output["appended"],
            &output["alreadyThere"]
        ),
        (&json!(3), &json!(3), &json!(0)),
        "{output}"
    );
    let records = collect(&w, None).await;
    let records = by_subscription(&records);
    assert_eq!(
        records.keys().cloned().collect::<Vec<_>>(),
        {
            let mut enabled = vec![w.sub.to_string(), small.to_string(), empty.to_string()];
            enabled.sort();
            enabled
        },
        "one record per Enabled DR subscription, none for the others"
    );
    let main = &records[&w.sub.to_string()];
    let (start, end) = (time_of(&main["StartTime"]), time_of(&main["EndTime"]));
    let last_complete = |now| MeteringPeriod::last_complete(now, 60).start();
    assert!(
        start == last_complete(before) || start == last_complete(after),
        "{start} is not the last complete hour between {before} and {after}"
    );
    assert_eq!(end - start, time::Duration::hours(1));
    assert_eq!(output["periodStart"], json!(rfc3339(start)));
    assert_eq!(
        main["ExternalRecordId"],
        json!(format!("wapdr:{}:{}", w.sub, rfc3339(start)))
    );
    assert_eq!(
        main["ResourceId"],
        json!(format!("{}/services/{RP}/dr", w.sub))
    );
    assert_eq!(main["ProviderName"], json!(RP));
    assert_eq!(main["ServiceType"], json!("DisasterRecovery"));
    assert_eq!(
        meters(main),
        ("4", "0", "0"),
        "Protected and Enabling VMs, as the usage summary counts them"
    );
    let properties = &main["Properties"];
    assert_eq!(properties["ActiveStampName"], json!("a"));
    assert_eq!(properties["ActiveStampId"], json!(w.a.to_string()));
    assert_eq!(properties["FailoverPhase"], json!("Replicating"));
    assert_eq!(properties["ReplicationFrequencySeconds"], json!("30"));
    assert_eq!(properties["PeriodMinutes"], json!("60"));
    let sampled = time_of(&properties["SampledAt"]);
    assert!(sampled >= end && sampled <= after, "sampled at {sampled}");
    let small = &records[&small.to_string()];
    assert_eq!(meters(small), ("2", "0", "0"));
    assert_eq!(
        small["Properties"]["ReplicationFrequencySeconds"],
        json!("300")
    );
    assert_eq!(small["StartTime"], main["StartTime"]);
    assert_eq!(meters(&records[&empty.to_string()]), ("0", "0", "0"));

    let last = records
        .values()
        .map(|r| r["EventId"].as_i64().unwrap())
        .max();
    assert!(
        collect(&w, last).await.is_empty(),
        "the collector is caught up"
    );
}

async fn a_drill_adds_drill_hours_and_running_on_the_recovery_stamp_adds_failed_over_hours(
    backend: Backend,
) {
    let Some(w) = metered_world(backend, &[]).await else {
        return;
    };
    add_vms(&w, w.sub, "web", VmProtectionState::Protected, 2).await;
    set_failover_phase(&w, w.sub, FailoverPhase::TestRunning).await;
    let failed_over = add_dr_subscription(&w, DrPhase::Enabled, w.b).await;
    add_vms(&w, failed_over, "db", VmProtectionState::Protected, 3).await;
    set_failover_phase(&w, failed_over, FailoverPhase::FailedOver).await;
    let reprotected = add_dr_subscription(&w, DrPhase::Enabled, w.b).await;
    add_vms(&w, reprotected, "app", VmProtectionState::Protected, 1).await;
    set_failover_phase(&w, reprotected, FailoverPhase::Replicating).await;

    let output = meter(&w, json!({"period_minutes": 30})).await;

    assert_eq!(output["appended"], json!(3), "{output}");
    let records = by_subscription(&collect(&w, None).await);
    let drill = &records[&w.sub.to_string()];
    assert_eq!(meters(drill), ("1", "1", "0"), "2 VMs × half an hour");
    assert_eq!(drill["Properties"]["FailoverPhase"], json!("TestRunning"));
    assert_eq!(drill["Properties"]["ActiveStampName"], json!("a"));
    assert_eq!(
        time_of(&drill["EndTime"]) - time_of(&drill["StartTime"]),
        time::Duration::minutes(30)
    );
    let failed_over = &records[&failed_over.to_string()];
    assert_eq!(
        meters(failed_over),
        ("1.5", "0", "1.5"),
        "3 VMs × half an hour"
    );
    assert_eq!(
        failed_over["Properties"]["FailoverPhase"],
        json!("FailedOver")
    );
    assert_eq!(failed_over["Properties"]["ActiveStampName"], json!("b"));
    assert_eq!(
        failed_over["Properties"]["ActiveStampId"],
        json!(w.b.to_string())
    );
    let reprotected = &records[&reprotected.to_string()];
    assert_eq!(
        meters(reprotected),
        ("0.5", "0", "0.5"),
        "still running on the recovery stamp after reprotect"
    );
}

async fn metering_the_same_period_again_appends_nothing(backend: Backend) {
    let Some(w) = metered_world(backend, &[]).await else {
        return;
    };
    add_vms(&w, w.sub, "web", VmProtectionState::Protected, 1).await;
    let other = add_dr_subscription(&w, DrPhase::Enabled, w.a).await;
    add_vms(&w, other, "db", VmProtectionState::Protected, 2).await;
    meter(&w, json!({})).await;
    let first = collect(&w, None).await;
    assert_eq!(first.len(), 2);
    let period = first[0]["StartTime"].as_str().unwrap().to_owned();
    // More VMs now: a second metering of the period must not bill them.
    add_vms(&w, w.sub, "later", VmProtectionState::Protected, 5).await;

    let again = meter(&w, json!({"periodStart": period})).await;
    let by_webhook = finished(
        &w,
        start_by_webhook(&w, json!({"periodStart": period})).await,
    )
    .await;

    for output in [&again, &total(&by_webhook)] {
        assert_eq!(
            (
                &output["metered"],
                &output["appended"],
                &output["alreadyThere"]
            ),
            (&json!(2), &json!(0), &json!(2)),
            "{output}"
        );
    }
    assert_eq!(by_webhook["Trigger"], json!("webhook"));
    let log = collect(&w, None).await;
    assert_eq!(
        event_ids(&log),
        event_ids(&first),
        "the same EventIds, no more"
    );
    assert_eq!(log, first, "the records as first metered");
}

async fn a_back_filled_earlier_period_is_metered_once_even_when_started_twice_at_once(
    backend: Backend,
) {
    let Some(w) = metered_world(backend, &[]).await else {
        return;
    };
    add_vms(&w, w.sub, "web", VmProtectionState::Protected, 1).await;
    let other = add_dr_subscription(&w, DrPhase::Enabled, w.a).await;
    add_vms(&w, other, "db", VmProtectionState::Protected, 2).await;
    meter(&w, json!({})).await;
    let collected = collect(&w, None).await;
    let last_id = event_ids(&collected).into_iter().max();
    let latest = time_of(&collected[0]["StartTime"]);
    let missed = latest - time::Duration::hours(3);

    // The provider back-fills the period wapdr missed, from the admin API and its SMA webhook at once.
    let parameters = json!({"periodStart": rfc3339(missed)});
    let by_admin = start(&w, parameters.clone()).await;
    let by_webhook = start_by_webhook(&w, parameters.clone()).await;
    let (one, two) = (finished(&w, by_admin).await, finished(&w, by_webhook).await);

    let outputs = [total(&one), total(&two)];
    for output in &outputs {
        assert_eq!(output["backfill"], json!(true), "{output}");
        assert_eq!(output["metered"], json!(2), "{output}");
    }
    let appended: u64 = outputs
        .iter()
        .map(|o| o["appended"].as_u64().unwrap())
        .sum();
    assert_eq!(
        appended, 2,
        "each subscription's period appended once: {outputs:?}"
    );
    let backfilled = collect(&w, last_id).await;
    assert_eq!(backfilled.len(), 2, "{backfilled:#?}");
    let records = by_subscription(&backfilled);
    for record in records.values() {
        assert_eq!(time_of(&record["StartTime"]), missed);
        assert_eq!(
            time_of(&record["EndTime"]),
            missed + time::Duration::hours(1)
        );
        assert!(
            record["EventId"].as_i64() > last_id,
            "after what the collector holds"
        );
    }
    assert_eq!(meters(&records[&other.to_string()]), ("2", "0", "0"));

    let again = meter(&w, parameters).await;
    assert_eq!(again["appended"], json!(0), "{again}");
    assert_eq!(collect(&w, None).await.len(), 4);
}

async fn more_subscriptions_than_a_page_are_metered_page_by_page(backend: Backend) {
    let Some(w) = metered_world(backend, &[]).await else {
        return;
    };
    // A step meters 200 subscriptions; with the world's own, 251 take two pages.
    let mut subscriptions = vec![w.sub];
    for _ in 0..250 {
        subscriptions.push(add_dr_subscription(&w, DrPhase::Enabled, w.a).await);
    }

    let job = finished(&w, start(&w, json!({})).await).await;

    assert_eq!(job["State"], "Succeeded", "{job:#}");
    let pages: Vec<Value> = job["Steps"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|s| s["Kind"] == "meter_page")
        .map(|s| serde_json::from_str(s["Output"].as_str().unwrap()).unwrap())
        .collect();
    assert_eq!(
        pages
            .iter()
            .map(|p| p["metered"].clone())
            .collect::<Vec<_>>(),
        [json!(200), json!(51)]
    );
    assert_eq!(total(&job)["appended"], json!(251));
    // The collector pages through them by lastID, 100 at a time.
    let mut collected = Vec::new();
    let mut last = None;
    loop {
        let batch = collect_batch(&w, last, 100).await;
        if batch.is_empty() {
            break;
        }
        last = event_ids(&batch).last().copied();
        collected.extend(batch);
    }
    let metered = by_subscription(&collected);
    subscriptions.sort_by_key(|s| s.to_string());
    assert_eq!(
        metered.keys().cloned().collect::<Vec<_>>(),
        subscriptions
            .iter()
            .map(|s| s.to_string())
            .collect::<Vec<_>>()
    );
}

async fn bad_parameters_are_refused_with_a_clear_message_and_meter_nothing(backend: Backend) {
    let Some(w) = metered_world(backend, &[]).await else {
        return;
    };
    add_vms(&w, w.sub, "web", VmProtectionState::Protected, 1).await;
    for (parameters, says) in [
        (
            json!({"period_minutes": 7}),
            "period_minutes must divide a day (1440 minutes) and be between 5 and 1440, not 7",
        ),
        (json!({"period_minutes": 0}), "not 0"),
        (json!({"period_minutes": 2880}), "not 2880"),
        (
            json!({"period_minutes": "hourly"}),
            "period_minutes must be a non-negative whole number",
        ),
        (
            json!({"periodStart": "yesterday"}),
            "periodStart must be an RFC 3339 time",
        ),
        (
            json!({"periodStart": "2024-05-01T10:30:00Z"}),
            "periodStart 2024-05-01T10:30:00Z is not the start of a 60-minute period",
        ),
        (
            json!({"period_minutes": 1440, "periodStart": "2024-05-01T10:00:00Z"}),
            "not the start of a 1440-minute period",
        ),
        (
            json!({"period_start": "2024-05-01T10:00:00Z"}),
            "unknown parameter 'period_start'",
        ),
    ] {
        let (status, error) = start(&w, parameters.clone()).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{parameters}: {error}");
        let message = error["Message"].as_str().unwrap_or_default();
        assert!(
            message.contains("usage_meter") && message.contains(says),
            "{parameters}: {message}"
        );
    }
    let (_, jobs) = w
        .admin(Method::GET, "/jobs?workflow=usage_meter", None)
        .await;
    assert_eq!(jobs.as_array().map(Vec::len), Some(0), "{jobs}");

    // Only the database clock knows whether a period has ended or is too old: the job says so.
    let now = w.now().await;
    let current = MeteringPeriod::last_complete(now, 60).end();
    let not_ended = finished(
        &w,
        start(
            &w,
            json!({"periodStart": rfc3339(current + time::Duration::hours(1))}),
        )
        .await,
    )
    .await;
    let too_old = finished(
        &w,
        start(
            &w,
            json!({"periodStart": rfc3339(current - time::Duration::days(40))}),
        )
        .await,
    )
    .await;
    assert_eq!(not_ended["State"], "Failed", "{not_ended:#}");
    assert!(
        not_ended["Error"]
            .as_str()
            .unwrap()
            .contains("has not ended yet"),
        "{not_ended:#}"
    );
    assert_eq!(too_old["State"], "Failed", "{too_old:#}");
    assert!(
        too_old["Error"]
            .as_str()
            .unwrap()
            .contains("only periods of the last 31 days"),
        "{too_old:#}"
    );
    assert!(collect(&w, None).await.is_empty(), "nothing metered");
}
