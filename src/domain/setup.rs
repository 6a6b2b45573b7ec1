//! Provider setup: stamps, replication policies, cloud pairs bound to plan pairs, and network
//! mappings, with the rules a provider's input must follow (pairing rules are in [`super::pairing`]).
//!
//! Everything here is parsed and checked once at the edge. The credentials a stamp carries are
//! [`SecretString`]s so they never reach a log; they are stored as given (no encryption key
//! management is in scope) and never shown back by the API.

use secrecy::SecretString;
use uuid::Uuid;

/// An input the provider must correct; the message names the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct SetupError(pub String);

/// One WAP environment (one site): its WAP admin API, SPF and tenant portal, with credentials.
#[derive(Debug, Clone)]
pub struct Stamp {
    /// wapdr's id of the stamp.
    pub id: Uuid,
    /// The provider's name for it (`A`, `Amsterdam`), unique.
    pub name: String,
    /// The SPF OData service root (`…/SC2012R2/VMM/Microsoft.Management.Odata.svc/`).
    pub spf_url: String,
    /// The SPF Basic user.
    pub spf_username: String,
    /// The SPF Basic password.
    pub spf_password: SecretString,
    /// The VMM stamp GUID in SPF, discovered by verify (`None` until then).
    pub spf_stamp_id: Option<Uuid>,
    /// The WAP admin API base URL.
    pub wap_admin_url: String,
    /// The WAP admin API bearer token.
    pub wap_admin_token: SecretString,
    /// Where tenants of this stamp sign in (shown to a tenant after a failover).
    pub tenant_portal_url: String,
    /// Whether the provider lets wapdr fail this stamp's subscriptions over on its own once the
    /// heartbeat says the stamp is Down (off unless the provider opts in).
    pub auto_failover: bool,
}

impl Stamp {
    /// Checks every field: a name, http(s) URLs, a user and non-empty secrets.
    pub fn validate(&self) -> Result<(), SetupError> {
        check_name("name", &self.name)?;
        check_url("spfUrl", &self.spf_url)?;
        check_url("wapAdminUrl", &self.wap_admin_url)?;
        check_url("tenantPortalUrl", &self.tenant_portal_url)?;
        if self.spf_username.trim().is_empty() {
            return Err(SetupError("spfUsername is required.".into()));
        }
        use secrecy::ExposeSecret as _;
        if self.spf_password.expose_secret().is_empty() {
            return Err(SetupError("spfPassword is required.".into()));
        }
        if self.wap_admin_token.expose_secret().is_empty() {
            return Err(SetupError("wapAdminToken is required.".into()));
        }
        Ok(())
    }
}

/// How the first copy of a VM reaches the recovery stamp.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InitialReplicationMethod {
    /// Copy the disks over the network.
    OverNetwork,
    /// Seed from media shipped to the recovery site.
    Offline,
}

impl InitialReplicationMethod {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::OverNetwork => "OverNetwork",
            Self::Offline => "Offline",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::OverNetwork, Self::Offline]
            .into_iter()
            .find(|m| m.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// The copy frequencies Hyper-V Replica offers, in seconds.
pub const COPY_FREQUENCIES: [u32; 3] = [30, 300, 900];
/// The most additional recovery points Hyper-V Replica keeps.
pub const MAX_RECOVERY_POINTS: u32 = 24;
/// The longest interval between app-consistent snapshots, in hours.
pub const MAX_APP_CONSISTENT_HOURS: u32 = 12;

/// Hyper-V Replica settings applied to the cloud pairs that name the policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReplicationPolicy {
    /// The policy's name, unique; also its name in the replication engine.
    pub name: String,
    /// Seconds between delta copies: 30, 300 or 900.
    pub copy_frequency_seconds: u32,
    /// Additional recovery points kept: 0..=24.
    pub recovery_points: u32,
    /// Hours between app-consistent snapshots: 0 (none)..=12.
    pub app_consistent_frequency_hours: u32,
    /// How the first copy is made.
    pub initial_replication: InitialReplicationMethod,
    /// Whether replication traffic is compressed.
    pub compression: bool,
}

