//! `wapdr status`: the provider's view at a glance — every stamp with its site-health verdict
//! (`GET /admin/site-health`), the DR subscriptions counted by phase, failover phase and active
//! stamp (`GET /admin/dr/subscriptions`, every page), those away from their steady state, and
//! the jobs running or waiting (`GET /admin/jobs?state=Running`, `Waiting`).

use std::collections::BTreeMap;
use std::process::ExitCode;

use clap::Args;
use serde_json::{Value, json};

use super::client::{AdminClient, encode};
use super::connection::{ConnectionArgs, connect};
use super::job_view::{Job, short_time};
use super::jobs::job_table;
use super::table::Table;

/// How many DR statuses one page asks for.
const PAGE: usize = 500;

/// `wapdr status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// List every DR subscription, not only those away from Enabled, Replicating and their
    /// primary stamp.
    #[arg(long)]
    pub all: bool,
    /// Print one JSON object: `stamps`, `subscriptions`, `jobs`.
    #[arg(long)]
    pub json: bool,
    /// Which wapdr, and the admin credentials.
    #[command(flatten)]
    pub connection: ConnectionArgs,
}

/// `wapdr status`.
pub async fn status(args: StatusArgs) -> anyhow::Result<ExitCode> {
    let client = connect(&args.connection).await?;
    let stamps = client.get("/site-health").await?;
    let subscriptions = dr_subscriptions(&client).await?;
    let mut jobs = Vec::new();
    for state in ["Running", "Waiting"] {
        let page = client
            .get(&format!("/jobs?state={state}&limit=1000"))
            .await?;
        jobs.extend(page.as_array().cloned().unwrap_or_default());
    }
    if args.json {
        println!(
            "{}",
            json!({ "stamps": stamps, "subscriptions": subscriptions, "jobs": jobs })
        );
        return Ok(ExitCode::SUCCESS);
    }
    print!("{}", render(&stamps, &subscriptions, &jobs, args.all));
    Ok(ExitCode::SUCCESS)
}

/// Every DR status, page by page.
async fn dr_subscriptions(client: &AdminClient) -> anyhow::Result<Vec<Value>> {
    let mut all = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/dr/subscriptions?limit={PAGE}");
        if let Some(after) = &after {
            path.push_str(&format!("&after={}", encode(after)));
        }
        let page = client.get(&path).await?;
        let items = page.as_array().cloned().unwrap_or_default();
        let full = items.len() == PAGE;
        after = items
            .last()
            .and_then(|s| s["SubscriptionId"].as_str())
            .map(str::to_owned);
        all.extend(items);
        if !full || after.is_none() {
            return Ok(all);
        }
    }
}

fn text(value: &Value) -> String {
    value.as_str().unwrap_or_default().to_owned()
}

/// The failover phase of a DR status (`Replicating` when it has none).
fn failover_phase(sub: &Value) -> String {
    sub["Failover"]["Phase"]
        .as_str()
        .unwrap_or("Replicating")
        .to_owned()
}

/// Whether a subscription is where it should be: DR enabled, replicating, running at home.
fn settled(sub: &Value) -> bool {
    sub["Phase"] == "Enabled"
        && failover_phase(sub) == "Replicating"
        && sub["ActiveStamp"]["Id"] == sub["PrimaryStamp"]["Id"]
}

