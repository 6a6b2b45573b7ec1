//! What the site heartbeat persists: each stamp's current [`SiteHealth`] (`site_health`) and the
//! history of its probes (`site_probes`, kept for [`HISTORY_DAYS`] days). [`SiteHealthStore`] is
//! implemented once for both backends by `impl_site_health_store!`, with SQL written in
//! PostgreSQL's dialect; the row mapping is here.
//!
//! The current row carries a version: a probe is recorded only against the version it was judged
//! on, so two instances probing at once cannot lose each other's observation, and only one of them
//! can record a given change of verdict (and so owe its alert).

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::rows::{corrupt, decode_json, encode_json};
use super::sql::time_text;
use crate::domain::{ServiceProbe, SiteHealth, SiteProbe, SiteProbeRecord, SiteVerdict};

/// How many days of probes a stamp's history keeps.
pub const HISTORY_DAYS: i64 = 30;

/// The most probes one history read returns.
pub const MAX_HISTORY: u32 = 1000;

/// The site-health operations; every method is one transaction.
#[async_trait]
pub trait SiteHealthStore: Send + Sync {
    /// One stamp's current health (`None`: never probed).
    async fn get_site_health(&self, stamp_id: Uuid) -> Result<Option<SiteHealth>, StoreError>;

    /// The current health of every stamp probed so far, by stamp id.
    async fn list_site_health(&self) -> Result<Vec<SiteHealth>, StoreError>;

    /// Records a probe: inserts (when `health.version == 0`) or updates (when `health.version`
    /// matches the stored one) the stamp's current health, appends the probe to its history and
    /// drops history older than [`HISTORY_DAYS`] days before the probe, all at once; returns the
    /// stored health with its new version. A version mismatch, an insert for a stamp recorded
    /// meanwhile, or a stamp that no longer exists is [`StoreError::Conflict`].
    async fn record_site_probe(&self, health: &SiteHealth) -> Result<SiteHealth, StoreError>;

    /// Marks the alert owed for the stamp's current verdict as delivered, if the verdict is still
    /// `verdict`, begun at `since`, and its alert still pending; `true` when it was so. Bumps the
    /// version, so a probe judged on the row before cannot put the alert back.
    async fn clear_site_alert(
        &self,
        stamp_id: Uuid,
        verdict: SiteVerdict,
        since: OffsetDateTime,
    ) -> Result<bool, StoreError>;

    /// A stamp's probes, newest first: at most `limit` (capped at [`MAX_HISTORY`]), and only
    /// those taken at or after `since` when given.
    async fn site_probe_history(
        &self,
        stamp_id: Uuid,
        since: Option<OffsetDateTime>,
        limit: u32,
    ) -> Result<Vec<SiteProbeRecord>, StoreError>;
}

/// The `site_health` columns, in the order [`SiteHealthRow`] reads them.
pub(super) const HEALTH_COLUMNS: &str = "stamp_id, verdict, previous_verdict, since, \
     consecutive_misses, last_probe_at, last_probe, reason, alert_pending, version";

/// The `site_probes` columns, in the order [`ProbeRow`] reads them.
pub(super) const PROBE_COLUMNS: &str = "stamp_id, probed_at, verdict, consecutive_misses, details";

/// One service's probe as the JSON columns hold it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredService {
    ok: bool,
    reachable: bool,
    credentials_accepted: Option<bool>,
    latency_ms: u64,
    message: String,
}

/// A probe as the JSON columns hold it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredProbe {
    spf: StoredService,
    wap_admin: StoredService,
    replication: StoredService,
}

impl StoredProbe {
    fn of(probe: &SiteProbe) -> Self {
        let service = |p: &ServiceProbe| StoredService {
            ok: p.ok,
            reachable: p.reachable,
            credentials_accepted: p.credentials_accepted,
            latency_ms: p.latency_ms,
            message: p.message.clone(),
        };
        Self {
            spf: service(&probe.spf),
            wap_admin: service(&probe.wap_admin),
            replication: service(&probe.replication),
        }
    }

    fn into_probe(self) -> SiteProbe {
        let service = |s: StoredService| ServiceProbe {
            ok: s.ok,
            reachable: s.reachable,
            credentials_accepted: s.credentials_accepted,
            latency_ms: s.latency_ms,
            message: s.message,
        };
        SiteProbe {
            spf: service(self.spf),
            wap_admin: service(self.wap_admin),
            replication: service(self.replication),
        }
    }
}

/// A health record's column values as they are bound.
pub(super) struct HealthColumns {
    pub(super) stamp_id: String,
    pub(super) verdict: &'static str,
    pub(super) previous_verdict: Option<&'static str>,
    pub(super) since: String,
    pub(super) consecutive_misses: i64,
    pub(super) last_probe_at: String,
    pub(super) last_probe: String,
    /// History older than this goes when the probe is recorded.
    pub(super) keep_after: String,
}

