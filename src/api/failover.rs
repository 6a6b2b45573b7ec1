//! Failover of one DR subscription, whole or by one of its recovery plans, and the provider's
//! failover settings of a subscription:
//!
//! - `POST /admin/subscriptions/{id}/failover` and `POST /tenant/subscriptions/{subid}/failover`,
//!   ordered by the default plan; `POST .../recovery-plans/{planId}/failover` ordered by that
//!   plan. Body: `{"kind": "test"|"testCleanup"|"planned"|"unplanned"|"commit"|"rollback"|
//!   "reprotect"|"failback", "recoveryPoint": "latest"|"latestAppConsistent"|<time>,
//!   "sourceDown": bool, "reason": "...", "commitPolicy": {"onExpiry": "commit"|"rollback"|"none",
//!   "afterMinutes": n}, "cleanupAfterMinutes": n}` → 202 with the `JobId` of the `failover` run.
//! - `GET`/`PUT /admin/subscriptions/{id}/failover-settings`: `{"Priority": 1..9, "CommitPolicy":
//!   {"OnExpiry", "AfterMinutes"}, "DrillCleanupAfterMinutes": n|null}`.
//!
//! The rules are the domain's ([`FailoverState::check`]): an operation already running → 409
//! naming its job; not allowed in the current phase → 409 naming the phase and what is allowed;
//! unplanned without the source fenced → 400. Starting claims the subscription's failover record
//! (optimistic version, one run per version), so two requests never both start
//! ([`start_operation`]).

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use tracing::instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::failover_settings::{check_drill_minutes, check_priority};
use crate::domain::{
    CommitPolicy, DrSubscription, FailoverKind, FailoverRefusal, FailoverSettings, FailoverState,
    RecoveryPointChoice, SelfService, SubscriptionId,
};
use crate::store::StoreError;
use crate::workflows::{OperationRequest, StartError, start_operation};

use super::AppState;
use super::auth::principal;
use super::dr::known_subscription;
use super::error::ApiError;
use super::jobs::opt_time;
use super::notification::parse_id;
use super::tenant::TenantSubscription;
use super::wire::{Negotiated, Reply, WapBody};

/// How often a settings change is retried when the record changed between reading and saving.
const SAVE_ATTEMPTS: usize = 5;

/// The admin routes, relative to `/admin`.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_failover))
        .routes(routes!(admin_plan_failover))
        .routes(routes!(get_settings, put_settings))
}

/// The tenant routes, relative to `/tenant/subscriptions/{subid}` (inside its guard).
pub fn tenant_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_failover))
        .routes(routes!(tenant_plan_failover))
}

/// The body of a failover request.
pub struct FailoverInput {
    kind: String,
    recovery_point: Option<String>,
    source_down: Option<bool>,
    reason: Option<String>,
    commit_policy: Option<CommitPolicyInput>,
    cleanup_after_minutes: Option<i64>,
}

/// A commit policy as written.
struct CommitPolicyInput {
    on_expiry: String,
    after_minutes: Option<i64>,
}

impl FromWire for CommitPolicyInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            on_expiry: node.required_str(&["onExpiry", "OnExpiry"])?,
            after_minutes: node.optional_i64(&["afterMinutes", "AfterMinutes"])?,
        })
    }
}

impl CommitPolicyInput {
    fn policy(&self) -> Result<CommitPolicy, ApiError> {
        let minutes =
            match self.after_minutes {
                None => None,
                Some(m) => Some(u32::try_from(m).map_err(|_| {
                    ApiError::BadRequest(format!("afterMinutes {m} is out of range."))
                })?),
            };
        CommitPolicy::parse(&self.on_expiry, minutes).map_err(ApiError::BadRequest)
    }
}

impl FromWire for FailoverInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            kind: node.required_str(&["kind", "Kind"])?,
            recovery_point: node.optional_str(&["recoveryPoint", "RecoveryPoint"])?,
            source_down: node.optional_bool(&["sourceDown", "SourceDown"])?,
            reason: node.optional_str(&["reason", "Reason"])?,
            commit_policy: node.optional(&["commitPolicy", "CommitPolicy"])?,
            cleanup_after_minutes: node
                .optional_i64(&["cleanupAfterMinutes", "CleanupAfterMinutes"])?,
        })
    }
}

