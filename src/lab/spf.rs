//! SPF's VMM OData v3 service for one stamp, at `/SC2012R2/VMM/Microsoft.Management.Odata.svc/`:
//! collections, composite keys, `$filter`/`$top`/`$skip`/`$select`/`$orderby`, server paging with
//! `odata.nextLink`, JSON light and Atom, and writes (POST, PUT, MERGE/PATCH, DELETE), exactly as
//! `schemas/fabric-http.md` §1 fixes them. HTTP Basic with the stamp's SPF account.
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
use time::OffsetDateTime;
use uuid::Uuid;

use super::LabState;
use super::net::{field, field_i64, field_str, field_uuid, json_response, typed_response};
use super::odata::{self, Filter};
use super::odata_write::{self, Representation};
use super::spf_entities::{Row, Set, rows};
use super::world::{Owner, Power, Stamp, UserRole, Vm, VmNetwork, VmSubnet, World};

/// The service's path under the SPF base URL.
pub const SERVICE_PATH: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc/";

/// Server-driven page size.
pub const PAGE_SIZE: usize = 500;

/// The router for stamp `stamp`.
pub fn router(state: Arc<LabState>, stamp: usize) -> Router {
    Router::new().fallback(handle).with_state((state, stamp))
}

/// An OData error response.
fn error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
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
    let access = &state.stamps[stamp];
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
    let base = format!("{}{}", state.stamps[stamp].spf, SERVICE_PATH);
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

fn find<'a>(stamp: &'a Stamp, set: Set, key: &[(String, Uuid)]) -> Result<Row<'a>, Response> {
    let not_found = || {
        error(
            StatusCode::NOT_FOUND,
            "ResourceNotFound",
            "Resource not found for the segment.",
        )
    };
    let mut id = None;
    for (name, value) in key {
        if name.eq_ignore_ascii_case("ID") {
            id = Some(*value);
        } else if name.eq_ignore_ascii_case("StampId") && set.keyed_by_stamp() {
            if *value != stamp.id {
                return Err(not_found());
            }
        } else {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                format!("unknown key '{name}'"),
            ));
        }
    }
    let id = id.ok_or_else(|| error(StatusCode::BAD_REQUEST, "BadRequest", "the key needs ID"))?;
    let row = match set {
        Set::Vms => stamp.vms.get(&id).map(Row::Vm),
        Set::Clouds => stamp.clouds.get(&id).map(Row::Cloud),
        Set::Networks => stamp.networks.get(&id).map(Row::Network),
        Set::Subnets => stamp.subnets.get(&id).map(Row::Subnet),
        Set::Roles => stamp.roles.get(&id).map(Row::Role),
        Set::Stamps => (id == stamp.id).then_some(Row::Stamp),
    };
    row.ok_or_else(not_found)
}

#[allow(clippy::too_many_arguments)]
fn entity_response(
    status: StatusCode,
    set: Set,
    row: Row<'_>,
    stamp: &Stamp,
    repr: Representation,
    base: &str,
    now: OffsetDateTime,
    select: Option<&[String]>,
) -> Response {
    let out = row.entity_out(set, stamp, now, select);
    match repr {
        Representation::Json(meta) => {
            let mut response = json_response(
                status,
                odata_write::json_entry(base, set.info(), &out, meta),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(repr.content_type(true)),
            );
            response
        }
        Representation::Atom => typed_response(
            status,
            repr.content_type(true),
            odata_write::atom_entry(base, set.info(), &out, now),
        ),
    }
}

