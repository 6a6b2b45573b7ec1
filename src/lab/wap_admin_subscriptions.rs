//! One stamp's WAP admin API, the subscription side (`schemas/fabric-http.md` §2): subscriptions
//! with caller-chosen ids (create, read, change state and co-admins, delete, add add-ons) and the
//! registered resource providers. Creating a subscription on a plan with the `systemcenter`
//! service creates the tenant's VMM user role, as VM Clouds does; deleting removes it.
//!
//! A refused request (404/409/400) must change nothing: every check runs before the world is
//! touched.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use uuid::Uuid;

use super::net::{field, field_str, field_strings, field_uuid, json_response};
use super::wap_admin::{Ctx, page, parse_body, rfc3339, wap_error};
use super::world::{Plan, Subscription, UserRole, World};

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

pub(super) async fn list_subscriptions(
    State((state, stamp)): State<Ctx>,
    Query(query): Query<HashMap<String, String>>,
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

pub(super) async fn create_subscription(
    State((state, stamp)): State<Ctx>,
    body: Bytes,
) -> Response {
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
        co_admins: field_strings(&body, "CoAdminNames"),
        state: 1,
        plan_id,
        addons: Vec::new(),
        created: now,
    };
    let answer = subscription_json(&sub);
    provision_subscription(&mut world, stamp, sub);
    json_response(StatusCode::OK, answer)
}

pub(super) async fn get_subscription(
    State((state, stamp)): State<Ctx>,
    Path(id): Path<String>,
) -> Response {
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

pub(super) async fn change_subscription(
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
        sub.co_admins = field_strings(&body, "CoAdminNames");
    }
    json_response(StatusCode::OK, subscription_json(sub))
}

pub(super) async fn delete_subscription(
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

pub(super) async fn add_addon(
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

pub(super) async fn list_rps(State((state, stamp)): State<Ctx>) -> Response {
    let (world, _) = state.world();
    json_response(
        StatusCode::OK,
        Value::Array(world.stamps[stamp].wap.resource_providers.clone()),
    )
}

pub(super) async fn register_rp(State((state, stamp)): State<Ctx>, body: Bytes) -> Response {
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
