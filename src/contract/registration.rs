//! Admin API bodies wapdr sends to WAP: the `ResourceProvider` registration (spec §4) and the
//! `AzureProvisioningInfo` that creates a subscription with a chosen id (spec §6.3).

use std::fmt;
use std::time::Duration;

use super::codec::{ContractError, FromWire, Node, Out, ToWire, WireEnum};
use crate::domain::SubscriptionId;

/// How WAP authenticates to an RP endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum AuthenticationMode {
    /// No credentials.
    #[default]
    None,
    /// HTTP Basic with the registered user name and password.
    Basic,
    /// Windows integrated authentication.
    Windows,
}

impl WireEnum for AuthenticationMode {
    const VARIANTS: &'static [(Self, &'static str, i64)] = &[
        (Self::None, "None", 0),
        (Self::Basic, "Basic", 1),
        (Self::Windows, "Windows", 2),
    ];
}

/// What kind of RP is registered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum ResourceProviderType {
    /// An ordinary RP offered in plans (wapdr).
    #[default]
    Standard,
    /// An RP that only reports usage.
    UsageProvider,
    /// A cloud service provider.
    CloudServiceProvider,
}

impl WireEnum for ResourceProviderType {
    const VARIANTS: &'static [(Self, &'static str, i64)] = &[
        (Self::Standard, "Standard", 0),
        (Self::UsageProvider, "UsageProvider", 1),
        (Self::CloudServiceProvider, "CloudServiceProvider", 2),
    ];
}

/// One RP endpoint: where WAP forwards calls and with which credentials.
#[derive(Clone, PartialEq, Eq, Default)]
pub struct ResourceProviderEndpoint {
    /// The base URL WAP forwards to.
    pub forwarding_address: String,
    /// How WAP authenticates.
    pub authentication_mode: AuthenticationMode,
    /// The user name WAP presents.
    pub authentication_username: Option<String>,
    /// The password WAP presents (redacted from `Debug`).
    pub authentication_password: Option<String>,
}

impl fmt::Debug for ResourceProviderEndpoint {
    // The password must never reach a log line through `{:?}`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResourceProviderEndpoint")
            .field("forwarding_address", &self.forwarding_address)
            .field("authentication_mode", &self.authentication_mode)
            .field("authentication_username", &self.authentication_username)
            .field(
                "authentication_password",
                &self.authentication_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl ResourceProviderEndpoint {
    fn members(&self) -> Vec<(&'static str, Out)> {
        vec![
            (
                "ForwardingAddress",
                Out::Str(self.forwarding_address.clone()),
            ),
            (
                "AuthenticationMode",
                Out::enumeration(self.authentication_mode),
            ),
            (
                "AuthenticationUsername",
                Out::opt_str(&self.authentication_username),
            ),
            (
                "AuthenticationPassword",
                Out::opt_str(&self.authentication_password),
            ),
        ]
    }
}

impl FromWire for ResourceProviderEndpoint {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            forwarding_address: node.required_str(&["ForwardingAddress"])?,
            authentication_mode: node
                .optional_enum(&["AuthenticationMode"])?
                .unwrap_or_default(),
            authentication_username: node.optional_str(&["AuthenticationUsername"])?,
            authentication_password: node.optional_str(&["AuthenticationPassword"])?,
        })
    }
}

impl ToWire for ResourceProviderEndpoint {
    const XML_ROOT: &'static str = "ResourceProviderEndpoint";

    fn to_wire(&self) -> Out {
        Out::Obj(self.members())
    }
}

/// The tenant endpoint: an endpoint plus the tenant URI translation templates (spec §1.3).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TenantEndpoint {
    /// Address and credentials.
    pub endpoint: ResourceProviderEndpoint,
    /// What the tenant calls under the tenant API (`{subid}/services/drservice/{*path}`).
    pub source_uri_template: Option<String>,
    /// What the RP receives (`subscriptions/{subid}/{*path}`).
    pub target_uri_template: Option<String>,
}

