//! The lab's in-memory world: stamps (each a VMM server behind SPF, with clouds, VM networks,
//! subnets, user roles and VMs, and a WAP admin API with users, plans, add-ons, subscriptions and
//! resource providers), the ASR vault and the issued tokens. One `Mutex` guards it all.
//!
//! Time-dependent state (a VM still creating, replication progress, recovery points, health) is
//! computed from timestamps when read, so an idle world of 100,000 VMs costs nothing. The world
//! never does I/O and never sleeps.

use std::collections::{BTreeMap, HashMap};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use time::OffsetDateTime;
use uuid::Uuid;

use super::asr::model::Vault;

/// Everything the lab serves.
#[derive(Debug)]
pub struct World {
    /// The stamps, in configuration order.
    pub stamps: Vec<Stamp>,
    /// The one ASR vault.
    pub vault: Vault,
    /// Issued bearer tokens and their lab-time expiry.
    pub tokens: HashMap<String, OffsetDateTime>,
    /// The seeded generator of ids and injected errors.
    pub rng: StdRng,
}

/// One site: a VMM server behind SPF, and a WAP admin API.
#[derive(Debug)]
pub struct Stamp {
    /// The lab's short name (`A`, `B`).
    pub name: String,
    /// The SPF stamp id.
    pub id: Uuid,
    /// The VMM server's name (the ASR fabric's friendly name).
    pub vmm_server: String,
    /// Since when the stamp is cut off, if it is.
    pub down_since: Option<OffsetDateTime>,
    /// VMM clouds by id.
    pub clouds: BTreeMap<Uuid, Cloud>,
    /// VM networks by id.
    pub networks: BTreeMap<Uuid, VmNetwork>,
    /// VM subnets by id.
    pub subnets: BTreeMap<Uuid, VmSubnet>,
    /// User roles by id (a tenant role's id is its WAP subscription id).
    pub roles: BTreeMap<Uuid, UserRole>,
    /// Virtual machines by SPF id.
    pub vms: BTreeMap<Uuid, Vm>,
    /// The stamp's WAP admin API state.
    pub wap: Wap,
}

/// A VMM cloud.
#[derive(Debug, Clone)]
pub struct Cloud {
    /// Cloud id.
    pub id: Uuid,
    /// Display name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// Last change.
    pub modified: OffsetDateTime,
}

/// The owner of a VM or VM network (OData `VMM.UserAndRole`).
#[derive(Debug, Clone, PartialEq)]
pub struct Owner {
    /// The user.
    pub user_name: String,
    /// The user role's name.
    pub role_name: String,
    /// The user role's id (a WAP subscription id for tenants).
    pub role_id: Uuid,
}

/// A VM network.
#[derive(Debug, Clone)]
pub struct VmNetwork {
    /// Network id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Free text.
    pub description: String,
    /// The logical network it sits on.
    pub logical_network_id: Uuid,
    /// `WindowsNetworkVirtualization` for tenant networks, `NoIsolation` for provider ones.
    pub isolation_type: String,
    /// The owning user role, if any.
    pub owner: Option<Owner>,
    /// Last change.
    pub modified: OffsetDateTime,
}

/// A VM subnet.
#[derive(Debug, Clone)]
pub struct VmSubnet {
    /// Subnet id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Address range, e.g. `10.0.0.0/24`.
    pub subnet: String,
    /// The VM network it belongs to.
    pub vm_network_id: Uuid,
}

/// A VMM user role.
#[derive(Debug, Clone)]
pub struct UserRole {
    /// Role id.
    pub id: Uuid,
    /// `<owner>_<subscriptionId>` for tenant roles.
    pub name: String,
    /// `TenantAdmin` for tenant roles.
    pub profile: String,
    /// Member user names.
    pub members: Vec<String>,
}

/// Power the VM was asked to have (what it shows once creation is over).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Power {
    /// Running.
    Running,
    /// Powered off.
    Stopped,
}

/// A virtual machine as VMM knows it.
#[derive(Debug, Clone)]
pub struct Vm {
    /// SPF id.
    pub id: Uuid,
    /// Name.
    pub name: String,
    /// Hyper-V id, shared by a replica and its primary.
    pub vm_id: Uuid,
    /// The cloud it is in (none for a test-failover VM).
    pub cloud_id: Option<Uuid>,
    /// The owning user role.
    pub owner: Option<Owner>,
    /// Power state once created.
    pub power: Power,
    /// Until when it is still being created.
    pub creating_until: Option<OffsetDateTime>,
    /// Virtual CPUs.
    pub cpu_count: i64,
    /// Memory in MB.
    pub memory_mb: i64,
    /// Disk bytes.
    pub total_size: i64,
    /// Free tag.
    pub tag: String,
    /// Free text.
    pub description: String,
    /// A replica or test VM on a recovery site.
    pub is_recovery_vm: bool,
    /// The VM networks its adapters connect to.
    pub vm_network_ids: Vec<Uuid>,
    /// When VMM learned of it.
    pub added: OffsetDateTime,
    /// Last write by anyone (creation completing counts, see [`Vm::modified_at`]).
    pub modified: OffsetDateTime,
}

impl Vm {
    /// Whether it is still being created at `now`.
    pub fn is_creating(&self, now: OffsetDateTime) -> bool {
        self.creating_until.is_some_and(|until| now < until)
    }

