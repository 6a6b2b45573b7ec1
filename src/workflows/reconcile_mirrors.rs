//! `reconcile_mirrors`: for every DR subscription in phase Enabled, checks that the mirror
//! subscription on the recovery stamp still matches (same id, same account admin and co-admins,
//! the pair's recovery plan, Suspended — or Active after a failover, with the primary's then
//! Suspended) and that each replica VM is still owned by the subscription's user role there;
//! fixes what drifted behind wapdr's back and reports what it fixed in the step's output.
//!
//! One step lists the subscriptions and fans out one step per subscription, so one stamp's
//! outage retries only the subscriptions it touches. Every fix looks before it acts. With
//! `dry_run` it reports and changes nothing. A plan or account admin that differs cannot be
//! changed through the WAP admin API and is reported for the provider.

use std::sync::Arc;

use async_trait::async_trait;
use serde_json::{Value, json};

use crate::domain::{DrPhase, DrSubscription, MirrorState, Stamp, SubscriptionId};
use crate::engine::{StepContext, StepOutcome, StepSpec, Workflow};
use crate::fabric::spf::Owner;
use crate::fabric::wap_admin::{AdminSubscriptionState, SubscriptionStatus};

use super::StampClients;
use super::Stop;
use super::fabric_refs::{spf_stamp_id, stamp};
use super::mirror::{WantedMirror, align_mirror, ensure_user_role};
use super::runbook_support::{all_in_phase, bool_param, outcome};

/// The workflow's registered name.
pub const RECONCILE_MIRRORS: &str = "reconcile_mirrors";

/// The mirror-reconciling runbook's workflow; parameters `{"dry_run": false}`.
pub struct ReconcileMirrors {
    clients: Arc<StampClients>,
}

impl ReconcileMirrors {
    /// The workflow, reaching both stamps through `clients`.
    pub fn new(clients: Arc<StampClients>) -> Self {
        Self { clients }
    }
}

#[async_trait]
impl Workflow for ReconcileMirrors {
    fn name(&self) -> &'static str {
        RECONCILE_MIRRORS
    }

    fn validate(&self, params: &Value) -> Result<(), String> {
        bool_param(params, "dry_run", false).map(drop)
    }

    fn first_stages(&self, _params: &Value) -> Vec<Vec<StepSpec>> {
        vec![vec![
            StepSpec::new("list enabled subscriptions", "list").at_least_once(),
        ]]
    }

    fn subscription_of(&self, _params: &Value) -> Option<String> {
        None
    }

    #[tracing::instrument(skip_all, fields(run_id = %ctx.run_id, step = %step.name))]
    async fn run_step(&self, ctx: &StepContext, step: &StepSpec) -> StepOutcome {
        let result = match step.kind.as_str() {
            "list" => list(ctx).await,
            "reconcile_mirror" => self.reconcile(ctx, step).await.map(StepOutcome::Done),
            other => Err(Stop::Final(format!("unknown step kind '{other}'"))),
        };
        outcome(result)
    }
}

/// Lists the Enabled subscriptions and fans out one step each.
async fn list(ctx: &StepContext) -> Result<StepOutcome, Stop> {
    let steps: Vec<StepSpec> = all_in_phase(&ctx.store, DrPhase::Enabled)
        .await?
        .into_iter()
        .map(|dr| {
            StepSpec::new(
                format!("reconcile mirror {}", dr.subscription_id),
                "reconcile_mirror",
            )
            .with_input(json!({ "subscriptionId": dr.subscription_id.to_string() }))
            .at_least_once()
        })
        .collect();
    let output = json!({ "subscriptions": steps.len() });
    Ok(if steps.is_empty() {
        StepOutcome::Done(output)
    } else {
        StepOutcome::DoneThen {
            output,
            next: vec![steps],
        }
    })
}

/// What one subscription's reconciliation found and did.
#[derive(Default)]
struct Report {
    fixed: Vec<String>,
    drift: Vec<String>,
}

