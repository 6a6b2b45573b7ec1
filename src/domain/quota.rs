//! The DR add-on quota schema: wapdr's own keys inside WAP's `ServiceQuotaSettings`.
//!
//! WAP hands an RP the plan's quota (`BaseQuota`) and one list per acquired add-on instance
//! (`AddOnQuotas`); how to combine them is the RP's to define. wapdr's rule, per key, over every list
//! that names the key (a list that leaves a key out grants nothing for it):
//!
//! | key | values | combined as | default |
//! |---|---|---|---|
//! | `DrEnabled` | `true`/`false` (also `1`/`0`) | any `true` wins | `true` |
//! | `MaxProtectedVms` | integer 0..=1000000, or `Unlimited` | sum; `Unlimited` if any is | `Unlimited` |
//! | `ReplicationFrequencySeconds` | `30`, `300`, `900` | the most frequent (min) | `300` |
//! | `RecoveryPoints` | integer 0..=24 | the most (max) | `4` |
//! | `AppConsistentFrequencyHours` | integer 0..=12, 0 = none | the most frequent non-zero | `1` |
//! | `SelfService` | `None`, `Drill`, `Full` | the most permissive | `Drill` |
//!
//! A key no list names takes the default. Keys and enum values are matched without regard to case;
//! an empty value counts as not named. [`QuotaSources::validate`] (used for quota changes, which WAP
//! checks with `validateOnly` first) refuses an unknown key, so that a typo in a plan is caught
//! instead of silently granting nothing; [`QuotaSources::effective`] ignores unknown keys, so a
//! subscription carrying a key from a newer wapdr (during a rolling upgrade) is not refused.

use std::fmt;

use serde::{Deserialize, Serialize};

/// One `ServiceQuotaSetting`: a key and an opaque string value.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSetting {
    /// The setting's name.
    pub key: String,
    /// The setting's value, as text.
    pub value: String,
}

impl QuotaSetting {
    /// A setting from a key and a value.
    pub fn new(key: impl Into<String>, value: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            value: value.into(),
        }
    }
}

/// What the tenant may do without the provider.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SelfService {
    /// The provider runs everything (managed DR).
    None,
    /// The tenant may run drills (test failovers) and exclude VMs.
    Drill,
    /// The tenant may also run failovers, failback and edit recovery plans.
    Full,
}

impl SelfService {
    const ALL: [Self; 3] = [Self::None, Self::Drill, Self::Full];

    /// The value's name in the quota.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::None => "None",
            Self::Drill => "Drill",
            Self::Full => "Full",
        }
    }
}

/// Replication copy frequencies Hyper-V Replica supports.
pub const REPLICATION_FREQUENCIES: [u32; 3] = [30, 300, 900];

/// The DR entitlements of a subscription, after combining plan and add-ons.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DrQuota {
    /// Whether DR is on for the subscription.
    pub dr_enabled: bool,
    /// How many VMs may be protected; `None` is unlimited.
    pub max_protected_vms: Option<u32>,
    /// Hyper-V Replica copy frequency: 30, 300 or 900 seconds.
    pub replication_frequency_seconds: u32,
    /// Additional recovery points kept on the replica.
    pub recovery_points: u32,
    /// App-consistent snapshot frequency in hours; 0 means none.
    pub app_consistent_frequency_hours: u32,
    /// What the tenant may do on their own.
    pub self_service: SelfService,
}

impl Default for DrQuota {
    fn default() -> Self {
        Self {
            dr_enabled: true,
            max_protected_vms: None,
            replication_frequency_seconds: 300,
            recovery_points: 4,
            app_consistent_frequency_hours: 1,
            self_service: SelfService::Drill,
        }
    }
}

/// A quota value WAP or an admin sent that wapdr cannot accept; names the key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuotaError {
    /// The offending key, as sent.
    pub key: String,
    /// What is wrong and what is allowed.
    pub message: String,
}

impl fmt::Display for QuotaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Quota setting '{}': {}", self.key, self.message)
    }
}

impl std::error::Error for QuotaError {}

/// The quota lists as WAP sent them: the plan's base and one list per add-on instance.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct QuotaSources {
    /// The plan's quota for this RP (may be empty when only an add-on includes it).
    pub base: Vec<QuotaSetting>,
    /// One list per acquired add-on instance.
    pub add_ons: Vec<Vec<QuotaSetting>>,
}

