//! ASR recovery plans, on [`AsrEngine`] itself rather than the engine-neutral trait: wapdr
//! orchestrates groups of VMs itself and uses ASR plans only when an operator asks for them.
//!
//! A plan is written whole with PUT (re-sending it is safe); the service adds its own `Shutdown`
//! and `Failover` groups before the posted `Boot` groups.

use reqwest::Method;
use serde_json::{Value, json};
use tracing::instrument;

use super::model::{RecoveryPlanProperties, Resource};
use super::{AsrEngine, SERVICE, Submitted, direction, operation_id, status};
use crate::fabric::FabricError;
use crate::fabric::replication::{Direction, Ensured, ItemRef, Operation, OperationId};
use crate::fabric::retry::Resend;

/// The most protected items ASR accepts in one plan.
pub const MAX_PLAN_ITEMS: usize = 100;

/// One boot group: its items start together, after the previous group.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct PlanGroup {
    /// The protected VMs of the group.
    pub items: Vec<ItemRef>,
    /// Actions before the group starts (ASR action objects, passed through).
    pub start_actions: Vec<Value>,
    /// Actions after it (ASR action objects, passed through).
    pub end_actions: Vec<Value>,
}

/// A recovery plan to write.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryPlanSpec {
    /// The primary site (fabric name).
    pub primary_site: String,
    /// The recovery site (fabric name).
    pub recovery_site: String,
    /// The boot groups, in order.
    pub groups: Vec<PlanGroup>,
}

/// A recovery plan as the service reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct RecoveryPlanInfo {
    /// The plan's name.
    pub name: String,
    /// What the service allows next.
    pub allowed: Vec<Operation>,
    /// `(group type, VM ids)` per group, the service's groups included.
    pub groups: Vec<(String, Vec<String>)>,
}

/// What to do with a whole plan.
#[derive(Debug, Clone, PartialEq)]
pub enum PlanAction {
    /// Test failover, into a VM network or none.
    TestFailover {
        /// Which way.
        direction: Direction,
        /// The isolated network to attach test VMs to.
        network_id: Option<String>,
    },
    /// Clean a test failover up.
    TestFailoverCleanup {
        /// The operator's note.
        comment: String,
    },
    /// Planned failover.
    PlannedFailover {
        /// Which way.
        direction: Direction,
    },
    /// Unplanned failover.
    UnplannedFailover {
        /// Which way.
        direction: Direction,
        /// Whether to try shutting the source down first.
        source_site_available: bool,
    },
    /// Commit the failover.
    Commit,
    /// Reverse replication.
    Reprotect {
        /// Which way.
        direction: Direction,
    },
}

impl AsrEngine {
    /// Creates or replaces a recovery plan.
    #[instrument(skip_all, fields(service = SERVICE, plan = name), err)]
    pub async fn put_recovery_plan(
        &self,
        name: &str,
        spec: &RecoveryPlanSpec,
    ) -> Result<Ensured, FabricError> {
        let count: usize = spec.groups.iter().map(|g| g.items.len()).sum();
        if count > MAX_PLAN_ITEMS {
            return Err(FabricError::Rejected {
                service: SERVICE.to_owned(),
                url: format!("replicationRecoveryPlans/{name}"),
                status: 400,
                code: "TooManyItems".to_owned(),
                message: format!("{count} items; a recovery plan holds at most {MAX_PLAN_ITEMS}"),
            });
        }
        let groups: Vec<Value> = spec
            .groups
            .iter()
            .map(|g| {
                let items: Vec<Value> = g
                    .items
                    .iter()
                    .map(|i| {
                        json!({ "id": self.arm_id(&Self::item_path(i)), "virtualMachineId": i.vm_id })
                    })
                    .collect();
                json!({ "groupType": "Boot", "replicationProtectedItems": items,
                        "startGroupActions": g.start_actions, "endGroupActions": g.end_actions })
            })
            .collect();
        let body = json!({ "properties": {
            "primaryFabricId": self.arm_id(&["replicationFabrics", &spec.primary_site]),
            "recoveryFabricId": self.arm_id(&["replicationFabrics", &spec.recovery_site]),
            "failoverDeploymentModel": "NotApplicable",
            "groups": groups,
        }});
        let submitted = self
            .submit(
                Method::PUT,
                &["replicationRecoveryPlans", name],
                Some(&body),
                Resend::Safe,
            )
            .await?;
        Ok(ensured(submitted))
    }

