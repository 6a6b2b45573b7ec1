//! The admin API's cloud pairs: primary plan and cloud on one stamp ↔ recovery plan and cloud on
//! another, with a replication policy; their network mappings and test-failover network.
//!
//! Creating a pair reads both stamps' plans live (the plan ↔ cloud bindings live in WAP, not in
//! wapdr), checks the domain's pairing rules (400 with the rule's message, 409 for a primary plan
//! already paired), stores the pair as `Pending` and starts its pairing. A stamp that cannot be
//! reached is a 502 naming the service. Bad input changes nothing.

use std::collections::{BTreeMap, BTreeSet};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::{
    CloudPair, NetworkMapping, PairSide, PairState, PairingError, RequestedSide, Stamp, StampPlans,
    check_new_pair, setup::validate_network_mappings,
};
use crate::engine::{StartRequest, start_run};
use crate::fabric::spf::NetworkQuery;
use crate::store::StoreError;
use crate::workflows::{PAIR_CLOUDS, pair_clouds_params};

use super::AppState;
use super::error::ApiError;
use super::stamp_checks::spf_and_stamp;
use super::wire::{Negotiated, Reply, WapBody};

/// The cloud-pair routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_pairs, create_pair))
        .routes(routes!(get_pair, delete_pair))
        .routes(routes!(get_mappings, put_mappings))
        .routes(routes!(put_test_network))
}

/// A pair on the wire, with its stamps' names.
pub struct PairWire {
    pair: CloudPair,
    names: BTreeMap<Uuid, String>,
}

/// Every pair.
pub struct PairList(Vec<PairWire>);

fn side_to_wire(side: &PairSide, names: &BTreeMap<Uuid, String>) -> Out {
    Out::Obj(vec![
        ("StampId", Out::Str(side.stamp_id.to_string())),
        (
            "StampName",
            Out::opt_str(&names.get(&side.stamp_id).cloned()),
        ),
        ("PlanId", Out::Str(side.plan_id.clone())),
        ("PlanName", Out::Str(side.plan_name.clone())),
        ("CloudId", Out::Str(side.cloud_id.to_string())),
    ])
}

impl ToWire for PairWire {
    const XML_ROOT: &'static str = "CloudPair";

    fn to_wire(&self) -> Out {
        let p = &self.pair;
        Out::Obj(vec![
            ("Id", Out::Str(p.id.to_string())),
            ("Primary", side_to_wire(&p.primary, &self.names)),
            ("Recovery", side_to_wire(&p.recovery, &self.names)),
            ("Policy", Out::Str(p.policy.clone())),
            ("State", Out::Str(p.state.as_str().into())),
            ("Error", Out::opt_str(&p.error)),
            (
                "TestNetworkId",
                p.test_network_id
                    .map_or(Out::Null, |id| Out::Str(id.to_string())),
            ),
        ])
    }
}

impl ToWire for PairList {
    const XML_ROOT: &'static str = "CloudPairs";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "CloudPair",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}

/// A side of a new pair: the stamp (id or name), the plan id and the cloud id.
struct SideInput {
    stamp: String,
    plan_id: String,
    cloud_id: String,
}

impl FromWire for SideInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            stamp: node.required_str(&["StampId", "Stamp"])?,
            plan_id: node.required_str(&["PlanId"])?,
            cloud_id: node.required_str(&["CloudId"])?,
        })
    }
}

/// The body of `POST /admin/cloud-pairs`.
pub struct PairInput {
    primary: SideInput,
    recovery: SideInput,
    policy: String,
}

impl FromWire for PairInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let side = |name: &str| {
            node.optional::<SideInput>(&[name])?
                .ok_or_else(|| ContractError::member(name, "is required"))
        };
        Ok(Self {
            primary: side("Primary")?,
            recovery: side("Recovery")?,
            policy: node.required_str(&["Policy"])?,
        })
    }
}

