//! `protect_new_vms`: the safety net behind the VM events. For each stamp that is the primary
//! stamp of a DR subscription being enabled or enabled, it reads from SPF only the VMs modified
//! since the stamp's cursor, keeps those of such a subscription, in its pair's primary cloud and
//! not yet Protected or Excluded, and hands each to the per-VM core ([`reconcile_vm`]).
//!
//! Cost follows changes, not VMs: one SPF listing per stamp filtered on `ModifiedTime`, and a
//! store read per changed VM. The cursor is the newest `ModifiedTime` SPF showed (SPF's clock,
//! not ours), read again with an overlap window for VMs committed out of order; it is advanced by
//! a step planned in the same stage as the VMs' reconcile steps, so it moves only once every VM
//! read was durably handed over, and a crash before that re-reads them. The first run of a stamp
//! (no cursor), or `only_changed = false`, reads every VM of the stamp. The VMs are handed over
//! oldest change first.

use std::collections::{BTreeSet, HashMap};
use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use crate::domain::{CloudPair, DrPhase, DrSubscription, SubscriptionId, VmProtectionState};
use crate::engine::{RetryPolicy, StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::spf::{Vm, VmQuery};

use super::fabric_refs::{pair, spf_stamp_id, stamp};
use super::protect::{needs_another_look, recheck_delay, reconcile_vm};
use super::reconcile_vm::{subscription_id_of, vm_id_of, vm_step_retry_policy};
use super::runbook_support::{all_in_phase, bool_param, outcome};
use super::{StampClients, Stop, check_again, failures_so_far, retry};

/// The workflow's registered name.
pub const PROTECT_NEW_VMS: &str = "protect_new_vms";

/// How far before the cursor each read starts again: VMs SPF committed out of order, clock skew
/// between VMM servers.
pub const CURSOR_OVERLAP: time::Duration = time::Duration::minutes(2);

/// The cursor's name for a stamp.
pub fn cursor_name(stamp_id: Uuid) -> String {
    format!("protect_new_vms:stamp:{stamp_id}")
}

/// The safety-net workflow; parameters `{"only_changed": true}`.
pub struct ProtectNewVms {
    clients: Arc<StampClients>,
}

impl ProtectNewVms {
    /// The workflow, reaching SPF and the per-VM core through `clients`.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self { clients }
    }
}

#[async_trait]
impl Workflow for ProtectNewVms {
    fn name(&self) -> &'static str {
        PROTECT_NEW_VMS
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        bool_param(params, "only_changed", true).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![
            StepSpec::new("find primary stamps", "find_stamps").at_least_once(),
        ]]
    }

    fn retry_policy(&self, kind: &str) -> RetryPolicy {
        match kind {
            "reconcile_vm" => vm_step_retry_policy(),
            _ => RetryPolicy::default(),
        }
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        match step.kind.as_str() {
            "find_stamps" => outcome(find_stamps(ctx).await),
            "scan_stamp" => outcome(self.scan_stamp(ctx, step).await),
            "advance_cursor" => outcome(advance_cursor(ctx, step).await),
            "reconcile_vm" => self.reconcile(ctx, step).await,
            other => StepOutcome::Fail(format!("unknown step kind '{other}'")),
        }
    }
}

/// Fans out one scan per stamp that is the primary of an Enabling or Enabled subscription.
async fn find_stamps(ctx: &StepContext) -> Result<StepOutcome, Stop> {
    let mut stamps = BTreeSet::new();
    for phase in [DrPhase::Enabling, DrPhase::Enabled] {
        for dr in all_in_phase(&ctx.store, phase).await? {
            stamps.extend(dr.primary_stamp_id);
        }
    }
    let output = json!({ "stamps": stamps.iter().map(Uuid::to_string).collect::<Vec<_>>() });
    if stamps.is_empty() {
        return Ok(StepOutcome::Done(output));
    }
    let scans = stamps
        .into_iter()
        .map(|id| {
            StepSpec::new(format!("scan stamp {id}"), "scan_stamp")
                .with_input(json!({ "stampId": id.to_string() }))
                .at_least_once()
        })
        .collect();
    Ok(StepOutcome::DoneThen {
        output,
        next: vec![scans],
    })
}

