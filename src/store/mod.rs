//! Persistence: one [`Store`] trait, implemented for SQLite (default, one file, WAL) and PostgreSQL
//! (scale-out), chosen by the database URL.
//!
//! Each backend has its own migrations under `schemas/migrations/<backend>/`, applied by [`open`].
//! Queries are built at run time (`query` + `bind`), so both backends compile without a live
//! database. The store knows nothing of HTTP or of the WAP wire format; one conformance suite
//! (`tests/store_conformance.rs`) runs against both backends. The engine's tables and operations
//! are in [`engine`], provider setup's in [`setup`], the site heartbeat's in [`site_health`].
//!
//! Every statement is written once, in PostgreSQL's dialect, and translated per backend by
//! `sql::Dialect`; `core_impl` (this trait) and `engine_impl` ([`EngineStore`]) are macros
//! instantiated in each backend's module, which keeps only what truly differs: opening the pool,
//! how a write transaction begins, and the dialect.

mod core_impl;
pub mod engine;
mod engine_helpers;
mod engine_impl;
mod engine_rows;
pub mod failover;
mod postgres;
pub mod protection;
mod protection_impl;
mod protection_rows;
pub mod recovery_plan;
mod recovery_plan_impl;
mod recovery_plan_rows;
mod rows;
pub mod setup;
mod setup_impl;
pub mod site_health;
mod sql;
mod sqlite;

use std::sync::Arc;

use async_trait::async_trait;
use time::OffsetDateTime;

use crate::domain::{
    LifecycleState, NewUsageRecord, Subscription, SubscriptionId, SubscriptionState, UsageRecord,
};

pub use engine::{
    AckOutcome, CancelOutcome, ClaimedStep, CreatedRun, EngineStore, Lease, LeaseCheck, NewRun,
    NewStep, RunFilter, RunPriority, RunRecord, RunState, RunbookState, Slot, StepRecord,
    StepRecorded, StepResult, StepState, WaitKind,
};
pub use failover::FailoverStore;
pub use postgres::PostgresStore;
pub use protection::{DrFilter, ProtectionStore, StateCounts, VmFilter};
pub use recovery_plan::RecoveryPlanStore;
pub use setup::{Deletion, SetupStore};
pub use site_health::SiteHealthStore;
pub use sqlite::SqliteStore;

/// A store shared by every handler and worker.
pub type SharedStore = Arc<dyn Store>;

/// What can go wrong in the store; the cause is kept for the log, the caller sees a clean message.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// An optimistic-concurrency check failed: somebody else changed the row first. Re-read and retry.
    #[error("the record was changed concurrently; retry")]
    Conflict,
    /// The database URL names no backend wapdr has.
    #[error("unsupported database URL '{0}': use sqlite://PATH or postgres://...")]
    UnsupportedUrl(String),
    /// A row holds data wapdr cannot read back (a bug or a hand edit).
    #[error("corrupt row: {0}")]
    Corrupt(String),
    /// Applying migrations failed.
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database said no, or could not be reached.
    #[error("database error: {0}")]
    Database(#[from] sqlx::Error),
}

/// Which subscriptions to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SubscriptionFilter {
    /// Only in this state.
    pub state: Option<SubscriptionState>,
    /// Only in this lifecycle state.
    pub lifecycle: Option<LifecycleState>,
    /// Include tombstones (LifecycleState Deleted); off by default.
    pub include_deleted: bool,
    /// Keyset paging: only ids greater than this one (ids sort as lower-case text).
    pub after: Option<SubscriptionId>,
    /// At most this many (the store caps it at 1000).
    pub limit: Option<u32>,
}

