//! Following a job while it runs: polls `GET /admin/jobs/{id}` (and, for a site operation, its
//! children, `GET /admin/jobs?parent={id}`) until it ends, and shows it as it goes —
//!
//! - on a terminal, live indicatif bars: one per recovery plan group (its VMs done of all), one
//!   spinner per VM, action or delay while it runs; for a site, one bar over its subscriptions
//!   and one line per subscription still failing over;
//! - otherwise (a pipe, a log file), one line per change;
//! - with `--json`, nothing on stdout.
//!
//! Whatever the display, a manual step waiting for its acknowledgement is announced once, with
//! its prompt and the `wapdr ack` command that lets it go on (on stderr under `--json`).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::io::IsTerminal as _;
use std::time::{Duration, Instant};

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::client::{AdminClient, AdminError, encode};
use super::job_view::{Job, Step, kind_word, seconds};

/// How often a running job is looked at.
const POLL: Duration = Duration::from_millis(500);

/// How long the watch rides out a wapdr that does not answer (an instance restarting).
const UNREACHABLE_PATIENCE: Duration = Duration::from_secs(120);

/// How progress is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Display {
    /// Live bars (stderr is a terminal).
    Bars,
    /// One line per change (the output goes to a pipe or a file).
    Lines,
    /// Only manual steps waiting, on stderr (the `--json` run).
    Quiet,
}

impl Display {
    /// Bars on a terminal, lines elsewhere, quiet for `--json`.
    pub fn choose(json: bool) -> Self {
        if json {
            Self::Quiet
        } else if std::io::stderr().is_terminal() {
            Self::Bars
        } else {
            Self::Lines
        }
    }
}

/// The operator stopped watching (ctrl-c); the job goes on.
#[derive(Debug, thiserror::Error)]
#[error(
    "stopped watching; job {0} goes on in wapdr: follow it with `wapdr job {0} --watch`, cancel it with `wapdr cancel {0}`"
)]
pub struct Interrupted(pub String);

/// A job that ended, with the jobs it started (a site operation's subscriptions).
pub struct Watched {
    /// The job, with its steps.
    pub job: Job,
    /// Its children, with their steps.
    pub children: Vec<Job>,
}

/// Follows job `id` until it ends.
pub async fn watch(client: &AdminClient, id: &str, display: Display) -> anyhow::Result<Watched> {
    let mut board = Board::new(display);
    let mut children: BTreeMap<String, Job> = BTreeMap::new();
    let mut unreachable_since: Option<Instant> = None;
    loop {
        let polled = poll(client, id, &mut children).await;
        let job = match polled {
            Ok(job) => {
                unreachable_since = None;
                job
            }
            Err(err) if err.is_unreachable() => {
                let since = *unreachable_since.get_or_insert_with(Instant::now);
                if since.elapsed() > UNREACHABLE_PATIENCE {
                    board.abandon();
                    return Err(err.into());
                }
                if since.elapsed() < POLL {
                    board.say(format!("wapdr does not answer ({err}); trying again"));
                }
                pause(&mut board, id).await?;
                continue;
            }
            Err(err) => {
                board.abandon();
                return Err(err.into());
            }
        };
        let children_now: Vec<Job> = children.values().cloned().collect();
        if job.workflow == "site_failover" {
            board.show_site(&job, &children_now);
        } else {
            board.show_failover(&job);
        }
        if job.is_final() {
            board.finish();
            return Ok(Watched {
                job,
                children: children_now,
            });
        }
        pause(&mut board, id).await?;
    }
}

/// Waits for the next look, unless the operator presses ctrl-c.
async fn pause(board: &mut Board, id: &str) -> Result<(), Interrupted> {
    tokio::select! {
        () = tokio::time::sleep(POLL) => Ok(()),
        _ = tokio::signal::ctrl_c() => {
            board.abandon();
            Err(Interrupted(id.to_owned()))
        }
    }
}