/// The keys wapdr defines, with a one-line description each (for docs and errors).
pub const QUOTA_KEYS: [(&str, &str); 6] = [
    (
        "DrEnabled",
        "true or false: DR is on for subscriptions of this plan or add-on",
    ),
    (
        "MaxProtectedVms",
        "0..1000000 or Unlimited: how many VMs may be protected",
    ),
    (
        "ReplicationFrequencySeconds",
        "30, 300 or 900: Hyper-V Replica copy frequency",
    ),
    (
        "RecoveryPoints",
        "0..24: additional recovery points kept on the replica",
    ),
    (
        "AppConsistentFrequencyHours",
        "0..12: app-consistent snapshot frequency, 0 for none",
    ),
    (
        "SelfService",
        "None, Drill or Full: what the tenant may do without the provider",
    ),
];

const MAX_PROTECTED_VMS_LIMIT: u32 = 1_000_000;

/// What one list grants: each key it names, parsed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct Grant {
    dr_enabled: Option<bool>,
    max_protected_vms: Option<Option<u32>>,
    replication_frequency_seconds: Option<u32>,
    recovery_points: Option<u32>,
    app_consistent_frequency_hours: Option<u32>,
    self_service: Option<SelfService>,
}

impl QuotaSources {
    /// Sources holding one list only, as `POST /subscriptions` carries.
    pub fn single(settings: Vec<QuotaSetting>) -> Self {
        Self {
            base: settings,
            add_ons: Vec::new(),
        }
    }

    /// Checks every list without combining them; unknown keys are errors.
    pub fn validate(&self) -> Result<(), QuotaError> {
        self.grants(Strictness::RefuseUnknownKeys).map(|_| ())
    }

    /// The entitlements in force (see the module docs for the rule); unknown keys are ignored,
    /// invalid values of known keys are errors.
    pub fn effective(&self) -> Result<DrQuota, QuotaError> {
        let grants = self.grants(Strictness::IgnoreUnknownKeys)?;
        let defaults = DrQuota::default();
        let named = |pick: fn(&Grant) -> Option<u32>| grants.iter().filter_map(pick);
        Ok(DrQuota {
            dr_enabled: grants
                .iter()
                .filter_map(|g| g.dr_enabled)
                .reduce(|a, b| a || b)
                .unwrap_or(defaults.dr_enabled),
            max_protected_vms: grants
                .iter()
                .filter_map(|g| g.max_protected_vms)
                .reduce(|a, b| match (a, b) {
                    (Some(a), Some(b)) => Some(a.saturating_add(b)),
                    _ => None,
                })
                .unwrap_or(defaults.max_protected_vms),
            replication_frequency_seconds: named(|g| g.replication_frequency_seconds)
                .min()
                .unwrap_or(defaults.replication_frequency_seconds),
            recovery_points: named(|g| g.recovery_points)
                .max()
                .unwrap_or(defaults.recovery_points),
            app_consistent_frequency_hours: {
                let mut hours = named(|g| g.app_consistent_frequency_hours).peekable();
                match hours.peek() {
                    None => defaults.app_consistent_frequency_hours,
                    Some(_) => hours.filter(|h| *h > 0).min().unwrap_or(0),
                }
            },
            self_service: grants
                .iter()
                .filter_map(|g| g.self_service)
                .max()
                .unwrap_or(defaults.self_service),
        })
    }

    fn grants(&self, strictness: Strictness) -> Result<Vec<Grant>, QuotaError> {
        std::iter::once(&self.base)
            .chain(self.add_ons.iter())
            .map(|list| parse_grant(list, strictness))
            .collect()
    }
}

impl DrQuota {
    /// The quota as a settings list (for `GET /defaultquota` and the subscription's QuotaSettings).
    pub fn to_settings(&self) -> Vec<QuotaSetting> {
        vec![
            QuotaSetting::new("DrEnabled", self.dr_enabled.to_string()),
            QuotaSetting::new(
                "MaxProtectedVms",
                self.max_protected_vms
                    .map_or_else(|| "Unlimited".to_owned(), |n| n.to_string()),
            ),
            QuotaSetting::new(
                "ReplicationFrequencySeconds",
                self.replication_frequency_seconds.to_string(),
            ),
            QuotaSetting::new("RecoveryPoints", self.recovery_points.to_string()),
            QuotaSetting::new(
                "AppConsistentFrequencyHours",
                self.app_consistent_frequency_hours.to_string(),
            ),
            QuotaSetting::new("SelfService", self.self_service.as_str()),
        ]
    }
}

