//! Usage records: what wapdr meters and serves to WAP's usage collector, and the metering rules
//! of the DR add-on (periods, meters, the record of one subscription and period). No I/O: the
//! `usage_meter` workflow samples the store and the database clock and hands the sample here.
//!
//! Meters are sampled, as VMware's Usage Meter does hourly: the VM counts a subscription has when
//! the meter runs stand for the whole period, so a VM protected or failed over mid-period counts
//! for all of it or none of it.

use std::collections::BTreeMap;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use uuid::Uuid;

use super::{FailoverPhase, SubscriptionId};

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

/// Meter: VMs under protection (replicating or enabling, the usage summary's "Protected virtual
/// machines") × hours of the period.
pub const PROTECTED_VM_HOURS: &str = "ProtectedVmHours";
/// Meter: VMs running as drill copies (the subscription's failover phase is TestRunning: one
/// test copy per replicating VM) × hours, on top of their protection.
pub const DRILL_VM_HOURS: &str = "DrillVmHours";
/// Meter: VMs running on the recovery stamp (the subscription is active there after a failover)
/// × hours, on top of their protection.
pub const FAILED_OVER_VM_HOURS: &str = "FailedOverVmHours";
/// The `ServiceType` of the DR add-on's usage records.
pub const DR_SERVICE_TYPE: &str = "DisasterRecovery";

/// The shortest metering period, in minutes.
pub const MIN_PERIOD_MINUTES: u32 = 5;
/// The longest metering period, in minutes (a day).
pub const MAX_PERIOD_MINUTES: u32 = 1440;

/// One metering period: `minutes` long, starting at midnight UTC or a whole number of periods
/// after it (the minutes divide a day, so the periods of every day tile it the same way).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MeteringPeriod {
    start: OffsetDateTime,
    minutes: u32,
}

impl MeteringPeriod {
    /// Checks a period length: a divisor of 1440 between 5 and 1440 minutes.
    pub fn check_minutes(minutes: u64) -> Result<u32, String> {
        let fits = (u64::from(MIN_PERIOD_MINUTES)..=u64::from(MAX_PERIOD_MINUTES))
            .contains(&minutes)
            && u64::from(MAX_PERIOD_MINUTES) % minutes == 0;
        match u32::try_from(minutes) {
            Ok(minutes) if fits => Ok(minutes),
            _ => Err(format!(
                "period_minutes must divide a day (1440 minutes) and be between {MIN_PERIOD_MINUTES} and {MAX_PERIOD_MINUTES}, not {minutes}: for example 15, 30, 60 or 1440"
            )),
        }
    }

    /// The latest period that ended at or before `now` (`minutes` already checked).
    pub fn last_complete(now: OffsetDateTime, minutes: u32) -> Self {
        let length = i64::from(minutes) * 60;
        let current = now.unix_timestamp().div_euclid(length) * length;
        Self {
            start: OffsetDateTime::from_unix_timestamp(current - length)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH),
            minutes,
        }
    }

    /// The period that starts at `start`, which must be the start of a `minutes` period.
    pub fn starting_at(start: OffsetDateTime, minutes: u32) -> Result<Self, String> {
        let length = i64::from(minutes) * 60;
        let aligned = start.nanosecond() == 0 && start.unix_timestamp().rem_euclid(length) == 0;
        if !aligned {
            return Err(format!(
                "periodStart {} is not the start of a {minutes}-minute period: periods start at midnight UTC and every {minutes} minutes after it",
                rfc3339(start)
            ));
        }
        Ok(Self {
            start: start.to_offset(time::UtcOffset::UTC),
            minutes,
        })
    }

    /// When the period starts (UTC).
    pub fn start(&self) -> OffsetDateTime {
        self.start
    }

    /// When it ends (UTC), exclusive: the next period's start.
    pub fn end(&self) -> OffsetDateTime {
        self.start + time::Duration::minutes(i64::from(self.minutes))
    }

    /// Its length in minutes.
    pub fn minutes(&self) -> u32 {
        self.minutes
    }

    /// Whether it has ended by `now`.
    pub fn is_complete_at(&self, now: OffsetDateTime) -> bool {
        self.end() <= now
    }
}

/// What the usage meter saw of one DR subscription when it sampled it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DrUsageSample {
    /// The subscription.
    pub subscription_id: SubscriptionId,
    /// The stamp its VMs run on now.
    pub active_stamp_id: Option<Uuid>,
    /// That stamp's name.
    pub active_stamp_name: Option<String>,
    /// Whether the active stamp is its recovery stamp (it failed over).
    pub on_recovery: bool,
    /// Where it stands between failover operations.
    pub failover_phase: FailoverPhase,
    /// The replication frequency its quota gives its VMs, when the quota could be read.
    pub replication_frequency_seconds: Option<u32>,
    /// VMs under protection: Protected or Enabling (what counts against `MaxProtectedVms`).
    pub protected_vms: u64,
    /// VMs Protected (replicating): the ones a drill or a failover runs.
    pub replicating_vms: u64,
    /// When it was sampled (the database clock).
    pub sampled_at: OffsetDateTime,
}

