//! The `Subscription` WAP sends to the notification endpoint and gets back (spec §2.2).

use super::codec::{ContractError, FromWire, Node, Out, ToWire, read_items};
use super::quota::quota_list;
use crate::domain::{LifecycleState, QuotaSetting, SubscriptionId, SubscriptionState};

/// A subscription as it travels between WAP and the RP (`ResourceProviderSubscription`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WireSubscription {
    /// The WAP subscription id.
    pub subscription_id: SubscriptionId,
    /// The friendly name.
    pub subscription_name: Option<String>,
    /// The state WAP set; `None` when the body does not name it (an update then keeps the state).
    pub state: Option<SubscriptionState>,
    /// Where the RP stands with the last operation (async protocol).
    pub lifecycle_state: Option<LifecycleState>,
    /// Why the last operation failed.
    pub last_error_message: Option<String>,
    /// The effective quota for this RP.
    pub quota_settings: Vec<QuotaSetting>,
    /// The account admin.
    pub admin_id: Option<String>,
    /// The co-administrators; `None` when absent or nil (an update then keeps them).
    pub co_admin_ids: Option<Vec<String>>,
}

impl FromWire for WireSubscription {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            subscription_id: node.required_subscription_id(&["SubscriptionId"])?,
            subscription_name: node.optional_str(&["SubscriptionName"])?,
            state: node.optional_enum(&["State"])?,
            // `LifeCycleState` (the docs' spelling) differs only by case, which `get` ignores.
            lifecycle_state: node.optional_enum(&["LifecycleState"])?,
            last_error_message: node.optional_str(&["LastErrorMessage"])?,
            quota_settings: node.list(&["QuotaSettings"])?,
            admin_id: node.optional_str(&["AdminId"])?,
            co_admin_ids: node.optional_string_list(&["CoAdminIds", "CoAdmins"])?,
        })
    }
}

impl ToWire for WireSubscription {
    const XML_ROOT: &'static str = "Subscription";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("SubscriptionId", Out::Str(self.subscription_id.to_string())),
            ("SubscriptionName", Out::opt_str(&self.subscription_name)),
            ("State", self.state.map_or(Out::Null, Out::enumeration)),
            (
                "LifecycleState",
                self.lifecycle_state.map_or(Out::Null, Out::enumeration),
            ),
            ("LastErrorMessage", Out::opt_str(&self.last_error_message)),
            ("QuotaSettings", quota_list(&self.quota_settings)),
            ("AdminId", Out::opt_str(&self.admin_id)),
            (
                "CoAdminIds",
                self.co_admin_ids.clone().map_or(Out::Null, Out::StrList),
            ),
        ])
    }
}

/// Several subscriptions: a JSON array, or DataContract `<Subscriptions><Subscription>...`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubscriptionList(pub Vec<WireSubscription>);

impl FromWire for SubscriptionList {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        read_items(node).map(Self)
    }
}

impl ToWire for SubscriptionList {
    const XML_ROOT: &'static str = "Subscriptions";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "Subscription",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}
