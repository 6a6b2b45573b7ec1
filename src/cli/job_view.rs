//! A job as the admin API shows it (`GET /admin/jobs/{id}`), read into what the commands
//! display: its state and times, and each step with the group, VM and operation a failover step
//! works on (a step's `Input` and `Output` arrive as JSON text).

use serde_json::Value;

/// One job.
#[derive(Debug, Clone)]
pub struct Job {
    /// Its id.
    pub id: String,
    /// The workflow (`failover`, `site_failover`, ...).
    pub workflow: String,
    /// `Pending`, `Running`, `Waiting`, `Succeeded`, `Failed` or `Cancelled`.
    pub state: String,
    /// The subscription it concerns, if any.
    pub subscription_id: Option<String>,
    /// Why it failed or was cancelled.
    pub error: Option<String>,
    /// Who started it.
    pub started_by: String,
    /// Why.
    pub reason: Option<String>,
    /// When it was created (RFC 3339).
    pub created_at: String,
    /// How long it ran, once it ended.
    pub duration_ms: Option<i64>,
    /// Its parameters (`kind` of a failover, ...).
    pub params: Value,
    /// Its steps, when shown in detail.
    pub steps: Vec<Step>,
}

/// One step of a job.
#[derive(Debug, Clone)]
pub struct Step {
    /// Its number within the job (what `wapdr ack` takes).
    pub id: i64,
    /// The stage it belongs to.
    pub stage: i64,
    /// Its name.
    pub name: String,
    /// Its kind (`vm`, `action`, `delay`, `prepare`, `finish`, ...).
    pub kind: String,
    /// Its state, as a job's.
    pub state: String,
    /// `ack` while waiting for an operator, `until` while waiting for a time.
    pub waiting_for: Option<String>,
    /// What a manual step asks the operator.
    pub ack_prompt: Option<String>,
    /// Who acknowledged it.
    pub acknowledged_by: Option<String>,
    /// The last error.
    pub error: Option<String>,
    /// What it was given.
    pub input: Value,
    /// What it recorded.
    pub output: Value,
    /// When it started (RFC 3339).
    pub started_at: Option<String>,
    /// How long it took, once it ended.
    pub duration_ms: Option<i64>,
}

fn text(value: &Value, name: &str) -> String {
    value[name].as_str().unwrap_or_default().to_owned()
}

fn opt_text(value: &Value, name: &str) -> Option<String> {
    value[name].as_str().map(str::to_owned)
}

/// A member holding JSON as text (`Input`, `Output`, `Parameters`), parsed.
fn embedded(value: &Value, name: &str) -> Value {
    match &value[name] {
        Value::String(text) => serde_json::from_str(text).unwrap_or(Value::Null),
        other => other.clone(),
    }
}

/// Whether a job or step state is final.
pub fn is_final(state: &str) -> bool {
    matches!(state, "Succeeded" | "Failed" | "Cancelled")
}

impl Job {
    /// Reads a job answered by the admin API.
    pub fn from_json(value: &Value) -> Self {
        Self {
            id: text(value, "Id"),
            workflow: text(value, "Workflow"),
            state: text(value, "State"),
            subscription_id: opt_text(value, "SubscriptionId"),
            error: opt_text(value, "Error"),
            started_by: text(value, "StartedBy"),
            reason: opt_text(value, "Reason"),
            created_at: text(value, "CreatedAt"),
            duration_ms: value["DurationMs"].as_i64(),
            params: embedded(value, "Parameters"),
            steps: value["Steps"]
                .as_array()
                .map(|steps| steps.iter().map(Step::from_json).collect())
                .unwrap_or_default(),
        }
    }

    /// Whether the job has ended.
    pub fn is_final(&self) -> bool {
        is_final(&self.state)
    }

    /// The output of its `finish` step (a failover's outcome), or null.
    pub fn finish_output(&self) -> &Value {
        self.steps
            .iter()
            .find(|s| s.kind == "finish")
            .map_or(&Value::Null, |s| &s.output)
    }

    /// The steps waiting for an operator's acknowledgement.
    pub fn waiting_for_ack(&self) -> impl Iterator<Item = &Step> {
        self.steps.iter().filter(|s| s.waits_for_ack())
    }
}

impl Step {
    fn from_json(value: &Value) -> Self {
        Self {
            id: value["Id"].as_i64().unwrap_or_default(),
            stage: value["Stage"].as_i64().unwrap_or_default(),
            name: text(value, "Name"),
            kind: text(value, "Kind"),
            state: text(value, "State"),
            waiting_for: opt_text(value, "WaitingFor"),
            ack_prompt: opt_text(value, "AckPrompt"),
            acknowledged_by: opt_text(value, "AcknowledgedBy"),
            error: opt_text(value, "Error"),
            input: embedded(value, "Input"),
            output: embedded(value, "Output"),
            started_at: opt_text(value, "StartedAt"),
            duration_ms: value["DurationMs"].as_i64(),
        }
    }

