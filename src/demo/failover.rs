//! The demo's failover act (DESIGN.md flows 5–6): a recovery plan of two groups, a drill by that
//! plan with its report (JSON summary printed, the self-contained HTML page saved for the audit
//! file) and its cleanup, a planned failover to stamp B (the tenant's portal switches), commit,
//! reprotect, and failback home, each a job whose RTO the scenario prints.

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
    operate_by(admin, subscription, None, kind, reason)
        .await
        .map(|(_, rto)| rto)
}

/// [`operate`] ordered by recovery plan `plan` (the default plan when `None`); returns the job
/// and its RTO.
async fn operate_by(
    admin: &Admin<'_>,
    subscription: SubscriptionId,
    plan: Option<&str>,
    kind: &str,
    reason: &str,
) -> anyhow::Result<(String, f64)> {
    let path = match plan {
        Some(plan) => format!("/subscriptions/{subscription}/recovery-plans/{plan}/failover"),
        None => format!("/subscriptions/{subscription}/failover"),
    };
    let started = admin
        .call(
            reqwest::Method::POST,
            &path,
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
            "Succeeded" => {
                let rto = rto_of(&job).context("the job measured no RTO")?;
                return Ok((job_id, rto));
            }
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

    let plan = two_tier_plan(&admin, subscription).await?;
    let (drill_job, drill) = operate_by(
        &admin,
        subscription,
        Some(&plan),
        "test",
        "demo: quarterly DR drill",
    )
    .await?;
    let report = admin
        .call(reqwest::Method::GET, &format!("/reports/{drill_job}"), None)
        .await?;
    let saved = save_report(&admin, &drill_job).await?;
    let cleanup = operate(&admin, subscription, "testCleanup", "demo: drill done").await?;
    let (home, home_portal) = active(&admin, subscription).await?;
    let timing = member(&report, "Timing");
    let groups: Vec<String> = member(&report, "Groups")
        .as_array()
        .into_iter()
        .flatten()
        .map(|g| {
            format!(
                "{} ({} VMs)",
                text(g, "Name"),
                member(g, "Vms").as_array().map_or(0, Vec::len)
            )
        })
        .collect();
    summary.step(
        "drill",
        format!(
            "drill by plan '{}' ({}): test failover into the isolated network, RTO {drill:.1}s ({:.1}s of it the plan's delay), cleaned up in {cleanup:.1}s; production stays on stamp {home}; report {}",
            text(member(&report, "Plan"), "name"),
            groups.join(" then "),
            member(timing, "DelaySeconds").as_f64().unwrap_or_default(),
            saved.display()
        ),
        json!({
            "rtoSeconds": drill,
            "cleanupSeconds": cleanup,
            "active": home,
            "reportJobId": drill_job,
            "reportHtml": saved.display().to_string(),
        }),
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

/// Creates the demo's recovery plan: the tenant's VMs in two groups by name, the second starting
/// a second after the first (databases first, then the rest, as a provider would order them).
async fn two_tier_plan(admin: &Admin<'_>, subscription: SubscriptionId) -> anyhow::Result<String> {
    let mut vms: Vec<(String, String)> = admin
        .vms(subscription)
        .await?
        .iter()
        .filter(|vm| text(vm, "State") == "Protected")
        .map(|vm| (text(vm, "Name").to_owned(), text(vm, "Id").to_owned()))
        .collect();
    vms.sort();
    ensure!(
        vms.len() >= 2,
        "the demo needs two protected VMs for its plan"
    );
    let (first, rest) = vms.split_at(vms.len() / 3 + 1);
    let ids = |part: &[(String, String)]| part.iter().map(|(_, id)| id.clone()).collect::<Vec<_>>();
    let plan = admin
        .call(
            reqwest::Method::POST,
            &format!("/subscriptions/{subscription}/recovery-plans"),
            Some(json!({
                "Name": "Databases first",
                "Description": "The demo's plan: one group, then the rest a second later.",
                "Groups": [
                    { "Name": "Databases", "Vms": ids(first) },
                    { "Name": "Applications", "Vms": ids(rest), "DelaySeconds": 1 },
                ],
            })),
        )
        .await
        .context("creating the demo's recovery plan")?;
    Ok(text(&plan, "Id").to_owned())
}

/// Saves a job's HTML report where the operator can open it; returns the file.
async fn save_report(admin: &Admin<'_>, job: &str) -> anyhow::Result<std::path::PathBuf> {
    let html = admin.text(&format!("/reports/{job}/html")).await?;
    let dir = std::env::temp_dir().join("wapdr-demo-reports");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let file = dir.join(format!("drill-{job}.html"));
    std::fs::write(&file, html).with_context(|| format!("writing {}", file.display()))?;
    Ok(file)
}
