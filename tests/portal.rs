//! The portal in a real browser: wapdr on the lab with a tenant whose VMs are all protected, and
//! the Playwright scenarios of `portal-extension/tests/portal.test.mjs` driving Debian's chromium
//! headless against the standalone pages — a tenant sees every VM protected, runs a drill and
//! opens its report; a provider runs the site heartbeat, creates a cloud pair, runs a planned
//! failover by a plan with a manual step, acknowledges it, watches the job to its end and sees
//! the tenant's banner switch to the recovery stamp's portal; the tenant writes a recovery plan of
//! its own, and every other view is opened and checked for labels and contrast. Screenshots go to
//! `target/portal-screenshots/<backend>/`.
//!
//! The browser tests need node, `portal-extension/node_modules` (`npm ci`) and chromium
//! (`/usr/bin/chromium`, or `WAPDR_CHROMIUM`); `.ci/run` installs them. Without them the test
//! prints `SKIPPED`, except under CI (`CI` set), where it fails saying what is missing.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use common::app::{ADMIN, Backend, TENANT};
use common::dr::{admin, gold_world};
use common::failover::{dr, protected_tenant, world_uuid};
use reqwest::{Method, StatusCode};
use serde_json::json;

/// One browser scenario at a time: two chromiums on two shared cores only slow each other down.
static BROWSER: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// How long the scenarios may take in all before the test gives up on them.
const SCENARIO_LIMIT: Duration = Duration::from_secs(420);

fn portal_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("portal-extension")
}

/// The chromium to drive, or what is missing (node, the npm packages, chromium).
fn browser_tools() -> Result<PathBuf, String> {
    let node = Command::new("node").arg("--version").output();
    if !node.is_ok_and(|out| out.status.success()) {
        return Err("node is not installed".into());
    }
    if !portal_dir()
        .join("node_modules/playwright-core/package.json")
        .exists()
    {
        return Err("portal-extension/node_modules is missing (run `npm ci` there)".into());
    }
    let chromium = std::env::var_os("WAPDR_CHROMIUM")
        .map_or_else(|| PathBuf::from("/usr/bin/chromium"), PathBuf::from);
    if !chromium.exists() {
        return Err(format!(
            "{} is missing (apt-get install chromium)",
            chromium.display()
        ));
    }
    Ok(chromium)
}

/// The chromium path, or `None` after printing why the browser tests are skipped; panics under CI.
fn browser_or_skip() -> Option<PathBuf> {
    match browser_tools() {
        Ok(chromium) => Some(chromium),
        Err(missing) if std::env::var_os("CI").is_some() => {
            panic!("the portal's browser tests cannot run under CI: {missing}; .ci/run installs it")
        }
        Err(missing) => {
            eprintln!("SKIPPED: the portal's browser tests did not run: {missing}");
            None
        }
    }
}

fn backend_name(backend: Backend) -> &'static str {
    match backend {
        Backend::Sqlite => "sqlite",
        Backend::Postgres => "postgres",
    }
}

async fn a_tenant_drills_and_a_provider_fails_over_in_the_browser(backend: Backend) {
    let Some(chromium) = browser_or_skip() else {
        return;
    };
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) =
        protected_tenant(&world, "tess@tailspin.lab", 3, &[("SelfService", "Full")]).await;

    // The plan the provider fails over by: databases first, a manual check, then the rest.
    let (status, plan) = admin(
        app,
        Method::POST,
        &format!("/subscriptions/{}/recovery-plans", tenant.id),
        Some(json!({
            "Name": "Databases first",
            "Groups": [
                { "Name": "Databases", "Vms": [vms[0]],
                  "PostActions": [{ "Kind": "Manual", "Prompt": "Check the databases are consistent" }] },
                { "Name": "Applications", "Vms": [vms[1], vms[2]], "DelaySeconds": 1 },
            ],
        })),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{plan}");

    let stamps = world.lab.stamps();
    let shots = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/portal-screenshots")
        .join(backend_name(backend));
    std::fs::create_dir_all(&shots).expect("screenshot folder");

    let _one_browser = BROWSER.lock().await;
    let mut node = tokio::process::Command::new("node");
    node.args(["--test", "--test-reporter=spec", "tests/portal.test.mjs"])
        .current_dir(portal_dir())
        .env("WAPDR_URL", &app.url)
        .env("WAPDR_ADMIN_USER", ADMIN.0)
        .env("WAPDR_ADMIN_PASSWORD", ADMIN.1)
        .env("WAPDR_TENANT_USER", TENANT.0)
        .env("WAPDR_TENANT_PASSWORD", TENANT.1)
        .env("WAPDR_TENANT_PRINCIPAL", &tenant.user)
        .env("WAPDR_SUBSCRIPTION_ID", tenant.id.to_string())
        .env("WAPDR_VM_COUNT", vms.len().to_string())
        .env("WAPDR_FAILOVER_PLAN", "Databases first")
        .env("WAPDR_PRIMARY_STAMP", &stamps[0].name)
        .env("WAPDR_RECOVERY_STAMP", &stamps[1].name)
        .env("WAPDR_PRIMARY_PORTAL", &stamps[0].tenant_portal)
        .env("WAPDR_RECOVERY_PORTAL", &stamps[1].tenant_portal)
        .env("WAPDR_NEW_PAIR_PLANS", "a-silver,b-silver")
        .env("WAPDR_POLICY", "gold-5min")
        .env("WAPDR_CHROMIUM", &chromium)
        .env("WAPDR_SCREENSHOTS", &shots)
        .kill_on_drop(true);
    let output = tokio::time::timeout(SCENARIO_LIMIT, node.output())
        .await
        .unwrap_or_else(|_| panic!("the browser scenarios took more than {SCENARIO_LIMIT:?}"))
        .expect("node starts");
    let report = format!(
        "{}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    println!("{report}");
    assert!(
        output.status.success(),
        "the browser scenarios failed ({}; their output is above); screenshots in {}",
        output.status,
        shots.display()
    );

    // What the browser did, as the API sees it: the subscription runs on the recovery stamp, and
    // the provider's pair made in the browser was paired.
    let record = dr(app, &tenant).await;
    assert_eq!(record.active_stamp_id, Some(world_uuid(&world.b)));
    let (_, pairs) = admin(app, Method::GET, "/cloud-pairs", None).await;
    let silver = pairs
        .as_array()
        .expect("pairs")
        .iter()
        .find(|p| p["Primary"]["PlanId"] == "a-silver")
        .unwrap_or_else(|| panic!("no Silver pair: {pairs}"));
    assert_eq!(silver["State"], "Paired", "{silver}");
    for shot in [
        "tenant-vms.png",
        "tenant-drill-report.png",
        "admin-failover-done.png",
        "tenant-banner-after-failover.png",
    ] {
        assert!(shots.join(shot).exists(), "screenshot {shot} was not saved");
    }
}

on_both_backends!(a_tenant_drills_and_a_provider_fails_over_in_the_browser);
