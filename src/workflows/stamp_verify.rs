//! Verifying a stamp: is each service it depends on reachable, does it accept wapdr's
//! credentials, does it hold what DR needs (the VMM stamp and its clouds in SPF, VM Clouds plans
//! bound to clouds in WAP, the stamp's site in the replication engine's vault), and do the cloud
//! pairs that use it still hold (plans bound to their clouds, containers paired in the vault).
//!
//! A failure is never an error here: it is a check that failed, with a message a provider can act
//! on. Nothing in a report carries a secret (fabric errors carry none).

use std::collections::BTreeMap;

use uuid::Uuid;

use crate::domain::{CloudPair, PairState, PlanBinding, Stamp};
use crate::fabric::replication::{Container, Site};
use crate::fabric::{FabricError, SpfClient};

use super::StampClients;

/// The services a stamp is verified against, as named in the report.
pub const SPF: &str = "SPF";
/// The stamp's WAP admin API.
pub const WAP_ADMIN: &str = "WAP admin API";
/// The replication engine (the vault).
pub const REPLICATION: &str = "Replication engine";
/// The cloud pairs that use the stamp.
pub const CLOUD_PAIRS: &str = "Cloud pairs";

/// One service's check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServiceCheck {
    /// Which service (`SPF`, `WAP admin API`, `Replication engine`).
    pub service: &'static str,
    /// Whether everything checked is as DR needs it.
    pub ok: bool,
    /// Whether the service answered at all (`None` when it was not called).
    pub reachable: Option<bool>,
    /// Whether it accepted wapdr's credentials (`None` when that could not be told).
    pub credentials_accepted: Option<bool>,
    /// What was found, or what is wrong and what to do about it.
    pub message: String,
    /// What was found, one line each (clouds, plans with their clouds, the site).
    pub found: Vec<String>,
}

/// The whole report of a stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampReport {
    /// The stamp.
    pub stamp_id: Uuid,
    /// Its name.
    pub stamp_name: String,
    /// The VMM stamp GUID found in SPF, if any.
    pub spf_stamp_id: Option<Uuid>,
    /// Every check in order: SPF, WAP admin API, replication engine.
    pub checks: Vec<ServiceCheck>,
}

impl StampReport {
    /// Whether every check passed.
    pub fn ok(&self) -> bool {
        self.checks.iter().all(|c| c.ok)
    }
}

/// A check that failed because the service said no (or did not answer).
fn failed(service: &'static str, err: &FabricError) -> ServiceCheck {
    let (reachable, credentials_accepted, advice) = match err {
        FabricError::Unreachable { .. } | FabricError::Timeout { .. } => (
            Some(false),
            None,
            "Check the URL, the network path and that the service runs.",
        ),
        FabricError::Unauthorized { .. } => (
            Some(true),
            Some(false),
            "The credentials were rejected: update them on the stamp (PUT) and verify again.",
        ),
        FabricError::InvalidConfiguration { .. } => (
            None,
            None,
            "Correct the stamp's URL (PUT) and verify again.",
        ),
        FabricError::Unavailable { .. } => (
            Some(true),
            None,
            "The service is failing or throttling; try again later.",
        ),
        _ => (
            Some(true),
            Some(true),
            "The service answered with an error; see the message.",
        ),
    };
    ServiceCheck {
        service,
        ok: false,
        reachable,
        credentials_accepted,
        message: format!("{err}. {advice}"),
        found: Vec::new(),
    }
}

/// The VMM stamp of `stamp` in its SPF: the one recorded, else the only one, else the one named
/// like the stamp. `Err` with a message when SPF answers but none fits.
pub async fn discover_spf_stamp(
    spf: &SpfClient,
    stamp: &Stamp,
) -> Result<Result<Uuid, String>, FabricError> {
    let stamps = spf.list_stamps().await?;
    if let Some(known) = stamp.spf_stamp_id {
        if stamps.iter().any(|s| s.id == known) {
            return Ok(Ok(known));
        }
    }
    if let [only] = stamps.as_slice() {
        return Ok(Ok(only.id));
    }
    if let Some(named) = stamps
        .iter()
        .find(|s| s.name.eq_ignore_ascii_case(&stamp.name))
    {
        return Ok(Ok(named.id));
    }
    let names: Vec<&str> = stamps.iter().map(|s| s.name.as_str()).collect();
    Ok(Err(if names.is_empty() {
        "SPF manages no VMM stamp: register the VMM server in SPF.".to_owned()
    } else {
        format!(
            "SPF manages several VMM stamps ({}) and none is named '{}': rename the wapdr stamp after its VMM stamp.",
            names.join(", "),
            stamp.name
        )
    }))
}

