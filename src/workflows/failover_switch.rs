//! The subscription-level switch at the end of a failover, failback or rollback: the DR record's active
//! stamp flipped (the split-brain guard: it names exactly one stamp, the target), the
//! subscription activated on the target stamp's WAP and suspended on the source's. After an
//! unplanned failover the source stamp is presumed down and fenced: it is never called, and its
//! suspension is returned as pending work for reconcile-mirrors.

use serde_json::Value;
use uuid::Uuid;

use crate::domain::{FailoverKind, MirrorState, SubscriptionId};
use crate::fabric::wap_admin::{AdminSubscriptionState, SubscriptionStatus};
use crate::store::SharedStore;

use super::reconcile_vm::dr_record;
use super::{StampClients, Stop, fabric_refs};

/// What the switch did.
pub(super) struct Switched {
    /// Work left for later (the source's suspension after an unplanned failover).
    pub(super) pending: Option<String>,
}

/// The stamp a run's `prepare` step recorded under `key`.
fn prepared_stamp(prepared: &Value, key: &str) -> Result<Uuid, Stop> {
    prepared
        .get(key)
        .and_then(Value::as_str)
        .and_then(|s| Uuid::parse_str(s).ok())
        .ok_or_else(|| Stop::Final(format!("the prepare step recorded no {key}")))
}

/// Switches subscription `id` to the target stamp `prepare` recorded (its output is
/// `prepared`); safe to run again.
pub(super) async fn switch_stamp(
    clients: &StampClients,
    store: &SharedStore,
    id: SubscriptionId,
    kind: FailoverKind,
    prepared: &Value,
) -> Result<Switched, Stop> {
    let source_id = prepared_stamp(prepared, "sourceStampId")?;
    let target_id = prepared_stamp(prepared, "targetStampId")?;
    let target = fabric_refs::stamp(store, target_id).await?;
    let target_wap = clients.wap_admin(&target)?;
    let on_target = target_wap.get_subscription(id).await?.ok_or_else(|| {
        Stop::Final(format!(
            "Stamp '{}' has no subscription {id} to activate: repair the mirror (reconcile-mirrors) and run the operation again.",
            target.name
        ))
    })?;
    if on_target.state != AdminSubscriptionState::Active {
        target_wap
            .set_subscription_status(id, SubscriptionStatus::Active)
            .await?;
    }
    let source = fabric_refs::stamp(store, source_id).await?;
    let pending = if matches!(kind, FailoverKind::UnplannedFailover { .. }) {
        Some(format!(
            "Suspend subscription {id} on stamp '{}' once it is reachable again (left by the unplanned failover).",
            source.name
        ))
    } else {
        let source_wap = clients.wap_admin(&source)?;
        if let Some(on_source) = source_wap.get_subscription(id).await? {
            if on_source.state != AdminSubscriptionState::Suspended {
                source_wap
                    .set_subscription_status(id, SubscriptionStatus::Suspended)
                    .await?;
            }
        }
        None
    };
    let mut dr = dr_record(store, id).await?;
    dr.active_stamp_id = Some(target_id);
    dr.mirror = if dr.recovery_stamp_id == Some(target_id) {
        MirrorState::Active
    } else {
        MirrorState::Suspended
    };
    dr.message = pending.clone();
    store.put_dr_subscription(&dr).await?;
    tracing::info!(subscription_id = %id, from = %source.name, to = %target.name, kind = kind.as_str(), "subscription switched stamps");
    Ok(Switched { pending })
}

/// Clears the pending work an unplanned failover left (reconcile-mirrors calls it once the old
/// stamp's subscription is seen suspended); also the DR record's message when it was that note.
/// Returns whether anything was pending.
pub(super) async fn clear_pending(store: &SharedStore, id: SubscriptionId) -> Result<bool, Stop> {
    for _ in 0..5 {
        let Some(mut state) = store.get_failover(id).await? else {
            return Ok(false);
        };
        if state.pending.is_empty() {
            return Ok(false);
        }
        let notes = std::mem::take(&mut state.pending);
        match store.save_failover(&state).await {
            Ok(_) => {}
            Err(crate::store::StoreError::Conflict) => continue,
            Err(err) => return Err(err.into()),
        }
        let mut dr = dr_record(store, id).await?;
        if dr.message.as_ref().is_some_and(|m| notes.contains(m)) {
            dr.message = None;
            store.put_dr_subscription(&dr).await?;
        }
        return Ok(true);
    }
    Err(Stop::Transient(format!(
        "the failover record of subscription {id} kept changing"
    )))
}
