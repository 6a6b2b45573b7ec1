//! The WAP admin API objects wapdr reads (users, plans, add-ons, admin subscriptions), tolerant on
//! reading, and the plan's VM Clouds binding read from the `systemcenter` quota's XML.
//! Nothing here does I/O.

use quick_xml::events::Event;
use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::domain::SubscriptionId;
use crate::fabric::FabricError;
use crate::fabric::tolerant::{opt_text, opt_time, text_list};

/// Reads an integer-valued enum from its integer or its name (any case).
macro_rules! wire_enum {
    ($(#[$doc:meta])* $name:ident { $($(#[$vdoc:meta])* $variant:ident = $value:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
        pub enum $name {
            #[default]
            $($(#[$vdoc])* $variant),+
        }

        impl $name {
            /// The integer WAP writes.
            pub fn value(self) -> i64 {
                match self { $(Self::$variant => $value),+ }
            }

            fn from_value(value: i64) -> Option<Self> {
                match value { $($value => Some(Self::$variant),)+ _ => None }
            }

            fn from_name(name: &str) -> Option<Self> {
                $(if name.eq_ignore_ascii_case(stringify!($variant)) { return Some(Self::$variant); })+
                None
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let value = serde_json::Value::deserialize(d)?;
                let found = match &value {
                    serde_json::Value::Null => Some(Self::default()),
                    serde_json::Value::Number(n) => n.as_i64().and_then(Self::from_value),
                    serde_json::Value::String(s) => s
                        .trim()
                        .parse::<i64>()
                        .ok()
                        .and_then(Self::from_value)
                        .or_else(|| Self::from_name(s.trim())),
                    _ => None,
                };
                found.ok_or_else(|| {
                    serde::de::Error::custom(format!("{value} is not a {}", stringify!($name)))
                })
            }
        }

        impl Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_i64(self.value())
            }
        }
    };
}

wire_enum!(
    /// A WAP user's state.
    UserState {
        /// Created, not yet validated.
        PendingValidation = 0,
        /// Usable.
        Active = 1,
        /// Suspended by the provider.
        Suspended = 2,
        /// Being deleted.
        DeletePending = 3,
    }
);

wire_enum!(
    /// A plan's state.
    PlanState {
        /// Only admins can subscribe tenants.
        Private = 0,
        /// Tenants can subscribe themselves.
        Public = 1,
        /// No new subscriptions.
        Decommissioned = 2,
    }
);

wire_enum!(
    /// A subscription's state in the WAP admin API (not the RP-side enum).
    AdminSubscriptionState {
        /// No state.
        None = 0,
        /// In use.
        Active = 1,
        /// Suspended.
        Suspended = 2,
        /// Being deleted.
        DeletePending = 3,
    }
);

/// A WAP user.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct User {
    /// The user name (an e-mail address in practice).
    pub name: String,
    /// The e-mail address.
    #[serde(default, deserialize_with = "opt_text")]
    pub email: Option<String>,
    /// The state.
    #[serde(default)]
    pub state: UserState,
}

/// A user to create.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewUser {
    /// The user name.
    pub name: String,
    /// The e-mail address.
    pub email: String,
    /// The state to create it in.
    pub state: UserState,
}

/// One key/value setting of a service quota.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct Setting {
    /// The key (`Clouds`, `Actions`, wapdr's own keys).
    pub key: String,
    /// The value (XML for VM Clouds).
    #[serde(default, deserialize_with = "opt_text")]
    pub value: Option<String>,
}

/// The quota a plan or add-on gives one service.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ServiceQuota {
    /// The service (`systemcenter`, `disasterrecovery`).
    pub service_name: String,
    /// The service instance.
    #[serde(default, deserialize_with = "opt_text")]
    pub service_instance_id: Option<String>,
    /// The settings.
    #[serde(default)]
    pub settings: Vec<Setting>,
}

/// A plan.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Plan {
    /// The plan id (not a GUID in WAP).
    pub id: String,
    /// The name shown to tenants.
    #[serde(default)]
    pub display_name: String,
    /// The state.
    #[serde(default)]
    pub state: PlanState,
    /// The quota per service.
    #[serde(default)]
    pub service_quotas: Vec<ServiceQuota>,
    /// The add-ons linked to the plan (ids).
    #[serde(default, deserialize_with = "text_list")]
    pub add_ons: Vec<String>,
}

