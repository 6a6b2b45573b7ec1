//! One stamp's WAP admin API (`schemas/fabric-http.md` §2): users, plans, add-ons, subscriptions
//! with caller-chosen ids, resource providers; Json.NET-style bodies, enums as integers, a Bearer
//! token checked against the stamp's admin token. Creating a subscription on a plan with the
//! `systemcenter` service creates the tenant's VMM user role, as VM Clouds does; deleting removes it.
//!
//! A refused request (401/404/409/400) must change nothing.

use std::sync::Arc;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::LabState;
use super::net::{field, field_i64, field_str, field_uuid, json_response, typed_response};
use super::world::{AddOn, Plan, ServiceQuota, Subscription, UserRole, WapUser, World};

type Ctx = (Arc<LabState>, usize);

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
    let expected = format!("Bearer {}", state.stamps[stamp].wap_admin_token);
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
            state.stamps[stamp].name
        ),
    )
}

fn rfc3339(t: OffsetDateTime) -> String {
    t.format(&Rfc3339).unwrap_or_default()
}

fn page(items: Vec<Value>, query: &std::collections::HashMap<String, String>) -> Value {
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

fn parse_body(body: &Bytes) -> Result<Value, Response> {
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

fn subscription_json(s: &Subscription) -> Value {
    json!({
        "SubscriptionID": s.id, "SubscriptionName": s.name,
        "AccountAdminLiveEmailId": s.owner, "ServiceAdminLiveEmailId": s.owner,
        "CoAdminNames": s.co_admins, "State": s.state, "PlanId": s.plan_id,
        "AddOnReferences": s.addons.iter().map(|(id, instance, at)| json!({
            "AddOnId": id, "AddOnInstanceId": instance, "AcquisitionTime": rfc3339(*at),
        })).collect::<Vec<_>>(),
        "LastErrorMessage": null, "Created": rfc3339(s.created),
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
        addons: field(&body, "AddOns")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
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
        associated_plans: field(&body, "AssociatedPlans")
            .and_then(Value::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|v| v.as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default(),
    };
    let answer = addon_json(&addon);
    world.stamps[stamp].wap.addons.insert(id, addon);
    json_response(StatusCode::OK, answer)
}

async fn list_subscriptions(
    State((state, stamp)): State<Ctx>,
    Query(query): Query<std::collections::HashMap<String, String>>,
) -> Response {
    let (world, _) = state.world();
    let user = query.get("userId").map(|u| u.to_ascii_lowercase());
    let plan = query.get("planId");
    let items = world.stamps[stamp]
        .wap
        .subscriptions
        .values()
        .filter(|s| {
            user.as_ref()
                .is_none_or(|u| s.owner.eq_ignore_ascii_case(u))
        })
        .filter(|s| plan.is_none_or(|p| &s.plan_id == p))
        .map(subscription_json)
        .collect();
    json_response(StatusCode::OK, page(items, &query))
}

/// The stamp a plan's `systemcenter` `Clouds` setting names (`<Cloud … StampId="…">`).
fn plan_vmm_stamp(world: &World, plan: &Plan) -> Option<usize> {
    let quota = plan
        .service_quotas
        .iter()
        .find(|q| q.service_name.eq_ignore_ascii_case("systemcenter"))?;
    let clouds = quota
        .settings
        .iter()
        .find(|(k, _)| k.eq_ignore_ascii_case("Clouds"))
        .map(|(_, v)| v.as_str())
        .unwrap_or("");
    let start = clouds.find("StampId=\"")? + "StampId=\"".len();
    let end = clouds[start..].find('"')? + start;
    let id = Uuid::parse_str(&clouds[start..end]).ok()?;
    world.stamp_by_id(id)
}

/// Creates the tenant's user role as VM Clouds does when a subscription is provisioned.
pub fn provision_subscription(world: &mut World, stamp: usize, sub: Subscription) {
    let plan = world.stamps[stamp].wap.plans.get(&sub.plan_id).cloned();
    if let Some(plan) = plan
        && let Some(vmm) = plan_vmm_stamp(world, &plan).or_else(|| {
            plan.service_quotas
                .iter()
                .any(|q| q.service_name.eq_ignore_ascii_case("systemcenter"))
                .then_some(stamp)
        })
    {
        world.stamps[vmm].roles.insert(
            sub.id,
            UserRole {
                id: sub.id,
                name: format!("{}_{}", sub.owner, sub.id),
                profile: "TenantAdmin".into(),
                members: vec![sub.owner.clone()],
            },
        );
    }
    world.stamps[stamp].wap.subscriptions.insert(sub.id, sub);
}

async fn create_subscription(State((state, stamp)): State<Ctx>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (mut world, now) = state.world();
    let id = match field(&body, "SubscriptionId") {
        None => world.new_id(),
        Some(_) => match field_uuid(&body, "SubscriptionId") {
            Some(id) => id,
            None => {
                return wap_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    "SubscriptionId is not a guid",
                );
            }
        },
    };
    if world.stamps[stamp].wap.subscriptions.contains_key(&id) {
        return wap_error(
            StatusCode::CONFLICT,
            "SubscriptionAlreadyExists",
            format!("subscription {id} exists"),
        );
    }
    let Some(owner) = field_str(&body, "AccountAdminLivePuid")
        .or_else(|| field_str(&body, "AccountAdminLiveEmailId"))
    else {
        return wap_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "AccountAdminLivePuid is required",
        );
    };
    let Some(user) = world.stamps[stamp]
        .wap
        .users
        .get(&owner.to_ascii_lowercase())
        .cloned()
    else {
        return wap_error(
            StatusCode::NOT_FOUND,
            "UserNotFound",
            format!("no user '{owner}'"),
        );
    };
    let plan_id = field_str(&body, "PlanId").unwrap_or_default();
    if !world.stamps[stamp].wap.plans.contains_key(&plan_id) {
        return wap_error(
            StatusCode::NOT_FOUND,
            "PlanNotFound",
            format!("no plan '{plan_id}'"),
        );
    }
    let sub = Subscription {
        id,
        name: field_str(&body, "FriendlyName").unwrap_or_else(|| plan_id.clone()),
        owner: user.name,
        co_admins: string_list(&body, "CoAdminNames"),
        state: 1,
        plan_id,
        addons: Vec::new(),
        created: now,
    };
    let answer = subscription_json(&sub);
    provision_subscription(&mut world, stamp, sub);
    json_response(StatusCode::OK, answer)
}

fn string_list(body: &Value, name: &str) -> Vec<String> {
    field(body, name)
        .and_then(Value::as_array)
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

async fn get_subscription(State((state, stamp)): State<Ctx>, Path(id): Path<String>) -> Response {
    let (world, _) = state.world();
    match Uuid::parse_str(&id)
        .ok()
        .and_then(|id| world.stamps[stamp].wap.subscriptions.get(&id))
    {
        Some(s) => json_response(StatusCode::OK, subscription_json(s)),
        None => wap_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("no subscription '{id}'"),
        ),
    }
}

async fn change_subscription(
    State((state, stamp)): State<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let new_state = match field_str(&body, "Status") {
        None => None,
        Some(s) => match s.to_ascii_lowercase().as_str() {
            "active" | "1" => Some(1),
            "suspended" | "2" => Some(2),
            _ => {
                return wap_error(
                    StatusCode::BAD_REQUEST,
                    "BadRequest",
                    format!("Status '{s}' is not Active or Suspended"),
                );
            }
        },
    };
    let (mut world, _) = state.world();
    let Some(sub) = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| world.stamps[stamp].wap.subscriptions.get_mut(&id))
    else {
        return wap_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("no subscription '{id}'"),
        );
    };
    if let Some(s) = new_state {
        sub.state = s;
    }
    if field(&body, "CoAdminNames").is_some() {
        sub.co_admins = string_list(&body, "CoAdminNames");
    }
    json_response(StatusCode::OK, subscription_json(sub))
}

