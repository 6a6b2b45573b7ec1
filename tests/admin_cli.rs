//! The admin command line as a provider's operator runs it: the real `wapdr` binary against a
//! wapdr serving a lab world, on SQLite and PostgreSQL. A drill and its cleanup (by subscription
//! and for a whole site) end with their RTO; a failover moves the subscription to stamp B and
//! `wapdr status` shows it; a manual step waits until `wapdr ack`; `wapdr report --html` saves
//! the page; and errors say what to do (credentials refused, nothing listening, unknown job,
//! an operation the phase does not allow).

mod common;

use std::process::Output;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use common::app::{ADMIN, Backend, TestApp};
use common::dr::{DrWorld, admin, gold_world};
use common::failover::{dr, protected_tenant, world_uuid};

on_both_backends!(
    a_drill_and_its_cleanup_from_the_command_line_end_with_their_rto,
    a_failover_from_the_command_line_moves_the_subscription_to_b_and_status_shows_it,
    a_manual_step_waits_for_wapdr_ack_and_the_drill_then_ends,
);

/// Who the command line acts as in these tests.
const OPERATOR: &str = "ops@provider.test";

/// The binary with the admin credentials of `app` in the environment, as an operator sets them.
fn command(app: &TestApp, args: &[&str]) -> tokio::process::Command {
    let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_wapdr"));
    command
        .args(args)
        .env_remove("WAPDR_CONFIG")
        .env("WAPDR_URL", &app.url)
        .env("WAPDR_ADMIN_USER", ADMIN.0)
        .env("WAPDR_ADMIN_PASSWORD", ADMIN.1)
        .env("WAPDR_PRINCIPAL", OPERATOR)
        .kill_on_drop(true);
    command
}

/// Runs the binary to its end.
async fn wapdr(app: &TestApp, args: &[&str]) -> Output {
    command(app, args).output().await.expect("wapdr runs")
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// The binary's `--json` answer, checking it exited 0.
async fn json_of(app: &TestApp, args: &[&str]) -> Value {
    let output = wapdr(app, args).await;
    assert!(
        output.status.success(),
        "wapdr {args:?} exited {}: {}{}",
        output.status,
        stdout(&output),
        stderr(&output)
    );
    serde_json::from_str(stdout(&output).trim())
        .unwrap_or_else(|e| panic!("wapdr {args:?} printed no JSON ({e}): {}", stdout(&output)))
}

/// The name of the world's stamp with wapdr id `id`.
async fn stamp_name(world: &DrWorld, id: &str) -> String {
    let (status, stamp) = admin(&world.app, Method::GET, &format!("/stamps/{id}"), None).await;
    assert_eq!(status, StatusCode::OK, "{stamp}");
    stamp["Name"].as_str().expect("a name").to_owned()
}

async fn a_drill_and_its_cleanup_from_the_command_line_end_with_their_rto(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "carol@fabrikam.lab", 2, &[]).await;
    let sub = tenant.id.to_string();

    let drill = json_of(
        app,
        &["drill", &sub, "--reason", "quarterly drill", "--json"],
    )
    .await;
    assert_eq!(drill["ok"], true, "{drill}");
    assert_eq!(drill["operation"], "test", "{drill}");
    assert_eq!(drill["phase"], "TestRunning", "{drill}");
    assert_eq!(drill["vmCounts"]["Total"], 2, "{drill}");
    assert!(
        drill["rtoSeconds"].as_f64().is_some_and(|s| s > 0.0),
        "{drill}"
    );
    assert!(drill["rtoExcludingManualAndScriptsSeconds"].is_number());
    assert_eq!(drill["allowedNext"], json!(["testCleanup"]), "{drill}");
    let job = drill["jobId"].as_str().expect("a job").to_owned();
    let run = app
        .store()
        .get_run(Uuid::parse_str(&job).unwrap())
        .await
        .unwrap()
        .expect("the job");
    assert_eq!(run.started_by, OPERATOR, "the job names who ran it");
    assert_eq!(run.reason.as_deref(), Some("quarterly drill"));

    let cleanup = json_of(app, &["drill-cleanup", &sub, "--json"]).await;
    assert_eq!(cleanup["ok"], true, "{cleanup}");
    assert_eq!(cleanup["phase"], "Replicating", "{cleanup}");

    // The drill's report, summed up and saved as its page.
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("drill.html");
    let report = wapdr(app, &["report", &job, "--html", page.to_str().unwrap()]).await;
    assert!(report.status.success(), "{}", stderr(&report));
    let text = stdout(&report);
    assert!(
        text.starts_with(&format!("drill of subscription {sub}")) && text.contains("RTO "),
        "{text}"
    );
    let html = std::fs::read_to_string(&page).expect("the page was saved");
    assert!(html.starts_with("<!DOCTYPE html>"), "{html}");
    let shown = wapdr(app, &["job", &job]).await;
    assert!(shown.status.success());
    let shown = stdout(&shown);
    assert!(
        shown.contains("testFailover") && shown.contains("Succeeded"),
        "{shown}"
    );
    let listed = json_of(app, &["jobs", "--subscription", &sub, "--json"]).await;
    let ids: Vec<&str> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|j| j["Id"].as_str())
        .collect();
    assert!(ids.contains(&job.as_str()), "{listed}");

    // The same for the whole site, the stamp named as people know it.
    let a = stamp_name(&world, &world.a).await;
    let site = json_of(app, &["drill", "--site", &a, "--json"]).await;
    assert_eq!(site["ok"], true, "{site}");
    assert_eq!(site["stampId"], world.a, "{site}");
    let children = site["subscriptions"].as_array().expect("its subscriptions");
    assert_eq!(children.len(), 1, "{site}");
    assert_eq!(children[0]["subscriptionId"], sub, "{site}");
    assert!(
        children[0]["rtoSeconds"].as_f64().is_some_and(|s| s > 0.0),
        "{site}"
    );
    let site_cleanup = json_of(app, &["drill-cleanup", "--site", &world.a, "--json"]).await;
    assert_eq!(site_cleanup["ok"], true, "{site_cleanup}");
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(world_uuid(&world.a))
    );
}