/// Whether a key wapdr does not define is an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strictness {
    RefuseUnknownKeys,
    IgnoreUnknownKeys,
}

fn parse_grant(list: &[QuotaSetting], strictness: Strictness) -> Result<Grant, QuotaError> {
    let mut grant = Grant::default();
    for setting in list {
        let value = setting.value.trim();
        if value.is_empty() {
            continue;
        }
        let error = |message: String| QuotaError {
            key: setting.key.clone(),
            message,
        };
        let Some(key) = QUOTA_KEYS
            .iter()
            .map(|(k, _)| *k)
            .find(|k| k.eq_ignore_ascii_case(setting.key.trim()))
        else {
            if strictness == Strictness::IgnoreUnknownKeys {
                continue;
            }
            let known: Vec<&str> = QUOTA_KEYS.iter().map(|(k, _)| *k).collect();
            return Err(error(format!(
                "unknown key; the keys are {}",
                known.join(", ")
            )));
        };
        let duplicate = || error("the key appears twice in one list".to_owned());
        match key {
            "DrEnabled" => {
                let parsed = match value.to_ascii_lowercase().as_str() {
                    "true" | "1" => true,
                    "false" | "0" => false,
                    _ => return Err(error(format!("'{value}' is not true or false"))),
                };
                if grant.dr_enabled.replace(parsed).is_some() {
                    return Err(duplicate());
                }
            }
            "MaxProtectedVms" => {
                let parsed = if value.eq_ignore_ascii_case("unlimited") {
                    None
                } else {
                    Some(parse_in_range(value, 0, MAX_PROTECTED_VMS_LIMIT).map_err(error)?)
                };
                if grant.max_protected_vms.replace(parsed).is_some() {
                    return Err(duplicate());
                }
            }
            "ReplicationFrequencySeconds" => {
                let parsed = value
                    .parse::<u32>()
                    .ok()
                    .filter(|v| REPLICATION_FREQUENCIES.contains(v))
                    .ok_or_else(|| error(format!("'{value}' is not 30, 300 or 900")))?;
                if grant
                    .replication_frequency_seconds
                    .replace(parsed)
                    .is_some()
                {
                    return Err(duplicate());
                }
            }
            "RecoveryPoints" => {
                let parsed = parse_in_range(value, 0, 24).map_err(error)?;
                if grant.recovery_points.replace(parsed).is_some() {
                    return Err(duplicate());
                }
            }
            "AppConsistentFrequencyHours" => {
                let parsed = parse_in_range(value, 0, 12).map_err(error)?;
                if grant
                    .app_consistent_frequency_hours
                    .replace(parsed)
                    .is_some()
                {
                    return Err(duplicate());
                }
            }
            "SelfService" => {
                let parsed = SelfService::ALL
                    .into_iter()
                    .find(|s| s.as_str().eq_ignore_ascii_case(value))
                    .ok_or_else(|| error(format!("'{value}' is not None, Drill or Full")))?;
                if grant.self_service.replace(parsed).is_some() {
                    return Err(duplicate());
                }
            }
            other => unreachable!("QUOTA_KEYS and this match list the same keys: {other}"),
        }
    }
    Ok(grant)
}