/// Reads the job and brings `children` up to date (only those not yet ended are read again).
async fn poll(
    client: &AdminClient,
    id: &str,
    children: &mut BTreeMap<String, Job>,
) -> Result<Job, AdminError> {
    let job = Job::from_json(&client.get(&format!("/jobs/{}", encode(id))).await?);
    if job.workflow != "site_failover" {
        return Ok(job);
    }
    let mut after: Option<String> = None;
    loop {
        let mut path = format!("/jobs?parent={}&limit=1000", encode(id));
        if let Some(after) = &after {
            path.push_str(&format!("&after={}", encode(after)));
        }
        let page = client.get(&path).await?;
        let listed: Vec<Job> = page
            .as_array()
            .map(|jobs| jobs.iter().map(Job::from_json).collect())
            .unwrap_or_default();
        for child in &listed {
            let known_final = children.get(&child.id).is_some_and(Job::is_final);
            if !known_final {
                let detail = client.get(&format!("/jobs/{}", encode(&child.id))).await?;
                children.insert(child.id.clone(), Job::from_json(&detail));
            }
        }
        if listed.len() < 1000 {
            break;
        }
        after = listed.last().map(|j| j.id.clone());
    }
    Ok(job)
}

/// What is on screen, and what was already said.
struct Board {
    display: Display,
    multi: MultiProgress,
    header: ProgressBar,
    /// Group bars in the order the groups first appeared.
    groups: Vec<(String, ProgressBar)>,
    /// Spinners of running steps (and subscriptions), by key.
    live: HashMap<String, ProgressBar>,
    /// The last state shown of each step or child, by key.
    seen: HashMap<String, String>,
    /// Manual steps already announced.
    announced: HashSet<String>,
}

/// A recovery plan group's bar: its VMs done of all.
const GROUP_BAR: &str = "{prefix:.bold} [{bar:30}] {pos}/{len} VMs {msg}";

fn style(template: &str) -> ProgressStyle {
    ProgressStyle::with_template(template)
        .unwrap_or_else(|_| ProgressStyle::default_bar())
        .progress_chars("=> ")
}

impl Board {
    fn new(display: Display) -> Self {
        let multi = match display {
            Display::Bars => MultiProgress::new(),
            Display::Lines | Display::Quiet => {
                MultiProgress::with_draw_target(ProgressDrawTarget::hidden())
            }
        };
        let header = multi.add(ProgressBar::new_spinner());
        header.set_style(style("{spinner} {msg} ({elapsed})"));
        if display == Display::Bars {
            header.enable_steady_tick(Duration::from_millis(120));
        }
        Self {
            display,
            multi,
            header,
            groups: Vec::new(),
            live: HashMap::new(),
            seen: HashMap::new(),
            announced: HashSet::new(),
        }
    }

    /// A line above the bars (or on stdout); nothing under `--json`.
    fn say(&self, line: String) {
        match self.display {
            Display::Bars => {
                let _ = self.multi.println(line);
            }
            Display::Lines => println!("{line}"),
            Display::Quiet => {}
        }
    }

    /// A manual step waiting: said whatever the display (on stderr under `--json`).
    fn announce(&mut self, job_id: &str, step: &Step, subject: &str) {
        let key = format!("{job_id}:{}", step.id);
        if !self.announced.insert(key) {
            return;
        }
        let prompt = step.ack_prompt.as_deref().unwrap_or("(no prompt)");
        let text = format!(
            "⏸ {subject}step {} '{}' waits for an acknowledgement: {prompt}\n  when it is done, let the job go on with: wapdr ack {job_id} {} --comment \"...\"",
            step.id, step.name, step.id
        );
        match self.display {
            Display::Quiet => eprintln!("{text}"),
            _ => self.say(text),
        }
    }

    /// The bar of group `name` (`{prefix}` is the name), added at the bottom the first time.
    fn group_bar(&mut self, name: &str, template: &str) -> ProgressBar {
        if let Some((_, bar)) = self.groups.iter().find(|(n, _)| n == name) {
            return bar.clone();
        }
        let bar = self.multi.add(ProgressBar::new(0));
        bar.set_style(style(template));
        bar.set_prefix(name.to_owned());
        self.groups.push((name.to_owned(), bar.clone()));
        bar
    }

