//! The provider-setup store contract, run against every backend: stamps, policies, cloud pairs and
//! network mappings, and the constraints that back the pairing rules.
//!
//! Each test is one `async fn(SharedStore)` body, instantiated once for SQLite (a fresh file) and
//! once for PostgreSQL (a fresh database, skipped with a message when `WAPDR_TEST_POSTGRES_URL` is
//! not set).

mod common;

use secrecy::{ExposeSecret, SecretString};
use uuid::Uuid;
use wapdr::domain::{
    CloudPair, InitialReplicationMethod, NetworkMapping, PairSide, PairState, ReplicationPolicy,
    Stamp,
};
use wapdr::store::{Deletion, SharedStore, StoreError};

macro_rules! setup_conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let url = crate::common::sqlite_url(dir.path());
                    super::$name(wapdr::store::open(&url, 4).await.expect("store")).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some(db) = crate::common::fresh_postgres_database().await else {
                        return;
                    };
                    let store = wapdr::store::open(&db.url, 4).await.expect("store");
                    super::$name(store.clone()).await;
                    drop(store);
                    db.drop_database().await;
                }
            )*
        }
    };
}

setup_conformance!(
    a_stamp_reads_back_with_its_secrets_and_updates_in_place,
    stamp_names_are_unique_ignoring_case,
    recording_the_spf_stamp_id_changes_nothing_else,
    a_stamp_in_use_by_a_pair_cannot_be_deleted,
    policies_round_trip_and_names_are_unique_ignoring_case,
    a_primary_plan_belongs_to_one_pair_even_in_another_case,
    a_pair_needs_two_stamps_and_an_existing_policy,
    pair_state_test_network_and_mappings_are_kept_and_go_with_the_pair,
    the_auto_failover_opt_in_is_off_unless_set_and_kept_with_the_stamp,
);

fn stamp(name: &str) -> Stamp {
    Stamp {
        id: Uuid::new_v4(),
        name: name.into(),
        spf_url: format!("https://spf-{name}:8090/SC2012R2/VMM/Microsoft.Management.Odata.svc/"),
        spf_username: "spf-admin".into(),
        spf_password: SecretString::from(format!("spf-pass-{name}")),
        spf_stamp_id: None,
        wap_admin_url: format!("https://adminapi-{name}:30004"),
        wap_admin_token: SecretString::from(format!("token-{name}")),
        tenant_portal_url: format!("https://portal-{name}"),
        auto_failover: false,
    }
}

fn policy(name: &str) -> ReplicationPolicy {
    ReplicationPolicy {
        name: name.into(),
        copy_frequency_seconds: 300,
        recovery_points: 4,
        app_consistent_frequency_hours: 1,
        initial_replication: InitialReplicationMethod::OverNetwork,
        compression: true,
    }
}

fn side(stamp: &Stamp, plan: &str) -> PairSide {
    PairSide {
        stamp_id: stamp.id,
        plan_id: plan.into(),
        plan_name: format!("{plan} plan"),
        cloud_id: Uuid::new_v4(),
    }
}

fn pair(primary: PairSide, recovery: PairSide, policy: &str) -> CloudPair {
    CloudPair {
        id: Uuid::new_v4(),
        primary,
        recovery,
        policy: policy.into(),
        state: PairState::Pending,
        error: None,
        test_network_id: None,
    }
}

/// Two stamps and a policy, stored.
async fn world(store: &SharedStore) -> (Stamp, Stamp) {
    let (a, b) = (stamp("A"), stamp("B"));
    store.insert_stamp(&a).await.unwrap();
    store.insert_stamp(&b).await.unwrap();
    store.insert_policy(&policy("gold-5min")).await.unwrap();
    (a, b)
}

async fn a_stamp_reads_back_with_its_secrets_and_updates_in_place(store: SharedStore) {
    let mut a = stamp("A");
    store.insert_stamp(&a).await.unwrap();
    let read = store.get_stamp(a.id).await.unwrap().expect("stored");
    assert_eq!(read.name, "A");
    assert_eq!(read.spf_url, a.spf_url);
    assert_eq!(read.spf_password.expose_secret(), "spf-pass-A");
    assert_eq!(read.wap_admin_token.expose_secret(), "token-A");
    assert_eq!(read.spf_stamp_id, None);

    let spf_stamp = Uuid::new_v4();
    a.spf_stamp_id = Some(spf_stamp);
    a.spf_password = SecretString::from("rotated");
    a.tenant_portal_url = "https://portal-a.example".into();
    assert!(store.update_stamp(&a).await.unwrap());
    let read = store.get_stamp(a.id).await.unwrap().unwrap();
    assert_eq!(read.spf_stamp_id, Some(spf_stamp));
    assert_eq!(read.spf_password.expose_secret(), "rotated");
    assert_eq!(read.tenant_portal_url, "https://portal-a.example");
    assert!(!store.update_stamp(&stamp("ghost")).await.unwrap());
    assert!(store.get_stamp(Uuid::new_v4()).await.unwrap().is_none());
}

