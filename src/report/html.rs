//! A failover or drill report as one self-contained HTML page: the summary, the recovery time
//! with manual waits and scripts apart, a timeline (inline SVG, one row per delay, action and VM,
//! grouped as the plan ran them) and the tables behind it. No script, no external style sheet,
//! font or image, so the page can be archived and opened anywhere for an audit.
//!
//! Every text from the report is escaped; nothing the page shows comes from elsewhere.

use std::fmt::Write as _;

use serde_json::Value;
use time::OffsetDateTime;

/// The most VM rows a group draws in the timeline (its tables list them all).
const MAX_VM_ROWS: usize = 200;

/// Pixels of the timeline's drawing area.
const WIDTH: f64 = 900.0;
const LABEL: f64 = 260.0;
const ROW: f64 = 18.0;

/// Escapes text for HTML element content and attribute values.
pub fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

fn text(value: &Value) -> String {
    match value {
        Value::Null => "—".into(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

fn time_of(value: &Value) -> Option<OffsetDateTime> {
    value
        .as_str()
        .and_then(|s| OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok())
}

fn seconds(value: &Value) -> String {
    value
        .as_f64()
        .map_or_else(|| "—".into(), |s| format!("{s:.1} s"))
}

/// One bar of the timeline.
struct Bar {
    label: String,
    start: OffsetDateTime,
    end: OffsetDateTime,
    class: &'static str,
}

/// The report (from [`failover_report`](super::failover_report)) as an HTML page.
pub fn report_html(report: &Value) -> String {
    let kind = match report["Kind"].as_str() {
        Some("test") => "Drill".to_owned(),
        Some("testCleanup") => "Drill cleanup".to_owned(),
        Some("planned") => "Planned failover".to_owned(),
        Some("unplanned") => "Unplanned failover".to_owned(),
        Some("commit") => "Commit".to_owned(),
        Some("rollback") => "Rollback".to_owned(),
        Some("reprotect") => "Reprotect".to_owned(),
        Some("failback") => "Failback".to_owned(),
        _ => text(&report["Kind"]),
    };
    let title = format!(
        "{kind} report — subscription {}",
        text(&report["SubscriptionId"])
    );
    let mut page = String::new();
    let _ = write!(
        page,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>{}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<main>\n<h1>{}</h1>\n",
        escape(&title),
        escape(&title)
    );
    summary(&mut page, report);
    timeline(&mut page, report);
    tables(&mut page, report);
    page.push_str("</main>\n</body>\n</html>\n");
    page
}

fn summary(page: &mut String, report: &Value) {
    let timing = &report["Timing"];
    let counts = &report["VmCounts"];
    let rows = [
        ("Job", text(&report["JobId"])),
        ("Operation", text(&report["Kind"])),
        ("Recovery plan", text(&report["Plan"]["name"])),
        ("Result", text(&report["State"])),
        ("Started by", text(&report["StartedBy"])),
        ("Reason", text(&report["Reason"])),
        ("Created", text(&report["CreatedAt"])),
        ("Finished", text(&report["FinishedAt"])),
        ("Direction", text(&report["Direction"])),
        ("Source stamp", text(&report["SourceStampId"])),
        ("Target stamp", text(&report["TargetStampId"])),
        ("Phase after", text(&report["Phase"])),
        (
            "VMs",
            format!(
                "{} in all: {} succeeded, {} failed, {} running, {} not started",
                text(&counts["Total"]),
                text(&counts["Succeeded"]),
                text(&counts["Failed"]),
                text(&counts["Running"]),
                text(&counts["NotStarted"])
            ),
        ),
        ("Recovery time (RTO)", seconds(&timing["RtoSeconds"])),
        (
            "RTO without manual steps and scripts",
            seconds(&timing["RtoExcludingManualAndScriptsSeconds"]),
        ),
        ("Manual waits", seconds(&timing["ManualWaitSeconds"])),
        ("Scripts and runbooks", seconds(&timing["ScriptSeconds"])),
        ("Delays between groups", seconds(&timing["DelaySeconds"])),
    ];
    page.push_str("<section aria-labelledby=\"summary\">\n<h2 id=\"summary\">Summary</h2>\n<table class=\"summary\">\n");
    for (name, value) in rows {
        let _ = writeln!(
            page,
            "<tr><th scope=\"row\">{}</th><td>{}</td></tr>",
            escape(name),
            escape(&value)
        );
    }
    page.push_str("</table>\n");
    if let Some(error) = report["Error"].as_str() {
        let _ = writeln!(
            page,
            "<p class=\"error\" role=\"alert\">{}</p>",
            escape(error)
        );
    }
    page.push_str("</section>\n");
}

fn bars(report: &Value) -> Vec<Bar> {
    let mut bars = Vec::new();
    let mut add = |label: String, item: &Value, class: &'static str| {
        if let Some(start) = time_of(&item["StartedAt"]) {
            let end = time_of(&item["FinishedAt"]).unwrap_or(start);
            bars.push(Bar {
                label,
                start,
                end,
                class,
            });
        }
    };
    for group in report["Groups"].as_array().into_iter().flatten() {
        let name = text(&group["Name"]);
        if !group["Delay"].is_null() {
            add(format!("{name}: delay"), &group["Delay"], "delay");
        }
        for action in group["Actions"].as_array().into_iter().flatten() {
            let class = match action["Kind"].as_str() {
                Some("Manual") => "manual",
                _ => "script",
            };
            add(text(&action["Name"]), action, class);
        }
        for vm in group["Vms"]
            .as_array()
            .into_iter()
            .flatten()
            .take(MAX_VM_ROWS)
        {
            let class = if vm["Result"] == "Failed" {
                "failed"
            } else {
                "vm"
            };
            add(
                format!("{name}: {} {}", text(&vm["Operation"]), text(&vm["Name"])),
                vm,
                class,
            );
        }
    }
    bars
}

fn timeline(page: &mut String, report: &Value) {
    let bars = bars(report);
    page.push_str("<section aria-labelledby=\"timeline\">\n<h2 id=\"timeline\">Timeline</h2>\n");
    let (Some(first), Some(last)) = (
        time_of(&report["CreatedAt"]),
        bars.iter().map(|b| b.end).max(),
    ) else {
        page.push_str("<p>Nothing has run yet.</p>\n</section>\n");
        return;
    };
    let total = (last - first).as_seconds_f64().max(0.001);
    let scale = (WIDTH - LABEL - 20.0) / total;
    let height = ROW * (bars.len() as f64 + 2.0);
    let _ = writeln!(
        page,
        "<svg role=\"img\" aria-label=\"Timeline of the job: {} steps over {total:.1} seconds\" width=\"{WIDTH}\" height=\"{height}\" viewBox=\"0 0 {WIDTH} {height}\">",
        bars.len()
    );
    for (i, bar) in bars.iter().enumerate() {
        let y = ROW * i as f64;
        let x = LABEL + (bar.start - first).as_seconds_f64().max(0.0) * scale;
        let w = ((bar.end - bar.start).as_seconds_f64() * scale).max(2.0);
        let label: String = bar.label.chars().take(40).collect();
        let _ = writeln!(
            page,
            "<text x=\"0\" y=\"{:.1}\" class=\"label\">{}</text><rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{w:.1}\" height=\"{:.1}\" class=\"{}\"><title>{} — {:.1} s</title></rect>",
            y + ROW * 0.75,
            escape(&label),
            y + 2.0,
            ROW - 4.0,
            bar.class,
            escape(&bar.label),
            (bar.end - bar.start).as_seconds_f64()
        );
    }
    let axis = ROW * (bars.len() as f64 + 1.0);
    let _ = writeln!(
        page,
        "<text x=\"{LABEL}\" y=\"{axis:.1}\" class=\"label\">0 s</text><text x=\"{:.1}\" y=\"{axis:.1}\" class=\"label\" text-anchor=\"end\">{total:.1} s</text>\n</svg>",
        WIDTH - 20.0
    );
    page.push_str("<p class=\"legend\"><span class=\"key vm\"></span> VM operation <span class=\"key failed\"></span> failed <span class=\"key script\"></span> script or runbook <span class=\"key manual\"></span> manual step <span class=\"key delay\"></span> delay</p>\n</section>\n");
}

fn tables(page: &mut String, report: &Value) {
    for (index, group) in report["Groups"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = text(&group["Name"]);
        let _ = writeln!(
            page,
            "<section aria-labelledby=\"group-{index}\">\n<h2 id=\"group-{index}\">Group {}: {}</h2>",
            index + 1,
            escape(&name)
        );
        if !group["Delay"].is_null() {
            let _ = writeln!(
                page,
                "<p>Waited {} before starting.</p>",
                escape(&seconds(&group["Delay"]["WaitedSeconds"]))
            );
        }
        let actions: Vec<&Value> = group["Actions"].as_array().into_iter().flatten().collect();
        if !actions.is_empty() {
            page.push_str("<table><caption>Actions</caption>\n<tr><th scope=\"col\">Action</th><th scope=\"col\">Result</th><th scope=\"col\">Took</th><th scope=\"col\">Acknowledged by</th><th scope=\"col\">Detail</th></tr>\n");
            for action in actions {
                let detail = match (&action["Error"], &action["Comment"]) {
                    (Value::String(e), _) => e.clone(),
                    (_, Value::String(c)) => c.clone(),
                    _ => text(&action["Detail"]),
                };
                let _ = writeln!(
                    page,
                    "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                    escape(&text(&action["Name"])),
                    escape(&text(&action["Result"])),
                    escape(&seconds(&action["Seconds"])),
                    escape(&text(&action["AcknowledgedBy"])),
                    escape(&detail)
                );
            }
            page.push_str("</table>\n");
        }
        page.push_str("<table><caption>VMs</caption>\n<tr><th scope=\"col\">VM</th><th scope=\"col\">Operation</th><th scope=\"col\">Result</th><th scope=\"col\">Started</th><th scope=\"col\">Took</th><th scope=\"col\">Engine tasks</th></tr>\n");
        for vm in group["Vms"].as_array().into_iter().flatten() {
            let tasks: Vec<String> = vm["Tasks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|t| text(&t["name"]))
                .collect();
            let result = match vm["Error"].as_str() {
                Some(error) => format!("{}: {error}", text(&vm["Result"])),
                None => text(&vm["Result"]),
            };
            let _ = writeln!(
                page,
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                escape(&text(&vm["Name"])),
                escape(&text(&vm["Operation"])),
                escape(&result),
                escape(&text(&vm["StartedAt"])),
                escape(&seconds(&vm["Seconds"])),
                escape(&tasks.join(", "))
            );
        }
        page.push_str("</table>\n</section>\n");
    }
    let skipped: Vec<&Value> = report["Skipped"].as_array().into_iter().flatten().collect();
    if !skipped.is_empty() {
        page.push_str(
            "<section aria-labelledby=\"skipped\">\n<h2 id=\"skipped\">Skipped</h2>\n<ul>\n",
        );
        for vm in skipped {
            let _ = writeln!(
                page,
                "<li>{}: {}</li>",
                escape(&text(&vm["name"])),
                escape(&text(&vm["reason"]))
            );
        }
        page.push_str("</ul>\n</section>\n");
    }
}

/// The page's own style: readable type, high-contrast colours (WCAG AA on white) and a print
/// layout.
const STYLE: &str = "body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;color:#1a1a1a;background:#fff;margin:0}\
main{max-width:960px;margin:0 auto;padding:1.5rem}\
h1{font-size:1.4rem}h2{font-size:1.15rem;margin-top:2rem;border-bottom:1px solid #767676}\
table{border-collapse:collapse;width:100%;margin:.75rem 0;font-size:.9rem}\
th,td{text-align:left;padding:.3rem .5rem;border-bottom:1px solid #d0d0d0;vertical-align:top}\
caption{text-align:left;font-weight:600;padding:.3rem 0}\
table.summary th{width:18rem}\
.error{color:#a4000f;font-weight:600}\
svg{max-width:100%;height:auto}\
.label{font-size:11px;fill:#1a1a1a}\
.vm{fill:#0a58ca}.failed{fill:#a4000f}.script{fill:#9a4d00}.manual{fill:#6f2da8}.delay{fill:#595959}\
.legend{font-size:.85rem}.key{display:inline-block;width:.9rem;height:.9rem;margin:0 .25rem 0 .75rem;vertical-align:middle}\
.key.vm{background:#0a58ca}.key.failed{background:#a4000f}.key.script{background:#9a4d00}.key.manual{background:#6f2da8}.key.delay{background:#595959}\
@media print{main{max-width:none}}";

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_page_is_self_contained_and_escapes_every_text() {
        let report = json!({
            "JobId": "j1",
            "Kind": "test",
            "SubscriptionId": "s1",
            "Plan": { "name": "<script>alert(1)</script>" },
            "State": "Succeeded",
            "CreatedAt": "2026-12-01T10:00:00Z",
            "FinishedAt": "2026-12-01T10:02:00Z",
            "Timing": { "RtoSeconds": 90.0 },
            "VmCounts": { "Total": 1, "Succeeded": 1, "Failed": 0, "Running": 0, "NotStarted": 0 },
            "Groups": [{
                "Name": "Web & DB",
                "Delay": null,
                "Actions": [{ "Name": "Web & DB: before #1 manual step", "Kind": "Manual",
                    "StartedAt": "2026-12-01T10:00:01Z", "FinishedAt": "2026-12-01T10:00:31Z",
                    "Seconds": 30.0, "Result": "Succeeded", "AcknowledgedBy": "ops", "Comment": "ok" }],
                "Vms": [{ "Name": "web-1", "Operation": "testFailover", "Result": "Succeeded",
                    "StartedAt": "2026-12-01T10:00:31Z", "FinishedAt": "2026-12-01T10:01:30Z",
                    "Seconds": 59.0, "Tasks": [{ "name": "VmTfoBootTestVm" }] }],
            }],
        });
        let page = report_html(&report);
        assert!(page.starts_with("<!DOCTYPE html>"));
        assert!(
            !page.contains("<script>"),
            "text from the report is escaped"
        );
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
        assert!(page.contains("Web &amp; DB"));
        assert!(
            !page.contains("src=") && !page.contains("href="),
            "nothing is fetched"
        );
        assert_eq!(
            page.matches("<rect").count(),
            2,
            "one bar per action and VM"
        );
        assert!(page.contains("90.0 s"));
        assert!(page.contains("VmTfoBootTestVm"));
    }
}