impl ReplicationPolicy {
    /// Checks the name and that every setting is one Hyper-V Replica offers.
    pub fn validate(&self) -> Result<(), SetupError> {
        check_name("name", &self.name)?;
        if !self
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        {
            return Err(SetupError(format!(
                "Policy name '{}' may hold only letters, digits, '-', '_' and '.'.",
                self.name
            )));
        }
        if !COPY_FREQUENCIES.contains(&self.copy_frequency_seconds) {
            return Err(SetupError(format!(
                "copyFrequencySeconds {} is not one of 30, 300, 900.",
                self.copy_frequency_seconds
            )));
        }
        if self.recovery_points > MAX_RECOVERY_POINTS {
            return Err(SetupError(format!(
                "recoveryPoints {} is not in 0..{MAX_RECOVERY_POINTS}.",
                self.recovery_points
            )));
        }
        if self.app_consistent_frequency_hours > MAX_APP_CONSISTENT_HOURS {
            return Err(SetupError(format!(
                "appConsistentFrequencyHours {} is not in 0..{MAX_APP_CONSISTENT_HOURS}.",
                self.app_consistent_frequency_hours
            )));
        }
        Ok(())
    }
}

/// One side of a cloud pair: a VM Clouds plan and the cloud it is bound to, on a stamp.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairSide {
    /// wapdr's id of the stamp.
    pub stamp_id: Uuid,
    /// The WAP plan id.
    pub plan_id: String,
    /// The plan's display name when the pair was made (for messages).
    pub plan_name: String,
    /// The VMM cloud id.
    pub cloud_id: Uuid,
}

/// Where a pair stands with the replication engine.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PairState {
    /// Stored; the pairing workflow has not finished.
    Pending,
    /// The engine replicates the primary cloud to the recovery cloud.
    Paired,
    /// The pairing failed; the pair's error says why.
    Failed,
}

impl PairState {
    /// The stored and wire name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "Pending",
            Self::Paired => "Paired",
            Self::Failed => "Failed",
        }
    }

    /// Parses a name, ignoring case.
    pub fn from_name(name: &str) -> Option<Self> {
        [Self::Pending, Self::Paired, Self::Failed]
            .into_iter()
            .find(|s| s.as_str().eq_ignore_ascii_case(name.trim()))
    }
}

/// Primary plan and cloud on one stamp ↔ recovery plan and cloud on another, with a policy.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloudPair {
    /// wapdr's id of the pair.
    pub id: Uuid,
    /// Where the tenants' VMs run.
    pub primary: PairSide,
    /// Where they are replicated to.
    pub recovery: PairSide,
    /// The replication policy's name.
    pub policy: String,
    /// Where the pairing stands.
    pub state: PairState,
    /// Why the pairing failed, for the provider to act on.
    pub error: Option<String>,
    /// The recovery-stamp VM network test failovers attach to, if set.
    pub test_network_id: Option<Uuid>,
}

/// A VM network on the primary stamp mapped to one on the recovery stamp, for one cloud pair.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NetworkMapping {
    /// The primary stamp's VM network.
    pub primary_network_id: Uuid,
    /// The recovery stamp's VM network.
    pub recovery_network_id: Uuid,
}

/// Checks that a set of mappings maps each primary network once.
pub fn validate_network_mappings(mappings: &[NetworkMapping]) -> Result<(), SetupError> {
    let mut seen = std::collections::BTreeSet::new();
    for mapping in mappings {
        if !seen.insert(mapping.primary_network_id) {
            return Err(SetupError(format!(
                "Primary VM network {} is mapped more than once.",
                mapping.primary_network_id
            )));
        }
    }
    Ok(())
}

fn check_name(field: &str, name: &str) -> Result<(), SetupError> {
    let trimmed = name.trim();
    if trimmed.is_empty() {
        return Err(SetupError(format!("{field} is required.")));
    }
    if trimmed.len() != name.len() || name.chars().count() > 100 {
        return Err(SetupError(format!(
            "{field} '{name}' must be 1 to 100 characters without leading or trailing spaces."
        )));
    }
    Ok(())
}