    /// The recovery plan group a failover step works in (VM, action or delay).
    pub fn group(&self) -> Option<&str> {
        self.input["group"]
            .as_str()
            .or_else(|| self.input["context"]["Group"].as_str())
    }

    /// The VM a `vm` step works on, by name.
    pub fn vm_name(&self) -> &str {
        self.input["name"].as_str().unwrap_or(&self.name)
    }

    /// The operation a `vm` step runs (`testFailover`, `plannedFailover`, `commit`, ...).
    pub fn operation(&self) -> &str {
        self.input["op"].as_str().unwrap_or_default()
    }

    /// Whether the step ended.
    pub fn is_final(&self) -> bool {
        is_final(&self.state)
    }

    /// Whether it ended badly: failed, or (an unplanned failover going on past failures)
    /// succeeded recording that it failed.
    pub fn failed(&self) -> bool {
        self.state == "Failed" || self.state == "Cancelled" || self.output["failed"] == true
    }

    /// Why it failed.
    pub fn failure(&self) -> String {
        self.output["error"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| self.error.clone())
            .unwrap_or_else(|| self.state.clone())
    }

    /// Whether it waits for an operator's acknowledgement.
    pub fn waits_for_ack(&self) -> bool {
        self.state == "Waiting" && self.waiting_for.as_deref() == Some("ack")
    }
}

/// A failover kind as people call it (`test` is a drill).
pub fn kind_word(kind: &str) -> &str {
    match kind {
        "test" => "drill",
        "testCleanup" => "drill cleanup",
        "planned" => "planned failover",
        "unplanned" => "unplanned failover",
        other => other,
    }
}

/// Seconds as people read them (`12.3 s`, `4 min 05 s`).
pub fn seconds(value: f64) -> String {
    if value < 60.0 {
        format!("{value:.1} s")
    } else {
        let whole = value.round() as u64;
        format!("{} min {:02} s", whole / 60, whole % 60)
    }
}

/// An RFC 3339 time shortened for a table (`2024-05-01 10:00:03`).
pub fn short_time(time: &str) -> String {
    let no_fraction = match time.find('.') {
        Some(dot) => &time[..dot],
        None => time.trim_end_matches('Z'),
    };
    no_fraction.replacen('T', " ", 1)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn a_failover_step_names_its_group_vm_and_operation() {
        let job = Job::from_json(&json!({
            "Id": "j", "State": "Running", "Parameters": "{\"kind\":\"test\"}",
            "Steps": [
                { "Id": 3, "Kind": "vm", "State": "Running", "Name": "testFailover web-1",
                  "Input": "{\"group\":\"Web\",\"name\":\"web-1\",\"op\":\"testFailover\"}" },
                { "Id": 4, "Kind": "action", "State": "Waiting", "WaitingFor": "ack",
                  "AckPrompt": "Check the database", "Name": "Web: before #1 manual step",
                  "Input": "{\"context\":{\"Group\":\"Web\"}}" },
                { "Id": 5, "Kind": "vm", "State": "Succeeded", "Name": "unplannedFailover db",
                  "Input": "{\"group\":\"Db\",\"name\":\"db\",\"op\":\"unplannedFailover\"}",
                  "Output": "{\"failed\":true,\"error\":\"no recovery point\"}" }
            ]
        }));
        assert_eq!(job.params["kind"], "test");
        let vm = &job.steps[0];
        assert_eq!(
            (vm.group(), vm.vm_name(), vm.operation()),
            (Some("Web"), "web-1", "testFailover")
        );
        assert_eq!(job.steps[1].group(), Some("Web"));
        assert_eq!(job.waiting_for_ack().map(|s| s.id).collect::<Vec<_>>(), [4]);
        assert!(
            job.steps[2].failed(),
            "recorded as failed by an unplanned failover"
        );
        assert_eq!(job.steps[2].failure(), "no recovery point");
    }

    #[test]
    fn times_and_durations_read_well() {
        assert_eq!(
            short_time("2024-05-01T10:00:03.123Z"),
            "2024-05-01 10:00:03"
        );
        assert_eq!(short_time("2024-05-01T10:00:03Z"), "2024-05-01 10:00:03");
        assert_eq!(seconds(12.34), "12.3 s");
        assert_eq!(seconds(245.0), "4 min 05 s");
    }
}