impl FromWire for TenantEndpoint {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        Ok(Self {
            endpoint: ResourceProviderEndpoint::from_wire(node)?,
            source_uri_template: node.optional_str(&["SourceUriTemplate"])?,
            target_uri_template: node.optional_str(&["TargetUriTemplate"])?,
        })
    }
}

impl ToWire for TenantEndpoint {
    const XML_ROOT: &'static str = "TenantEndpoint";

    fn to_wire(&self) -> Out {
        let mut members = self.endpoint.members();
        members.push(("SourceUriTemplate", Out::opt_str(&self.source_uri_template)));
        members.push(("TargetUriTemplate", Out::opt_str(&self.target_uri_template)));
        Out::Obj(members)
    }
}

/// A general-purpose registration setting.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ServiceSetting {
    /// The setting's name.
    pub key: String,
    /// The setting's value.
    pub value: Option<String>,
}

impl FromWire for ServiceSetting {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            key: node.required_str(&["Key"])?,
            value: node.optional_str(&["Value"])?,
        })
    }
}

impl ToWire for ServiceSetting {
    const XML_ROOT: &'static str = "ServiceSetting";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("Key", Out::Str(self.key.clone())),
            ("Value", Out::opt_str(&self.value)),
        ])
    }
}

/// The registration of an RP with WAP's admin API (`POST /resourceproviders`).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResourceProvider {
    /// The RP name, as in `/services/<Name>/`.
    pub name: String,
    /// The name shown in the portals.
    pub display_name: Option<String>,
    /// A description.
    pub description: Option<String>,
    /// Whether the RP is enabled.
    pub enabled: bool,
    /// Whether the API proxy passes calls through to the RP.
    pub pass_through_enabled: bool,
    /// Whether calls without a token are allowed.
    pub allow_anonymous_access: bool,
    /// Whether several instances may be registered.
    pub allow_multiple_instances: bool,
    /// The admin endpoint.
    pub admin_endpoint: Option<ResourceProviderEndpoint>,
    /// The tenant endpoint.
    pub tenant_endpoint: Option<TenantEndpoint>,
    /// The usage endpoint.
    pub usage_endpoint: Option<ResourceProviderEndpoint>,
    /// The health-check endpoint.
    pub health_check_endpoint: Option<ResourceProviderEndpoint>,
    /// The notification endpoint.
    pub notification_endpoint: Option<ResourceProviderEndpoint>,
    /// The instance id (a GUID, kept as text).
    pub instance_id: Option<String>,
    /// The instance's display name.
    pub instance_display_name: Option<String>,
    /// The most subscriptions per `PUT /quota`.
    pub max_quota_update_batch_size: i64,
    /// How often WAP polls an asynchronous subscription operation.
    pub subscription_status_polling_interval: Duration,
    /// The RP kind.
    pub provider_type: ResourceProviderType,
    /// General-purpose settings.
    pub settings: Vec<ServiceSetting>,
}

impl FromWire for ResourceProvider {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            name: node.required_str(&["Name"])?,
            display_name: node.optional_str(&["DisplayName"])?,
            description: node.optional_str(&["Description"])?,
            enabled: node.bool_or_false(&["Enabled"])?,
            // `PassthroughEnabled` (cmdlet/DSC spelling) differs only by case.
            pass_through_enabled: node.bool_or_false(&["PassThroughEnabled"])?,
            allow_anonymous_access: node.bool_or_false(&["AllowAnonymousAccess"])?,
            allow_multiple_instances: node.bool_or_false(&["AllowMultipleInstances"])?,
            admin_endpoint: node.optional(&["AdminEndpoint"])?,
            tenant_endpoint: node.optional(&["TenantEndpoint"])?,
            usage_endpoint: node.optional(&["UsageEndpoint"])?,
            health_check_endpoint: node.optional(&["HealthCheckEndpoint"])?,
            notification_endpoint: node.optional(&["NotificationEndpoint"])?,
            instance_id: node.optional_str(&["InstanceId"])?,
            instance_display_name: node.optional_str(&["InstanceDisplayName"])?,
            max_quota_update_batch_size: node
                .optional_i64(&["MaxQuotaUpdateBatchSize"])?
                .unwrap_or(0),
            subscription_status_polling_interval: node
                .optional_duration(&["SubscriptionStatusPollingInterval"])?
                .unwrap_or_default(),
            provider_type: node.optional_enum(&["Type"])?.unwrap_or_default(),
            settings: node.list(&["Settings"])?,
        })
    }
}

