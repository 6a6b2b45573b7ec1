//! The mapping between table rows and domain types, shared by both backends.
//!
//! Backends decode a row into one of the plain structs here (text, integers, timestamps) and turn it
//! into the domain type with `into_*`; anything the domain cannot accept is [`StoreError::Corrupt`],
//! naming the column and the row. This module holds no SQL.

use std::collections::BTreeMap;

use serde::Serialize;
use serde::de::DeserializeOwned;
use time::OffsetDateTime;

use super::{StoreError, SubscriptionFilter};
use crate::domain::{
    LifecycleState, NewUsageRecord, QuotaSources, Subscription, SubscriptionId, SubscriptionState,
    UsageRecord,
};

/// The `subscriptions` columns, in the order [`SubscriptionRow`] reads them.
pub(super) const SUBSCRIPTION_COLUMNS: &str = "id, name, state, lifecycle, last_error, admin_id, \
     co_admins, quota, created_at, updated_at, version";

/// The `usage_records` columns, in the order [`UsageRow`] reads them.
pub(super) const USAGE_COLUMNS: &str = "event_id, external_record_id, subscription_id, \
     resource_id, service_type, provider_name, start_time, end_time, properties, resources";

/// How many subscriptions a list returns when the filter names no limit.
const DEFAULT_LIST_LIMIT: u32 = 100;
/// The most subscriptions one list returns.
const MAX_LIST_LIMIT: u32 = 1000;

/// One `subscriptions` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SubscriptionRow {
    id: String,
    name: String,
    state: String,
    lifecycle: String,
    last_error: Option<String>,
    admin_id: String,
    co_admins: String,
    quota: String,
    created_at: OffsetDateTime,
    updated_at: OffsetDateTime,
    version: i64,
}

/// A `subscriptions` row with its VM change counter and the database clock.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SnapshotRow {
    #[sqlx(flatten)]
    subscription: SubscriptionRow,
    vm_changes: i64,
    read_at: OffsetDateTime,
}

impl SnapshotRow {
    /// The snapshot this row holds.
    pub(super) fn into_snapshot(self) -> Result<super::SubscriptionSnapshot, StoreError> {
        Ok(super::SubscriptionSnapshot {
            subscription: self.subscription.into_subscription()?,
            vm_changes: self.vm_changes,
            read_at: self.read_at,
        })
    }
}

impl SubscriptionRow {
    /// The domain subscription this row holds.
    pub(super) fn into_subscription(self) -> Result<Subscription, StoreError> {
        let row = &self.id;
        let id = SubscriptionId::parse(row).map_err(|_| corrupt("subscriptions.id", row, row))?;
        let state = SubscriptionState::from_name(&self.state)
            .ok_or_else(|| corrupt("subscriptions.state", row, &self.state))?;
        let lifecycle = LifecycleState::from_name(&self.lifecycle)
            .ok_or_else(|| corrupt("subscriptions.lifecycle", row, &self.lifecycle))?;
        let co_admins: Vec<String> = decode_json("subscriptions.co_admins", row, &self.co_admins)?;
        let quota: QuotaSources = decode_json("subscriptions.quota", row, &self.quota)?;
        Ok(Subscription {
            id,
            name: self.name,
            state,
            lifecycle,
            last_error: self.last_error,
            admin_id: self.admin_id,
            co_admins,
            quota,
            created_at: self.created_at,
            updated_at: self.updated_at,
            version: self.version,
        })
    }
}

/// One `usage_records` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct UsageRow {
    event_id: i64,
    external_record_id: String,
    subscription_id: String,
    resource_id: String,
    service_type: String,
    provider_name: String,
    start_time: OffsetDateTime,
    end_time: OffsetDateTime,
    properties: String,
    resources: String,
}

impl UsageRow {
    /// The domain usage record this row holds.
    pub(super) fn into_record(self) -> Result<UsageRecord, StoreError> {
        let row = self.event_id.to_string();
        let subscription_id = SubscriptionId::parse(&self.subscription_id)
            .map_err(|_| corrupt("usage_records.subscription_id", &row, &self.subscription_id))?;
        let properties: BTreeMap<String, String> =
            decode_json("usage_records.properties", &row, &self.properties)?;
        let resources: BTreeMap<String, String> =
            decode_json("usage_records.resources", &row, &self.resources)?;
        Ok(UsageRecord {
            event_id: self.event_id,
            record: NewUsageRecord {
                external_record_id: self.external_record_id,
                subscription_id,
                resource_id: self.resource_id,
                service_type: self.service_type,
                provider_name: self.provider_name,
                start_time: self.start_time,
                end_time: self.end_time,
                properties,
                resources,
            },
        })
    }
}

/// A subscription's columns in their stored form, ready to bind.
pub(super) struct SubscriptionColumns {
    pub id: String,
    pub state: &'static str,
    pub lifecycle: &'static str,
    pub co_admins: String,
    pub quota: String,
}

