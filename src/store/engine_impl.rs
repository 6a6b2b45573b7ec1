//! The one implementation of [`EngineStore`](super::EngineStore), instantiated for each backend by
//! `impl_engine_store!` with the backend's store type, sqlx database and [`Dialect`](super::sql::Dialect).
//!
//! It is a macro rather than generic code because sqlx's executor bounds make generic
//! transactions unreadable; the statements themselves are shared text (see `sql`).
//!
//! The two backends run the same statements in the same order; what differs is spelled out in
//! [`Dialect`](super::sql::Dialect): the database clock, lease arithmetic, casts, and row locks.
//! On PostgreSQL a claim takes candidate rows with `FOR UPDATE ... SKIP LOCKED` so concurrent
//! instances never wait on each other; SQLite has one writer at a time (`BEGIN IMMEDIATE`) so it
//! needs no row locks. Transactions always lock a step before its run, so two transactions never
//! wait on each other in a cycle.
//!
//! Nothing here may compare a time taken from the worker's clock: every comparison is `now()`.

/// Implements `EngineStore` for `$store` (with a `pool` and a `write()` that begins a write
/// transaction) on database `$db`, translating statements with `$dialect`.
macro_rules! impl_engine_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        use $crate::store::engine::{
            AckOutcome, CancelOutcome, ClaimedStep, StepRecorded, CreatedRun, EngineStore, Lease, LeaseCheck,
            NewRun, NewStep, RunFilter, RunRecord, RunState, RunbookState, StepRecord, StepResult,
        };
        use $crate::store::engine_rows::{
            RUN_COLUMNS, RUNBOOK_COLUMNS, RunRow, RunbookRow, STEP_COLUMNS, StepRow, json_text,
        };
        use $crate::store::sql::{millis, time_text};

        type EngineTx = sqlx::Transaction<'static, $db>;

        fn engine_sql(sql: &str) -> String {
            $dialect.sql(sql)
        }

        fn count_limit(filter: &RunFilter) -> i64 {
            i64::from(filter.limit.unwrap_or(100).clamp(1, 1000))
        }

        $crate::store::engine_helpers::impl_engine_helpers!($store);

        #[async_trait]
        impl EngineStore for $store {
            async fn database_now(&self) -> Result<time::OffsetDateTime, StoreError> {
                let (now,): (time::OffsetDateTime,) =
                    sqlx::query_as(&engine_sql("SELECT now()")).fetch_one(&self.pool).await?;
                Ok(now)
            }

            async fn create_run(&self, run: &NewRun) -> Result<CreatedRun, StoreError> {
                let mut tx = self.write().await?;
                let created = Self::insert_run(&mut tx, run).await?;
                tx.commit().await?;
                Ok(created)
            }

            async fn claim_steps(
                &self,
                owner: &str,
                lease: std::time::Duration,
                max: u32,
                workflows: &[&str],
            ) -> Result<Vec<ClaimedStep>, StoreError> {
                if max == 0 || workflows.is_empty() {
                    return Ok(Vec::new());
                }
                let known: Vec<String> = (0..workflows.len()).map(|i| format!("${}", i + 2)).collect();
                let mut tx = self.write().await?;
                // Slots with no free place (a first look; exact once a slot's row is locked):
                // their fresh steps are left out so other work is not starved.
                let full: Vec<String> = Self::slot_places(&mut tx, None)
                    .await?
                    .into_iter()
                    .filter(|(_, taken, limit)| taken >= limit)
                    .map(|(slot, _, _)| slot)
                    .collect();
                let first_full = workflows.len() + 2;
                let full_params: Vec<String> =
                    (0..full.len()).map(|i| format!("${}", i + first_full)).collect();
                let slot_filter = if full.is_empty() {
                    String::new()
                } else {
                    format!(
                        "AND (s.slot IS NULL OR s.attempt > 0 OR s.slot NOT IN ({})) ",
                        full_params.join(", ")
                    )
                };
                // The most urgent runs first (RunPriority), then the oldest: run ids are UUIDv7.
                // The live runs are walked in that order (workflow_runs_live) until enough steps
                // are found: sorting every ready step of every live run made each claim of a
                // 10,000-subscription onboarding cost milliseconds.
                let sql = engine_sql(&format!(
                    "SELECT s.run_id, s.id, s.slot, s.slot_limit, s.attempt, s.state \
                     FROM workflow_runs r /*+ INDEXED BY workflow_runs_live */ \
                     JOIN workflow_steps s ON s.run_id = r.id \
                     WHERE r.state IN ('Pending', 'Running', 'Waiting') \
                       AND r.workflow IN ({}) \
                       AND s.stage = r.current_stage \
                       AND ((s.state = 'Pending' AND (s.not_before IS NULL OR s.not_before <= now())) \
                         OR (s.state = 'Running' AND s.lease_expires_at <= now()) \
                         OR (s.state = 'Waiting' AND s.wait_kind = 'until' AND s.not_before <= now())) \
                       {slot_filter}\
                     ORDER BY r.priority DESC, r.id, s.id LIMIT $1 FOR UPDATE OF s SKIP LOCKED",
                    known.join(", ")
                ));
                let mut query = sqlx::query_as(&sql).bind(i64::from(max));
                for workflow in workflows {
                    query = query.bind(*workflow);
                }
                for slot in &full {
                    query = query.bind(slot);
                }
                let candidates: Vec<(String, i64, Option<String>, Option<i64>, i64, String)> =
                    query.fetch_all(&mut *tx).await?;
                // A candidate's state is read with it: only this transaction changes a candidate
                // it has locked (SQLite: one writer).
                let picked = Self::within_slot_limits(&mut tx, candidates).await?;
                let mut claimed = Vec::with_capacity(picked.len());
                // Each run's workflow and parameters, read (and the run marked Running) once.
                let mut runs: std::collections::HashMap<String, (String, serde_json::Value)> =
                    std::collections::HashMap::new();
                // Only an expired lease leaves a Running step claimable: it is taken over.
                for (run_id, step_id, taken_over) in picked {
                    let row: StepRow = sqlx::query_as(&engine_sql(&format!(
                        "UPDATE workflow_steps SET state = 'Running', lease_owner = $1, \
                         lease_expires_at = now_plus_ms($2), attempt = attempt + 1, \
                         started_at = COALESCE(started_at, now()) WHERE run_id = $3 AND id = $4 \
                         RETURNING {STEP_COLUMNS}"
                    )))
                    .bind(owner)
                    .bind(millis(lease))
                    .bind(&run_id)
                    .bind(step_id)
                    .fetch_one(&mut *tx)
                    .await?;
                    let step = row.into_record()?;
                    if !runs.contains_key(&run_id) {
                        sqlx::query(&engine_sql(
                            "UPDATE workflow_runs SET state = 'Running', started_at = now() \
                             WHERE id = $1 AND state = 'Pending'",
                        ))
                        .bind(&run_id)
                        .execute(&mut *tx)
                        .await?;
                        let (workflow, params): (String, String) = sqlx::query_as(&engine_sql(
                            "SELECT workflow, params FROM workflow_runs WHERE id = $1",
                        ))
                        .bind(&run_id)
                        .fetch_one(&mut *tx)
                        .await?;
                        let params = serde_json::from_str(&params).map_err(|e| {
                            StoreError::Corrupt(format!("workflow_runs.params of {run_id}: {e}"))
                        })?;
                        runs.insert(run_id.clone(), (workflow, params));
                    }
                    let (workflow, params) = runs[&run_id].clone();
                    let lease = Lease {
                        run_id: step.run_id,
                        step_id,
                        owner: owner.to_owned(),
                        attempt: step.attempt,
                    };
                    claimed.push(ClaimedStep { step, workflow, params, lease, taken_over });
                }
                tx.commit().await?;
                Ok(claimed)
            }

            async fn heartbeat(
                &self,
                lease: &Lease,
                extend: std::time::Duration,
            ) -> Result<LeaseCheck, StoreError> {
                let run_id = lease.run_id.to_string();
                let mut tx = self.write().await?;
                let done = sqlx::query(&engine_sql(
                    "UPDATE workflow_steps SET lease_expires_at = now_plus_ms($1) \
                     WHERE run_id = $2 AND id = $3 AND attempt = $4 AND lease_owner = $5 \
                       AND state = 'Running'",
                ))
                .bind(millis(extend))
                .bind(&run_id)
                .bind(lease.step_id)
                .bind(lease.attempt)
                .bind(&lease.owner)
                .execute(&mut *tx)
                .await?;
                let state: Option<(String,)> = sqlx::query_as(&engine_sql(
                    "SELECT state FROM workflow_runs WHERE id = $1",
                ))
                .bind(&run_id)
                .fetch_optional(&mut *tx)
                .await?;
                tx.commit().await?;
                let cancelled = matches!(state, Some((ref s,)) if s == RunState::Cancelled.as_str());
                Ok(if cancelled {
                    LeaseCheck::Cancelled
                } else if done.rows_affected() == 1 {
                    LeaseCheck::Held
                } else {
                    LeaseCheck::Lost
                })
            }

            async fn finish_step(
                &self,
                lease: &Lease,
                result: &StepResult,
            ) -> Result<StepRecorded, StoreError> {
                let run_id = lease.run_id.to_string();
                let mut tx = self.write().await?;
                let held: Option<(String, i64)> = sqlx::query_as(&engine_sql(
                    "SELECT name, stage FROM workflow_steps \
                     WHERE run_id = $1 AND id = $2 AND attempt = $3 AND lease_owner = $4 \
                       AND state = 'Running' FOR UPDATE",
                ))
                .bind(&run_id)
                .bind(lease.step_id)
                .bind(lease.attempt)
                .bind(&lease.owner)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((name, stage)) = held else {
                    return Ok(StepRecorded::Dropped);
                };
                match Self::locked_run(&mut tx, &run_id).await? {
                    Some(run) if !run.state.is_final() => {}
                    _ => return Ok(StepRecorded::Dropped),
                }
                let step = |sql: &str| {
                    format!(
                        "UPDATE workflow_steps SET {sql}, lease_owner = NULL, \
                         lease_expires_at = NULL WHERE run_id = $1 AND id = $2"
                    )
                };
                match result {
                    StepResult::Succeeded { output, append } => {
                        sqlx::query(&engine_sql(&step(
                            "state = 'Succeeded', output = $3, error = NULL, wait_kind = NULL, \
                             finished_at = now()",
                        )))
                        .bind(&run_id)
                        .bind(lease.step_id)
                        .bind(json_text(output))
                        .execute(&mut *tx)
                        .await?;
                        Self::append_stages(&mut tx, &run_id, stage, append).await?;
                        Self::advance(&mut tx, &run_id, stage).await?;
                    }
                    StepResult::Retry { error, delay } => {
                        sqlx::query(&engine_sql(&step(
                            "state = 'Pending', retries = retries + 1, error = $3, \
                             not_before = now_plus_ms($4)",
                        )))
                        .bind(&run_id)
                        .bind(lease.step_id)
                        .bind(error)
                        .bind(millis(*delay))
                        .execute(&mut *tx)
                        .await?;
                    }
                    StepResult::WaitUntil(at) => {
                        sqlx::query(&engine_sql(&step(
                            "state = 'Waiting', wait_kind = 'until', not_before = $3::timestamptz",
                        )))
                        .bind(&run_id)
                        .bind(lease.step_id)
                        .bind(time_text(*at))
                        .execute(&mut *tx)
                        .await?;
                    }
                    StepResult::WaitForAck { prompt } => {
                        sqlx::query(&engine_sql(&step(
                            "state = 'Waiting', wait_kind = 'ack', ack_prompt = $3",
                        )))
                        .bind(&run_id)
                        .bind(lease.step_id)
                        .bind(prompt)
                        .execute(&mut *tx)
                        .await?;
                        Self::advance(&mut tx, &run_id, stage).await?;
                    }
                    StepResult::Failed { error } => {
                        sqlx::query(&engine_sql(&step(
                            "state = 'Failed', error = $3, wait_kind = NULL, finished_at = now()",
                        )))
                        .bind(&run_id)
                        .bind(lease.step_id)
                        .bind(error)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(&engine_sql(
                            "UPDATE workflow_steps SET state = 'Cancelled', finished_at = now() \
                             WHERE run_id = $1 AND state IN ('Pending', 'Running', 'Waiting')",
                        ))
                        .bind(&run_id)
                        .execute(&mut *tx)
                        .await?;
                        sqlx::query(&engine_sql(
                            "UPDATE workflow_runs SET state = 'Failed', error = $2, \
                             finished_at = now() WHERE id = $1",
                        ))
                        .bind(&run_id)
                        .bind(format!("step '{name}' failed: {error}"))
                        .execute(&mut *tx)
                        .await?;
                    }
                    StepResult::Released => {
                        sqlx::query(&engine_sql(&step("state = 'Pending'")))
                            .bind(&run_id)
                            .bind(lease.step_id)
                            .execute(&mut *tx)
                            .await?;
                    }
                }
                // The run's row is locked: exactly one recorded result sees it end.
                let ended = Self::run_ended(&mut tx, &run_id).await?;
                tx.commit().await?;
                Ok(if ended {
                    StepRecorded::RunEnded
                } else {
                    StepRecorded::Recorded
                })
            }

            async fn acknowledge_step(
                &self,
                run_id: uuid::Uuid,
                step_id: i64,
                by: &str,
                comment: Option<&str>,
            ) -> Result<AckOutcome, StoreError> {
                let run_id = run_id.to_string();
                let mut tx = self.write().await?;
                let found: Option<(String, Option<String>, i64)> = sqlx::query_as(&engine_sql(
                    "SELECT state, wait_kind, stage FROM workflow_steps \
                     WHERE run_id = $1 AND id = $2 FOR UPDATE",
                ))
                .bind(&run_id)
                .bind(step_id)
                .fetch_optional(&mut *tx)
                .await?;
                let Some((state, wait_kind, stage)) = found else {
                    return Ok(AckOutcome::NotFound);
                };
                let state = RunState::from_name(&state).unwrap_or(RunState::Failed);
                if state != RunState::Waiting || wait_kind.as_deref() != Some("ack") {
                    return Ok(AckOutcome::NotWaiting(state));
                }
                if Self::locked_run(&mut tx, &run_id)
                    .await?
                    .is_none_or(|run| run.state.is_final())
                {
                    return Ok(AckOutcome::NotWaiting(state));
                }
                let output = serde_json::json!({ "acknowledgedBy": by, "comment": comment });
                sqlx::query(&engine_sql(
                    "UPDATE workflow_steps SET state = 'Succeeded', wait_kind = NULL, output = $3, \
                     acknowledged_by = $4, ack_comment = $5, acknowledged_at = now(), \
                     finished_at = now() WHERE run_id = $1 AND id = $2",
                ))
                .bind(&run_id)
                .bind(step_id)
                .bind(json_text(&output))
                .bind(by)
                .bind(comment)
                .execute(&mut *tx)
                .await?;
                Self::advance(&mut tx, &run_id, stage).await?;
                let run_ended = Self::run_ended(&mut tx, &run_id).await?;
                tx.commit().await?;
                Ok(AckOutcome::Acknowledged { run_ended })
            }

            async fn cancel_run(
                &self,
                run_id: uuid::Uuid,
                by: &str,
            ) -> Result<CancelOutcome, StoreError> {
                let run_id = run_id.to_string();
                let mut tx = self.write().await?;
                // Steps before the run, as every other transaction locks them.
                sqlx::query(&engine_sql(
                    "UPDATE workflow_steps SET state = 'Cancelled', finished_at = now() \
                     WHERE run_id = $1 AND state IN ('Pending', 'Running', 'Waiting')",
                ))
                .bind(&run_id)
                .execute(&mut *tx)
                .await?;
                let Some(run) = Self::locked_run(&mut tx, &run_id).await? else {
                    return Ok(CancelOutcome::NotFound);
                };
                if run.state.is_final() {
                    return Ok(CancelOutcome::AlreadyFinal(run.state));
                }
                sqlx::query(&engine_sql(
                    "UPDATE workflow_runs SET state = 'Cancelled', error = $2, finished_at = now() \
                     WHERE id = $1",
                ))
                .bind(&run_id)
                .bind(format!("cancelled by {by}"))
                .execute(&mut *tx)
                .await?;
                tx.commit().await?;
                Ok(CancelOutcome::Cancelled)
            }

            async fn get_run(&self, run_id: uuid::Uuid) -> Result<Option<RunRecord>, StoreError> {
                let row: Option<RunRow> = sqlx::query_as(&engine_sql(&format!(
                    "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1"
                )))
                .bind(run_id.to_string())
                .fetch_optional(&self.pool)
                .await?;
                row.map(RunRow::into_record).transpose()
            }

            async fn run_steps(&self, run_id: uuid::Uuid) -> Result<Vec<StepRecord>, StoreError> {
                let rows: Vec<StepRow> = sqlx::query_as(&engine_sql(&format!(
                    "SELECT {STEP_COLUMNS} FROM workflow_steps WHERE run_id = $1 \
                     ORDER BY stage, seq, id"
                )))
                .bind(run_id.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(StepRow::into_record).collect()
            }

            async fn list_runs(&self, filter: &RunFilter) -> Result<Vec<RunRecord>, StoreError> {
                let rows: Vec<RunRow> = sqlx::query_as(&engine_sql(&format!(
                    "SELECT {RUN_COLUMNS} FROM workflow_runs \
                     WHERE ($1::text IS NULL OR state = $1) AND ($2::text IS NULL OR workflow = $2) \
                       AND ($3::text IS NULL OR subscription_id = $3) \
                       AND ($4::text IS NULL OR id < $4) \
                       AND ($6::text IS NULL OR parent_id = $6) \
                     ORDER BY id DESC LIMIT $5"
                )))
                .bind(filter.state.map(RunState::as_str))
                .bind(&filter.workflow)
                .bind(&filter.subscription_id)
                .bind(filter.after.map(|id| id.to_string()))
                .bind(count_limit(filter))
                .bind(filter.parent_id.map(|id| id.to_string()))
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter().map(RunRow::into_record).collect()
            }

            async fn child_run_states(
                &self,
                parent: uuid::Uuid,
            ) -> Result<Vec<(RunState, i64)>, StoreError> {
                let rows: Vec<(String, i64)> = sqlx::query_as(&engine_sql(
                    "SELECT state, COUNT(*) FROM workflow_runs WHERE parent_id = $1 GROUP BY state",
                ))
                .bind(parent.to_string())
                .fetch_all(&self.pool)
                .await?;
                rows.into_iter()
                    .map(|(state, count)| {
                        RunState::from_name(&state)
                            .map(|s| (s, count))
                            .ok_or_else(|| StoreError::Corrupt(format!("workflow_runs.state '{state}'")))
                    })
                    .collect()
            }

            async fn ensure_runbook(
                &self,
                name: &str,
                webhook_token: &str,
            ) -> Result<RunbookState, StoreError> {
                let mut tx = self.write().await?;
                sqlx::query(&engine_sql(
                    "INSERT INTO runbooks (name, webhook_token, last_tick, created_at) \
                     VALUES ($1, $2, now(), now()) ON CONFLICT (name) DO NOTHING",
                ))
                .bind(name)
                .bind(webhook_token)
                .execute(&mut *tx)
                .await?;
                let state = Self::runbook_in(&mut tx, name).await?;
                tx.commit().await?;
                state.ok_or_else(|| StoreError::Corrupt(format!("runbook {name} vanished")))
            }

            async fn list_runbooks(&self) -> Result<Vec<RunbookState>, StoreError> {
                let rows: Vec<RunbookRow> = sqlx::query_as(&engine_sql(&format!(
                    "SELECT {RUNBOOK_COLUMNS} FROM runbooks ORDER BY name"
                )))
                .fetch_all(&self.pool)
                .await?;
                Ok(rows.into_iter().map(RunbookRow::into_state).collect())
            }

            async fn set_runbook_overrides(
                &self,
                name: &str,
                enabled: Option<bool>,
                schedule: Option<Option<&str>>,
            ) -> Result<Option<RunbookState>, StoreError> {
                let mut tx = self.write().await?;
                if let Some(enabled) = enabled {
                    sqlx::query(&engine_sql(
                        "UPDATE runbooks SET enabled_override = $2 WHERE name = $1",
                    ))
                    .bind(name)
                    .bind(enabled)
                    .execute(&mut *tx)
                    .await?;
                }
                if let Some(schedule) = schedule {
                    sqlx::query(&engine_sql(
                        "UPDATE runbooks SET schedule_override = $2 WHERE name = $1",
                    ))
                    .bind(name)
                    .bind(schedule.unwrap_or(""))
                    .execute(&mut *tx)
                    .await?;
                }
                let state = Self::runbook_in(&mut tx, name).await?;
                tx.commit().await?;
                Ok(state)
            }

            async fn start_scheduled_run(
                &self,
                runbook: &str,
                tick: time::OffsetDateTime,
                run: Option<&NewRun>,
            ) -> Result<Option<Option<CreatedRun>>, StoreError> {
                let mut tx = self.write().await?;
                let claimed = sqlx::query(&engine_sql(
                    "UPDATE runbooks SET last_tick = $2::timestamptz \
                     WHERE name = $1 AND (last_tick IS NULL OR last_tick < $2::timestamptz)",
                ))
                .bind(runbook)
                .bind(time_text(tick))
                .execute(&mut *tx)
                .await?;
                if claimed.rows_affected() == 0 {
                    return Ok(None);
                }
                let created = match run {
                    Some(run) => Some(Self::insert_run(&mut tx, run).await?),
                    None => None,
                };
                tx.commit().await?;
                Ok(Some(created))
            }
        }
    };
}

pub(super) use impl_engine_store;
