//! The rules of cloud pairs: which new pair is accepted, and which pair a subscription's plan
//! resolves to (what the enable-DR workflow uses).
//!
//! A subscription lives on one primary plan, so a primary plan belongs to at most one pair; every
//! other shape is allowed: one primary cloud to several recovery clouds through different plans
//! (one-to-many), several primary plans into one recovery cloud (many-to-one), and any mix of both
//! (many-to-many). The plans' cloud bindings come from the stamps' WAP admin APIs, read by the
//! caller: this module does no I/O.

use uuid::Uuid;

use super::setup::{CloudPair, PairSide};

/// A VM Clouds plan of a stamp and the clouds it is bound to, as read from WAP.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanBinding {
    /// The WAP plan id.
    pub plan_id: String,
    /// Its display name.
    pub plan_name: String,
    /// The VMM clouds its VM Clouds quota binds.
    pub cloud_ids: Vec<Uuid>,
}

/// A stamp's name and its plans, what the rules need to know of a stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampPlans {
    /// wapdr's id of the stamp.
    pub stamp_id: Uuid,
    /// The provider's name for it.
    pub stamp_name: String,
    /// Its VM Clouds plans.
    pub plans: Vec<PlanBinding>,
}

/// A side of a pair as the provider asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestedSide {
    /// The stamp.
    pub stamp_id: Uuid,
    /// The plan id.
    pub plan_id: String,
    /// The cloud id.
    pub cloud_id: Uuid,
}

/// Why a new pair is refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PairingError {
    /// Both sides are on one stamp: a pair must cross sites.
    #[error(
        "The primary and recovery sides are both on stamp '{stamp}'; a cloud pair must join two stamps."
    )]
    SameStamp {
        /// The stamp's name.
        stamp: String,
    },
    /// The stamp has no such plan.
    #[error("Stamp '{stamp}' has no plan '{plan_id}'.")]
    UnknownPlan {
        /// The stamp's name.
        stamp: String,
        /// The plan id asked for.
        plan_id: String,
    },
    /// The plan is not bound to the named cloud.
    #[error(
        "Plan '{plan}' on stamp '{stamp}' is not bound to cloud {cloud_id}; it is bound to {bound}."
    )]
    PlanNotBound {
        /// The stamp's name.
        stamp: String,
        /// The plan's name.
        plan: String,
        /// The cloud asked for.
        cloud_id: Uuid,
        /// The clouds it is bound to, for the message.
        bound: String,
    },
    /// The primary plan already belongs to a pair: a subscription must resolve to exactly one.
    #[error(
        "Plan '{plan}' is already paired with '{other_plan}' on stamp {other_stamp} by pair {pair_id}."
    )]
    Conflict {
        /// The primary plan's name.
        plan: String,
        /// The recovery plan it is paired with.
        other_plan: String,
        /// The recovery stamp's name.
        other_stamp: String,
        /// The pair that holds it.
        pair_id: Uuid,
    },
}

/// Checks a new pair and returns its two sides (with the plans' names and canonical ids):
/// the sides are on two stamps, each plan exists and is bound to the cloud named with it, and no
/// existing pair has the same primary plan. `stamp_name` names the stamps of existing pairs.
pub fn check_new_pair(
    primary: &RequestedSide,
    recovery: &RequestedSide,
    primary_stamp: &StampPlans,
    recovery_stamp: &StampPlans,
    existing: &[CloudPair],
    stamp_name: impl Fn(Uuid) -> String,
) -> Result<(PairSide, PairSide), PairingError> {
    if primary.stamp_id == recovery.stamp_id {
        return Err(PairingError::SameStamp {
            stamp: primary_stamp.stamp_name.clone(),
        });
    }
    let primary_side = bound_side(primary, primary_stamp)?;
    let recovery_side = bound_side(recovery, recovery_stamp)?;
    if let Some(taken) = resolve_pair(existing, primary.stamp_id, &primary_side.plan_id) {
        return Err(PairingError::Conflict {
            plan: primary_side.plan_name,
            other_plan: taken.recovery.plan_name.clone(),
            other_stamp: stamp_name(taken.recovery.stamp_id),
            pair_id: taken.id,
        });
    }
    Ok((primary_side, recovery_side))
}

/// The pair a subscription on `plan_id` of `stamp_id` is protected by, if any.
pub fn resolve_pair<'a>(
    pairs: &'a [CloudPair],
    stamp_id: Uuid,
    plan_id: &str,
) -> Option<&'a CloudPair> {
    pairs.iter().find(|pair| {
        pair.primary.stamp_id == stamp_id && pair.primary.plan_id.eq_ignore_ascii_case(plan_id)
    })
}

