//! Azure AD's token endpoint for client credentials (`schemas/fabric-http.md` §4):
//! `POST /{tenant}/oauth2/v2.0/token` with the configured client id and secret answers a Bearer
//! token valid for `expires_in` seconds of lab time; anything else is 400/401 with an OAuth error.
//!
//! It never issues a token for wrong credentials, and never logs the secret.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::post;
use rand::Rng;
use serde_json::json;
use time::OffsetDateTime;

use super::LabState;
use super::net::json_response;

/// The token router.
pub fn router(state: Arc<LabState>) -> Router {
    Router::new()
        .route("/{tenant}/oauth2/v2.0/token", post(issue))
        .with_state(state)
}

fn oauth_error(status: StatusCode, error: &str, description: &str) -> Response {
    json_response(
        status,
        json!({"error": error, "error_description": description}),
    )
}

async fn issue(
    State(state): State<Arc<LabState>>,
    Path(tenant): Path<String>,
    body: Bytes,
) -> Response {
    let form: Vec<(String, String)> = form_urlencoded::parse(&body).into_owned().collect();
    let get = |name: &str| {
        form.iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    if !tenant.eq_ignore_ascii_case(&state.access.asr.tenant_id.to_string()) {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_tenant",
            "AADSTS90002: Tenant not found.",
        );
    }
    if get("grant_type") != Some("client_credentials") {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "unsupported_grant_type",
            "AADSTS70003: only client_credentials is supported.",
        );
    }
    let client_ok = get("client_id")
        .is_some_and(|c| c.eq_ignore_ascii_case(&state.access.asr.client_id.to_string()));
    let secret_ok = get("client_secret") == Some(state.access.asr.client_secret.as_str());
    if !client_ok || !secret_ok {
        return oauth_error(
            StatusCode::UNAUTHORIZED,
            "invalid_client",
            "AADSTS7000215: Invalid client secret provided.",
        );
    }
    let scope_ok = get("scope").is_none_or(|s| s.trim_end_matches('/').ends_with(".default"));
    if !scope_ok {
        return oauth_error(
            StatusCode::BAD_REQUEST,
            "invalid_scope",
            "AADSTS1002012: scope must be <resource>/.default.",
        );
    }
    let lifetime = state.token_lifetime_seconds;
    let (mut world, now) = state.world();
    let bytes: [u8; 32] = world.rng.r#gen();
    let token = format!("lab.{}", hex(&bytes));
    world.tokens.insert(
        token.clone(),
        now + time::Duration::seconds(lifetime as i64),
    );
    json_response(
        StatusCode::OK,
        json!({"token_type": "Bearer", "expires_in": lifetime, "ext_expires_in": lifetime, "access_token": token}),
    )
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Whether `authorization` carries a token the endpoint issued and that has not expired at `now`.
pub fn valid(
    tokens: &std::collections::HashMap<String, OffsetDateTime>,
    authorization: Option<&str>,
    now: OffsetDateTime,
) -> bool {
    authorization
        .and_then(|a| {
            a.strip_prefix("Bearer ")
                .or_else(|| a.strip_prefix("bearer "))
        })
        .and_then(|t| tokens.get(t.trim()))
        .is_some_and(|expiry| now < *expiry)
}