fn list(
    stamp: &Stamp,
    set: Set,
    query: &[(String, String)],
    repr: Representation,
    base: &str,
    now: OffsetDateTime,
) -> Response {
    let bad = |m: String| error(StatusCode::BAD_REQUEST, "BadRequest", m);
    let mut filter = None;
    let mut top = None;
    let mut skip = 0usize;
    let mut select: Option<Vec<String>> = None;
    let mut orderby: Option<(String, bool)> = None;
    for (name, value) in query {
        match name.as_str() {
            "$filter" => match Filter::parse(value, &|p| set.knows(p)) {
                Ok(f) => filter = Some(f),
                Err(e) => return bad(e),
            },
            "$top" => match value.parse::<usize>() {
                Ok(n) => top = Some(n),
                Err(_) => return bad(format!("bad $top '{value}'")),
            },
            "$skip" => match value.parse::<usize>() {
                Ok(n) => skip = n,
                Err(_) => return bad(format!("bad $skip '{value}'")),
            },
            "$select" => {
                let names: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
                if let Some(unknown) = names
                    .iter()
                    .find(|n| *n != "*" && !set.props().contains(&n.as_str()))
                {
                    return bad(format!("unknown property '{unknown}' in $select"));
                }
                if !names.iter().any(|n| n == "*") {
                    select = Some(names);
                }
            }
            "$orderby" => {
                let mut parts = value.split_whitespace();
                let prop = parts.next().unwrap_or_default().to_owned();
                let descending = match parts.next() {
                    None | Some("asc") => false,
                    Some("desc") => true,
                    Some(other) => return bad(format!("bad $orderby direction '{other}'")),
                };
                if !matches!(prop.as_str(), "ModifiedTime" | "Name" | "ID") || !set.knows(&prop) {
                    return bad(format!("unsupported $orderby '{value}'"));
                }
                orderby = Some((prop, descending));
            }
            // Accepted and ignored: the lab has no navigation properties to expand.
            "$format" | "$expand" | "$inlinecount" | "api-version" => {}
            other if other.starts_with('$') => {
                return bad(format!("unsupported query option '{other}'"));
            }
            _ => {}
        }
    }
    let mut matched: Vec<Row<'_>> = rows(stamp, set)
        .into_iter()
        .filter(|row| {
            filter
                .as_ref()
                .is_none_or(|f| f.matches(&|p| row.get(p, stamp, now)))
        })
        .collect();
    if let Some((prop, descending)) = &orderby {
        matched.sort_by(|a, b| {
            let (x, y) = (a.get(prop, stamp, now), b.get(prop, stamp, now));
            let ordering = sort_key(&x).cmp(&sort_key(&y));
            if *descending {
                ordering.reverse()
            } else {
                ordering
            }
        });
    }
    let total = matched.len();
    let end = top.map_or(total, |t| skip.saturating_add(t).min(total));
    let start = skip.min(total);
    let window_end = end.min(start + PAGE_SIZE);
    let next_link = (window_end < end).then(|| {
        let mut params: Vec<(String, String)> = query
            .iter()
            .filter(|(k, _)| k != "$skip" && k != "$top")
            .cloned()
            .collect();
        params.push(("$skip".into(), window_end.to_string()));
        if let Some(t) = top {
            params.push(("$top".into(), (skip + t - window_end).to_string()));
        }
        let encoded: String = form_urlencoded::Serializer::new(String::new())
            .extend_pairs(params)
            .finish()
            .replace('+', "%20");
        format!("{base}{}?{encoded}", set.info().name)
    });
    let entities: Vec<_> = matched[start..window_end]
        .iter()
        .map(|row| row.entity_out(set, stamp, now, select.as_deref()))
        .collect();
    match repr {
        Representation::Json(meta) => {
            let mut response = json_response(
                StatusCode::OK,
                odata_write::json_feed(base, set.info(), &entities, next_link.as_deref(), meta),
            );
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static(repr.content_type(false)),
            );
            response
        }
        Representation::Atom => typed_response(
            StatusCode::OK,
            repr.content_type(false),
            odata_write::atom_feed(base, set.info(), &entities, next_link.as_deref(), now),
        ),
    }
}

/// Sort key for `$orderby`: text, time or id, nulls first.
fn sort_key(edm: &odata::Edm) -> (u8, String) {
    match edm {
        odata::Edm::DateTime(t) => (1, format!("{:020}", t.unix_timestamp_nanos())),
        odata::Edm::Null(_) => (0, String::new()),
        other => (
            1,
            match other {
                odata::Edm::Str(s) => s.clone(),
                odata::Edm::Guid(g) => g.to_string(),
                _ => String::new(),
            },
        ),
    }
}