/// The engine's site for a VMM stamp.
pub fn site_for(sites: &[Site], spf_stamp_id: Uuid) -> Option<&Site> {
    let wanted = spf_stamp_id.to_string();
    sites
        .iter()
        .find(|s| s.stamp_id.eq_ignore_ascii_case(&wanted))
}

/// Verifies `stamp` against its SPF, its WAP admin API and the replication engine,
/// and the cloud pairs that use it (`pairs`: every stored pair; those of other stamps are skipped).
pub async fn verify_stamp(
    clients: &StampClients,
    stamp: &Stamp,
    pairs: &[CloudPair],
) -> StampReport {
    let (spf_check, spf_stamp_id, cloud_names) = check_spf(clients, stamp).await;
    let (wap_check, plans) = check_wap(clients, stamp, &cloud_names).await;
    let (engine_check, containers) = check_engine(clients, spf_stamp_id).await;
    let pairs_check = check_pairs(stamp, pairs, plans.as_deref(), containers.as_deref());
    StampReport {
        stamp_id: stamp.id,
        stamp_name: stamp.name.clone(),
        spf_stamp_id,
        checks: vec![spf_check, wap_check, engine_check, pairs_check],
    }
}

/// Whether the cloud pairs that use `stamp` still hold: each side's plan exists on this stamp's
/// WAP and is bound to the pair's cloud, and a paired primary cloud is paired in the vault.
/// Plans or containers that could not be read (`None`) are not judged here: their own check
/// already failed.
pub fn check_pairs(
    stamp: &Stamp,
    pairs: &[CloudPair],
    plans: Option<&[PlanBinding]>,
    containers: Option<&[Container]>,
) -> ServiceCheck {
    let mut problems = Vec::new();
    let mut found = Vec::new();
    let mine = pairs
        .iter()
        .filter(|p| p.primary.stamp_id == stamp.id || p.recovery.stamp_id == stamp.id);
    let mut count = 0;
    for pair in mine {
        count += 1;
        let primary = pair.primary.stamp_id == stamp.id;
        let side = if primary {
            &pair.primary
        } else {
            &pair.recovery
        };
        let role = if primary { "primary" } else { "recovery" };
        found.push(format!(
            "pair {} ({role} side: plan '{}', cloud {}): {}",
            pair.id,
            side.plan_name,
            side.cloud_id,
            pair.state.as_str()
        ));
        if let Some(plans) = plans {
            match plans
                .iter()
                .find(|p| p.plan_id.eq_ignore_ascii_case(&side.plan_id))
            {
                None => problems.push(format!(
                    "pair {}: plan '{}' ({}) no longer exists or has no VM Clouds binding.",
                    pair.id, side.plan_name, side.plan_id
                )),
                Some(plan) if !plan.cloud_ids.contains(&side.cloud_id) => problems.push(format!(
                    "pair {}: plan '{}' is no longer bound to cloud {}.",
                    pair.id, side.plan_name, side.cloud_id
                )),
                Some(_) => {}
            }
        }
        if primary && pair.state == PairState::Paired {
            if let Some(containers) = containers {
                let wanted = side.cloud_id.to_string();
                let paired = containers
                    .iter()
                    .any(|c| c.id.eq_ignore_ascii_case(&wanted) && c.paired);
                if !paired {
                    problems.push(format!(
                        "pair {}: cloud {} is not paired in the vault; delete and create the pair again.",
                        pair.id, side.cloud_id
                    ));
                }
            }
        }
        if pair.state == PairState::Failed {
            problems.push(format!(
                "pair {} failed to pair: {}",
                pair.id,
                pair.error.as_deref().unwrap_or("no reason recorded")
            ));
        }
    }
    let ok = problems.is_empty();
    ServiceCheck {
        service: CLOUD_PAIRS,
        ok,
        reachable: None,
        credentials_accepted: None,
        message: match (count, ok) {
            (0, _) => "No cloud pair uses this stamp yet.".into(),
            (n, true) => format!("{n} cloud pair(s) use this stamp and hold."),
            (_, false) => problems.join(" "),
        },
        found,
    }
}

