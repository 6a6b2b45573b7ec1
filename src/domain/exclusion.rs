//! Who may exclude a VM from DR or include it again, and what that does to its record. No I/O:
//! the API applies a change to the stored record, saves it and starts the VM's reconciliation,
//! which removes or requests protection on the fabric.

use super::{Exclusion, ProtectedVm, VmProtectionState};

/// Who asks for the change.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExclusionActor {
    /// The subscription's admin or a co-admin (self-service).
    Tenant,
    /// The provider.
    Admin,
}

/// A change the actor may not make; the message says why in the tenant's or provider's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ExclusionError {
    /// The provider excluded the VM; only the provider can include it again.
    #[error(
        "VM '{0}' was excluded from disaster recovery by the provider; only the provider can include it again."
    )]
    ExcludedByProvider(String),
}

/// Records `excluded` on a VM for `actor`; `Ok(true)` when the record changed (save it and
/// reconcile the VM), `Ok(false)` when it already says so.
///
/// Excluding records who excluded it; a VM whose protection is not in place is marked
/// `Excluded` at once, one that is replicating keeps its state until its reconciliation has
/// removed protection. A tenant's exclusion never replaces the provider's (the tenant could then
/// include it). Including clears the exclusion and puts an excluded VM back to `Pending`; a tenant
/// cannot include a VM the provider excluded.
pub fn set_exclusion(
    vm: &mut ProtectedVm,
    actor: ExclusionActor,
    excluded: bool,
) -> Result<bool, ExclusionError> {
    let kind = match actor {
        ExclusionActor::Tenant => Exclusion::Tenant,
        ExclusionActor::Admin => Exclusion::Admin,
    };
    if excluded {
        let keep = matches!(
            (vm.exclusion, actor),
            (Some(Exclusion::Admin), _) | (Some(Exclusion::Tenant), ExclusionActor::Tenant)
        );
        if keep {
            return Ok(false);
        }
        vm.exclusion = Some(kind);
        if !protection_in_place(vm.state) {
            vm.state = VmProtectionState::Excluded;
            vm.reason = Some(match actor {
                ExclusionActor::Tenant => "The tenant excluded the VM from DR.".into(),
                ExclusionActor::Admin => "The provider excluded the VM from DR.".into(),
            });
        }
        return Ok(true);
    }
    match (vm.exclusion, actor) {
        (None, _) => Ok(false),
        (Some(Exclusion::Admin), ExclusionActor::Tenant) => {
            Err(ExclusionError::ExcludedByProvider(vm.name.clone()))
        }
        (Some(_), _) => {
            vm.exclusion = None;
            if vm.state == VmProtectionState::Excluded {
                vm.state = VmProtectionState::Pending;
                vm.reason = None;
            }
            Ok(true)
        }
    }
}

/// Whether protection is requested or in place on the fabric, so that excluding the VM needs its
/// reconciliation to remove it before the state may say `Excluded`.
fn protection_in_place(state: VmProtectionState) -> bool {
    matches!(
        state,
        VmProtectionState::Enabling | VmProtectionState::Protected | VmProtectionState::Disabling
    )
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::*;
    use crate::domain::SubscriptionId;

    fn vm(state: VmProtectionState, exclusion: Option<Exclusion>) -> ProtectedVm {
        let mut vm = ProtectedVm::pending(
            SubscriptionId::new_random(),
            Uuid::new_v4(),
            "web-01".into(),
            Uuid::new_v4(),
            Uuid::new_v4(),
            Uuid::new_v4(),
        );
        vm.state = state;
        vm.exclusion = exclusion;
        vm
    }

    #[test]
    fn a_tenant_cannot_include_what_the_provider_excluded_nor_downgrade_it() {
        let mut excluded = vm(VmProtectionState::Excluded, Some(Exclusion::Admin));
        assert_eq!(
            set_exclusion(&mut excluded, ExclusionActor::Tenant, false),
            Err(ExclusionError::ExcludedByProvider("web-01".into()))
        );
        assert_eq!(
            set_exclusion(&mut excluded, ExclusionActor::Tenant, true),
            Ok(false)
        );
        assert_eq!(excluded.exclusion, Some(Exclusion::Admin));
    }

    #[test]
    fn the_provider_includes_any_exclusion_and_the_vm_waits_for_protection() {
        for by in Exclusion::ALL {
            let mut excluded = vm(VmProtectionState::Excluded, Some(by));
            assert_eq!(
                set_exclusion(&mut excluded, ExclusionActor::Admin, false),
                Ok(true)
            );
            assert_eq!(excluded.exclusion, None);
            assert_eq!(excluded.state, VmProtectionState::Pending);
        }
    }

    #[test]
    fn excluding_a_replicating_vm_leaves_its_state_to_the_reconciliation() {
        let mut protected = vm(VmProtectionState::Protected, None);
        assert_eq!(
            set_exclusion(&mut protected, ExclusionActor::Tenant, true),
            Ok(true)
        );
        assert_eq!(protected.exclusion, Some(Exclusion::Tenant));
        assert_eq!(protected.state, VmProtectionState::Protected);

        let mut pending = vm(VmProtectionState::OverQuota, None);
        assert_eq!(
            set_exclusion(&mut pending, ExclusionActor::Admin, true),
            Ok(true)
        );
        assert_eq!(pending.state, VmProtectionState::Excluded);
        assert_eq!(pending.exclusion, Some(Exclusion::Admin));
    }

    #[test]
    fn repeating_a_change_changes_nothing() {
        let mut included = vm(VmProtectionState::Protected, None);
        assert_eq!(
            set_exclusion(&mut included, ExclusionActor::Tenant, false),
            Ok(false)
        );
        let mut excluded = vm(VmProtectionState::Excluded, Some(Exclusion::Tenant));
        assert_eq!(
            set_exclusion(&mut excluded, ExclusionActor::Tenant, true),
            Ok(false)
        );
    }
}
