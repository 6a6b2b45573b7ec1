//! Seeded worlds: `small` (2 stamps, Gold/Silver clouds on each, VM Clouds plans bound to them and
//! a DR add-on, 3 tenants on the first stamp with networks and 5–20 VMs each), `large` (10,000
//! subscriptions and 100,000 VMs on the first stamp, generated, never committed) and `empty`.
//!
//! The same seed always builds the same world. Seeding never pairs clouds in ASR: that is wapdr's job.

use rand::Rng;
use time::OffsetDateTime;
use uuid::Uuid;

use super::world::{
    AddOn, Cloud, Owner, Plan, Power, ServiceQuota, Stamp, Subscription, UserRole, Vm, VmNetwork,
    VmSubnet, WapUser, World,
};
use super::{LabConfig, WorldKind};

/// The names of the clouds every seeded stamp has.
pub const CLOUDS: [&str; 2] = ["Gold", "Silver"];

/// The DR add-on's id on a stamp (`dr-a`).
pub fn dr_addon_id(stamp: &str) -> String {
    format!("dr-{}", stamp.to_ascii_lowercase())
}

/// The VM Clouds plan id for a stamp and cloud (`a-gold`).
pub fn plan_id(stamp: &str, cloud: &str) -> String {
    format!(
        "{}-{}",
        stamp.to_ascii_lowercase(),
        cloud.to_ascii_lowercase()
    )
}

/// Builds the configured world.
pub fn build(config: &LabConfig) -> anyhow::Result<World> {
    let mut world = World::new(config.knobs.seed);
    let now = super::clock::whole_millis(OffsetDateTime::now_utc());
    let seeded_at = now - time::Duration::days(1);
    for stamp in &config.stamps {
        let id = world.new_id();
        world.stamps.push(Stamp::new(&stamp.name, id));
    }
    let clouds_per_stamp = match config.world {
        WorldKind::Empty => 1,
        _ => CLOUDS.len(),
    };
    for i in 0..world.stamps.len() {
        for cloud in CLOUDS.iter().take(clouds_per_stamp) {
            add_cloud_and_plan(&mut world, i, cloud, seeded_at);
        }
        add_dr_addon(&mut world, i);
        // A provider network per stamp, the kind test failovers attach to.
        let logical = world.new_id();
        let test_net = world.new_id();
        let name = format!("{}-test-failover", world.stamps[i].name);
        world.stamps[i].networks.insert(
            test_net,
            VmNetwork {
                id: test_net,
                name,
                description: "isolated network for test failovers".into(),
                logical_network_id: logical,
                isolation_type: "NoIsolation".into(),
                owner: None,
                modified: seeded_at,
            },
        );
    }
    match config.world {
        WorldKind::Empty => {}
        WorldKind::Small => seed_small_tenants(&mut world, seeded_at),
        WorldKind::Large => seed_large(
            &mut world,
            config.large.subscriptions,
            config.large.vms,
            seeded_at,
        ),
    }
    Ok(world)
}

fn add_cloud_and_plan(world: &mut World, stamp: usize, cloud: &str, at: OffsetDateTime) {
    let cloud_id = world.new_id();
    let stamp_id = world.stamps[stamp].id;
    let stamp_name = world.stamps[stamp].name.clone();
    world.stamps[stamp].clouds.insert(
        cloud_id,
        Cloud {
            id: cloud_id,
            name: cloud.to_owned(),
            description: format!("{cloud} cloud on stamp {stamp_name}"),
            modified: at,
        },
    );
    let clouds_xml = format!(
        "<Clouds><Cloud Id=\"{cloud_id}\" StampId=\"{stamp_id}\"><Quota><RoleVMCount/><MemberVMCount/><RoleCPUCount/><MemberCPUCount/><RoleMemoryMB/><MemberMemoryMB/><RoleStorageGB/><MemberStorageGB/></Quota></Cloud></Clouds>"
    );
    let id = plan_id(&stamp_name, cloud);
    let plan = Plan {
        id: id.clone(),
        display_name: format!("{cloud} VMs ({stamp_name})"),
        state: 1,
        service_quotas: vec![ServiceQuota {
            service_name: "systemcenter".into(),
            instance_id: format!("{stamp_id}"),
            settings: vec![
                ("Clouds".into(), clouds_xml),
                (
                    "Actions".into(),
                    format!(
                        "<Actions><Stamp Id=\"{stamp_id}\"><Action>Author</Action><Action>Create</Action><Action>Start</Action><Action>Stop</Action><Action>Remove</Action><Action>AuthorVMNetwork</Action></Stamp></Actions>"
                    ),
                ),
            ],
        }],
        addons: vec![dr_addon_id(&stamp_name)],
    };
    world.stamps[stamp].wap.plans.insert(id, plan);
}

fn add_dr_addon(world: &mut World, stamp: usize) {
    let name = world.stamps[stamp].name.clone();
    let plans: Vec<String> = world.stamps[stamp].wap.plans.keys().cloned().collect();
    let instance = world.new_id();
    world.stamps[stamp].wap.addons.insert(
        dr_addon_id(&name),
        AddOn {
            id: dr_addon_id(&name),
            display_name: "Disaster recovery".into(),
            service_quotas: vec![ServiceQuota {
                service_name: "disasterrecovery".into(),
                instance_id: instance.to_string(),
                settings: vec![
                    ("DrEnabled".into(), "true".into()),
                    ("ReplicationFrequencySeconds".into(), "300".into()),
                    ("RecoveryPoints".into(), "4".into()),
                    ("SelfService".into(), "Drill".into()),
                ],
            }],
            associated_plans: plans,
        },
    );
}

