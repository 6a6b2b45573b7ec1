//! The store contract, run against every backend.
//!
//! Each test is one `async fn(TestDb)` body; `conformance!` instantiates it once for SQLite (a fresh
//! file) and once for PostgreSQL (a fresh database, skipped with a message when
//! `WAPDR_TEST_POSTGRES_URL` is not set). A behaviour that differs between backends is a bug.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use time::OffsetDateTime;
use time::macros::datetime;
use wapdr::domain::{
    LifecycleState, NewUsageRecord, ProtectedVm, QuotaSetting, QuotaSources, Subscription,
    SubscriptionId, SubscriptionState,
};
use wapdr::store::{self, SharedStore, StoreError, SubscriptionFilter};

/// The store under test, and the URL to reach the same database again.
struct TestDb {
    store: SharedStore,
    url: String,
}

impl TestDb {
    async fn open(url: String) -> Self {
        let store = store::open(&url, 10).await.expect("open the store");
        Self { store, url }
    }

    /// A second store on the same database (a restart, or another RP instance).
    async fn reopen(&self) -> SharedStore {
        store::open(&self.url, 4).await.expect("reopen the store")
    }
}

macro_rules! conformance {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let dir = tempfile::tempdir().expect("a temporary directory");
                    let url = crate::common::sqlite_url(dir.path());
                    super::$name(super::TestDb::open(url).await).await;
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
                    super::$name(super::TestDb::open(db.url.clone()).await).await;
                    db.drop_database().await;
                }
            )*
        }
    };
}

conformance!(
    a_saved_subscription_reads_back_with_every_field,
    an_update_with_a_stale_version_is_a_conflict_and_changes_nothing,
    inserting_an_existing_id_is_a_conflict,
    timestamps_come_from_the_store_and_updated_at_moves,
    lists_filter_by_state_and_lifecycle_and_leave_out_tombstones,
    lists_page_by_id_with_a_keyset_and_default_to_100,
    usage_event_ids_strictly_increase_and_survive_reopening,
    usage_after_pages_in_order_and_batch_zero_is_empty,
    concurrent_appends_get_gap_free_ids_and_a_polling_reader_misses_none,
    the_usage_watermark_only_rises,
    event_ids_after_an_acknowledgement_beyond_the_last_one_stay_visible_to_the_collector,
    append_usage_refuses_an_external_id_already_in_the_log_and_appends_nothing,
    append_usage_once_skips_external_ids_already_in_the_log_without_spending_event_ids,
    racing_appends_of_the_same_records_append_each_once_and_a_polling_reader_misses_none,
    put_setting_if_absent_keeps_the_first_value_even_when_racing,
    ping_answers_and_the_backend_names_itself,
    statistics_are_refreshed_once_a_table_changed_enough_and_not_again_until_it_changes,
    a_snapshot_counts_every_write_of_the_subscription_s_vm_records_through_any_instance,
);

/// The site heartbeat's records (current verdict, probe history), in their own file.
#[path = "store_conformance/site_health.rs"]
mod site_health;

fn subscription(name: &str) -> Subscription {
    Subscription {
        id: SubscriptionId::new_random(),
        name: name.to_owned(),
        state: SubscriptionState::Active,
        lifecycle: LifecycleState::Provisioned,
        last_error: None,
        admin_id: "tenant@fabrikam.com".to_owned(),
        co_admins: Vec::new(),
        quota: QuotaSources::default(),
        created_at: OffsetDateTime::UNIX_EPOCH,
        updated_at: OffsetDateTime::UNIX_EPOCH,
        version: 0,
    }
}

fn gold_quota() -> QuotaSources {
    QuotaSources {
        base: vec![
            QuotaSetting::new("MaxProtectedVms", "10"),
            QuotaSetting::new("SelfService", "Drill"),
        ],
        add_ons: vec![
            vec![QuotaSetting::new("MaxProtectedVms", "5")],
            vec![
                QuotaSetting::new("ReplicationFrequencySeconds", "30"),
                QuotaSetting::new("RecoveryPoints", "12"),
            ],
        ],
    }
}

