//! The site-health part of the store contract: a stamp's current verdict and its probe history,
//! recorded by compare-and-set so racing heartbeats lose nothing and record a change once.

use secrecy::SecretString;
use time::OffsetDateTime;
use time::macros::datetime;
use uuid::Uuid;
use wapdr::domain::{
    ServiceProbe, SiteHealth, SiteProbe, SiteProbeRecord, SiteVerdict, Stamp, judge,
};
use wapdr::store::{SharedStore, StoreError};

use super::TestDb;

conformance!(
    a_stamp_never_probed_has_no_health_and_a_recorded_probe_reads_back_with_its_history,
    a_probe_judged_on_a_stale_version_is_a_conflict_and_records_nothing,
    racing_heartbeats_record_exactly_one_change,
    history_is_newest_first_within_the_limit_and_since_and_keeps_thirty_days,
    an_alert_is_cleared_only_for_the_verdict_it_was_owed_and_only_once,
    a_deleted_stamp_takes_its_health_and_history_along,
);

/// A stamp named `name`, stored.
async fn stored_stamp(store: &SharedStore, name: &str) -> Stamp {
    let stamp = Stamp {
        id: Uuid::new_v4(),
        name: name.into(),
        spf_url: format!("https://spf-{name}/"),
        spf_username: "spf".into(),
        spf_password: SecretString::from("pw"),
        spf_stamp_id: None,
        wap_admin_url: format!("https://wap-{name}/"),
        wap_admin_token: SecretString::from("token"),
        tenant_portal_url: format!("https://portal-{name}"),
        auto_failover: false,
    };
    store.insert_stamp(&stamp).await.unwrap();
    stamp
}

fn answering() -> SiteProbe {
    SiteProbe {
        spf: ServiceProbe::answered(11, "VMM stamp found"),
        wap_admin: ServiceProbe::answered(22, "3 plans"),
        replication: ServiceProbe::answered(33, "site 'A' known"),
    }
}

fn cut_off() -> SiteProbe {
    SiteProbe {
        spf: ServiceProbe::unreachable(1, "connection refused"),
        wap_admin: ServiceProbe::unreachable(2, "connection refused"),
        replication: ServiceProbe {
            ok: false,
            reachable: true,
            credentials_accepted: Some(true),
            latency_ms: 40,
            message: "the site is not known".into(),
        },
    }
}

const T0: OffsetDateTime = datetime!(2026-03-01 12:00:00.250 UTC);

/// Judges `probe` at `at` against the stored health and records it; the stored result.
async fn record(
    store: &SharedStore,
    stamp: &Stamp,
    probe: SiteProbe,
    at: OffsetDateTime,
) -> Result<SiteHealth, StoreError> {
    let before = store.get_site_health(stamp.id).await.unwrap();
    let judged = judge(stamp.id, before.as_ref(), probe, at, 3);
    store.record_site_probe(&judged.health).await
}

async fn a_stamp_never_probed_has_no_health_and_a_recorded_probe_reads_back_with_its_history(
    db: TestDb,
) {
    let a = stored_stamp(&db.store, "a").await;
    assert_eq!(db.store.get_site_health(a.id).await.unwrap(), None);
    assert!(db.store.list_site_health().await.unwrap().is_empty());

    let judged = judge(a.id, None, cut_off(), T0, 3).health;
    let stored = db.store.record_site_probe(&judged).await.unwrap();
    assert_eq!(stored.version, 1);
    assert_eq!(
        SiteHealth {
            version: 0,
            ..stored.clone()
        },
        judged
    );
    assert_eq!(stored.verdict, SiteVerdict::Degraded);
    assert_eq!(stored.since, T0);
    assert!(stored.alert_pending);
    assert_eq!(
        db.store.get_site_health(a.id).await.unwrap(),
        Some(stored.clone())
    );
    assert_eq!(
        db.store.list_site_health().await.unwrap(),
        vec![stored.clone()]
    );

    let history = db.store.site_probe_history(a.id, None, 10).await.unwrap();
    assert_eq!(history, vec![SiteProbeRecord::of(&stored)]);
    assert_eq!(
        history[0].probe,
        cut_off(),
        "every service's details survive"
    );
}

async fn a_probe_judged_on_a_stale_version_is_a_conflict_and_records_nothing(db: TestDb) {
    let a = stored_stamp(&db.store, "a").await;
    let first = record(&db.store, &a, answering(), T0).await.unwrap();
    let later = T0 + time::Duration::minutes(1);
    let stale = judge(a.id, None, cut_off(), later, 3).health;
    assert!(matches!(
        db.store.record_site_probe(&stale).await,
        Err(StoreError::Conflict)
    ));
    let behind = SiteHealth {
        version: first.version + 5,
        ..judge(a.id, Some(&first), cut_off(), later, 3).health
    };
    assert!(matches!(
        db.store.record_site_probe(&behind).await,
        Err(StoreError::Conflict)
    ));
    assert_eq!(db.store.get_site_health(a.id).await.unwrap(), Some(first));
    assert_eq!(
        db.store
            .site_probe_history(a.id, None, 10)
            .await
            .unwrap()
            .len(),
        1
    );
}

