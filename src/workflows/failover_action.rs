//! The steps a recovery plan puts around its groups during a failover: the delay before a group
//! starts, and each action before and after its VMs — a script (the provider's webhook, called
//! once with the failover's context and judged by the action's success rule), a runbook (one of
//! wapdr's, started with the same context and waited for), or a manual step that waits until an
//! operator acknowledges it through the API.
//!
//! Every step records what it did and how long it took, so the job and its report can show the
//! recovery time with manual waits and scripts apart (as ASR's SLA counts RTO).

use std::time::Duration;

use serde_json::{Value, json};

use crate::domain::{Action, SuccessRule, Webhook};
use crate::engine::{EngineError, StepContext, StepOutcome, StepSpec};
use crate::fabric::plan_webhook::shown_url;
use crate::store::RunState;

use super::{StampClients, Stop, check_again};

/// How often a runbook action looks at the runbook's job.
const RUNBOOK_LOOK_AGAIN: Duration = Duration::from_secs(1);

/// Whether an action runs before or after its group's VMs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum When {
    Before,
    After,
}

impl When {
    fn as_str(self) -> &'static str {
        match self {
            Self::Before => "Before",
            Self::After => "After",
        }
    }
}

/// The step that waits `seconds` before `group` starts.
pub(super) fn delay_step(group: &str, seconds: u32) -> StepSpec {
    StepSpec::new(format!("{group}: wait {seconds} s"), "delay")
        .with_input(json!({ "group": group, "seconds": seconds }))
        .at_least_once()
}

/// The step running `action` (number `index`, from 0) `when` of a group; `context` is what the
/// action is told (job, subscription, operation, plan, group, VMs).
pub(super) fn action_step(context: &Value, when: When, index: usize, action: &Action) -> StepSpec {
    let group = context["Group"].as_str().unwrap_or_default();
    let verb = match when {
        When::Before => "before",
        When::After => "after",
    };
    let what = match action {
        Action::Script(webhook) => format!("script {}", shown_url(&webhook.url)),
        Action::Runbook { name } => format!("runbook {name}"),
        Action::Manual { .. } => "manual step".to_owned(),
    };
    let mut context = context.clone();
    context["When"] = json!(when.as_str());
    StepSpec::new(format!("{group}: {verb} #{} {what}", index + 1), "action")
        .with_input(json!({ "action": action_json(action), "context": context }))
        // A script or runbook may be sent again after a crash: it carries the same
        // Idempotency-Key (scripts) or finds the run it started (runbooks).
        .at_least_once()
}

/// Runs a delay step: waits until its time has passed (by the database clock).
pub(super) async fn run_delay(ctx: &StepContext, input: &Value) -> Result<StepOutcome, Stop> {
    let seconds = input["seconds"].as_u64().unwrap_or(0);
    let now = ctx.store.database_now().await?;
    Ok(StepOutcome::WaitUntil(now + Duration::from_secs(seconds)))
}

/// Runs an action step.
pub(super) async fn run_action(
    clients: &StampClients,
    ctx: &StepContext,
    input: &Value,
) -> Result<StepOutcome, Stop> {
    let action = action_of(&input["action"]).map_err(Stop::Final)?;
    let context = input["context"].clone();
    match action {
        Action::Script(webhook) => run_script(clients, ctx, &webhook, &context).await,
        Action::Runbook { name } => run_runbook(ctx, &name, &context).await,
        Action::Manual { prompt } => Ok(StepOutcome::WaitForAck {
            prompt: format!(
                "{} {}: {prompt}",
                context["Group"].as_str().unwrap_or_default(),
                context["When"].as_str().unwrap_or_default().to_lowercase()
            ),
        }),
    }
}

/// Calls a script webhook once and judges its answer by the action's success rule.
async fn run_script(
    clients: &StampClients,
    ctx: &StepContext,
    webhook: &Webhook,
    context: &Value,
) -> Result<StepOutcome, Stop> {
    let client = clients.plan_webhooks().map_err(Stop::from)?;
    let shown = shown_url(&webhook.url);
    let answer = client
        .call(
            &webhook.url,
            context,
            &ctx.idempotency_key(),
            Duration::from_secs(u64::from(webhook.timeout_seconds)),
        )
        .await
        // A script that cannot be reached or does not answer in time failed: it is not retried
        // (a script is not assumed safe to run twice).
        .map_err(|err| Stop::Final(format!("Script {shown} failed: {err}")))?;
    let excerpt: String = answer.body.chars().take(500).collect();
    if !webhook.success.accepts(answer.status, &answer.body) {
        return Err(Stop::Final(format!(
            "Script {shown} answered {} which its success rule ({}) does not accept: {excerpt}",
            answer.status,
            describe_rule(&webhook.success)
        )));
    }
    Ok(StepOutcome::Done(json!({
        "kind": "Script",
        "url": shown,
        "status": answer.status,
        "elapsedMs": u64::try_from(answer.elapsed.as_millis()).unwrap_or(u64::MAX),
        "body": excerpt,
    })))
}