fn usage(resource: &str) -> NewUsageRecord {
    NewUsageRecord {
        external_record_id: format!("rec-{resource}"),
        subscription_id: SubscriptionId::parse("ec66ec96-8edd-4916-be45-607959155c2a").unwrap(),
        resource_id: resource.to_owned(),
        service_type: "ProtectedVm".to_owned(),
        provider_name: "wapdr".to_owned(),
        start_time: datetime!(2024-05-01 10:00:00.123456 UTC),
        end_time: datetime!(2024-05-01 11:00:00 UTC),
        properties: BTreeMap::from([("VmName".to_owned(), format!("vm-{resource}"))]),
        resources: BTreeMap::from([("ProtectedVmHours".to_owned(), "1".to_owned())]),
    }
}

async fn save_all(store: &SharedStore, subs: Vec<Subscription>) -> Vec<Subscription> {
    let mut saved = Vec::new();
    for sub in subs {
        saved.push(store.save_subscription(&sub).await.expect("save"));
    }
    saved
}

fn ids(subs: &[Subscription]) -> Vec<SubscriptionId> {
    subs.iter().map(|s| s.id).collect()
}

fn sorted(mut ids: Vec<SubscriptionId>) -> Vec<SubscriptionId> {
    ids.sort_by_key(|id| id.to_string());
    ids
}

async fn a_saved_subscription_reads_back_with_every_field(db: TestDb) {
    let mut full = subscription("Gold DR");
    full.state = SubscriptionState::Suspended;
    full.lifecycle = LifecycleState::OutOfSync;
    full.last_error = Some("VMM said no: 'quoted' \"text\" ünïcode".to_owned());
    full.co_admins = vec!["a@fabrikam.com".to_owned(), "b@fabrikam.com".to_owned()];
    full.quota = gold_quota();
    let bare = subscription("Bare");

    for input in [full, bare] {
        let saved = db.store.save_subscription(&input).await.unwrap();
        let read = db.store.get_subscription(input.id).await.unwrap().unwrap();

        assert_eq!(read, saved, "get returns what save returned");
        assert_eq!(saved.version, 1);
        let as_sent = Subscription {
            created_at: saved.created_at,
            updated_at: saved.updated_at,
            version: 1,
            ..input
        };
        assert_eq!(saved, as_sent, "every field the caller set is kept");
    }
    let unknown = SubscriptionId::new_random();
    assert_eq!(db.store.get_subscription(unknown).await.unwrap(), None);
}

async fn an_update_with_a_stale_version_is_a_conflict_and_changes_nothing(db: TestDb) {
    let v1 = db
        .store
        .save_subscription(&subscription("First"))
        .await
        .unwrap();
    let v2 = db
        .store
        .save_subscription(&Subscription {
            name: "Second".to_owned(),
            ..v1.clone()
        })
        .await
        .unwrap();
    assert_eq!(v2.version, 2);

    let stale = Subscription {
        name: "Lost update".to_owned(),
        ..v1
    };
    let err = db.store.save_subscription(&stale).await.unwrap_err();

    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(db.store.get_subscription(v2.id).await.unwrap(), Some(v2));
    let never_stored = Subscription {
        version: 3,
        ..subscription("Ghost")
    };
    let err = db.store.save_subscription(&never_stored).await.unwrap_err();
    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(
        db.store.get_subscription(never_stored.id).await.unwrap(),
        None
    );
}

async fn inserting_an_existing_id_is_a_conflict(db: TestDb) {
    let first = db
        .store
        .save_subscription(&subscription("Mine"))
        .await
        .unwrap();

    let again = Subscription {
        name: "Theirs".to_owned(),
        version: 0,
        ..first.clone()
    };
    let err = db.store.save_subscription(&again).await.unwrap_err();

    assert!(matches!(err, StoreError::Conflict), "{err:?}");
    assert_eq!(
        db.store.get_subscription(first.id).await.unwrap(),
        Some(first)
    );
}