impl FailoverInput {
    /// Whether the admin confirmed the source stamp is down.
    pub(super) fn source_down(&self) -> bool {
        self.source_down == Some(true)
    }

    /// The reason given, if any.
    pub(super) fn reason(&self) -> Option<String> {
        self.reason.clone()
    }

    /// Whether the input names per-operation commit or cleanup options.
    pub(super) fn has_window_options(&self) -> bool {
        self.commit_policy.is_some() || self.cleanup_after_minutes.is_some()
    }

    /// The operation asked for; 400 for an unknown kind or options the kind does not take.
    pub(super) fn kind(&self) -> Result<FailoverKind, ApiError> {
        let point = match &self.recovery_point {
            Some(text) => RecoveryPointChoice::parse(text).map_err(ApiError::BadRequest)?,
            None => RecoveryPointChoice::Latest,
        };
        let kind = FailoverKind::from_name(&self.kind, point).ok_or_else(|| {
            ApiError::BadRequest(format!(
                "kind '{}' is not one of {}.",
                self.kind,
                FailoverKind::NAMES.join(", ")
            ))
        })?;
        let unplanned = matches!(kind, FailoverKind::UnplannedFailover { .. });
        if !unplanned && self.recovery_point.is_some() {
            return Err(ApiError::BadRequest(
                "recoveryPoint applies to an unplanned failover only.".into(),
            ));
        }
        if !unplanned && self.source_down == Some(true) {
            return Err(ApiError::BadRequest(
                "sourceDown applies to an unplanned failover only.".into(),
            ));
        }
        let fails_over = matches!(
            kind,
            FailoverKind::PlannedFailover | FailoverKind::UnplannedFailover { .. }
        );
        if self.commit_policy.is_some() && !fails_over {
            return Err(ApiError::BadRequest(
                "commitPolicy applies to a planned or unplanned failover only.".into(),
            ));
        }
        if self.cleanup_after_minutes.is_some() && kind != FailoverKind::TestFailover {
            return Err(ApiError::BadRequest(
                "cleanupAfterMinutes applies to a test failover (drill) only.".into(),
            ));
        }
        Ok(kind)
    }

    /// The request the input makes of subscription `id`, ordered by `plan`.
    fn request(
        &self,
        id: SubscriptionId,
        plan: Option<Uuid>,
        by: String,
    ) -> Result<OperationRequest, ApiError> {
        let kind = self.kind()?;
        Ok(OperationRequest {
            subscription_id: id,
            kind,
            plan_id: plan,
            source_fenced: self.source_down == Some(true),
            reason: self.reason.clone(),
            requested_by: by,
            trigger: "api".into(),
            commit_policy: self
                .commit_policy
                .as_ref()
                .map(CommitPolicyInput::policy)
                .transpose()?,
            cleanup_after_minutes: self
                .cleanup_after_minutes
                .map(check_drill_minutes)
                .transpose()
                .map_err(ApiError::BadRequest)?,
            site_job: None,
        })
    }
}

/// The answer: the job started for the operation.
pub struct FailoverStarted {
    subscription_id: SubscriptionId,
    kind: FailoverKind,
    plan_id: Option<Uuid>,
    job_id: Uuid,
}

impl ToWire for FailoverStarted {
    const XML_ROOT: &'static str = "Failover";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("SubscriptionId", Out::Str(self.subscription_id.to_string())),
            ("Kind", Out::Str(self.kind.as_str().into())),
            (
                "RecoveryPlanId",
                self.plan_id.map_or(Out::Null, |p| Out::Str(p.to_string())),
            ),
            ("JobId", Out::Str(self.job_id.to_string())),
        ])
    }
}

