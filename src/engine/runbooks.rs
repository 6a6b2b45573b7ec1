//! Runbooks: the bundled scheduled and event-triggered jobs, declared in `runbooks/*.toml`.
//!
//! A runbook names a workflow, its default parameters, a cron schedule and/or events. Files give
//! the defaults; an operator's enable/disable and schedule changes are kept in the store and win
//! over the file across restarts. A runbook whose workflow this build lacks loads and is listed
//! as unavailable; starting it is refused and its schedule creates no jobs. This module never
//! trusts a webhook caller: only the runbook's own token, compared in constant time, starts it.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde::Deserialize;
use serde_json::Value;
use time::OffsetDateTime;
use tracing::{info, warn};
use uuid::Uuid;

use super::schedule::Schedule;
use super::{EngineError, Registry, StartRequest, plan_run};
use crate::clock::SharedClock;
use crate::store::{CreatedRun, RunbookState, SharedStore};

/// A runbook as declared in its file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunbookDefinition {
    /// The runbook's name (the file's stem).
    pub name: String,
    /// What it is for, for operators.
    pub description: String,
    /// The workflow it runs.
    pub workflow: String,
    /// Whether it is enabled until an operator says otherwise.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// A cron expression (croner syntax), if it runs on a schedule.
    #[serde(default)]
    pub schedule: Option<String>,
    /// Events that start it (`vm.created`).
    #[serde(default)]
    pub events: Vec<String>,
    /// Default parameters; a start may override them key by key.
    #[serde(default = "empty_object")]
    pub parameters: Value,
}

fn enabled_by_default() -> bool {
    true
}

fn empty_object() -> Value {
    Value::Object(serde_json::Map::new())
}

/// A runbook as an operator sees it: its file, what is in force, and whether it can run.
#[derive(Debug, Clone, PartialEq)]
pub struct RunbookView {
    /// The file's declaration.
    pub definition: RunbookDefinition,
    /// Whether it is enabled now.
    pub enabled: bool,
    /// The schedule in force.
    pub schedule: Option<String>,
    /// Whether this build has its workflow.
    pub available: bool,
    /// Why it cannot run, when it cannot.
    pub unavailable_reason: Option<String>,
    /// The token a webhook call must present.
    pub webhook_token: String,
    /// The latest schedule tick handled.
    pub last_tick: Option<OffsetDateTime>,
    /// The next schedule tick.
    pub next_tick: Option<OffsetDateTime>,
}

/// Reads every `*.toml` runbook in `dir`, sorted by name; a missing folder holds none.
pub fn load_definitions(dir: &Path) -> Result<Vec<RunbookDefinition>, EngineError> {
    let file_error = |path: &Path, message: String| EngineError::RunbookFile {
        path: path.display().to_string(),
        message,
    };
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            warn!(dir = %dir.display(), "no runbooks folder; no runbooks loaded");
            return Ok(Vec::new());
        }
        Err(err) => return Err(file_error(dir, err.to_string())),
    };
    let mut definitions = Vec::new();
    for entry in entries {
        let path = entry.map_err(|e| file_error(dir, e.to_string()))?.path();
        if path.extension().and_then(|e| e.to_str()) != Some("toml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).map_err(|e| file_error(&path, e.to_string()))?;
        let definition: RunbookDefinition =
            toml::from_str(&text).map_err(|e| file_error(&path, e.to_string()))?;
        let stem = path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default();
        if definition.name != stem {
            return Err(file_error(
                &path,
                format!(
                    "name '{}' must match the file name '{stem}'",
                    definition.name
                ),
            ));
        }
        if !definition.parameters.is_object() {
            return Err(file_error(&path, "parameters must be a table".into()));
        }
        if let Some(schedule) = &definition.schedule {
            Schedule::parse(schedule).map_err(|e| file_error(&path, e.to_string()))?;
        }
        definitions.push(definition);
    }
    definitions.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(definitions)
}

/// The loaded runbooks, with what starts them.
pub struct Runbooks {
    definitions: BTreeMap<String, RunbookDefinition>,
    store: SharedStore,
    registry: Arc<Registry>,
}