async fn timestamps_come_from_the_store_and_updated_at_moves(db: TestDb) {
    let before = OffsetDateTime::now_utc();
    let inserted = db
        .store
        .save_subscription(&subscription("Clock"))
        .await
        .unwrap();
    let near = |at: OffsetDateTime| (at - before).abs() < time::Duration::minutes(5);
    assert!(
        near(inserted.created_at),
        "created_at {}",
        inserted.created_at
    );
    assert_eq!(inserted.updated_at, inserted.created_at);

    tokio::time::sleep(Duration::from_millis(20)).await;
    let updated = db
        .store
        .save_subscription(&Subscription {
            // The caller's timestamps are ignored.
            created_at: OffsetDateTime::UNIX_EPOCH,
            updated_at: OffsetDateTime::UNIX_EPOCH,
            lifecycle: LifecycleState::Updating,
            ..inserted.clone()
        })
        .await
        .unwrap();

    assert_eq!(updated.created_at, inserted.created_at);
    assert!(
        updated.updated_at > inserted.updated_at,
        "{} after {}",
        updated.updated_at,
        inserted.updated_at
    );
    assert!(near(updated.updated_at));
}

async fn lists_filter_by_state_and_lifecycle_and_leave_out_tombstones(db: TestDb) {
    let with = |name: &str, state, lifecycle| Subscription {
        state,
        lifecycle,
        ..subscription(name)
    };
    use LifecycleState::{Deleted, OutOfSync, Provisioned};
    use SubscriptionState::{Active, Suspended};
    let saved = save_all(
        &db.store,
        vec![
            with("active", Active, Provisioned),
            with("suspended", Suspended, Provisioned),
            with("tombstone", Active, Deleted),
            with("failed", Active, OutOfSync),
        ],
    )
    .await;
    let [active, suspended, tombstone, failed] = [0, 1, 2, 3].map(|i| saved[i].id);
    let list = |filter: SubscriptionFilter| {
        let store = db.store.clone();
        async move { ids(&store.list_subscriptions(&filter).await.unwrap()) }
    };

    assert_eq!(
        list(SubscriptionFilter::default()).await,
        sorted(vec![active, suspended, failed])
    );
    assert_eq!(
        list(SubscriptionFilter {
            include_deleted: true,
            ..Default::default()
        })
        .await,
        sorted(vec![active, suspended, tombstone, failed])
    );
    assert_eq!(
        list(SubscriptionFilter {
            state: Some(Active),
            ..Default::default()
        })
        .await,
        sorted(vec![active, failed])
    );
    assert_eq!(
        list(SubscriptionFilter {
            state: Some(Active),
            lifecycle: Some(OutOfSync),
            ..Default::default()
        })
        .await,
        vec![failed]
    );
    assert_eq!(
        list(SubscriptionFilter {
            lifecycle: Some(Deleted),
            include_deleted: true,
            ..Default::default()
        })
        .await,
        vec![tombstone]
    );
    let listed = db
        .store
        .list_subscriptions(&SubscriptionFilter {
            lifecycle: Some(Provisioned),
            state: Some(Suspended),
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(listed, vec![saved[1].clone()], "listed rows are whole");
}

async fn lists_page_by_id_with_a_keyset_and_default_to_100(db: TestDb) {
    let saved = save_all(
        &db.store,
        (0..7).map(|i| subscription(&format!("sub {i}"))).collect(),
    )
    .await;

    let mut pages = Vec::new();
    let mut after = None;
    loop {
        let page = db
            .store
            .list_subscriptions(&SubscriptionFilter {
                after,
                limit: Some(3),
                ..Default::default()
            })
            .await
            .unwrap();
        let Some(last) = page.last() else { break };
        after = Some(last.id);
        pages.push(ids(&page));
    }

    assert_eq!(pages.iter().map(Vec::len).collect::<Vec<_>>(), [3, 3, 1]);
    assert_eq!(pages.concat(), sorted(ids(&saved)));

    save_all(
        &db.store,
        (0..94)
            .map(|i| subscription(&format!("more {i}")))
            .collect(),
    )
    .await;
    let everything = db
        .store
        .list_subscriptions(&SubscriptionFilter::default())
        .await
        .unwrap();
    assert_eq!(everything.len(), 100, "101 stored, 100 listed by default");
}

async fn usage_event_ids_strictly_increase_and_survive_reopening(db: TestDb) {
    let first = db
        .store
        .append_usage(&[usage("a"), usage("b"), usage("c")])
        .await
        .unwrap();
    let second = db
        .store
        .append_usage(&[usage("d"), usage("e")])
        .await
        .unwrap();
    let nothing = db.store.append_usage(&[]).await.unwrap();

    assert_eq!(first, [1, 2, 3]);
    assert_eq!(second, [4, 5]);
    assert!(nothing.is_empty());

    let restarted = db.reopen().await;
    let third = restarted.append_usage(&[usage("f")]).await.unwrap();
    assert_eq!(third, [6]);
    let all = restarted.usage_after(0, 100).await.unwrap();
    let expected: Vec<_> = ["a", "b", "c", "d", "e", "f"].map(usage).into();
    assert_eq!(
        all.iter().map(|r| r.event_id).collect::<Vec<_>>(),
        [1, 2, 3, 4, 5, 6]
    );
    assert_eq!(
        all.into_iter().map(|r| r.record).collect::<Vec<_>>(),
        expected,
        "records read back whole"
    );
}

async fn usage_after_pages_in_order_and_batch_zero_is_empty(db: TestDb) {
    let records: Vec<_> = (0..10).map(|i| usage(&i.to_string())).collect();
    db.store.append_usage(&records).await.unwrap();
    let page = |last, batch| {
        let store = db.store.clone();
        async move {
            let page = store.usage_after(last, batch).await.unwrap();
            page.into_iter().map(|r| r.event_id).collect::<Vec<_>>()
        }
    };

    assert_eq!(page(0, 4).await, [1, 2, 3, 4]);
    assert_eq!(page(4, 4).await, [5, 6, 7, 8]);
    assert_eq!(page(8, 4).await, [9, 10]);
    assert_eq!(page(10, 4).await, Vec::<i64>::new());
    assert_eq!(page(3, 0).await, Vec::<i64>::new());
    assert_eq!(page(-5, 2).await, [1, 2]);
}

async fn concurrent_appends_get_gap_free_ids_and_a_polling_reader_misses_none(db: TestDb) {
    const WRITERS: usize = 8;
    // 25 records per writer, in batches of varied size: many commits, many chances to misorder.
    const BATCH_SIZES: [usize; 5] = [5, 5, 5, 5, 5];
    const TOTAL: i64 = 200;

    let readers: Vec<_> = (0..2)
        .map(|_| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
                let mut last = 0;
                while last < TOTAL {
                    assert!(
                        tokio::time::Instant::now() < deadline,
                        "reader stuck at {last}"
                    );
                    for record in store.usage_after(last, 3).await.unwrap() {
                        // A gap here is a record a collector paging by lastID would never see.
                        assert_eq!(record.event_id, last + 1, "the reader skipped an EventId");
                        last = record.event_id;
                    }
                }
                last
            })
        })
        .collect();
    let writers: Vec<_> = (0..WRITERS)
        .map(|w| {
            let store = db.store.clone();
            tokio::spawn(async move {
                let mut ids = Vec::new();
                for (b, size) in BATCH_SIZES.into_iter().enumerate() {
                    let batch: Vec<_> = (0..size).map(|r| usage(&format!("{w}-{b}-{r}"))).collect();
                    let got = store.append_usage(&batch).await.unwrap();
                    assert_eq!(got.len(), size);
                    assert!(got.windows(2).all(|p| p[1] == p[0] + 1), "{got:?}");
                    ids.extend(got);
                }
                ids
            })
        })
        .collect();

    let mut all = BTreeSet::new();
    for writer in writers {
        for id in writer.await.unwrap() {
            assert!(all.insert(id), "EventId {id} given twice");
        }
    }
    assert_eq!(all, (1..=TOTAL).collect::<BTreeSet<_>>());
    for reader in readers {
        assert_eq!(reader.await.unwrap(), TOTAL);
    }
}