/// Adds a user, a subscription (with its user role) and returns the owner.
fn add_tenant(
    world: &mut World,
    stamp: usize,
    user: &str,
    plan: &str,
    at: OffsetDateTime,
) -> Owner {
    let sub_id = world.new_id();
    world.stamps[stamp].wap.users.insert(
        user.to_ascii_lowercase(),
        WapUser {
            name: user.into(),
            email: user.into(),
            state: 1,
            created: at,
        },
    );
    let role_name = format!("{user}_{sub_id}");
    world.stamps[stamp].roles.insert(
        sub_id,
        UserRole {
            id: sub_id,
            name: role_name.clone(),
            profile: "TenantAdmin".into(),
            members: vec![user.into()],
        },
    );
    world.stamps[stamp].wap.subscriptions.insert(
        sub_id,
        Subscription {
            id: sub_id,
            name: format!("{plan} for {user}"),
            owner: user.into(),
            co_admins: Vec::new(),
            state: 1,
            plan_id: plan.into(),
            addons: Vec::new(),
            created: at,
        },
    );
    Owner {
        user_name: user.into(),
        role_name,
        role_id: sub_id,
    }
}

#[allow(clippy::too_many_arguments)]
fn add_vm(
    world: &mut World,
    stamp: usize,
    name: String,
    cloud: Uuid,
    owner: Owner,
    total_size: i64,
    networks: Vec<Uuid>,
    at: OffsetDateTime,
) {
    let id = world.new_id();
    let vm_id = world.new_id();
    let cpu = world.rng.gen_range(1..=8);
    world.stamps[stamp].vms.insert(
        id,
        Vm {
            id,
            name,
            vm_id,
            cloud_id: Some(cloud),
            owner: Some(owner),
            power: Power::Running,
            creating_until: None,
            cpu_count: cpu,
            memory_mb: cpu * 2048,
            total_size,
            tag: String::new(),
            description: String::new(),
            is_recovery_vm: false,
            vm_network_ids: networks,
            added: at,
            modified: at,
        },
    );
}

fn cloud_named(world: &World, stamp: usize, name: &str) -> Uuid {
    world.stamps[stamp]
        .clouds
        .values()
        .find(|c| c.name == name)
        .map(|c| c.id)
        .expect("seeded cloud")
}

fn seed_small_tenants(world: &mut World, at: OffsetDateTime) {
    let stamp_name = world.stamps[0].name.clone();
    let tenants = [
        ("alice@contoso.lab", "Gold"),
        ("bob@fabrikam.lab", "Gold"),
        ("carol@northwind.lab", "Silver"),
    ];
    for (t, (user, cloud)) in tenants.iter().enumerate() {
        let plan = plan_id(&stamp_name, cloud);
        let owner = add_tenant(world, 0, user, &plan, at);
        let sub = owner.role_id;
        let addon_instance = world.new_id();
        if let Some(s) = world.stamps[0].wap.subscriptions.get_mut(&sub) {
            s.addons
                .push((dr_addon_id(&stamp_name), addon_instance, at));
        }
        let network_count = if t == 1 { 2 } else { 1 };
        let mut networks = Vec::new();
        for n in 0..network_count {
            let net = world.new_id();
            let logical = world.new_id();
            let subnet = world.new_id();
            let short = user.split('@').next().unwrap_or(user);
            world.stamps[0].networks.insert(
                net,
                VmNetwork {
                    id: net,
                    name: format!("{short}-net{n}"),
                    description: String::new(),
                    logical_network_id: logical,
                    isolation_type: "WindowsNetworkVirtualization".into(),
                    owner: Some(owner.clone()),
                    modified: at,
                },
            );
            world.stamps[0].subnets.insert(
                subnet,
                VmSubnet {
                    id: subnet,
                    name: "Subnet1".into(),
                    subnet: format!("10.{t}.{n}.0/24"),
                    vm_network_id: net,
                },
            );
            networks.push(net);
        }
        let cloud_id = cloud_named(world, 0, cloud);
        let count = world.rng.gen_range(5..=20);
        for v in 0..count {
            // Varied sizes: 10 GiB to 200 GiB, so initial replication times differ.
            let size = world.rng.gen_range(10..=200i64) << 30;
            let short = user.split('@').next().unwrap_or(user);
            let net = networks[v % networks.len()];
            add_vm(
                world,
                0,
                format!("{short}-vm{v:02}"),
                cloud_id,
                owner.clone(),
                size,
                vec![net],
                at,
            );
        }
    }
}

fn seed_large(world: &mut World, subscriptions: usize, vms: usize, at: OffsetDateTime) {
    let stamp_name = world.stamps[0].name.clone();
    let clouds: Vec<(String, Uuid)> = CLOUDS
        .iter()
        .map(|c| (c.to_string(), cloud_named(world, 0, c)))
        .collect();
    let mut owners = Vec::with_capacity(subscriptions);
    for s in 0..subscriptions {
        let (cloud, _) = &clouds[s % clouds.len()];
        let plan = plan_id(&stamp_name, cloud);
        owners.push((
            add_tenant(world, 0, &format!("tenant{s:05}@large.lab"), &plan, at),
            s % clouds.len(),
        ));
    }
    if owners.is_empty() {
        return;
    }
    for v in 0..vms {
        let (owner, cloud) = &owners[v % owners.len()];
        let size = (10 + (v as i64 % 50)) << 30;
        add_vm(
            world,
            0,
            format!("vm{v:06}"),
            clouds[*cloud].1,
            owner.clone(),
            size,
            Vec::new(),
            at,
        );
    }
}
