//! The engine's SQL, written once in PostgreSQL's dialect and translated for SQLite, and the
//! row mapping of the engine tables.
//!
//! The two backends run the same statements in the same order; what differs is spelled out in
//! [`Dialect`]: the database clock, lease arithmetic, casts, and row locks. On PostgreSQL a claim
//! takes candidate rows with `FOR UPDATE ... SKIP LOCKED` so concurrent instances never wait on
//! each other; SQLite has one writer at a time (`BEGIN IMMEDIATE`) so it needs no row locks.
//! Transactions always lock a step before its run, so two transactions never wait on each other
//! in a cycle.

use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::engine::{RunRecord, RunState, RunbookState, StepRecord, WaitKind};

/// The SQL dialect of a backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Dialect {
    /// PostgreSQL: the statements as written.
    Postgres,
    /// SQLite: numbered `?N` parameters, text timestamps, no row locks.
    Sqlite,
}

/// SQLite's database clock, as the fixed-width text every engine timestamp is stored in.
const SQLITE_NOW: &str = "strftime('%Y-%m-%dT%H:%M:%fZ', 'now')";

impl Dialect {
    /// `sql` (PostgreSQL, with `now_plus_ms($N)` for "the database clock plus $N milliseconds")
    /// in this dialect.
    pub(super) fn sql(self, sql: &str) -> String {
        let mut out = String::with_capacity(sql.len() + 64);
        let mut rest = sql;
        while let Some(start) = rest.find("now_plus_ms(") {
            out.push_str(&rest[..start]);
            let after = &rest[start + "now_plus_ms(".len()..];
            let end = after.find(')').expect("now_plus_ms( has its )");
            let ms = &after[..end];
            match self {
                Self::Postgres => {
                    out.push_str(&format!("(now() + {ms} * interval '1 millisecond')"))
                }
                Self::Sqlite => out.push_str(&format!(
                    "strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || ({ms} / 1000.0) || ' seconds')"
                )),
            }
            rest = &after[end + 1..];
        }
        out.push_str(rest);
        match self {
            Self::Postgres => out,
            Self::Sqlite => out
                .replace("now()", SQLITE_NOW)
                .replace("::timestamptz", "")
                .replace("::text", "")
                .replace(" FOR UPDATE OF s SKIP LOCKED", "")
                .replace(" FOR UPDATE", "")
                .replace('$', "?"),
        }
    }
}

/// A time as bound into engine statements: RFC 3339 UTC with milliseconds, which SQLite compares
/// as text and PostgreSQL casts with `::timestamptz`.
pub(super) fn time_text(time: OffsetDateTime) -> String {
    let utc = time.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
        utc.year(),
        u8::from(utc.month()),
        utc.day(),
        utc.hour(),
        utc.minute(),
        utc.second(),
        utc.millisecond()
    )
}

/// Milliseconds of a duration, as bound into `now_plus_ms`.
pub(super) fn millis(duration: std::time::Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}

/// The `workflow_runs` columns, in the order [`RunRow`] reads them.
pub(super) const RUN_COLUMNS: &str = "id, workflow, params, state, trigger, started_by, reason, \
     subscription_id, error, dedupe_key, current_stage, created_at, started_at, finished_at";

/// The `workflow_steps` columns, in the order [`StepRow`] reads them.
pub(super) const STEP_COLUMNS: &str = "run_id, id, stage, seq, name, kind, input, output, \
     at_least_once, state, attempt, retries, lease_owner, lease_expires_at, not_before, wait_kind, \
     error, ack_prompt, acknowledged_by, ack_comment, acknowledged_at, started_at, finished_at";

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

/// Parses RFC 3339 text (for tests of [`time_text`]).
#[cfg(test)]
fn parse_time(text: &str) -> OffsetDateTime {
    OffsetDateTime::parse(text, &time::format_description::well_known::Rfc3339).expect("RFC 3339")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_statements_use_numbered_parameters_text_clock_and_no_row_locks() {
        let pg = "SELECT s.id FROM workflow_steps s WHERE s.not_before <= now() \
                  AND ($1::text IS NULL OR s.kind = $1) AND s.x < $2::timestamptz \
                  LIMIT $3 FOR UPDATE OF s SKIP LOCKED";
        let lite = Dialect::Sqlite.sql(pg);
        assert_eq!(
            lite,
            "SELECT s.id FROM workflow_steps s WHERE s.not_before <= \
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now') AND (?1 IS NULL OR s.kind = ?1) \
             AND s.x < ?2 LIMIT ?3"
        );
        assert_eq!(Dialect::Postgres.sql(pg), pg);
    }

    #[test]
    fn lease_arithmetic_is_translated_for_each_backend() {
        let sql = "SET lease_expires_at = now_plus_ms($2) WHERE id = $1";
        assert_eq!(
            Dialect::Postgres.sql(sql),
            "SET lease_expires_at = (now() + $2 * interval '1 millisecond') WHERE id = $1"
        );
        assert_eq!(
            Dialect::Sqlite.sql(sql),
            "SET lease_expires_at = strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '+' || (?2 / 1000.0) \
             || ' seconds') WHERE id = ?1"
        );
    }

    #[test]
    fn bound_times_are_fixed_width_utc_with_milliseconds() {
        let t = parse_time("2025-03-04T05:06:07.089+02:00");
        assert_eq!(time_text(t), "2025-03-04T03:06:07.089Z");
        assert_eq!(parse_time(&time_text(t)), t);
    }
}