async fn the_usage_watermark_only_rises(db: TestDb) {
    assert_eq!(db.store.usage_watermark().await.unwrap(), 0);
    db.store.acknowledge_usage(5).await.unwrap();
    assert_eq!(db.store.usage_watermark().await.unwrap(), 5);
    db.store.acknowledge_usage(3).await.unwrap();
    assert_eq!(db.store.usage_watermark().await.unwrap(), 5);
    db.store.acknowledge_usage(9).await.unwrap();
    assert_eq!(db.reopen().await.usage_watermark().await.unwrap(), 9);
}

/// The collector's `lastID` survives a restore of wapdr's database from an older backup, so it
/// can acknowledge an EventId wapdr has not issued (yet); later records must still come after it.
async fn event_ids_after_an_acknowledgement_beyond_the_last_one_stay_visible_to_the_collector(
    db: TestDb,
) {
    let issued = db
        .store
        .append_usage(&[usage("a"), usage("b"), usage("c")])
        .await
        .unwrap();
    assert_eq!(issued, [1, 2, 3]);
    db.store.acknowledge_usage(10).await.unwrap();

    let after_restore = db.store.append_usage(&[usage("d")]).await.unwrap();

    assert_eq!(after_restore, [11]);
    let collected = db.store.usage_after(10, 100).await.unwrap();
    assert_eq!(
        collected.iter().map(|r| r.event_id).collect::<Vec<_>>(),
        [11]
    );
    assert_eq!(collected[0].record, usage("d"));
    assert_eq!(db.store.usage_watermark().await.unwrap(), 10);
}

