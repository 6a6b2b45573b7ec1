//! The lab's control API, for tests and demos (never for wapdr): knobs, per-stamp outages, the
//! clock, call counters, the outstanding ASR item operations and their peak, a world summary,
//! quick creation of tenant VMs, and a per-VM replication stall (the health knob of one VM).
//!
//! It is not subject to the knobs (no latency, no injected errors) and is never counted as a call.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use time::OffsetDateTime;
use uuid::Uuid;

use super::asr::outstanding::{self, OutstandingGauge};
use super::knobs::Knobs;
use super::net::json_response;
use super::odata::format_datetime;
use super::world::{Owner, Power, Vm};
use super::{LabAccess, LabState};

/// The control router.
pub fn router(state: Arc<LabState>) -> Router {
    Router::new()
        .route("/lab/knobs", get(get_knobs).put(put_knobs))
        .route("/lab/stamps/{name}/outage", post(outage))
        .route("/lab/stamps/{name}/vms", post(create_vms))
        .route("/lab/vms/{id}/replication", post(stall_replication))
        .route("/lab/calls", get(calls))
        .route("/lab/operations", get(operations).delete(reset_operations))
        .route("/lab/clock", get(clock))
        .route("/lab/clock/advance", post(advance))
        .route("/lab/world/summary", get(summary))
        .route("/lab/describe", get(describe))
        .with_state(state)
}

fn bad(message: impl Into<String>) -> Response {
    json_response(StatusCode::BAD_REQUEST, json!({"error": message.into()}))
}

async fn get_knobs(State(state): State<Arc<LabState>>) -> Json<Knobs> {
    Json(state.knobs())
}

/// Takes a whole or partial knobs object: named knobs change, the others keep their value.
async fn put_knobs(State(state): State<Arc<LabState>>, Json(patch): Json<Value>) -> Response {
    let mut current = serde_json::to_value(state.knobs()).unwrap_or_default();
    let (Some(target), Some(changes)) = (current.as_object_mut(), patch.as_object()) else {
        return bad("the body must be a JSON object of knobs");
    };
    for (k, v) in changes {
        target.insert(k.clone(), v.clone());
    }
    let knobs: Knobs = match serde_json::from_value(current) {
        Ok(k) => k,
        Err(e) => return bad(format!("bad knobs: {e}")),
    };
    if let Err(e) = knobs.validate() {
        return bad(e);
    }
    state.set_knobs(knobs.clone());
    json_response(
        StatusCode::OK,
        serde_json::to_value(knobs).unwrap_or_default(),
    )
}

#[derive(Deserialize)]
struct OutageBody {
    down: bool,
}

async fn outage(
    State(state): State<Arc<LabState>>,
    Path(name): Path<String>,
    Json(body): Json<OutageBody>,
) -> Response {
    let Some(i) = state
        .access
        .stamps
        .iter()
        .position(|s| s.name.eq_ignore_ascii_case(&name))
    else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no stamp '{name}'")}),
        );
    };
    state.set_outage(i, body.down);
    json_response(
        StatusCode::OK,
        json!({"stamp": state.access.stamps[i].name, "down": body.down}),
    )
}

async fn calls(State(state): State<Arc<LabState>>) -> Json<Value> {
    Json(json!(state.calls()))
}

/// `{"asr_operations": {"outstanding", "peak_outstanding", "since"}, "now"}`.
fn operations_json(gauge: OutstandingGauge, outstanding: usize, now: OffsetDateTime) -> Value {
    json!({
        "asr_operations": {
            "outstanding": outstanding,
            "peak_outstanding": gauge.peak,
            "since": gauge.since.map(format_datetime),
        },
        "now": format_datetime(now),
    })
}

/// ASR item operations outstanding now (waiting for a slot or running) and the most at once
/// since the last reset, in lab time.
async fn operations(State(state): State<Arc<LabState>>) -> Json<Value> {
    let (world, now) = state.world();
    Json(operations_json(
        world.vault.outstanding,
        outstanding::outstanding(&world),
        now,
    ))
}

/// Starts a new measurement: the peak restarts from what is outstanding now.
async fn reset_operations(State(state): State<Arc<LabState>>) -> Json<Value> {
    let (mut world, now) = state.world();
    let gauge = outstanding::reset(&mut world, now);
    Json(operations_json(
        gauge,
        outstanding::outstanding(&world),
        now,
    ))
}

async fn clock(State(state): State<Arc<LabState>>) -> Json<Value> {
    Json(
        json!({"now": format_datetime(state.clock.now()), "acceleration": state.clock.acceleration()}),
    )
}

#[derive(Deserialize)]
struct AdvanceBody {
    seconds: f64,
}

async fn advance(State(state): State<Arc<LabState>>, Json(body): Json<AdvanceBody>) -> Response {
    if !(body.seconds.is_finite() && body.seconds >= 0.0) {
        return bad("seconds must be a non-negative number");
    }
    state.clock.advance(body.seconds);
    json_response(
        StatusCode::OK,
        json!({"now": format_datetime(state.clock.now())}),
    )
}

