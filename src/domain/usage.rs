//! Usage records: what wapdr meters and serves to WAP's usage collector.

use std::collections::BTreeMap;

use time::OffsetDateTime;

use super::SubscriptionId;

/// A usage record before the store gives it its EventId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewUsageRecord {
    /// wapdr's own id for the record (stable across re-metering, so a re-run can be detected).
    pub external_record_id: String,
    /// The WAP subscription the usage belongs to.
    pub subscription_id: SubscriptionId,
    /// The metered resource (a protected VM id, for example).
    pub resource_id: String,
    /// The meter category.
    pub service_type: String,
    /// The resource provider's name.
    pub provider_name: String,
    /// Start of the metered interval.
    pub start_time: OffsetDateTime,
    /// End of the metered interval.
    pub end_time: OffsetDateTime,
    /// Descriptive properties (VM name, stamp...).
    pub properties: BTreeMap<String, String>,
    /// Metered quantities, meter name to value.
    pub resources: BTreeMap<String, String>,
}

/// A stored usage record with its persistent, strictly increasing EventId.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageRecord {
    /// The paging key WAP's collector sends back as `lastID`.
    pub event_id: i64,
    /// The record's content.
    pub record: NewUsageRecord,
}