async fn append_usage_refuses_an_external_id_already_in_the_log_and_appends_nothing(db: TestDb) {
    assert_eq!(db.store.append_usage(&[usage("a")]).await.unwrap(), [1]);

    let again = db.store.append_usage(&[usage("b"), usage("a")]).await;
    let twice_in_one_batch = db.store.append_usage(&[usage("c"), usage("c")]).await;

    assert!(matches!(again, Err(StoreError::Conflict)), "{again:?}");
    assert!(
        matches!(twice_in_one_batch, Err(StoreError::Conflict)),
        "{twice_in_one_batch:?}"
    );
    let log = db.store.usage_after(0, 100).await.unwrap();
    assert_eq!(
        log.iter().map(|r| r.record.clone()).collect::<Vec<_>>(),
        [usage("a")],
        "a refused batch appends none of its records"
    );
    assert_eq!(
        db.store.append_usage(&[usage("b")]).await.unwrap(),
        [2],
        "a refused batch spends no EventId"
    );
}

async fn append_usage_once_skips_external_ids_already_in_the_log_without_spending_event_ids(
    db: TestDb,
) {
    db.store
        .append_usage(&[usage("a"), usage("b")])
        .await
        .unwrap();

    let appended = db
        .store
        .append_usage_once(&[usage("b"), usage("c"), usage("c"), usage("d")])
        .await
        .unwrap();
    let nothing_new = db
        .reopen()
        .await
        .append_usage_once(&[usage("a"), usage("d")])
        .await
        .unwrap();

    assert_eq!(appended, [None, Some(3), None, Some(4)]);
    assert_eq!(nothing_new, [None, None]);
    assert!(db.store.append_usage_once(&[]).await.unwrap().is_empty());
    let log = db.store.usage_after(0, 100).await.unwrap();
    assert_eq!(
        log.iter().map(|r| r.event_id).collect::<Vec<_>>(),
        [1, 2, 3, 4]
    );
    assert_eq!(
        log.into_iter().map(|r| r.record).collect::<Vec<_>>(),
        ["a", "b", "c", "d"].map(usage)
    );
    assert_eq!(
        db.store.append_usage(&[usage("e")]).await.unwrap(),
        [5],
        "skipped records spent no EventId"
    );
}