    /// Deletes a recovery plan; deleting one that is gone succeeds.
    #[instrument(skip_all, fields(service = SERVICE, plan = name), err)]
    pub async fn delete_recovery_plan(&self, name: &str) -> Result<Ensured, FabricError> {
        let url = self.url(&["replicationRecoveryPlans", name])?;
        match self.call(Method::DELETE, &url, None, Resend::Safe).await {
            Ok(response) if response.status() == reqwest::StatusCode::ACCEPTED => {
                let location = response
                    .headers()
                    .get("azure-asyncoperation")
                    .or_else(|| response.headers().get("location"))
                    .and_then(|v| v.to_str().ok())
                    .map(str::to_owned);
                match location {
                    Some(l) => Ok(Ensured::Started(OperationId(
                        self.followable(&l)?.to_string(),
                    ))),
                    None => Ok(Ensured::AlreadyDone),
                }
            }
            Ok(_) | Err(FabricError::NotFound { .. }) => Ok(Ensured::AlreadyDone),
            Err(e) => Err(e),
        }
    }

    /// Reads a recovery plan; `None` if there is none with this name.
    #[instrument(skip_all, fields(service = SERVICE, plan = name), err)]
    pub async fn recovery_plan(&self, name: &str) -> Result<Option<RecoveryPlanInfo>, FabricError> {
        let found: Option<Resource<RecoveryPlanProperties>> =
            self.get(&["replicationRecoveryPlans", name]).await?;
        Ok(found.map(plan_info))
    }

    /// Lists the vault's recovery plans.
    #[instrument(skip_all, fields(service = SERVICE), err)]
    pub async fn recovery_plans(&self) -> Result<Vec<RecoveryPlanInfo>, FabricError> {
        let plans: Vec<Resource<RecoveryPlanProperties>> =
            self.list(&["replicationRecoveryPlans"]).await?;
        Ok(plans.into_iter().map(plan_info).collect())
    }

    /// Runs an action on a whole plan.
    #[instrument(skip_all, fields(service = SERVICE, plan = name), err)]
    pub async fn recovery_plan_action(
        &self,
        name: &str,
        action: &PlanAction,
    ) -> Result<OperationId, FabricError> {
        let (verb, properties) = match action {
            PlanAction::TestFailover {
                direction: way,
                network_id,
            } => (
                "testFailover",
                match network_id {
                    Some(n) => json!({ "failoverDirection": direction(*way),
                        "networkType": "VmNetworkAsInput", "networkId": n }),
                    None => json!({ "failoverDirection": direction(*way),
                        "networkType": "NoNetworkAttachAsInput" }),
                },
            ),
            PlanAction::TestFailoverCleanup { comment } => {
                ("testFailoverCleanup", json!({ "comments": comment }))
            }
            PlanAction::PlannedFailover { direction: way } => (
                "plannedFailover",
                json!({ "failoverDirection": direction(*way) }),
            ),
            PlanAction::UnplannedFailover {
                direction: way,
                source_site_available,
            } => (
                "unplannedFailover",
                json!({ "failoverDirection": direction(*way),
                    "sourceSiteOperations": if *source_site_available { "Required" } else { "NotRequired" } }),
            ),
            PlanAction::Commit => ("failoverCommit", json!({})),
            PlanAction::Reprotect { direction: way } => {
                ("reProtect", json!({ "failoverDirection": direction(*way) }))
            }
        };
        let submitted = self
            .submit(
                Method::POST,
                &["replicationRecoveryPlans", name, verb],
                Some(&json!({ "properties": properties })),
                Resend::Unsafe,
            )
            .await?;
        Ok(operation_id(submitted))
    }
}

fn ensured(submitted: Submitted) -> Ensured {
    match submitted {
        Submitted::Done => Ensured::AlreadyDone,
        Submitted::Started(id) => Ensured::Started(id),
    }
}

/// Reads a recovery plan resource into what wapdr shows.
pub(crate) fn plan_info(plan: Resource<RecoveryPlanProperties>) -> RecoveryPlanInfo {
    RecoveryPlanInfo {
        allowed: plan
            .properties
            .allowed_operations
            .iter()
            .map(|o| status::operation(o))
            .collect(),
        groups: plan
            .properties
            .groups
            .iter()
            .map(|g| {
                (
                    g.group_type.clone().unwrap_or_default(),
                    g.replication_protected_items
                        .iter()
                        .filter_map(|i| i.virtual_machine_id.clone())
                        .collect(),
                )
            })
            .collect(),
        name: plan.name,
    }
}
