//! The tenant's DR API: where their disaster recovery stands (which portal to use, how many VMs
//! are protected, how healthy, what RPO), each VM's protection, and — when their plan allows
//! self-service — excluding a VM or including it again.
//!
//! Every route sits behind [`authorize_tenant`](super::tenant::authorize_tenant): only the
//! subscription's admin and co-admins get past it; anyone else gets the 404 of a subscription that
//! does not exist. A suspended subscription can be read but not changed.

use axum::Extension;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use tracing::instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::domain::{ExclusionActor, SelfService, SubscriptionState};
use crate::store::SubscriptionSnapshot;

use super::AppState;
use super::auth::principal;
use super::dr::{
    Changer, DrStatusView, ProtectionChanged, ProtectionInput, VmList, change_protection,
    dr_status, parse_states, parse_vm_id, stamps_by_id, vm_list,
};
use super::error::ApiError;
use super::tenant::TenantSubscription;
use super::wire::{Negotiated, Reply, WapBody, query_param};

/// The tenant DR routes, relative to `/tenant/subscriptions/{subid}` (inside its guard).
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(get_dr))
        .routes(routes!(list_vms))
        .routes(routes!(put_protection))
}

/// `GET /tenant/subscriptions/{subid}/dr`: whether DR is on, the stamps, the portal to use now,
/// VM counts by state, worst health, RPO and what the plan lets the tenant do.
#[utoipa::path(get, path = "/dr", responses((status = 200, description = "The DR status.", body = super::schemas::DrStatus)))]
async fn get_dr(
    State(state): State<AppState>,
    format: Negotiated,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
) -> Result<Reply<DrStatusView>, ApiError> {
    let dr = state.store.get_dr_subscription(sub.id).await?;
    let stamps = stamps_by_id(&state).await?;
    let view = dr_status(&state, sub.id, Some(&sub), dr, stamps).await?;
    Ok(Reply::ok(format, view))
}

/// `GET /tenant/subscriptions/{subid}/vms[?state=Protected,Failed]`: the subscription's VMs with
/// their protection, health and RPO, ordered by name.
#[utoipa::path(get, path = "/vms", params(("state" = Option<String>, Query, description = "Protection states, comma-separated.")), responses((status = 200, description = "The VMs.", body = Vec<super::schemas::DrVm>)))]
async fn list_vms(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
    Extension(snapshot): Extension<SubscriptionSnapshot>,
) -> Result<Reply<VmList>, ApiError> {
    let states = parse_states(query_param(query.as_deref(), "state"))?;
    Ok(Reply::ok(
        format,
        vm_list(&state, &snapshot, &states).await?,
    ))
}

/// `PUT /tenant/subscriptions/{subid}/vms/{vmId}/protection` with `{"Excluded": bool}`: 202 with
/// the VM and the `JobId` of its reconciliation, or 200 when the VM already was so. Needs a plan
/// with self-service (`SelfService` not `None`) and an active subscription (403 otherwise); a
/// VM the provider excluded stays excluded (403).
#[utoipa::path(put, path = "/vms/{vm_id}/protection", params(("vm_id" = String, Path, description = "The VM (its SPF id, a GUID).")), request_body = super::schemas::ProtectionInput, responses((status = 200, description = "Already so.", body = super::schemas::ProtectionChange), (status = 202, description = "Reconciliation started.", body = super::schemas::ProtectionChange)))]
#[instrument(skip_all, fields(subscription_id = %sub.id, vm_id = %vm_id), err(Debug))]
async fn put_protection(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Path((_, vm_id)): Path<(String, String)>,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
    WapBody(input): WapBody<ProtectionInput>,
) -> Result<Reply<ProtectionChanged>, ApiError> {
    let vm_id = parse_vm_id(&vm_id)?;
    if sub.effective_quota()?.self_service == SelfService::None {
        return Err(ApiError::Forbidden(
            "Your plan does not allow you to exclude or include VMs yourself; ask your provider."
                .into(),
        ));
    }
    if !sub.tenant_may_act() {
        return Err(ApiError::Forbidden(match sub.state {
            SubscriptionState::Suspended => {
                "The subscription is suspended: its VMs stay protected, but changes are not allowed until it is active again.".into()
            }
            _ => "The subscription is being deleted: changes are not allowed.".into(),
        }));
    }
    let by = Changer {
        actor: ExclusionActor::Tenant,
        // The guard let the request through, so the header is there.
        principal: principal(&headers).unwrap_or_else(|| sub.admin_id.clone()),
    };
    let changed = change_protection(&state, sub.id, vm_id, input.excluded, by).await?;
    let status = if changed.started() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(Reply::with_status(status, format, changed))
}
