//! VM events from the fabric, as SPF/SMA event runbooks send them: `POST /admin/events/vms`.
//!
//! Body (JSON or DataContract XML, member names in any case):
//!
//! ```json
//! {"event": "created" | "deleted" | "changed", "stampId": "<wapdr stamp id or SPF StampId>", "vmId": "<SPF VM id>"}
//! ```
//!
//! The SPF `VirtualMachine` entity an SMA runbook receives is accepted as is, with the event
//! beside it (`Event`, `EventType` or `Action`): its `ID` is the VM and its `StampId` the stamp
//! (in that shape `VMId` is the Hyper-V id, so `ID` wins when both are present). Event names
//! also read as `Create`/`Added`, `Delete`/`Removed`, `Update`/`Modified`. `stampId` may be left
//! out of a `deleted` event of a VM wapdr already knows.
//!
//! The answer is 202 with `Action` `Reconcile` and the `JobId` of a `reconcile_vm` job, durably
//! started, that brings the VM to what its DR subscription wants (a new VM protected, a deleted
//! one's protection disabled); or 202 with `Action` `None` and a `Message` saying why there is
//! nothing to do (the VM belongs to no DR subscription, or not to one on this stamp as primary):
//! an event runbook fires for every VM, so "not ours" is not an error. Bad input is 400 and
//! changes nothing; an unknown stamp is 404; SPF unreachable while finding a new VM's owner 502.
//!
//! This is the one path for VM events: it does not also start the `protect-new-vms` runbook,
//! which stays the scheduled safety net.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::{DrPhase, Stamp, SubscriptionId};
use crate::engine::{StartRequest, start_run};
use crate::workflows::{RECONCILE_VM, reconcile_vm_params};

use super::AppState;
use super::error::ApiError;
use super::wire::{Negotiated, Reply, WapBody};

/// The event routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(vm_event))
}

/// What happened to the VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum VmEvent {
    Created,
    Deleted,
    Changed,
}

impl VmEvent {
    fn parse(text: &str) -> Option<Self> {
        match text.trim().to_ascii_lowercase().as_str() {
            "created" | "create" | "added" | "add" | "vm.created" => Some(Self::Created),
            "deleted" | "delete" | "removed" | "remove" | "vm.deleted" => Some(Self::Deleted),
            "changed" | "change" | "modified" | "update" | "updated" | "vm.changed" => {
                Some(Self::Changed)
            }
            _ => None,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Created => "created",
            Self::Deleted => "deleted",
            Self::Changed => "changed",
        }
    }
}

/// The event body, read tolerantly; checked in [`vm_event`].
pub struct VmEventInput {
    event: Option<String>,
    stamp_id: Option<String>,
    vm_id: Option<String>,
}

impl FromWire for VmEventInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        // In SPF's entity shape `ID` is the VM and `VMId` the Hyper-V id: `ID` wins.
        let vm_id = match node.optional_str(&["ID"])? {
            Some(id) => Some(id),
            None => node.optional_str(&["VmId", "VirtualMachineId"])?,
        };
        Ok(Self {
            event: node.optional_str(&["Event", "EventType", "Action"])?,
            stamp_id: node.optional_str(&["StampId"])?,
            vm_id,
        })
    }
}

/// The answer: what wapdr will do about the event.
pub struct VmEventAnswer {
    event: VmEvent,
    vm_id: Uuid,
    subscription_id: Option<SubscriptionId>,
    job_id: Option<Uuid>,
    message: String,
}

impl ToWire for VmEventAnswer {
    const XML_ROOT: &'static str = "VmEventAnswer";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("Event", Out::Str(self.event.as_str().into())),
            ("VmId", Out::Str(self.vm_id.to_string())),
            (
                "SubscriptionId",
                Out::opt_str(&self.subscription_id.map(|s| s.to_string())),
            ),
            (
                "Action",
                Out::Str(
                    if self.job_id.is_some() {
                        "Reconcile"
                    } else {
                        "None"
                    }
                    .into(),
                ),
            ),
            ("JobId", Out::opt_str(&self.job_id.map(|j| j.to_string()))),
            ("Message", Out::Str(self.message.clone())),
        ])
    }
}

/// The stamp an event names: wapdr's id, or the VMM stamp id SPF reports.
async fn event_stamp(state: &AppState, id: &str) -> Result<Stamp, ApiError> {
    let uuid = Uuid::parse_str(id.trim())
        .map_err(|_| ApiError::BadRequest(format!("stampId '{id}' is not a GUID.")))?;
    if let Some(stamp) = state.store.get_stamp(uuid).await? {
        return Ok(stamp);
    }
    state
        .store
        .list_stamps()
        .await?
        .into_iter()
        .find(|s| s.spf_stamp_id == Some(uuid))
        .ok_or_else(|| ApiError::NotFound(format!("Stamp {uuid} is not known to wapdr.")))
}

