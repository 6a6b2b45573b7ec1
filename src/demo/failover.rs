//! The demo's failover act (DESIGN.md flow 5): a drill and its cleanup, a planned failover to
//! stamp B (the tenant's portal switches), commit, reprotect, and failback home, each a job whose
//! RTO the scenario prints.

use std::time::{Duration, Instant};

use anyhow::{Context as _, bail, ensure};
use serde_json::{Value, json};
use wapdr::app::Running;
use wapdr::domain::SubscriptionId;

use super::Summary;
use super::protection::{Admin, member, text};

/// How long the demo waits for one failover job.
const JOB_DEADLINE: Duration = Duration::from_secs(120);

/// The RTO a failover job measured (`rtoSeconds` in its last step's output), else its duration.
fn rto_of(job: &Value) -> Option<f64> {
    let from_steps = member(job, "Steps").as_array().and_then(|steps| {
        steps.iter().rev().find_map(|step| {
            let output = member(step, "Output");
            let output = match output {
                Value::String(text) => serde_json::from_str::<Value>(text).ok()?,
                other => other.clone(),
            };
            output.get("rtoSeconds").and_then(Value::as_f64)
        })
    });
    from_steps.or_else(|| member(job, "DurationMs").as_f64().map(|ms| ms / 1000.0))
}

/// Starts one failover operation on the subscription and waits for its job; returns its RTO.
async fn operate(
    admin: &Admin<'_>,
    subscription: SubscriptionId,
    kind: &str,
    reason: &str,
) -> anyhow::Result<f64> {
    let started = admin
        .call(
            reqwest::Method::POST,
            &format!("/subscriptions/{subscription}/failover"),
            Some(json!({ "Kind": kind, "Reason": reason })),
        )
        .await
        .with_context(|| format!("starting '{kind}'"))?;
    let job_id = text(&started, "JobId").to_owned();
    ensure!(!job_id.is_empty(), "'{kind}' answered no job: {started}");
    let deadline = Instant::now() + JOB_DEADLINE;
    loop {
        let job = admin
            .call(reqwest::Method::GET, &format!("/jobs/{job_id}"), None)
            .await?;
        match text(&job, "State") {
            "Succeeded" => return rto_of(&job).context("the job measured no RTO"),
            "Failed" | "Cancelled" => bail!(
                "'{kind}' ended {}: {}",
                text(&job, "State"),
                member(&job, "Error")
            ),
            _ if Instant::now() > deadline => {
                bail!("'{kind}' did not finish within {JOB_DEADLINE:?}")
            }
            _ => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}

/// Which stamp the subscription is active on, and the portal its tenant should use.
async fn active(
    admin: &Admin<'_>,
    subscription: SubscriptionId,
) -> anyhow::Result<(String, String)> {
    let dr = admin.dr(subscription).await?;
    Ok((
        text(member(&dr, "ActiveStamp"), "Name").to_owned(),
        text(&dr, "PortalUrl").to_owned(),
    ))
}

/// Drill, planned failover, commit, reprotect and failback of the subscription, with RTOs.
pub async fn fail_over_and_back(
    running: &Running,
    subscription: SubscriptionId,
    summary: &mut Summary,
) -> anyhow::Result<()> {
    let admin = Admin::new(running)?;
    let mut rto = serde_json::Map::new();

    let drill = operate(&admin, subscription, "test", "demo: quarterly DR drill").await?;
    let cleanup = operate(&admin, subscription, "testCleanup", "demo: drill done").await?;
    let (home, home_portal) = active(&admin, subscription).await?;
    summary.step(
        "drill",
        format!(
            "drill: test failover into the isolated network in {drill:.1}s, cleaned up in {cleanup:.1}s; production stays on stamp {home}"
        ),
        json!({ "rtoSeconds": drill, "cleanupSeconds": cleanup, "active": home }),
    );
    rto.insert("test".into(), json!(drill));

    let planned = operate(&admin, subscription, "planned", "demo: planned move to B").await?;
    let (away, away_portal) = active(&admin, subscription).await?;
    ensure!(
        away != home,
        "the subscription is still active on stamp {home}"
    );
    summary.step(
        "failover",
        format!(
            "planned failover to stamp {away}: RTO {planned:.1}s; the tenant now signs in at {away_portal}"
        ),
        json!({ "rtoSeconds": planned, "active": away, "portalUrl": away_portal }),
    );
    rto.insert("planned".into(), json!(planned));

    let commit = operate(&admin, subscription, "commit", "demo: keep B").await?;
    let reprotect = operate(&admin, subscription, "reprotect", "demo: replicate B to A").await?;
    summary.step(
        "reprotect",
        format!(
            "committed in {commit:.1}s; reprotected (stamp {away} → {home}) in {reprotect:.1}s"
        ),
        json!({ "commitSeconds": commit, "reprotectSeconds": reprotect }),
    );

    let failback = operate(&admin, subscription, "failback", "demo: back home").await?;
    let (back, back_portal) = active(&admin, subscription).await?;
    ensure!(
        back == home,
        "failback left the subscription on stamp {back}"
    );
    ensure!(back_portal == home_portal, "the portal did not switch back");
    summary.step(
        "failback",
        format!("failback to stamp {back} (planned failover, commit, reprotect): RTO {failback:.1}s; portal {back_portal}"),
        json!({ "rtoSeconds": failback, "active": back }),
    );
    rto.insert("failback".into(), json!(failback));
    summary.figure("rtoSeconds", Value::Object(rto));
    Ok(())
}