async fn the_auto_failover_opt_in_is_off_unless_set_and_kept_with_the_stamp(store: SharedStore) {
    let mut a = stamp("A");
    store.insert_stamp(&a).await.unwrap();
    assert!(!store.get_stamp(a.id).await.unwrap().unwrap().auto_failover);
    a.auto_failover = true;
    assert!(store.update_stamp(&a).await.unwrap());
    assert!(store.get_stamp(a.id).await.unwrap().unwrap().auto_failover);
    // Recording what verify found leaves the provider's choice alone.
    assert!(store.set_spf_stamp_id(a.id, Uuid::new_v4()).await.unwrap());
    let listed = store.list_stamps().await.unwrap();
    assert!(listed[0].auto_failover);
    let b = Stamp {
        auto_failover: true,
        ..stamp("B")
    };
    store.insert_stamp(&b).await.unwrap();
    assert!(store.get_stamp(b.id).await.unwrap().unwrap().auto_failover);
}

async fn recording_the_spf_stamp_id_changes_nothing_else(store: SharedStore) {
    let a = stamp("A");
    store.insert_stamp(&a).await.unwrap();
    // A verify read the stamp, then a PUT rotated the password, then the verify records its find.
    let rotated = Stamp {
        spf_password: SecretString::from("rotated"),
        ..a.clone()
    };
    assert!(store.update_stamp(&rotated).await.unwrap());
    let found = Uuid::new_v4();
    assert!(store.set_spf_stamp_id(a.id, found).await.unwrap());
    let read = store.get_stamp(a.id).await.unwrap().unwrap();
    assert_eq!(read.spf_stamp_id, Some(found));
    assert_eq!(read.spf_password.expose_secret(), "rotated");
    assert!(!store.set_spf_stamp_id(Uuid::new_v4(), found).await.unwrap());
}

async fn stamp_names_are_unique_ignoring_case(store: SharedStore) {
    store.insert_stamp(&stamp("Amsterdam")).await.unwrap();
    let b = stamp("Berlin");
    store.insert_stamp(&b).await.unwrap();
    assert!(matches!(
        store.insert_stamp(&stamp("AMSTERDAM")).await,
        Err(StoreError::Conflict)
    ));
    let renamed = Stamp {
        name: "amsterdam".into(),
        ..b.clone()
    };
    assert!(matches!(
        store.update_stamp(&renamed).await,
        Err(StoreError::Conflict)
    ));
    let names: Vec<String> = store
        .list_stamps()
        .await
        .unwrap()
        .into_iter()
        .map(|s| s.name)
        .collect();
    assert_eq!(names, ["Amsterdam", "Berlin"]);
}

async fn a_stamp_in_use_by_a_pair_cannot_be_deleted(store: SharedStore) {
    let (a, b) = world(&store).await;
    let c = stamp("C");
    store.insert_stamp(&c).await.unwrap();
    let gold = pair(side(&a, "a-gold"), side(&b, "b-gold"), "gold-5min");
    store.insert_cloud_pair(&gold).await.unwrap();
    assert_eq!(
        store.delete_stamp(b.id).await.unwrap(),
        Deletion::InUse(vec![gold.id])
    );
    assert!(store.get_stamp(b.id).await.unwrap().is_some());
    assert_eq!(store.delete_stamp(c.id).await.unwrap(), Deletion::Deleted);
    assert_eq!(store.delete_stamp(c.id).await.unwrap(), Deletion::NotFound);
    assert!(store.delete_cloud_pair(gold.id).await.unwrap());
    assert_eq!(store.delete_stamp(b.id).await.unwrap(), Deletion::Deleted);
}

async fn policies_round_trip_and_names_are_unique_ignoring_case(store: SharedStore) {
    let mut gold = policy("Gold-5min");
    store.insert_policy(&gold).await.unwrap();
    assert_eq!(
        store.get_policy("gold-5MIN").await.unwrap(),
        Some(gold.clone())
    );
    assert!(matches!(
        store.insert_policy(&policy("GOLD-5MIN")).await,
        Err(StoreError::Conflict)
    ));
    gold.copy_frequency_seconds = 30;
    gold.recovery_points = 24;
    gold.app_consistent_frequency_hours = 0;
    gold.initial_replication = InitialReplicationMethod::Offline;
    gold.compression = false;
    assert!(store.update_policy(&gold).await.unwrap());
    assert_eq!(store.get_policy("gold-5min").await.unwrap(), Some(gold));
    assert!(!store.update_policy(&policy("silver")).await.unwrap());
    // The schema refuses what Hyper-V Replica does not offer, whatever the caller checked.
    let mut bad = policy("bad");
    bad.copy_frequency_seconds = 60;
    assert!(matches!(
        store.insert_policy(&bad).await,
        Err(StoreError::Conflict)
    ));
    store.insert_policy(&policy("bronze")).await.unwrap();
    let names: Vec<String> = store
        .list_policies()
        .await
        .unwrap()
        .into_iter()
        .map(|p| p.name)
        .collect();
    assert_eq!(names, ["bronze", "Gold-5min"]);
    assert_eq!(
        store.delete_policy("BRONZE").await.unwrap(),
        Deletion::Deleted
    );
    assert_eq!(
        store.delete_policy("bronze").await.unwrap(),
        Deletion::NotFound
    );
}