async fn check_spf(
    clients: &StampClients,
    stamp: &Stamp,
) -> (ServiceCheck, Option<Uuid>, BTreeMap<Uuid, String>) {
    let spf = match clients.spf(stamp) {
        Ok(spf) => spf,
        Err(err) => return (failed(SPF, &err), None, BTreeMap::new()),
    };
    let spf_stamp_id = match discover_spf_stamp(&spf, stamp).await {
        Err(err) => return (failed(SPF, &err), None, BTreeMap::new()),
        Ok(Err(message)) => {
            let check = ServiceCheck {
                service: SPF,
                ok: false,
                reachable: Some(true),
                credentials_accepted: Some(true),
                message,
                found: Vec::new(),
            };
            return (check, None, BTreeMap::new());
        }
        Ok(Ok(id)) => id,
    };
    let clouds = match spf.list_clouds(spf_stamp_id).await {
        Ok(clouds) => clouds,
        Err(err) => return (failed(SPF, &err), Some(spf_stamp_id), BTreeMap::new()),
    };
    let names: BTreeMap<Uuid, String> = clouds.iter().map(|c| (c.id, c.name.clone())).collect();
    let found = clouds
        .iter()
        .map(|c| format!("cloud '{}' ({})", c.name, c.id))
        .collect();
    let check = ServiceCheck {
        service: SPF,
        ok: !clouds.is_empty(),
        reachable: Some(true),
        credentials_accepted: Some(true),
        message: if clouds.is_empty() {
            format!("VMM stamp {spf_stamp_id} has no cloud: create the clouds tenants' VMs run in.")
        } else {
            format!("VMM stamp {spf_stamp_id} with {} cloud(s).", clouds.len())
        },
        found,
    };
    (check, Some(spf_stamp_id), names)
}

async fn check_wap(
    clients: &StampClients,
    stamp: &Stamp,
    cloud_names: &BTreeMap<Uuid, String>,
) -> (ServiceCheck, Option<Vec<PlanBinding>>) {
    let plans = match clients.plans(stamp).await {
        Ok(plans) => plans.plans,
        Err(err) => return (failed(WAP_ADMIN, &err), None),
    };
    let found = plans
        .iter()
        .map(|p| {
            let clouds: Vec<String> = p
                .cloud_ids
                .iter()
                .map(|id| match cloud_names.get(id) {
                    Some(name) => format!("'{name}' ({id})"),
                    None => format!("{id} (not a cloud of this stamp's SPF)"),
                })
                .collect();
            format!(
                "plan '{}' ({}) bound to cloud {}",
                p.plan_name,
                p.plan_id,
                clouds.join(", ")
            )
        })
        .collect();
    let check = ServiceCheck {
        service: WAP_ADMIN,
        ok: !plans.is_empty(),
        reachable: Some(true),
        credentials_accepted: Some(true),
        message: if plans.is_empty() {
            "No VM Clouds plan is bound to a cloud: create the plans tenants subscribe to.".into()
        } else {
            format!("{} VM Clouds plan(s).", plans.len())
        },
        found,
    };
    (check, Some(plans))
}

async fn check_engine(
    clients: &StampClients,
    spf_stamp_id: Option<Uuid>,
) -> (ServiceCheck, Option<Vec<Container>>) {
    let Some(engine) = clients.replication() else {
        let check = ServiceCheck {
            service: REPLICATION,
            ok: false,
            reachable: None,
            credentials_accepted: None,
            message:
                "No replication engine configured: add an [asr] section to wapdr's configuration."
                    .into(),
            found: Vec::new(),
        };
        return (check, None);
    };
    let sites = match engine.sites().await {
        Ok(sites) => sites,
        Err(err) => return (failed(REPLICATION, &err), None),
    };
    let mut check = ServiceCheck {
        service: REPLICATION,
        ok: false,
        reachable: Some(true),
        credentials_accepted: Some(true),
        message: String::new(),
        found: Vec::new(),
    };
    let Some(spf_stamp_id) = spf_stamp_id else {
        check.message =
            "The vault answered, but the stamp's site cannot be looked for until SPF names the VMM stamp."
                .into();
        return (check, None);
    };
    let Some(site) = site_for(&sites, spf_stamp_id) else {
        check.message = format!(
            "The vault has no site for VMM stamp {spf_stamp_id}: register this stamp's VMM server in the vault."
        );
        return (check, None);
    };
    check
        .found
        .push(format!("site '{}' ({})", site.name, site.id));
    match engine.containers(&site.id).await {
        Ok(containers) => {
            check.ok = true;
            check.message = format!(
                "Site '{}' with {} cloud(s) in the vault.",
                site.name,
                containers.len()
            );
            check.found.extend(containers.iter().map(|c| {
                format!(
                    "cloud '{}' ({}){}",
                    c.name,
                    c.id,
                    if c.paired { ", paired" } else { "" }
                )
            }));
            (check, Some(containers))
        }
        Err(err) => (failed(REPLICATION, &err), None),
    }
}