fn describe_rule(rule: &SuccessRule) -> String {
    let codes = if rule.status_codes.is_empty() {
        "any 2xx".to_owned()
    } else {
        rule.status_codes
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(" or ")
    };
    match &rule.body_contains {
        Some(text) => format!("{codes}, body containing '{text}'"),
        None => codes,
    }
}

/// Starts a runbook (once, whatever happens to this step) with the failover's context, and waits
/// for its job.
async fn run_runbook(ctx: &StepContext, name: &str, context: &Value) -> Result<StepOutcome, Stop> {
    let runbooks = ctx.runbooks.as_ref().ok_or_else(|| {
        Stop::Final(
            "This wapdr instance has no runbooks loaded: runbook actions cannot run.".into(),
        )
    })?;
    let created = runbooks
        .start_once(
            name,
            Some(json!({ "recoveryPlanContext": context })),
            "recovery-plan",
            &format!("failover job {}", ctx.run_id),
            Some(format!("plan-action:{}:{}", ctx.run_id, ctx.step_id)),
        )
        .await
        .map_err(|err| match err {
            EngineError::Store(store) => Stop::from(store),
            other => Stop::Final(format!("Runbook '{name}' could not start: {other}")),
        })?;
    let run = ctx.store.get_run(created.id).await?.ok_or_else(|| {
        Stop::Transient(format!(
            "runbook '{name}' job {} is not visible yet",
            created.id
        ))
    })?;
    match run.state {
        RunState::Succeeded => Ok(StepOutcome::Done(json!({
            "kind": "Runbook",
            "runbook": name,
            "jobId": created.id.to_string(),
        }))),
        RunState::Failed | RunState::Cancelled => Err(Stop::Final(format!(
            "Runbook '{name}' (job {}) ended {}: {}",
            created.id,
            run.state.as_str(),
            run.error.unwrap_or_default()
        ))),
        _ => Ok(check_again(
            format!("runbook '{name}' (job {}) is running", created.id),
            RUNBOOK_LOOK_AGAIN,
        )),
    }
}

/// An action as a step input holds it.
fn action_json(action: &Action) -> Value {
    match action {
        Action::Script(webhook) => json!({
            "kind": "Script",
            "url": webhook.url,
            "timeoutSeconds": webhook.timeout_seconds,
            "successStatusCodes": webhook.success.status_codes,
            "successBodyContains": webhook.success.body_contains,
        }),
        Action::Runbook { name } => json!({ "kind": "Runbook", "runbook": name }),
        Action::Manual { prompt } => json!({ "kind": "Manual", "prompt": prompt }),
    }
}

/// Reads an action back from a step input.
fn action_of(value: &Value) -> Result<Action, String> {
    let text = |key: &str| value.get(key).and_then(Value::as_str).map(str::to_owned);
    match value.get("kind").and_then(Value::as_str) {
        Some("Script") => Ok(Action::Script(Webhook {
            url: text("url").ok_or("a script action without a url")?,
            timeout_seconds: value
                .get("timeoutSeconds")
                .and_then(Value::as_u64)
                .and_then(|t| u32::try_from(t).ok())
                .ok_or("a script action without a timeout")?,
            success: SuccessRule {
                status_codes: value
                    .get("successStatusCodes")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                    .filter_map(Value::as_u64)
                    .filter_map(|c| u16::try_from(c).ok())
                    .collect(),
                body_contains: text("successBodyContains"),
            },
        })),
        Some("Runbook") => Ok(Action::Runbook {
            name: text("runbook").ok_or("a runbook action without a runbook")?,
        }),
        Some("Manual") => Ok(Action::Manual {
            prompt: text("prompt").unwrap_or_default(),
        }),
        other => Err(format!("unknown action kind {other:?}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_round_trip_through_step_inputs() {
        let actions = [
            Action::Script(Webhook {
                url: "https://hooks.example/dns?token=t".into(),
                timeout_seconds: 30,
                success: SuccessRule {
                    status_codes: vec![200, 204],
                    body_contains: Some("ok".into()),
                },
            }),
            Action::Runbook {
                name: "reconcile-mirrors".into(),
            },
            Action::Manual {
                prompt: "Check the database replica".into(),
            },
        ];
        for action in actions {
            assert_eq!(action_of(&action_json(&action)), Ok(action));
        }
    }

    #[test]
    fn action_step_names_never_show_a_webhook_token() {
        let step = action_step(
            &json!({ "Group": "Databases" }),
            When::Before,
            0,
            &Action::Script(Webhook {
                url: "https://hooks.example/dns?token=secret".into(),
                timeout_seconds: 30,
                success: SuccessRule::default(),
            }),
        );
        assert_eq!(
            step.name,
            "Databases: before #1 script https://hooks.example/dns"
        );
        assert_eq!(step.input["context"]["When"], "Before");
    }
}
