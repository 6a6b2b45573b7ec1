//! A DR subscription's place on the stamps: which stamp and plan it lives on (found through every
//! registered stamp's WAP admin API and the cloud pairs), and its mirror on the recovery stamp
//! (the same id, the same user and co-admins, the pair's recovery plan, kept suspended), with the
//! tenant's user role in the recovery stamp's SPF.
//!
//! Each function looks before it acts (a mirror that exists is brought in line, never created
//! twice), so enable and disable DR may repeat them after a crash, and the reconcile-mirrors
//! runbook repairs a mirror with the same code that built it.

use uuid::Uuid;

use crate::contract::AzureProvisioningInfo;
use crate::domain::{CloudPair, DrSubscription, MirrorState, Stamp, SubscriptionId, resolve_pair};
use crate::fabric::spf::NewUserRole;
use crate::fabric::wap_admin::{
    AdminSubscription, AdminSubscriptionState, NewUser, SubscriptionStatus, UserState,
};
use crate::fabric::{FabricError, WapAdminClient};
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

/// The mirror subscription as it should be on the recovery stamp.
pub(super) struct WantedMirror<'a> {
    /// The subscription's id (the mirror's too).
    pub id: SubscriptionId,
    /// The account admin.
    pub owner: &'a str,
    /// The co-admins, as on the active stamp.
    pub co_admins: &'a [String],
    /// The subscription's name, when known.
    pub name: Option<String>,
    /// The pair's recovery plan.
    pub plan_id: &'a str,
    /// Suspended, or Active while the subscription runs on the recovery stamp after a failover.
    pub state: MirrorState,
}

/// What [`align_mirror`] found different from the wanted mirror.
#[derive(Default)]
pub(super) struct MirrorCheck {
    /// What it fixed (or, when only looking, would fix), one sentence each.
    pub fixes: Vec<String>,
    /// The plan of a subscription with the mirror's id that is on another plan; it is left alone
    /// (it may not be the mirror) for the provider to move or remove.
    pub other_plan: Option<String>,
    /// The mirror's account admin where it is not the owner (the WAP admin API cannot change it).
    pub other_admin: Option<String>,
}

/// Looks at the mirror on `recovery` and, unless `only_look`, creates it (with its users) or
/// brings its co-admins and state in line with `wanted`. Looks before it acts, so a repeat after a
/// crash or a lost answer is harmless.
pub(super) async fn align_mirror(
    clients: &StampClients,
    recovery: &Stamp,
    wanted: &WantedMirror<'_>,
    only_look: bool,
) -> Result<MirrorCheck, Stop> {
    let wap = clients.wap_admin(recovery)?;
    let id = wanted.id;
    let mut check = MirrorCheck::default();
    let (created, mirror) = match wap.get_subscription(id).await? {
        Some(existing) => (false, existing),
        None => {
            check.fixes.push(format!(
                "Mirror subscription missing on '{}': recreated.",
                recovery.name
            ));
            if only_look {
                return Ok(check);
            }
            (true, create_mirror(&wap, wanted).await?)
        }
    };
    if let Some(plan) = &mirror.plan_id
        && !plan.eq_ignore_ascii_case(wanted.plan_id)
    {
        check.other_plan = Some(plan.clone());
        return Ok(check);
    }
    if !same_names(&mirror.co_admin_names, wanted.co_admins) {
        if !created {
            check.fixes.push(format!(
                "Mirror co-admins were [{}], set to [{}].",
                mirror.co_admin_names.join(", "),
                wanted.co_admins.join(", ")
            ));
        }
        if !only_look {
            ensure_users(&wap, wanted).await?;
            wap.set_co_admins(id, wanted.co_admins).await?;
        }
    }
    let (state, status) = match wanted.state {
        MirrorState::Active => (AdminSubscriptionState::Active, SubscriptionStatus::Active),
        _ => (
            AdminSubscriptionState::Suspended,
            SubscriptionStatus::Suspended,
        ),
    };
    if mirror.state != state {
        if !created {
            check
                .fixes
                .push(format!("Mirror was {:?}, set to {state:?}.", mirror.state));
        }
        if !only_look {
            wap.set_subscription_status(id, status).await?;
        }
    }
    if !mirror
        .account_admin_live_email_id
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case(wanted.owner))
    {
        check.other_admin = Some(
            mirror
                .account_admin_live_email_id
                .unwrap_or_else(|| "(none)".into()),
        );
    }
    Ok(check)
}