fn parse_owner(world: &World, stamp: usize, body: &Value) -> Result<Option<Owner>, Response> {
    let Some(owner) = field(body, "Owner") else {
        return Ok(None);
    };
    let role_id = field_uuid(owner, "RoleID");
    let role = role_id.and_then(|id| world.stamps[stamp].roles.get(&id));
    let user_name = field_str(owner, "UserName")
        .or_else(|| role.and_then(|r| r.members.first().cloned()))
        .unwrap_or_default();
    let role_name = field_str(owner, "RoleName")
        .or_else(|| role.map(|r| r.name.clone()))
        .unwrap_or_default();
    match role_id {
        Some(role_id) => Ok(Some(Owner {
            user_name,
            role_name,
            role_id,
        })),
        None => Err(error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "Owner needs a RoleID",
        )),
    }
}

fn guid_list(body: &Value, name: &str) -> Option<Vec<Uuid>> {
    field(body, name)?.as_array().map(|items| {
        items
            .iter()
            .filter_map(|v| v.as_str().and_then(|s| Uuid::parse_str(s).ok()))
            .collect()
    })
}

fn create(
    world: &mut World,
    stamp: usize,
    set: Set,
    body: &Value,
    now: OffsetDateTime,
    vm_create_seconds: f64,
) -> Result<Uuid, Response> {
    let bad = |m: &str| error(StatusCode::BAD_REQUEST, "BadRequest", m.to_owned());
    if let Some(stamp_id) = field_uuid(body, "StampId")
        && set.keyed_by_stamp()
        && stamp_id != world.stamps[stamp].id
    {
        return Err(bad("StampId names another stamp"));
    }
    let id = match field_uuid(body, "ID") {
        Some(id) => id,
        None => world.new_id(),
    };
    let exists = find(&world.stamps[stamp], set, &[("ID".into(), id)]).is_ok();
    if exists {
        return Err(error(
            StatusCode::CONFLICT,
            "Conflict",
            format!("an entity with ID {id} exists"),
        ));
    }
    let name = field_str(body, "Name");
    match set {
        Set::Vms => {
            let name = name.ok_or_else(|| bad("a VM needs a Name"))?;
            let cloud_id = field_uuid(body, "CloudId");
            if let Some(cloud) = cloud_id
                && !world.stamps[stamp].clouds.contains_key(&cloud)
            {
                return Err(bad("CloudId names no cloud of this stamp"));
            }
            let owner = parse_owner(world, stamp, body)?;
            let vm_id = match field_uuid(body, "VMId") {
                Some(v) => v,
                None => world.new_id(),
            };
            let vm = Vm {
                id,
                name,
                vm_id,
                cloud_id,
                owner,
                power: Power::Running,
                creating_until: Some(super::clock::after(now, vm_create_seconds)),
                cpu_count: field_i64(body, "CPUCount").unwrap_or(1),
                memory_mb: field_i64(body, "Memory").unwrap_or(1024),
                total_size: field_i64(body, "TotalSize").unwrap_or(40 << 30),
                tag: field_str(body, "Tag").unwrap_or_default(),
                description: field_str(body, "Description").unwrap_or_default(),
                is_recovery_vm: field(body, "IsRecoveryVM")
                    .and_then(Value::as_bool)
                    .unwrap_or(false),
                vm_network_ids: guid_list(body, "VMNetworkIds").unwrap_or_default(),
                added: now,
                modified: now,
            };
            world.stamps[stamp].vms.insert(id, vm);
        }
        Set::Networks => {
            let owner = parse_owner(world, stamp, body)?;
            let logical = field_uuid(body, "LogicalNetworkId").unwrap_or_else(|| world.new_id());
            world.stamps[stamp].networks.insert(
                id,
                VmNetwork {
                    id,
                    name: name.ok_or_else(|| bad("a VM network needs a Name"))?,
                    description: field_str(body, "Description").unwrap_or_default(),
                    logical_network_id: logical,
                    isolation_type: field_str(body, "IsolationType")
                        .unwrap_or_else(|| "WindowsNetworkVirtualization".into()),
                    owner,
                    modified: now,
                },
            );
        }
        Set::Subnets => {
            let network = field_uuid(body, "VMNetworkId")
                .ok_or_else(|| bad("a subnet needs a VMNetworkId"))?;
            if !world.stamps[stamp].networks.contains_key(&network) {
                return Err(bad("VMNetworkId names no VM network of this stamp"));
            }
            world.stamps[stamp].subnets.insert(
                id,
                VmSubnet {
                    id,
                    name: name.unwrap_or_else(|| "Subnet".into()),
                    subnet: field_str(body, "Subnet")
                        .ok_or_else(|| bad("a subnet needs a Subnet"))?,
                    vm_network_id: network,
                },
            );
        }
        Set::Roles => {
            let members = field(body, "Members")
                .and_then(Value::as_array)
                .map(|m| {
                    m.iter()
                        .filter_map(|v| v.as_str().map(str::to_owned))
                        .collect()
                })
                .unwrap_or_default();
            world.stamps[stamp].roles.insert(
                id,
                UserRole {
                    id,
                    name: name.ok_or_else(|| bad("a user role needs a Name"))?,
                    profile: field_str(body, "Profile").unwrap_or_else(|| "TenantAdmin".into()),
                    members,
                },
            );
        }
        Set::Clouds => {
            world.stamps[stamp].clouds.insert(
                id,
                super::world::Cloud {
                    id,
                    name: name.ok_or_else(|| bad("a cloud needs a Name"))?,
                    description: field_str(body, "Description").unwrap_or_default(),
                    modified: now,
                },
            );
        }
        Set::Stamps => return Err(bad("stamps cannot be created")),
    }
    Ok(id)
}

