//! The mapping between the `recovery_plans` table and [`RecoveryPlan`], shared by both backends:
//! a plan's groups are stored as one JSON document in the shapes below (kept apart from the
//! domain types so the domain needs no serde and the stored form changes only on purpose).

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::rows::{corrupt, decode_json, encode_json};
use crate::domain::{Action, Group, RecoveryPlan, SubscriptionId, SuccessRule, Webhook};

/// The `recovery_plans` columns, in the order [`RecoveryPlanRow`] reads them.
pub(super) const PLAN_COLUMNS: &str =
    "id, subscription_id, name, description, groups, is_default, updated_at, version";

/// A group as stored.
#[derive(Serialize, Deserialize)]
struct StoredGroup {
    name: String,
    vms: Vec<Uuid>,
    delay_seconds: u32,
    pre_actions: Vec<StoredAction>,
    post_actions: Vec<StoredAction>,
}

/// An action as stored, tagged by kind.
#[derive(Serialize, Deserialize)]
#[serde(tag = "kind")]
enum StoredAction {
    Script {
        url: String,
        timeout_seconds: u32,
        status_codes: Vec<u16>,
        body_contains: Option<String>,
    },
    Runbook {
        name: String,
    },
    Manual {
        prompt: String,
    },
}

impl From<&Action> for StoredAction {
    fn from(action: &Action) -> Self {
        match action {
            Action::Script(hook) => Self::Script {
                url: hook.url.clone(),
                timeout_seconds: hook.timeout_seconds,
                status_codes: hook.success.status_codes.clone(),
                body_contains: hook.success.body_contains.clone(),
            },
            Action::Runbook { name } => Self::Runbook { name: name.clone() },
            Action::Manual { prompt } => Self::Manual {
                prompt: prompt.clone(),
            },
        }
    }
}

impl From<StoredAction> for Action {
    fn from(action: StoredAction) -> Self {
        match action {
            StoredAction::Script {
                url,
                timeout_seconds,
                status_codes,
                body_contains,
            } => Self::Script(Webhook {
                url,
                timeout_seconds,
                success: SuccessRule {
                    status_codes,
                    body_contains,
                },
            }),
            StoredAction::Runbook { name } => Self::Runbook { name },
            StoredAction::Manual { prompt } => Self::Manual { prompt },
        }
    }
}

/// A plan's groups in their stored form.
pub(super) fn groups_json(plan: &RecoveryPlan) -> Result<String, StoreError> {
    let stored: Vec<StoredGroup> = plan
        .groups
        .iter()
        .map(|g| StoredGroup {
            name: g.name.clone(),
            vms: g.vms.clone(),
            delay_seconds: g.delay_seconds,
            pre_actions: g.pre_actions.iter().map(StoredAction::from).collect(),
            post_actions: g.post_actions.iter().map(StoredAction::from).collect(),
        })
        .collect();
    encode_json("recovery_plans.groups", &plan.id.to_string(), &stored)
}

/// One `recovery_plans` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct RecoveryPlanRow {
    id: String,
    subscription_id: String,
    name: String,
    description: Option<String>,
    groups: String,
    is_default: bool,
    updated_at: OffsetDateTime,
    version: i64,
}

impl RecoveryPlanRow {
    /// The domain plan this row holds.
    pub(super) fn into_plan(self) -> Result<RecoveryPlan, StoreError> {
        let row = self.id.as_str();
        let id = Uuid::parse_str(row).map_err(|_| corrupt("recovery_plans.id", row, row))?;
        let subscription_id = SubscriptionId::parse(&self.subscription_id)
            .map_err(|_| corrupt("recovery_plans.subscription_id", row, &self.subscription_id))?;
        let stored: Vec<StoredGroup> = decode_json("recovery_plans.groups", row, &self.groups)?;
        let groups = stored
            .into_iter()
            .map(|g| Group {
                name: g.name,
                vms: g.vms,
                delay_seconds: g.delay_seconds,
                pre_actions: g.pre_actions.into_iter().map(Action::from).collect(),
                post_actions: g.post_actions.into_iter().map(Action::from).collect(),
            })
            .collect();
        Ok(RecoveryPlan {
            id,
            subscription_id,
            name: self.name,
            description: self.description,
            groups,
            is_default: self.is_default,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}