impl Report {
    /// Notes a difference: fixed unless this is a dry run.
    fn found(&mut self, dry_run: bool, what: String) {
        if dry_run {
            self.drift.push(what);
        } else {
            self.fixed.push(what);
        }
    }
}

impl ReconcileMirrors {
    async fn reconcile(&self, ctx: &StepContext, step: &StepSpec) -> Result<Value, Stop> {
        let dry_run = bool_param(&ctx.params, "dry_run", false).map_err(Stop::Final)?;
        let id = step
            .input
            .get("subscriptionId")
            .and_then(Value::as_str)
            .and_then(|s| SubscriptionId::parse(s).ok())
            .ok_or_else(|| Stop::Final("the step names no subscription".into()))?;
        let Some(dr) = ctx.store.get_dr_subscription(id).await? else {
            return Ok(json!({ "subscriptionId": id.to_string(), "skipped": "no DR record" }));
        };
        if dr.phase != DrPhase::Enabled {
            // Enablement or disablement owns the mirror while it runs.
            return Ok(
                json!({ "subscriptionId": id.to_string(), "skipped": format!("phase {}", dr.phase.as_str()) }),
            );
        }
        let (Some(pair_id), Some(primary_id), Some(recovery_id)) =
            (dr.pair_id, dr.primary_stamp_id, dr.recovery_stamp_id)
        else {
            return Err(Stop::Final(format!(
                "DR subscription {id} is Enabled but names no pair or stamps."
            )));
        };
        let pair = ctx.store.get_cloud_pair(pair_id).await?.ok_or_else(|| {
            Stop::Final(format!(
                "Cloud pair {pair_id} of subscription {id} no longer exists."
            ))
        })?;
        let primary = stamp(&ctx.store, primary_id).await?;
        let recovery = stamp(&ctx.store, recovery_id).await?;
        let on_recovery = dr.active_stamp_id == Some(recovery.id);
        let active = if on_recovery { &recovery } else { &primary };

        let mut report = Report::default();
        let wap_active = self.clients.wap_admin(active)?;
        let Some(source) = wap_active.get_subscription(id).await? else {
            report.drift.push(format!(
                "The subscription is missing on its active stamp '{}'; nothing to mirror.",
                active.name
            ));
            return Ok(report_json(id, &report));
        };
        let owner = dr
            .owner
            .clone()
            .or_else(|| source.account_admin_live_email_id.clone())
            .ok_or_else(|| Stop::Final(format!("Subscription {id} has no account admin.")))?;
        let mirror_state = if on_recovery {
            MirrorState::Active
        } else {
            MirrorState::Suspended
        };
        let wanted = WantedMirror {
            id,
            owner: &owner,
            co_admins: &source.co_admin_names,
            name: source.subscription_name.clone(),
            plan_id: &pair.recovery.plan_id,
            state: mirror_state,
        };
        let check = align_mirror(&self.clients, &recovery, &wanted, dry_run).await?;
        for fix in check.fixes {
            report.found(dry_run, fix);
        }
        if let Some(plan) = check.other_plan {
            report.drift.push(format!(
                "Mirror is on plan {plan} instead of the pair's recovery plan {}: move it in WAP.",
                pair.recovery.plan_id
            ));
        }
        if let Some(admin) = check.other_admin {
            report.drift.push(format!(
                "Mirror's account admin is {admin} instead of {owner}: fix it in WAP."
            ));
        }
        if !dry_run
            && ensure_user_role(&self.clients, &recovery, id, &owner, &source.co_admin_names)
                .await?
        {
            report.fixed.push(format!(
                "The subscription's user role was missing on '{}': recreated.",
                recovery.name
            ));
        }
        // The stamp the subscription is not active on is suspended now if it answered: the
        // mirror was aligned above, the primary is checked here after a failover.
        let other_settled = if on_recovery {
            self.suspend_primary(&primary, id, dry_run, &mut report)
                .await?
        } else {
            true
        };
        if other_settled
            && !dry_run
            && super::failover_switch::clear_pending(&ctx.store, id).await?
        {
            report.fixed.push(format!(
                "The suspension left pending by an unplanned failover is done (active on '{}').",
                active.name
            ));
        }
        self.restore_replica_owners(ctx, &dr, &recovery, &owner, dry_run, &mut report)
            .await?;
        if !dry_run && dr.mirror != mirror_state {
            let mut updated = dr.clone();
            updated.mirror = mirror_state;
            ctx.store.put_dr_subscription(&updated).await?;
        }
        Ok(report_json(id, &report))
    }