/// The persistence operations wapdr needs; every method is one transaction. The engine's
/// operations are in [`EngineStore`], provider setup's in [`SetupStore`] and the site heartbeat's
/// in [`SiteHealthStore`], which every store also implements.
#[async_trait]
pub trait Store:
    EngineStore
    + SetupStore
    + ProtectionStore
    + RecoveryPlanStore
    + FailoverStore
    + SiteHealthStore
    + Send
    + Sync
    + 'static
{
    /// Which backend this is ("sqlite" or "postgres"), for logs and `/health/ready`.
    fn backend(&self) -> &'static str;

    /// Checks the database answers (`/health/ready`).
    async fn ping(&self) -> Result<(), StoreError>;

    /// Keeps the query planner's statistics current where the database plans from them; the
    /// tables analysed. PostgreSQL plans the engine's claim from statistics, and a queue that
    /// grew from nothing (a large onboarding) before autovacuum analysed it, or on a server with
    /// autovacuum off, is planned as if empty: each claim then read every live run (64 ms with
    /// 10,000 onboarding subscriptions, 0.9 ms once analysed). So every table of wapdr's schema
    /// that changed by more than autovacuum's own threshold (50 rows + 10 %) since its last
    /// analysis is analysed; one instance at a time (the others skip). SQLite: nothing (the
    /// statements that depend on an index name it).
    async fn refresh_statistics(&self) -> Result<Vec<String>, StoreError>;

    /// Inserts (when `sub.version == 0`) or updates (when `sub.version` matches the stored version)
    /// a subscription, stamping `updated_at` (and `created_at` on insert) with the database clock and
    /// returning the stored row with its new version. A version mismatch, or an insert of an id that
    /// exists, is [`StoreError::Conflict`].
    async fn save_subscription(&self, sub: &Subscription) -> Result<Subscription, StoreError>;

    /// One subscription, tombstones included.
    async fn get_subscription(
        &self,
        id: SubscriptionId,
    ) -> Result<Option<Subscription>, StoreError>;

    /// One subscription (tombstones included) with how many times its VM records changed and the
    /// database clock, in one read: the tenant API authorises with it and checks that the VM list
    /// it holds in memory is still the stored one.
    async fn get_subscription_snapshot(
        &self,
        id: SubscriptionId,
    ) -> Result<Option<SubscriptionSnapshot>, StoreError>;

    /// Subscriptions ordered by id.
    async fn list_subscriptions(
        &self,
        filter: &SubscriptionFilter,
    ) -> Result<Vec<Subscription>, StoreError>;

    /// Appends usage records, giving each the next EventId. EventIds are strictly increasing,
    /// persist across restarts and are committed in order: a reader never sees EventId n+1
    /// before n is visible (so a collector paging by `lastID` cannot skip a record). External
    /// record ids are unique: a record whose id is in the log already (or twice in `records`) is
    /// [`StoreError::Conflict`] and nothing is appended.
    async fn append_usage(&self, records: &[NewUsageRecord]) -> Result<Vec<i64>, StoreError>;

    /// Appends the records whose external record id is not in the log yet, as
    /// [`append_usage`](Self::append_usage) does (same ordering guarantee, no EventId spent on a
    /// skipped record); returns, per record in order, its new EventId, or `None` when a record
    /// with its external id was there already (or earlier in `records`). Writers racing with the
    /// same ids append each once, so metering a period again never bills it twice.
    async fn append_usage_once(
        &self,
        records: &[NewUsageRecord],
    ) -> Result<Vec<Option<i64>>, StoreError>;

    /// Up to `batch` records with EventId greater than `last_id`, in ascending order.
    async fn usage_after(&self, last_id: i64, batch: u32) -> Result<Vec<UsageRecord>, StoreError>;

    /// Records that the collector holds every record up to `last_id` (the watermark only rises),
    /// and lifts the EventId counter past it in the same transaction, so the next record appended
    /// gets an EventId greater than `last_id`. The collector keeps its `lastID` when wapdr's
    /// database is restored from an older backup; without the lift, new records would get
    /// EventIds at or below that `lastID` and the collector would never ask for them.
    async fn acknowledge_usage(&self, last_id: i64) -> Result<(), StoreError>;

    /// The highest acknowledged EventId (0 when none).
    async fn usage_watermark(&self) -> Result<i64, StoreError>;

    /// A setting wapdr keeps for itself (generated credentials, the RP instance id).
    async fn get_setting(&self, key: &str) -> Result<Option<String>, StoreError>;

    /// Stores `value` under `key` unless a value is there already; returns the value that is stored
    /// afterwards (so concurrent instances agree on one).
    async fn put_setting_if_absent(&self, key: &str, value: &str) -> Result<String, StoreError>;
}

/// A subscription as one read found it (see [`Store::get_subscription_snapshot`]).
#[derive(Debug, Clone)]
pub struct SubscriptionSnapshot {
    /// The subscription.
    pub subscription: Subscription,
    /// How many times the subscription's VM records were inserted, updated or deleted, ever: a
    /// database trigger counts every write, through any instance (migration 0012).
    pub vm_changes: i64,
    /// The database clock at the read.
    pub read_at: OffsetDateTime,
}

/// The advisory lock (PostgreSQL) under which one instance at a time refreshes the statistics.
pub(crate) const STATISTICS_LOCK: i64 = 0x7761_7064_7273_7461; // "wapdrsta"

/// Opens the store a URL names and applies its migrations.
///
/// `sqlite://PATH` (created if missing, WAL) or `sqlite::memory:`; `postgres://...` or `postgresql://...`.
pub async fn open(url: &str, max_connections: u32) -> Result<SharedStore, StoreError> {
    let lower = url.to_ascii_lowercase();
    if lower.starts_with("sqlite:") {
        Ok(Arc::new(SqliteStore::open(url, max_connections).await?))
    } else if lower.starts_with("postgres://") || lower.starts_with("postgresql://") {
        Ok(Arc::new(PostgresStore::open(url, max_connections).await?))
    } else {
        Err(StoreError::UnsupportedUrl(url.to_owned()))
    }
}
