//! The one clock abstraction: where wapdr's own code reads the time and waits, and how it writes
//! a time ([`rfc3339`]).
//!
//! Workers sleep through a [`Clock`] so that the lab can accelerate time and tests can control it.
//! It must never be used to decide anything shared between instances (leases, due times, schedule
//! ticks): those compare against the database clock, which every instance agrees on.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use time::OffsetDateTime;

/// A source of the current time and of waits.
#[async_trait]
pub trait Clock: Send + Sync + 'static {
    /// The current time by this clock.
    fn now(&self) -> OffsetDateTime;

    /// Waits for `duration` by this clock.
    async fn sleep(&self, duration: Duration);
}

/// A time as wapdr writes it in outputs, keys and messages: RFC 3339 in UTC.
pub fn rfc3339(time: OffsetDateTime) -> String {
    time.to_offset(time::UtcOffset::UTC)
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|_| time.unix_timestamp().to_string())
}

/// A clock shared by every worker.
pub type SharedClock = Arc<dyn Clock>;

/// The machine's clock and tokio's timers.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

#[async_trait]
impl Clock for SystemClock {
    fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
    }

    async fn sleep(&self, duration: Duration) {
        tokio::time::sleep(duration).await;
    }
}

/// The system clock, shared.
pub fn system() -> SharedClock {
    Arc::new(SystemClock)
}