/// The stamp a side names, by id or by name (ignoring case).
fn find_stamp<'a>(stamps: &'a [Stamp], text: &str) -> Result<&'a Stamp, ApiError> {
    let text = text.trim();
    let by_id = Uuid::parse_str(text).ok();
    stamps
        .iter()
        .find(|s| Some(s.id) == by_id || s.name.eq_ignore_ascii_case(text))
        .ok_or_else(|| ApiError::BadRequest(format!("Stamp '{text}' is not known.")))
}

fn requested(stamp: &Stamp, side: &SideInput, which: &str) -> Result<RequestedSide, ApiError> {
    let cloud_id = Uuid::parse_str(side.cloud_id.trim()).map_err(|_| {
        ApiError::BadRequest(format!(
            "{which}.CloudId '{}' is not a valid GUID.",
            side.cloud_id
        ))
    })?;
    Ok(RequestedSide {
        stamp_id: stamp.id,
        plan_id: side.plan_id.trim().to_owned(),
        cloud_id,
    })
}

impl From<PairingError> for ApiError {
    fn from(err: PairingError) -> Self {
        match err {
            PairingError::Conflict { .. } => Self::Conflict(err.to_string()),
            _ => Self::BadRequest(err.to_string()),
        }
    }
}

pub(super) fn stamp_names(stamps: &[Stamp]) -> BTreeMap<Uuid, String> {
    stamps.iter().map(|s| (s.id, s.name.clone())).collect()
}

async fn pair_by_id(state: &AppState, id: &str) -> Result<CloudPair, ApiError> {
    let not_found = || ApiError::NotFound(format!("Cloud pair {id} is not known."));
    let uuid = Uuid::parse_str(id.trim()).map_err(|_| not_found())?;
    state
        .store
        .get_cloud_pair(uuid)
        .await?
        .ok_or_else(not_found)
}

async fn wire(state: &AppState, pair: CloudPair) -> Result<PairWire, ApiError> {
    let names = stamp_names(&state.store.list_stamps().await?);
    Ok(PairWire { pair, names })
}

/// `GET /admin/cloud-pairs`: every pair with its state.
#[utoipa::path(get, path = "/cloud-pairs", responses((status = 200, description = "The pairs.", body = Vec<super::schemas::CloudPair>)))]
async fn list_pairs(
    State(state): State<AppState>,
    format: Negotiated,
) -> Result<Reply<PairList>, ApiError> {
    let names = stamp_names(&state.store.list_stamps().await?);
    let pairs = state.store.list_cloud_pairs().await?;
    Ok(Reply::ok(
        format,
        PairList(
            pairs
                .into_iter()
                .map(|pair| PairWire {
                    pair,
                    names: names.clone(),
                })
                .collect(),
        ),
    ))
}

