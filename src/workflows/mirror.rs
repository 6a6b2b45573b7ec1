//! A DR subscription's place on the stamps: which stamp and plan it lives on (found through every
//! registered stamp's WAP admin API and the cloud pairs), and its mirror on the recovery stamp
//! (the same id, the same user and co-admins, the pair's recovery plan, kept suspended), with the
//! tenant's user role in the recovery stamp's SPF.
//!
//! Each function looks before it acts (a mirror that exists is brought in line, never created
//! twice), so enable and disable DR may repeat them after a crash.

use uuid::Uuid;

use crate::contract::AzureProvisioningInfo;
use crate::domain::{CloudPair, DrSubscription, SubscriptionId, resolve_pair};
use crate::fabric::FabricError;
use crate::fabric::spf::NewUserRole;
use crate::fabric::wap_admin::{
    AdminSubscription, AdminSubscriptionState, NewUser, SubscriptionStatus, UserState,
};
use crate::store::SharedStore;

use super::{StampClients, Stop, fabric_refs};

/// Where a subscription lives: its primary stamp, its WAP record there and its pair.
pub(super) struct Placement {
    /// The primary stamp (wapdr's id).
    pub stamp_id: Uuid,
    /// The subscription as the primary stamp's WAP holds it.
    pub subscription: AdminSubscription,
    /// The pair of its plan.
    pub pair: CloudPair,
}

/// Finds the stamp whose WAP holds subscription `id` on the primary plan of a cloud pair.
/// `Ok(Err(message))` when it cannot be protected as things stand (no stamp knows it, or its plan
/// has no pair): the message names the plan and stamp and says what the provider must do.
pub(super) async fn find_placement(
    clients: &StampClients,
    store: &SharedStore,
    id: SubscriptionId,
) -> Result<Result<Placement, String>, Stop> {
    let stamps = store.list_stamps().await?;
    let pairs = store.list_cloud_pairs().await?;
    let mut unpaired = Vec::new();
    for stamp in &stamps {
        let Some(found) = clients.wap_admin(stamp)?.get_subscription(id).await? else {
            continue;
        };
        let Some(plan) = found.plan_id.clone() else {
            continue;
        };
        if let Some(pair) = resolve_pair(&pairs, stamp.id, &plan) {
            return Ok(Ok(Placement {
                stamp_id: stamp.id,
                subscription: found,
                pair: pair.clone(),
            }));
        }
        // A mirror sits on a recovery plan: that is not where the subscription lives.
        let is_mirror = pairs.iter().any(|p| {
            p.recovery.stamp_id == stamp.id && p.recovery.plan_id.eq_ignore_ascii_case(&plan)
        });
        if !is_mirror {
            unpaired.push(format!("plan '{plan}' on stamp '{}'", stamp.name));
        }
    }
    Ok(Err(if stamps.is_empty() {
        format!(
            "No stamp is registered with the DR service, so subscription {id} cannot be protected: register the stamps with POST /admin/stamps and pair their clouds with POST /admin/cloud-pairs."
        )
    } else if unpaired.is_empty() {
        format!(
            "No registered stamp's WAP knows subscription {id} on a primary plan: check that its stamp is registered with POST /admin/stamps."
        )
    } else {
        format!(
            "Subscription {id} is on {}, which no cloud pair protects: create a cloud pair for that plan with POST /admin/cloud-pairs.",
            unpaired.join(" and ")
        )
    }))
}

/// Ensures the user, the mirror subscription (same id, recovery plan, co-admins, suspended) and
/// the tenant's user role on the recovery stamp of `dr` (whose pair and owner are recorded).
pub(super) async fn ensure_mirror(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
    pair: &CloudPair,
    co_admins: &[String],
) -> Result<(), Stop> {
    let owner = dr
        .owner
        .clone()
        .ok_or_else(|| Stop::Final("The subscription's account admin is not known.".into()))?;
    let recovery = fabric_refs::stamp(store, pair.recovery.stamp_id).await?;
    let wap = clients.wap_admin(&recovery)?;
    for user in std::iter::once(&owner).chain(co_admins) {
        if wap.get_user(user).await?.is_none() {
            let new = NewUser {
                name: user.clone(),
                email: user.clone(),
                state: UserState::Active,
            };
            match wap.create_user(&new).await {
                Ok(_) | Err(FabricError::Conflict { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    let id = dr.subscription_id;
    let mirror = match wap.get_subscription(id).await? {
        Some(existing) => existing,
        None => {
            let info = AzureProvisioningInfo {
                account_admin_live_email_id: Some(owner.clone()),
                account_admin_live_puid: Some(owner.clone()),
                account_id: None,
                friendly_name: None,
                offer_category: None,
                offer_info: None,
                offer_type: 1,
                reason_code: None,
                service_admin_live_email_id: None,
                service_admin_live_puid: None,
                subscription_id: id,
                status: None,
                plan_id: Some(pair.recovery.plan_id.clone()),
                co_admin_names: Some(co_admins.to_vec()),
            };
            match wap.create_subscription(&info).await {
                Ok(created) => created,
                // Created by an earlier attempt whose answer was lost: read it.
                Err(FabricError::Conflict { .. }) => {
                    wap.get_subscription(id).await?.ok_or_else(|| {
                        Stop::Transient(format!("mirror subscription {id} is not readable yet"))
                    })?
                }
                Err(err) => return Err(err.into()),
            }
        }
    };
    if let Some(plan) = &mirror.plan_id
        && !plan.eq_ignore_ascii_case(&pair.recovery.plan_id)
    {
        return Err(Stop::Final(format!(
            "Stamp '{}' already has subscription {id} on plan '{plan}', not on the pair's recovery plan '{}': remove it or pair the plans accordingly.",
            recovery.name, pair.recovery.plan_id
        )));
    }
    let same_admins = mirror.co_admin_names.len() == co_admins.len()
        && co_admins.iter().all(|c| {
            mirror
                .co_admin_names
                .iter()
                .any(|m| m.eq_ignore_ascii_case(c))
        });
    if !same_admins {
        wap.set_co_admins(id, co_admins).await?;
    }
    if mirror.state != AdminSubscriptionState::Suspended {
        wap.set_subscription_status(id, SubscriptionStatus::Suspended)
            .await?;
    }
    // VM Clouds creates the tenant's role with the subscription; a stamp whose SPF did not gets it
    // here, so the replicas can be handed to it.
    let spf = clients.spf(&recovery)?;
    let role_id = id.as_uuid();
    if spf.get_user_role(role_id).await?.is_none() {
        let role = NewUserRole {
            id: role_id,
            name: format!("{owner}_{role_id}"),
            profile: "TenantAdmin".into(),
            members: std::iter::once(owner.clone())
                .chain(co_admins.iter().cloned())
                .collect(),
        };
        match spf.create_user_role(&role).await {
            Ok(_) | Err(FabricError::Conflict { .. }) => {}
            Err(err) => return Err(err.into()),
        }
    }
    Ok(())
}

/// Deletes the mirror subscription on the recovery stamp (absent is fine).
pub(super) async fn remove_mirror(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
) -> Result<(), Stop> {
    let Some(recovery_id) = dr.recovery_stamp_id else {
        return Ok(());
    };
    let recovery = fabric_refs::stamp(store, recovery_id).await?;
    clients
        .wap_admin(&recovery)?
        .delete_subscription(dr.subscription_id)
        .await?;
    Ok(())
}
