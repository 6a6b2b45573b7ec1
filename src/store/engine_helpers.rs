//! The transaction helpers behind `impl_engine_store!`: creating runs and stages, appending
//! discovered stages, and moving a run on when a stage completes. Expanded inside the backend's
//! module, where `EngineTx`, `engine_sql` (the backend's `Dialect`) and the engine types are in scope.
//!
//! Every helper runs inside the caller's transaction and never commits it.

/// Adds the engine's transaction helpers to `$store`.
macro_rules! impl_engine_helpers {
    ($store:ty) => {
        impl $store {
            async fn insert_run(tx: &mut EngineTx, run: &NewRun) -> Result<CreatedRun, StoreError> {
                let id = run.id.to_string();
                let done = sqlx::query(&engine_sql(
                    "INSERT INTO workflow_runs (id, workflow, params, state, trigger, started_by, \
                     reason, subscription_id, dedupe_key, parent_id, current_stage, created_at, \
                     priority) \
                     VALUES ($1, $2, $3, 'Pending', $4, $5, $6, $7, $8, $9, 1, now(), $10) \
                     ON CONFLICT (dedupe_key) DO NOTHING",
                ))
                .bind(&id)
                .bind(&run.workflow)
                .bind(json_text(&run.params))
                .bind(&run.trigger)
                .bind(&run.started_by)
                .bind(&run.reason)
                .bind(&run.subscription_id)
                .bind(&run.dedupe_key)
                .bind(run.parent_id.map(|p| p.to_string()))
                .bind(run.priority.as_i16())
                .execute(&mut **tx)
                .await?;
                if done.rows_affected() == 0 {
                    let (existing,): (String,) = sqlx::query_as(&engine_sql(
                        "SELECT id FROM workflow_runs WHERE dedupe_key = $1",
                    ))
                    .bind(&run.dedupe_key)
                    .fetch_one(&mut **tx)
                    .await?;
                    let id = uuid::Uuid::parse_str(&existing).map_err(|_| {
                        StoreError::Corrupt(format!("workflow_runs.id '{existing}'"))
                    })?;
                    return Ok(CreatedRun { id, created: false });
                }
                let stages: Vec<&Vec<NewStep>> =
                    run.stages.iter().filter(|s| !s.is_empty()).collect();
                let mut next_id = 1;
                for (stage, steps) in (1..).zip(stages.iter()) {
                    Self::insert_stage(tx, &id, stage, &mut next_id, steps).await?;
                }
                if stages.is_empty() {
                    sqlx::query(&engine_sql(
                        "UPDATE workflow_runs SET state = 'Succeeded', started_at = now(), \
                         finished_at = now() WHERE id = $1",
                    ))
                    .bind(&id)
                    .execute(&mut **tx)
                    .await?;
                }
                Ok(CreatedRun {
                    id: run.id,
                    created: true,
                })
            }

            async fn insert_stage(
                tx: &mut EngineTx,
                run_id: &str,
                stage: i64,
                next_id: &mut i64,
                steps: &[NewStep],
            ) -> Result<(), StoreError> {
                for (seq, step) in (0_i64..).zip(steps) {
                    sqlx::query(&engine_sql(
                        "INSERT INTO workflow_steps (run_id, id, stage, seq, name, kind, input, \
                         at_least_once, slot, slot_limit, state, attempt, retries) \
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, 'Pending', 0, 0)",
                    ))
                    .bind(run_id)
                    .bind(*next_id)
                    .bind(stage)
                    .bind(seq)
                    .bind(&step.name)
                    .bind(&step.kind)
                    .bind(json_text(&step.input))
                    .bind(step.at_least_once)
                    .bind(step.slot.as_ref().map(|s| s.key.clone()))
                    .bind(step.slot.as_ref().map(|s| i64::from(s.limit.max(1))))
                    .execute(&mut **tx)
                    .await?;
                    *next_id += 1;
                }
                Ok(())
            }

            /// Inserts stages discovered by a step of `stage`, right after it.
            async fn append_stages(
                tx: &mut EngineTx,
                run_id: &str,
                stage: i64,
                append: &[Vec<NewStep>],
            ) -> Result<(), StoreError> {
                let append: Vec<&Vec<NewStep>> = append.iter().filter(|s| !s.is_empty()).collect();
                if append.is_empty() {
                    return Ok(());
                }
                let shift = i64::try_from(append.len()).unwrap_or(i64::MAX);
                sqlx::query(&engine_sql(
                    "UPDATE workflow_steps SET stage = stage + $1 WHERE run_id = $2 AND stage > $3",
                ))
                .bind(shift)
                .bind(run_id)
                .bind(stage)
                .execute(&mut **tx)
                .await?;
                let (max_id,): (i64,) = sqlx::query_as(&engine_sql(
                    "SELECT COALESCE(MAX(id), 0) FROM workflow_steps WHERE run_id = $1",
                ))
                .bind(run_id)
                .fetch_one(&mut **tx)
                .await?;
                let mut next_id = max_id + 1;
                for (offset, steps) in (1..).zip(append) {
                    Self::insert_stage(tx, run_id, stage + offset, &mut next_id, steps).await?;
                }
                Ok(())
            }

            /// Moves the run on after a step of `stage` finished: to the next stage when every
            /// step of this one succeeded, to Succeeded when none is left; Waiting while a step
            /// waits for an acknowledgement.
            async fn advance(
                tx: &mut EngineTx,
                run_id: &str,
                stage: i64,
            ) -> Result<(), StoreError> {
                let (unfinished,): (i64,) = sqlx::query_as(&engine_sql(
                    "SELECT COUNT(*) FROM workflow_steps \
                     WHERE run_id = $1 AND stage = $2 AND state <> 'Succeeded'",
                ))
                .bind(run_id)
                .bind(stage)
                .fetch_one(&mut **tx)
                .await?;
                if unfinished == 0 {
                    let (next,): (Option<i64>,) = sqlx::query_as(&engine_sql(
                        "SELECT MIN(stage) FROM workflow_steps WHERE run_id = $1 AND stage > $2",
                    ))
                    .bind(run_id)
                    .bind(stage)
                    .fetch_one(&mut **tx)
                    .await?;
                    match next {
                        Some(next) => {
                            sqlx::query(&engine_sql(
                                "UPDATE workflow_runs SET current_stage = $2, state = 'Running' \
                                 WHERE id = $1",
                            ))
                            .bind(run_id)
                            .bind(next)
                            .execute(&mut **tx)
                            .await?;
                        }
                        None => {
                            sqlx::query(&engine_sql(
                                "UPDATE workflow_runs SET state = 'Succeeded', error = NULL, \
                                 finished_at = now() WHERE id = $1",
                            ))
                            .bind(run_id)
                            .execute(&mut **tx)
                            .await?;
                        }
                    }
                    return Ok(());
                }
                let (acks,): (i64,) = sqlx::query_as(&engine_sql(
                    "SELECT COUNT(*) FROM workflow_steps \
                     WHERE run_id = $1 AND state = 'Waiting' AND wait_kind = 'ack'",
                ))
                .bind(run_id)
                .fetch_one(&mut **tx)
                .await?;
                sqlx::query(&engine_sql(
                    "UPDATE workflow_runs SET state = $2 WHERE id = $1",
                ))
                .bind(run_id)
                .bind(if acks > 0 { "Waiting" } else { "Running" })
                .execute(&mut **tx)
                .await?;
                Ok(())
            }

            /// Places taken per slot: `(slot, steps begun and not finished, their limit)`, for
            /// every slot or only `only`. A step has begun once claimed (attempt > 0) and keeps
            /// its place through retries and waits until it finishes or its run ends.
            async fn slot_places(
                tx: &mut EngineTx,
                only: Option<&str>,
            ) -> Result<Vec<(String, i64, i64)>, StoreError> {
                let rows: Vec<(String, i64, Option<i64>)> = sqlx::query_as(&engine_sql(
                    "SELECT s.slot, COUNT(*), MAX(s.slot_limit) \
                     FROM workflow_steps s /*+ INDEXED BY workflow_steps_slot */ \
                     JOIN workflow_runs r ON r.id = s.run_id \
                     WHERE s.slot IS NOT NULL AND ($1::text IS NULL OR s.slot = $1) \
                       AND s.state IN ('Pending', 'Running', 'Waiting') AND s.attempt > 0 \
                       AND r.state IN ('Pending', 'Running', 'Waiting') \
                     GROUP BY s.slot",
                ))
                .bind(only)
                .fetch_all(&mut **tx)
                .await?;
                Ok(rows
                    .into_iter()
                    .map(|(slot, taken, limit)| (slot, taken, limit.unwrap_or(i64::MAX)))
                    .collect())
            }

            /// Of the claim's candidates `(run, step, slot, limit, attempt, state)`, those that may
            /// be claimed, as `(run, step, whether it was Running)` (an expired lease taken over):
            /// every step outside a slot or already begun, and as many fresh steps of
            /// each slot as it has free places. Each slot's row is locked first (in name order,
            /// so claims never wait on each other in a cycle), which makes concurrent claims on
            /// PostgreSQL take a slot's last places one at a time; SQLite has one writer anyway.
            async fn within_slot_limits(
                tx: &mut EngineTx,
                candidates: Vec<(String, i64, Option<String>, Option<i64>, i64, String)>,
            ) -> Result<Vec<(String, i64, bool)>, StoreError> {
                // Places taken in each slot some fresh candidate asks for.
                let mut taken: std::collections::BTreeMap<String, i64> = Default::default();
                for (_, _, slot, _, attempt, _) in &candidates {
                    if let (Some(slot), 0) = (slot, attempt) {
                        taken.entry(slot.clone()).or_default();
                    }
                }
                for (slot, places) in taken.iter_mut() {
                    sqlx::query(&engine_sql(
                        "INSERT INTO engine_slots (slot, claims) VALUES ($1, 0) \
                         ON CONFLICT (slot) DO NOTHING",
                    ))
                    .bind(slot)
                    .execute(&mut **tx)
                    .await?;
                    sqlx::query(&engine_sql(
                        "UPDATE engine_slots SET claims = claims + 1 WHERE slot = $1",
                    ))
                    .bind(slot)
                    .execute(&mut **tx)
                    .await?;
                    *places = Self::slot_places(tx, Some(slot))
                        .await?
                        .first()
                        .map_or(0, |(_, taken, _)| *taken);
                }
                let mut picked = Vec::with_capacity(candidates.len());
                for (run_id, step_id, slot, limit, attempt, state) in candidates {
                    let running = state == "Running";
                    match slot {
                        Some(slot) if attempt == 0 => {
                            let places = taken.entry(slot).or_default();
                            // Against the candidate's own limit: a step keeps the limit it was
                            // planned with.
                            if *places < limit.unwrap_or(i64::MAX).max(1) {
                                *places += 1;
                                picked.push((run_id, step_id, running));
                            }
                        }
                        _ => picked.push((run_id, step_id, running)),
                    }
                }
                Ok(picked)
            }

            /// Whether the (locked) run has reached a final state.
            async fn run_ended(tx: &mut EngineTx, run_id: &str) -> Result<bool, StoreError> {
                Ok(Self::locked_run(tx, run_id)
                    .await?
                    .is_some_and(|run| run.state.is_final()))
            }

            async fn locked_run(
                tx: &mut EngineTx,
                run_id: &str,
            ) -> Result<Option<RunRecord>, StoreError> {
                let row: Option<RunRow> = sqlx::query_as(&engine_sql(&format!(
                    "SELECT {RUN_COLUMNS} FROM workflow_runs WHERE id = $1 FOR UPDATE"
                )))
                .bind(run_id)
                .fetch_optional(&mut **tx)
                .await?;
                row.map(RunRow::into_record).transpose()
            }

            async fn runbook_in(
                tx: &mut EngineTx,
                name: &str,
            ) -> Result<Option<RunbookState>, StoreError> {
                let row: Option<RunbookRow> = sqlx::query_as(&engine_sql(&format!(
                    "SELECT {RUNBOOK_COLUMNS} FROM runbooks WHERE name = $1"
                )))
                .bind(name)
                .fetch_optional(&mut **tx)
                .await?;
                Ok(row.map(RunbookRow::into_state))
            }
        }
    };
}

pub(super) use impl_engine_helpers;
