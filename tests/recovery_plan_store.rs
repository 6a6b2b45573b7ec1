//! The recovery-plan store contract, run against every backend: a plan reads back whole (groups,
//! VMs, delays and every kind of action), names and the default plan are unique per subscription,
//! updates are checked against the version, and a plan of 10,000 VMs is stored like any other.
//!
//! SQLite runs on a fresh file; PostgreSQL on a fresh database (skipped with a message when
//! `WAPDR_TEST_POSTGRES_URL` is not set).

mod common;

use time::OffsetDateTime;
use uuid::Uuid;
use wapdr::domain::{
    Action, Group, RecoveryPlan, SubscriptionId, SuccessRule, Webhook, default_plan,
};
use wapdr::store::{SharedStore, StoreError};

macro_rules! plan_store_conformance {
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

plan_store_conformance!(
    a_plan_reads_back_whole_with_every_kind_of_action,
    names_and_the_default_plan_are_unique_per_subscription,
    an_update_needs_the_current_version_and_a_free_name,
    plans_list_default_first_then_by_name_and_delete_one_at_a_time,
    a_plan_of_ten_thousand_vms_is_stored_and_read_back,
);

fn plan(subscription: SubscriptionId, name: &str, groups: Vec<Group>) -> RecoveryPlan {
    RecoveryPlan {
        id: Uuid::new_v4(),
        subscription_id: subscription,
        name: name.into(),
        description: Some(format!("{name} plan")),
        groups,
        is_default: false,
        version: 0,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

fn group(name: &str, vms: Vec<Uuid>) -> Group {
    Group {
        name: name.into(),
        vms,
        delay_seconds: 0,
        pre_actions: Vec::new(),
        post_actions: Vec::new(),
    }
}

async fn a_plan_reads_back_whole_with_every_kind_of_action(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    let mut db = group("Databases", vec![Uuid::new_v4(), Uuid::new_v4()]);
    db.delay_seconds = 90;
    db.pre_actions = vec![Action::Script(Webhook {
        url: "https://hooks.example.com/quiesce?db=1".into(),
        timeout_seconds: 120,
        success: SuccessRule {
            status_codes: vec![200, 202],
            body_contains: Some("\"quiesced\":true".into()),
        },
    })];
    db.post_actions = vec![
        Action::Runbook {
            name: "replication-health".into(),
        },
        Action::Manual {
            prompt: "Check the databases answer — then acknowledge.".into(),
        },
    ];
    let new = plan(
        subscription,
        "Tiered",
        vec![db, group("Web", vec![Uuid::new_v4()])],
    );
    let before = store.database_now().await.unwrap();
    let stored = store.create_recovery_plan(&new).await.unwrap();
    assert_eq!(stored.version, 1);
    assert!(stored.updated_at >= before - time::Duration::seconds(1));
    assert_eq!(
        stored,
        RecoveryPlan {
            version: 1,
            updated_at: stored.updated_at,
            ..new.clone()
        }
    );
    assert_eq!(
        store.get_recovery_plan(subscription, new.id).await.unwrap(),
        Some(stored)
    );
    // Another subscription cannot reach it by id.
    assert_eq!(
        store
            .get_recovery_plan(SubscriptionId::new_random(), new.id)
            .await
            .unwrap(),
        None
    );
}

async fn names_and_the_default_plan_are_unique_per_subscription(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    store
        .create_recovery_plan(&plan(subscription, "Tiered", vec![]))
        .await
        .unwrap();
    assert!(matches!(
        store
            .create_recovery_plan(&plan(subscription, "Tiered", vec![]))
            .await,
        Err(StoreError::Conflict)
    ));
    // The same name in another subscription is fine.
    store
        .create_recovery_plan(&plan(SubscriptionId::new_random(), "Tiered", vec![]))
        .await
        .unwrap();

    assert_eq!(
        store.get_default_recovery_plan(subscription).await.unwrap(),
        None
    );
    let default = store
        .create_recovery_plan(&default_plan(subscription, &[]))
        .await
        .unwrap();
    let mut second = default_plan(subscription, &[]);
    second.name = "Another default".into();
    assert!(matches!(
        store.create_recovery_plan(&second).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.get_default_recovery_plan(subscription).await.unwrap(),
        Some(default)
    );
    assert_eq!(
        store.list_recovery_plans(subscription).await.unwrap().len(),
        2
    );
}

async fn an_update_needs_the_current_version_and_a_free_name(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    let taken = store
        .create_recovery_plan(&plan(subscription, "Taken", vec![]))
        .await
        .unwrap();
    let stored = store
        .create_recovery_plan(&plan(subscription, "Mine", vec![]))
        .await
        .unwrap();
    let vm = Uuid::new_v4();
    let changed = RecoveryPlan {
        name: "Mine, renamed".into(),
        description: None,
        groups: vec![group("Only", vec![vm])],
        ..stored.clone()
    };
    let updated = store.update_recovery_plan(&changed).await.unwrap();
    assert_eq!(updated.version, 2);
    assert_eq!(updated.groups[0].vms, vec![vm]);
    assert_eq!(updated.description, None);

    // The stale version changes nothing.
    let stale = RecoveryPlan {
        name: "Lost".into(),
        ..stored.clone()
    };
    assert!(matches!(
        store.update_recovery_plan(&stale).await,
        Err(StoreError::Conflict)
    ));
    // Nor does taking another plan's name.
    let clash = RecoveryPlan {
        name: taken.name.clone(),
        ..updated.clone()
    };
    assert!(matches!(
        store.update_recovery_plan(&clash).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store
            .get_recovery_plan(subscription, stored.id)
            .await
            .unwrap(),
        Some(updated)
    );
}

async fn plans_list_default_first_then_by_name_and_delete_one_at_a_time(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    for name in ["Zulu", "Alpha"] {
        store
            .create_recovery_plan(&plan(subscription, name, vec![]))
            .await
            .unwrap();
    }
    let default = store
        .create_recovery_plan(&default_plan(subscription, &[]))
        .await
        .unwrap();
    store
        .create_recovery_plan(&plan(SubscriptionId::new_random(), "Other", vec![]))
        .await
        .unwrap();
    let names = |plans: Vec<RecoveryPlan>| plans.into_iter().map(|p| p.name).collect::<Vec<_>>();
    let listed = store.list_recovery_plans(subscription).await.unwrap();
    assert_eq!(names(listed.clone()), ["Default", "Alpha", "Zulu"]);

    let alpha = listed[1].id;
    assert!(
        store
            .delete_recovery_plan(subscription, alpha)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_recovery_plan(subscription, alpha)
            .await
            .unwrap()
    );
    assert!(
        !store
            .delete_recovery_plan(SubscriptionId::new_random(), default.id)
            .await
            .unwrap()
    );
    assert_eq!(
        names(store.list_recovery_plans(subscription).await.unwrap()),
        ["Default", "Zulu"]
    );
}

async fn a_plan_of_ten_thousand_vms_is_stored_and_read_back(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    let vms: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
    let groups = vms
        .chunks(2_500)
        .enumerate()
        .map(|(i, chunk)| group(&format!("Wave {i}"), chunk.to_vec()))
        .collect();
    let stored = store
        .create_recovery_plan(&plan(subscription, "Everything", groups))
        .await
        .unwrap();
    let read = store
        .get_recovery_plan(subscription, stored.id)
        .await
        .unwrap()
        .unwrap();
    let all: Vec<Uuid> = read.groups.iter().flat_map(|g| g.vms.clone()).collect();
    assert_eq!(all, vms);
}