async fn a_primary_plan_belongs_to_one_pair_even_in_another_case(store: SharedStore) {
    let (a, b) = world(&store).await;
    let first = pair(side(&a, "a-gold"), side(&b, "b-gold"), "gold-5min");
    store.insert_cloud_pair(&first).await.unwrap();
    let again = pair(side(&a, "A-GOLD"), side(&b, "b-silver"), "gold-5min");
    assert!(matches!(
        store.insert_cloud_pair(&again).await,
        Err(StoreError::Conflict)
    ));
    // The same plan id on the other stamp is another plan; many-to-one is fine.
    let reverse = pair(side(&b, "a-gold"), side(&a, "a-gold"), "gold-5min");
    store.insert_cloud_pair(&reverse).await.unwrap();
    let silver_into_gold = pair(side(&a, "a-silver"), first.recovery.clone(), "gold-5min");
    store.insert_cloud_pair(&silver_into_gold).await.unwrap();
    assert_eq!(store.list_cloud_pairs().await.unwrap().len(), 3);
    assert_eq!(
        store.delete_policy("gold-5min").await.unwrap(),
        Deletion::InUse({
            let mut ids = vec![first.id, reverse.id, silver_into_gold.id];
            ids.sort_by_key(|id| id.to_string());
            ids
        })
    );
}

async fn a_pair_needs_two_stamps_and_an_existing_policy(store: SharedStore) {
    let (a, b) = world(&store).await;
    let same = pair(side(&a, "a-gold"), side(&a, "a-silver"), "gold-5min");
    assert!(matches!(
        store.insert_cloud_pair(&same).await,
        Err(StoreError::Conflict)
    ));
    let no_policy = pair(side(&a, "a-gold"), side(&b, "b-gold"), "platinum");
    assert!(matches!(
        store.insert_cloud_pair(&no_policy).await,
        Err(StoreError::Conflict)
    ));
    assert!(store.list_cloud_pairs().await.unwrap().is_empty());
}

async fn pair_state_test_network_and_mappings_are_kept_and_go_with_the_pair(store: SharedStore) {
    let (a, b) = world(&store).await;
    let gold = pair(side(&a, "a-gold"), side(&b, "b-gold"), "gold-5min");
    store.insert_cloud_pair(&gold).await.unwrap();
    assert_eq!(
        store.get_cloud_pair(gold.id).await.unwrap(),
        Some(gold.clone())
    );

    assert!(
        store
            .set_pair_state(gold.id, PairState::Failed, Some("ASR said no"))
            .await
            .unwrap()
    );
    assert!(
        store
            .set_pair_state(gold.id, PairState::Paired, None)
            .await
            .unwrap()
    );
    let test_net = Uuid::new_v4();
    assert!(
        store
            .set_test_network(gold.id, Some(test_net))
            .await
            .unwrap()
    );
    let read = store.get_cloud_pair(gold.id).await.unwrap().unwrap();
    assert_eq!(
        (read.state, read.error, read.test_network_id),
        (PairState::Paired, None, Some(test_net))
    );

    let mapping = |_: u8| NetworkMapping {
        primary_network_id: Uuid::new_v4(),
        recovery_network_id: Uuid::new_v4(),
    };
    let mut first = vec![mapping(1), mapping(2)];
    assert!(
        store
            .replace_network_mappings(gold.id, &first)
            .await
            .unwrap()
    );
    first.sort();
    assert_eq!(store.network_mappings(gold.id).await.unwrap(), Some(first));
    let second = vec![mapping(3)];
    assert!(
        store
            .replace_network_mappings(gold.id, &second)
            .await
            .unwrap()
    );
    assert_eq!(store.network_mappings(gold.id).await.unwrap(), Some(second));

    let ghost = Uuid::new_v4();
    assert!(!store.replace_network_mappings(ghost, &[]).await.unwrap());
    assert_eq!(store.network_mappings(ghost).await.unwrap(), None);
    assert!(!store.set_test_network(ghost, None).await.unwrap());
    assert!(
        !store
            .set_pair_state(ghost, PairState::Paired, None)
            .await
            .unwrap()
    );

    assert!(store.delete_cloud_pair(gold.id).await.unwrap());
    assert!(!store.delete_cloud_pair(gold.id).await.unwrap());
    assert_eq!(store.network_mappings(gold.id).await.unwrap(), None);
}
