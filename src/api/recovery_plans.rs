//! Recovery plans through the admin API (`/admin/subscriptions/{id}/recovery-plans...`) and the
//! tenant API (`/tenant/subscriptions/{subid}/recovery-plans...`): list, read, create, replace
//! and delete a subscription's plans.
//!
//! The provider may always write; a tenant may read always and write only when the quota's
//! `SelfService` is `Full` and the subscription is active, and only manual steps as actions: a
//! script or runbook action runs from wapdr's own network, so a tenant may keep those its
//! provider put in a plan but not add or change one. The default plan is wapdr's: it is kept
//! in sync with the protected VMs, so nobody may edit or delete it. Every write is validated by
//! the domain first and changes nothing when refused.

use std::collections::BTreeSet;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{
    Action, PlanDraft, PlanError, RecoveryPlan, SelfService, Subscription, SubscriptionId,
    SubscriptionState, validate_plan,
};
use crate::store::StoreError;

use super::AppState;
use super::dr::known_subscription;
use super::error::ApiError;
use super::recovery_plan_wire::{PlanInput, PlanList, PlanView};
use super::tenant::TenantSubscription;
use super::wire::{Negotiated, Reply, WapBody};

/// The admin routes, relative to `/admin`.
pub fn admin_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(admin_list, admin_create))
        .routes(routes!(admin_get, admin_replace, admin_delete))
}

/// The tenant routes, relative to `/tenant/subscriptions/{subid}` (inside its guard).
pub fn tenant_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(tenant_list, tenant_create))
        .routes(routes!(tenant_get, tenant_replace, tenant_delete))
}

impl From<PlanError> for ApiError {
    fn from(err: PlanError) -> Self {
        Self::BadRequest(err.0)
    }
}

/// Why the default plan cannot be changed, for every write that tries.
const DEFAULT_PLAN_IS_KEPT: &str = "The default plan is kept in sync with the subscription's protected VMs by wapdr; it cannot be edited, renamed or deleted. Create a plan of your own to order VMs differently.";

/// Refuses a tenant write unless the plan grants full self-service and the subscription is active.
fn tenant_may_write(sub: &Subscription) -> Result<(), ApiError> {
    if sub.effective_quota()?.self_service != SelfService::Full {
        return Err(ApiError::Forbidden(
            "Your plan does not let you edit recovery plans yourself (it needs full self-service); ask your provider.".into(),
        ));
    }
    if !sub.tenant_may_act() {
        return Err(ApiError::Forbidden(match sub.state {
            SubscriptionState::Suspended => {
                "The subscription is suspended: its recovery plans can be read, but not changed until it is active again.".into()
            }
            _ => "The subscription is being deleted: changes are not allowed.".into(),
        }));
    }
    Ok(())
}

/// Refuses a tenant's plan whose script or runbook actions are not ones the provider already put
/// in it (`stored`): they run from wapdr's own network and services, so a tenant could reach
/// what it must not; manual steps are the tenant's to add.
fn tenant_actions_allowed(
    draft: &PlanDraft,
    stored: Option<&RecoveryPlan>,
) -> Result<(), ApiError> {
    let provided: Vec<&Action> = stored
        .into_iter()
        .flat_map(|plan| &plan.groups)
        .flat_map(|group| group.pre_actions.iter().chain(&group.post_actions))
        .collect();
    let added = draft
        .groups
        .iter()
        .flat_map(|group| group.pre_actions.iter().chain(&group.post_actions))
        .find(|action| !matches!(action, Action::Manual { .. }) && !provided.contains(action));
    match added {
        None => Ok(()),
        Some(action) => Err(ApiError::Forbidden(format!(
            "{} actions run from your provider's own network and services, so only your provider can add or change them; add manual steps, or ask your provider.",
            action.kind()
        ))),
    }
}

fn parse_plan_id(text: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(text.trim()).map_err(|_| {
        ApiError::BadRequest(format!("Recovery plan id '{text}' is not a valid GUID."))
    })
}

async fn plan_of(
    state: &AppState,
    sub: SubscriptionId,
    id: &str,
) -> Result<RecoveryPlan, ApiError> {
    let id = parse_plan_id(id)?;
    state
        .store
        .get_recovery_plan(sub, id)
        .await?
        .ok_or_else(|| {
            ApiError::NotFound(format!(
                "Recovery plan {id} is not a plan of this subscription."
            ))
        })
}

/// Validates a draft against the subscription's VM records and refuses a name another plan has.
async fn checked_draft(
    state: &AppState,
    sub: SubscriptionId,
    draft: PlanDraft,
    except: Option<Uuid>,
) -> Result<PlanDraft, ApiError> {
    let known: BTreeSet<Uuid> = state
        .store
        .list_protected_vms(sub)
        .await?
        .into_iter()
        .map(|vm| vm.vm_id)
        .collect();
    let draft = validate_plan(draft, &known)?;
    let plans = state.store.list_recovery_plans(sub).await?;
    if plans
        .iter()
        .any(|p| Some(p.id) != except && p.name.eq_ignore_ascii_case(&draft.name))
    {
        return Err(name_taken(&draft.name));
    }
    Ok(draft)
}

