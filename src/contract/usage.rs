//! Usage contracts: the records served to WAP's usage collector (spec §3.3) and the usage summary
//! of the notification endpoint (spec §2.5).

use super::codec::{ContractError, FromWire, Node, Out, ToWire, read_items};
use crate::domain::{NewUsageRecord, UsageRecord};

impl FromWire for UsageRecord {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let dict = |name: &str| {
            node.get(&[name])
                .map(|n| n.dict().into_iter().collect())
                .unwrap_or_default()
        };
        Ok(Self {
            event_id: node.required_i64(&["EventId"])?,
            record: NewUsageRecord {
                external_record_id: node.str_or_empty(&["ExternalRecordId"])?,
                subscription_id: node.required_subscription_id(&["SubscriptionId"])?,
                resource_id: node.str_or_empty(&["ResourceId"])?,
                service_type: node.str_or_empty(&["ServiceType"])?,
                provider_name: node.str_or_empty(&["ProviderName"])?,
                start_time: node.required_time(&["StartTime"])?,
                end_time: node.required_time(&["EndTime"])?,
                properties: dict("Properties"),
                resources: dict("Resources"),
            },
        })
    }
}

impl ToWire for UsageRecord {
    const XML_ROOT: &'static str = "UsageRecord";

    /// Members are alphabetical: `UsageRecord` has no DataContract `Order`.
    fn to_wire(&self) -> Out {
        let record = &self.record;
        let dict = |map: &std::collections::BTreeMap<String, String>| {
            Out::Dict(map.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        };
        Out::Obj(vec![
            ("EndTime", Out::Time(record.end_time)),
            ("EventId", Out::Int(self.event_id)),
            (
                "ExternalRecordId",
                Out::Str(record.external_record_id.clone()),
            ),
            ("Properties", dict(&record.properties)),
            ("ProviderName", Out::Str(record.provider_name.clone())),
            ("ResourceId", Out::Str(record.resource_id.clone())),
            ("Resources", dict(&record.resources)),
            ("ServiceType", Out::Str(record.service_type.clone())),
            ("StartTime", Out::Time(record.start_time)),
            (
                "SubscriptionId",
                Out::Str(record.subscription_id.to_string()),
            ),
        ])
    }
}

/// The body of `GET /usage`: records after `lastID`, oldest first (XML root `UsageRecords`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UsageRecordList(pub Vec<UsageRecord>);

impl FromWire for UsageRecordList {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        read_items(node).map(Self)
    }
}

impl ToWire for UsageRecordList {
    const XML_ROOT: &'static str = "UsageRecords";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "UsageRecord",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}

/// The body of `GET /subscriptions/{id}/usagesummary`: what a subscription uses of its quota.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ServiceUsageSummary {
    /// The RP's name.
    pub service_name: String,
    /// The RP's display name.
    pub service_display_name: String,
    /// Whether the usages could be computed.
    pub retrieved_successfully: bool,
    /// Why they could not.
    pub error_message: Option<String>,
    /// One entry per metered quantity.
    pub usages: Vec<Usage>,
}

impl FromWire for ServiceUsageSummary {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            service_name: node.str_or_empty(&["ServiceName"])?,
            service_display_name: node.str_or_empty(&["ServiceDisplayName"])?,
            retrieved_successfully: node.bool_or_false(&["RetrievedSuccessfully"])?,
            error_message: node.optional_str(&["ErrorMessage"])?,
            usages: node.list(&["Usages"])?,
        })
    }
}

impl ToWire for ServiceUsageSummary {
    const XML_ROOT: &'static str = "ServiceUsageSummary";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("ServiceName", Out::Str(self.service_name.clone())),
            (
                "ServiceDisplayName",
                Out::Str(self.service_display_name.clone()),
            ),
            (
                "RetrievedSuccessfully",
                Out::Bool(self.retrieved_successfully),
            ),
            ("ErrorMessage", Out::opt_str(&self.error_message)),
            (
                "Usages",
                Out::List {
                    item: "Usage",
                    items: self.usages.iter().map(ToWire::to_wire).collect(),
                },
            ),
        ])
    }
}

/// One metered quantity against its limit.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Usage {
    /// What is measured (`Protected VMs`).
    pub display_name: String,
    /// How much is used.
    pub current_value: i64,
    /// How much is allowed.
    pub limit: i64,
    /// The unit (`VMs`).
    pub unit_display_name: String,
    /// A group the usage belongs to.
    pub group_id: Option<String>,
    /// The group's display name.
    pub group_display_name: Option<String>,
}

impl FromWire for Usage {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        Ok(Self {
            display_name: node.str_or_empty(&["DisplayName"])?,
            current_value: node.optional_i64(&["CurrentValue"])?.unwrap_or(0),
            limit: node.optional_i64(&["Limit"])?.unwrap_or(0),
            unit_display_name: node.str_or_empty(&["UnitDisplayName"])?,
            group_id: node.optional_str(&["GroupId"])?,
            group_display_name: node.optional_str(&["GroupDisplayName"])?,
        })
    }
}

impl ToWire for Usage {
    const XML_ROOT: &'static str = "Usage";

    fn to_wire(&self) -> Out {
        Out::Obj(vec![
            ("DisplayName", Out::Str(self.display_name.clone())),
            ("CurrentValue", Out::Int(self.current_value)),
            ("Limit", Out::Int(self.limit)),
            ("UnitDisplayName", Out::Str(self.unit_display_name.clone())),
            ("GroupId", Out::opt_str(&self.group_id)),
            ("GroupDisplayName", Out::opt_str(&self.group_display_name)),
        ])
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::contract::{Format, decode, encode};

    fn summary() -> ServiceUsageSummary {
        ServiceUsageSummary {
            service_name: "drservice".into(),
            service_display_name: "Disaster Recovery".into(),
            retrieved_successfully: true,
            error_message: None,
            usages: vec![Usage {
                display_name: "Protected VMs".into(),
                current_value: 3,
                limit: 10,
                unit_display_name: "VMs".into(),
                group_id: None,
                group_display_name: Some("DR".into()),
            }],
        }
    }

    #[test]
    fn a_usage_summary_survives_both_formats() {
        for format in [Format::Json, Format::Xml] {
            let body = encode(format, &summary());
            assert_eq!(decode::<ServiceUsageSummary>(format, &body), Ok(summary()));
        }
    }

    #[test]
    fn a_usage_summary_is_written_in_datacontract_order() {
        let xml = String::from_utf8(encode(Format::Xml, &summary())).unwrap();
        let order = [
            "<ServiceName>",
            "<ServiceDisplayName>",
            "<RetrievedSuccessfully>true",
            "<ErrorMessage i:nil",
            "<Usages><Usage><DisplayName>",
            "<CurrentValue>3",
            "<Limit>10",
            "<UnitDisplayName>",
            "<GroupId i:nil",
            "<GroupDisplayName>",
        ];
        let positions: Vec<usize> = order
            .iter()
            .map(|t| xml.find(t).unwrap_or_else(|| panic!("{t} in {xml}")))
            .collect();
        assert!(positions.windows(2).all(|w| w[0] < w[1]), "{xml}");
    }
}