/// `POST /admin/events/vms`: see the module documentation.
#[utoipa::path(post, path = "/events/vms", request_body = super::schemas::VmEvent, responses((status = 200, description = "Nothing to do.", body = super::schemas::VmEventAnswer), (status = 202, description = "Work started.", body = super::schemas::VmEventAnswer)))]
#[tracing::instrument(skip_all, fields(vm_id, subscription_id, job_id), err)]
async fn vm_event(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(input): WapBody<VmEventInput>,
) -> Result<Reply<VmEventAnswer>, ApiError> {
    let event_text = input.event.ok_or_else(|| {
        ApiError::BadRequest("event is required (created, deleted or changed).".into())
    })?;
    let event = VmEvent::parse(&event_text).ok_or_else(|| {
        ApiError::BadRequest(format!(
            "event '{event_text}' is not one of created, deleted, changed."
        ))
    })?;
    let vm_text = input
        .vm_id
        .ok_or_else(|| ApiError::BadRequest("vmId is required (the VM's SPF id).".into()))?;
    let vm_id = Uuid::parse_str(vm_text.trim())
        .map_err(|_| ApiError::BadRequest(format!("vmId '{vm_text}' is not a GUID.")))?;
    tracing::Span::current().record("vm_id", tracing::field::display(vm_id));
    let stamp = match &input.stamp_id {
        Some(id) => Some(event_stamp(&state, id).await?),
        None if event == VmEvent::Deleted => None,
        None => {
            return Err(ApiError::BadRequest(
                "stampId is required (wapdr's stamp id or the SPF StampId).".into(),
            ));
        }
    };
    let answer = |subscription_id, message: String| VmEventAnswer {
        event,
        vm_id,
        subscription_id,
        job_id: None,
        message,
    };

    // A VM wapdr already knows names its subscription; a new one is asked of SPF for its owner.
    let known = state.store.find_protected_vm(vm_id).await?;
    let subscription = match (&known, &stamp) {
        (Some(record), _) => Some(record.subscription_id),
        (None, _) if event == VmEvent::Deleted => None,
        (None, Some(stamp)) => {
            let spf = state.fabric.spf(stamp)?;
            let vmm_stamp = match stamp.spf_stamp_id {
                Some(id) => id,
                None => {
                    return Err(ApiError::Conflict(format!(
                        "Stamp '{}' has not been verified yet (its VMM stamp id is unknown): POST /admin/stamps/{}/verify.",
                        stamp.name, stamp.id
                    )));
                }
            };
            spf.get_vm(vmm_stamp, vm_id)
                .await?
                .and_then(|vm| vm.owner.and_then(|o| o.role_id))
                .map(SubscriptionId::from)
        }
        (None, None) => None,
    };
    let Some(subscription) = subscription else {
        let why = if event == VmEvent::Deleted {
            "wapdr has no record of this VM; nothing to disable."
        } else {
            "The VM is not found or has no owner subscription on that stamp; nothing to do."
        };
        return Ok(Reply::with_status(
            StatusCode::ACCEPTED,
            format,
            answer(None, why.into()),
        ));
    };
    tracing::Span::current().record("subscription_id", tracing::field::display(subscription));
    let dr = state.store.get_dr_subscription(subscription).await?;
    let Some(dr) = dr.filter(|dr| {
        matches!(
            dr.phase,
            DrPhase::Enabling | DrPhase::Enabled | DrPhase::Disabling
        )
    }) else {
        return Ok(Reply::with_status(
            StatusCode::ACCEPTED,
            format,
            answer(
                Some(subscription),
                format!("Subscription {subscription} does not have DR enabled; nothing to do."),
            ),
        ));
    };
    if let (Some(stamp), None) = (&stamp, &known) {
        if dr.primary_stamp_id != Some(stamp.id) {
            return Ok(Reply::with_status(
                StatusCode::ACCEPTED,
                format,
                answer(
                    Some(subscription),
                    format!(
                        "The VM is on stamp '{}', not subscription {subscription}'s primary stamp; nothing to do.",
                        stamp.name
                    ),
                ),
            ));
        }
    }
    let created = start_run(
        &state.store,
        &state.registry,
        StartRequest {
            workflow: RECONCILE_VM.into(),
            params: reconcile_vm_params(subscription, vm_id),
            trigger: "event".into(),
            started_by: format!("event vm.{}", event.as_str()),
            reason: Some(format!("VM {vm_id} {}", event.as_str())),
            dedupe_key: None,
        },
    )
    .await?;
    tracing::Span::current().record("job_id", tracing::field::display(created.id));
    Ok(Reply::with_status(
        StatusCode::ACCEPTED,
        format,
        VmEventAnswer {
            event,
            vm_id,
            subscription_id: Some(subscription),
            job_id: Some(created.id),
            message: format!(
                "VM {vm_id} {} is being reconciled for subscription {subscription}.",
                event.as_str()
            ),
        },
    ))
}