/// `GET /admin/cloud-pairs/{id}`: one pair with its state (and the pairing's error, if any).
#[utoipa::path(get, path = "/cloud-pairs/{id}", params(("id" = String, Path, description = "The cloud pair (its id, a GUID).")), responses((status = 200, description = "The pair.", body = super::schemas::CloudPair)))]
async fn get_pair(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<PairWire>, ApiError> {
    let pair = pair_by_id(&state, &id).await?;
    Ok(Reply::ok(format, wire(&state, pair).await?))
}

/// `POST /admin/cloud-pairs` with `Primary` and `Recovery` (`StampId` or stamp name, `PlanId`,
/// `CloudId`) and `Policy`: 201 with the pair, `Pending` until the `pair_clouds` job (started
/// here) has the replication engine pair the clouds; then `Paired`, or `Failed` with `Error`.
#[utoipa::path(post, path = "/cloud-pairs", request_body = super::schemas::CloudPairInput, responses((status = 201, description = "The pair, Pending until paired.", body = super::schemas::CloudPair)))]
async fn create_pair(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(input): WapBody<PairInput>,
) -> Result<Reply<PairWire>, ApiError> {
    let stamps = state.store.list_stamps().await?;
    let primary_stamp = find_stamp(&stamps, &input.primary.stamp)?;
    let recovery_stamp = find_stamp(&stamps, &input.recovery.stamp)?;
    let primary = requested(primary_stamp, &input.primary, "Primary")?;
    let recovery = requested(recovery_stamp, &input.recovery, "Recovery")?;
    let policy = state
        .store
        .get_policy(&input.policy)
        .await?
        .ok_or_else(|| {
            ApiError::BadRequest(format!(
                "Replication policy '{}' is not known.",
                input.policy
            ))
        })?;
    // Both sides on one stamp is refused before any stamp is called.
    let (primary_plans, recovery_plans) = if primary_stamp.id == recovery_stamp.id {
        let none = StampPlans {
            stamp_id: primary_stamp.id,
            stamp_name: primary_stamp.name.clone(),
            plans: Vec::new(),
        };
        (none.clone(), none)
    } else {
        let (p, r) = tokio::join!(
            state.fabric.plans(primary_stamp),
            state.fabric.plans(recovery_stamp)
        );
        (p?, r?)
    };
    let existing = state.store.list_cloud_pairs().await?;
    let names = stamp_names(&stamps);
    let (primary_side, recovery_side) = check_new_pair(
        &primary,
        &recovery,
        &primary_plans,
        &recovery_plans,
        &existing,
        |id| names.get(&id).cloned().unwrap_or_else(|| id.to_string()),
    )?;
    let pair = CloudPair {
        id: Uuid::new_v4(),
        primary: primary_side,
        recovery: recovery_side,
        policy: policy.name,
        state: PairState::Pending,
        error: None,
        test_network_id: None,
    };
    state
        .store
        .insert_cloud_pair(&pair)
        .await
        .map_err(|e| match e {
            // Another request paired the same primary plan in the meantime.
            StoreError::Conflict => ApiError::Conflict(format!(
                "Plan '{}' was paired by another request at the same time.",
                pair.primary.plan_name
            )),
            other => other.into(),
        })?;
    tracing::info!(pair = %pair.id, primary = %pair.primary.plan_id, recovery = %pair.recovery.plan_id, "cloud pair created");
    let reason = format!(
        "pair '{}' with '{}'",
        pair.primary.plan_name, pair.recovery.plan_name
    );
    start_pairing(
        &state,
        &pair,
        reason,
        Some(format!("{PAIR_CLOUDS}:{}", pair.id)),
    )
    .await?;
    Ok(Reply::with_status(
        StatusCode::CREATED,
        format,
        PairWire { pair, names },
    ))
}

/// Starts a `pair_clouds` run of a stored pair (`dedupe_key`: the logical job, so a retried
/// request starts one); if it cannot start, the pair is marked Failed so it never stays Pending
/// with nothing working on it.
pub(super) async fn start_pairing(
    state: &AppState,
    pair: &CloudPair,
    reason: String,
    dedupe_key: Option<String>,
) -> Result<(), ApiError> {
    let request = StartRequest {
        workflow: PAIR_CLOUDS.into(),
        params: pair_clouds_params(pair.id),
        trigger: "api".into(),
        started_by: "admin".into(),
        reason: Some(reason),
        dedupe_key,
    };
    if let Err(err) = start_run(&state.store, &state.registry, request).await {
        let message = format!("The pairing could not be started: {err}");
        state
            .store
            .set_pair_state(pair.id, PairState::Failed, Some(&message))
            .await?;
        return Err(err.into());
    }
    Ok(())
}

/// `DELETE /admin/cloud-pairs/{id}`: 204; the pair and its network mappings are forgotten (the
/// replication engine's pairing is left as it is).
#[utoipa::path(delete, path = "/cloud-pairs/{id}", params(("id" = String, Path, description = "The cloud pair (its id, a GUID).")), responses((status = 204, description = "Forgotten.")))]
async fn delete_pair(
    State(state): State<AppState>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let pair = pair_by_id(&state, &id).await?;
    state.store.delete_cloud_pair(pair.id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A pair's network mappings on the wire.
pub struct MappingList {
    pair_id: Uuid,
    test_network_id: Option<Uuid>,
    mappings: Vec<NetworkMapping>,
}

impl ToWire for MappingList {
    const XML_ROOT: &'static str = "NetworkMappings";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("CloudPairId", Out::Str(self.pair_id.to_string())),
            (
                "TestNetworkId",
                self.test_network_id
                    .map_or(Out::Null, |id| Out::Str(id.to_string())),
            ),
            (
                "Mappings",
                Out::List {
                    item: "NetworkMapping",
                    items: self
                        .mappings
                        .iter()
                        .map(|m| {
                            Out::Obj(vec![
                                (
                                    "PrimaryNetworkId",
                                    Out::Str(m.primary_network_id.to_string()),
                                ),
                                (
                                    "RecoveryNetworkId",
                                    Out::Str(m.recovery_network_id.to_string()),
                                ),
                            ])
                        })
                        .collect(),
                },
            ),
        ])
    }
}

