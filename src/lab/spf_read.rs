//! SPF OData reads for one stamp: entity lookup by composite key, collections with
//! `$filter`/`$top`/`$skip`/`$select`/`$orderby` and server paging (`odata.nextLink`, at most
//! [`PAGE_SIZE`] per page), JSON light or Atom entries and feeds, the service document and
//! `$metadata`, as `schemas/fabric-http.md` §1 fixes them.
//!
//! Reads never change the world, and never show another stamp's rows.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;
use serde_json::Value;
use time::OffsetDateTime;
use uuid::Uuid;

use super::net::{json_response, typed_response};
use super::odata::{self, Filter};
use super::odata_write::{self, Representation};
use super::spf::{PAGE_SIZE, error};
use super::spf_entities::{Row, Set, rows};
use super::world::Stamp;

pub(super) fn find<'a>(
    stamp: &'a Stamp,
    set: Set,
    key: &[(String, Uuid)],
) -> Result<Row<'a>, Response> {
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
pub(super) fn entity_response(
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

pub(super) fn list(
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

pub(super) fn service_document(base: &str) -> Response {
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

pub(super) fn metadata_document() -> Response {
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
