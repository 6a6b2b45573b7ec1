//! The SPF VMM entity sets the lab serves and how each row reads as typed OData properties.
//!
//! Time-dependent values (`StatusString` of a VM still creating, its `ModifiedTime`) are computed
//! here from the row and lab-now; this module never changes a row.

use time::OffsetDateTime;

use super::odata::Edm;
use super::odata_write::{EntityOut, SetInfo};
use super::world::{Cloud, Owner, Stamp, UserRole, Vm, VmNetwork, VmSubnet};

/// An entity set of the VMM service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Set {
    /// `VirtualMachines`.
    Vms,
    /// `Clouds`.
    Clouds,
    /// `VMNetworks`.
    Networks,
    /// `VMSubnets`.
    Subnets,
    /// `UserRoles`.
    Roles,
    /// `Stamps`.
    Stamps,
}

const VM_PROPS: &[&str] = &[
    "ID",
    "StampId",
    "Name",
    "VMId",
    "CloudId",
    "Owner",
    "StatusString",
    "Status",
    "VirtualMachineState",
    "CPUCount",
    "Memory",
    "TotalSize",
    "Tag",
    "Description",
    "IsRecoveryVM",
    "VMNetworkIds",
    "AddedTime",
    "CreationTime",
    "ModifiedTime",
];
const CLOUD_PROPS: &[&str] = &["ID", "StampId", "Name", "Description", "LastModifiedDate"];
const NETWORK_PROPS: &[&str] = &[
    "ID",
    "StampId",
    "Name",
    "Description",
    "LogicalNetworkId",
    "IsolationType",
    "Owner",
    "ModifiedTime",
];
const SUBNET_PROPS: &[&str] = &["ID", "StampId", "Name", "Subnet", "VMNetworkId"];
const ROLE_PROPS: &[&str] = &["ID", "Name", "Profile", "Members"];
const STAMP_PROPS: &[&str] = &["ID", "Name"];

impl Set {
    /// The set named `name` (exact, as OData is case-sensitive).
    pub fn from_name(name: &str) -> Option<Set> {
        Some(match name {
            "VirtualMachines" => Set::Vms,
            "Clouds" => Set::Clouds,
            "VMNetworks" => Set::Networks,
            "VMSubnets" => Set::Subnets,
            "UserRoles" => Set::Roles,
            "Stamps" => Set::Stamps,
            _ => return None,
        })
    }

    /// Wire name and entity type.
    pub fn info(self) -> SetInfo {
        let (name, type_name) = match self {
            Set::Vms => ("VirtualMachines", "VMM.VirtualMachine"),
            Set::Clouds => ("Clouds", "VMM.Cloud"),
            Set::Networks => ("VMNetworks", "VMM.VMNetwork"),
            Set::Subnets => ("VMSubnets", "VMM.VMSubnet"),
            Set::Roles => ("UserRoles", "VMM.UserRole"),
            Set::Stamps => ("Stamps", "VMM.Stamp"),
        };
        SetInfo { name, type_name }
    }

    /// Property names in wire order.
    pub fn props(self) -> &'static [&'static str] {
        match self {
            Set::Vms => VM_PROPS,
            Set::Clouds => CLOUD_PROPS,
            Set::Networks => NETWORK_PROPS,
            Set::Subnets => SUBNET_PROPS,
            Set::Roles => ROLE_PROPS,
            Set::Stamps => STAMP_PROPS,
        }
    }

    /// Whether the key has a `StampId` part.
    pub fn keyed_by_stamp(self) -> bool {
        !matches!(self, Set::Roles | Set::Stamps)
    }

    /// Whether `path` names a property a filter or `$orderby` may use.
    pub fn knows(self, path: &str) -> bool {
        if let Some(member) = path.strip_prefix("Owner/") {
            return self.props().contains(&"Owner")
                && matches!(member, "UserName" | "RoleName" | "RoleID");
        }
        self.props().contains(&path)
    }
}