/// The status page as text.
fn render(stamps: &Value, subscriptions: &[Value], jobs: &[Value], all: bool) -> String {
    let mut out = String::from("Stamps\n");
    let mut table = Table::new(&["STAMP", "VERDICT", "SINCE", "AUTO FAILOVER", "REASON"]);
    for stamp in stamps.as_array().into_iter().flatten() {
        table.row(vec![
            text(&stamp["StampName"]),
            text(&stamp["Verdict"]),
            stamp["Since"].as_str().map(short_time).unwrap_or_default(),
            if stamp["AutoFailover"] == true {
                "on"
            } else {
                "off"
            }
            .into(),
            text(&stamp["Reason"]),
        ]);
    }
    if table.is_empty() {
        out.push_str("  no stamp is registered (POST /admin/stamps)\n");
    } else {
        out.push_str(&table.render(2));
    }

    out.push_str(&format!("\nDR subscriptions: {}\n", subscriptions.len()));
    let count = |key: &dyn Fn(&Value) -> String| {
        let mut counts: BTreeMap<String, usize> = BTreeMap::new();
        for sub in subscriptions {
            *counts.entry(key(sub)).or_default() += 1;
        }
        counts
            .iter()
            .map(|(k, n)| format!("{k} {n}"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    if !subscriptions.is_empty() {
        out.push_str(&format!("  by phase: {}\n", count(&|s| text(&s["Phase"]))));
        out.push_str(&format!(
            "  by failover phase: {}\n",
            count(&failover_phase)
        ));
        out.push_str(&format!(
            "  by active stamp: {}\n",
            count(&|s| {
                s["ActiveStamp"]["Name"]
                    .as_str()
                    .or(s["ActiveStamp"]["Id"].as_str())
                    .unwrap_or("none")
                    .to_owned()
            })
        ));
    }
    let mut table = Table::new(&[
        "SUBSCRIPTION",
        "PHASE",
        "FAILOVER",
        "ACTIVE",
        "PRIMARY",
        "VMS PROTECTED",
        "WORST HEALTH",
        "RPO",
    ]);
    let mut hidden = 0;
    for sub in subscriptions {
        if !all && settled(sub) {
            hidden += 1;
            continue;
        }
        let name = |stamp: &Value| {
            stamp["Name"]
                .as_str()
                .or(stamp["Id"].as_str())
                .unwrap_or("—")
                .to_owned()
        };
        let counts = &sub["VmCounts"];
        let total: i64 = counts
            .as_object()
            .map(|c| c.values().filter_map(Value::as_i64).sum())
            .unwrap_or(0);
        table.row(vec![
            text(&sub["SubscriptionId"]),
            text(&sub["Phase"]),
            failover_phase(sub),
            name(&sub["ActiveStamp"]),
            name(&sub["PrimaryStamp"]),
            format!("{}/{total}", counts["Protected"].as_i64().unwrap_or(0)),
            sub["WorstHealth"].as_str().unwrap_or("—").to_owned(),
            sub["RpoSeconds"]
                .as_i64()
                .map_or_else(|| "—".to_owned(), |s| format!("{s} s")),
        ]);
    }
    if !table.is_empty() {
        out.push_str(&table.render(2));
    }
    if hidden > 0 {
        out.push_str(&format!(
            "  {hidden} more Enabled, Replicating and active on their primary stamp (--all lists them)\n"
        ));
    }

    let jobs: Vec<Job> = jobs.iter().map(Job::from_json).collect();
    out.push_str(&format!("\nJobs running or waiting: {}\n", jobs.len()));
    if !jobs.is_empty() {
        out.push_str(&job_table(&jobs).render(2));
    }
    let waiting: Vec<String> = jobs
        .iter()
        .filter(|j| j.state == "Waiting")
        .map(|j| format!("  `wapdr job {}` shows what job {} waits for\n", j.id, j.id))
        .collect();
    out.push_str(&waiting.concat());
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sub(id: &str, phase: &str, failover: &str, active: &str) -> Value {
        json!({
            "SubscriptionId": id, "Phase": phase,
            "PrimaryStamp": { "Id": "a", "Name": "A" },
            "ActiveStamp": { "Id": active, "Name": active.to_uppercase() },
            "Failover": { "Phase": failover },
            "VmCounts": { "Protected": 2, "Enabling": 1 },
            "WorstHealth": "Normal", "RpoSeconds": 30
        })
    }

    #[test]
    fn status_counts_every_subscription_and_lists_those_away_from_home() {
        let stamps = json!([
            { "StampName": "A", "Verdict": "Up", "AutoFailover": false, "Reason": "" },
            { "StampName": "B", "Verdict": "Down", "AutoFailover": true, "Reason": "SPF refused" }
        ]);
        let subs = [
            sub("s1", "Enabled", "Replicating", "a"),
            sub("s2", "Enabled", "FailedOver", "b"),
        ];
        let page = render(&stamps, &subs, &[], false);
        assert!(page.contains("  A      Up"), "{page}");
        assert!(page.contains("  B      Down     "), "{page}");
        assert!(
            page.contains("by failover phase: FailedOver 1, Replicating 1"),
            "{page}"
        );
        assert!(page.contains("by active stamp: A 1, B 1"), "{page}");
        assert!(
            page.contains("s2  "),
            "the one failed over is listed: {page}"
        );
        assert!(
            !page.contains("s1  "),
            "the settled one is counted only: {page}"
        );
        assert!(page.contains("1 more Enabled, Replicating"), "{page}");
        assert!(render(&stamps, &subs, &[], true).contains("s1  "));
    }
}