fn update(
    world: &mut World,
    stamp: usize,
    set: Set,
    key: &[(String, Uuid)],
    body: &Value,
    now: OffsetDateTime,
) -> Result<(), Response> {
    let id = find(&world.stamps[stamp], set, key)?.id(&world.stamps[stamp]);
    let bad = |m: String| error(StatusCode::BAD_REQUEST, "BadRequest", m);
    match set {
        Set::Vms => {
            let owner = if field(body, "Owner").is_some() {
                Some(parse_owner(world, stamp, body)?)
            } else {
                None
            };
            let vm = world.stamps[stamp].vms.get_mut(&id).expect("found");
            if let Some(operation) = field_str(body, "Operation")
                && !vm.apply_operation(&operation, now)
            {
                return Err(bad(format!("unknown Operation '{operation}'")));
            }
            if let Some(owner) = owner {
                vm.owner = owner;
            }
            if let Some(name) = field_str(body, "Name") {
                vm.name = name;
            }
            if let Some(v) = field_str(body, "Description") {
                vm.description = v;
            }
            if let Some(v) = field_str(body, "Tag") {
                vm.tag = v;
            }
            if let Some(v) = field_i64(body, "CPUCount") {
                vm.cpu_count = v;
            }
            if let Some(v) = field_i64(body, "Memory") {
                vm.memory_mb = v;
            }
            if let Some(v) = field_i64(body, "TotalSize") {
                vm.total_size = v;
            }
            if let Some(v) = guid_list(body, "VMNetworkIds") {
                vm.vm_network_ids = v;
            }
            if let Some(v) = field_uuid(body, "CloudId") {
                vm.cloud_id = Some(v);
            }
            vm.modified = now;
        }
        Set::Networks => {
            let owner = if field(body, "Owner").is_some() {
                Some(parse_owner(world, stamp, body)?)
            } else {
                None
            };
            let n = world.stamps[stamp].networks.get_mut(&id).expect("found");
            if let Some(owner) = owner {
                n.owner = owner;
            }
            if let Some(v) = field_str(body, "Name") {
                n.name = v;
            }
            if let Some(v) = field_str(body, "Description") {
                n.description = v;
            }
            n.modified = now;
        }
        Set::Subnets => {
            let s = world.stamps[stamp].subnets.get_mut(&id).expect("found");
            if let Some(v) = field_str(body, "Name") {
                s.name = v;
            }
            if let Some(v) = field_str(body, "Subnet") {
                s.subnet = v;
            }
        }
        Set::Roles => {
            let r = world.stamps[stamp].roles.get_mut(&id).expect("found");
            if let Some(v) = field_str(body, "Name") {
                r.name = v;
            }
            if let Some(v) = field_str(body, "Profile") {
                r.profile = v;
            }
            if let Some(members) = field(body, "Members").and_then(Value::as_array) {
                r.members = members
                    .iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect();
            }
            if let Some(member) = field_str(body, "AddMember")
                && !r.members.contains(&member)
            {
                r.members.push(member);
            }
        }
        Set::Clouds => {
            let c = world.stamps[stamp].clouds.get_mut(&id).expect("found");
            if let Some(v) = field_str(body, "Name") {
                c.name = v;
            }
            if let Some(v) = field_str(body, "Description") {
                c.description = v;
            }
            c.modified = now;
        }
        Set::Stamps => return Err(bad("stamps are read-only".into())),
    }
    Ok(())
}

