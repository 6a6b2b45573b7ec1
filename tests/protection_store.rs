//! The protection store contract, run against every backend: DR subscription records, protected
//! VM records (optimistic versions, lookups, filters, keyset paging, counts) and runbook cursors.
//!
//! Each test is one `async fn(SharedStore)` body, instantiated once for SQLite (a fresh file) and
//! once for PostgreSQL (a fresh database, skipped with a message when `WAPDR_TEST_POSTGRES_URL` is
//! not set).

mod common;

use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;
use wapdr::domain::{
    DrPhase, DrSubscription, Exclusion, MirrorState, ProtectedVm, SubscriptionId, VmHealth,
    VmProtectionState,
};
use wapdr::store::{DrFilter, SharedStore, StoreError, VmFilter};

macro_rules! protection_conformance {
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

protection_conformance!(
    a_dr_record_reads_back_every_field_and_a_put_replaces_it_whole,
    dr_records_filter_by_phase_pair_either_stamp_and_active_stamp_and_page_by_id,
    a_vm_record_reads_back_every_field_set_and_unset,
    inserting_an_existing_vm_or_saving_a_stale_version_is_a_conflict_that_changes_nothing,
    a_vm_is_found_by_its_id_alone,
    a_subscriptions_vms_list_by_name_then_id_and_count_by_state,
    vm_queries_filter_by_states_health_stamp_and_subscription_and_page_by_key,
    deleting_a_vm_removes_that_record_only,
    a_cursor_is_absent_until_set_and_the_last_value_set_wins,
);

/// Asserts `at` came from the database clock just now, not from the caller.
fn assert_recent(at: OffsetDateTime, before: OffsetDateTime) {
    let slack = time::Duration::seconds(5);
    assert!(
        at >= before - slack && at <= OffsetDateTime::now_utc() + slack,
        "{at} is not the database clock's now (the call started at {before})"
    );
}

/// The subscription ids, sorted as the store orders them (lower-case text).
fn sorted_ids(count: usize) -> Vec<SubscriptionId> {
    let mut ids: Vec<SubscriptionId> = (0..count).map(|_| SubscriptionId::new_random()).collect();
    ids.sort_by_key(|id| id.to_string());
    ids
}

fn full_dr(id: SubscriptionId) -> DrSubscription {
    DrSubscription {
        subscription_id: id,
        phase: DrPhase::Enabled,
        pair_id: Some(Uuid::new_v4()),
        primary_stamp_id: Some(Uuid::new_v4()),
        recovery_stamp_id: Some(Uuid::new_v4()),
        active_stamp_id: Some(Uuid::new_v4()),
        primary_plan_id: Some("goldplan".into()),
        owner: Some("tenant@fabrikam.com".into()),
        mirror: MirrorState::Suspended,
        networks: vec![
            (Uuid::new_v4(), Uuid::new_v4()),
            (Uuid::new_v4(), Uuid::new_v4()),
        ],
        message: Some("3 VMs protected".into()),
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

async fn a_dr_record_reads_back_every_field_and_a_put_replaces_it_whole(store: SharedStore) {
    let id = SubscriptionId::new_random();
    assert_eq!(store.get_dr_subscription(id).await.unwrap(), None);

    let before = OffsetDateTime::now_utc();
    let bare = store
        .put_dr_subscription(&DrSubscription::enabling(id))
        .await
        .unwrap();
    assert_recent(bare.updated_at, before);
    assert_eq!(
        bare,
        DrSubscription {
            updated_at: bare.updated_at,
            ..DrSubscription::enabling(id)
        }
    );
    assert_eq!(
        store.get_dr_subscription(id).await.unwrap(),
        Some(bare.clone())
    );

    let full = full_dr(id);
    let stored = store.put_dr_subscription(&full).await.unwrap();
    assert!(stored.updated_at >= bare.updated_at);
    assert_eq!(
        stored,
        DrSubscription {
            updated_at: stored.updated_at,
            ..full
        }
    );
    assert_eq!(store.get_dr_subscription(id).await.unwrap(), Some(stored));

    // A put is the whole record: fields the new record leaves unset are unset afterwards.
    let failed = DrSubscription {
        phase: DrPhase::Failed,
        message: Some("no cloud pair for plan goldplan".into()),
        ..DrSubscription::enabling(id)
    };
    let replaced = store.put_dr_subscription(&failed).await.unwrap();
    assert_eq!(
        replaced,
        DrSubscription {
            updated_at: replaced.updated_at,
            ..failed
        }
    );
    assert!(replaced.networks.is_empty() && replaced.pair_id.is_none());
}

async fn dr_records_filter_by_phase_pair_either_stamp_and_active_stamp_and_page_by_id(
    store: SharedStore,
) {
    let ids = sorted_ids(5);
    let (pair_a, pair_b) = (Uuid::new_v4(), Uuid::new_v4());
    let (east, west, north) = (Uuid::new_v4(), Uuid::new_v4(), Uuid::new_v4());
    // (phase, pair, primary, recovery, active) per subscription, in id order.
    let shapes = [
        (DrPhase::Enabled, pair_a, east, west, east),
        (DrPhase::Enabled, pair_a, east, west, west),
        (DrPhase::Failed, pair_b, west, north, west),
        (DrPhase::Disabled, pair_b, west, north, west),
        (DrPhase::Enabled, pair_b, west, north, north),
    ];
    for (id, (phase, pair, primary, recovery, active)) in ids.iter().zip(shapes) {
        let dr = DrSubscription {
            phase,
            pair_id: Some(pair),
            primary_stamp_id: Some(primary),
            recovery_stamp_id: Some(recovery),
            active_stamp_id: Some(active),
            ..DrSubscription::enabling(*id)
        };
        store.put_dr_subscription(&dr).await.unwrap();
    }
    let listed = |filter: DrFilter| {
        let store = store.clone();
        async move {
            store
                .list_dr_subscriptions(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|dr| dr.subscription_id)
                .collect::<Vec<_>>()
        }
    };
    let pick = |positions: &[usize]| positions.iter().map(|&i| ids[i]).collect::<Vec<_>>();

    assert_eq!(listed(DrFilter::default()).await, ids);
    let enabled = DrFilter {
        phase: Some(DrPhase::Enabled),
        ..Default::default()
    };
    assert_eq!(listed(enabled).await, pick(&[0, 1, 4]));
    let of_pair_b = DrFilter {
        pair_id: Some(pair_b),
        ..Default::default()
    };
    assert_eq!(listed(of_pair_b).await, pick(&[2, 3, 4]));
    // West is the recovery stamp of the first two and the primary of the rest.
    let on_west = DrFilter {
        stamp_id: Some(west),
        ..Default::default()
    };
    assert_eq!(listed(on_west).await, ids);
    let on_east = DrFilter {
        stamp_id: Some(east),
        ..Default::default()
    };
    assert_eq!(listed(on_east).await, pick(&[0, 1]));
    let active_on_west = DrFilter {
        active_stamp_id: Some(west),
        ..Default::default()
    };
    assert_eq!(listed(active_on_west).await, pick(&[1, 2, 3]));
    let enabled_on_north_pair_b = DrFilter {
        phase: Some(DrPhase::Enabled),
        pair_id: Some(pair_b),
        active_stamp_id: Some(north),
        ..Default::default()
    };
    assert_eq!(listed(enabled_on_north_pair_b).await, pick(&[4]));

    let first_page = DrFilter {
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(listed(first_page).await, pick(&[0, 1]));
    let next_page = DrFilter {
        after: Some(ids[1]),
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(listed(next_page).await, pick(&[2, 3]));
    let last_page = DrFilter {
        after: Some(ids[3]),
        limit: Some(2),
        ..Default::default()
    };
    assert_eq!(listed(last_page).await, pick(&[4]));
}

fn vm(subscription: SubscriptionId, name: &str) -> ProtectedVm {
    ProtectedVm::pending(
        subscription,
        Uuid::new_v4(),
        name.into(),
        Uuid::new_v4(),
        Uuid::new_v4(),
        Uuid::new_v4(),
    )
}

/// Saves a VM record that must save.
async fn save(store: &SharedStore, record: &ProtectedVm) -> ProtectedVm {
    store
        .save_protected_vm(record)
        .await
        .expect("the record saves")
}

async fn a_vm_record_reads_back_every_field_set_and_unset(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    let pending = vm(subscription, "web-01");
    let before = OffsetDateTime::now_utc();
    let saved = save(&store, &pending).await;
    assert_eq!(saved.version, 1);
    assert_recent(saved.updated_at, before);
    assert_eq!(
        saved,
        ProtectedVm {
            updated_at: saved.updated_at,
            version: 1,
            ..pending.clone()
        }
    );
    assert_eq!(
        store
            .get_protected_vm(subscription, pending.vm_id)
            .await
            .unwrap(),
        Some(saved.clone())
    );

    // Caller times keep their instant to the microsecond, whatever offset they came in.
    let full = ProtectedVm {
        name: "web-01-renamed".into(),
        replica_vm_id: Some(Uuid::new_v4()),
        replica_owned: true,
        state: VmProtectionState::Excluded,
        exclusion: Some(Exclusion::Tenant),
        reason: Some("excluded by the tenant".into()),
        health: Some(VmHealth::Warning),
        health_detail: Some("replication paused".into()),
        last_replicated: Some(datetime!(2025-01-02 03:04:05.123456789 +02:00)),
        last_recovery_point: Some(datetime!(2025-01-02 01:00:00 UTC)),
        initial_replication_percent: Some(73),
        vm_created_at: Some(datetime!(2024-12-31 23:59:59.5 UTC)),
        protection_requested_at: Some(datetime!(2025-01-01 00:00:01 UTC)),
        protected_at: Some(datetime!(2025-01-01 06:30:00.000001 UTC)),
        ..saved.clone()
    };
    let updated = save(&store, &full).await;
    assert_eq!(updated.version, 2);
    assert!(updated.updated_at >= saved.updated_at);
    let expected = ProtectedVm {
        last_replicated: Some(datetime!(2025-01-02 01:04:05.123456 UTC)),
        updated_at: updated.updated_at,
        version: 2,
        ..full.clone()
    };
    assert_eq!(updated, expected);
    assert_eq!(
        store
            .get_protected_vm(subscription, pending.vm_id)
            .await
            .unwrap(),
        Some(expected)
    );

    // Every optional field can be cleared again.
    let cleared = ProtectedVm {
        updated_at: updated.updated_at,
        version: 2,
        ..pending.clone()
    };
    let stored = save(&store, &cleared).await;
    assert_eq!(
        stored,
        ProtectedVm {
            updated_at: stored.updated_at,
            version: 3,
            ..pending
        }
    );
}

async fn inserting_an_existing_vm_or_saving_a_stale_version_is_a_conflict_that_changes_nothing(
    store: SharedStore,
) {
    let subscription = SubscriptionId::new_random();
    let first = save(&store, &vm(subscription, "db-01")).await;

    let again = ProtectedVm {
        name: "someone else's insert".into(),
        version: 0,
        ..first.clone()
    };
    assert!(matches!(
        store.save_protected_vm(&again).await,
        Err(StoreError::Conflict)
    ));

    let protected = save(
        &store,
        &ProtectedVm {
            state: VmProtectionState::Protected,
            ..first.clone()
        },
    )
    .await;
    // `first` is now one version behind.
    let stale = ProtectedVm {
        state: VmProtectionState::Failed,
        ..first.clone()
    };
    assert!(matches!(
        store.save_protected_vm(&stale).await,
        Err(StoreError::Conflict)
    ));
    // An update of a record that is not there is a conflict too, and creates nothing.
    let ghost = ProtectedVm {
        version: 4,
        ..vm(subscription, "ghost")
    };
    assert!(matches!(
        store.save_protected_vm(&ghost).await,
        Err(StoreError::Conflict)
    ));

    assert_eq!(
        store.list_protected_vms(subscription).await.unwrap(),
        vec![protected]
    );
}

async fn a_vm_is_found_by_its_id_alone(store: SharedStore) {
    let (mine, theirs) = (SubscriptionId::new_random(), SubscriptionId::new_random());
    let web = save(&store, &vm(mine, "web")).await;
    let db = save(&store, &vm(theirs, "db")).await;

    assert_eq!(store.find_protected_vm(web.vm_id).await.unwrap(), Some(web));
    assert_eq!(store.find_protected_vm(db.vm_id).await.unwrap(), Some(db));
    assert_eq!(store.find_protected_vm(Uuid::new_v4()).await.unwrap(), None);
}

async fn a_subscriptions_vms_list_by_name_then_id_and_count_by_state(store: SharedStore) {
    let (mine, theirs) = (SubscriptionId::new_random(), SubscriptionId::new_random());
    let mut twins = [vm(mine, "db"), vm(mine, "db")];
    twins.sort_by_key(|v| v.vm_id.to_string());
    let [db_low, db_high] = twins;
    let web = ProtectedVm {
        state: VmProtectionState::Protected,
        ..vm(mine, "web")
    };
    let app = ProtectedVm {
        state: VmProtectionState::Protected,
        ..vm(mine, "app")
    };
    // Saved out of order, so the listing's order is the store's doing.
    for record in [&web, &db_high, &app, &db_low, &vm(theirs, "other")] {
        store.save_protected_vm(record).await.unwrap();
    }

    let names: Vec<(String, Uuid)> = store
        .list_protected_vms(mine)
        .await
        .unwrap()
        .into_iter()
        .map(|v| (v.name, v.vm_id))
        .collect();
    assert_eq!(
        names,
        vec![
            ("app".to_owned(), app.vm_id),
            ("db".to_owned(), db_low.vm_id),
            ("db".to_owned(), db_high.vm_id),
            ("web".to_owned(), web.vm_id),
        ]
    );

    let counts = store.count_protected_vms(mine).await.unwrap();
    assert_eq!(
        counts.into_iter().collect::<Vec<_>>(),
        vec![("Pending", 2), ("Protected", 2)]
    );
    let nobody = SubscriptionId::new_random();
    assert!(store.count_protected_vms(nobody).await.unwrap().is_empty());
    assert!(store.list_protected_vms(nobody).await.unwrap().is_empty());
}

async fn vm_queries_filter_by_states_health_stamp_and_subscription_and_page_by_key(
    store: SharedStore,
) {
    let subs = sorted_ids(2);
    let stamp = Uuid::new_v4();
    let mut all = Vec::new();
    // Three VMs in each subscription: protected and healthy, protected and critical, failed.
    for subscription in &subs {
        let shapes = [
            (VmProtectionState::Protected, Some(VmHealth::Normal)),
            (VmProtectionState::Protected, Some(VmHealth::Critical)),
            (VmProtectionState::Failed, None),
        ];
        for (state, health) in shapes {
            let record = ProtectedVm {
                state,
                health,
                stamp_id: stamp,
                ..vm(*subscription, "vm")
            };
            all.push(save(&store, &record).await);
        }
    }
    let elsewhere = ProtectedVm {
        state: VmProtectionState::Failed,
        ..vm(subs[0], "on another stamp")
    };
    all.push(save(&store, &elsewhere).await);
    all.sort_by_key(|v| (v.subscription_id.to_string(), v.vm_id.to_string()));

    let queried = |filter: VmFilter| {
        let store = store.clone();
        async move {
            store
                .query_protected_vms(&filter)
                .await
                .unwrap()
                .into_iter()
                .map(|v| (v.subscription_id, v.vm_id))
                .collect::<Vec<_>>()
        }
    };
    let keys = |keep: &dyn Fn(&ProtectedVm) -> bool| {
        all.iter()
            .filter(|v| keep(v))
            .map(|v| (v.subscription_id, v.vm_id))
            .collect::<Vec<_>>()
    };

    assert_eq!(queried(VmFilter::default()).await, keys(&|_| true));
    let failed = VmFilter {
        states: vec![VmProtectionState::Failed],
        ..Default::default()
    };
    assert_eq!(
        queried(failed).await,
        keys(&|v| v.state == VmProtectionState::Failed)
    );
    let failed_or_protected = VmFilter {
        states: vec![VmProtectionState::Failed, VmProtectionState::Protected],
        ..Default::default()
    };
    assert_eq!(queried(failed_or_protected).await, keys(&|_| true));
    let critical = VmFilter {
        health: Some(VmHealth::Critical),
        ..Default::default()
    };
    assert_eq!(
        queried(critical).await,
        keys(&|v| v.health == Some(VmHealth::Critical))
    );
    let failed_on_stamp_in_first = VmFilter {
        subscription_id: Some(subs[0]),
        states: vec![VmProtectionState::Failed],
        stamp_id: Some(stamp),
        ..Default::default()
    };
    let wanted = keys(&|v| {
        v.subscription_id == subs[0] && v.state == VmProtectionState::Failed && v.stamp_id == stamp
    });
    assert_eq!(wanted.len(), 1);
    assert_eq!(queried(failed_on_stamp_in_first).await, wanted);

    // Pages of three cross from the first subscription into the second.
    let everything = keys(&|_| true);
    let mut paged = Vec::new();
    let mut after = None;
    loop {
        let page = queried(VmFilter {
            after,
            limit: Some(3),
            ..Default::default()
        })
        .await;
        assert!(page.len() <= 3);
        let Some(last) = page.last().copied() else {
            break;
        };
        paged.extend(page);
        after = Some(last);
    }
    assert_eq!(paged, everything);
    // Paging combines with the state filter (its placeholders follow the paging ones).
    let protected_after_first = VmFilter {
        states: vec![VmProtectionState::Protected],
        after: Some(everything[0]),
        limit: Some(2),
        ..Default::default()
    };
    let expected: Vec<_> = all[1..]
        .iter()
        .filter(|v| v.state == VmProtectionState::Protected)
        .map(|v| (v.subscription_id, v.vm_id))
        .take(2)
        .collect();
    assert_eq!(queried(protected_after_first).await, expected);
}

async fn deleting_a_vm_removes_that_record_only(store: SharedStore) {
    let subscription = SubscriptionId::new_random();
    let gone = save(&store, &vm(subscription, "gone")).await;
    let kept = save(&store, &vm(subscription, "kept")).await;

    // The key is the pair: the VM's id under another subscription deletes nothing.
    let outcomes = [
        store.delete_protected_vm(subscription, gone.vm_id).await,
        store.delete_protected_vm(subscription, gone.vm_id).await,
        store
            .delete_protected_vm(SubscriptionId::new_random(), kept.vm_id)
            .await,
    ];
    let outcomes: Vec<bool> = outcomes.into_iter().map(Result::unwrap).collect();
    assert_eq!(outcomes, [true, false, false]);

    assert_eq!(store.find_protected_vm(gone.vm_id).await.unwrap(), None);
    assert_eq!(
        store.list_protected_vms(subscription).await.unwrap(),
        vec![kept]
    );
    // A deleted VM that comes back is inserted afresh.
    let back = save(&store, &ProtectedVm { version: 0, ..gone }).await;
    assert_eq!(back.version, 1);
}

async fn a_cursor_is_absent_until_set_and_the_last_value_set_wins(store: SharedStore) {
    assert_eq!(store.get_cursor("vm-events").await.unwrap(), None);
    store
        .set_cursor("vm-events", "2025-01-01T00:00:00Z")
        .await
        .unwrap();
    store.set_cursor("health", "42").await.unwrap();
    store
        .set_cursor("vm-events", "2025-01-02T00:00:00Z")
        .await
        .unwrap();

    assert_eq!(
        store.get_cursor("vm-events").await.unwrap().as_deref(),
        Some("2025-01-02T00:00:00Z")
    );
    assert_eq!(
        store.get_cursor("health").await.unwrap().as_deref(),
        Some("42")
    );
    assert_eq!(store.get_cursor("VM-EVENTS").await.unwrap(), None);
}