async fn racing_heartbeats_record_exactly_one_change(db: TestDb) {
    let a = stored_stamp(&db.store, "a").await;
    let up = record(&db.store, &a, answering(), T0).await.unwrap();
    let other_instance = db.reopen().await;
    // Two instances judged the same stored health, both seeing the stamp cut off: a change each.
    let racers: Vec<_> = [db.store.clone(), other_instance]
        .into_iter()
        .enumerate()
        .map(|(i, store)| {
            let at = T0 + time::Duration::seconds(10 + i as i64);
            let judged = judge(a.id, Some(&up), cut_off(), at, 3);
            assert!(judged.changed);
            tokio::spawn(async move { store.record_site_probe(&judged.health).await })
        })
        .collect();
    let mut outcomes = Vec::new();
    for racer in racers {
        outcomes.push(racer.await.unwrap());
    }
    let won: Vec<&SiteHealth> = outcomes.iter().filter_map(|o| o.as_ref().ok()).collect();
    assert_eq!(won.len(), 1, "one change recorded: {outcomes:?}");
    assert!(
        outcomes
            .iter()
            .any(|o| matches!(o, Err(StoreError::Conflict)))
    );
    // The loser reads again and records its observation on top: nothing lost, no second change.
    let now = db.store.get_site_health(a.id).await.unwrap().unwrap();
    let again = judge(
        a.id,
        Some(&now),
        cut_off(),
        T0 + time::Duration::seconds(20),
        3,
    );
    assert!(!again.changed);
    let stored = db.store.record_site_probe(&again.health).await.unwrap();
    assert_eq!(stored.consecutive_misses, 2);
    assert_eq!(stored.since, won[0].since);
    assert_eq!(
        db.store
            .site_probe_history(a.id, None, 10)
            .await
            .unwrap()
            .len(),
        3
    );
}

async fn history_is_newest_first_within_the_limit_and_since_and_keeps_thirty_days(db: TestDb) {
    let a = stored_stamp(&db.store, "a").await;
    let b = stored_stamp(&db.store, "b").await;
    let days = |d: i64| T0 - time::Duration::days(d);
    for at in [days(40), days(31), days(10), days(1)] {
        record(&db.store, &a, answering(), at).await.unwrap();
    }
    record(&db.store, &b, answering(), days(35)).await.unwrap();
    record(&db.store, &a, cut_off(), T0).await.unwrap();

    let times = |records: Vec<SiteProbeRecord>| -> Vec<OffsetDateTime> {
        records.into_iter().map(|r| r.probed_at).collect()
    };
    let all = db.store.site_probe_history(a.id, None, 100).await.unwrap();
    assert_eq!(all[0].verdict, SiteVerdict::Degraded);
    assert_eq!(
        times(all),
        [T0, days(1), days(10)],
        "newest first; probes older than 30 days are gone"
    );
    assert_eq!(
        times(db.store.site_probe_history(a.id, None, 2).await.unwrap()),
        [T0, days(1)]
    );
    assert_eq!(
        times(
            db.store
                .site_probe_history(a.id, Some(days(1)), 100)
                .await
                .unwrap()
        ),
        [T0, days(1)],
        "since is inclusive"
    );
    assert!(
        db.store
            .site_probe_history(a.id, Some(T0 + time::Duration::seconds(1)), 100)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        db.store
            .site_probe_history(b.id, None, 100_000)
            .await
            .unwrap()
            .len(),
        1,
        "another stamp's history is its own and pruned only by its own probes"
    );
}

async fn an_alert_is_cleared_only_for_the_verdict_it_was_owed_and_only_once(db: TestDb) {
    let a = stored_stamp(&db.store, "a").await;
    let degraded = record(&db.store, &a, cut_off(), T0).await.unwrap();
    assert!(degraded.alert_pending);
    let other_time = T0 + time::Duration::milliseconds(1);
    assert!(
        !db.store
            .clear_site_alert(a.id, SiteVerdict::Degraded, other_time)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .clear_site_alert(a.id, SiteVerdict::Down, T0)
            .await
            .unwrap()
    );
    assert!(
        db.store
            .clear_site_alert(a.id, SiteVerdict::Degraded, T0)
            .await
            .unwrap()
    );
    assert!(
        !db.store
            .clear_site_alert(a.id, SiteVerdict::Degraded, T0)
            .await
            .unwrap(),
        "cleared once"
    );
    let cleared = db.store.get_site_health(a.id).await.unwrap().unwrap();
    assert!(!cleared.alert_pending);
    assert_eq!(cleared.version, degraded.version + 1);
    // A probe judged before the clearing cannot bring the alert back.
    let stale = judge(
        a.id,
        Some(&degraded),
        cut_off(),
        T0 + time::Duration::minutes(1),
        3,
    );
    assert!(matches!(
        db.store.record_site_probe(&stale.health).await,
        Err(StoreError::Conflict)
    ));
}

async fn a_deleted_stamp_takes_its_health_and_history_along(db: TestDb) {
    let a = stored_stamp(&db.store, "a").await;
    let health = record(&db.store, &a, answering(), T0).await.unwrap();
    db.store.delete_stamp(a.id).await.unwrap();
    assert_eq!(db.store.get_site_health(a.id).await.unwrap(), None);
    assert!(
        db.store
            .site_probe_history(a.id, None, 10)
            .await
            .unwrap()
            .is_empty()
    );
    // A heartbeat that read the stamp before it went cannot record it back.
    let late = judge(a.id, None, answering(), T0 + time::Duration::minutes(1), 3);
    assert!(matches!(
        db.store.record_site_probe(&late.health).await,
        Err(StoreError::Conflict)
    ));
    let after_delete = SiteHealth {
        last_probe_at: T0 + time::Duration::minutes(2),
        ..health
    };
    assert!(matches!(
        db.store.record_site_probe(&after_delete).await,
        Err(StoreError::Conflict)
    ));
}
