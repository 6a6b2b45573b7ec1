//! The admin endpoint: the provider's own API, reached through WAP's admin API
//! (`/services/<rp>/...` forwarded to `http://HOST:PORT/admin/...`) or called directly.
//!
//! This file holds the subscription views; jobs and runbooks are in `jobs` and `runbooks`;
//! provider setup and operations join with their issues.

use axum::extract::{Path, RawQuery, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::{SubscriptionList, WireSubscription};
use crate::domain::{LifecycleState, SubscriptionState};
use crate::store::SubscriptionFilter;

use super::AppState;
use super::error::ApiError;
use super::notification::{parse_id, wire_from};
use super::wire::{Negotiated, Reply, bool_param, limit_param, query_param};

/// The admin routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_subscriptions))
        .routes(routes!(get_subscription))
}

/// `GET /admin/subscriptions?state=&lifecycleState=&includeDeleted=&after=&limit=`: one page of
/// subscriptions ordered by id; pass the last id of a page as `after` to get the next.
#[utoipa::path(get, path = "/subscriptions", params(("state" = Option<String>, Query, description = "Active, Suspended or DeletePending."), ("lifecycleState" = Option<String>, Query, description = "Provisioned, Provisioning, Updating, Deleting, Deleted or OutOfSync."), ("includeDeleted" = Option<bool>, Query, description = "true to include tombstones."), ("after" = Option<String>, Query, description = "The last id of the previous page."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000.")), responses((status = 200, description = "A page of subscriptions.", body = Vec<super::schemas::Subscription>)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
) -> Result<Reply<SubscriptionList>, ApiError> {
    let query = query.as_deref();
    let bad = |name: &str, value: &str, allowed: &str| {
        ApiError::BadRequest(format!("{name} '{value}' is not one of {allowed}."))
    };
    let filter = SubscriptionFilter {
        state: match query_param(query, "state") {
            Some(v) => Some(
                SubscriptionState::from_name(&v)
                    .ok_or_else(|| bad("state", &v, "Active, Suspended, DeletePending"))?,
            ),
            None => None,
        },
        lifecycle: match query_param(query, "lifecycleState") {
            Some(v) => Some(LifecycleState::from_name(&v).ok_or_else(|| {
                bad(
                    "lifecycleState",
                    &v,
                    "Provisioned, Provisioning, Updating, Deleting, Deleted, OutOfSync",
                )
            })?),
            None => None,
        },
        include_deleted: bool_param(query, "includeDeleted")?.unwrap_or(false),
        after: query_param(query, "after")
            .map(|v| parse_id(&v))
            .transpose()?,
        limit: limit_param(query)?,
    };
    let page = state.store.list_subscriptions(&filter).await?;
    Ok(Reply::ok(
        format,
        SubscriptionList(page.iter().map(wire_from).collect()),
    ))
}

/// `GET /admin/subscriptions/{id}`: one subscription, tombstones included.
#[utoipa::path(get, path = "/subscriptions/{id}", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "The subscription.", body = super::schemas::Subscription)))]
async fn get_subscription(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<WireSubscription>, ApiError> {
    let id = parse_id(&id)?;
    let sub = state
        .store
        .get_subscription(id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Subscription {id} is not known.")))?;
    Ok(Reply::ok(format, wire_from(&sub)))
}
