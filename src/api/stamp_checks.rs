//! The admin API's live view of a stamp: `verify` (a readable report of every service the stamp
//! depends on) and the discovered inventory (clouds, VM Clouds plans with their clouds, VM
//! networks), read through the fabric clients on each call.
//!
//! Verify never fails because a service is down: that is what the report says. Inventory of an
//! unreachable stamp is a 502 naming the service.

use axum::extract::{Path, State};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::contract::{Out, ToWire};
use crate::domain::{PlanBinding, Stamp};
use crate::fabric::SpfClient;
use crate::fabric::spf::{Cloud, NetworkQuery, VmNetwork};
use crate::workflows::stamp_verify::{StampReport, discover_spf_stamp, verify_stamp};

use super::AppState;
use super::error::ApiError;
use super::setup::stamp_by_id;
use super::wire::{Negotiated, Reply};

/// The verify and inventory routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(verify))
        .routes(routes!(clouds))
        .routes(routes!(plans))
        .routes(routes!(networks))
}

/// A verify report on the wire.
pub struct ReportWire(StampReport);

impl ToWire for ReportWire {
    const XML_ROOT: &'static str = "StampVerification";

    fn to_wire(&self) -> Out {
        let r = &self.0;
        let opt_bool = |b: Option<bool>| b.map_or(Out::Null, Out::Bool);
        Out::Obj(vec![
            ("StampId", Out::Str(r.stamp_id.to_string())),
            ("StampName", Out::Str(r.stamp_name.clone())),
            ("Ok", Out::Bool(r.ok())),
            (
                "SpfStampId",
                r.spf_stamp_id
                    .map_or(Out::Null, |id| Out::Str(id.to_string())),
            ),
            (
                "Checks",
                Out::List {
                    item: "ServiceCheck",
                    items: r
                        .checks
                        .iter()
                        .map(|c| {
                            Out::Obj(vec![
                                ("Service", Out::Str(c.service.into())),
                                ("Ok", Out::Bool(c.ok)),
                                ("Reachable", opt_bool(c.reachable)),
                                ("CredentialsAccepted", opt_bool(c.credentials_accepted)),
                                ("Message", Out::Str(c.message.clone())),
                                ("Found", Out::StrList(c.found.clone())),
                            ])
                        })
                        .collect(),
                },
            ),
        ])
    }
}

/// `POST /admin/stamps/{id}/verify`: the report (200 whatever it says). The VMM stamp id SPF
/// names is recorded on the stamp, for inventory and pairing.
#[utoipa::path(post, path = "/stamps/{id}/verify", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), responses((status = 200, description = "What answered.", body = super::schemas::StampVerification)))]
async fn verify(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<ReportWire>, ApiError> {
    let stamp = stamp_by_id(&state, &id).await?;
    let pairs = state.store.list_cloud_pairs().await?;
    let report = verify_stamp(&state.fabric, &stamp, &pairs).await;
    if let Some(found) = report
        .spf_stamp_id
        .filter(|f| Some(*f) != stamp.spf_stamp_id)
    {
        state.store.set_spf_stamp_id(stamp.id, found).await?;
    }
    tracing::info!(stamp = %stamp.name, ok = report.ok(), "stamp verified");
    Ok(Reply::ok(format, ReportWire(report)))
}

/// The SPF client of a stamp and its VMM stamp id (discovered, and recorded, when unknown).
pub(super) async fn spf_and_stamp(
    state: &AppState,
    stamp: &Stamp,
) -> Result<(SpfClient, Uuid), ApiError> {
    let spf = state.fabric.spf(stamp)?;
    let spf_stamp_id = match discover_spf_stamp(&spf, stamp).await? {
        Ok(id) => id,
        Err(message) => return Err(ApiError::Conflict(message)),
    };
    if stamp.spf_stamp_id != Some(spf_stamp_id) {
        state.store.set_spf_stamp_id(stamp.id, spf_stamp_id).await?;
    }
    Ok((spf, spf_stamp_id))
}

/// A stamp's clouds.
pub struct CloudList(Vec<Cloud>);

impl ToWire for CloudList {
    const XML_ROOT: &'static str = "Clouds";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "Cloud",
            items: self
                .0
                .iter()
                .map(|c| {
                    Out::Obj(vec![
                        ("Id", Out::Str(c.id.to_string())),
                        ("Name", Out::Str(c.name.clone())),
                        ("Description", Out::opt_str(&c.description)),
                    ])
                })
                .collect(),
        }
    }
}