/// The replication engine's name for a pair's policy at a copy frequency: the provider's policy
/// name, the frequency and a short digest of the pair, so it is stable across runs, unique per
/// (pair, frequency) and recognisable in the vault (`gold-5min-300s-1a2b3c4d`).
///
/// A pairing in the engine is chosen by its policy, so each pair and each frequency a quota asks
/// for gets its own derived policy and its own container pairing.
pub fn engine_policy_name(policy_name: &str, pair_id: Uuid, frequency_seconds: u32) -> String {
    // A digest of the whole id, not its first digits: time-ordered ids share their prefix.
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(pair_id.as_bytes());
    let short: String = digest[..4].iter().map(|b| format!("{b:02x}")).collect();
    format!("{policy_name}-{frequency_seconds}s-{short}")
}

fn bound_side(side: &RequestedSide, stamp: &StampPlans) -> Result<PairSide, PairingError> {
    let plan = stamp
        .plans
        .iter()
        .find(|p| p.plan_id.eq_ignore_ascii_case(side.plan_id.trim()))
        .ok_or_else(|| PairingError::UnknownPlan {
            stamp: stamp.stamp_name.clone(),
            plan_id: side.plan_id.clone(),
        })?;
    if !plan.cloud_ids.contains(&side.cloud_id) {
        let bound = if plan.cloud_ids.is_empty() {
            "no cloud".to_owned()
        } else {
            plan.cloud_ids
                .iter()
                .map(Uuid::to_string)
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(PairingError::PlanNotBound {
            stamp: stamp.stamp_name.clone(),
            plan: plan.plan_name.clone(),
            cloud_id: side.cloud_id,
            bound,
        });
    }
    Ok(PairSide {
        stamp_id: side.stamp_id,
        plan_id: plan.plan_id.clone(),
        plan_name: plan.plan_name.clone(),
        cloud_id: side.cloud_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::setup::PairState;

    /// Two stamps, each with Gold and Silver clouds and a plan bound to each.
    struct World {
        a: StampPlans,
        b: StampPlans,
        pairs: Vec<CloudPair>,
    }

    fn stamp(name: &str) -> StampPlans {
        let plan = |cloud: &str| PlanBinding {
            plan_id: format!("{}-{}", name.to_lowercase(), cloud.to_lowercase()),
            plan_name: format!("{cloud} {name}"),
            cloud_ids: vec![Uuid::new_v4()],
        };
        StampPlans {
            stamp_id: Uuid::new_v4(),
            stamp_name: name.into(),
            plans: vec![plan("Gold"), plan("Silver")],
        }
    }

    fn side(stamp: &StampPlans, plan: usize) -> RequestedSide {
        RequestedSide {
            stamp_id: stamp.stamp_id,
            plan_id: stamp.plans[plan].plan_id.clone(),
            cloud_id: stamp.plans[plan].cloud_ids[0],
        }
    }

    impl World {
        fn new() -> Self {
            Self {
                a: stamp("A"),
                b: stamp("B"),
                pairs: Vec::new(),
            }
        }

        fn name(&self, id: Uuid) -> String {
            [&self.a, &self.b]
                .into_iter()
                .find(|s| s.stamp_id == id)
                .map_or_else(|| id.to_string(), |s| s.stamp_name.clone())
        }

        /// Pairs `primary` on A with `recovery` on B (or the other way round) and keeps it.
        fn pair(
            &mut self,
            primary: (&str, RequestedSide),
            recovery: (&str, RequestedSide),
        ) -> Result<(), PairingError> {
            let stamps = |n: &str| if n == "A" { &self.a } else { &self.b };
            let (p, r) = check_new_pair(
                &primary.1,
                &recovery.1,
                stamps(primary.0),
                stamps(recovery.0),
                &self.pairs,
                |id| self.name(id),
            )?;
            self.pairs.push(CloudPair {
                id: Uuid::new_v4(),
                primary: p,
                recovery: r,
                policy: "gold-5min".into(),
                state: PairState::Pending,
                error: None,
                test_network_id: None,
            });
            Ok(())
        }
    }

    #[test]
    fn gold_a_to_gold_b_is_accepted_with_the_plans_names() {
        let mut w = World::new();
        let (a, b) = (side(&w.a, 0), side(&w.b, 0));
        w.pair(("A", a), ("B", b)).unwrap();
        assert_eq!(w.pairs[0].primary.plan_name, "Gold A");
        assert_eq!(w.pairs[0].recovery.plan_name, "Gold B");
    }

    #[test]
    fn both_sides_on_one_stamp_are_refused() {
        let mut w = World::new();
        let (gold, silver) = (side(&w.a, 0), side(&w.a, 1));
        let err = w.pair(("A", gold), ("A", silver)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "The primary and recovery sides are both on stamp 'A'; a cloud pair must join two stamps."
        );
    }

    #[test]
    fn a_plan_not_bound_to_the_named_cloud_is_refused() {
        let mut w = World::new();
        let mut gold = side(&w.a, 0);
        gold.cloud_id = w.a.plans[1].cloud_ids[0];
        let b = side(&w.b, 0);
        let err = w.pair(("A", gold.clone()), ("B", b)).unwrap_err();
        assert!(
            err.to_string().starts_with(&format!(
                "Plan 'Gold A' on stamp 'A' is not bound to cloud {}",
                gold.cloud_id
            )),
            "{err}"
        );
        let mut unknown = side(&w.a, 0);
        unknown.plan_id = "a-platinum".into();
        let err = w.pair(("A", unknown), ("B", side(&w.b, 0))).unwrap_err();
        assert_eq!(err.to_string(), "Stamp 'A' has no plan 'a-platinum'.");
    }

    #[test]
    fn a_second_pair_for_the_same_primary_plan_is_a_conflict_naming_the_first() {
        let mut w = World::new();
        w.pair(("A", side(&w.a, 0)), ("B", side(&w.b, 0))).unwrap();
        let first = w.pairs[0].id;
        let err = w
            .pair(("A", side(&w.a, 0)), ("B", side(&w.b, 1)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            format!("Plan 'Gold A' is already paired with 'Gold B' on stamp B by pair {first}.")
        );
        assert_eq!(w.pairs.len(), 1);
    }

    #[test]
    fn one_primary_cloud_may_pair_with_several_recovery_clouds_through_different_plans() {
        let mut w = World::new();
        // A second plan bound to A's Gold cloud.
        let gold_cloud = w.a.plans[0].cloud_ids[0];
        w.a.plans.push(PlanBinding {
            plan_id: "a-gold-plus".into(),
            plan_name: "Gold Plus A".into(),
            cloud_ids: vec![gold_cloud],
        });
        w.pair(("A", side(&w.a, 0)), ("B", side(&w.b, 0))).unwrap();
        w.pair(("A", side(&w.a, 2)), ("B", side(&w.b, 1))).unwrap();
        assert_eq!(w.pairs.len(), 2);
        assert!(w.pairs.iter().all(|p| p.primary.cloud_id == gold_cloud));
    }

    #[test]
    fn several_primary_plans_may_pair_into_one_recovery_cloud() {
        let mut w = World::new();
        w.pair(("A", side(&w.a, 0)), ("B", side(&w.b, 0))).unwrap();
        w.pair(("A", side(&w.a, 1)), ("B", side(&w.b, 0))).unwrap();
        assert_eq!(w.pairs[0].recovery, w.pairs[1].recovery);
    }

    #[test]
    fn many_to_many_and_reverse_direction_pairs_are_all_expressible() {
        let mut w = World::new();
        w.pair(("A", side(&w.a, 0)), ("B", side(&w.b, 0))).unwrap();
        w.pair(("A", side(&w.a, 1)), ("B", side(&w.b, 0))).unwrap();
        w.pair(("B", side(&w.b, 0)), ("A", side(&w.a, 1))).unwrap();
        w.pair(("B", side(&w.b, 1)), ("A", side(&w.a, 0))).unwrap();
        assert_eq!(w.pairs.len(), 4);
    }

    #[test]
    fn engine_policy_names_are_stable_and_differ_by_pair_and_frequency() {
        let pair = Uuid::parse_str("1a2b3c4d-0000-4000-8000-000000000001").unwrap();
        let other = Uuid::parse_str("9f9f9f9f-0000-4000-8000-000000000001").unwrap();
        let name = engine_policy_name("gold-5min", pair, 300);
        assert!(name.starts_with("gold-5min-300s-"), "{name}");
        assert_eq!(name.len(), "gold-5min-300s-".len() + 8);
        assert_eq!(
            engine_policy_name("gold-5min", pair, 300),
            engine_policy_name("gold-5min", pair, 300)
        );
        assert_ne!(
            engine_policy_name("gold-5min", pair, 300),
            engine_policy_name("gold-5min", pair, 30)
        );
        assert_ne!(
            engine_policy_name("gold-5min", pair, 300),
            engine_policy_name("gold-5min", other, 300)
        );
    }

    #[test]
    fn a_subscriptions_plan_resolves_to_its_one_pair() {
        let mut w = World::new();
        w.pair(("A", side(&w.a, 0)), ("B", side(&w.b, 0))).unwrap();
        w.pair(("A", side(&w.a, 1)), ("B", side(&w.b, 1))).unwrap();
        let silver = resolve_pair(&w.pairs, w.a.stamp_id, "A-SILVER").expect("a pair");
        assert_eq!(silver.recovery.plan_name, "Silver B");
        assert!(resolve_pair(&w.pairs, w.b.stamp_id, "a-silver").is_none());
        assert!(resolve_pair(&w.pairs, w.a.stamp_id, "a-bronze").is_none());
    }
}