/// A plan add-on.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct PlanAddOn {
    /// The add-on id.
    pub id: String,
    /// The name shown to tenants.
    #[serde(default)]
    pub display_name: String,
    /// The quota per service.
    #[serde(default)]
    pub service_quotas: Vec<ServiceQuota>,
    /// The plans it is linked to (ids).
    #[serde(default, deserialize_with = "text_list")]
    pub associated_plans: Vec<String>,
}

/// An add-on acquired by a subscription.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct AddOnReference {
    /// The add-on id.
    pub add_on_id: String,
    /// This acquisition's instance id.
    #[serde(default, deserialize_with = "opt_text")]
    pub add_on_instance_id: Option<String>,
    /// When it was acquired.
    #[serde(default, deserialize_with = "opt_time")]
    pub acquisition_time: Option<OffsetDateTime>,
}

/// A subscription as the admin API reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct AdminSubscription {
    /// The subscription id.
    pub subscription_id: SubscriptionId,
    /// Its friendly name.
    #[serde(default, deserialize_with = "opt_text")]
    pub subscription_name: Option<String>,
    /// The account admin.
    #[serde(default, deserialize_with = "opt_text")]
    pub account_admin_live_email_id: Option<String>,
    /// The co-administrators.
    #[serde(default, deserialize_with = "text_list")]
    pub co_admin_names: Vec<String>,
    /// The state.
    #[serde(default)]
    pub state: AdminSubscriptionState,
    /// The plan.
    #[serde(default, deserialize_with = "opt_text")]
    pub plan_id: Option<String>,
    /// The add-ons acquired.
    #[serde(default, deserialize_with = "null_as_empty")]
    pub add_on_references: Vec<AddOnReference>,
    /// The last provisioning error WAP recorded.
    #[serde(default, deserialize_with = "opt_text")]
    pub last_error_message: Option<String>,
    /// When it was created.
    #[serde(default, deserialize_with = "opt_time")]
    pub created: Option<OffsetDateTime>,
}

/// The VM Clouds service's name in plans.
pub const VM_CLOUDS_SERVICE: &str = "systemcenter";

impl Plan {
    /// The settings the plan gives `service` (name compared without regard to case).
    pub fn service_quota(&self, service: &str) -> Option<&[Setting]> {
        self.service_quotas
            .iter()
            .find(|q| q.service_name.eq_ignore_ascii_case(service))
            .map(|q| q.settings.as_slice())
    }

    /// The `(stamp id, cloud id)` pairs the plan's VM Clouds quota binds (empty without one).
    pub fn vm_clouds_binding(&self) -> Result<Vec<(Uuid, Uuid)>, FabricError> {
        let Some(settings) = self.service_quota(VM_CLOUDS_SERVICE) else {
            return Ok(Vec::new());
        };
        let Some(xml) = settings
            .iter()
            .find(|s| s.key.eq_ignore_ascii_case("Clouds"))
            .and_then(|s| s.value.as_deref())
        else {
            return Ok(Vec::new());
        };
        parse_clouds(xml).map_err(|detail| {
            FabricError::protocol(
                super::SERVICE,
                &format!("plans/{}", self.id),
                format!("the systemcenter Clouds setting is unreadable: {detail}"),
            )
        })
    }
}

/// The `(StampId, Id)` of every `<Cloud>` element, attributes in any order.
pub(crate) fn parse_clouds(xml: &str) -> Result<Vec<(Uuid, Uuid)>, String> {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut out = Vec::new();
    loop {
        match reader.read_event().map_err(|e| e.to_string())? {
            Event::Start(element) | Event::Empty(element)
                if element.local_name().as_ref().eq_ignore_ascii_case(b"Cloud") =>
            {
                let (mut id, mut stamp) = (None, None);
                for attribute in element.attributes() {
                    let attribute = attribute.map_err(|e| e.to_string())?;
                    let value = attribute.unescape_value().map_err(|e| e.to_string())?;
                    let key = attribute.key.local_name();
                    if key.as_ref().eq_ignore_ascii_case(b"Id") {
                        id = Some(parse_guid(&value)?);
                    } else if key.as_ref().eq_ignore_ascii_case(b"StampId") {
                        stamp = Some(parse_guid(&value)?);
                    }
                }
                match (stamp, id) {
                    (Some(stamp), Some(id)) => out.push((stamp, id)),
                    _ => return Err("a Cloud element lacks Id or StampId".into()),
                }
            }
            Event::DocType(_) => return Err("DTDs are not accepted".into()),
            Event::Eof => return Ok(out),
            _ => {}
        }
    }
}