    /// A spinner for something running, under `below` (its group's bar) when given.
    fn live_bar(&mut self, key: &str, below: Option<&ProgressBar>, message: String) {
        if let Some(bar) = self.live.get(key) {
            bar.set_message(message);
            return;
        }
        let spinner = ProgressBar::new_spinner();
        let spinner = match below {
            Some(group) => self.multi.insert_after(group, spinner),
            None => self.multi.add(spinner),
        };
        spinner.set_style(style("  {spinner} {msg} ({elapsed})"));
        if self.display == Display::Bars {
            spinner.enable_steady_tick(Duration::from_millis(120));
        }
        spinner.set_message(message);
        self.live.insert(key.to_owned(), spinner);
    }

    fn end_live(&mut self, key: &str) {
        if let Some(bar) = self.live.remove(key) {
            bar.finish_and_clear();
        }
    }

    /// Whether `key`'s state changed since it was last shown (and remembers the new one).
    fn changed(&mut self, key: &str, state: &str) -> bool {
        self.seen
            .insert(key.to_owned(), state.to_owned())
            .as_deref()
            != Some(state)
    }

    /// One subscription's failover job: a bar per group, a spinner per running step.
    fn show_failover(&mut self, job: &Job) {
        let kind = job.params["kind"]
            .as_str()
            .map_or(job.workflow.as_str(), kind_word);
        self.header
            .set_message(format!("{kind} job {}: {}", job.id, job.state));
        let mut counts: BTreeMap<String, (u64, u64, u64)> = BTreeMap::new();
        for step in &job.steps {
            let Some(group) = step
                .group()
                .map(str::to_owned)
                .or_else(|| (step.kind == "vm").then(|| "VMs".to_owned()))
            else {
                self.show_plain_step(job, step);
                continue;
            };
            let bar = self.group_bar(&group, GROUP_BAR);
            if step.kind == "vm" {
                let entry = counts.entry(group.clone()).or_default();
                entry.0 += 1;
                entry.1 += u64::from(step.is_final());
                entry.2 += u64::from(step.failed());
            }
            self.show_group_step(job, step, &group, &bar);
        }
        for (group, (total, done, failed)) in counts {
            let bar = self.group_bar(&group, GROUP_BAR);
            bar.set_length(total);
            bar.set_position(done);
            if failed > 0 {
                bar.set_message(format!("({failed} failed)"));
            }
        }
    }

    /// A step outside the plan's groups (`prepare`, `finish`): a line when its state changes
    /// (on a terminal, only when it failed).
    fn show_plain_step(&mut self, job: &Job, step: &Step) {
        let key = format!("{}:{}", job.id, step.id);
        if step.state == "Pending" || !self.changed(&key, &step.state) {
            return;
        }
        let error = step
            .error
            .as_deref()
            .filter(|_| step.state == "Failed")
            .map(|e| format!(": {e}"))
            .unwrap_or_default();
        match self.display {
            Display::Lines => self.say(format!("  {}: {}{error}", step.name, step.state)),
            Display::Bars if step.state == "Failed" => {
                self.say(format!("✗ {}{error}", step.name));
            }
            _ => {}
        }
    }

