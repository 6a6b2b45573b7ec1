//! What failover persists: each DR subscription's [`FailoverState`] (phase, the operation whose
//! job started last, work left for later) in the `failovers` table. [`FailoverStore`] is
//! implemented once for both backends by `impl_failover_store!`, with SQL written in
//! PostgreSQL's dialect; the row mapping is here.

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;
use uuid::Uuid;

use super::StoreError;
use super::rows::{corrupt, decode_json, encode_json};
use crate::domain::{
    CommitPolicy, Deadline, DeadlineAction, FailoverPhase, FailoverSettings, FailoverState,
    RunningFailover, SubscriptionId, WindowAction,
};

/// The failover operations; every method is one transaction.
#[async_trait]
pub trait FailoverStore: Send + Sync {
    /// One subscription's failover record (`None`: it never failed over or drilled).
    async fn get_failover(&self, id: SubscriptionId) -> Result<Option<FailoverState>, StoreError>;

    /// Inserts (when `state.version == 0`) or updates (when `state.version` matches) a record;
    /// returns it with its new version. A version mismatch, or an insert of a subscription that
    /// has one, is [`StoreError::Conflict`]: two operations can never both claim a subscription.
    async fn save_failover(&self, state: &FailoverState) -> Result<FailoverState, StoreError>;
}

/// The `failovers` columns, in the order [`FailoverRow`] reads them.
pub(super) const FAILOVER_COLUMNS: &str =
    "subscription_id, phase, running, pending, settings, deadline, version";

/// The running operation as the `running` JSON column holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredRunning {
    kind: String,
    job_id: Uuid,
    requested_by: String,
    reason: Option<String>,
    #[serde(with = "time::serde::rfc3339")]
    started_at: OffsetDateTime,
}

/// The provider's settings as the `settings` JSON column holds them.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredSettings {
    priority: u8,
    on_expiry: Option<String>,
    after_minutes: u32,
    drill_cleanup_after_minutes: Option<u32>,
}

impl StoredSettings {
    fn of(settings: &FailoverSettings) -> Self {
        Self {
            priority: settings.priority,
            on_expiry: settings
                .commit_policy
                .on_expiry
                .map(|a| a.as_str().to_owned()),
            after_minutes: settings.commit_policy.after_minutes,
            drill_cleanup_after_minutes: settings.drill_cleanup_after_minutes,
        }
    }

    fn into_settings(self, id: &str) -> Result<FailoverSettings, StoreError> {
        let on_expiry = match self.on_expiry.as_deref() {
            None => None,
            Some("commit") => Some(WindowAction::Commit),
            Some("rollback") => Some(WindowAction::Rollback),
            Some(other) => return Err(corrupt("settings", id, other)),
        };
        Ok(FailoverSettings {
            priority: self.priority,
            commit_policy: CommitPolicy {
                on_expiry,
                after_minutes: self.after_minutes,
            },
            drill_cleanup_after_minutes: self.drill_cleanup_after_minutes,
        })
    }
}

/// An open deadline as the `deadline` JSON column holds it.
#[derive(Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct StoredDeadline {
    action: String,
    #[serde(with = "time::serde::rfc3339")]
    at: OffsetDateTime,
    opened_by: Uuid,
}

/// One `failovers` row as stored.
#[derive(Debug, sqlx::FromRow)]
pub(super) struct FailoverRow {
    subscription_id: String,
    phase: String,
    running: Option<String>,
    pending: String,
    settings: String,
    deadline: Option<String>,
    version: i64,
}

/// A record's column values as they are bound.
pub(super) struct FailoverColumns {
    pub(super) subscription_id: String,
    pub(super) phase: &'static str,
    pub(super) running: Option<String>,
    pub(super) pending: String,
    pub(super) settings: String,
    pub(super) deadline: Option<String>,
}

impl FailoverColumns {
    /// The columns of `state`.
    pub(super) fn of(state: &FailoverState) -> Result<Self, StoreError> {
        let id = state.subscription_id.to_string();
        let running = state
            .running
            .as_ref()
            .map(|r| {
                encode_json(
                    "running",
                    &id,
                    &StoredRunning {
                        kind: r.kind.clone(),
                        job_id: r.job_id,
                        requested_by: r.requested_by.clone(),
                        reason: r.reason.clone(),
                        started_at: r.started_at,
                    },
                )
            })
            .transpose()?;
        let deadline = state
            .deadline
            .map(|d| {
                encode_json(
                    "deadline",
                    &id,
                    &StoredDeadline {
                        action: d.action.as_str().to_owned(),
                        at: d.at,
                        opened_by: d.opened_by,
                    },
                )
            })
            .transpose()?;
        Ok(Self {
            pending: encode_json("pending", &id, &state.pending)?,
            settings: encode_json("settings", &id, &StoredSettings::of(&state.settings))?,
            deadline,
            subscription_id: id,
            phase: state.phase.as_str(),
            running,
        })
    }
}

