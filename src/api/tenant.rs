//! The tenant endpoint: a tenant's own view of their subscription, reached through WAP's tenant API
//! (`{subid}/services/<rp>/{*path}` forwarded to `http://HOST:PORT/tenant/subscriptions/{subid}/{*path}`).
//!
//! Every route is scoped to one subscription and answers only to its account admin or a
//! co-admin, named by `x-ms-principal-id`. Anyone else gets the same 404 as for a subscription
//! that does not exist: they learn nothing.

use axum::Extension;
use axum::extract::{RawPathParams, Request, State};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::WireSubscription;
use crate::domain::{Subscription, SubscriptionId};

use super::AppState;
use super::auth::principal;
use super::error::ApiError;
use super::notification::wire_from;
use super::wire::{Negotiated, Reply};

/// The subscription a tenant request is scoped to, loaded and authorised by [`authorize_tenant`].
#[derive(Clone)]
pub struct TenantSubscription(pub Subscription);

/// The tenant routes, relative to `/tenant`; [`authorize_tenant`] must guard every one.
pub fn routes() -> OpenApiRouter<AppState> {
    let scoped = OpenApiRouter::new()
        .routes(routes!(get_subscription))
        .merge(super::tenant_dr::routes())
        .merge(super::recovery_plans::tenant_routes())
        .merge(super::failover::tenant_routes())
        .merge(super::reports::tenant_routes())
        .merge(super::tenant_jobs::tenant_routes());
    OpenApiRouter::new().nest("/subscriptions/{subid}", scoped)
}

/// Middleware: loads the subscription named in the path and checks the principal administers it;
/// the handlers find it as a [`TenantSubscription`], and as the
/// [`SubscriptionSnapshot`](crate::store::SubscriptionSnapshot) the one read took.
pub async fn authorize_tenant(
    State(state): State<AppState>,
    params: RawPathParams,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(principal) = principal(request.headers()) else {
        return ApiError::Forbidden("The x-ms-principal-id header is required.".into())
            .into_response();
    };
    let hidden = || ApiError::NotFound("Subscription not found.".into()).into_response();
    let Some(id) = params
        .iter()
        .find(|(name, _)| *name == "subid")
        .and_then(|(_, value)| SubscriptionId::parse(value).ok())
    else {
        return hidden();
    };
    let snapshot = match state.store.get_subscription_snapshot(id).await {
        Ok(Some(snapshot))
            if !snapshot.subscription.is_deleted()
                && snapshot.subscription.is_administered_by(&principal) =>
        {
            snapshot
        }
        Ok(_) => {
            tracing::info!(subscription_id = %id, "tenant request refused: not an administrator");
            return hidden();
        }
        Err(err) => return ApiError::from(err).into_response(),
    };
    let extensions = request.extensions_mut();
    extensions.insert(TenantSubscription(snapshot.subscription.clone()));
    extensions.insert(snapshot);
    next.run(request).await
}

/// `GET /tenant/subscriptions/{subid}`: the subscription and its DR entitlements.
#[utoipa::path(get, path = "/", responses((status = 200, description = "The subscription.", body = super::schemas::Subscription)))]
async fn get_subscription(
    format: Negotiated,
    Extension(TenantSubscription(sub)): Extension<TenantSubscription>,
) -> Reply<WireSubscription> {
    Reply::ok(format, wire_from(&sub))
}
