//! The failover record on both backends: it round-trips, and its version lets exactly one of two
//! writers claim a subscription (the failover API's guard against two operations at once).

mod common;

use time::macros::datetime;
use uuid::Uuid;
use wapdr::domain::{FailoverPhase, FailoverState, RunningFailover, SubscriptionId};
use wapdr::store::{SharedStore, StoreError};

macro_rules! failover_conformance {
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

failover_conformance!(
    a_failover_record_round_trips_with_its_running_job_and_pending_work,
    only_one_of_two_writers_of_the_same_version_wins,
);

async fn a_failover_record_round_trips_with_its_running_job_and_pending_work(store: SharedStore) {
    let id = SubscriptionId::new_random();
    assert_eq!(store.get_failover(id).await.expect("get"), None);
    let mut state = FailoverState::new(id);
    state.phase = FailoverPhase::FailedOver;
    state.running = Some(RunningFailover {
        kind: "unplanned".into(),
        job_id: Uuid::new_v4(),
        requested_by: "admin".into(),
        reason: Some("site A lost".into()),
        started_at: datetime!(2026-03-01 10:00:00.5 UTC),
    });
    state.pending = vec!["Suspend subscription on stamp 'A'.".into()];
    let saved = store.save_failover(&state).await.expect("insert");
    assert_eq!(saved.version, 1);
    assert_eq!(
        saved,
        FailoverState {
            version: 1,
            ..state
        }
    );
    assert_eq!(store.get_failover(id).await.expect("get"), Some(saved));
}

async fn only_one_of_two_writers_of_the_same_version_wins(store: SharedStore) {
    let id = SubscriptionId::new_random();
    let fresh = FailoverState::new(id);
    let first = store.save_failover(&fresh).await.expect("first insert");
    assert!(matches!(
        store.save_failover(&fresh).await,
        Err(StoreError::Conflict)
    ));
    let mut a = first.clone();
    a.phase = FailoverPhase::TestRunning;
    let mut b = first;
    b.phase = FailoverPhase::FailedOver;
    let won = store.save_failover(&a).await.expect("first update");
    assert_eq!(won.version, 2);
    assert!(matches!(
        store.save_failover(&b).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(
        store.get_failover(id).await.expect("get").map(|s| s.phase),
        Some(FailoverPhase::TestRunning),
        "the loser changed nothing"
    );
}
