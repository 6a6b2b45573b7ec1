//! The quota contracts of the notification endpoint (spec §2.4): the default quota list, the
//! `PUT /quota` batch and its result.

use super::codec::{ContractError, FromWire, Node, Out, ToWire, read_items};
use super::error::WapError;
use crate::domain::{QuotaSetting, SubscriptionId};

/// The XML item name of one quota setting.
const SETTING_ITEM: &str = "ServiceQuotaSetting";

impl FromWire for QuotaSetting {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            key: node.required_str(&["Key"])?,
            // A null value is read as empty text, which the quota rules treat as "not named".
            value: node.str_or_empty(&["Value"])?,
        })
    }
}

impl ToWire for QuotaSetting {
    const XML_ROOT: &'static str = SETTING_ITEM;

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("Key", Out::Str(self.key.clone())),
            ("Value", Out::Str(self.value.clone())),
        ])
    }
}

/// A quota list as a member value: items `ServiceQuotaSetting`.
pub(crate) fn quota_list(settings: &[QuotaSetting]) -> Out {
    Out::List {
        item: SETTING_ITEM,
        items: settings.iter().map(ToWire::to_wire).collect(),
    }
}

/// A `ServiceQuotaSettingList`, the body of `GET /defaultquota` (JSON: a bare array).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceQuotaSettingList(pub Vec<QuotaSetting>);

impl FromWire for ServiceQuotaSettingList {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        read_items(node).map(Self)
    }
}

impl ToWire for ServiceQuotaSettingList {
    const XML_ROOT: &'static str = "ServiceQuotaSettings";

    fn to_wire(&self) -> Out {
        quota_list(&self.0)
    }
}

/// The body of `PUT /quota`: the plan's quota, one list per add-on instance, and who to update.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaUpdateBatch {
    /// The plan's quota for this RP.
    pub base_quota: Vec<QuotaSetting>,
    /// One list per acquired add-on instance.
    pub add_on_quotas: Vec<Vec<QuotaSetting>>,
    /// The subscriptions the new quota applies to.
    pub subscription_ids_to_update: Vec<SubscriptionId>,
}

impl FromWire for QuotaUpdateBatch {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let add_on_quotas = node
            .list::<ServiceQuotaSettingList>(&["AddOnQuotas"])?
            .into_iter()
            .map(|list| list.0)
            .collect();
        let subscription_ids_to_update = node
            .string_list(&["SubscriptionIdsToUpdate"])?
            .iter()
            .enumerate()
            .map(|(index, text)| {
                SubscriptionId::parse(text).map_err(|e| {
                    ContractError::member(&format!("SubscriptionIdsToUpdate[{index}]"), e)
                })
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            base_quota: node.list(&["BaseQuota"])?,
            add_on_quotas,
            subscription_ids_to_update,
        })
    }
}

impl ToWire for QuotaUpdateBatch {
    const XML_ROOT: &'static str = "QuotaUpdateBatch";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("BaseQuota", quota_list(&self.base_quota)),
            (
                "AddOnQuotas",
                Out::List {
                    item: "ServiceQuotaSettings",
                    items: self.add_on_quotas.iter().map(|l| quota_list(l)).collect(),
                },
            ),
            (
                "SubscriptionIdsToUpdate",
                Out::StrList(
                    self.subscription_ids_to_update
                        .iter()
                        .map(ToString::to_string)
                        .collect(),
                ),
            ),
        ])
    }
}

/// The answer to `PUT /quota`: which subscriptions took the new quota and which did not.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QuotaUpdateResultBatch {
    /// Subscriptions updated.
    pub updated_subscription_ids: Vec<String>,
    /// Subscriptions that kept their old quota.
    pub failed_subscription_ids: Vec<String>,
    /// Why some failed.
    pub error: Option<WapError>,
}

impl FromWire for QuotaUpdateResultBatch {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            updated_subscription_ids: node.string_list(&["UpdatedSubscriptionIds"])?,
            failed_subscription_ids: node.string_list(&["FailedSubscriptionIds"])?,
            error: node.optional(&["Error"])?,
        })
    }
}

impl ToWire for QuotaUpdateResultBatch {
    const XML_ROOT: &'static str = "QuotaUpdateResultBatch";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            (
                "UpdatedSubscriptionIds",
                Out::StrList(self.updated_subscription_ids.clone()),
            ),
            (
                "FailedSubscriptionIds",
                Out::StrList(self.failed_subscription_ids.clone()),
            ),
            (
                "Error",
                self.error.as_ref().map_or(Out::Null, ToWire::to_wire),
            ),
        ])
    }
}
