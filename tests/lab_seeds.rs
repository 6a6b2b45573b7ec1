//! The lab's seeded worlds match their description, and the large one generates quickly.

mod lab_support;

use lab_support::*;
use serde_json::Value;
use wapdr::lab::{LabConfig, WorldKind};

#[tokio::test]
async fn the_small_world_has_two_stamps_two_cloud_pairs_and_three_tenants_with_5_to_20_vms() {
    let lab = start(WorldKind::Small).await;
    let summary = control(&lab, "GET", "/lab/world/summary", None).await;
    let stamps = summary["stamps"].as_array().unwrap();
    assert_eq!(stamps.len(), 2);
    for stamp in stamps {
        assert_eq!(stamp["clouds"], 2);
        assert!(stamp["plans"].as_u64().unwrap() >= 2);
        assert_eq!(stamp["addons"], 1);
    }
    assert_eq!(stamps[0]["subscriptions"], 3);
    assert_eq!(stamps[1]["subscriptions"], 0);
    assert_eq!(stamps[1]["vms"], 0);
    let clouds: Vec<String> = spf_json(&lab, 1, "Clouds").await["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap().to_owned())
        .collect();
    assert!(clouds.contains(&"Gold".into()) && clouds.contains(&"Silver".into()));
    let subs = wap(&lab, 0, "GET", "subscriptions", None)
        .await
        .json::<Value>()
        .await
        .unwrap();
    for sub in subs["items"].as_array().unwrap() {
        let id = sub["SubscriptionID"].as_str().unwrap();
        let role = spf_json(&lab, 0, &format!("UserRoles(ID=guid'{id}')")).await;
        assert_eq!(role["Members"][0], sub["AccountAdminLiveEmailId"]);
        let vms = spf_json(
            &lab,
            0,
            &format!("VirtualMachines?$filter=Owner/RoleID eq guid'{id}'"),
        )
        .await;
        let count = vms["value"].as_array().unwrap().len();
        assert!((5..=20).contains(&count), "{count} VMs");
        let nets = spf_json(
            &lab,
            0,
            &format!("VMNetworks?$filter=Owner/RoleID eq guid'{id}'"),
        )
        .await;
        assert!(!nets["value"].as_array().unwrap().is_empty());
        assert_eq!(sub["AddOnReferences"][0]["AddOnId"], "dr-a");
    }
    let vault = &summary["vault"];
    assert_eq!(vault["container_mappings"], 0, "pairing is wapdr's job");
}

#[tokio::test]
async fn the_same_seed_builds_the_same_world() {
    let a = start(WorldKind::Small).await;
    let b = start(WorldKind::Small).await;
    let ids = |v: Value| {
        v["value"]
            .as_array()
            .unwrap()
            .iter()
            .map(|x| x["ID"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        ids(spf_json(&a, 0, "VirtualMachines").await),
        ids(spf_json(&b, 0, "VirtualMachines").await)
    );
}

#[tokio::test]
async fn the_large_world_generates_100000_vms_and_answers_modified_time_queries() {
    let started = std::time::Instant::now();
    let lab = start_with(LabConfig {
        world: WorldKind::Large,
        ..LabConfig::default()
    })
    .await;
    eprintln!(
        "large world: 100,000 VMs seeded and serving in {:?}",
        started.elapsed()
    );
    let summary = control(&lab, "GET", "/lab/world/summary", None).await;
    assert_eq!(summary["stamps"][0]["vms"], 100_000);
    assert_eq!(summary["stamps"][0]["subscriptions"], 10_000);
    let queried = std::time::Instant::now();
    let changed = spf_json(
        &lab,
        0,
        "VirtualMachines?$filter=ModifiedTime gt datetime'2100-01-01T00:00:00'",
    )
    .await;
    eprintln!("ModifiedTime gt over 100,000 VMs: {:?}", queried.elapsed());
    assert!(changed["value"].as_array().unwrap().is_empty());
}
