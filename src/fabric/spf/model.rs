//! The SPF VMM entities wapdr reads and writes, tolerant on reading (see `tolerant`) and written
//! in the contract's PascalCase. Nothing here does I/O.

use serde::{Deserialize, Serialize, Serializer};
use time::OffsetDateTime;
use uuid::Uuid;

use crate::fabric::tolerant::{opt_bool, opt_i64, opt_text, opt_time, text_list};

/// The owner of a VM or VM network: a user acting in a user role.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize, Serialize)]
pub struct Owner {
    /// The user name (`tenant@fabrikam.com`).
    #[serde(rename(serialize = "UserName"), default)]
    pub user_name: Option<String>,
    /// The user role name (`<owner>_<subscriptionId>`).
    #[serde(rename(serialize = "RoleName"), default)]
    pub role_name: Option<String>,
    /// The user role id (= the WAP subscription id for a tenant role).
    #[serde(rename(serialize = "RoleID"), default)]
    pub role_id: Option<Uuid>,
}

/// A virtual machine as SPF reports it.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Vm {
    /// The VMM id of the VM (one per stamp; a replica has its own).
    pub id: Uuid,
    /// The stamp (VMM server) the VM lives on.
    pub stamp_id: Uuid,
    /// The VM's name.
    #[serde(default)]
    pub name: String,
    /// The Hyper-V id, shared by a replica and its primary.
    #[serde(default, deserialize_with = "opt_text")]
    pub vm_id: Option<String>,
    /// The cloud the VM belongs to.
    #[serde(default)]
    pub cloud_id: Option<Uuid>,
    /// Who owns it.
    #[serde(default)]
    pub owner: Option<Owner>,
    /// `Creating...`, `Running`, `Stopped`, `Creation Failed`, `Missing`.
    #[serde(default, deserialize_with = "opt_text")]
    pub status_string: Option<String>,
    /// VMM's status code or name.
    #[serde(default, deserialize_with = "opt_text")]
    pub status: Option<String>,
    /// `Running`, `PowerOff`, ….
    #[serde(default, deserialize_with = "opt_text")]
    pub virtual_machine_state: Option<String>,
    /// Virtual processors.
    #[serde(default, deserialize_with = "opt_i64")]
    pub cpu_count: Option<i64>,
    /// Memory in MB.
    #[serde(default, deserialize_with = "opt_i64")]
    pub memory: Option<i64>,
    /// Bytes of disk (drives initial replication time).
    #[serde(default, deserialize_with = "opt_i64")]
    pub total_size: Option<i64>,
    /// Free-form tag.
    #[serde(default, deserialize_with = "opt_text")]
    pub tag: Option<String>,
    /// Free-form description.
    #[serde(default, deserialize_with = "opt_text")]
    pub description: Option<String>,
    /// Whether this VM is a replica brought up by a failover.
    #[serde(default, deserialize_with = "opt_bool")]
    pub is_recovery_vm: Option<bool>,
    /// The VM networks its adapters connect to (lab extension).
    #[serde(default, deserialize_with = "uuid_list")]
    pub vm_network_ids: Vec<Uuid>,
    /// When VMM added it.
    #[serde(default, deserialize_with = "opt_time")]
    pub added_time: Option<OffsetDateTime>,
    /// When it was created.
    #[serde(default, deserialize_with = "opt_time")]
    pub creation_time: Option<OffsetDateTime>,
    /// When it last changed (any write, including the fabric's own state changes).
    #[serde(default, deserialize_with = "opt_time")]
    pub modified_time: Option<OffsetDateTime>,
}

impl Vm {
    /// Whether VMM is still creating the VM (`Creating...`, or the `UnderCreation` status): it
    /// cannot be protected yet, but will be soon.
    pub fn is_being_created(&self) -> bool {
        self.status_string
            .as_deref()
            .is_some_and(|s| s.trim_start().starts_with("Creating"))
            || self
                .status
                .as_deref()
                .is_some_and(|s| s.eq_ignore_ascii_case("UnderCreation"))
    }

    /// Whether the VM still exists as a usable machine (not failed, not missing).
    pub fn is_healthy(&self) -> bool {
        !matches!(
            self.status_string.as_deref(),
            Some("Creation Failed" | "Missing")
        )
    }
}