async fn a_failover_from_the_command_line_moves_the_subscription_to_b_and_status_shows_it(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, _) = protected_tenant(&world, "dave@fabrikam.lab", 2, &[]).await;
    let sub = tenant.id.to_string();
    let b = stamp_name(&world, &world.b).await;

    // Without a terminal the progress is one line per change, then the outcome.
    let failover = wapdr(app, &["failover", &sub, "--reason", "move to B"]).await;
    let text = stdout(&failover);
    assert!(failover.status.success(), "{text}{}", stderr(&failover));
    assert!(
        text.contains("plannedFailover") && text.contains(": Succeeded"),
        "a line per VM: {text}"
    );
    assert!(
        text.contains(&format!(
            "planned failover of subscription {sub} by plan 'Default': Succeeded"
        )),
        "{text}"
    );
    assert!(text.contains("  RTO "), "{text}");
    assert!(
        text.contains(&format!("now FailedOver, active on stamp {b}")),
        "{text}"
    );
    assert_eq!(
        dr(app, &tenant).await.active_stamp_id,
        Some(world_uuid(&world.b)),
        "the subscription runs on B"
    );

    let status = json_of(app, &["status", "--json"]).await;
    let stamps: Vec<&str> = status["stamps"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|s| s["StampId"].as_str())
        .collect();
    assert!(
        stamps.contains(&world.a.as_str()) && stamps.contains(&world.b.as_str()),
        "{status}"
    );
    let listed = status["subscriptions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["SubscriptionId"] == sub)
        .expect("the subscription");
    assert_eq!(listed["ActiveStamp"]["Id"], world.b, "{listed}");
    let shown = wapdr(app, &["status"]).await;
    let shown = stdout(&shown);
    let a = stamp_name(&world, &world.a).await;
    assert!(
        shown.contains(&format!("\n  {a} ")) && shown.contains(&format!("\n  {b} ")),
        "both stamps: {shown}"
    );
    assert!(
        shown.contains(&sub) && shown.contains("FailedOver"),
        "{shown}"
    );

    // An operation the phase does not allow: the WAP Error's message, and a non-zero exit.
    let refused = wapdr(app, &["drill-cleanup", &sub]).await;
    assert_eq!(refused.status.code(), Some(3), "{}", stdout(&refused));
    let message = stderr(&refused);
    assert!(
        message.contains("409 Conflict") && message.contains("allowed now: commit, rollback"),
        "{message}"
    );

    let commit = json_of(app, &["commit", &sub, "--json"]).await;
    assert_eq!(commit["ok"], true, "{commit}");
    assert_eq!(commit["phase"], "Committed", "{commit}");
    assert_eq!(commit["activeStampId"], world.b, "{commit}");
}