    /// A VM, action or delay step of a group.
    fn show_group_step(&mut self, job: &Job, step: &Step, group: &str, bar: &ProgressBar) {
        let key = format!("{}:{}", job.id, step.id);
        let what = match step.kind.as_str() {
            "vm" => format!("{} {}", step.operation(), step.vm_name()),
            "delay" => format!(
                "wait {} s before the group",
                step.input["seconds"].as_u64().unwrap_or_default()
            ),
            _ => step
                .name
                .strip_prefix(&format!("{group}: "))
                .unwrap_or(&step.name)
                .to_owned(),
        };
        if step.waits_for_ack() {
            self.announce(&job.id, step, "");
        }
        let changed = self.changed(&key, &step.state);
        if step.is_final() {
            self.end_live(&key);
            if changed {
                let took = step
                    .duration_ms
                    .map(|ms| format!(" in {}", seconds(ms as f64 / 1000.0)))
                    .unwrap_or_default();
                if step.failed() {
                    self.say(format!("✗ {group}: {what}: {}", step.failure()));
                } else if self.display == Display::Lines {
                    self.say(format!("  [{group}] {what}: {}{took}", step.state));
                }
            }
        } else if matches!(step.state.as_str(), "Running" | "Waiting") {
            let status = if step.waits_for_ack() {
                format!("waiting for `wapdr ack {} {}`", job.id, step.id)
            } else {
                step.state.to_lowercase()
            };
            self.live_bar(&key, Some(bar), format!("{what}: {status}"));
            if changed && self.display == Display::Lines {
                self.say(format!("  [{group}] {what}: {}", step.state));
            }
        }
    }