/// A VM to create (`POST VirtualMachines`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewVm {
    /// A chosen id, or `None` to let the service assign one.
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The stamp to create it on.
    pub stamp_id: Uuid,
    /// The cloud to create it in.
    pub cloud_id: Uuid,
    /// Its name.
    pub name: String,
    /// The Hyper-V id to give it (a replica keeps its primary's).
    #[serde(rename = "VMId", skip_serializing_if = "Option::is_none")]
    pub vm_id: Option<String>,
    /// Its owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
    /// Virtual processors.
    #[serde(rename = "CPUCount", skip_serializing_if = "Option::is_none")]
    pub cpu_count: Option<i64>,
    /// Memory in MB.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub memory: Option<i64>,
    /// Bytes of disk, written as OData v3 writes `Edm.Int64`: a string.
    #[serde(
        skip_serializing_if = "Option::is_none",
        serialize_with = "int64_as_text"
    )]
    pub total_size: Option<i64>,
    /// Free-form tag.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tag: Option<String>,
    /// Free-form description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Whether it is a replica brought up by a failover.
    #[serde(rename = "IsRecoveryVM", skip_serializing_if = "Option::is_none")]
    pub is_recovery_vm: Option<bool>,
    /// VM networks to connect it to (lab extension).
    #[serde(rename = "VMNetworkIds", skip_serializing_if = "Vec::is_empty")]
    pub vm_network_ids: Vec<Uuid>,
}

/// A VMM cloud.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Cloud {
    /// The cloud id.
    pub id: Uuid,
    /// The stamp it belongs to.
    pub stamp_id: Uuid,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its description.
    #[serde(default, deserialize_with = "opt_text")]
    pub description: Option<String>,
    /// When it last changed.
    #[serde(default, deserialize_with = "opt_time")]
    pub last_modified_date: Option<OffsetDateTime>,
}

/// A VM network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VmNetwork {
    /// The network id.
    pub id: Uuid,
    /// The stamp it belongs to.
    pub stamp_id: Uuid,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// Its description.
    #[serde(default, deserialize_with = "opt_text")]
    pub description: Option<String>,
    /// The logical network it is built on.
    #[serde(default)]
    pub logical_network_id: Option<Uuid>,
    /// `WindowsNetworkVirtualization`, `NoIsolation`, ….
    #[serde(default, deserialize_with = "opt_text")]
    pub isolation_type: Option<String>,
    /// Who owns it.
    #[serde(default)]
    pub owner: Option<Owner>,
    /// When it last changed.
    #[serde(default, deserialize_with = "opt_time")]
    pub modified_time: Option<OffsetDateTime>,
}

/// A VM network to create (`POST VMNetworks`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewVmNetwork {
    /// A chosen id, or `None` to let the service assign one.
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The stamp to create it on.
    pub stamp_id: Uuid,
    /// Its name.
    pub name: String,
    /// Its description.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The logical network to build it on.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub logical_network_id: Option<Uuid>,
    /// The isolation type.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub isolation_type: Option<String>,
    /// Its owner.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Owner>,
}

/// A subnet of a VM network.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct VmSubnet {
    /// The subnet id.
    pub id: Uuid,
    /// The stamp it belongs to.
    pub stamp_id: Uuid,
    /// Its name.
    #[serde(default)]
    pub name: String,
    /// The address range (`10.0.0.0/24`).
    #[serde(default, deserialize_with = "opt_text")]
    pub subnet: Option<String>,
    /// The VM network it belongs to.
    #[serde(default)]
    pub vm_network_id: Option<Uuid>,
}

/// A subnet to create (`POST VMSubnets`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewVmSubnet {
    /// A chosen id, or `None` to let the service assign one.
    #[serde(rename = "ID", skip_serializing_if = "Option::is_none")]
    pub id: Option<Uuid>,
    /// The stamp to create it on.
    pub stamp_id: Uuid,
    /// Its name.
    pub name: String,
    /// The address range.
    pub subnet: String,
    /// The VM network it belongs to.
    #[serde(rename = "VMNetworkId")]
    pub vm_network_id: Uuid,
}

/// A VMM user role.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct UserRole {
    /// The role id (= the WAP subscription id for a tenant role).
    pub id: Uuid,
    /// `<owner>_<subscriptionId>`.
    #[serde(default)]
    pub name: String,
    /// `TenantAdmin`, ….
    #[serde(default, deserialize_with = "opt_text")]
    pub profile: Option<String>,
    /// The user names in the role.
    #[serde(default, deserialize_with = "text_list")]
    pub members: Vec<String>,
}

/// A user role to create (`POST UserRoles`).
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(rename_all = "PascalCase")]
pub struct NewUserRole {
    /// The role id (the subscription id for a tenant role).
    #[serde(rename = "ID")]
    pub id: Uuid,
    /// `<owner>_<subscriptionId>`.
    pub name: String,
    /// `TenantAdmin`.
    pub profile: String,
    /// The user names in the role.
    pub members: Vec<String>,
}

/// A stamp: one VMM server behind SPF.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct Stamp {
    /// The stamp id.
    pub id: Uuid,
    /// Its name.
    #[serde(default)]
    pub name: String,
}

fn int64_as_text<S: Serializer>(value: &Option<i64>, s: S) -> Result<S::Ok, S::Error> {
    match value {
        Some(v) => s.serialize_str(&v.to_string()),
        None => s.serialize_none(),
    }
}

fn uuid_list<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Uuid>, D::Error> {
    text_list(d)?
        .iter()
        .map(|s| Uuid::parse_str(s.trim()).map_err(serde::de::Error::custom))
        .collect()
}
