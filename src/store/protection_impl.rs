//! The one implementation of [`ProtectionStore`](super::ProtectionStore), instantiated for each
//! backend by `impl_protection_store!`. (Placeholder until the SQL lands.)

/// Implements `ProtectionStore` for `$store`.
macro_rules! impl_protection_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use async_trait::async_trait;
            use uuid::Uuid;

            use crate::domain::{DrSubscription, ProtectedVm, SubscriptionId};
            use crate::store::{DrFilter, ProtectionStore, StateCounts, StoreError, VmFilter};

            #[async_trait]
            impl ProtectionStore for $store {
                async fn put_dr_subscription(
                    &self,
                    _dr: &DrSubscription,
                ) -> Result<DrSubscription, StoreError> {
                    todo!()
                }
                async fn get_dr_subscription(
                    &self,
                    _id: SubscriptionId,
                ) -> Result<Option<DrSubscription>, StoreError> {
                    todo!()
                }
                async fn list_dr_subscriptions(
                    &self,
                    _f: &DrFilter,
                ) -> Result<Vec<DrSubscription>, StoreError> {
                    todo!()
                }
                async fn save_protected_vm(
                    &self,
                    _vm: &ProtectedVm,
                ) -> Result<ProtectedVm, StoreError> {
                    todo!()
                }
                async fn get_protected_vm(
                    &self,
                    _s: SubscriptionId,
                    _v: Uuid,
                ) -> Result<Option<ProtectedVm>, StoreError> {
                    todo!()
                }
                async fn find_protected_vm(
                    &self,
                    _v: Uuid,
                ) -> Result<Option<ProtectedVm>, StoreError> {
                    todo!()
                }
                async fn list_protected_vms(
                    &self,
                    _s: SubscriptionId,
                ) -> Result<Vec<ProtectedVm>, StoreError> {
                    todo!()
                }
                async fn query_protected_vms(
                    &self,
                    _f: &VmFilter,
                ) -> Result<Vec<ProtectedVm>, StoreError> {
                    todo!()
                }
                async fn count_protected_vms(
                    &self,
                    _s: SubscriptionId,
                ) -> Result<StateCounts, StoreError> {
                    todo!()
                }
                async fn delete_protected_vm(
                    &self,
                    _s: SubscriptionId,
                    _v: Uuid,
                ) -> Result<bool, StoreError> {
                    todo!()
                }
                async fn get_cursor(&self, _n: &str) -> Result<Option<String>, StoreError> {
                    todo!()
                }
                async fn set_cursor(&self, _n: &str, _v: &str) -> Result<(), StoreError> {
                    todo!()
                }
            }
        };
    };
}

pub(super) use impl_protection_store;