impl HealthColumns {
    /// The columns of `health`; times as both backends compare them.
    pub(super) fn of(health: &SiteHealth) -> Result<Self, StoreError> {
        let stamp_id = health.stamp_id.to_string();
        Ok(Self {
            last_probe: encode_json(
                "site_health.last_probe",
                &stamp_id,
                &StoredProbe::of(&health.last_probe),
            )?,
            verdict: health.verdict.as_str(),
            previous_verdict: health.previous_verdict.map(SiteVerdict::as_str),
            since: time_text(health.since),
            consecutive_misses: i64::from(health.consecutive_misses),
            last_probe_at: time_text(health.last_probe_at),
            keep_after: time_text(health.last_probe_at - time::Duration::days(HISTORY_DAYS)),
            stamp_id,
        })
    }
}

/// A time as the `since` condition of [`SiteHealthStore::clear_site_alert`] binds it.
pub(super) fn bound_time(at: OffsetDateTime) -> String {
    time_text(at)
}

/// The history read's limit, capped.
pub(super) fn history_limit(limit: u32) -> i64 {
    i64::from(limit.min(MAX_HISTORY))
}

/// One `site_health` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct SiteHealthRow {
    stamp_id: String,
    verdict: String,
    previous_verdict: Option<String>,
    since: OffsetDateTime,
    consecutive_misses: i64,
    last_probe_at: OffsetDateTime,
    last_probe: String,
    reason: String,
    alert_pending: bool,
    version: i64,
}

impl SiteHealthRow {
    /// The domain record.
    pub(super) fn into_health(self) -> Result<SiteHealth, StoreError> {
        let row = self.stamp_id.as_str();
        let verdict = |column: &str, name: &str| {
            SiteVerdict::from_name(name).ok_or_else(|| corrupt(column, row, name))
        };
        Ok(SiteHealth {
            stamp_id: Uuid::parse_str(row)
                .map_err(|_| corrupt("site_health.stamp_id", row, row))?,
            verdict: verdict("site_health.verdict", &self.verdict)?,
            previous_verdict: self
                .previous_verdict
                .as_deref()
                .map(|v| verdict("site_health.previous_verdict", v))
                .transpose()?,
            since: self.since,
            consecutive_misses: misses(
                "site_health.consecutive_misses",
                row,
                self.consecutive_misses,
            )?,
            last_probe_at: self.last_probe_at,
            last_probe: decode_json::<StoredProbe>(
                "site_health.last_probe",
                row,
                &self.last_probe,
            )?
            .into_probe(),
            reason: self.reason,
            alert_pending: self.alert_pending,
            version: self.version,
        })
    }
}

/// One `site_probes` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct ProbeRow {
    stamp_id: String,
    probed_at: OffsetDateTime,
    verdict: String,
    consecutive_misses: i64,
    details: String,
}

impl ProbeRow {
    /// The domain record.
    pub(super) fn into_record(self) -> Result<SiteProbeRecord, StoreError> {
        let row = self.stamp_id.as_str();
        Ok(SiteProbeRecord {
            stamp_id: Uuid::parse_str(row)
                .map_err(|_| corrupt("site_probes.stamp_id", row, row))?,
            probed_at: self.probed_at,
            verdict: SiteVerdict::from_name(&self.verdict)
                .ok_or_else(|| corrupt("site_probes.verdict", row, &self.verdict))?,
            consecutive_misses: misses(
                "site_probes.consecutive_misses",
                row,
                self.consecutive_misses,
            )?,
            probe: decode_json::<StoredProbe>("site_probes.details", row, &self.details)?
                .into_probe(),
        })
    }
}

fn misses(column: &str, row: &str, value: i64) -> Result<u32, StoreError> {
    u32::try_from(value).map_err(|_| corrupt(column, row, &value.to_string()))
}