fn parse_guid(text: &str) -> Result<Uuid, String> {
    Uuid::parse_str(text.trim()).map_err(|_| format!("'{text}' is not a GUID"))
}

fn null_as_empty<'de, D, T>(d: D) -> Result<Vec<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de>,
{
    Ok(Option::<Vec<T>>::deserialize(d)?.unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    const STAMP: &str = "00000000-0000-0000-0000-00000000000a";
    const CLOUD: &str = "00000000-0000-0000-0000-00000000000c";

    #[test]
    fn clouds_binding_reads_attributes_in_either_order() {
        let one = format!(
            r#"<Clouds><Cloud Id="{CLOUD}" StampId="{STAMP}"><Quota><RoleVMCount/></Quota></Cloud></Clouds>"#
        );
        let other = format!(r#"<Clouds><Cloud StampId="{STAMP}" Id="{CLOUD}"/></Clouds>"#);
        let expected = vec![(Uuid::from_u128(10), Uuid::from_u128(12))];
        assert_eq!(parse_clouds(&one).unwrap(), expected);
        assert_eq!(parse_clouds(&other).unwrap(), expected);
    }

    #[test]
    fn clouds_binding_lists_every_cloud() {
        let xml = format!(
            r#"<?xml version="1.0"?><Clouds><Cloud Id="{CLOUD}" StampId="{STAMP}"><Quota/></Cloud>
               <Cloud StampId="00000000-0000-0000-0000-00000000000b" Id="{{00000000-0000-0000-0000-00000000000D}}"/></Clouds>"#
        );
        let pairs = parse_clouds(&xml).unwrap();
        assert_eq!(pairs.len(), 2);
        assert_eq!(pairs[1], (Uuid::from_u128(11), Uuid::from_u128(13)));
    }

    #[test]
    fn clouds_binding_refuses_missing_attributes_and_bad_ids() {
        assert!(parse_clouds(&format!(r#"<Clouds><Cloud Id="{CLOUD}"/></Clouds>"#)).is_err());
        assert!(parse_clouds(r#"<Clouds><Cloud Id="x" StampId="y"/></Clouds>"#).is_err());
        assert!(parse_clouds("<!DOCTYPE x><Clouds/>").is_err());
    }

    #[test]
    fn a_plan_finds_its_service_quota_without_regard_to_case() {
        let plan: Plan = crate::fabric::tolerant::from_value(serde_json::json!({
            "Id": "p1", "DisplayName": "Gold", "State": 1, "AddOns": ["a1"],
            "ServiceQuotas": [{"ServiceName": "SystemCenter", "Settings": [
                {"Key": "Clouds", "Value": format!(r#"<Clouds><Cloud StampId="{STAMP}" Id="{CLOUD}"/></Clouds>"#)}]}]
        }))
        .unwrap();
        assert_eq!(plan.state, PlanState::Public);
        assert!(plan.service_quota("systemcenter").is_some());
        assert!(plan.service_quota("disasterrecovery").is_none());
        assert_eq!(plan.vm_clouds_binding().unwrap().len(), 1);
    }

    #[test]
    fn admin_states_read_from_integers_or_names() {
        let read =
            |v: serde_json::Value| serde_json::from_value::<AdminSubscriptionState>(v).unwrap();
        assert_eq!(
            read(serde_json::json!(2)),
            AdminSubscriptionState::Suspended
        );
        assert_eq!(
            read(serde_json::json!("deletePending")),
            AdminSubscriptionState::DeletePending
        );
        assert!(serde_json::from_value::<AdminSubscriptionState>(serde_json::json!(9)).is_err());
    }
}