fn name_taken(name: &str) -> ApiError {
    ApiError::Conflict(format!(
        "The subscription already has a recovery plan named '{name}'; choose another name."
    ))
}

async fn list(state: &AppState, sub: SubscriptionId) -> Result<PlanList, ApiError> {
    Ok(PlanList(state.store.list_recovery_plans(sub).await?))
}

async fn create(
    state: &AppState,
    sub: SubscriptionId,
    input: PlanInput,
) -> Result<RecoveryPlan, ApiError> {
    if state.store.get_dr_subscription(sub).await?.is_none() {
        return Err(ApiError::Conflict(
            "Disaster recovery is not enabled for this subscription; it has no VMs to plan.".into(),
        ));
    }
    let draft = checked_draft(state, sub, input.draft, None).await?;
    let name = draft.name.clone();
    let plan = RecoveryPlan {
        id: Uuid::new_v4(),
        subscription_id: sub,
        name: draft.name,
        description: draft.description,
        groups: draft.groups,
        is_default: false,
        version: 0,
        updated_at: time::OffsetDateTime::UNIX_EPOCH,
    };
    match state.store.create_recovery_plan(&plan).await {
        Err(StoreError::Conflict) => Err(name_taken(&name)),
        other => Ok(other?),
    }
}

async fn replace(
    state: &AppState,
    sub: SubscriptionId,
    id: &str,
    input: PlanInput,
) -> Result<RecoveryPlan, ApiError> {
    let current = plan_of(state, sub, id).await?;
    if current.is_default {
        return Err(ApiError::Conflict(DEFAULT_PLAN_IS_KEPT.into()));
    }
    if let Some(version) = input.version.filter(|v| *v != current.version) {
        return Err(ApiError::Conflict(format!(
            "The plan was changed since you read it (version {version}, now {}); read it again and retry.",
            current.version
        )));
    }
    let draft = checked_draft(state, sub, input.draft, Some(current.id)).await?;
    let plan = RecoveryPlan {
        name: draft.name,
        description: draft.description,
        groups: draft.groups,
        ..current
    };
    Ok(state.store.update_recovery_plan(&plan).await?)
}