/// `POST /admin/subscriptions/{id}/failover`: any operation the rules allow.
#[utoipa::path(post, path = "/subscriptions/{id}/failover", params(("id" = String, Path, description = "The subscription (a GUID).")), request_body = super::schemas::FailoverRequest, responses((status = 202, description = "Started: the job doing it.", body = super::schemas::FailoverStarted)))]
#[instrument(skip_all, fields(subscription_id = %path_id), err(Debug))]
async fn admin_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Path(path_id): Path<String>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<FailoverStarted>, ApiError> {
    admin_start(state, format, headers, &path_id, None, input).await
}

/// `POST /admin/subscriptions/{id}/recovery-plans/{plan}/failover`: the same, in that plan's order.
#[utoipa::path(post, path = "/subscriptions/{id}/recovery-plans/{plan}/failover", params(("id" = String, Path, description = "The subscription (a GUID)."), ("plan" = String, Path, description = "The recovery plan (its id, a GUID).")), request_body = super::schemas::FailoverRequest, responses((status = 202, description = "Started: the job doing it.", body = super::schemas::FailoverStarted)))]
#[instrument(skip_all, fields(subscription_id = %path_id), err(Debug))]
async fn admin_plan_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Path((path_id, plan)): Path<(String, String)>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<FailoverStarted>, ApiError> {
    let plan = plan_id(&plan)?;
    admin_start(state, format, headers, &path_id, Some(plan), input).await
}

async fn admin_start(
    state: AppState,
    format: Negotiated,
    headers: HeaderMap,
    path_id: &str,
    plan: Option<Uuid>,
    input: FailoverInput,
) -> Result<Reply<FailoverStarted>, ApiError> {
    let id: SubscriptionId = parse_id(path_id)?;
    let by = principal(&headers).unwrap_or_else(|| "admin".into());
    let request = input.request(id, plan, by)?;
    known_subscription(&state, path_id).await?;
    let started = start(&state, request).await?;
    Ok(Reply::with_status(StatusCode::ACCEPTED, format, started))
}

/// `POST /tenant/subscriptions/{subid}/failover`: a drill and its cleanup when the plan's
/// SelfService is Drill; every operation but an unplanned failover when it is Full; 403
/// otherwise, and while the subscription is not active.
#[utoipa::path(post, path = "/failover", request_body = super::schemas::FailoverRequest, responses((status = 202, description = "Started: the job doing it.", body = super::schemas::FailoverStarted)))]
#[instrument(skip_all, fields(subscription_id = %sub.id), err(Debug))]
async fn tenant_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<FailoverStarted>, ApiError> {
    tenant_start(state, format, headers, sub, None, input).await
}

/// `POST /tenant/subscriptions/{subid}/recovery-plans/{plan}/failover`: the same, in that plan's
/// order.
#[utoipa::path(post, path = "/recovery-plans/{plan}/failover", params(("plan" = String, Path, description = "The recovery plan (its id, a GUID).")), request_body = super::schemas::FailoverRequest, responses((status = 202, description = "Started: the job doing it.", body = super::schemas::FailoverStarted)))]
#[instrument(skip_all, fields(subscription_id = %sub.id), err(Debug))]
async fn tenant_plan_failover(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    Path((_, plan)): Path<(String, String)>,
    WapBody(input): WapBody<FailoverInput>,
) -> Result<Reply<FailoverStarted>, ApiError> {
    let plan = plan_id(&plan)?;
    tenant_start(state, format, headers, sub, Some(plan), input).await
}

async fn tenant_start(
    state: AppState,
    format: Negotiated,
    headers: HeaderMap,
    sub: crate::domain::Subscription,
    plan: Option<Uuid>,
    input: FailoverInput,
) -> Result<Reply<FailoverStarted>, ApiError> {
    let kind = input.kind()?;
    let drill_only = match sub.effective_quota()?.self_service {
        SelfService::None => {
            return Err(ApiError::Forbidden(
                "Your plan does not allow you to run failovers yourself; ask your provider.".into(),
            ));
        }
        SelfService::Drill => true,
        SelfService::Full => false,
    };
    if !kind.tenant_may_start(drill_only) {
        return Err(ApiError::Forbidden(format!(
            "Your plan allows you {}; '{}' is for your provider.",
            if drill_only {
                "DR drills (test and testCleanup) only"
            } else {
                "every operation but an unplanned failover"
            },
            kind.as_str()
        )));
    }
    if !sub.tenant_may_act() {
        return Err(ApiError::Forbidden(
            "The subscription is not active: failovers are not allowed.".into(),
        ));
    }
    let by = principal(&headers).unwrap_or_else(|| sub.admin_id.clone());
    let request = input.request(sub.id, plan, by)?;
    let started = start(&state, request).await?;
    Ok(Reply::with_status(StatusCode::ACCEPTED, format, started))
}