impl Runbooks {
    /// Records each runbook in the store (first load: a new webhook token, and a last tick of now
    /// so a schedule does not fire for ticks before it existed) and keeps the definitions.
    pub async fn install(
        store: SharedStore,
        registry: Arc<Registry>,
        definitions: Vec<RunbookDefinition>,
    ) -> Result<Self, EngineError> {
        for definition in &definitions {
            let token = format!("{}{}", Uuid::new_v4().simple(), Uuid::new_v4().simple());
            store.ensure_runbook(&definition.name, &token).await?;
            if registry.get(&definition.workflow).is_none() {
                info!(
                    runbook = %definition.name,
                    workflow = %definition.workflow,
                    "runbook loaded; its workflow is not available in this version"
                );
            }
        }
        Ok(Self {
            definitions: definitions
                .into_iter()
                .map(|d| (d.name.clone(), d))
                .collect(),
            store,
            registry,
        })
    }

    /// Every runbook, by name.
    pub async fn list(&self) -> Result<Vec<RunbookView>, EngineError> {
        let states: BTreeMap<String, RunbookState> = self
            .store
            .list_runbooks()
            .await?
            .into_iter()
            .map(|s| (s.name.clone(), s))
            .collect();
        Ok(self
            .definitions
            .values()
            .filter_map(|d| states.get(&d.name).map(|s| self.view(d, s)))
            .collect())
    }

    /// One runbook.
    pub async fn get(&self, name: &str) -> Result<RunbookView, EngineError> {
        self.list()
            .await?
            .into_iter()
            .find(|v| v.definition.name == name)
            .ok_or_else(|| EngineError::UnknownRunbook(name.to_owned()))
    }

    /// Enables or disables a runbook and/or sets its schedule (`Some(None)`: no schedule); an
    /// invalid cron expression changes nothing.
    pub async fn update(
        &self,
        name: &str,
        enabled: Option<bool>,
        schedule: Option<Option<String>>,
    ) -> Result<RunbookView, EngineError> {
        if !self.definitions.contains_key(name) {
            return Err(EngineError::UnknownRunbook(name.to_owned()));
        }
        let schedule = match schedule {
            Some(Some(expression)) => Some(Some(Schedule::parse(&expression)?)),
            Some(None) => Some(None),
            None => None,
        };
        let schedule_text = schedule.as_ref().map(|s| s.as_ref().map(Schedule::as_str));
        self.store
            .set_runbook_overrides(name, enabled, schedule_text)
            .await?;
        self.get(name).await
    }

    /// Starts a runbook now; `params` override its default parameters key by key.
    pub async fn start(
        &self,
        name: &str,
        params: Option<Value>,
        trigger: &str,
        started_by: &str,
    ) -> Result<CreatedRun, EngineError> {
        self.start_once(name, params, trigger, started_by, None)
            .await
    }

    /// [`start`](Self::start), creating nothing when a run with `dedupe_key` exists already (a
    /// recovery plan's runbook action asked again after a crash finds the run it started).
    pub async fn start_once(
        &self,
        name: &str,
        params: Option<Value>,
        trigger: &str,
        started_by: &str,
        dedupe_key: Option<String>,
    ) -> Result<CreatedRun, EngineError> {
        let definition = self
            .definitions
            .get(name)
            .ok_or_else(|| EngineError::UnknownRunbook(name.to_owned()))?;
        let mut request = self.request(definition, params, trigger, started_by)?;
        request.dedupe_key = dedupe_key;
        let run = plan_run(&self.registry, request)?;
        Ok(self.store.create_run(&run).await?)
    }

    /// Starts every enabled, available runbook that listens for `event`, with `params` over its
    /// defaults.
    pub async fn start_for_event(
        &self,
        event: &str,
        params: Value,
    ) -> Result<Vec<CreatedRun>, EngineError> {
        let mut started = Vec::new();
        for view in self.list().await? {
            if view.enabled && view.available && view.definition.events.iter().any(|e| e == event) {
                let by = format!("event {event}");
                started.push(
                    self.start(&view.definition.name, Some(params.clone()), "event", &by)
                        .await?,
                );
            }
        }
        Ok(started)
    }

