//! The row mapping of the engine tables: the columns each query selects, and the decoding of a
//! row into the engine's records (anything the engine cannot accept is [`StoreError::Corrupt`]).
//! The statements themselves are in `engine_impl` and `engine_helpers`, translated per backend
//! by [`Dialect`](super::sql::Dialect).

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::engine::{RunRecord, RunState, RunbookState, StepRecord, WaitKind};

/// The `workflow_runs` columns, in the order [`RunRow`] reads them.
pub(super) const RUN_COLUMNS: &str = "id, workflow, params, state, trigger, started_by, reason, \
     subscription_id, error, dedupe_key, parent_id, current_stage, created_at, started_at, \
     finished_at";

/// The `workflow_steps` columns, in the order [`StepRow`] reads them.
pub(super) const STEP_COLUMNS: &str = "run_id, id, stage, seq, name, kind, input, output, \
     at_least_once, slot, state, attempt, retries, lease_owner, lease_expires_at, not_before, \
     wait_kind, error, ack_prompt, acknowledged_by, ack_comment, acknowledged_at, started_at, \
     finished_at";

/// The `runbooks` columns, in the order [`RunbookRow`] reads them.
pub(super) const RUNBOOK_COLUMNS: &str =
    "name, enabled_override, schedule_override, webhook_token, last_tick";

/// One `workflow_runs` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RunRow {
    id: String,
    workflow: String,
    params: String,
    state: String,
    trigger: String,
    started_by: String,
    reason: Option<String>,
    subscription_id: Option<String>,
    error: Option<String>,
    dedupe_key: Option<String>,
    parent_id: Option<String>,
    current_stage: i64,
    created_at: OffsetDateTime,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
}

impl RunRow {
    /// The run this row holds.
    pub(super) fn into_record(self) -> Result<RunRecord, StoreError> {
        let row = self.id.clone();
        Ok(RunRecord {
            id: parse_uuid("workflow_runs.id", &row)?,
            params: parse_json("workflow_runs.params", &row, &self.params)?,
            state: parse_state("workflow_runs.state", &row, &self.state)?,
            workflow: self.workflow,
            trigger: self.trigger,
            started_by: self.started_by,
            reason: self.reason,
            subscription_id: self.subscription_id,
            error: self.error,
            dedupe_key: self.dedupe_key,
            parent_id: self
                .parent_id
                .as_deref()
                .map(|p| parse_uuid("workflow_runs.parent_id", p))
                .transpose()?,
            current_stage: self.current_stage,
            created_at: self.created_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// One `workflow_steps` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct StepRow {
    run_id: String,
    id: i64,
    stage: i64,
    seq: i64,
    name: String,
    kind: String,
    input: String,
    output: Option<String>,
    at_least_once: bool,
    slot: Option<String>,
    state: String,
    attempt: i64,
    retries: i64,
    lease_owner: Option<String>,
    lease_expires_at: Option<OffsetDateTime>,
    not_before: Option<OffsetDateTime>,
    wait_kind: Option<String>,
    error: Option<String>,
    ack_prompt: Option<String>,
    acknowledged_by: Option<String>,
    ack_comment: Option<String>,
    acknowledged_at: Option<OffsetDateTime>,
    started_at: Option<OffsetDateTime>,
    finished_at: Option<OffsetDateTime>,
}

impl StepRow {
    /// The step this row holds.
    pub(super) fn into_record(self) -> Result<StepRecord, StoreError> {
        let row = format!("{}/{}", self.run_id, self.id);
        let wait = match self.wait_kind.as_deref() {
            None => None,
            Some("until") => Some(WaitKind::Until),
            Some("ack") => Some(WaitKind::Ack),
            Some(other) => return Err(corrupt("workflow_steps.wait_kind", &row, other)),
        };
        Ok(StepRecord {
            run_id: parse_uuid("workflow_steps.run_id", &self.run_id)?,
            input: parse_json("workflow_steps.input", &row, &self.input)?,
            output: self
                .output
                .as_deref()
                .map(|o| parse_json("workflow_steps.output", &row, o))
                .transpose()?,
            state: parse_state("workflow_steps.state", &row, &self.state)?,
            id: self.id,
            stage: self.stage,
            seq: self.seq,
            name: self.name,
            kind: self.kind,
            at_least_once: self.at_least_once,
            slot: self.slot,
            attempt: self.attempt,
            retries: self.retries,
            lease_owner: self.lease_owner,
            lease_expires_at: self.lease_expires_at,
            not_before: self.not_before,
            wait,
            error: self.error,
            ack_prompt: self.ack_prompt,
            acknowledged_by: self.acknowledged_by,
            ack_comment: self.ack_comment,
            acknowledged_at: self.acknowledged_at,
            started_at: self.started_at,
            finished_at: self.finished_at,
        })
    }
}

/// One `runbooks` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RunbookRow {
    name: String,
    enabled_override: Option<bool>,
    schedule_override: Option<String>,
    webhook_token: String,
    last_tick: Option<OffsetDateTime>,
}

impl RunbookRow {
    /// The runbook state this row holds ('' stores "no schedule").
    pub(super) fn into_state(self) -> RunbookState {
        RunbookState {
            name: self.name,
            enabled_override: self.enabled_override,
            schedule_override: self
                .schedule_override
                .map(|s| if s.is_empty() { None } else { Some(s) }),
            webhook_token: self.webhook_token,
            last_tick: self.last_tick,
        }
    }
}

/// JSON as stored in a text column.
pub(super) fn json_text(value: &Value) -> String {
    value.to_string()
}

fn parse_uuid(column: &str, text: &str) -> Result<Uuid, StoreError> {
    Uuid::parse_str(text).map_err(|_| corrupt(column, text, text))
}

fn parse_json(column: &str, row: &str, text: &str) -> Result<Value, StoreError> {
    serde_json::from_str(text).map_err(|e| corrupt(column, row, &e.to_string()))
}

fn parse_state(column: &str, row: &str, text: &str) -> Result<RunState, StoreError> {
    RunState::from_name(text).ok_or_else(|| corrupt(column, row, text))
}

fn corrupt(column: &str, row: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!("{column} of {row} holds '{value}'"))
}