fn stamp_id_of(input: &Value) -> Result<Uuid, Stop> {
    input
        .get("stampId")
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| Stop::Final("the step names no stamp".into()))
}

fn format_time(at: OffsetDateTime) -> Result<String, Stop> {
    at.format(&Rfc3339)
        .map_err(|e| Stop::Final(format!("cannot write time {at}: {e}")))
}

/// The DR subscriptions and pairs seen while filtering one listing.
#[derive(Default)]
struct Seen {
    subscriptions: HashMap<Uuid, Option<DrSubscription>>,
    pairs: HashMap<Uuid, CloudPair>,
}

impl ProtectNewVms {
    /// Reads the stamp's VMs changed since its cursor and plans their reconciles and the
    /// cursor's advance, in one stage.
    async fn scan_stamp(&self, ctx: &StepContext, step: &StepSpec) -> Result<StepOutcome, Stop> {
        let only_changed = bool_param(&ctx.params, "only_changed", true).map_err(Stop::Final)?;
        let stamp_id = stamp_id_of(&step.input)?;
        let stamp = stamp(&ctx.store, stamp_id).await?;
        let cursor = if only_changed {
            ctx.store
                .get_cursor(&cursor_name(stamp_id))
                .await?
                .and_then(|text| OffsetDateTime::parse(&text, &Rfc3339).ok())
        } else {
            None
        };
        let vmm_stamp = spf_stamp_id(&self.clients, &ctx.store, &stamp).await?;
        let query = VmQuery {
            stamp_id: Some(vmm_stamp),
            modified_since: cursor.map(|c| c - CURSOR_OVERLAP),
            ..VmQuery::default()
        };
        let mut vms = self.clients.spf(&stamp)?.list_vms(&query).await?;
        // Oldest change first: the engine takes a stage's steps in the order they were planned,
        // and SPF lists in an order of its own (by id, say), so a VM created just after the
        // previous read, which has waited longest, would otherwise wait its turn behind
        // younger ones.
        vms.sort_by_key(|vm| vm.modified_time);
        let newest = vms.iter().filter_map(|vm| vm.modified_time).max();

        let mut seen = Seen::default();
        let mut wanted = Vec::new();
        for vm in &vms {
            if let Some(sub) = self.wants(ctx, stamp_id, vm, &mut seen).await? {
                wanted.push((sub, vm));
            }
        }
        let output = json!({
            "stamp": stamp.name,
            "fullRead": cursor.is_none(),
            "since": cursor.map(format_time).transpose()?,
            "read": vms.len(),
            "toReconcile": wanted.iter().map(|(_, vm)| vm.id.to_string()).collect::<Vec<_>>(),
        });
        let mut stage: Vec<StepSpec> = wanted
            .iter()
            .map(|(sub, vm)| {
                StepSpec::new(
                    format!("reconcile vm {} ({})", vm.name, vm.id),
                    "reconcile_vm",
                )
                .with_input(json!({ "subscriptionId": sub.to_string(), "vmId": vm.id.to_string() }))
                .at_least_once()
            })
            .collect();
        // The cursor never moves back, and moves only when SPF showed something newer.
        if let Some(newest) = newest.filter(|n| cursor.is_none_or(|c| *n > c)) {
            stage.push(
                StepSpec::new(
                    format!("advance cursor of stamp {}", stamp.name),
                    "advance_cursor",
                )
                .with_input(
                    json!({ "stampId": stamp_id.to_string(), "cursor": format_time(newest)? }),
                )
                .at_least_once(),
            );
        }
        Ok(if stage.is_empty() {
            StepOutcome::Done(output)
        } else {
            StepOutcome::DoneThen {
                output,
                next: vec![stage],
            }
        })
    }