/// Creates the users and the mirror subscription; reads it back when an earlier attempt whose
/// answer was lost created it.
async fn create_mirror(
    wap: &WapAdminClient,
    wanted: &WantedMirror<'_>,
) -> Result<AdminSubscription, Stop> {
    ensure_users(wap, wanted).await?;
    let id = wanted.id;
    let info = AzureProvisioningInfo {
        account_admin_live_email_id: Some(wanted.owner.to_owned()),
        account_admin_live_puid: Some(wanted.owner.to_owned()),
        account_id: None,
        friendly_name: wanted.name.clone(),
        offer_category: None,
        offer_info: None,
        offer_type: 1,
        reason_code: None,
        service_admin_live_email_id: None,
        service_admin_live_puid: None,
        subscription_id: id,
        status: None,
        plan_id: Some(wanted.plan_id.to_owned()),
        co_admin_names: Some(wanted.co_admins.to_vec()),
    };
    match wap.create_subscription(&info).await {
        Ok(created) => Ok(created),
        Err(FabricError::Conflict { .. }) => wap.get_subscription(id).await?.ok_or_else(|| {
            Stop::Transient(format!("mirror subscription {id} is not readable yet"))
        }),
        Err(err) => Err(err.into()),
    }
}

/// Creates the owner's and co-admins' users where missing.
async fn ensure_users(wap: &WapAdminClient, wanted: &WantedMirror<'_>) -> Result<(), Stop> {
    for user in std::iter::once(wanted.owner).chain(wanted.co_admins.iter().map(String::as_str)) {
        if wap.get_user(user).await?.is_none() {
            let new = NewUser {
                name: user.to_owned(),
                email: user.to_owned(),
                state: UserState::Active,
            };
            match wap.create_user(&new).await {
                Ok(_) | Err(FabricError::Conflict { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
    }
    Ok(())
}

/// Whether two lists name the same users (case and order aside).
fn same_names(a: &[String], b: &[String]) -> bool {
    let norm = |v: &[String]| {
        let mut v: Vec<String> = v.iter().map(|s| s.trim().to_ascii_lowercase()).collect();
        v.sort();
        v.dedup();
        v
    };
    norm(a) == norm(b)
}

/// Ensures the tenant's user role in the recovery stamp's SPF, so the replicas can be handed to
/// it (VM Clouds creates it with the subscription; a stamp whose SPF did not gets it here).
/// `true` when it had to create it.
pub(super) async fn ensure_user_role(
    clients: &StampClients,
    recovery: &Stamp,
    id: SubscriptionId,
    owner: &str,
    co_admins: &[String],
) -> Result<bool, Stop> {
    let spf = clients.spf(recovery)?;
    let role_id = id.as_uuid();
    if spf.get_user_role(role_id).await?.is_some() {
        return Ok(false);
    }
    let role = NewUserRole {
        id: role_id,
        name: format!("{owner}_{role_id}"),
        profile: "TenantAdmin".into(),
        members: std::iter::once(owner.to_owned())
            .chain(co_admins.iter().cloned())
            .collect(),
    };
    match spf.create_user_role(&role).await {
        Ok(_) | Err(FabricError::Conflict { .. }) => Ok(true),
        Err(err) => Err(err.into()),
    }
}

/// Ensures the user, the mirror subscription (same id, recovery plan, co-admins, suspended) and
/// the tenant's user role on the recovery stamp of `dr` (whose pair and owner are recorded), as
/// enable DR leaves them.
pub(super) async fn ensure_mirror(
    clients: &StampClients,
    store: &SharedStore,
    dr: &DrSubscription,
    pair: &CloudPair,
    primary: &AdminSubscription,
) -> Result<(), Stop> {
    let owner = dr
        .owner
        .clone()
        .ok_or_else(|| Stop::Final("The subscription's account admin is not known.".into()))?;
    let recovery = fabric_refs::stamp(store, pair.recovery.stamp_id).await?;
    let co_admins = &primary.co_admin_names;
    let wanted = WantedMirror {
        id: dr.subscription_id,
        owner: &owner,
        co_admins,
        name: primary.subscription_name.clone(),
        plan_id: &pair.recovery.plan_id,
        state: MirrorState::Suspended,
    };
    let check = align_mirror(clients, &recovery, &wanted, false).await?;
    if let Some(plan) = check.other_plan {
        return Err(Stop::Final(format!(
            "Stamp '{}' already has subscription {} on plan '{plan}', not on the pair's recovery plan '{}': remove it or pair the plans accordingly.",
            recovery.name, dr.subscription_id, pair.recovery.plan_id
        )));
    }
    ensure_user_role(clients, &recovery, dr.subscription_id, &owner, co_admins).await?;
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