/// Implements `SiteHealthStore` for `$store` (with a `pool` and a `write()` that begins a write
/// transaction) on database `$db`, translating statements with `$dialect`.
macro_rules! impl_site_health_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use time::OffsetDateTime;
            use uuid::Uuid;
            use $crate::domain::{SiteHealth, SiteProbeRecord, SiteVerdict};
            use $crate::store::setup::conflict_on_violation;
            use $crate::store::site_health::{
                HEALTH_COLUMNS, HealthColumns, PROBE_COLUMNS, ProbeRow, SiteHealthRow, bound_time,
                history_limit,
            };
            use $crate::store::{SiteHealthStore, StoreError};

            fn sql(text: &str) -> String {
                $dialect.sql(text)
            }

            fn select_one() -> String {
                sql(&format!(
                    "SELECT {HEALTH_COLUMNS} FROM site_health WHERE stamp_id = $1"
                ))
            }

            #[async_trait::async_trait]
            impl SiteHealthStore for $store {
                async fn get_site_health(
                    &self,
                    stamp_id: Uuid,
                ) -> Result<Option<SiteHealth>, StoreError> {
                    let row: Option<SiteHealthRow> = sqlx::query_as(&select_one())
                        .bind(stamp_id.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(SiteHealthRow::into_health).transpose()
                }

                async fn list_site_health(&self) -> Result<Vec<SiteHealth>, StoreError> {
                    let rows: Vec<SiteHealthRow> =
                        sqlx::query_as(&sql(&format!("SELECT {HEALTH_COLUMNS} FROM site_health")))
                            .fetch_all(&self.pool)
                            .await?;
                    let mut all = rows
                        .into_iter()
                        .map(SiteHealthRow::into_health)
                        .collect::<Result<Vec<_>, _>>()?;
                    // Sorted here rather than in SQL: text order would depend on the collation.
                    all.sort_by_key(|h| h.stamp_id);
                    Ok(all)
                }

                async fn record_site_probe(
                    &self,
                    health: &SiteHealth,
                ) -> Result<SiteHealth, StoreError> {
                    let cols = HealthColumns::of(health)?;
                    let mut tx = self.write().await?;
                    // Both statements take the same parameters; the stored version becomes the
                    // expected one plus one (an insert expects 0).
                    let statement = if health.version == 0 {
                        format!(
                            "INSERT INTO site_health ({HEALTH_COLUMNS}) VALUES ($1, $2, $3, \
                             $4::timestamptz, $5, $6::timestamptz, $7, $8, $9, $10 + 1) \
                             ON CONFLICT (stamp_id) DO NOTHING"
                        )
                    } else {
                        "UPDATE site_health SET verdict = $2, previous_verdict = $3, \
                         since = $4::timestamptz, consecutive_misses = $5, \
                         last_probe_at = $6::timestamptz, last_probe = $7, reason = $8, \
                         alert_pending = $9, version = $10 + 1 \
                         WHERE stamp_id = $1 AND version = $10"
                            .to_owned()
                    };
                    let written = sqlx::query(&sql(&statement))
                        .bind(&cols.stamp_id)
                        .bind(cols.verdict)
                        .bind(cols.previous_verdict)
                        .bind(&cols.since)
                        .bind(cols.consecutive_misses)
                        .bind(&cols.last_probe_at)
                        .bind(&cols.last_probe)
                        .bind(&health.reason)
                        .bind(health.alert_pending)
                        .bind(health.version)
                        .execute(&mut *tx)
                        .await
                        // A stamp deleted meanwhile: its health has nowhere to go.
                        .map_err(conflict_on_violation)?;
                    if written.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                    sqlx::query(&sql(&format!(
                        "INSERT INTO site_probes ({PROBE_COLUMNS}) \
                         VALUES ($1, $2::timestamptz, $3, $4, $5)"
                    )))
                    .bind(&cols.stamp_id)
                    .bind(&cols.last_probe_at)
                    .bind(cols.verdict)
                    .bind(cols.consecutive_misses)
                    .bind(&cols.last_probe)
                    .execute(&mut *tx)
                    .await
                    .map_err(conflict_on_violation)?;
                    sqlx::query(&sql("DELETE FROM site_probes WHERE stamp_id = $1 \
                         AND probed_at < $2::timestamptz"))
                    .bind(&cols.stamp_id)
                    .bind(&cols.keep_after)
                    .execute(&mut *tx)
                    .await?;
                    let stored: SiteHealthRow = sqlx::query_as(&select_one())
                        .bind(&cols.stamp_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    stored.into_health()
                }

                async fn clear_site_alert(
                    &self,
                    stamp_id: Uuid,
                    verdict: SiteVerdict,
                    since: OffsetDateTime,
                ) -> Result<bool, StoreError> {
                    let done = sqlx::query(&sql(
                        "UPDATE site_health SET alert_pending = false, version = version + 1 \
                         WHERE stamp_id = $1 AND verdict = $2 AND since = $3::timestamptz \
                         AND alert_pending",
                    ))
                    .bind(stamp_id.to_string())
                    .bind(verdict.as_str())
                    .bind(bound_time(since))
                    .execute(&self.pool)
                    .await?;
                    Ok(done.rows_affected() == 1)
                }

                async fn site_probe_history(
                    &self,
                    stamp_id: Uuid,
                    since: Option<OffsetDateTime>,
                    limit: u32,
                ) -> Result<Vec<SiteProbeRecord>, StoreError> {
                    let rows: Vec<ProbeRow> = sqlx::query_as(&sql(&format!(
                        "SELECT {PROBE_COLUMNS} FROM site_probes WHERE stamp_id = $1 \
                         AND ($2::text IS NULL OR probed_at >= $2::timestamptz) \
                         ORDER BY probed_at DESC, id DESC LIMIT $3"
                    )))
                    .bind(stamp_id.to_string())
                    .bind(since.map(bound_time))
                    .bind(history_limit(limit))
                    .fetch_all(&self.pool)
                    .await?;
                    rows.into_iter().map(ProbeRow::into_record).collect()
                }
            }
        };
    };
}

pub(super) use impl_site_health_store;