/// One row of a set, borrowed from the world.
#[derive(Debug, Clone, Copy)]
pub enum Row<'a> {
    /// A VM.
    Vm(&'a Vm),
    /// A cloud.
    Cloud(&'a Cloud),
    /// A VM network.
    Network(&'a VmNetwork),
    /// A subnet.
    Subnet(&'a VmSubnet),
    /// A user role.
    Role(&'a UserRole),
    /// The stamp itself.
    Stamp,
}

/// Every row of `set` on `stamp`, in key order.
pub fn rows(stamp: &Stamp, set: Set) -> Vec<Row<'_>> {
    match set {
        Set::Vms => stamp.vms.values().map(Row::Vm).collect(),
        Set::Clouds => stamp.clouds.values().map(Row::Cloud).collect(),
        Set::Networks => stamp.networks.values().map(Row::Network).collect(),
        Set::Subnets => stamp.subnets.values().map(Row::Subnet).collect(),
        Set::Roles => stamp.roles.values().map(Row::Role).collect(),
        Set::Stamps => vec![Row::Stamp],
    }
}

fn owner_edm(owner: &Option<Owner>) -> Edm {
    match owner {
        None => Edm::Null("VMM.UserAndRole"),
        Some(o) => Edm::Complex(
            "VMM.UserAndRole",
            vec![
                ("UserName", Edm::Str(o.user_name.clone())),
                ("RoleName", Edm::Str(o.role_name.clone())),
                ("RoleID", Edm::Guid(o.role_id)),
            ],
        ),
    }
}

fn owner_member(owner: &Option<Owner>, member: &str) -> Edm {
    match (owner, member) {
        (None, "RoleID") => Edm::Null("Edm.Guid"),
        (None, _) => Edm::Null("Edm.String"),
        (Some(o), "UserName") => Edm::Str(o.user_name.clone()),
        (Some(o), "RoleName") => Edm::Str(o.role_name.clone()),
        (Some(o), _) => Edm::Guid(o.role_id),
    }
}

impl Row<'_> {
    /// The row's id.
    pub fn id(&self, stamp: &Stamp) -> uuid::Uuid {
        match self {
            Row::Vm(v) => v.id,
            Row::Cloud(c) => c.id,
            Row::Network(n) => n.id,
            Row::Subnet(s) => s.id,
            Row::Role(r) => r.id,
            Row::Stamp => stamp.id,
        }
    }

    /// The value of property `path` at `now` (`Owner/RoleID` style paths included).
    pub fn get(&self, path: &str, stamp: &Stamp, now: OffsetDateTime) -> Edm {
        if let Some(member) = path.strip_prefix("Owner/") {
            return match self {
                Row::Vm(v) => owner_member(&v.owner, member),
                Row::Network(n) => owner_member(&n.owner, member),
                _ => Edm::Null("Edm.String"),
            };
        }
        match self {
            Row::Vm(v) => match path {
                "ID" => Edm::Guid(v.id),
                "StampId" => Edm::Guid(stamp.id),
                "Name" => Edm::Str(v.name.clone()),
                "VMId" => Edm::Guid(v.vm_id),
                "CloudId" => Edm::opt_guid(v.cloud_id),
                "Owner" => owner_edm(&v.owner),
                "StatusString" => Edm::Str(v.status_string(now).into()),
                "Status" => Edm::Str(v.status(now).into()),
                "VirtualMachineState" => Edm::Str(v.power_state(now).into()),
                "CPUCount" => Edm::Int32(v.cpu_count),
                "Memory" => Edm::Int32(v.memory_mb),
                "TotalSize" => Edm::Int64(v.total_size),
                "Tag" => Edm::Str(v.tag.clone()),
                "Description" => Edm::Str(v.description.clone()),
                "IsRecoveryVM" => Edm::Bool(v.is_recovery_vm),
                "VMNetworkIds" => Edm::GuidList(v.vm_network_ids.clone()),
                "AddedTime" | "CreationTime" => Edm::DateTime(v.added),
                "ModifiedTime" => Edm::DateTime(v.modified_at(now)),
                // Write-only: reads show null, as SPF does.
                _ => Edm::Null("Edm.String"),
            },
            Row::Cloud(c) => match path {
                "ID" => Edm::Guid(c.id),
                "StampId" => Edm::Guid(stamp.id),
                "Name" => Edm::Str(c.name.clone()),
                "Description" => Edm::Str(c.description.clone()),
                "LastModifiedDate" => Edm::DateTime(c.modified),
                _ => Edm::Null("Edm.String"),
            },
            Row::Network(n) => match path {
                "ID" => Edm::Guid(n.id),
                "StampId" => Edm::Guid(stamp.id),
                "Name" => Edm::Str(n.name.clone()),
                "Description" => Edm::Str(n.description.clone()),
                "LogicalNetworkId" => Edm::Guid(n.logical_network_id),
                "IsolationType" => Edm::Str(n.isolation_type.clone()),
                "Owner" => owner_edm(&n.owner),
                "ModifiedTime" => Edm::DateTime(n.modified),
                _ => Edm::Null("Edm.String"),
            },
            Row::Subnet(s) => match path {
                "ID" => Edm::Guid(s.id),
                "StampId" => Edm::Guid(stamp.id),
                "Name" => Edm::Str(s.name.clone()),
                "Subnet" => Edm::Str(s.subnet.clone()),
                "VMNetworkId" => Edm::Guid(s.vm_network_id),
                _ => Edm::Null("Edm.String"),
            },
            Row::Role(r) => match path {
                "ID" => Edm::Guid(r.id),
                "Name" => Edm::Str(r.name.clone()),
                "Profile" => Edm::Str(r.profile.clone()),
                "Members" => Edm::StrList(r.members.clone()),
                _ => Edm::Null("Edm.String"),
            },
            Row::Stamp => match path {
                "ID" => Edm::Guid(stamp.id),
                "Name" => Edm::Str(stamp.name.clone()),
                _ => Edm::Null("Edm.String"),
            },
        }
    }

    /// The key URL relative to the service base.
    pub fn key_path(&self, set: Set, stamp: &Stamp) -> String {
        let id = self.id(stamp);
        if set.keyed_by_stamp() {
            format!(
                "{}(ID=guid'{id}',StampId=guid'{}')",
                set.info().name,
                stamp.id
            )
        } else {
            format!("{}(ID=guid'{id}')", set.info().name)
        }
    }

    /// The row ready to write, limited to `select` when given.
    pub fn entity_out(
        &self,
        set: Set,
        stamp: &Stamp,
        now: OffsetDateTime,
        select: Option<&[String]>,
    ) -> EntityOut {
        let props = set
            .props()
            .iter()
            .filter(|p| select.is_none_or(|s| s.iter().any(|x| x == *p)))
            .map(|p| (*p, self.get(p, stamp, now)))
            .collect();
        EntityOut {
            key_path: self.key_path(set, stamp),
            props,
        }
    }
}
