//! The provider's DR API: every DR subscription with filters (phase, cloud pair, stamp, active
//! stamp), one subscription's DR status and VMs, and excluding or including any VM — the provider
//! may always do so, whatever the plan or the subscription's state.

use axum::Router;
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, put};
use tracing::instrument;
use uuid::Uuid;

use crate::domain::{DrPhase, ExclusionActor};
use crate::store::DrFilter;

use super::AppState;
use super::auth::principal;
use super::dr::{
    Changer, DrStatusList, DrStatusView, ProtectionChanged, ProtectionInput, VmList,
    change_protection, dr_status, known_subscription, parse_states, parse_vm_id, stamps_by_id,
    vm_list,
};
use super::error::ApiError;
use super::notification::parse_id;
use super::wire::{Negotiated, Reply, WapBody, limit_param, query_param};

/// The admin DR routes, relative to `/admin`.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/dr/subscriptions", get(list_dr_subscriptions))
        .route("/subscriptions/{id}/dr", get(get_dr))
        .route("/subscriptions/{id}/vms", get(list_vms))
        .route(
            "/subscriptions/{id}/vms/{vm_id}/protection",
            put(put_protection),
        )
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
async fn list_vms(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
    Path(id): Path<String>,
) -> Result<Reply<VmList>, ApiError> {
    let states = parse_states(query_param(query.as_deref(), "state"))?;
    let sub = known_subscription(&state, &id).await?;
    Ok(Reply::ok(format, vm_list(&state, sub.id, &states).await?))
}

/// `PUT /admin/subscriptions/{id}/vms/{vmId}/protection` with `{"Excluded": bool}`: the provider
/// excludes a VM (its exclusion a tenant cannot lift) or includes it (clearing any exclusion);
/// 202 with the `JobId` of the VM's reconciliation, or 200 when the VM already was so.
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
