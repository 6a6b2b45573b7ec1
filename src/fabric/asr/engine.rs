//! [`ReplicationEngine`] for [`AsrEngine`]: each trait method as ARM calls on the vault.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::{Value, json};
use tracing::instrument;

use super::model::{
    AsyncOperation, ContainerProperties, FabricProperties, JobProperties, MappingProperties,
    NetworkMappingProperties, PolicyProperties, ProtectableItemProperties, ProtectedItemProperties,
    RecoveryPointProperties, Resource,
};
use super::{
    AsrEngine, COMPLETED, PROVIDER, SERVICE, Submitted, direction, initial_method, last_segment,
    operation_id, policy_matches, same_resource, status,
};
use crate::fabric::replication::{
    Container, Direction, Ensured, ItemRef, OperationId, OperationState, OperationStatus,
    PolicyRef, PolicySpec, PollLimits, ProtectableVm, ProtectedItem, ProtectionStatus,
    RecoveryPoint, ReplicationEngine, Site,
};
use crate::fabric::retry::{Resend, retry_after};
use crate::fabric::{FabricError, tolerant};

#[async_trait]
impl ReplicationEngine for AsrEngine {
    #[instrument(skip_all, fields(service = SERVICE), err)]
    async fn sites(&self) -> Result<Vec<Site>, FabricError> {
        let fabrics: Vec<Resource<FabricProperties>> = self.list(&["replicationFabrics"]).await?;
        Ok(fabrics
            .into_iter()
            .map(|f| Site {
                name: f.properties.friendly_name.unwrap_or_else(|| f.name.clone()),
                stamp_id: f.properties.internal_identifier.unwrap_or_default(),
                id: f.name,
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, site), err)]
    async fn containers(&self, site: &str) -> Result<Vec<Container>, FabricError> {
        let found: Vec<Resource<ContainerProperties>> = self
            .list(&[
                "replicationFabrics",
                site,
                "replicationProtectionContainers",
            ])
            .await?;
        Ok(found
            .into_iter()
            .map(|c| Container {
                name: c.properties.friendly_name.unwrap_or_else(|| c.name.clone()),
                paired: c
                    .properties
                    .pairing_status
                    .is_some_and(|s| s.eq_ignore_ascii_case("Paired")),
                site: site.to_owned(),
                id: c.name,
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, policy = name), err)]
    async fn ensure_policy(&self, name: &str, spec: &PolicySpec) -> Result<PolicyRef, FabricError> {
        let segments = ["replicationPolicies", name];
        let found: Option<Resource<PolicyProperties>> = self.get(&segments).await?;
        let reference = |id: Option<String>| PolicyRef {
            id: id
                .filter(|i| !i.is_empty())
                .unwrap_or_else(|| self.arm_id(&segments)),
            name: name.to_owned(),
        };
        if let Some(found) = &found {
            if policy_matches(&found.properties, spec) {
                return Ok(reference(Some(found.id.clone())));
            }
        }
        let body = json!({ "properties": { "providerSpecificInput": {
            "instanceType": PROVIDER,
            "replicationFrequencyInSeconds": spec.copy_frequency_seconds,
            "recoveryPoints": spec.recovery_points,
            "applicationConsistentSnapshotFrequencyInHours": spec.app_consistent_frequency_hours,
            "compression": if spec.compression { "Enable" } else { "Disable" },
            "initialReplicationMethod": initial_method(spec),
        }}});
        let submitted = self
            .submit(Method::PUT, &segments, Some(&body), Resend::Safe)
            .await?;
        self.settle(submitted, &format!("replicationPolicies/{name}"))
            .await?;
        Ok(reference(found.map(|f| f.id)))
    }

    #[instrument(skip_all, fields(service = SERVICE, primary = %primary.id, recovery = %recovery.id), err)]
    async fn ensure_container_pairing(
        &self,
        primary: &Container,
        recovery: &Container,
        policy: &PolicyRef,
    ) -> Result<Ensured, FabricError> {
        let base = [
            "replicationFabrics",
            primary.site.as_str(),
            "replicationProtectionContainers",
            primary.id.as_str(),
            "replicationProtectionContainerMappings",
        ];
        let mappings: Vec<Resource<MappingProperties>> = self.list(&base).await?;
        // A container may replicate to several targets, and to one target under several
        // policies (one per pair and frequency): only a mapping with both is this pairing.
        let done = mappings.iter().any(|m| {
            m.properties
                .target_protection_container_id
                .as_deref()
                .is_some_and(|t| last_segment(t).eq_ignore_ascii_case(&recovery.id))
                && m.properties
                    .policy_id
                    .as_deref()
                    .is_some_and(|p| same_resource(p, &policy.id))
        });
        if done {
            return Ok(Ensured::AlreadyDone);
        }
        let taken = |name: &str| mappings.iter().any(|m| m.name.eq_ignore_ascii_case(name));
        let first = format!("{}-to-{}", primary.id, recovery.id);
        let mut name = if taken(&first) {
            format!("{first}-{}", policy.name)
        } else {
            first.clone()
        };
        let mut n = 2;
        while taken(&name) {
            name = format!("{first}-{}-{n}", policy.name);
            n += 1;
        }
        let target = self.arm_id(&[
            "replicationFabrics",
            &recovery.site,
            "replicationProtectionContainers",
            &recovery.id,
        ]);
        let body = json!({ "properties": {
            "targetProtectionContainerId": target,
            "policyId": policy.id,
            "providerSpecificInput": { "instanceType": "ReplicationProviderSpecificContainerMappingInput" },
        }});
        let mut segments = base.to_vec();
        segments.push(&name);
        Ok(
            match self
                .submit(Method::PUT, &segments, Some(&body), Resend::Safe)
                .await?
            {
                Submitted::Done => Ensured::AlreadyDone,
                Submitted::Started(id) => Ensured::Started(id),
            },
        )
    }

    #[instrument(skip_all, fields(service = SERVICE, primary_network_id, recovery_network_id), err)]
    async fn ensure_network_mapping(
        &self,
        primary_site: &str,
        primary_network_id: &str,
        recovery_site: &str,
        recovery_network_id: &str,
    ) -> Result<Ensured, FabricError> {
        let base = [
            "replicationFabrics",
            primary_site,
            "replicationNetworks",
            primary_network_id,
            "replicationNetworkMappings",
        ];
        let mappings: Vec<Resource<NetworkMappingProperties>> = self.list(&base).await?;
        if mappings.iter().any(|m| {
            m.properties
                .recovery_network_id
                .as_deref()
                .is_some_and(|r| last_segment(r).eq_ignore_ascii_case(recovery_network_id))
        }) {
            return Ok(Ensured::AlreadyDone);
        }
        let name = format!("{primary_network_id}-to-{recovery_network_id}");
        let body = json!({ "properties": {
            "recoveryFabricName": recovery_site,
            "recoveryNetworkId": self.arm_id(&["replicationFabrics", recovery_site, "replicationNetworks", recovery_network_id]),
            "fabricSpecificDetails": { "instanceType": "VmmToVmm" },
        }});
        let mut segments = base.to_vec();
        segments.push(&name);
        Ok(
            match self
                .submit(Method::PUT, &segments, Some(&body), Resend::Safe)
                .await?
            {
                Submitted::Done => Ensured::AlreadyDone,
                Submitted::Started(id) => Ensured::Started(id),
            },
        )
    }

    #[instrument(skip_all, fields(service = SERVICE, container = %container.id), err)]
    async fn protectable_vms(
        &self,
        container: &Container,
    ) -> Result<Vec<ProtectableVm>, FabricError> {
        let items: Vec<Resource<ProtectableItemProperties>> = self
            .list(&[
                "replicationFabrics",
                &container.site,
                "replicationProtectionContainers",
                &container.id,
                "replicationProtectableItems",
            ])
            .await?;
        Ok(items.into_iter().map(protectable).collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, container = %container.id, vm_id), err)]
    async fn protectable_vm(
        &self,
        container: &Container,
        vm_id: &str,
    ) -> Result<Option<ProtectableVm>, FabricError> {
        let item: Option<Resource<ProtectableItemProperties>> = self
            .get(&[
                "replicationFabrics",
                &container.site,
                "replicationProtectionContainers",
                &container.id,
                "replicationProtectableItems",
                vm_id,
            ])
            .await?;
        Ok(item.map(protectable))
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn enable_protection(
        &self,
        item: &ItemRef,
        policy: &PolicyRef,
    ) -> Result<OperationId, FabricError> {
        let protectable = self.arm_id(&[
            "replicationFabrics",
            &item.site,
            "replicationProtectionContainers",
            &item.container,
            "replicationProtectableItems",
            &item.vm_id,
        ]);
        let body = json!({ "properties": {
            "policyId": policy.id,
            "protectableItemId": protectable,
            "providerSpecificDetails": { "instanceType": PROVIDER },
        }});
        // Re-sending the same PUT is answered without a new job: safe to retry.
        let submitted = self
            .submit(
                Method::PUT,
                &Self::item_path(item),
                Some(&body),
                Resend::Safe,
            )
            .await?;
        Ok(operation_id(submitted))
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn protection_status(
        &self,
        item: &ItemRef,
    ) -> Result<Option<ProtectionStatus>, FabricError> {
        let found: Option<Resource<ProtectedItemProperties>> =
            self.get(&Self::item_path(item)).await?;
        Ok(found.map(|r| status::protection_status(&r.properties)))
    }

    #[instrument(skip_all, fields(service = SERVICE, container = %container.id), err)]
    async fn protected_items(
        &self,
        container: &Container,
    ) -> Result<Vec<ProtectedItem>, FabricError> {
        let mut items = Vec::new();
        self.for_each_page(
            &[
                "replicationFabrics",
                &container.site,
                "replicationProtectionContainers",
                &container.id,
                "replicationProtectedItems",
            ],
            |page: Vec<Resource<ProtectedItemProperties>>| {
                items.extend(page.into_iter().map(|i| ProtectedItem {
                    status: status::protection_status(&i.properties),
                    name: i.properties.friendly_name.unwrap_or_else(|| i.name.clone()),
                    item: ItemRef {
                        site: container.site.clone(),
                        container: container.id.clone(),
                        vm_id: i.name,
                    },
                }));
            },
        )
        .await?;
        Ok(items)
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn recovery_points(&self, item: &ItemRef) -> Result<Vec<RecoveryPoint>, FabricError> {
        let mut segments = Self::item_path(item).to_vec();
        segments.push("recoveryPoints");
        let points: Vec<Resource<RecoveryPointProperties>> = self.list(&segments).await?;
        Ok(points
            .into_iter()
            .filter_map(|p| {
                Some(RecoveryPoint {
                    time: p.properties.recovery_point_time?,
                    app_consistent: p
                        .properties
                        .recovery_point_type
                        .is_some_and(|t| t.eq_ignore_ascii_case("ApplicationConsistent")),
                    id: p.name,
                })
            })
            .collect())
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn test_failover(
        &self,
        item: &ItemRef,
        way: Direction,
        test_network_id: Option<&str>,
    ) -> Result<OperationId, FabricError> {
        let properties = match test_network_id {
            Some(network) => json!({ "failoverDirection": direction(way),
                "networkType": "VmNetworkAsInput", "networkId": network }),
            None => json!({ "failoverDirection": direction(way),
                "networkType": "NoNetworkAttachAsInput" }),
        };
        self.action(item, "testFailover", properties).await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn test_failover_cleanup(
        &self,
        item: &ItemRef,
        comment: &str,
    ) -> Result<OperationId, FabricError> {
        self.action(item, "testFailoverCleanup", json!({ "comments": comment }))
            .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn planned_failover(
        &self,
        item: &ItemRef,
        way: Direction,
    ) -> Result<OperationId, FabricError> {
        self.action(
            item,
            "plannedFailover",
            json!({ "failoverDirection": direction(way) }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn unplanned_failover(
        &self,
        item: &ItemRef,
        way: Direction,
        source_site_available: bool,
    ) -> Result<OperationId, FabricError> {
        let source = if source_site_available {
            "Required"
        } else {
            "NotRequired"
        };
        self.action(
            item,
            "unplannedFailover",
            json!({ "failoverDirection": direction(way), "sourceSiteOperations": source }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn apply_recovery_point(
        &self,
        item: &ItemRef,
        point_id: &str,
    ) -> Result<OperationId, FabricError> {
        let point = if point_id.starts_with('/') {
            point_id.to_owned()
        } else {
            let mut segments = Self::item_path(item).to_vec();
            segments.extend(["recoveryPoints", point_id]);
            self.arm_id(&segments)
        };
        self.action(
            item,
            "applyRecoveryPoint",
            json!({ "recoveryPointId": point }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn commit(&self, item: &ItemRef) -> Result<OperationId, FabricError> {
        self.action(item, "failoverCommit", json!({})).await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn cancel_failover(&self, item: &ItemRef) -> Result<OperationId, FabricError> {
        // ASR defines `failoverCancel` without a request body (asr-model §3).
        self.bare_action(item, "failoverCancel").await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn reprotect(&self, item: &ItemRef, way: Direction) -> Result<OperationId, FabricError> {
        self.action(
            item,
            "reProtect",
            json!({ "failoverDirection": direction(way) }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, vm_id = %item.vm_id), err)]
    async fn disable_protection(&self, item: &ItemRef) -> Result<OperationId, FabricError> {
        self.action(
            item,
            "remove",
            json!({ "disableProtectionReason": "NotSpecified" }),
        )
        .await
    }

    #[instrument(skip_all, fields(service = SERVICE, operation = %id.as_str()), err)]
    async fn operation(&self, id: &OperationId) -> Result<OperationStatus, FabricError> {
        if id.as_str() == COMPLETED {
            return Ok(OperationStatus {
                state: OperationState::Succeeded,
                progress: Some(100),
                retry_after: None,
                tasks: Vec::new(),
            });
        }
        let mut url = self.followable(id.as_str())?;
        if !url.query_pairs().any(|(k, _)| k == "api-version") {
            url.query_pairs_mut()
                .append_pair("api-version", &self.api_version);
        }
        let response = self.call(Method::GET, &url, None, Resend::Safe).await?;
        let wait = retry_after(response.headers());
        let code = response.status();
        let bytes = response.bytes().await.map_err(|e| {
            FabricError::protocol(SERVICE, url.as_str(), format!("reading the answer: {e}"))
        })?;
        let mut status = if code == reqwest::StatusCode::ACCEPTED {
            // A `Location` URL answers 202 while the operation runs.
            OperationStatus {
                state: OperationState::InProgress,
                progress: None,
                retry_after: None,
                tasks: Vec::new(),
            }
        } else if bytes.iter().all(u8::is_ascii_whitespace) {
            // …and 200 with an empty body (or the resource) once it is done.
            OperationStatus {
                state: OperationState::Succeeded,
                progress: Some(100),
                retry_after: None,
                tasks: Vec::new(),
            }
        } else {
            let value: Value = serde_json::from_slice(&bytes)
                .map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))?;
            let as_job = value
                .get("properties")
                .and_then(|p| p.get("state"))
                .is_some();
            if value.get("status").is_some() {
                let answer: AsyncOperation = tolerant::from_value(value)
                    .map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))?;
                status::async_status(&answer)
            } else if as_job {
                let job: Resource<JobProperties> = tolerant::from_value(value)
                    .map_err(|e| FabricError::protocol(SERVICE, url.as_str(), e))?;
                status::job_status(&job.properties)
            } else {
                // A Location URL answering with the finished resource.
                OperationStatus {
                    state: OperationState::Succeeded,
                    progress: Some(100),
                    retry_after: None,
                    tasks: Vec::new(),
                }
            }
        };
        // The job holds the tasks and the detailed errors; read it once the operation ended.
        if status.state.is_terminal() && status.tasks.is_empty() {
            if let Ok(Some(job)) = self.job(id).await {
                if matches!(status.state, OperationState::Failed { .. }) && job.state.is_terminal()
                {
                    status.state = job.state;
                }
                status.tasks = job.tasks;
                status.progress = job.progress.or(status.progress);
            }
        }
        status.retry_after = wait;
        Ok(status)
    }

    fn poll_limits(&self) -> PollLimits {
        self.poll
    }

    fn max_parallel_operations(&self) -> u32 {
        self.max_parallel
    }
}

/// A protectable item as the replication engine's view of a VM.
fn protectable(item: Resource<ProtectableItemProperties>) -> ProtectableVm {
    ProtectableVm {
        name: item
            .properties
            .friendly_name
            .unwrap_or_else(|| item.name.clone()),
        protected: item
            .properties
            .protection_status
            .is_some_and(|s| s.eq_ignore_ascii_case("Protected")),
        readiness_errors: item.properties.protection_readiness_errors,
        vm_id: item.name,
    }
}