impl FailoverRow {
    /// The domain record.
    pub(super) fn into_state(self) -> Result<FailoverState, StoreError> {
        let id = &self.subscription_id;
        let subscription_id =
            SubscriptionId::parse(id).map_err(|_| corrupt("subscription_id", id, id))?;
        let phase = FailoverPhase::from_name(&self.phase)
            .ok_or_else(|| corrupt("phase", id, &self.phase))?;
        let running = self
            .running
            .as_deref()
            .map(|text| decode_json::<StoredRunning>("running", id, text))
            .transpose()?
            .map(|r| RunningFailover {
                kind: r.kind,
                job_id: r.job_id,
                requested_by: r.requested_by,
                reason: r.reason,
                started_at: r.started_at,
            });
        // A row written before settings existed holds `{}`: the defaults.
        let settings = if self.settings.trim() == "{}" {
            FailoverSettings::default()
        } else {
            decode_json::<StoredSettings>("settings", id, &self.settings)?.into_settings(id)?
        };
        let deadline = self
            .deadline
            .as_deref()
            .map(|text| decode_json::<StoredDeadline>("deadline", id, text))
            .transpose()?
            .map(|d| {
                DeadlineAction::from_name(&d.action)
                    .map(|action| Deadline {
                        action,
                        at: d.at,
                        opened_by: d.opened_by,
                    })
                    .ok_or_else(|| corrupt("deadline", id, &d.action))
            })
            .transpose()?;
        Ok(FailoverState {
            subscription_id,
            phase,
            running,
            pending: decode_json("pending", id, &self.pending)?,
            settings,
            deadline,
            version: self.version,
        })
    }
}

/// Implements `FailoverStore` for `$store` (with a `pool` and a `write()` that begins a write
/// transaction) on database `$db`, translating statements with `$dialect`.
macro_rules! impl_failover_store {
    ($store:ty, $db:ty, $dialect:expr) => {
        const _: () = {
            use $crate::domain::{FailoverState, SubscriptionId};
            use $crate::store::failover::{FAILOVER_COLUMNS, FailoverColumns, FailoverRow};
            use $crate::store::{FailoverStore, StoreError};

            fn select() -> String {
                $dialect.sql(&format!(
                    "SELECT {FAILOVER_COLUMNS} FROM failovers WHERE subscription_id = $1"
                ))
            }

            #[async_trait::async_trait]
            impl FailoverStore for $store {
                async fn get_failover(
                    &self,
                    id: SubscriptionId,
                ) -> Result<Option<FailoverState>, StoreError> {
                    let row: Option<FailoverRow> = sqlx::query_as(&select())
                        .bind(id.to_string())
                        .fetch_optional(&self.pool)
                        .await?;
                    row.map(FailoverRow::into_state).transpose()
                }

                async fn save_failover(
                    &self,
                    state: &FailoverState,
                ) -> Result<FailoverState, StoreError> {
                    let cols = FailoverColumns::of(state)?;
                    let mut tx = self.write().await?;
                    let statement = if state.version == 0 {
                        format!(
                            "INSERT INTO failovers ({FAILOVER_COLUMNS}) \
                             VALUES ($1, $2, $3, $4, $5, $6, $7 + 1) \
                             ON CONFLICT (subscription_id) DO NOTHING"
                        )
                    } else {
                        "UPDATE failovers SET phase = $2, running = $3, pending = $4, \
                         settings = $5, deadline = $6, version = $7 + 1 \
                         WHERE subscription_id = $1 AND version = $7"
                            .to_owned()
                    };
                    let written = sqlx::query(&$dialect.sql(&statement))
                        .bind(&cols.subscription_id)
                        .bind(cols.phase)
                        .bind(&cols.running)
                        .bind(&cols.pending)
                        .bind(&cols.settings)
                        .bind(&cols.deadline)
                        .bind(state.version)
                        .execute(&mut *tx)
                        .await?;
                    if written.rows_affected() != 1 {
                        return Err(StoreError::Conflict);
                    }
                    let stored: FailoverRow = sqlx::query_as(&select())
                        .bind(&cols.subscription_id)
                        .fetch_one(&mut *tx)
                        .await?;
                    tx.commit().await?;
                    stored.into_state()
                }
            }
        };
    };
}

pub(super) use impl_failover_store;