async fn a_manual_step_waits_for_wapdr_ack_and_the_drill_then_ends(backend: Backend) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "erin@fabrikam.lab", 2, &[]).await;
    let sub = tenant.id.to_string();
    let (status, plan) = admin(
        app,
        Method::POST,
        &format!("/subscriptions/{sub}/recovery-plans"),
        Some(json!({
            "Name": "Checked drill",
            "Groups": [{ "Name": "All", "Vms": vms,
                         "PreActions": [{ "Kind": "Manual", "Prompt": "Tell the app team" }] }],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");
    let plan = plan["Id"].as_str().expect("a plan").to_owned();

    let drill = command(app, &["drill", &sub, "--plan", &plan, "--json"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("wapdr drill starts");
    // The job waits for the operator: `wapdr jobs` finds it, `wapdr job` shows the step.
    let deadline = Instant::now() + Duration::from_secs(60);
    let (job, step) = loop {
        let waiting = json_of(
            app,
            &[
                "jobs",
                "--subscription",
                &sub,
                "--state",
                "Waiting",
                "--json",
            ],
        )
        .await;
        if let Some(job) = waiting.as_array().and_then(|j| j.first()) {
            let job = job["Id"].as_str().unwrap().to_owned();
            let detail = json_of(app, &["job", &job, "--json"]).await;
            let step = detail["Steps"]
                .as_array()
                .unwrap()
                .iter()
                .find(|s| s["WaitingFor"] == "ack")
                .map(|s| s["Id"].as_i64().unwrap());
            if let Some(step) = step {
                break (job, step);
            }
        }
        assert!(Instant::now() < deadline, "the drill never waited");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    tokio::time::sleep(Duration::from_millis(500)).await;
    let step = step.to_string();
    let acked = wapdr(app, &["ack", &job, &step, "--comment", "app team told"]).await;
    assert!(acked.status.success(), "{}", stderr(&acked));
    assert!(
        stdout(&acked).contains(&format!(
            "acknowledged step {step} 'All: before #1 manual step'"
        )),
        "{}",
        stdout(&acked)
    );

    let ended = tokio::time::timeout(Duration::from_secs(60), drill.wait_with_output())
        .await
        .expect("the drill ends once acknowledged")
        .expect("wapdr drill ran");
    assert!(ended.status.success(), "{}", stderr(&ended));
    let announced = stderr(&ended);
    assert!(
        announced.contains("Tell the app team")
            && announced.contains(&format!("wapdr ack {job} {step} --comment")),
        "the wait was announced with how to acknowledge it: {announced}"
    );
    let outcome: Value = serde_json::from_str(stdout(&ended).trim()).expect("the JSON outcome");
    assert_eq!(outcome["ok"], true, "{outcome}");
    assert!(
        outcome["manualWaitSeconds"]
            .as_f64()
            .is_some_and(|s| s > 0.0),
        "{outcome}"
    );
    assert!(
        outcome["rtoExcludingManualAndScriptsSeconds"].as_f64() < outcome["rtoSeconds"].as_f64(),
        "{outcome}"
    );
    let report = json_of(app, &["report", &job, "--json"]).await;
    let action = &report["Groups"][0]["Actions"][0];
    assert_eq!(action["AcknowledgedBy"], OPERATOR, "{report}");
    assert_eq!(action["Comment"], "app team told", "{report}");
}

#[tokio::test]
async fn errors_say_what_to_do() {
    let Some(app) = TestApp::start(Backend::Sqlite).await else {
        return;
    };
    let wrong = command(&app, &["status"])
        .env("WAPDR_ADMIN_PASSWORD", "not-the-password")
        .output()
        .await
        .unwrap();
    assert_eq!(wrong.status.code(), Some(3));
    let message = stderr(&wrong);
    assert!(
        message.contains("401")
            && message.contains("--user/--password")
            && message.contains("WAPDR_ADMIN_USER/WAPDR_ADMIN_PASSWORD"),
        "names the credentials to set: {message}"
    );

    // A port nothing listens on.
    let free = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap();
    let nowhere = command(&app, &["status"])
        .env("WAPDR_URL", format!("http://{free}"))
        .output()
        .await
        .unwrap();
    assert_eq!(nowhere.status.code(), Some(3));
    assert!(
        stderr(&nowhere).contains(&format!("could not reach wapdr at http://{free}/admin"))
            && stderr(&nowhere).contains("--url or WAPDR_URL"),
        "{}",
        stderr(&nowhere)
    );

    let unknown = Uuid::new_v4();
    let missing = wapdr(&app, &["job", &unknown.to_string()]).await;
    assert_eq!(missing.status.code(), Some(3));
    assert!(
        stderr(&missing).contains(&format!("404 Not Found: Job {unknown} is not known.")),
        "{}",
        stderr(&missing)
    );
    let no_subscription = wapdr(&app, &["drill", &unknown.to_string()]).await;
    assert_eq!(no_subscription.status.code(), Some(3));
    assert!(
        stderr(&no_subscription).contains("404 Not Found"),
        "{}",
        stderr(&no_subscription)
    );

    let bad_usage = wapdr(&app, &["failover", "--source-down", &unknown.to_string()]).await;
    assert_eq!(
        bad_usage.status.code(),
        Some(2),
        "--source-down needs --unplanned"
    );

    let nothing_configured = command(&app, &["status"])
        .env_remove("WAPDR_ADMIN_PASSWORD")
        .env("WAPDR_DATABASE__URL", "sqlite:///nonexistent/wapdr.db")
        .output()
        .await
        .unwrap();
    assert_eq!(nothing_configured.status.code(), Some(3));
    assert!(
        stderr(&nothing_configured)
            .contains("no admin password: set --password or WAPDR_ADMIN_PASSWORD"),
        "{}",
        stderr(&nothing_configured)
    );
}

/// On the wapdr host, `--config` is enough: the URL from the configuration, the admin password
/// the instance generated from its store, as `wapdr register` finds it.
#[tokio::test]
async fn the_configuration_and_the_store_give_the_url_and_the_generated_password() {
    let dir = tempfile::tempdir().unwrap();
    let database = common::sqlite_url(dir.path());
    let serving = wapdr::config::Config::from_toml(&format!(
        "listen = \"127.0.0.1:0\"\n[database]\nurl = \"{database}\"\n[engine]\nenabled = false\n"
    ))
    .unwrap();
    let running = wapdr::app::start(&serving).await.expect("wapdr starts");
    let file = dir.path().join("wapdr.toml");
    std::fs::write(
        &file,
        format!(
            "public_url = \"{}\"\n[database]\nurl = \"{database}\"\n",
            running.url()
        ),
    )
    .unwrap();
    let output = tokio::process::Command::new(env!("CARGO_BIN_EXE_wapdr"))
        .args(["status", "--json", "--config", file.to_str().unwrap()])
        .env_remove("WAPDR_URL")
        .env_remove("WAPDR_ADMIN_USER")
        .env_remove("WAPDR_ADMIN_PASSWORD")
        .env_remove("WAPDR_CONFIG")
        .output()
        .await
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let status: Value = serde_json::from_slice(&output.stdout).expect("JSON");
    assert_eq!(status["stamps"], json!([]), "{status}");
    running.stop().await.unwrap();
}
