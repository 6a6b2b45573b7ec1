//! SPF's VMM OData v3 service for one stamp, at `/SC2012R2/VMM/Microsoft.Management.Odata.svc/`:
//! collections, composite keys, `$filter`/`$top`/`$skip`/`$select`/`$orderby`, server paging with
//! `odata.nextLink`, JSON light and Atom, and writes (POST, PUT, MERGE/PATCH, DELETE), exactly as
//! `schemas/fabric-http.md` §1 fixes them. HTTP Basic with the stamp's SPF account.
//!
//! This file is the front door: authentication, the resource path, method tunnelling and the
//! dispatch; reads are in `spf_read`, writes in `spf_write`.
//!
//! It must never serve another stamp's rows, and a refused request must change nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde_json::Value;
use uuid::Uuid;

use super::LabState;
use super::net::json_response;
use super::odata;
use super::odata_write::{self, Representation};
use super::spf_entities::Set;
use super::spf_read::{entity_response, find, list, metadata_document, service_document};
use super::spf_write::{create, delete, update};

/// The service's path under the SPF base URL.
pub const SERVICE_PATH: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc/";

/// Server-driven page size.
pub const PAGE_SIZE: usize = 500;

/// The router for stamp `stamp`.
pub fn router(state: Arc<LabState>, stamp: usize) -> Router {
    Router::new().fallback(handle).with_state((state, stamp))
}

/// An OData error response.
pub(super) fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    json_response(status, odata_write::json_error(code, &message.into()))
}

fn authorized(state: &LabState, stamp: usize, headers: &HeaderMap) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value
        .strip_prefix("Basic ")
        .or_else(|| value.strip_prefix("basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64::engine::general_purpose::STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let access = &state.access.stamps[stamp];
    decoded == format!("{}:{}", access.spf_username, access.spf_password).as_bytes()
}

/// Percent-decodes a path (keys arrive as `%27` for quotes).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let Ok(b) = u8::from_str_radix(&text[i + 1..i + 3], 16)
        {
            out.push(b);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// What the path addresses.
enum Target {
    Root,
    Metadata,
    Collection(Set),
    Entity(Set, Vec<(String, Uuid)>),
}

fn parse_target(path: &str) -> Result<Target, Response> {
    let Some(rest) = path.strip_prefix(SERVICE_PATH.trim_end_matches('/')) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("no resource at {path}"),
        ));
    };
    let rest = rest.trim_start_matches('/');
    if rest.is_empty() {
        return Ok(Target::Root);
    }
    if rest == "$metadata" {
        return Ok(Target::Metadata);
    }
    let (name, key) = match rest.find('(') {
        Some(open) if rest.ends_with(')') => (&rest[..open], Some(&rest[open + 1..rest.len() - 1])),
        Some(_) => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("bad resource path '{rest}'"),
            ));
        }
        None => (rest, None),
    };
    let Some(set) = Set::from_name(name) else {
        return Err(error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            format!("Resource not found for the segment '{name}'."),
        ));
    };
    match key {
        None => Ok(Target::Collection(set)),
        Some(k) if k.trim().is_empty() => Ok(Target::Collection(set)),
        Some(k) => odata::parse_key(k)
            .map(|key| Target::Entity(set, key))
            .map_err(|e| error(StatusCode::BAD_REQUEST, "BadRequest", e)),
    }
}

async fn handle(
    State((state, stamp)): State<(Arc<LabState>, usize)>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if !authorized(&state, stamp, &headers) {
        let mut response = error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "Access is denied.",
        );
        response.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"SPF\""),
        );
        return response;
    }
    let path = percent_decode(uri.path());
    let target = match parse_target(&path) {
        Ok(t) => t,
        Err(response) => return response,
    };
    let query: Vec<(String, String)> = uri
        .query()
        .map(|q| form_urlencoded::parse(q.as_bytes()).into_owned().collect())
        .unwrap_or_default();
    let param = |name: &str| {
        query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    };
    let accept = headers.get(header::ACCEPT).and_then(|v| v.to_str().ok());
    let repr = Representation::negotiate(accept, param("$format"));
    let base = format!("{}{}", state.access.stamps[stamp].spf, SERVICE_PATH);
    let verb = effective_method(&method, &headers);

    match (verb.as_str(), target) {
        ("GET", Target::Root) => service_document(&base),
        ("GET", Target::Metadata) => metadata_document(),
        ("GET", Target::Collection(set)) => {
            let (world, now) = state.world();
            list(&world.stamps[stamp], set, &query, repr, &base, now)
        }
        ("GET", Target::Entity(set, key)) => {
            let (world, now) = state.world();
            let stamp = &world.stamps[stamp];
            match find(stamp, set, &key) {
                Ok(row) => entity_response(StatusCode::OK, set, row, stamp, repr, &base, now, None),
                Err(response) => response,
            }
        }
        ("POST", Target::Collection(set)) => {
            let body = match json_body(&body) {
                Ok(b) => b,
                Err(response) => return response,
            };
            let knobs = state.knobs();
            let (mut world, now) = state.world();
            match create(&mut world, stamp, set, &body, now, knobs.vm_create_seconds) {
                Ok(id) => {
                    let stamp = &world.stamps[stamp];
                    let key = vec![("ID".to_owned(), id)];
                    let row = find(stamp, set, &key).expect("just created");
                    let location = format!("{base}{}", row.key_path(set, stamp));
                    let mut response = entity_response(
                        StatusCode::CREATED,
                        set,
                        row,
                        stamp,
                        repr,
                        &base,
                        now,
                        None,
                    );
                    if let Ok(v) = HeaderValue::from_str(&location) {
                        response.headers_mut().insert(header::LOCATION, v);
                    }
                    response
                }
                Err(response) => response,
            }
        }
        ("PUT" | "MERGE" | "PATCH", Target::Entity(set, key)) => {
            let body = match json_body(&body) {
                Ok(b) => b,
                Err(response) => return response,
            };
            let (mut world, now) = state.world();
            match update(&mut world, stamp, set, &key, &body, now) {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(response) => response,
            }
        }
        ("DELETE", Target::Entity(set, key)) => {
            let (mut world, _now) = state.world();
            match delete(&mut world.stamps[stamp], set, &key) {
                Ok(()) => StatusCode::NO_CONTENT.into_response(),
                Err(response) => response,
            }
        }
        (verb, _) => error(
            StatusCode::METHOD_NOT_ALLOWED,
            "MethodNotAllowed",
            format!("{verb} is not supported on this resource"),
        ),
    }
}

/// `POST` with `X-HTTP-Method: MERGE` is how OData clients tunnel MERGE.
fn effective_method(method: &Method, headers: &HeaderMap) -> String {
    if method == Method::POST
        && let Some(tunnel) = headers.get("x-http-method").and_then(|v| v.to_str().ok())
    {
        return tunnel.to_ascii_uppercase();
    }
    method.as_str().to_ascii_uppercase()
}

fn json_body(body: &Bytes) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body must be a JSON object",
        )),
    }
}