impl DrUsageSample {
    /// VMs running as drill copies now.
    pub fn drill_vms(&self) -> u64 {
        if self.failover_phase == FailoverPhase::TestRunning {
            self.replicating_vms
        } else {
            0
        }
    }

    /// VMs running on the recovery stamp now.
    pub fn failed_over_vms(&self) -> u64 {
        if self.on_recovery {
            self.replicating_vms
        } else {
            0
        }
    }

    /// The usage record of this sample for `period`, from provider `provider_name`.
    pub fn record(&self, period: &MeteringPeriod, provider_name: &str) -> NewUsageRecord {
        let minutes = period.minutes();
        let mut properties = BTreeMap::from([
            (
                "FailoverPhase".to_owned(),
                self.failover_phase.as_str().to_owned(),
            ),
            ("PeriodMinutes".to_owned(), minutes.to_string()),
            ("ProtectedVms".to_owned(), self.protected_vms.to_string()),
            ("DrillVms".to_owned(), self.drill_vms().to_string()),
            (
                "FailedOverVms".to_owned(),
                self.failed_over_vms().to_string(),
            ),
            ("SampledAt".to_owned(), rfc3339(self.sampled_at)),
        ]);
        if let Some(id) = self.active_stamp_id {
            properties.insert("ActiveStampId".to_owned(), id.to_string());
        }
        if let Some(name) = &self.active_stamp_name {
            properties.insert("ActiveStampName".to_owned(), name.clone());
        }
        if let Some(seconds) = self.replication_frequency_seconds {
            properties.insert(
                "ReplicationFrequencySeconds".to_owned(),
                seconds.to_string(),
            );
        }
        NewUsageRecord {
            external_record_id: usage_record_id(self.subscription_id, period),
            subscription_id: self.subscription_id,
            resource_id: dr_resource_id(self.subscription_id, provider_name),
            service_type: DR_SERVICE_TYPE.to_owned(),
            provider_name: provider_name.to_owned(),
            start_time: period.start(),
            end_time: period.end(),
            properties,
            resources: BTreeMap::from([
                (
                    PROTECTED_VM_HOURS.to_owned(),
                    vm_hours(self.protected_vms, minutes),
                ),
                (
                    DRILL_VM_HOURS.to_owned(),
                    vm_hours(self.drill_vms(), minutes),
                ),
                (
                    FAILED_OVER_VM_HOURS.to_owned(),
                    vm_hours(self.failed_over_vms(), minutes),
                ),
            ]),
        }
    }
}

/// The external record id of a subscription's record for a period, `wapdr:{subscription}:{start}`:
/// the same however often the period is metered, so the store can refuse a second one.
pub fn usage_record_id(subscription: SubscriptionId, period: &MeteringPeriod) -> String {
    format!("wapdr:{subscription}:{}", rfc3339(period.start()))
}

/// The resource a subscription's DR usage is for: its DR view as WAP's tenant API shows it
/// (`{subscription}/services/{provider}/dr`).
pub fn dr_resource_id(subscription: SubscriptionId, provider_name: &str) -> String {
    format!("{subscription}/services/{provider_name}/dr")
}

/// `vms` × `minutes` in hours, as invariant decimal text with at most 6 decimals (rounded half
/// up) and no trailing zeros: `3`, `1.5`, `0.083333`. Integer arithmetic, so it is exact
/// whenever the value has 6 decimals or fewer.
pub fn vm_hours(vms: u64, minutes: u32) -> String {
    let vm_minutes = u128::from(vms) * u128::from(minutes);
    let whole = vm_minutes / 60;
    let millionths = ((vm_minutes % 60) * 1_000_000 + 30) / 60;
    if millionths == 0 {
        return whole.to_string();
    }
    let fraction = format!("{millionths:06}");
    format!("{whole}.{}", fraction.trim_end_matches('0'))
}

