//! One stamp's WAP admin API (`schemas/fabric-http.md` §2): the router, the Bearer check against
//! the stamp's admin token, Json.NET-style bodies (enums as integers, `skip`/`take` pages), and the
//! offer side: users, plans and add-ons. Subscriptions and resource providers live in
//! `wap_admin_subscriptions`.
//!
//! A refused request (401/404/409/400) must change nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::LabState;
use super::net::{field, field_i64, field_str, field_strings, json_response, typed_response};
use super::wap_admin_subscriptions::{
    add_addon, change_subscription, create_subscription, delete_subscription, get_subscription,
    list_rps, list_subscriptions, register_rp,
};
use super::world::{AddOn, Plan, ServiceQuota, WapUser, World};

pub use super::wap_admin_subscriptions::provision_subscription;

/// Every handler's state: the lab and the stamp it serves.
pub(super) type Ctx = (Arc<LabState>, usize);

/// The router for stamp `stamp`.
pub fn router(state: Arc<LabState>, stamp: usize) -> Router {
    let ctx: Ctx = (state, stamp);
    Router::new()
        .route("/users", get(list_users).post(create_user))
        .route("/users/{name}", get(get_user).delete(delete_user))
        .route("/plans", get(list_plans).post(create_plan))
        .route("/plans/{id}", get(get_plan))
        .route("/addons", get(list_addons).post(create_addon))
        .route("/addons/{id}", get(get_addon))
        .route(
            "/subscriptions",
            get(list_subscriptions).post(create_subscription),
        )
        .route(
            "/subscriptions/{id}",
            get(get_subscription)
                .patch(change_subscription)
                .delete(delete_subscription),
        )
        .route("/subscriptions/{id}/addons", axum::routing::post(add_addon))
        .route("/resourceproviders", get(list_rps).post(register_rp))
        .route_layer(middleware::from_fn_with_state(ctx.clone(), bearer))
        .route("/tenantportal/", get(tenant_portal))
        .fallback(|| async { wap_error(StatusCode::NOT_FOUND, "NotFound", "no such resource") })
        .with_state(ctx)
}

/// A WAP `Error` response.
pub fn wap_error(status: StatusCode, code: &str, message: impl Into<String>) -> Response {
    json_response(status, json!({"Code": code, "Message": message.into()}))
}

async fn bearer(State((state, stamp)): State<Ctx>, request: Request, next: Next) -> Response {
    let expected = format!("Bearer {}", state.access.stamps[stamp].wap_admin_token);
    let given = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    if given != Some(expected.as_str()) {
        return wap_error(
            StatusCode::UNAUTHORIZED,
            "Unauthorized",
            "The request needs a valid admin bearer token.",
        );
    }
    next.run(request).await
}

async fn tenant_portal(State((state, stamp)): State<Ctx>) -> Response {
    typed_response(
        StatusCode::OK,
        "text/html;charset=utf-8",
        format!(
            "<!doctype html><title>Tenant portal {0}</title><p>Lab stand-in for stamp {0}'s WAP tenant portal.</p>",
            state.access.stamps[stamp].name
        ),
    )
}

pub(super) fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

pub(super) fn page(items: Vec<Value>, query: &std::collections::HashMap<String, String>) -> Value {
    let total = items.len();
    let skip = query
        .get("skip")
        .and_then(|s| s.parse().ok())
        .unwrap_or(0usize);
    let take = query
        .get("take")
        .and_then(|s| s.parse().ok())
        .unwrap_or(usize::MAX);
    let items: Vec<Value> = items.into_iter().skip(skip).take(take).collect();
    json!({"items": items, "filteredTotalCount": total, "totalCount": total})
}

pub(super) fn parse_body(body: &Bytes) -> Result<Value, Response> {
    match serde_json::from_slice::<Value>(body) {
        Ok(v @ Value::Object(_)) => Ok(v),
        _ => Err(wap_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "the body must be a JSON object",
        )),
    }
}

fn user_json(u: &WapUser, world: &World, stamp: usize) -> Value {
    let count = world.stamps[stamp]
        .wap
        .subscriptions
        .values()
        .filter(|s| s.owner.eq_ignore_ascii_case(&u.name))
        .count();
    json!({"Name": u.name, "Email": u.email, "State": u.state, "CreatedTime": rfc3339(u.created), "SubscriptionCount": count})
}

fn quotas_json(quotas: &[ServiceQuota]) -> Value {
    quotas
        .iter()
        .map(|q| {
            json!({
                "ServiceName": q.service_name,
                "ServiceInstanceId": q.instance_id,
                "Settings": q.settings.iter().map(|(k, v)| json!({"Key": k, "Value": v})).collect::<Vec<_>>(),
            })
        })
        .collect()
}