/// One mapping in a PUT body.
struct MappingInput(NetworkMapping);

impl FromWire for MappingInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let guid = |name: &str| {
            let text = node.required_str(&[name])?;
            Uuid::parse_str(text.trim())
                .map_err(|_| ContractError::member(name, format!("'{text}' is not a valid GUID")))
        };
        Ok(Self(NetworkMapping {
            primary_network_id: guid("PrimaryNetworkId")?,
            recovery_network_id: guid("RecoveryNetworkId")?,
        }))
    }
}

/// The body of `PUT /admin/cloud-pairs/{id}/network-mappings`.
pub struct MappingsInput(Vec<NetworkMapping>);

impl FromWire for MappingsInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let items: Vec<MappingInput> = node.list(&["Mappings"])?;
        Ok(Self(items.into_iter().map(|m| m.0).collect()))
    }
}

/// The body of `PUT /admin/cloud-pairs/{id}/test-network`: `NetworkId` (null or absent clears it:
/// the codec reads an explicit null as absent).
pub struct TestNetworkInput(Option<Uuid>);

impl FromWire for TestNetworkInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        match node.optional_str(&["NetworkId"])? {
            None => Ok(Self(None)),
            Some(text) => Uuid::parse_str(text.trim())
                .map(|id| Self(Some(id)))
                .map_err(|_| {
                    ContractError::member("NetworkId", format!("'{text}' is not a valid GUID"))
                }),
        }
    }
}

async fn mappings_of(state: &AppState, pair: &CloudPair) -> Result<MappingList, ApiError> {
    let mappings = state
        .store
        .network_mappings(pair.id)
        .await?
        .ok_or_else(|| ApiError::NotFound(format!("Cloud pair {} is not known.", pair.id)))?;
    Ok(MappingList {
        pair_id: pair.id,
        test_network_id: pair.test_network_id,
        mappings,
    })
}

/// A stamp's name and the ids of its VM networks, live from its SPF.
async fn networks_of(
    state: &AppState,
    stamp_id: Uuid,
) -> Result<(String, BTreeSet<Uuid>), ApiError> {
    let stamp = state
        .store
        .get_stamp(stamp_id)
        .await?
        .ok_or_else(|| ApiError::Conflict(format!("Stamp {stamp_id} no longer exists.")))?;
    let (spf, spf_stamp_id) = spf_and_stamp(state, &stamp).await?;
    let query = NetworkQuery {
        stamp_id: Some(spf_stamp_id),
        owner_role_id: None,
    };
    let networks = spf.list_vm_networks(&query).await?;
    Ok((stamp.name, networks.into_iter().map(|n| n.id).collect()))
}