/// An absolute http(s) URL with a host and no credentials or spaces in it.
fn check_url(field: &str, url: &str) -> Result<(), SetupError> {
    let rest = url
        .strip_prefix("https://")
        .or_else(|| url.strip_prefix("http://"));
    let host = rest.map(|r| r.split(['/', '?', '#']).next().unwrap_or_default());
    match host {
        Some(host)
            if !host.is_empty() && !host.contains('@') && !url.chars().any(char::is_whitespace) =>
        {
            Ok(())
        }
        _ => Err(SetupError(format!(
            "{field} '{url}' is not an absolute http(s) URL without credentials."
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stamp(name: &str) -> Stamp {
        Stamp {
            id: Uuid::new_v4(),
            name: name.into(),
            spf_url: "https://spf-a:8090/SC2012R2/VMM/Microsoft.Management.Odata.svc/".into(),
            spf_username: "spf-admin".into(),
            spf_password: SecretString::from("s3cret-spf"),
            spf_stamp_id: None,
            wap_admin_url: "https://adminapi-a:30004".into(),
            wap_admin_token: SecretString::from("s3cret-token"),
            tenant_portal_url: "https://portal-a".into(),
            auto_failover: false,
        }
    }

    fn policy() -> ReplicationPolicy {
        ReplicationPolicy {
            name: "gold-5min".into(),
            copy_frequency_seconds: 300,
            recovery_points: 4,
            app_consistent_frequency_hours: 1,
            initial_replication: InitialReplicationMethod::OverNetwork,
            compression: true,
        }
    }

    #[test]
    fn a_complete_stamp_is_valid() {
        assert_eq!(stamp("A").validate(), Ok(()));
    }

    #[test]
    fn a_stamp_needs_http_urls_a_name_and_secrets() {
        let mut bad = stamp("A");
        bad.spf_url = "ftp://spf".into();
        assert!(bad.validate().unwrap_err().0.contains("spfUrl 'ftp://spf'"));
        let mut bad = stamp("A");
        bad.wap_admin_url = "https://user:pw@adminapi".into();
        assert!(bad.validate().unwrap_err().0.contains("wapAdminUrl"));
        let mut bad = stamp("A");
        bad.tenant_portal_url = "https://".into();
        assert!(bad.validate().unwrap_err().0.contains("tenantPortalUrl"));
        assert!(stamp(" ").validate().unwrap_err().0.contains("name"));
        let mut bad = stamp("A");
        bad.spf_password = SecretString::from("");
        assert_eq!(bad.validate().unwrap_err().0, "spfPassword is required.");
        let mut bad = stamp("A");
        bad.wap_admin_token = SecretString::from("");
        assert_eq!(bad.validate().unwrap_err().0, "wapAdminToken is required.");
    }

    #[test]
    fn a_stamp_never_shows_its_secrets_in_debug_output() {
        let text = format!("{:?}", stamp("A"));
        assert!(!text.contains("s3cret"), "{text}");
    }

    #[test]
    fn policies_accept_only_what_hyper_v_replica_offers() {
        assert_eq!(policy().validate(), Ok(()));
        for frequency in COPY_FREQUENCIES {
            let p = ReplicationPolicy {
                copy_frequency_seconds: frequency,
                ..policy()
            };
            assert_eq!(p.validate(), Ok(()));
        }
        let p = ReplicationPolicy {
            copy_frequency_seconds: 60,
            ..policy()
        };
        assert_eq!(
            p.validate().unwrap_err().0,
            "copyFrequencySeconds 60 is not one of 30, 300, 900."
        );
        let p = ReplicationPolicy {
            recovery_points: 25,
            ..policy()
        };
        assert!(p.validate().unwrap_err().0.contains("recoveryPoints 25"));
        let p = ReplicationPolicy {
            recovery_points: 24,
            app_consistent_frequency_hours: 12,
            ..policy()
        };
        assert_eq!(p.validate(), Ok(()));
        let p = ReplicationPolicy {
            app_consistent_frequency_hours: 13,
            ..policy()
        };
        assert!(
            p.validate()
                .unwrap_err()
                .0
                .contains("appConsistentFrequencyHours 13")
        );
        let p = ReplicationPolicy {
            name: "gold 5".into(),
            ..policy()
        };
        assert!(p.validate().unwrap_err().0.contains("'gold 5'"));
    }

    #[test]
    fn names_of_states_and_methods_read_back_ignoring_case() {
        for state in [PairState::Pending, PairState::Paired, PairState::Failed] {
            assert_eq!(
                PairState::from_name(&state.as_str().to_lowercase()),
                Some(state)
            );
        }
        assert_eq!(
            InitialReplicationMethod::from_name("offline"),
            Some(InitialReplicationMethod::Offline)
        );
        assert_eq!(InitialReplicationMethod::from_name("disk"), None);
    }

    #[test]
    fn a_primary_network_is_mapped_at_most_once() {
        let (a, b, c) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
        let ok = [
            NetworkMapping {
                primary_network_id: a,
                recovery_network_id: b,
            },
            NetworkMapping {
                primary_network_id: c,
                recovery_network_id: b,
            },
        ];
        assert_eq!(validate_network_mappings(&ok), Ok(()));
        let twice = [ok[0], ok[0]];
        assert!(
            validate_network_mappings(&twice)
                .unwrap_err()
                .0
                .contains(&a.to_string())
        );
    }
}