/// A time as RFC 3339 UTC text (`2024-05-01T10:00:00Z`).
fn rfc3339(at: OffsetDateTime) -> String {
    at.to_offset(time::UtcOffset::UTC)
        .format(&Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn sample() -> DrUsageSample {
        DrUsageSample {
            subscription_id: SubscriptionId::parse("ec66ec96-8edd-4916-be45-607959155c2a").unwrap(),
            active_stamp_id: Some(Uuid::nil()),
            active_stamp_name: Some("a".into()),
            on_recovery: false,
            failover_phase: FailoverPhase::Replicating,
            replication_frequency_seconds: Some(300),
            protected_vms: 4,
            replicating_vms: 3,
            sampled_at: datetime!(2024-05-01 11:00:02 UTC),
        }
    }

    #[test]
    fn a_period_length_must_divide_a_day_between_5_minutes_and_a_day() {
        for ok in [5, 15, 30, 60, 90, 120, 720, 1440] {
            assert_eq!(MeteringPeriod::check_minutes(ok), Ok(ok as u32), "{ok}");
        }
        for bad in [0, 1, 4, 7, 50, 100, 2880, u64::MAX] {
            let err = MeteringPeriod::check_minutes(bad).unwrap_err();
            assert!(err.contains("divide a day"), "{err}");
        }
    }

    #[test]
    fn the_last_complete_period_ends_at_or_before_now() {
        let at = |now, minutes| {
            let p = MeteringPeriod::last_complete(now, minutes);
            (p.start(), p.end())
        };
        assert_eq!(
            at(datetime!(2024-05-01 11:20:00 UTC), 60),
            (
                datetime!(2024-05-01 10:00:00 UTC),
                datetime!(2024-05-01 11:00:00 UTC)
            )
        );
        assert_eq!(
            at(datetime!(2024-05-01 11:00:00 UTC), 60).1,
            datetime!(2024-05-01 11:00:00 UTC),
            "a period ending exactly now is complete"
        );
        assert_eq!(
            at(datetime!(2024-05-01 00:04:59.9 UTC), 5).0,
            datetime!(2024-04-30 23:55:00 UTC)
        );
        assert_eq!(
            at(datetime!(2024-05-01 13:00:00 +02:00), 1440),
            (
                datetime!(2024-04-30 00:00:00 UTC),
                datetime!(2024-05-01 00:00:00 UTC)
            ),
            "days are UTC days"
        );
    }

    #[test]
    fn a_requested_period_must_start_on_the_grid() {
        let p = MeteringPeriod::starting_at(datetime!(2024-05-01 12:30:00 +02:00), 30).unwrap();
        assert_eq!(p.start(), datetime!(2024-05-01 10:30:00 UTC));
        assert!(p.is_complete_at(datetime!(2024-05-01 11:00:00 UTC)));
        assert!(!p.is_complete_at(datetime!(2024-05-01 10:59:59 UTC)));
        for bad in [
            datetime!(2024-05-01 10:30:00 UTC),
            datetime!(2024-05-01 10:00:01 UTC),
            datetime!(2024-05-01 10:00:00.5 UTC),
        ] {
            let err = MeteringPeriod::starting_at(bad, 60).unwrap_err();
            assert!(err.contains("not the start of a 60-minute period"), "{err}");
        }
    }

    #[test]
    fn vm_hours_are_exact_decimals_without_trailing_zeros() {
        assert_eq!(vm_hours(0, 60), "0");
        assert_eq!(vm_hours(3, 60), "3");
        assert_eq!(vm_hours(3, 30), "1.5");
        assert_eq!(vm_hours(1, 5), "0.083333");
        assert_eq!(vm_hours(2, 5), "0.166667");
        assert_eq!(vm_hours(12, 5), "1");
        assert_eq!(vm_hours(1, 1440), "24");
    }

    #[test]
    fn a_record_carries_the_meters_and_properties_of_its_sample() {
        let period = MeteringPeriod::starting_at(datetime!(2024-05-01 10:00:00 UTC), 60).unwrap();
        let record = sample().record(&period, "disasterrecovery");
        assert_eq!(
            record.external_record_id,
            "wapdr:ec66ec96-8edd-4916-be45-607959155c2a:2024-05-01T10:00:00Z"
        );
        assert_eq!(
            record.resource_id,
            "ec66ec96-8edd-4916-be45-607959155c2a/services/disasterrecovery/dr"
        );
        assert_eq!(record.service_type, DR_SERVICE_TYPE);
        assert_eq!(record.end_time, datetime!(2024-05-01 11:00:00 UTC));
        assert_eq!(record.resources[PROTECTED_VM_HOURS], "4");
        assert_eq!(record.resources[DRILL_VM_HOURS], "0");
        assert_eq!(record.resources[FAILED_OVER_VM_HOURS], "0");
        assert_eq!(record.properties["ActiveStampName"], "a");
        assert_eq!(record.properties["FailoverPhase"], "Replicating");
        assert_eq!(record.properties["ReplicationFrequencySeconds"], "300");
        assert_eq!(record.properties["SampledAt"], "2024-05-01T11:00:02Z");
    }

    #[test]
    fn drills_and_failovers_meter_the_replicating_vms_on_top_of_protection() {
        let period = MeteringPeriod::starting_at(datetime!(2024-05-01 10:00:00 UTC), 30).unwrap();
        let drill = DrUsageSample {
            failover_phase: FailoverPhase::TestRunning,
            ..sample()
        };
        let failed_over = DrUsageSample {
            failover_phase: FailoverPhase::FailedOver,
            on_recovery: true,
            ..sample()
        };
        let drill = drill.record(&period, "dr").resources;
        assert_eq!(
            (
                drill[PROTECTED_VM_HOURS].as_str(),
                drill[DRILL_VM_HOURS].as_str(),
                drill[FAILED_OVER_VM_HOURS].as_str()
            ),
            ("2", "1.5", "0")
        );
        let failed_over = failed_over.record(&period, "dr").resources;
        assert_eq!(
            (
                failed_over[DRILL_VM_HOURS].as_str(),
                failed_over[FAILED_OVER_VM_HOURS].as_str()
            ),
            ("0", "1.5")
        );
    }
}