impl SubscriptionColumns {
    /// The stored form of the columns that are not stored as they are.
    pub(super) fn of(sub: &Subscription) -> Result<Self, StoreError> {
        let id = sub.id.to_string();
        Ok(Self {
            state: sub.state.as_str(),
            lifecycle: sub.lifecycle.as_str(),
            co_admins: encode_json("subscriptions.co_admins", &id, &sub.co_admins)?,
            quota: encode_json("subscriptions.quota", &id, &sub.quota)?,
            id,
        })
    }
}

/// A usage record's columns in their stored form, ready to bind.
pub(super) struct UsageColumns {
    pub subscription_id: String,
    pub start_time: OffsetDateTime,
    pub end_time: OffsetDateTime,
    pub properties: String,
    pub resources: String,
}

impl UsageColumns {
    /// The stored form of the columns that are not stored as they are.
    pub(super) fn of(record: &NewUsageRecord) -> Result<Self, StoreError> {
        let row = &record.external_record_id;
        Ok(Self {
            subscription_id: record.subscription_id.to_string(),
            start_time: storage_time(record.start_time),
            end_time: storage_time(record.end_time),
            properties: encode_json("usage_records.properties", row, &record.properties)?,
            resources: encode_json("usage_records.resources", row, &record.resources)?,
        })
    }
}

/// The listing limit a filter asks for, defaulted and capped.
pub(super) fn list_limit(filter: &SubscriptionFilter) -> i64 {
    i64::from(
        filter
            .limit
            .unwrap_or(DEFAULT_LIST_LIMIT)
            .min(MAX_LIST_LIMIT),
    )
}

/// A caller's timestamp as both backends can keep it: UTC, whole microseconds (PostgreSQL's
/// precision), so a record reads back equal whichever backend stored it.
pub(super) fn storage_time(at: OffsetDateTime) -> OffsetDateTime {
    let at = at.to_offset(time::UtcOffset::UTC);
    let micros = at.microsecond();
    at.replace_microsecond(micros).unwrap_or(at)
}

pub(super) fn encode_json<T: Serialize>(
    column: &str,
    row: &str,
    value: &T,
) -> Result<String, StoreError> {
    serde_json::to_string(value)
        .map_err(|err| StoreError::Corrupt(format!("{column} of '{row}' cannot be encoded: {err}")))
}

pub(super) fn decode_json<T: DeserializeOwned>(
    column: &str,
    row: &str,
    text: &str,
) -> Result<T, StoreError> {
    serde_json::from_str(text)
        .map_err(|err| StoreError::Corrupt(format!("{column} of '{row}' is not valid: {err}")))
}

pub(super) fn corrupt(column: &str, row: &str, value: &str) -> StoreError {
    StoreError::Corrupt(format!(
        "{column} of '{row}' holds '{value}', which wapdr cannot read"
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row() -> SubscriptionRow {
        SubscriptionRow {
            id: "ec66ec96-8edd-4916-be45-607959155c2a".to_owned(),
            name: "Gold".to_owned(),
            state: "Active".to_owned(),
            lifecycle: "Provisioned".to_owned(),
            last_error: None,
            admin_id: "tenant@fabrikam.com".to_owned(),
            co_admins: "[]".to_owned(),
            quota: r#"{"base":[],"add_ons":[]}"#.to_owned(),
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            version: 1,
        }
    }

    fn corruption(row: SubscriptionRow) -> String {
        match row.into_subscription() {
            Err(StoreError::Corrupt(message)) => message,
            other => panic!("expected a corrupt row, got {other:?}"),
        }
    }

    #[test]
    fn a_sound_row_reads_back() {
        assert!(row().into_subscription().is_ok());
    }

    #[test]
    fn an_unreadable_column_is_corrupt_naming_the_column_and_the_row() {
        let bad_state = corruption(SubscriptionRow {
            state: "Gone".to_owned(),
            ..row()
        });
        assert!(bad_state.contains("subscriptions.state"), "{bad_state}");
        assert!(
            bad_state.contains("ec66ec96-8edd-4916-be45-607959155c2a"),
            "{bad_state}"
        );

        let bad_quota = corruption(SubscriptionRow {
            quota: "{".to_owned(),
            ..row()
        });
        assert!(bad_quota.contains("subscriptions.quota"), "{bad_quota}");

        let bad_lifecycle = corruption(SubscriptionRow {
            lifecycle: "".to_owned(),
            ..row()
        });
        assert!(
            bad_lifecycle.contains("subscriptions.lifecycle"),
            "{bad_lifecycle}"
        );
    }

    #[test]
    fn caller_timestamps_are_kept_as_utc_microseconds() {
        let at = time::macros::datetime!(2024-05-01 12:00:00.123456789 +02:00);
        let stored = storage_time(at);
        assert_eq!(stored.offset(), time::UtcOffset::UTC);
        assert_eq!(
            stored,
            time::macros::datetime!(2024-05-01 10:00:00.123456 UTC)
        );
    }

    #[test]
    fn listing_limits_default_to_100_and_stop_at_1000() {
        let limit = |limit| {
            list_limit(&SubscriptionFilter {
                limit,
                ..Default::default()
            })
        };
        assert_eq!(limit(None), 100);
        assert_eq!(limit(Some(5)), 5);
        assert_eq!(limit(Some(5000)), 1000);
    }
}