    /// Handles the latest due tick of every scheduled runbook at database time `now`: creates its
    /// job when the runbook is enabled and available, exactly once however many instances ask.
    pub async fn run_due_schedules(
        &self,
        now: OffsetDateTime,
    ) -> Result<Vec<CreatedRun>, EngineError> {
        let mut started = Vec::new();
        for view in self.list().await? {
            let Some(expression) = &view.schedule else {
                continue;
            };
            let Ok(schedule) = Schedule::parse(expression) else {
                continue;
            };
            let Some(tick) = schedule.latest_tick(now) else {
                continue;
            };
            if view.last_tick.is_some_and(|last| last >= tick) {
                continue;
            }
            let name = &view.definition.name;
            let run = if view.enabled && view.available {
                let mut request = self.request(&view.definition, None, "schedule", "schedule")?;
                request.dedupe_key = Some(tick_key(name, tick));
                request.reason = Some(format!("scheduled tick {}", super::rfc3339(tick)));
                Some(plan_run(&self.registry, request)?)
            } else {
                None
            };
            if let Some(Some(created)) = self
                .store
                .start_scheduled_run(name, tick, run.as_ref())
                .await?
            {
                info!(runbook = %name, job_id = %created.id, "scheduled job created");
                started.push(created);
            }
        }
        Ok(started)
    }

    /// Checks schedules every `interval` (by `clock`) against the database clock until `shutdown`.
    pub async fn run_schedules(
        self: Arc<Self>,
        clock: SharedClock,
        interval: Duration,
        shutdown: impl std::future::Future<Output = ()> + Send,
    ) {
        let mut shutdown = std::pin::pin!(shutdown);
        loop {
            let due = match self.store.database_now().await {
                Ok(now) => self.run_due_schedules(now).await.map(|_| ()),
                Err(err) => Err(err.into()),
            };
            if let Err(err) = due {
                warn!(error = %err, "checking runbook schedules failed; will retry");
            }
            tokio::select! {
                () = &mut shutdown => return,
                () = clock.sleep(interval) => {}
            }
        }
    }

    fn request(
        &self,
        definition: &RunbookDefinition,
        params: Option<Value>,
        trigger: &str,
        started_by: &str,
    ) -> Result<StartRequest, EngineError> {
        let mut merged = definition.parameters.clone();
        match params {
            None | Some(Value::Null) => {}
            Some(Value::Object(overrides)) => {
                if let Value::Object(base) = &mut merged {
                    base.extend(overrides);
                }
            }
            Some(_) => {
                return Err(EngineError::InvalidParameters {
                    workflow: definition.workflow.clone(),
                    message: "parameters must be a JSON object".into(),
                });
            }
        }
        Ok(StartRequest {
            workflow: definition.workflow.clone(),
            params: merged,
            trigger: trigger.to_owned(),
            started_by: started_by.to_owned(),
            reason: Some(format!("runbook {}", definition.name)),
            dedupe_key: None,
        })
    }

    fn view(&self, definition: &RunbookDefinition, state: &RunbookState) -> RunbookView {
        let available = self.registry.get(&definition.workflow).is_some();
        let schedule = match &state.schedule_override {
            Some(chosen) => chosen.clone(),
            None => definition.schedule.clone(),
        };
        let next_tick = schedule
            .as_deref()
            .and_then(|s| Schedule::parse(s).ok())
            .and_then(|s| s.next_tick(state.last_tick.unwrap_or_else(OffsetDateTime::now_utc)));
        RunbookView {
            definition: definition.clone(),
            enabled: state.enabled_override.unwrap_or(definition.enabled),
            schedule,
            available,
            unavailable_reason: (!available)
                .then(|| EngineError::UnknownWorkflow(definition.workflow.clone()).to_string()),
            webhook_token: state.webhook_token.clone(),
            last_tick: state.last_tick,
            next_tick,
        }
    }
}

/// The dedupe key of a runbook's schedule tick: one job per runbook and tick.
pub fn tick_key(runbook: &str, tick: OffsetDateTime) -> String {
    format!("runbook:{runbook}:{}", super::rfc3339(tick))
}
