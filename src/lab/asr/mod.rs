//! The ASR vault over ARM REST (`schemas/fabric-http.md` §3): fabrics and protection containers
//! from the stamps and their clouds, policies, container mappings, protectable and protected items
//! with the state table, item actions as long-running operations (202 + `Location`,
//! `Azure-AsyncOperation`, `Retry-After`), jobs, recovery plans and network mappings. Every call
//! needs `api-version` and a Bearer token from the lab's Azure AD endpoint.
//!
//! A refused call (400/401/404/409) changes nothing; effects happen only through jobs.

mod bodies;
mod configuration;
mod items;
mod job_effects;
mod job_tasks;
pub mod jobs;
pub mod model;
mod operations;
pub mod outstanding;
mod plans;
mod resources;

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::Response;
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::LabState;
use super::net::json_response;

/// The ARM router.
pub fn router(state: Arc<LabState>) -> Router {
    Router::new().fallback(handle).with_state(state)
}

/// An ARM error.
pub fn arm_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    json_response(
        status,
        json!({"error": {"code": code, "message": message.into(), "details": []}}),
    )
}

/// ARM timestamps: RFC 3339 UTC.
pub fn arm_time(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

/// The fabric name of a stamp: a 64-hex hash, as ASR names VMM fabrics.
pub fn fabric_name(stamp_id: Uuid) -> String {
    let digest = Sha256::digest(stamp_id.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// What one request needs: the vault's id prefix, URLs and the api-version in use.
pub struct Ctx {
    /// `/Subscriptions/{sub}/resourceGroups/{rg}/providers/Microsoft.RecoveryServices/vaults/{v}`.
    pub vault_id: String,
    /// `{arm}/subscriptions/…/vaults/{v}` (for LRO URLs).
    pub vault_url: String,
    /// The request's api-version.
    pub api_version: String,
    /// Lab seconds per item operation (for `Retry-After` of waiting jobs).
    pub operation_seconds: f64,
    /// Where a paged list resumes (`skipToken`, as the previous page's `nextLink` named it).
    pub skip_token: Option<String>,
    /// Items per page of the long lists.
    pub page_size: usize,
    /// `{vault_url}/{path under the vault}` of the request (a list's `nextLink` base).
    pub request_url: String,
}

impl Ctx {
    /// The id of the fabric of stamp `stamp`.
    pub fn fabric_id(&self, stamp_id: Uuid) -> String {
        format!(
            "{}/replicationFabrics/{}",
            self.vault_id,
            fabric_name(stamp_id)
        )
    }
}

async fn handle(
    State(state): State<Arc<LabState>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let segments: Vec<String> = uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            form_urlencoded::parse(format!("x={s}").as_bytes())
                .next()
                .map(|(_, v)| v.into_owned())
                .unwrap_or_default()
        })
        .collect();
    let asr = &state.access.asr;
    let prefix = [
        "subscriptions".to_owned(),
        asr.subscription_id.to_string(),
        "resourcegroups".to_owned(),
        asr.resource_group.to_ascii_lowercase(),
        "providers".to_owned(),
        "microsoft.recoveryservices".to_owned(),
        "vaults".to_owned(),
        asr.vault.to_ascii_lowercase(),
    ];
    let matches_vault = segments.len() >= prefix.len()
        && segments
            .iter()
            .zip(prefix.iter())
            .all(|(a, b)| a.eq_ignore_ascii_case(b));
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    {
        let (world, now) = state.world();
        if !super::token::valid(&world.tokens, authorization, now) {
            let expired = authorization
                .and_then(|a| a.strip_prefix("Bearer "))
                .is_some_and(|t| world.tokens.contains_key(t.trim()));
            let (code, message) = if expired {
                (
                    "ExpiredAuthenticationToken",
                    "The access token expiry UTC time is earlier than current UTC time.",
                )
            } else {
                (
                    "AuthenticationFailed",
                    "Authentication failed. The 'Authorization' header is missing or invalid.",
                )
            };
            return arm_error(StatusCode::UNAUTHORIZED, code, message);
        }
    }
    let Some(api_version) = query
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("api-version"))
        .map(|(_, v)| v.clone())
    else {
        return arm_error(
            StatusCode::BAD_REQUEST,
            "MissingApiVersionParameter",
            "The api-version query parameter (?api-version=) is required for all requests.",
        );
    };
    if !matches_vault {
        return arm_error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("The resource '{}' was not found.", uri.path()),
        );
    }
    let rest: Vec<&str> = segments[prefix.len()..]
        .iter()
        .map(String::as_str)
        .collect();
    let vault_url = format!(
        "{}/subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
        asr.arm, asr.subscription_id, asr.resource_group, asr.vault
    );
    let ctx = Ctx {
        request_url: format!("{vault_url}/{}", rest.join("/")),
        vault_id: format!(
            "/Subscriptions/{}/resourceGroups/{}/providers/Microsoft.RecoveryServices/vaults/{}",
            asr.subscription_id, asr.resource_group, asr.vault
        ),
        vault_url,
        api_version,
        operation_seconds: state.knobs().operation_seconds,
        page_size: state.knobs().arm_page_size,
        skip_token: query
            .iter()
            .find(|(k, _)| k.trim_start_matches('$').eq_ignore_ascii_case("skipToken"))
            .map(|(_, v)| v.clone()),
    };
    let body: Value = if body.is_empty() {
        Value::Null
    } else {
        match serde_json::from_slice(&body) {
            Ok(v) => v,
            Err(e) => {
                return arm_error(
                    StatusCode::BAD_REQUEST,
                    "InvalidRequestContent",
                    format!("The request body is not valid JSON: {e}"),
                );
            }
        }
    };
    resources::dispatch(&state, &ctx, &method, &rest, &body)
}

/// The 202 answer of a long-running operation for job `job`.
pub fn accepted(state: &LabState, ctx: &Ctx, job: Uuid, expected_end: OffsetDateTime) -> Response {
    let mut response = Response::new(axum::body::Body::empty());
    *response.status_mut() = StatusCode::ACCEPTED;
    lro_headers(state, ctx, job, expected_end, response.headers_mut());
    response
}

fn lro_headers(
    state: &LabState,
    ctx: &Ctx,
    job: Uuid,
    expected_end: OffsetDateTime,
    headers: &mut HeaderMap,
) {
    let v = &ctx.api_version;
    let location = format!(
        "{}/replicationJobs/{job}/operationresults/{job}?api-version={v}",
        ctx.vault_url
    );
    let status = format!(
        "{}/replicationOperationStatus/{job}?api-version={v}",
        ctx.vault_url
    );
    let retry = state.clock.real_seconds_until(expected_end);
    for (name, value) in [
        ("location", location),
        ("azure-asyncoperation", status),
        ("retry-after", retry.to_string()),
        (
            "x-ms-request-id",
            format!("{}/replicationJobs/{job}", ctx.vault_id),
        ),
    ] {
        if let Ok(value) = HeaderValue::from_str(&value) {
            headers.insert(name, value);
        }
    }
}