impl ToWire for ResourceProvider {
    const XML_ROOT: &'static str = "ResourceProvider";

    fn to_wire(&self) -> Out {
        let endpoint =
            |e: &Option<ResourceProviderEndpoint>| e.as_ref().map_or(Out::Null, ToWire::to_wire);
        Out::Obj(vec![
            ("Name", Out::Str(self.name.clone())),
            ("DisplayName", Out::opt_str(&self.display_name)),
            ("Description", Out::opt_str(&self.description)),
            ("Enabled", Out::Bool(self.enabled)),
            ("PassThroughEnabled", Out::Bool(self.pass_through_enabled)),
            (
                "AllowAnonymousAccess",
                Out::Bool(self.allow_anonymous_access),
            ),
            (
                "AllowMultipleInstances",
                Out::Bool(self.allow_multiple_instances),
            ),
            ("AdminEndpoint", endpoint(&self.admin_endpoint)),
            (
                "TenantEndpoint",
                self.tenant_endpoint
                    .as_ref()
                    .map_or(Out::Null, ToWire::to_wire),
            ),
            ("UsageEndpoint", endpoint(&self.usage_endpoint)),
            ("HealthCheckEndpoint", endpoint(&self.health_check_endpoint)),
            (
                "NotificationEndpoint",
                endpoint(&self.notification_endpoint),
            ),
            ("InstanceId", Out::opt_str(&self.instance_id)),
            (
                "InstanceDisplayName",
                Out::opt_str(&self.instance_display_name),
            ),
            (
                "MaxQuotaUpdateBatchSize",
                Out::Int(self.max_quota_update_batch_size),
            ),
            (
                "SubscriptionStatusPollingInterval",
                Out::Duration(self.subscription_status_polling_interval),
            ),
            ("Type", Out::enumeration(self.provider_type)),
            (
                "Settings",
                Out::List {
                    item: "ServiceSetting",
                    items: self.settings.iter().map(ToWire::to_wire).collect(),
                },
            ),
        ])
    }
}

/// The body of the admin API's `POST /subscriptions` (and `PATCH /subscriptions/{id}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AzureProvisioningInfo {
    /// The account admin's e-mail (docs: use null).
    pub account_admin_live_email_id: Option<String>,
    /// The account admin: an existing WAP user name.
    pub account_admin_live_puid: Option<String>,
    /// The account id (`Guid.Empty` in practice), as text.
    pub account_id: Option<String>,
    /// The subscription's friendly name.
    pub friendly_name: Option<String>,
    /// The offer category (null).
    pub offer_category: Option<String>,
    /// The offer info (null).
    pub offer_info: Option<String>,
    /// The offer type: 0 = Trial, 1 = Buy.
    pub offer_type: i64,
    /// A reason code (null).
    pub reason_code: Option<String>,
    /// The service admin's e-mail (null).
    pub service_admin_live_email_id: Option<String>,
    /// The service admin's id (null).
    pub service_admin_live_puid: Option<String>,
    /// The subscription id, chosen by the caller so it can match another WAP.
    pub subscription_id: SubscriptionId,
    /// `Active`/`Suspended` on PATCH; null on create.
    pub status: Option<String>,
    /// The plan id (WAP plan ids are not GUIDs); `None` on a PATCH that keeps the plan.
    pub plan_id: Option<String>,
    /// The co-administrators; `None` leaves them unchanged.
    pub co_admin_names: Option<Vec<String>>,
}

/// The `AzureOfferType` names, accepted where an integer is expected.
const OFFER_TYPES: [(&str, i64); 2] = [("Trial", 0), ("Buy", 1)];

