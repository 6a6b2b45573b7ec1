//! The HTTP API: one axum router holding the resource-provider endpoints WAP registers, each behind
//! its own Basic credentials, plus unauthenticated health probes.
//!
//! | endpoint | path | called by |
//! |---|---|---|
//! | notification | `/notification/...` | WAP service management (subscriptions, quota) |
//! | usage | `/usage` | WAP usage collector |
//! | admin | `/admin/...` (provider setup: stamps, policies, cloud pairs; site health; DR status, VMs and recovery plans; jobs, runbooks, VM events) | WAP admin API pass-through, provider tools |
//! | tenant | `/tenant/subscriptions/{subid}/...` (DR status, VMs, exclusion, recovery plans) | WAP tenant API pass-through |
//! | health | `/health`, `/health/ready` | load balancers, service managers |
//! | metrics | `/metrics` (the admin credentials) | Prometheus |
//! | OpenAPI | `/openapi.json` (no credentials) | API tooling |
//! | runbook webhooks | `/webhooks/runbooks/{name}` (the runbook's own token) | a provider's SMA schedules |
//!
//! Handlers parse with the contract codec, decide with the domain and persist with the store; every
//! error leaves as a WAP `Error` in the caller's format.

mod admin;
mod admin_dr;
mod auth;
mod cloud_pairs;
mod dr;
mod error;
mod events;
mod failover;
mod health;
mod jobs;
mod metrics;
mod notification;
mod notification_dr;
mod openapi;
mod portal;
mod recovery_plan_wire;
mod recovery_plans;
mod reports;
mod runbooks;
mod schemas;
mod setup;
mod site_failover;
mod site_health;
mod stamp_checks;
mod tenant;
mod tenant_dr;
mod tenant_jobs;
mod usage;
mod vm_lists;
mod wire;

use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::middleware::{from_fn, from_fn_with_state};
use secrecy::SecretString;
use tower_http::trace::TraceLayer;
use utoipa_axum::router::OpenApiRouter;

use crate::engine::{Registry, Runbooks};
use crate::store::SharedStore;
use crate::workflows::StampClients;

pub use auth::BasicCredentials;
pub use error::ApiError;
pub use openapi::{Endpoint, document_json};
pub use runbooks::WEBHOOK_TOKEN_HEADER;
pub use vm_lists::VmLists;

/// What every handler shares.
#[derive(Clone)]
pub struct AppState {
    /// The store.
    pub store: SharedStore,
    /// The RP's name in WAP (usage summaries, usage records).
    pub rp_name: Arc<str>,
    /// The RP's display name.
    pub rp_display_name: Arc<str>,
    /// The loaded runbooks (admin API, webhooks).
    pub runbooks: Arc<Runbooks>,
    /// The fabric clients of stored stamps and the replication engine (provider setup).
    pub fabric: Arc<StampClients>,
    /// The workflows this instance knows (to start runs).
    pub registry: Arc<Registry>,
    /// Subscriptions' VM lists, held between reads while unchanged.
    pub vm_lists: Arc<VmLists>,
}

/// The credentials of each endpoint, resolved (configured or generated).
#[derive(Clone)]
pub struct EndpointSecrets {
    /// Notification endpoint user and password.
    pub notification: (String, SecretString),
    /// Usage endpoint user and password.
    pub usage: (String, SecretString),
    /// Admin endpoint user and password.
    pub admin: (String, SecretString),
    /// Tenant endpoint user and password.
    pub tenant: (String, SecretString),
}

/// The whole router; `max_body_bytes` caps every request body (413 past it).
pub fn router(state: AppState, secrets: &EndpointSecrets, max_body_bytes: usize) -> Router {
    let basic = |realm: &'static str, (user, password): &(String, SecretString)| {
        from_fn_with_state(
            Arc::new(BasicCredentials::new(realm, user, password)),
            auth::require_basic,
        )
    };
    let tenant_state = state.clone();
    let (api, document) = endpoints(&|endpoint, routes| match endpoint {
        Endpoint::Notification => routes.route_layer(basic(endpoint.name(), &secrets.notification)),
        Endpoint::Usage => routes.route_layer(basic(endpoint.name(), &secrets.usage)),
        Endpoint::Admin => routes.route_layer(basic(endpoint.name(), &secrets.admin)),
        // The principal is checked once the caller has proved to be WAP's tenant API.
        Endpoint::Tenant => routes
            .route_layer(from_fn_with_state(
                tenant_state.clone(),
                tenant::authorize_tenant,
            ))
            .route_layer(basic(endpoint.name(), &secrets.tenant)),
    })
    .split_for_parts();
    api.merge(openapi::document_route(document))
        .merge(metrics::routes().route_layer(basic("admin", &secrets.admin)))
        .merge(runbooks::webhook_routes())
        .merge(health::routes())
        .merge(portal::routes())
        .layer(DefaultBodyLimit::max(max_body_bytes))
        .layer(from_fn(error::render_errors))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .with_state(state)
}

/// The OpenAPI description of the notification, usage, admin and tenant endpoints.
pub fn openapi_document() -> utoipa::openapi::OpenApi {
    endpoints(&|_, routes| routes).into_openapi()
}

/// The documented endpoints: the routes and their description come from the same list, each
/// group passed through `guard` (which applies its credentials) once its description says so.
fn endpoints(
    guard: &dyn Fn(Endpoint, OpenApiRouter<AppState>) -> OpenApiRouter<AppState>,
) -> OpenApiRouter<AppState> {
    let secured = |endpoint, routes| guard(endpoint, openapi::secure(endpoint, routes));
    OpenApiRouter::with_openapi(openapi::base())
        .nest(
            "/notification",
            secured(Endpoint::Notification, notification::routes()),
        )
        .merge(secured(Endpoint::Usage, usage::routes()))
        .nest(
            "/admin",
            secured(
                Endpoint::Admin,
                admin::routes()
                    .merge(admin_dr::routes())
                    .merge(recovery_plans::admin_routes())
                    .merge(failover::admin_routes())
                    .merge(reports::admin_routes())
                    .merge(site_failover::admin_routes())
                    .merge(jobs::routes())
                    .merge(runbooks::routes())
                    .merge(events::routes())
                    .merge(setup::routes())
                    .merge(cloud_pairs::routes())
                    .merge(stamp_checks::routes())
                    .merge(site_health::routes()),
            ),
        )
        .nest("/tenant", secured(Endpoint::Tenant, tenant::routes()))
}

/// The span of one request: method, path and query, the query's secrets redacted (a runbook
/// webhook may carry its token as `?token=`).
fn request_span(request: &axum::extract::Request) -> tracing::Span {
    let uri = request.uri();
    let query = uri.query().map(redact_query).unwrap_or_default();
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = uri.path(),
        query,
        version = ?request.version(),
    )
}

/// `query` with the value of every parameter that carries a secret replaced.
fn redact_query(query: &str) -> String {
    let mut redacted = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let secret = runbooks::SECRET_QUERY_PARAMETERS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p));
        redacted.append_pair(&name, if secret { "[redacted]" } else { &value });
    }
    redacted.finish()
}

#[cfg(test)]
mod tests {
    use super::redact_query;

    #[test]
    fn secrets_in_a_query_are_redacted_and_the_rest_kept() {
        assert_eq!(
            redact_query("token=abc123&limit=5&Token=x"),
            "token=%5Bredacted%5D&limit=5&Token=%5Bredacted%5D"
        );
        assert_eq!(redact_query("lastID=7"), "lastID=7");
    }
}