async fn delete(state: &AppState, sub: SubscriptionId, id: &str) -> Result<StatusCode, ApiError> {
    let plan = plan_of(state, sub, id).await?;
    if plan.is_default {
        return Err(ApiError::Conflict(DEFAULT_PLAN_IS_KEPT.into()));
    }
    state.store.delete_recovery_plan(sub, plan.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /admin/subscriptions/{id}/recovery-plans`: the plans, default first, then by name.
#[utoipa::path(get, path = "/subscriptions/{id}/recovery-plans", operation_id = "list_recovery_plans", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "The plans, default first.", body = Vec<super::schemas::RecoveryPlan>)))]
async fn admin_list(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<PlanList>, ApiError> {
    let sub = known_subscription(&state, &id).await?;
    Ok(Reply::ok(format, list(&state, sub.id).await?))
}

/// `POST /admin/subscriptions/{id}/recovery-plans`: 201 with the new plan.
#[utoipa::path(post, path = "/subscriptions/{id}/recovery-plans", params(("id" = String, Path, description = "The subscription (a GUID).")), request_body = super::schemas::RecoveryPlanInput, responses((status = 201, description = "The plan.", body = super::schemas::RecoveryPlan)))]
#[instrument(skip_all, fields(subscription_id = %id), err(Debug))]
async fn admin_create(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    WapBody(input): WapBody<PlanInput>,
) -> Result<Reply<PlanView>, ApiError> {
    let sub = known_subscription(&state, &id).await?;
    let plan = create(&state, sub.id, input).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        format,
        PlanView(plan),
    ))
}

/// `GET /admin/subscriptions/{id}/recovery-plans/{planId}`: one plan.
#[utoipa::path(get, path = "/subscriptions/{id}/recovery-plans/{plan_id}", params(("id" = String, Path, description = "The subscription (a GUID)."), ("plan_id" = String, Path, description = "The recovery plan (its id, a GUID).")), responses((status = 200, description = "The plan.", body = super::schemas::RecoveryPlan)))]
async fn admin_get(
    State(state): State<AppState>,
    format: Negotiated,
    Path((id, plan_id)): Path<(String, String)>,
) -> Result<Reply<PlanView>, ApiError> {
    let sub = known_subscription(&state, &id).await?;
    Ok(Reply::ok(
        format,
        PlanView(plan_of(&state, sub.id, &plan_id).await?),
    ))
}

/// `PUT /admin/subscriptions/{id}/recovery-plans/{planId}`: replaces name, description and groups.
#[utoipa::path(put, path = "/subscriptions/{id}/recovery-plans/{plan_id}", params(("id" = String, Path, description = "The subscription (a GUID)."), ("plan_id" = String, Path, description = "The recovery plan (its id, a GUID).")), request_body = super::schemas::RecoveryPlanInput, responses((status = 200, description = "The plan.", body = super::schemas::RecoveryPlan)))]
#[instrument(skip_all, fields(subscription_id = %id, plan_id = %plan_id), err(Debug))]
async fn admin_replace(
    State(state): State<AppState>,
    format: Negotiated,
    Path((id, plan_id)): Path<(String, String)>,
    WapBody(input): WapBody<PlanInput>,
) -> Result<Reply<PlanView>, ApiError> {
    let sub = known_subscription(&state, &id).await?;
    let plan = replace(&state, sub.id, &plan_id, input).await?;
    Ok(Reply::ok(format, PlanView(plan)))
}

/// `DELETE /admin/subscriptions/{id}/recovery-plans/{planId}`: 204.
#[utoipa::path(delete, path = "/subscriptions/{id}/recovery-plans/{plan_id}", params(("id" = String, Path, description = "The subscription (a GUID)."), ("plan_id" = String, Path, description = "The recovery plan (its id, a GUID).")), responses((status = 204, description = "Deleted.")))]
#[instrument(skip_all, fields(subscription_id = %id, plan_id = %plan_id), err(Debug))]
async fn admin_delete(
    State(state): State<AppState>,
    Path((id, plan_id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let sub = known_subscription(&state, &id).await?;
    delete(&state, sub.id, &plan_id).await
}

/// `GET /tenant/subscriptions/{subid}/recovery-plans`: the plans, default first.
#[utoipa::path(get, path = "/recovery-plans", operation_id = "list_recovery_plans", responses((status = 200, description = "The plans, default first.", body = Vec<super::schemas::RecoveryPlan>)))]
async fn tenant_list(
    State(state): State<AppState>,
    format: Negotiated,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
) -> Result<Reply<PlanList>, ApiError> {
    Ok(Reply::ok(format, list(&state, sub.id).await?))
}

/// `POST /tenant/subscriptions/{subid}/recovery-plans`: 201 (needs `SelfService` `Full`).
#[utoipa::path(post, path = "/recovery-plans", request_body = super::schemas::RecoveryPlanInput, responses((status = 201, description = "The plan.", body = super::schemas::RecoveryPlan)))]
#[instrument(skip_all, fields(subscription_id = %sub.id), err(Debug))]
async fn tenant_create(
    State(state): State<AppState>,
    format: Negotiated,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    WapBody(input): WapBody<PlanInput>,
) -> Result<Reply<PlanView>, ApiError> {
    tenant_may_write(&sub)?;
    tenant_actions_allowed(&input.draft, None)?;
    let plan = create(&state, sub.id, input).await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        format,
        PlanView(plan),
    ))
}

/// `GET /tenant/subscriptions/{subid}/recovery-plans/{planId}`: one plan.
#[utoipa::path(get, path = "/recovery-plans/{plan_id}", params(("plan_id" = String, Path, description = "The recovery plan (its id, a GUID).")), responses((status = 200, description = "The plan.", body = super::schemas::RecoveryPlan)))]
async fn tenant_get(
    State(state): State<AppState>,
    format: Negotiated,
    Path((_, plan_id)): Path<(String, String)>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
) -> Result<Reply<PlanView>, ApiError> {
    Ok(Reply::ok(
        format,
        PlanView(plan_of(&state, sub.id, &plan_id).await?),
    ))
}

/// `PUT /tenant/subscriptions/{subid}/recovery-plans/{planId}` (needs `SelfService` `Full`).
#[utoipa::path(put, path = "/recovery-plans/{plan_id}", params(("plan_id" = String, Path, description = "The recovery plan (its id, a GUID).")), request_body = super::schemas::RecoveryPlanInput, responses((status = 200, description = "The plan.", body = super::schemas::RecoveryPlan)))]
#[instrument(skip_all, fields(subscription_id = %sub.id, plan_id = %plan_id), err(Debug))]
async fn tenant_replace(
    State(state): State<AppState>,
    format: Negotiated,
    Path((_, plan_id)): Path<(String, String)>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    WapBody(input): WapBody<PlanInput>,
) -> Result<Reply<PlanView>, ApiError> {
    tenant_may_write(&sub)?;
    let stored = plan_of(&state, sub.id, &plan_id).await?;
    tenant_actions_allowed(&input.draft, Some(&stored))?;
    let plan = replace(&state, sub.id, &plan_id, input).await?;
    Ok(Reply::ok(format, PlanView(plan)))
}

/// `DELETE /tenant/subscriptions/{subid}/recovery-plans/{planId}`: 204 (needs `SelfService` `Full`).
#[utoipa::path(delete, path = "/recovery-plans/{plan_id}", params(("plan_id" = String, Path, description = "The recovery plan (its id, a GUID).")), responses((status = 204, description = "Deleted.")))]
#[instrument(skip_all, fields(subscription_id = %sub.id, plan_id = %plan_id), err(Debug))]
async fn tenant_delete(
    State(state): State<AppState>,
    Path((_, plan_id)): Path<(String, String)>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
) -> Result<StatusCode, ApiError> {
    tenant_may_write(&sub)?;
    delete(&state, sub.id, &plan_id).await
}