impl FromWire for AzureProvisioningInfo {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let offer_type = match node.optional_str(&["OfferType"])? {
            None => 0,
            Some(text) => match OFFER_TYPES
                .iter()
                .find(|(name, _)| name.eq_ignore_ascii_case(text.trim()))
            {
                Some((_, value)) => *value,
                None => node.optional_i64(&["OfferType"])?.unwrap_or(0),
            },
        };
        Ok(Self {
            account_admin_live_email_id: node.optional_str(&["AccountAdminLiveEmailId"])?,
            account_admin_live_puid: node.optional_str(&["AccountAdminLivePuid"])?,
            account_id: node.optional_str(&["AccountId"])?,
            friendly_name: node.optional_str(&["FriendlyName"])?,
            offer_category: node.optional_str(&["OfferCategory"])?,
            offer_info: node.optional_str(&["OfferInfo"])?,
            offer_type,
            reason_code: node.optional_str(&["ReasonCode"])?,
            service_admin_live_email_id: node.optional_str(&["ServiceAdminLiveEmailId"])?,
            service_admin_live_puid: node.optional_str(&["ServiceAdminLivePuid"])?,
            subscription_id: node.required_subscription_id(&["SubscriptionId"])?,
            status: node.optional_str(&["Status"])?,
            plan_id: node.optional_str(&["PlanId"])?,
            co_admin_names: node.optional_string_list(&["CoAdminNames"])?,
        })
    }
}

impl ToWire for AzureProvisioningInfo {
    const XML_ROOT: &'static str = "AzureProvisioningInfo";
    const XML_NAMESPACE: &'static str = "http://www.microsoft.com/Azure/ProvisioningAgent/1.0";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            (
                "AccountAdminLiveEmailId",
                Out::opt_str(&self.account_admin_live_email_id),
            ),
            (
                "AccountAdminLivePuid",
                Out::opt_str(&self.account_admin_live_puid),
            ),
            ("AccountId", Out::opt_str(&self.account_id)),
            ("FriendlyName", Out::opt_str(&self.friendly_name)),
            ("OfferCategory", Out::opt_str(&self.offer_category)),
            ("OfferInfo", Out::opt_str(&self.offer_info)),
            ("OfferType", Out::Int(self.offer_type)),
            ("ReasonCode", Out::opt_str(&self.reason_code)),
            (
                "ServiceAdminLiveEmailId",
                Out::opt_str(&self.service_admin_live_email_id),
            ),
            (
                "ServiceAdminLivePuid",
                Out::opt_str(&self.service_admin_live_puid),
            ),
            ("SubscriptionId", Out::Str(self.subscription_id.to_string())),
            ("Status", Out::opt_str(&self.status)),
            ("PlanId", Out::opt_str(&self.plan_id)),
            (
                "CoAdminNames",
                self.co_admin_names.clone().map_or(Out::Null, Out::StrList),
            ),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Format, decode};

    #[test]
    fn offer_types_read_from_names_or_integers() {
        let id = "ec66ec96-8edd-4916-be45-607959155c2a";
        for (offer, expected) in [("\"Buy\"", 1), ("1", 1), ("\"trial\"", 0), ("null", 0)] {
            let body = format!(r#"{{"SubscriptionId":"{id}","OfferType":{offer}}}"#);
            let info: AzureProvisioningInfo = decode(Format::Json, body.as_bytes()).unwrap();
            assert_eq!(info.offer_type, expected, "{offer}");
        }
        let body = format!(r#"{{"SubscriptionId":"{id}","OfferType":"Free"}}"#);
        let err = decode::<AzureProvisioningInfo>(Format::Json, body.as_bytes()).unwrap_err();
        assert_eq!(err.message, "OfferType: 'Free' is not an integer");
    }

    #[test]
    fn endpoint_passwords_are_redacted_from_debug_output() {
        let endpoint = ResourceProviderEndpoint {
            forwarding_address: "http://rp/".into(),
            authentication_mode: AuthenticationMode::Basic,
            authentication_username: Some("admin".into()),
            authentication_password: Some("pass@word1".into()),
        };
        let debug = format!(
            "{:?}",
            TenantEndpoint {
                endpoint,
                ..Default::default()
            }
        );
        assert!(!debug.contains("pass@word1"), "{debug}");
        assert!(debug.contains("<redacted>"), "{debug}");
    }
}