fn plan_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text.trim())
        .map_err(|_| ApiError::NotFound(format!("Recovery plan '{text}' is not known.")))
}

impl From<FailoverRefusal> for ApiError {
    fn from(refusal: FailoverRefusal) -> Self {
        match refusal {
            FailoverRefusal::SourceNotFenced => Self::BadRequest(refusal.to_string()),
            other => Self::Conflict(other.to_string()),
        }
    }
}

impl From<StartError> for ApiError {
    fn from(err: StartError) -> Self {
        match err {
            StartError::NotReady(message) => Self::Conflict(message),
            StartError::Refused(refusal) => refusal.into(),
            StartError::UnknownPlan(_) => Self::NotFound(err.to_string()),
            StartError::Store(store) => store.into(),
            StartError::Engine(engine) => engine.into(),
        }
    }
}

/// Starts the operation and answers with its job.
async fn start(state: &AppState, request: OperationRequest) -> Result<FailoverStarted, ApiError> {
    let (subscription_id, kind, plan_id) = (request.subscription_id, request.kind, request.plan_id);
    let job_id = start_operation(&state.store, &state.registry, request).await?;
    Ok(FailoverStarted {
        subscription_id,
        kind,
        plan_id,
        job_id,
    })
}

/// A subscription's failover settings as the API shows them.
pub struct SettingsView(FailoverSettings);

impl ToWire for SettingsView {
    const XML_ROOT: &'static str = "FailoverSettings";

    fn to_wire(&self) -> Out {
        settings_out(&self.0)
    }
}

fn settings_out(settings: &FailoverSettings) -> Out {
    Out::Obj(vec![
        ("Priority", Out::Int(i64::from(settings.priority))),
        (
            "CommitPolicy",
            Out::Obj(vec![
                (
                    "OnExpiry",
                    Out::Str(settings.commit_policy.on_expiry_name().into()),
                ),
                (
                    "AfterMinutes",
                    if settings.commit_policy.on_expiry.is_some() {
                        Out::Int(i64::from(settings.commit_policy.after_minutes))
                    } else {
                        Out::Null
                    },
                ),
            ]),
        ),
        (
            "DrillCleanupAfterMinutes",
            settings
                .drill_cleanup_after_minutes
                .map_or(Out::Null, |m| Out::Int(i64::from(m))),
        ),
    ])
}

/// The body of `PUT .../failover-settings`: members left out keep their value.
pub struct SettingsInput {
    priority: Option<i64>,
    commit_policy: Option<CommitPolicyInput>,
    drill_cleanup: Option<Option<i64>>,
}

impl FromWire for SettingsInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let drill_names = ["DrillCleanupAfterMinutes", "drillCleanupAfterMinutes"];
        let drill_cleanup = match node.member(&drill_names) {
            None => None,
            Some(Node::Null) => Some(None),
            Some(_) => Some(node.optional_i64(&drill_names)?),
        };
        Ok(Self {
            priority: node.optional_i64(&["Priority", "priority"])?,
            commit_policy: node.optional(&["CommitPolicy", "commitPolicy"])?,
            drill_cleanup,
        })
    }
}

impl SettingsInput {
    /// `settings` with what the input names changed; 400 naming a value out of range.
    fn apply(&self, mut settings: FailoverSettings) -> Result<FailoverSettings, ApiError> {
        if let Some(priority) = self.priority {
            settings.priority = check_priority(priority).map_err(ApiError::BadRequest)?;
        }
        if let Some(policy) = &self.commit_policy {
            settings.commit_policy = policy.policy()?;
        }
        if let Some(drill) = self.drill_cleanup {
            settings.drill_cleanup_after_minutes = drill
                .map(check_drill_minutes)
                .transpose()
                .map_err(ApiError::BadRequest)?;
        }
        Ok(settings)
    }
}

