//! The provider's DR API: every DR subscription with filters (phase, cloud pair, stamp, active
//! stamp), one subscription's DR status and VMs, and excluding or including any VM — the provider
//! may always do so, whatever the plan or the subscription's state.

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use tracing::instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::domain::{DrPhase, ExclusionActor};
use crate::store::DrFilter;

use super::AppState;
use super::auth::principal;
use super::dr::{
    Changer, DrStatusList, DrStatusView, ProtectionChanged, ProtectionInput, VmList,
    change_protection, dr_status, known_snapshot, known_subscription, parse_states, parse_vm_id,
    stamps_by_id, vm_list,
};
use super::error::ApiError;
use super::notification::parse_id;
use super::wire::{Negotiated, Reply, WapBody, limit_param, query_param};

/// The admin DR routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_dr_subscriptions))
        .routes(routes!(get_dr))
        .routes(routes!(list_vms))
        .routes(routes!(put_protection))
}

/// How many DR statuses a page holds when `limit` is not given (each one reads its VMs).
const DEFAULT_PAGE: u32 = 100;

fn guid_param(query: Option<&str>, name: &str) -> Result<Option<Uuid>, ApiError> {
    query_param(query, name)
        .filter(|v| !v.trim().is_empty())
        .map(|v| {
            Uuid::parse_str(v.trim())
                .map_err(|_| ApiError::BadRequest(format!("{name} '{v}' is not a valid GUID.")))
        })
        .transpose()
}

/// `GET /admin/dr/subscriptions?phase=&pairId=&stampId=&activeStampId=&after=&limit=`: one page
/// of DR statuses ordered by subscription id (100 unless `limit` says otherwise); pass the last
/// id of a page as `after` to get the next. `stampId` matches the primary or the recovery stamp.
#[utoipa::path(get, path = "/dr/subscriptions", params(("phase" = Option<String>, Query, description = "The DR phase."), ("pairId" = Option<String>, Query, description = "A cloud pair id."), ("stampId" = Option<String>, Query, description = "A primary or recovery stamp id."), ("activeStampId" = Option<String>, Query, description = "The stamp the VMs run on."), ("after" = Option<String>, Query, description = "The last id of the previous page."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000.")), responses((status = 200, description = "A page of DR statuses.", body = Vec<super::schemas::DrStatus>)))]
async fn list_dr_subscriptions(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
) -> Result<Reply<DrStatusList>, ApiError> {
    let query = query.as_deref();
    let filter = DrFilter {
        phase: match query_param(query, "phase").filter(|v| !v.trim().is_empty()) {
            Some(v) => Some(DrPhase::from_name(&v).ok_or_else(|| {
                let allowed: Vec<&str> = DrPhase::ALL.iter().map(|p| p.as_str()).collect();
                ApiError::BadRequest(format!("phase '{v}' is not one of {}.", allowed.join(", ")))
            })?),
            None => None,
        },
        pair_id: guid_param(query, "pairId")?,
        stamp_id: guid_param(query, "stampId")?,
        active_stamp_id: guid_param(query, "activeStampId")?,
        after: query_param(query, "after")
            .map(|v| parse_id(&v))
            .transpose()?,
        limit: Some(limit_param(query)?.unwrap_or(DEFAULT_PAGE)),
    };
    let records = state.store.list_dr_subscriptions(&filter).await?;
    let stamps = stamps_by_id(&state).await?;
    let mut views = Vec::with_capacity(records.len());
    for dr in records {
        let id = dr.subscription_id;
        let sub = state.store.get_subscription(id).await?;
        views.push(dr_status(&state, id, sub.as_ref(), Some(dr), stamps.clone()).await?);
    }
    Ok(Reply::ok(format, DrStatusList(views)))
}

/// `GET /admin/subscriptions/{id}/dr`: the subscription's DR status, as its tenant sees it.
#[utoipa::path(get, path = "/subscriptions/{id}/dr", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "The DR status.", body = super::schemas::DrStatus)))]
async fn get_dr(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<DrStatusView>, ApiError> {
    let sub = known_subscription(&state, &id).await?;
    let dr = state.store.get_dr_subscription(sub.id).await?;
    let stamps = stamps_by_id(&state).await?;
    let view = dr_status(&state, sub.id, Some(&sub), dr, stamps).await?;
    Ok(Reply::ok(format, view))
}

/// `GET /admin/subscriptions/{id}/vms[?state=]`: the subscription's VMs, ordered by name.
#[utoipa::path(get, path = "/subscriptions/{id}/vms", params(("id" = String, Path, description = "The subscription (a GUID)."), ("state" = Option<String>, Query, description = "Protection states, comma-separated.")), responses((status = 200, description = "The VMs.", body = Vec<super::schemas::DrVm>)))]
async fn list_vms(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
    Path(id): Path<String>,
) -> Result<Reply<VmList>, ApiError> {
    let states = parse_states(query_param(query.as_deref(), "state"))?;
    let snapshot = known_snapshot(&state, &id).await?;
    Ok(Reply::ok(
        format,
        vm_list(&state, &snapshot, &states).await?,
    ))
}

/// `PUT /admin/subscriptions/{id}/vms/{vmId}/protection` with `{"Excluded": bool}`: the provider
/// excludes a VM (its exclusion a tenant cannot lift) or includes it (clearing any exclusion);
/// 202 with the `JobId` of the VM's reconciliation, or 200 when the VM already was so.
#[utoipa::path(put, path = "/subscriptions/{id}/vms/{vm_id}/protection", params(("id" = String, Path, description = "The subscription (a GUID)."), ("vm_id" = String, Path, description = "The VM (its SPF id, a GUID).")), request_body = super::schemas::ProtectionInput, responses((status = 200, description = "Already so.", body = super::schemas::ProtectionChange), (status = 202, description = "Reconciliation started.", body = super::schemas::ProtectionChange)))]
#[instrument(skip_all, fields(subscription_id = %id, vm_id = %vm_id), err(Debug))]
async fn put_protection(
    State(state): State<AppState>,
    format: Negotiated,
    headers: HeaderMap,
    Path((id, vm_id)): Path<(String, String)>,
    WapBody(input): WapBody<ProtectionInput>,
) -> Result<Reply<ProtectionChanged>, ApiError> {
    let vm_id = parse_vm_id(&vm_id)?;
    let sub = known_subscription(&state, &id).await?;
    let by = Changer {
        actor: ExclusionActor::Admin,
        principal: principal(&headers).unwrap_or_else(|| "admin".into()),
    };
    let changed = change_protection(&state, sub.id, vm_id, input.excluded, by).await?;
    let status = if changed.started() {
        StatusCode::ACCEPTED
    } else {
        StatusCode::OK
    };
    Ok(Reply::with_status(status, format, changed))
}