async fn delete_subscription(
    State((state, stamp)): State<Ctx>,
    Path(id): Path<String>,
) -> Response {
    let (mut world, _) = state.world();
    let Some(sub) = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| world.stamps[stamp].wap.subscriptions.remove(&id))
    else {
        return wap_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("no subscription '{id}'"),
        );
    };
    let vmm = world.stamps[stamp]
        .wap
        .plans
        .get(&sub.plan_id)
        .cloned()
        .and_then(|p| plan_vmm_stamp(&world, &p))
        .unwrap_or(stamp);
    world.stamps[vmm].roles.remove(&sub.id);
    StatusCode::ACCEPTED.into_response()
}

async fn add_addon(
    State((state, stamp)): State<Ctx>,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let (mut world, now) = state.world();
    let addon_id = field_str(&body, "AddOnId").unwrap_or_default();
    if !world.stamps[stamp].wap.addons.contains_key(&addon_id) {
        return wap_error(
            StatusCode::NOT_FOUND,
            "AddOnNotFound",
            format!("no add-on '{addon_id}'"),
        );
    }
    let instance = field_uuid(&body, "AddOnInstanceId").unwrap_or_else(|| world.new_id());
    let Some(sub) = Uuid::parse_str(&id)
        .ok()
        .and_then(|id| world.stamps[stamp].wap.subscriptions.get_mut(&id))
    else {
        return wap_error(
            StatusCode::NOT_FOUND,
            "SubscriptionNotFound",
            format!("no subscription '{id}'"),
        );
    };
    sub.addons.push((addon_id.clone(), instance, now));
    json_response(
        StatusCode::OK,
        json!({"AddOnId": addon_id, "AddOnInstanceId": instance, "AcquisitionTime": rfc3339(now)}),
    )
}

async fn list_rps(State((state, stamp)): State<Ctx>, headers: HeaderMap) -> Response {
    let _ = headers;
    let (world, _) = state.world();
    json_response(
        StatusCode::OK,
        Value::Array(world.stamps[stamp].wap.resource_providers.clone()),
    )
}

async fn register_rp(State((state, stamp)): State<Ctx>, body: Bytes) -> Response {
    let body = match parse_body(&body) {
        Ok(b) => b,
        Err(r) => return r,
    };
    let Some(name) = field_str(&body, "Name") else {
        return wap_error(
            StatusCode::BAD_REQUEST,
            "BadRequest",
            "a resource provider needs a Name",
        );
    };
    let (mut world, _) = state.world();
    let rps = &mut world.stamps[stamp].wap.resource_providers;
    if rps
        .iter()
        .any(|rp| field_str(rp, "Name").is_some_and(|n| n.eq_ignore_ascii_case(&name)))
    {
        return wap_error(
            StatusCode::CONFLICT,
            "ResourceProviderAlreadyExists",
            format!("'{name}' is registered"),
        );
    }
    rps.push(body.clone());
    json_response(StatusCode::OK, body)
}