/// `GET /admin/subscriptions/{id}/failover-settings`.
#[utoipa::path(get, path = "/subscriptions/{id}/failover-settings", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "The settings.", body = super::schemas::FailoverSettings)))]
#[instrument(skip_all, fields(subscription_id = %path_id), err(Debug))]
async fn get_settings(
    State(state): State<AppState>,
    format: Negotiated,
    Path(path_id): Path<String>,
) -> Result<Reply<SettingsView>, ApiError> {
    let sub = known_subscription(&state, &path_id).await?;
    let settings = state
        .store
        .get_failover(sub.id)
        .await?
        .map(|s| s.settings)
        .unwrap_or_default();
    Ok(Reply::ok(format, SettingsView(settings)))
}

/// `PUT /admin/subscriptions/{id}/failover-settings`.
#[utoipa::path(put, path = "/subscriptions/{id}/failover-settings", params(("id" = String, Path, description = "The subscription (a GUID).")), request_body = super::schemas::FailoverSettingsInput, responses((status = 200, description = "The settings.", body = super::schemas::FailoverSettings)))]
#[instrument(skip_all, fields(subscription_id = %path_id), err(Debug))]
async fn put_settings(
    State(state): State<AppState>,
    format: Negotiated,
    Path(path_id): Path<String>,
    WapBody(input): WapBody<SettingsInput>,
) -> Result<Reply<SettingsView>, ApiError> {
    let sub = known_subscription(&state, &path_id).await?;
    // Checked once before any write, so a bad value changes nothing.
    input.apply(FailoverSettings::default())?;
    for _ in 0..SAVE_ATTEMPTS {
        let mut record = state
            .store
            .get_failover(sub.id)
            .await?
            .unwrap_or_else(|| FailoverState::new(sub.id));
        record.settings = input.apply(record.settings)?;
        match state.store.save_failover(&record).await {
            Ok(saved) => return Ok(Reply::ok(format, SettingsView(saved.settings))),
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(ApiError::Conflict(
        "The subscription's failover record kept changing; try again.".into(),
    ))
}

/// Where failover stands, for the DR views: the phase, what may start now, the last operation
/// and its job, the open commit window or drill deadline, the provider's settings, and the work
/// left pending (a subscription that never failed over is `Replicating`); null when DR is off.
pub(super) fn failover_view(dr: Option<&DrSubscription>, state: Option<&FailoverState>) -> Out {
    let Some(dr) = dr else {
        return Out::Null;
    };
    let on_recovery = dr.active_stamp_id.is_some() && dr.active_stamp_id == dr.recovery_stamp_id;
    let state = state
        .cloned()
        .unwrap_or_else(|| FailoverState::new(dr.subscription_id));
    let running = state.running.as_ref();
    let list = |item, items: Vec<String>| Out::List {
        item,
        items: items.into_iter().map(Out::Str).collect(),
    };
    Out::Obj(vec![
        ("Phase", Out::Str(state.phase.as_str().into())),
        (
            "Allowed",
            list(
                "Operation",
                state
                    .phase
                    .allowed(on_recovery)
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            ),
        ),
        (
            "LastOperation",
            running.map_or(Out::Null, |r| Out::Str(r.kind.clone())),
        ),
        (
            "LastJobId",
            running.map_or(Out::Null, |r| Out::Str(r.job_id.to_string())),
        ),
        (
            "Deadline",
            state.deadline.map_or(Out::Null, |d| {
                Out::Obj(vec![
                    ("Action", Out::Str(d.action.as_str().into())),
                    ("At", opt_time(Some(d.at))),
                    ("OpenedByJobId", Out::Str(d.opened_by.to_string())),
                ])
            }),
        ),
        ("Settings", settings_out(&state.settings)),
        ("Pending", list("Note", state.pending.clone())),
    ])
}