fn delete(stamp: &mut Stamp, set: Set, key: &[(String, Uuid)]) -> Result<(), Response> {
    let id = find(stamp, set, key)?.id(stamp);
    match set {
        Set::Vms => {
            stamp.vms.remove(&id);
        }
        Set::Networks => {
            stamp.networks.remove(&id);
            stamp.subnets.retain(|_, s| s.vm_network_id != id);
        }
        Set::Subnets => {
            stamp.subnets.remove(&id);
        }
        Set::Roles => {
            stamp.roles.remove(&id);
        }
        Set::Clouds => {
            stamp.clouds.remove(&id);
        }
        Set::Stamps => {
            return Err(error(
                StatusCode::BAD_REQUEST,
                "BadRequest",
                "stamps are read-only",
            ));
        }
    }
    Ok(())
}

fn service_document(base: &str) -> Response {
    let sets = [
        "VirtualMachines",
        "Clouds",
        "VMNetworks",
        "VMSubnets",
        "UserRoles",
        "Stamps",
    ];
    let value: Vec<Value> = sets
        .iter()
        .map(|s| serde_json::json!({"name": s, "url": s}))
        .collect();
    json_response(
        StatusCode::OK,
        serde_json::json!({"odata.metadata": format!("{base}$metadata"), "value": value}),
    )
}

fn metadata_document() -> Response {
    let mut xml = String::from(
        r#"<?xml version="1.0" encoding="utf-8"?><edmx:Edmx Version="1.0" xmlns:edmx="http://schemas.microsoft.com/ado/2007/06/edmx"><edmx:DataServices m:DataServiceVersion="3.0" xmlns:m="http://schemas.microsoft.com/ado/2007/08/dataservices/metadata"><Schema Namespace="VMM" xmlns="http://schemas.microsoft.com/ado/2009/11/edm"><EntityContainer Name="VMM" m:IsDefaultEntityContainer="true">"#,
    );
    for set in [
        Set::Vms,
        Set::Clouds,
        Set::Networks,
        Set::Subnets,
        Set::Roles,
        Set::Stamps,
    ] {
        let info = set.info();
        xml.push_str(&format!(
            r#"<EntitySet Name="{}" EntityType="{}"/>"#,
            info.name, info.type_name
        ));
    }
    xml.push_str("</EntityContainer></Schema></edmx:DataServices></edmx:Edmx>");
    typed_response(StatusCode::OK, "application/xml;charset=utf-8", xml)
}