/// Two instances (and several tasks in each) meter the same period at once, as a crash's re-run,
/// a second instance or a webhook beside the schedule would: each record lands once, EventIds
/// stay gap-free, and a collector polling meanwhile sees every one in order.
async fn racing_appends_of_the_same_records_append_each_once_and_a_polling_reader_misses_none(
    db: TestDb,
) {
    const RECORDS: i64 = 60;
    let records: Vec<_> = (0..RECORDS).map(|i| usage(&format!("r{i}"))).collect();
    let other_instance = db.reopen().await;

    let reader = {
        let store = db.store.clone();
        tokio::spawn(async move {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
            let mut last = 0;
            while last < RECORDS {
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "reader stuck at {last}"
                );
                for record in store.usage_after(last, 7).await.unwrap() {
                    assert_eq!(record.event_id, last + 1, "the reader skipped an EventId");
                    last = record.event_id;
                }
            }
            last
        })
    };
    let writers: Vec<_> = (0..6)
        .map(|w| {
            let store = if w % 2 == 0 {
                db.store.clone()
            } else {
                other_instance.clone()
            };
            // Each writer walks the records in pages of 10, from a different starting page.
            let mut pages: Vec<Vec<NewUsageRecord>> =
                records.chunks(10).map(<[_]>::to_vec).collect();
            let start = w % pages.len();
            pages.rotate_left(start);
            tokio::spawn(async move {
                let mut appended = Vec::new();
                for page in pages {
                    let got = store.append_usage_once(&page).await.unwrap();
                    assert_eq!(got.len(), page.len());
                    appended.extend(got.into_iter().flatten());
                }
                appended
            })
        })
        .collect();

    let mut all = BTreeSet::new();
    for writer in writers {
        for id in writer.await.unwrap() {
            assert!(all.insert(id), "EventId {id} given twice");
        }
    }
    assert_eq!(all, (1..=RECORDS).collect::<BTreeSet<_>>());
    assert_eq!(reader.await.unwrap(), RECORDS);
    let log = db.store.usage_after(0, 1000).await.unwrap();
    let ids: BTreeSet<_> = log
        .iter()
        .map(|r| r.record.external_record_id.clone())
        .collect();
    assert_eq!(ids.len(), log.len(), "an external id appended twice");
    assert_eq!(log.len() as i64, RECORDS);
}

async fn put_setting_if_absent_keeps_the_first_value_even_when_racing(db: TestDb) {
    assert_eq!(db.store.get_setting("admin-password").await.unwrap(), None);
    let first = db
        .store
        .put_setting_if_absent("admin-password", "s3cret")
        .await;
    let second = db
        .store
        .put_setting_if_absent("admin-password", "other")
        .await;
    assert_eq!(first.unwrap(), "s3cret");
    assert_eq!(second.unwrap(), "s3cret");
    assert_eq!(
        db.store
            .get_setting("admin-password")
            .await
            .unwrap()
            .as_deref(),
        Some("s3cret")
    );

    let other_instance = db.reopen().await;
    let racers: Vec<_> = (0..6)
        .map(|i| {
            let store = if i % 2 == 0 {
                db.store.clone()
            } else {
                other_instance.clone()
            };
            tokio::spawn(async move {
                store
                    .put_setting_if_absent("instance-id", &format!("instance-{i}"))
                    .await
                    .unwrap()
            })
        })
        .collect();
    let mut agreed = BTreeSet::new();
    for racer in racers {
        agreed.insert(racer.await.unwrap());
    }
    assert_eq!(agreed.len(), 1, "racing instances disagree: {agreed:?}");
    let stored = db.store.get_setting("instance-id").await.unwrap();
    assert_eq!(stored.as_ref(), agreed.first());
}

async fn ping_answers_and_the_backend_names_itself(db: TestDb) {
    db.store.ping().await.unwrap();
    let expected = if db.url.starts_with("sqlite:") {
        "sqlite"
    } else {
        "postgres"
    };
    assert_eq!(db.store.backend(), expected);
}