#[cfg(test)]
mod tests {
    use secrecy::SecretString;

    use super::*;
    use crate::domain::PairSide;

    fn stamp(name: &str) -> Stamp {
        Stamp {
            id: Uuid::new_v4(),
            name: name.into(),
            spf_url: "https://spf".into(),
            spf_username: "u".into(),
            spf_password: SecretString::from("p"),
            spf_stamp_id: None,
            wap_admin_url: "https://wap".into(),
            wap_admin_token: SecretString::from("t"),
            tenant_portal_url: "https://portal".into(),
            auto_failover: false,
        }
    }

    /// Stamp A, a Gold A → Gold B pair in `state`, A's plans and A's vault containers.
    fn world(state: PairState) -> (Stamp, CloudPair, Vec<PlanBinding>, Vec<Container>) {
        let (a, b) = (stamp("A"), stamp("B"));
        let cloud = Uuid::new_v4();
        let side = |stamp: &Stamp, plan: &str, cloud| PairSide {
            stamp_id: stamp.id,
            plan_id: plan.into(),
            plan_name: plan.into(),
            cloud_id: cloud,
        };
        let pair = CloudPair {
            id: Uuid::new_v4(),
            primary: side(&a, "a-gold", cloud),
            recovery: side(&b, "b-gold", Uuid::new_v4()),
            policy: "gold".into(),
            state,
            error: (state == PairState::Failed).then(|| "the vault said no".to_owned()),
            test_network_id: None,
        };
        let plans = vec![PlanBinding {
            plan_id: "a-gold".into(),
            plan_name: "Gold A".into(),
            cloud_ids: vec![cloud],
        }];
        let containers = vec![Container {
            id: cloud.to_string(),
            name: "Gold".into(),
            site: "site-a".into(),
            paired: true,
        }];
        (a, pair, plans, containers)
    }

    #[test]
    fn a_stamp_without_pairs_passes_and_says_so() {
        let (a, _, plans, containers) = world(PairState::Paired);
        let check = check_pairs(&a, &[], Some(&plans), Some(&containers));
        assert!(check.ok);
        assert_eq!(check.message, "No cloud pair uses this stamp yet.");
    }

    #[test]
    fn a_paired_pair_holds_while_its_plan_is_bound_and_its_cloud_paired() {
        let (a, pair, plans, containers) = world(PairState::Paired);
        let check = check_pairs(&a, &[pair], Some(&plans), Some(&containers));
        assert!(check.ok, "{check:?}");
        assert_eq!(check.found.len(), 1);
    }

    #[test]
    fn a_plan_rebound_elsewhere_or_an_unpaired_container_is_reported() {
        let (a, pair, mut plans, mut containers) = world(PairState::Paired);
        containers[0].paired = false;
        let check = check_pairs(
            &a,
            std::slice::from_ref(&pair),
            Some(&plans),
            Some(&containers),
        );
        assert!(!check.ok);
        assert!(
            check.message.contains("is not paired in the vault"),
            "{check:?}"
        );
        plans[0].cloud_ids = vec![Uuid::new_v4()];
        let check = check_pairs(&a, &[pair], Some(&plans), None);
        assert!(
            check.message.contains("is no longer bound to cloud"),
            "{check:?}"
        );
    }

    #[test]
    fn a_failed_pairing_is_reported_with_its_reason() {
        let (a, pair, plans, containers) = world(PairState::Failed);
        let check = check_pairs(&a, &[pair], Some(&plans), Some(&containers));
        assert!(!check.ok);
        assert!(check.message.contains("the vault said no"), "{check:?}");
    }
}
