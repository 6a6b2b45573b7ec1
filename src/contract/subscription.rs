//! The `Subscription` WAP sends to the notification endpoint and gets back (spec §2.2).

use super::codec::{ContractError, FromWire, Node, Out, ToWire};
use super::quota::quota_list;
use crate::domain::{LifecycleState, QuotaSetting, SubscriptionId, SubscriptionState};

/// A subscription as it travels between WAP and the RP (`ResourceProviderSubscription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireSubscription {
    /// The WAP subscription id.
    pub subscription_id: SubscriptionId,
    /// The friendly name.
    pub subscription_name: Option<String>,
    /// The state WAP set (absent reads as `Active`).
    pub state: SubscriptionState,
    /// Where the RP stands with the last operation (async protocol).
    pub lifecycle_state: Option<LifecycleState>,
    /// Why the last operation failed.
    pub last_error_message: Option<String>,
    /// The effective quota for this RP.
    pub quota_settings: Vec<QuotaSetting>,
    /// The account admin.
    pub admin_id: Option<String>,
    /// The co-administrators.
    pub co_admin_ids: Vec<String>,
}

impl FromWire for WireSubscription {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            subscription_id: node.required_subscription_id(&["SubscriptionId"])?,
            subscription_name: node.optional_str(&["SubscriptionName"])?,
            state: node
                .optional_enum(&["State"])?
                .unwrap_or(SubscriptionState::Active),
            // `LifeCycleState` (the docs' spelling) differs only by case, which `get` ignores.
            lifecycle_state: node.optional_enum(&["LifecycleState"])?,
            last_error_message: node.optional_str(&["LastErrorMessage"])?,
            quota_settings: node.list(&["QuotaSettings"])?,
            admin_id: node.optional_str(&["AdminId"])?,
            co_admin_ids: node.string_list(&["CoAdminIds", "CoAdmins"])?,
        })
    }
}

impl ToWire for WireSubscription {
    const XML_ROOT: &'static str = "Subscription";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("SubscriptionId", Out::Str(self.subscription_id.to_string())),
            ("SubscriptionName", Out::opt_str(&self.subscription_name)),
            ("State", Out::enumeration(self.state)),
            (
                "LifecycleState",
                self.lifecycle_state.map_or(Out::Null, Out::enumeration),
            ),
            ("LastErrorMessage", Out::opt_str(&self.last_error_message)),
            ("QuotaSettings", quota_list(&self.quota_settings)),
            ("AdminId", Out::opt_str(&self.admin_id)),
            ("CoAdminIds", Out::StrList(self.co_admin_ids.clone())),
        ])
    }
}