    /// `StatusString` at `now`.
    pub fn status_string(&self, now: OffsetDateTime) -> &'static str {
        if self.is_creating(now) {
            "Creating..."
        } else {
            match self.power {
                Power::Running => "Running",
                Power::Stopped => "Stopped",
            }
        }
    }

    /// `Status` (VMM's `VMComputerSystemState` name) at `now`.
    pub fn status(&self, now: OffsetDateTime) -> &'static str {
        if self.is_creating(now) {
            "UnderCreation"
        } else {
            match self.power {
                Power::Running => "Running",
                Power::Stopped => "PowerOff",
            }
        }
    }

    /// `VirtualMachineState` at `now`.
    pub fn power_state(&self, now: OffsetDateTime) -> &'static str {
        if self.is_creating(now) || self.power == Power::Stopped {
            "PowerOff"
        } else {
            "Running"
        }
    }

    /// `ModifiedTime` at `now`: creation finishing is a change, so it shows from then on.
    pub fn modified_at(&self, now: OffsetDateTime) -> OffsetDateTime {
        match self.creating_until {
            Some(until) if until <= now && until > self.modified => until,
            _ => self.modified,
        }
    }

    /// Applies a power operation (`Start`, `Stop`, `Shutdown`, `TurnOff`); false for an unknown one.
    pub fn apply_operation(&mut self, operation: &str, now: OffsetDateTime) -> bool {
        self.power = match operation.to_ascii_lowercase().as_str() {
            "start" | "resume" => Power::Running,
            "stop" | "shutdown" | "turnoff" | "poweroff" => Power::Stopped,
            _ => return false,
        };
        self.modified = now;
        true
    }
}

/// A stamp's WAP admin API state.
#[derive(Debug, Default)]
pub struct Wap {
    /// Users by lower-cased name.
    pub users: BTreeMap<String, WapUser>,
    /// Plans by id.
    pub plans: BTreeMap<String, Plan>,
    /// Add-ons by id.
    pub addons: BTreeMap<String, AddOn>,
    /// Subscriptions by id.
    pub subscriptions: BTreeMap<Uuid, Subscription>,
    /// Registered resource providers, as posted.
    pub resource_providers: Vec<serde_json::Value>,
}

/// A WAP user.
#[derive(Debug, Clone)]
pub struct WapUser {
    /// The user name (an e-mail address).
    pub name: String,
    /// E-mail.
    pub email: String,
    /// PendingValidation=0, Active=1, Suspended=2, DeletePending=3.
    pub state: i64,
    /// Creation time.
    pub created: OffsetDateTime,
}

/// One service of a plan or add-on with its quota settings.
#[derive(Debug, Clone)]
pub struct ServiceQuota {
    /// `systemcenter`, `disasterrecovery`...
    pub service_name: String,
    /// The RP instance.
    pub instance_id: String,
    /// Key/value settings.
    pub settings: Vec<(String, String)>,
}

/// A WAP plan.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Plan id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Private=0, Public=1, Decommissioned=2.
    pub state: i64,
    /// Its services.
    pub service_quotas: Vec<ServiceQuota>,
    /// Linked add-on ids.
    pub addons: Vec<String>,
}

/// A WAP plan add-on.
#[derive(Debug, Clone)]
pub struct AddOn {
    /// Add-on id.
    pub id: String,
    /// Display name.
    pub display_name: String,
    /// Its services.
    pub service_quotas: Vec<ServiceQuota>,
    /// Plans it is linked to.
    pub associated_plans: Vec<String>,
}

/// A WAP subscription.
#[derive(Debug, Clone)]
pub struct Subscription {
    /// The id (chosen by the caller).
    pub id: Uuid,
    /// Friendly name.
    pub name: String,
    /// The account admin's user name.
    pub owner: String,
    /// Co-administrators.
    pub co_admins: Vec<String>,
    /// None=0, Active=1, Suspended=2, DeletePending=3.
    pub state: i64,
    /// The plan.
    pub plan_id: String,
    /// Acquired add-ons: (add-on id, instance id, acquisition time).
    pub addons: Vec<(String, Uuid, OffsetDateTime)>,
    /// Creation time.
    pub created: OffsetDateTime,
}

impl World {
    /// An empty world with the generator seeded.
    pub fn new(seed: u64) -> Self {
        World {
            stamps: Vec::new(),
            vault: Vault::default(),
            tokens: HashMap::new(),
            rng: StdRng::seed_from_u64(seed),
        }
    }

    /// A fresh random (v4-shaped) id from the seeded generator.
    pub fn new_id(&mut self) -> Uuid {
        uuid::Builder::from_random_bytes(self.rng.r#gen()).into_uuid()
    }

    /// The stamp named `name` (case-insensitive).
    pub fn stamp_index(&self, name: &str) -> Option<usize> {
        self.stamps
            .iter()
            .position(|s| s.name.eq_ignore_ascii_case(name))
    }

    /// The stamp with SPF id `id`.
    pub fn stamp_by_id(&self, id: Uuid) -> Option<usize> {
        self.stamps.iter().position(|s| s.id == id)
    }

    /// Where the VM with SPF id `vm` lives: (stamp index, vm).
    pub fn find_vm(&self, vm: Uuid) -> Option<(usize, &Vm)> {
        self.stamps
            .iter()
            .enumerate()
            .find_map(|(i, s)| s.vms.get(&vm).map(|v| (i, v)))
    }

    /// Whether stamp `index` is cut off.
    pub fn is_down(&self, index: usize) -> bool {
        self.stamps[index].down_since.is_some()
    }
}

impl Stamp {
    /// A stamp with nothing in it.
    pub fn new(name: &str, id: Uuid) -> Self {
        Stamp {
            name: name.to_owned(),
            id,
            vmm_server: format!("vmm-{}.lab.local", name.to_ascii_lowercase()),
            down_since: None,
            clouds: BTreeMap::new(),
            networks: BTreeMap::new(),
            subnets: BTreeMap::new(),
            roles: BTreeMap::new(),
            vms: BTreeMap::new(),
            wap: Wap::default(),
        }
    }
}
