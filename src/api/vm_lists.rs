//! Subscriptions' VM lists kept in memory between reads, for as long as the database says they
//! have not changed.
//!
//! A tenant portal polls its VM list, and a subscription's list is read far more often than it
//! changes. Each read already reads the subscription (to authorise the caller) and, in the same
//! statement, its VM change counter, which a database trigger moves on every write of one of its
//! VM records, through whichever instance made it (migration 0012). A list held under the counter
//! the read found is the stored list; any other counter, or no list held, reads the list again.
//!
//! Why this is never stale: the list is read after the counter, so a list held under counter `n`
//! holds at least every write counted up to `n`. A read that finds `n` again saw the database
//! when nothing had changed since, and a write after it moves the counter past `n` for every
//! later read. Two readers racing can only store an older list under an older counter, which a
//! later read does not match and reads again.

use std::sync::Arc;

use crate::domain::{ProtectedVm, SubscriptionId};
use crate::store::{SharedStore, StoreError, SubscriptionSnapshot};

/// Recently read VM lists, by subscription, weighed by their VMs.
pub struct VmLists {
    lists: moka::future::Cache<SubscriptionId, Arc<HeldList>>,
}

/// A VM list and the change counter it was read under.
struct HeldList {
    vm_changes: i64,
    vms: Arc<[ProtectedVm]>,
}

impl VmLists {
    /// Holds lists of up to `max_vms` VMs in all; a list not read for ten minutes is dropped.
    pub fn new(max_vms: u64) -> Self {
        Self {
            lists: moka::future::Cache::builder()
                .max_capacity(max_vms)
                .weigher(|_, list: &Arc<HeldList>| {
                    u32::try_from(list.vms.len()).unwrap_or(u32::MAX).max(1)
                })
                .time_to_idle(std::time::Duration::from_secs(600))
                .build(),
        }
    }

    /// The VM records of the subscription `snapshot` read, ordered by name: the list held when
    /// its counter is the one the snapshot found, else the stored list, read now and held.
    pub async fn get(
        &self,
        store: &SharedStore,
        snapshot: &SubscriptionSnapshot,
    ) -> Result<Arc<[ProtectedVm]>, StoreError> {
        let id = snapshot.subscription.id;
        if let Some(held) = self.lists.get(&id).await
            && held.vm_changes == snapshot.vm_changes
        {
            return Ok(held.vms.clone());
        }
        let vms: Arc<[ProtectedVm]> = store.list_protected_vms(id).await?.into();
        let held = HeldList {
            vm_changes: snapshot.vm_changes,
            vms: vms.clone(),
        };
        self.lists.insert(id, Arc::new(held)).await;
        Ok(vms)
    }
}