fn parse_in_range(value: &str, min: u32, max: u32) -> Result<u32, String> {
    value
        .parse::<u32>()
        .ok()
        .filter(|v| (min..=max).contains(v))
        .ok_or_else(|| format!("'{value}' is not a whole number from {min} to {max}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(pairs: &[(&str, &str)]) -> Vec<QuotaSetting> {
        pairs
            .iter()
            .map(|(k, v)| QuotaSetting::new(*k, *v))
            .collect()
    }

    #[test]
    fn nothing_named_means_the_defaults() {
        let quota = QuotaSources::default().effective().unwrap();
        assert_eq!(quota, DrQuota::default());
    }

    #[test]
    fn add_ons_add_capacity_and_the_best_terms_win() {
        let sources = QuotaSources {
            base: list(&[
                ("DrEnabled", "false"),
                ("MaxProtectedVMs", "10"),
                ("ReplicationFrequencySeconds", "900"),
                ("SelfService", "None"),
            ]),
            add_ons: vec![
                list(&[
                    ("drenabled", "TRUE"),
                    ("MaxProtectedVms", "5"),
                    ("ReplicationFrequencySeconds", "300"),
                ]),
                list(&[
                    ("MaxProtectedVms", "5"),
                    ("SelfService", "full"),
                    ("RecoveryPoints", "12"),
                ]),
            ],
        };
        let quota = sources.effective().unwrap();
        assert!(quota.dr_enabled);
        assert_eq!(quota.max_protected_vms, Some(20));
        assert_eq!(quota.replication_frequency_seconds, 300);
        assert_eq!(quota.recovery_points, 12);
        assert_eq!(quota.self_service, SelfService::Full);
    }

    #[test]
    fn unlimited_anywhere_is_unlimited() {
        let sources = QuotaSources {
            base: list(&[("MaxProtectedVms", "10")]),
            add_ons: vec![list(&[("MaxProtectedVms", "unlimited")])],
        };
        assert_eq!(sources.effective().unwrap().max_protected_vms, None);
    }

    #[test]
    fn app_consistent_snapshots_take_the_most_frequent_non_zero() {
        let sources = QuotaSources {
            base: list(&[("AppConsistentFrequencyHours", "0")]),
            add_ons: vec![
                list(&[("AppConsistentFrequencyHours", "4")]),
                list(&[("AppConsistentFrequencyHours", "2")]),
            ],
        };
        assert_eq!(
            sources.effective().unwrap().app_consistent_frequency_hours,
            2
        );
        let off = QuotaSources::single(list(&[("AppConsistentFrequencyHours", "0")]));
        assert_eq!(off.effective().unwrap().app_consistent_frequency_hours, 0);
    }

    #[test]
    fn empty_values_count_as_not_named() {
        let sources = QuotaSources::single(list(&[("ReplicationFrequencySeconds", "  ")]));
        assert_eq!(
            sources.effective().unwrap().replication_frequency_seconds,
            300
        );
    }

    #[test]
    fn invalid_values_name_their_key() {
        let cases = [
            ("ReplicationFrequencySeconds", "60", "not 30, 300 or 900"),
            ("MaxProtectedVms", "-1", "whole number"),
            ("RecoveryPoints", "25", "from 0 to 24"),
            ("AppConsistentFrequencyHours", "x", "whole number"),
            ("SelfService", "Everything", "None, Drill or Full"),
            ("DrEnabled", "yes", "true or false"),
            ("DrEnable", "true", "unknown key"),
        ];
        for (key, value, expected) in cases {
            let err = QuotaSources::single(list(&[(key, value)]))
                .validate()
                .unwrap_err();
            assert_eq!(err.key, key);
            assert!(
                err.message.contains(expected),
                "{key}={value}: {}",
                err.message
            );
        }
    }

    #[test]
    fn unknown_keys_are_refused_by_validation_but_ignored_in_effect() {
        let sources = QuotaSources::single(list(&[("FutureKey", "x"), ("RecoveryPoints", "9")]));
        assert_eq!(sources.validate().unwrap_err().key, "FutureKey");
        assert_eq!(sources.effective().unwrap().recovery_points, 9);
        let bad_known = QuotaSources::single(list(&[("FutureKey", "x"), ("RecoveryPoints", "99")]));
        assert_eq!(bad_known.effective().unwrap_err().key, "RecoveryPoints");
    }

    #[test]
    fn a_key_twice_in_one_list_is_refused() {
        let err = QuotaSources::single(list(&[("RecoveryPoints", "1"), ("recoverypoints", "2")]))
            .validate()
            .unwrap_err();
        assert!(err.message.contains("twice"));
    }

    #[test]
    fn settings_round_trip_through_the_parser() {
        let quota = DrQuota {
            dr_enabled: false,
            max_protected_vms: Some(7),
            replication_frequency_seconds: 30,
            recovery_points: 0,
            app_consistent_frequency_hours: 0,
            self_service: SelfService::Full,
        };
        assert_eq!(
            QuotaSources::single(quota.to_settings())
                .effective()
                .unwrap(),
            quota
        );
        let unlimited = DrQuota::default();
        assert_eq!(
            QuotaSources::single(unlimited.to_settings())
                .effective()
                .unwrap(),
            unlimited
        );
    }
}