fn quotas_from(body: &Value) -> Vec<ServiceQuota> {
    field(body, "ServiceQuotas")
        .and_then(Value::as_array)
        .map(|quotas| {
            quotas
                .iter()
                .map(|q| ServiceQuota {
                    service_name: field_str(q, "ServiceName").unwrap_or_default(),
                    instance_id: field_str(q, "ServiceInstanceId").unwrap_or_default(),
                    settings: field(q, "Settings")
                        .and_then(Value::as_array)
                        .map(|s| {
                            s.iter()
                                .map(|kv| {
                                    (
                                        field_str(kv, "Key").unwrap_or_default(),
                                        field_str(kv, "Value").unwrap_or_default(),
                                    )
                                })
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

fn plan_json(p: &Plan, world: &World, stamp: usize) -> Value {
    let count = world.stamps[stamp]
        .wap
        .subscriptions
        .values()
        .filter(|s| s.plan_id == p.id)
        .count();
    json!({
        "Id": p.id, "DisplayName": p.display_name, "State": p.state,
        "ServiceQuotas": quotas_json(&p.service_quotas), "AddOns": p.addons,
        "SubscriptionCount": count,
    })
}

fn addon_json(a: &AddOn) -> Value {
    json!({
        "Id": a.id, "DisplayName": a.display_name,
        "ServiceQuotas": quotas_json(&a.service_quotas), "AssociatedPlans": a.associated_plans,
    })
}

async fn list_users(
    State((state, stamp)): State<Ctx>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (world, _) = state.world();
    let items = world.stamps[stamp]
        .wap
        .users
        .values()
        .map(|u| user_json(u, &world, stamp))
        .collect();
    json_response(StatusCode::OK, page(items, &query))
}

async fn create_user(State((state, stamp)): State<Ctx>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = field_str(&body, "Name") else {
        return wap_error(StatusCode::BAD_REQUEST, "BadRequest", "a user needs a Name");
    };
    let (mut world, now) = state.world();
    let key = name.to_ascii_lowercase();
    if world.stamps[stamp].wap.users.contains_key(&key) {
        return wap_error(
            StatusCode::CONFLICT,
            "UserAlreadyExists",
            format!("user '{name}' exists"),
        );
    }
    let user = WapUser {
        email: field_str(&body, "Email").unwrap_or_else(|| name.clone()),
        state: field_i64(&body, "State").unwrap_or(1),
        name,
        created: now,
    };
    let answer = user_json(&user, &world, stamp);
    world.stamps[stamp].wap.users.insert(key, user);
    json_response(StatusCode::OK, answer)
}

async fn get_user(State((state, stamp)): State<Ctx>, Path(name): Path<String>) -> Response {
    let (world, _) = state.world();
    match world.stamps[stamp]
        .wap
        .users
        .get(&name.to_ascii_lowercase())
    {
        Some(u) => json_response(StatusCode::OK, user_json(u, &world, stamp)),
        None => wap_error(
            StatusCode::NOT_FOUND,
            "UserNotFound",
            format!("no user '{name}'"),
        ),
    }
}

async fn delete_user(State((state, stamp)): State<Ctx>, Path(name): Path<String>) -> Response {
    let (mut world, _) = state.world();
    match world.stamps[stamp]
        .wap
        .users
        .remove(&name.to_ascii_lowercase())
    {
        Some(_) => StatusCode::OK.into_response(),
        None => wap_error(
            StatusCode::NOT_FOUND,
            "UserNotFound",
            format!("no user '{name}'"),
        ),
    }
}

async fn list_plans(
    State((state, stamp)): State<Ctx>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (world, _) = state.world();
    let items = world.stamps[stamp]
        .wap
        .plans
        .values()
        .map(|p| plan_json(p, &world, stamp))
        .collect();
    json_response(StatusCode::OK, page(items, &query))
}

async fn get_plan(State((state, stamp)): State<Ctx>, Path(id): Path<String>) -> Response {
    let (world, _) = state.world();
    match world.stamps[stamp].wap.plans.get(&id) {
        Some(p) => json_response(StatusCode::OK, plan_json(p, &world, stamp)),
        None => wap_error(
            StatusCode::NOT_FOUND,
            "PlanNotFound",
            format!("no plan '{id}'"),
        ),
    }
}

async fn create_plan(State((state, stamp)): State<Ctx>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (mut world, _) = state.world();
    let id = field_str(&body, "Id")
        .unwrap_or_else(|| world.new_id().simple().to_string()[..8].to_owned());
    if world.stamps[stamp].wap.plans.contains_key(&id) {
        return wap_error(
            StatusCode::CONFLICT,
            "PlanAlreadyExists",
            format!("plan '{id}' exists"),
        );
    }
    let plan = Plan {
        id: id.clone(),
        display_name: field_str(&body, "DisplayName").unwrap_or_else(|| id.clone()),
        state: field_i64(&body, "State").unwrap_or(0),
        service_quotas: quotas_from(&body),
        addons: field_strings(&body, "AddOns"),
    };
    let answer = plan_json(&plan, &world, stamp);
    world.stamps[stamp].wap.plans.insert(id, plan);
    json_response(StatusCode::OK, answer)
}

async fn list_addons(
    State((state, stamp)): State<Ctx>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (world, _) = state.world();
    let items = world.stamps[stamp]
        .wap
        .addons
        .values()
        .map(addon_json)
        .collect();
    json_response(StatusCode::OK, page(items, &query))
}

async fn get_addon(State((state, stamp)): State<Ctx>, Path(id): Path<String>) -> Response {
    let (world, _) = state.world();
    match world.stamps[stamp].wap.addons.get(&id) {
        Some(a) => json_response(StatusCode::OK, addon_json(a)),
        None => wap_error(
            StatusCode::NOT_FOUND,
            "AddOnNotFound",
            format!("no add-on '{id}'"),
        ),
    }
}

async fn create_addon(State((state, stamp)): State<Ctx>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (mut world, _) = state.world();
    let id = field_str(&body, "Id")
        .unwrap_or_else(|| world.new_id().simple().to_string()[..8].to_owned());
    if world.stamps[stamp].wap.addons.contains_key(&id) {
        return wap_error(
            StatusCode::CONFLICT,
            "AddOnAlreadyExists",
            format!("add-on '{id}' exists"),
        );
    }
    let addon = AddOn {
        id: id.clone(),
        display_name: field_str(&body, "DisplayName").unwrap_or_else(|| id.clone()),
        service_quotas: quotas_from(&body),
        associated_plans: field_strings(&body, "AssociatedPlans"),
    };
    let answer = addon_json(&addon);
    world.stamps[stamp].wap.addons.insert(id, addon);
    json_response(StatusCode::OK, answer)
}