/// PostgreSQL plans from statistics: a table that grew from nothing (the engine's queue in a large
/// onboarding) is analysed once it changed by more than autovacuum's threshold, whether or not the
/// server's autovacuum gets to it, and not again until it changes that much again. SQLite has
/// nothing to refresh.
async fn statistics_are_refreshed_once_a_table_changed_enough_and_not_again_until_it_changes(
    db: TestDb,
) {
    let postgres = db.store.backend() == "postgres";
    save_all(
        &db.store,
        (0..120).map(|i| subscription(&format!("s{i}"))).collect(),
    )
    .await;
    // PostgreSQL counts changes per backend and publishes them within seconds, not at once.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let analysed = loop {
        let tables = db.store.refresh_statistics().await.unwrap();
        if !postgres || tables.iter().any(|t| t == "subscriptions") {
            break tables;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "subscriptions were never analysed"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    if !postgres {
        assert_eq!(analysed, Vec::<String>::new());
        return;
    }
    let again = db.store.refresh_statistics().await.unwrap();
    assert!(
        !again.iter().any(|t| t == "subscriptions"),
        "analysed again without changes: {again:?}"
    );
}

async fn a_snapshot_counts_every_write_of_the_subscription_s_vm_records_through_any_instance(
    db: TestDb,
) {
    let [sub, other] = save_all(
        &db.store,
        vec![subscription("Ours"), subscription("Theirs")],
    )
    .await
    .try_into()
    .expect("two subscriptions");
    let changes = |store: SharedStore, id: SubscriptionId| async move {
        let snapshot = store
            .get_subscription_snapshot(id)
            .await
            .unwrap()
            .expect("the subscription");
        assert_eq!(snapshot.subscription.id, id);
        snapshot.vm_changes
    };
    let before = changes(db.store.clone(), sub.id).await;
    let theirs = changes(db.store.clone(), other.id).await;

    // Another instance on the same database writes: an insert, an update, a delete.
    let instance = db.reopen().await;
    let vm = ProtectedVm::pending(
        sub.id,
        uuid::Uuid::new_v4(),
        "web".into(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
        uuid::Uuid::new_v4(),
    );
    let mut seen = vec![changes(db.store.clone(), sub.id).await];
    let saved = instance.save_protected_vm(&vm).await.unwrap();
    seen.push(changes(db.store.clone(), sub.id).await);
    let mut renamed = saved.clone();
    renamed.name = "web-01".into();
    instance.save_protected_vm(&renamed).await.unwrap();
    seen.push(changes(db.store.clone(), sub.id).await);
    // A write that changes nothing (a stale version) counts nothing.
    assert!(matches!(
        instance.save_protected_vm(&saved).await,
        Err(StoreError::Conflict)
    ));
    seen.push(changes(db.store.clone(), sub.id).await);
    assert!(
        instance
            .delete_protected_vm(sub.id, vm.vm_id)
            .await
            .unwrap()
    );
    seen.push(changes(db.store.clone(), sub.id).await);

    assert_eq!(
        seen,
        [before, before + 1, before + 2, before + 2, before + 3]
    );
    assert_eq!(changes(db.store.clone(), other.id).await, theirs);
    // Saving the subscription itself is not a change of its VMs, and keeps the count.
    let mut renamed_sub = db.store.get_subscription(sub.id).await.unwrap().unwrap();
    renamed_sub.name = "Ours, renamed".into();
    db.store.save_subscription(&renamed_sub).await.unwrap();
    assert_eq!(changes(db.store.clone(), sub.id).await, before + 3);
    // The snapshot's clock is the database's, now.
    let read_at = db
        .store
        .get_subscription_snapshot(sub.id)
        .await
        .unwrap()
        .unwrap()
        .read_at;
    assert!((OffsetDateTime::now_utc() - read_at).abs() < time::Duration::seconds(5));
    assert!(
        db.store
            .get_subscription_snapshot(SubscriptionId::new_random())
            .await
            .unwrap()
            .is_none()
    );
}

#[tokio::test]
async fn an_unsupported_url_is_refused() {
    for url in ["mysql://localhost/wapdr", "wapdr.db", ""] {
        let err = store::open(url, 1).await.err().expect(url);
        assert!(
            matches!(&err, StoreError::UnsupportedUrl(u) if u == url),
            "{err:?}"
        );
    }
}

#[tokio::test]
async fn an_in_memory_sqlite_store_is_one_database_for_every_caller() {
    let store = store::open("sqlite::memory:", 8).await.unwrap();
    let saved = store.save_subscription(&subscription("ram")).await.unwrap();
    let writers: Vec<_> = (0..4)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.append_usage(&[usage(&i.to_string())]).await })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap().unwrap();
    }

    assert_eq!(store.get_subscription(saved.id).await.unwrap(), Some(saved));
    assert_eq!(store.usage_after(0, 10).await.unwrap().len(), 4);
    let another = store::open("sqlite::memory:", 1).await.unwrap();
    assert!(
        another.usage_after(0, 10).await.unwrap().is_empty(),
        "each memory store is its own"
    );
}

#[test]
fn test_databases_replace_only_the_database_in_the_url() {
    use common::with_database;
    assert_eq!(
        with_database("postgres://postgres@127.0.0.1:5432/test", "x"),
        "postgres://postgres@127.0.0.1:5432/x"
    );
    assert_eq!(
        with_database("postgres://u:p@h/test?sslmode=disable", "x"),
        "postgres://u:p@h/x?sslmode=disable"
    );
    assert_eq!(
        with_database("postgres://h:5432", "x"),
        "postgres://h:5432/x"
    );
}