    /// After a failover the primary's subscription must not be usable too. Returns whether the
    /// primary answered (its subscription is suspended or gone now, unless `dry_run`).
    async fn suspend_primary(
        &self,
        primary: &Stamp,
        id: SubscriptionId,
        dry_run: bool,
        report: &mut Report,
    ) -> Result<bool, Stop> {
        let wap = self.clients.wap_admin(primary)?;
        match wap.get_subscription(id).await {
            Ok(Some(sub)) if sub.state == AdminSubscriptionState::Active => {
                report.found(
                    dry_run,
                    format!(
                        "Subscription on primary stamp '{}' was Active: suspended.",
                        primary.name
                    ),
                );
                if !dry_run {
                    wap.set_subscription_status(id, SubscriptionStatus::Suspended)
                        .await?;
                }
                Ok(true)
            }
            Ok(_) => Ok(true),
            // The primary may be the site that failed: report it, do not hold the rest up.
            Err(err) if err.is_transient() => {
                report.drift.push(format!(
                    "Primary stamp '{}' could not be checked: {err}",
                    primary.name
                ));
                Ok(false)
            }
            Err(err) => Err(err.into()),
        }
    }

    /// Gives each replica back to the subscription's user role on the recovery stamp.
    async fn restore_replica_owners(
        &self,
        ctx: &StepContext,
        dr: &DrSubscription,
        recovery: &Stamp,
        owner: &str,
        dry_run: bool,
        report: &mut Report,
    ) -> Result<(), Stop> {
        let vms = ctx.store.list_protected_vms(dr.subscription_id).await?;
        let replicas: Vec<_> = vms
            .iter()
            .filter(|vm| vm.replica_owned)
            .filter_map(|vm| vm.replica_vm_id.map(|r| (vm, r)))
            .collect();
        if replicas.is_empty() {
            return Ok(());
        }
        let spf = self.clients.spf(recovery)?;
        let vmm_stamp = spf_stamp_id(&self.clients, &ctx.store, recovery).await?;
        let role_id = dr.subscription_id.as_uuid();
        let Some(role) = spf.get_user_role(role_id).await? else {
            report.drift.push(format!(
                "The subscription's user role is missing on '{}': replicas cannot be given back until the mirror exists.",
                recovery.name
            ));
            return Ok(());
        };
        for (vm, replica_id) in replicas {
            let Some(replica) = spf.get_vm(vmm_stamp, replica_id).await? else {
                report.drift.push(format!(
                    "Replica {replica_id} of VM '{}' is missing on '{}'.",
                    vm.name, recovery.name
                ));
                continue;
            };
            let current = replica.owner.as_ref().and_then(|o| o.role_id);
            if current == Some(role_id) {
                continue;
            }
            report.found(
                dry_run,
                format!(
                    "Replica of VM '{}' was owned by {}: given back to the subscription.",
                    vm.name,
                    current.map_or("nobody".to_owned(), |r| r.to_string())
                ),
            );
            if !dry_run {
                let new_owner = Owner {
                    user_name: Some(owner.to_owned()),
                    role_name: Some(role.name.clone()),
                    role_id: Some(role_id),
                };
                spf.set_vm_owner(vmm_stamp, replica_id, &new_owner).await?;
            }
        }
        Ok(())
    }
}

fn report_json(id: SubscriptionId, report: &Report) -> Value {
    json!({
        "subscriptionId": id.to_string(),
        "fixed": report.fixed,
        "drift": report.drift,
    })
}