    /// The subscription a VM of `stamp_id` must be reconciled for, if any: owned by a DR
    /// subscription that is Enabling or Enabled with this stamp as primary, in its pair's primary
    /// cloud, and with no record yet or one not Protected or Excluded.
    async fn wants(
        &self,
        ctx: &StepContext,
        stamp_id: Uuid,
        vm: &Vm,
        seen: &mut Seen,
    ) -> Result<Option<SubscriptionId>, Stop> {
        if vm.is_recovery_vm == Some(true) {
            return Ok(None);
        }
        let Some(role) = vm.owner.as_ref().and_then(|o| o.role_id) else {
            return Ok(None);
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = seen.subscriptions.entry(role) {
            slot.insert(
                ctx.store
                    .get_dr_subscription(SubscriptionId::from(role))
                    .await?,
            );
        }
        let Some(Some(dr)) = seen.subscriptions.get(&role) else {
            return Ok(None);
        };
        if !matches!(dr.phase, DrPhase::Enabling | DrPhase::Enabled)
            || dr.primary_stamp_id != Some(stamp_id)
        {
            return Ok(None);
        }
        let Some(pair_id) = dr.pair_id else {
            return Ok(None);
        };
        if let std::collections::hash_map::Entry::Vacant(slot) = seen.pairs.entry(pair_id) {
            slot.insert(pair(&ctx.store, pair_id).await?);
        }
        if vm.cloud_id != Some(seen.pairs[&pair_id].primary.cloud_id) {
            return Ok(None);
        }
        let settled = ctx
            .store
            .get_protected_vm(dr.subscription_id, vm.id)
            .await?
            .is_some_and(|r| {
                matches!(
                    r.state,
                    VmProtectionState::Protected | VmProtectionState::Excluded
                )
            });
        Ok((!settled).then_some(dr.subscription_id))
    }

    /// Runs the per-VM core for one VM, looking again while it moves; a VM the core gives up
    /// on is reported in the step's output (its record says why), not a failure of the run.
    async fn reconcile(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let (sub, vm_id) = match (subscription_id_of(&step.input), vm_id_of(&step.input)) {
            (Ok(sub), Ok(vm)) => (sub, vm),
            (Err(message), _) | (_, Err(message)) => return StepOutcome::Fail(message),
        };
        let dr = match ctx.store.get_dr_subscription(sub).await {
            Ok(Some(dr)) => dr,
            Ok(None) => {
                return StepOutcome::Done(
                    json!({ "vmId": vm_id.to_string(), "skipped": "DR record removed" }),
                );
            }
            Err(err) => return retry(format!("the store failed: {err}")),
        };
        match reconcile_vm(&self.clients, &ctx.store, &dr, vm_id).await {
            Ok(vm) if needs_another_look(&vm) => check_again(
                format!("VM '{}' is {}", vm.name, vm.state.as_str()),
                recheck_delay(failures_so_far(ctx).await),
            ),
            Ok(vm) => StepOutcome::Done(json!({
                "vmId": vm.vm_id.to_string(),
                "state": vm.state.as_str(),
                "reason": vm.reason,
            })),
            Err(Stop::Transient(reason)) => retry(reason),
            Err(Stop::Final(reason)) => {
                tracing::warn!(%vm_id, %reason, "protect_new_vms could not reconcile a VM");
                StepOutcome::Done(json!({ "vmId": vm_id.to_string(), "error": reason }))
            }
        }
    }
}

/// Moves a stamp's cursor forward (never back: a slower, older run cannot undo a newer one).
async fn advance_cursor(ctx: &StepContext, step: &StepSpec) -> Result<StepOutcome, Stop> {
    let stamp_id = stamp_id_of(&step.input)?;
    let cursor = step
        .input
        .get("cursor")
        .and_then(Value::as_str)
        .and_then(|s| OffsetDateTime::parse(s, &Rfc3339).ok())
        .ok_or_else(|| Stop::Final("the step names no cursor time".into()))?;
    let name = cursor_name(stamp_id);
    let current = ctx
        .store
        .get_cursor(&name)
        .await?
        .and_then(|text| OffsetDateTime::parse(&text, &Rfc3339).ok());
    if current.is_some_and(|c| c >= cursor) {
        return Ok(StepOutcome::Done(json!({ "cursor": "unchanged" })));
    }
    let text = format_time(cursor)?;
    ctx.store.set_cursor(&name, &text).await?;
    Ok(StepOutcome::Done(json!({ "cursor": text })))
}
