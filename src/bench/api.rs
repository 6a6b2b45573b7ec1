//! Benchmark 1, the API: the tenant's `GET /tenant/subscriptions/{id}/vms` of a subscription of
//! 100 protected VMs and the notification endpoint's `POST /subscriptions` (a new subscription
//! each request: without the DR add-on, so wapdr records it and answers, and with it, so each
//! request also starts an enablement that the engine runs beside the next requests), at 1, 16
//! and 64 requests in flight, on each store; in the same run, a bare axum handler answering the
//! same bytes is the ceiling. Goals: at least half the ceiling's throughput; p99 under 5 ms at 16
//! in flight.

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, ensure};
use axum::http::HeaderValue;
use reqwest::header::CONTENT_TYPE;
use secrecy::ExposeSecret as _;
use serde_json::json;

use super::BenchArgs;
use super::load::{self, MakeRequest, Measured};
use super::report::{Figure, Report};
use super::world::{BenchWorld, lab_config};

/// Requests in flight at each point.
const CONCURRENCY: [usize; 3] = [1, 16, 64];

/// The p99 goal at 16 in flight, in milliseconds.
const P99_GOAL_MS: f64 = 5.0;

/// The throughput goal as a share of the ceiling's.
const CEILING_SHARE_GOAL: f64 = 0.5;

/// Runs the API benchmark on each backend asked for.
pub async fn run(args: &BenchArgs, report: &mut Report) -> anyhow::Result<()> {
    let command = args.command("api");
    let (vms, warmup, duration) = if args.quick {
        (10, Duration::from_millis(50), Duration::from_millis(300))
    } else {
        (100, Duration::from_millis(500), Duration::from_secs(4))
    };
    for backend in args.backends() {
        let world =
            BenchWorld::start(&backend, lab_config(1, vms, json!({}))?, "concurrency = 16").await?;
        let name = world.backend;
        let tenant = world
            .tenants()
            .await?
            .into_iter()
            .next()
            .context("a tenant")?;
        world.notify(&tenant).await?;
        world
            .until_provisioned(1, Duration::from_secs(300), args.json)
            .await?;

        let (user, password) = world.running.secrets.tenant.clone();
        let (client, url) = (world.client.clone(), world.running.url());
        let principal = tenant
            .account_admin_live_email_id
            .clone()
            .unwrap_or_default();
        let id = tenant.subscription_id;
        let tenant_get: MakeRequest = Arc::new(move || {
            client
                .get(format!("{url}/tenant/subscriptions/{id}/vms"))
                .basic_auth(&user, Some(password.expose_secret()))
                .header("x-ms-principal-id", &principal)
        });
        let listed: serde_json::Value = tenant_get().send().await?.json().await?;
        let listed = listed.as_array().map_or(0, Vec::len);
        ensure!(listed == vms, "the tenant sees {listed} VMs, not {vms}");

        let (user, password) = world.running.secrets.notification.clone();
        let (client, url) = (world.client.clone(), world.running.url());
        // A new subscription each request. Without the add-on wapdr records it and answers; with
        // it (the default quota) it also starts the subscription's enablement, which the engine
        // then runs beside the requests that follow.
        let notification_post = |dr_enabled: bool| -> MakeRequest {
            let (client, url) = (client.clone(), url.clone());
            let (user, password) = (user.clone(), password.clone());
            Arc::new(move || {
                client
                    .post(format!("{url}/notification/subscriptions"))
                    .basic_auth(&user, Some(password.expose_secret()))
                    .json(&json!({
                        "SubscriptionId": uuid::Uuid::new_v4().to_string(),
                        "SubscriptionName": "bench",
                        "State": 0,
                        "LifecycleState": 0,
                        "QuotaSettings": [{"Key": "DrEnabled", "Value": dr_enabled.to_string()}],
                        "AdminId": "bench@tenant.lab",
                        "CoAdminIds": [],
                    }))
            })
        };

        for (endpoint, make) in [
            (format!("GET tenant vms ({vms} VMs)"), tenant_get),
            (
                "POST notification subscriptions (DR off)".to_owned(),
                notification_post(false),
            ),
            (
                "POST notification subscriptions (DR on)".to_owned(),
                notification_post(true),
            ),
        ] {
            // The ceiling answers exactly what wapdr answered.
            let sample = make().send().await?;
            let status = sample.status();
            let content_type = sample
                .headers()
                .get(CONTENT_TYPE)
                .cloned()
                .unwrap_or(HeaderValue::from_static("application/json"));
            let body = sample.bytes().await?;
            let (ceiling_url, ceiling_server) = load::ceiling(status, content_type, body).await?;
            let client = world.client.clone();
            let ceiling: MakeRequest = Arc::new(move || client.get(&ceiling_url));
            for concurrency in CONCURRENCY {
                let real = load::drive(make.clone(), concurrency, warmup, duration).await?;
                let bare = load::drive(ceiling.clone(), concurrency, warmup, duration).await?;
                figures(report, &command, name, &endpoint, concurrency, &real, &bare);
            }
            ceiling_server.abort();
        }
        world.stop().await?;
    }
    Ok(())
}

fn figures(
    report: &mut Report,
    command: &str,
    backend: &str,
    endpoint: &str,
    concurrency: usize,
    real: &Measured,
    bare: &Measured,
) {
    let at = format!("{backend} {endpoint} c={concurrency}");
    let share = real.per_second() / bare.per_second();
    report.add(
        command,
        Figure::new(
            "api",
            format!("{at} throughput"),
            real.per_second(),
            "req/s",
        )
        .against("bare axum ceiling", bare.per_second())
        .goal(
            format!("≥ {CEILING_SHARE_GOAL} of the ceiling"),
            share >= CEILING_SHARE_GOAL,
        ),
    );
    report.add(
        command,
        Figure::new("api", format!("{at} p50"), real.latency_ms(0.5), "ms")
            .against("ceiling p50", bare.latency_ms(0.5)),
    );
    let p99 = Figure::new("api", format!("{at} p99"), real.latency_ms(0.99), "ms")
        .against("ceiling p99", bare.latency_ms(0.99));
    let p99 = if concurrency == 16 {
        let met = real.latency_ms(0.99) < P99_GOAL_MS;
        p99.goal(format!("< {P99_GOAL_MS} ms"), met)
    } else {
        p99
    };
    report.add(command, p99);
}