fn require_network(
    networks: &BTreeSet<Uuid>,
    stamp: &str,
    member: &str,
    id: Uuid,
) -> Result<(), ApiError> {
    if networks.contains(&id) {
        Ok(())
    } else {
        Err(ApiError::BadRequest(format!(
            "{member} {id} is not a VM network of stamp '{stamp}'."
        )))
    }
}

/// `GET /admin/cloud-pairs/{id}/network-mappings`: the mappings and the test-failover network.
#[utoipa::path(get, path = "/cloud-pairs/{id}/network-mappings", params(("id" = String, Path, description = "The cloud pair (its id, a GUID).")), responses((status = 200, description = "The mappings.", body = super::schemas::NetworkMappings)))]
async fn get_mappings(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<MappingList>, ApiError> {
    let pair = pair_by_id(&state, &id).await?;
    Ok(Reply::ok(format, mappings_of(&state, &pair).await?))
}

/// `PUT /admin/cloud-pairs/{id}/network-mappings` with `Mappings`: `[{PrimaryNetworkId,
/// RecoveryNetworkId}]`, replacing the pair's mappings; each primary network at most once, and
/// each network must be a VM network of its side's stamp (checked live: 502 when unreachable).
#[utoipa::path(put, path = "/cloud-pairs/{id}/network-mappings", params(("id" = String, Path, description = "The cloud pair (its id, a GUID).")), request_body = super::schemas::NetworkMappingsInput, responses((status = 200, description = "The mappings.", body = super::schemas::NetworkMappings), (status = 502, description = "A stamp did not answer.", body = super::schemas::WapErrorBody)))]
async fn put_mappings(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    WapBody(MappingsInput(mappings)): WapBody<MappingsInput>,
) -> Result<Reply<MappingList>, ApiError> {
    let pair = pair_by_id(&state, &id).await?;
    validate_network_mappings(&mappings)?;
    if !mappings.is_empty() {
        let (primary, recovery) = tokio::join!(
            networks_of(&state, pair.primary.stamp_id),
            networks_of(&state, pair.recovery.stamp_id)
        );
        let ((primary_stamp, primary), (recovery_stamp, recovery)) = (primary?, recovery?);
        for m in &mappings {
            require_network(
                &primary,
                &primary_stamp,
                "PrimaryNetworkId",
                m.primary_network_id,
            )?;
            require_network(
                &recovery,
                &recovery_stamp,
                "RecoveryNetworkId",
                m.recovery_network_id,
            )?;
        }
    }
    if !state
        .store
        .replace_network_mappings(pair.id, &mappings)
        .await?
    {
        return Err(ApiError::NotFound(format!("Cloud pair {id} is not known.")));
    }
    Ok(Reply::ok(format, mappings_of(&state, &pair).await?))
}

/// `PUT /admin/cloud-pairs/{id}/test-network` with `NetworkId` (a VM network of the recovery
/// stamp, checked live, or null to clear): the network test failovers of this pair attach to.
#[utoipa::path(put, path = "/cloud-pairs/{id}/test-network", params(("id" = String, Path, description = "The cloud pair (its id, a GUID).")), request_body = super::schemas::TestNetworkInput, responses((status = 200, description = "The pair.", body = super::schemas::CloudPair), (status = 502, description = "The recovery stamp did not answer.", body = super::schemas::WapErrorBody)))]
async fn put_test_network(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    WapBody(TestNetworkInput(network)): WapBody<TestNetworkInput>,
) -> Result<Reply<PairWire>, ApiError> {
    let mut pair = pair_by_id(&state, &id).await?;
    if let Some(network) = network {
        let (stamp, networks) = networks_of(&state, pair.recovery.stamp_id).await?;
        require_network(&networks, &stamp, "NetworkId", network)?;
    }
    if !state.store.set_test_network(pair.id, network).await? {
        return Err(ApiError::NotFound(format!("Cloud pair {id} is not known.")));
    }
    pair.test_network_id = network;
    Ok(Reply::ok(format, wire(&state, pair).await?))
}