async fn describe(State(state): State<Arc<LabState>>) -> Json<LabAccess> {
    Json(state.access.clone())
}

async fn summary(State(state): State<Arc<LabState>>) -> Json<Value> {
    let (world, now) = state.world();
    let stamps: Vec<Value> = world
        .stamps
        .iter()
        .map(|s| {
            json!({
                "name": s.name, "stamp_id": s.id, "down": s.down_since.is_some(),
                "clouds": s.clouds.len(), "vm_networks": s.networks.len(), "vm_subnets": s.subnets.len(),
                "user_roles": s.roles.len(), "vms": s.vms.len(),
                "vms_creating": s.vms.values().filter(|v| v.is_creating(now)).count(),
                "recovery_vms": s.vms.values().filter(|v| v.is_recovery_vm).count(),
                "users": s.wap.users.len(), "plans": s.wap.plans.len(), "addons": s.wap.addons.len(),
                "subscriptions": s.wap.subscriptions.len(),
            })
        })
        .collect();
    Json(json!({
        "now": format_datetime(now),
        "stamps": stamps,
        "vault": world.vault.summary(),
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StallBody {
    /// Lab minutes since the last replication cycle; `null` resumes replication now.
    stalled_minutes: Option<f64>,
}

/// Stalls (or resumes) the replication of the protected VM `id` (its primary SPF id): the health
/// knob of one VM. A stalled VM's lag grows with lab time: Warning past two copy intervals,
/// Critical past an hour.
async fn stall_replication(
    State(state): State<Arc<LabState>>,
    Path(id): Path<Uuid>,
    Json(body): Json<StallBody>,
) -> Response {
    let ago = match body.stalled_minutes {
        None => None,
        Some(m) if m.is_finite() && m >= 0.0 => Some(time::Duration::seconds_f64(m * 60.0)),
        Some(_) => return bad("stalled_minutes must be a non-negative number or null"),
    };
    let (mut world, now) = state.world();
    if !super::asr::model::set_stalled(&mut world, id, ago, now) {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no protected item for VM {id}")}),
        );
    }
    json_response(
        StatusCode::OK,
        json!({"vm": id, "stalled": ago.is_some(), "now": format_datetime(now)}),
    )
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CreateVms {
    /// How many.
    #[serde(default = "one")]
    count: usize,
    /// The owning subscription (= user role id); optional.
    subscription_id: Option<Uuid>,
    /// The cloud (id or name); default the stamp's first cloud.
    cloud: Option<String>,
    /// Name prefix.
    name_prefix: Option<String>,
    /// Disk bytes per VM.
    total_size: Option<i64>,
    /// VM networks to connect.
    #[serde(default)]
    vm_network_ids: Vec<Uuid>,
    /// Skip the creation latency (the VMs are `Running` at once).
    #[serde(default)]
    running: bool,
    /// The VMs' description; one mentioning a pass-through disk makes them unprotectable.
    description: Option<String>,
}

fn one() -> usize {
    1
}

async fn create_vms(
    State(state): State<Arc<LabState>>,
    Path(name): Path<String>,
    Json(body): Json<CreateVms>,
) -> Response {
    let knobs = state.knobs();
    let (mut world, now) = state.world();
    let Some(i) = world.stamp_index(&name) else {
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("no stamp '{name}'")}),
        );
    };
    let cloud = match &body.cloud {
        None => world.stamps[i].clouds.keys().next().copied(),
        Some(c) => world.stamps[i]
            .clouds
            .values()
            .find(|cl| cl.name.eq_ignore_ascii_case(c) || cl.id.to_string().eq_ignore_ascii_case(c))
            .map(|cl| cl.id),
    };
    let Some(cloud) = cloud else {
        return bad("no such cloud on that stamp");
    };
    let owner = match body.subscription_id {
        None => None,
        Some(id) => match world.stamps[i].roles.get(&id) {
            Some(role) => Some(Owner {
                user_name: role.members.first().cloned().unwrap_or_default(),
                role_name: role.name.clone(),
                role_id: role.id,
            }),
            None => return bad(format!("no user role {id} on stamp {name}")),
        },
    };
    let prefix = body.name_prefix.clone().unwrap_or_else(|| "vm".into());
    let mut ids = Vec::new();
    for n in 0..body.count {
        let id = world.new_id();
        let vm_id = world.new_id();
        let vm = Vm {
            id,
            name: format!("{prefix}-{n:03}"),
            vm_id,
            cloud_id: Some(cloud),
            owner: owner.clone(),
            power: Power::Running,
            creating_until: (!body.running)
                .then(|| super::clock::after(now, knobs.vm_create_seconds)),
            cpu_count: 2,
            memory_mb: 4096,
            total_size: body.total_size.unwrap_or(40 << 30),
            tag: String::new(),
            description: body.description.clone().unwrap_or_default(),
            is_recovery_vm: false,
            vm_network_ids: body.vm_network_ids.clone(),
            added: now,
            modified: now,
        };
        world.stamps[i].vms.insert(id, vm);
        ids.push(id);
    }
    json_response(StatusCode::CREATED, json!({"ids": ids}))
}