    /// A site operation: a bar over its subscriptions, a spinner per subscription running.
    fn show_site(&mut self, site: &Job, children: &[Job]) {
        let kind = site.params["kind"].as_str().map_or("failover", kind_word);
        self.header
            .set_message(format!("site {kind} job {}: {}", site.id, site.state));
        if let Some(select) = site.steps.iter().find(|s| s.kind == "select") {
            let key = format!("{}:select", site.id);
            if select.is_final() && self.changed(&key, "said") {
                let skipped = select.output["skipped"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                let mut line = format!(
                    "site {kind} of stamp {}: {} subscriptions",
                    select.output["stampName"].as_str().unwrap_or_default(),
                    select.output["subscriptions"]
                );
                if !skipped.is_empty() {
                    line.push_str(&format!(", {} skipped:", skipped.len()));
                    for skip in &skipped {
                        line.push_str(&format!(
                            "\n  - {}: {}",
                            skip["subscriptionId"].as_str().unwrap_or_default(),
                            skip["reason"].as_str().unwrap_or_default()
                        ));
                    }
                }
                self.say(line);
            }
        }
        let total = site
            .steps
            .iter()
            .find(|s| s.kind == "select")
            .and_then(|s| s.output["subscriptions"].as_u64())
            .unwrap_or(children.len() as u64);
        let bar = self.group_bar(
            "subscriptions",
            "{prefix:.bold} [{bar:30}] {pos}/{len} ended {msg}",
        );
        bar.set_length(total);
        bar.set_position(children.iter().filter(|c| c.is_final()).count() as u64);
        let failed = children
            .iter()
            .filter(|c| c.is_final() && c.state != "Succeeded")
            .count();
        if failed > 0 {
            bar.set_message(format!("({failed} failed)"));
        }
        for child in children {
            let subject = child.subscription_id.clone().unwrap_or_default();
            let key = format!("child:{}", child.id);
            for step in child.waiting_for_ack() {
                self.announce(&child.id, step, &format!("subscription {subject}: "));
            }
            if child.is_final() {
                self.end_live(&key);
                if self.changed(&key, &child.state) {
                    self.say(child_outcome(child, &subject));
                }
                continue;
            }
            let vms: Vec<&Step> = child.steps.iter().filter(|s| s.kind == "vm").collect();
            let done = vms.iter().filter(|s| s.is_final()).count();
            self.live_bar(
                &key,
                Some(&bar),
                format!(
                    "subscription {subject}: {done}/{} VMs, {}",
                    vms.len(),
                    child.state.to_lowercase()
                ),
            );
            if self.changed(&key, &child.state) && self.display == Display::Lines {
                self.say(format!("  subscription {subject}: {}", child.state));
            }
        }
    }

    /// Clears the bars once the job ended (the outcome is printed after them).
    fn finish(&mut self) {
        for (_, bar) in self.live.drain() {
            bar.finish_and_clear();
        }
        for (_, bar) in &self.groups {
            bar.finish_and_clear();
        }
        self.header.finish_and_clear();
    }

    /// Leaves the bars as they are (the watch stops before the job ends).
    fn abandon(&mut self) {
        for (_, bar) in self.live.drain() {
            bar.abandon();
        }
        for (_, bar) in &self.groups {
            bar.abandon();
        }
        self.header.abandon();
    }
}

/// How a site's subscription job ended, in one line.
fn child_outcome(child: &Job, subject: &str) -> String {
    if child.state == "Succeeded" {
        let rto = child.finish_output()["rtoSeconds"]
            .as_f64()
            .map(|s| format!(", RTO {}", seconds(s)))
            .unwrap_or_default();
        format!(
            "✓ subscription {subject}: Succeeded{rto} (job {})",
            child.id
        )
    } else {
        format!(
            "✗ subscription {subject}: {}: {} (job {})",
            child.state,
            child.error.as_deref().unwrap_or("no error recorded"),
            child.id
        )
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn job(steps: serde_json::Value) -> Job {
        Job::from_json(&json!({
            "Id": "job-1", "Workflow": "failover", "State": "Running",
            "Parameters": "{\"kind\":\"planned\"}", "Steps": steps,
        }))
    }

    #[test]
    fn vm_steps_are_counted_per_group_and_a_waiting_manual_step_is_announced_once() {
        let mut board = Board::new(Display::Quiet);
        let running = job(json!([
            { "Id": 1, "Kind": "prepare", "State": "Succeeded", "Name": "prepare" },
            { "Id": 2, "Kind": "action", "State": "Waiting", "WaitingFor": "ack",
              "AckPrompt": "Stop the app", "Name": "Db: before #1 manual step",
              "Input": "{\"context\":{\"Group\":\"Db\"}}" },
            { "Id": 3, "Kind": "vm", "State": "Succeeded", "Name": "plannedFailover db-1",
              "Input": "{\"group\":\"Db\",\"name\":\"db-1\",\"op\":\"plannedFailover\"}" },
            { "Id": 4, "Kind": "vm", "State": "Running", "Name": "plannedFailover db-2",
              "Input": "{\"group\":\"Db\",\"name\":\"db-2\",\"op\":\"plannedFailover\"}" },
            { "Id": 5, "Kind": "vm", "State": "Pending", "Name": "plannedFailover web-1",
              "Input": "{\"group\":\"Web\",\"name\":\"web-1\",\"op\":\"plannedFailover\"}" }
        ]));
        board.show_failover(&running);
        board.show_failover(&running);
        let groups: Vec<(String, u64, Option<u64>)> = board
            .groups
            .iter()
            .map(|(name, bar)| (name.clone(), bar.position(), bar.length()))
            .collect();
        assert_eq!(
            groups,
            [
                ("Db".to_owned(), 1, Some(2)),
                ("Web".to_owned(), 0, Some(1))
            ]
        );
        assert_eq!(
            board.announced.iter().collect::<Vec<_>>(),
            [&"job-1:2".to_owned()]
        );
        assert!(
            board.live.contains_key("job-1:4"),
            "a spinner for the running VM"
        );
        assert!(
            board.live.contains_key("job-1:2"),
            "and for the waiting step"
        );
        assert!(!board.live.contains_key("job-1:3"), "none for a VM done");
    }

    #[test]
    fn a_site_child_that_ended_says_its_rto() {
        let child = Job::from_json(&json!({
            "Id": "c1", "Workflow": "failover", "State": "Succeeded", "SubscriptionId": "s1",
            "Steps": [{ "Id": 9, "Kind": "finish", "State": "Succeeded", "Name": "finish",
                        "Output": "{\"rtoSeconds\":12.5}" }]
        }));
        assert_eq!(
            child_outcome(&child, "s1"),
            "✓ subscription s1: Succeeded, RTO 12.5 s (job c1)"
        );
    }
}