/// `GET /admin/stamps/{id}/clouds`: the VMM clouds of the stamp, live from SPF.
#[utoipa::path(get, path = "/stamps/{id}/clouds", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), responses((status = 200, description = "The clouds.", body = Vec<super::schemas::Cloud>), (status = 502, description = "The stamp did not answer.", body = super::schemas::WapErrorBody)))]
async fn clouds(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<CloudList>, ApiError> {
    let stamp = stamp_by_id(&state, &id).await?;
    let (spf, spf_stamp_id) = spf_and_stamp(&state, &stamp).await?;
    let clouds = spf.list_clouds(spf_stamp_id).await?;
    Ok(Reply::ok(format, CloudList(clouds)))
}

/// A stamp's VM Clouds plans.
pub struct PlanList(Vec<PlanBinding>);

impl ToWire for PlanList {
    const XML_ROOT: &'static str = "Plans";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "Plan",
            items: self
                .0
                .iter()
                .map(|p| {
                    Out::Obj(vec![
                        ("Id", Out::Str(p.plan_id.clone())),
                        ("Name", Out::Str(p.plan_name.clone())),
                        (
                            "CloudId",
                            p.cloud_ids
                                .first()
                                .map_or(Out::Null, |id| Out::Str(id.to_string())),
                        ),
                        (
                            "CloudIds",
                            Out::StrList(p.cloud_ids.iter().map(Uuid::to_string).collect()),
                        ),
                    ])
                })
                .collect(),
        }
    }
}

/// `GET /admin/stamps/{id}/plans`: the stamp's VM Clouds plans with the cloud each is bound to,
/// live from its WAP admin API.
#[utoipa::path(get, path = "/stamps/{id}/plans", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), responses((status = 200, description = "The plans.", body = Vec<super::schemas::Plan>), (status = 502, description = "The stamp did not answer.", body = super::schemas::WapErrorBody)))]
async fn plans(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<PlanList>, ApiError> {
    let stamp = stamp_by_id(&state, &id).await?;
    let plans = state.fabric.plans(&stamp).await?;
    Ok(Reply::ok(format, PlanList(plans.plans)))
}

/// A stamp's VM networks.
pub struct NetworkList(Vec<VmNetwork>);

impl ToWire for NetworkList {
    const XML_ROOT: &'static str = "VmNetworks";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "VmNetwork",
            items: self
                .0
                .iter()
                .map(|n| {
                    Out::Obj(vec![
                        ("Id", Out::Str(n.id.to_string())),
                        ("Name", Out::Str(n.name.clone())),
                        ("Description", Out::opt_str(&n.description)),
                        ("IsolationType", Out::opt_str(&n.isolation_type)),
                        (
                            "OwnerRoleId",
                            n.owner
                                .as_ref()
                                .and_then(|o| o.role_id)
                                .map_or(Out::Null, |id| Out::Str(id.to_string())),
                        ),
                    ])
                })
                .collect(),
        }
    }
}

/// `GET /admin/stamps/{id}/networks`: the stamp's VM networks, live from SPF.
#[utoipa::path(get, path = "/stamps/{id}/networks", params(("id" = String, Path, description = "The stamp (its id, a GUID).")), responses((status = 200, description = "The VM networks.", body = Vec<super::schemas::VmNetwork>), (status = 502, description = "The stamp did not answer.", body = super::schemas::WapErrorBody)))]
async fn networks(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<NetworkList>, ApiError> {
    let stamp = stamp_by_id(&state, &id).await?;
    let (spf, spf_stamp_id) = spf_and_stamp(&state, &stamp).await?;
    let query = NetworkQuery {
        stamp_id: Some(spf_stamp_id),
        owner_role_id: None,
    };
    let networks = spf.list_vm_networks(&query).await?;
    Ok(Reply::ok(format, NetworkList(networks)))
}
