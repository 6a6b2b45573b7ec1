//! Keeps every DR subscription's default recovery plan in sync with its VMs: one group holding
//! every `Protected` VM, sorted by name. Enable DR calls [`sync_default_plan`] when it finishes,
//! and protection calls it whenever a VM record enters or leaves `Protected` (not on every save:
//! a rewrite reads all of the subscription's VM records).

use crate::domain::recovery_plan::{default_groups, default_plan};
use crate::domain::{ProtectedVm, RecoveryPlan, SubscriptionId, VmProtectionState};
use crate::store::{SharedStore, StoreError};

/// How often a sync starts over when a concurrent writer changed the plan first.
const SYNC_ATTEMPTS: usize = 5;

/// Rewrites the subscription's default plan from its current VM records, creating the plan if it
/// has none; writes nothing when the plan already holds exactly the protected VMs (idempotent).
/// Concurrent syncs (VMs settling in parallel) retry on the version check, so the last one to
/// write has read every change before it.
pub async fn sync_default_plan(
    store: &SharedStore,
    subscription: SubscriptionId,
) -> Result<RecoveryPlan, StoreError> {
    for _ in 0..SYNC_ATTEMPTS {
        let vms = store.list_protected_vms(subscription).await?;
        let written = match store.get_default_recovery_plan(subscription).await? {
            None => {
                store
                    .create_recovery_plan(&default_plan(subscription, &vms))
                    .await
            }
            Some(plan) => {
                let groups = default_groups(&vms);
                if plan.groups == groups {
                    return Ok(plan);
                }
                store
                    .update_recovery_plan(&RecoveryPlan { groups, ..plan })
                    .await
            }
        };
        match written {
            Err(StoreError::Conflict) => continue,
            other => return other,
        }
    }
    Err(StoreError::Conflict)
}

/// Syncs the default plan when a VM record entered or left `Protected` (`before` is the state it
/// was read in, `None` for a new record). A failed sync is logged, not raised: the VM's
/// protection is what matters, and the next crossing or enablement rewrites the plan whole.
pub(super) async fn sync_on_crossing(
    store: &SharedStore,
    before: Option<VmProtectionState>,
    after: &ProtectedVm,
) {
    let was = before == Some(VmProtectionState::Protected);
    let is = after.state == VmProtectionState::Protected;
    if was == is {
        return;
    }
    if let Err(err) = sync_default_plan(store, after.subscription_id).await {
        tracing::warn!(
            subscription_id = %after.subscription_id,
            vm_id = %after.vm_id,
            error = %err,
            "the default recovery plan could not be brought in sync"
        );
    }
}
