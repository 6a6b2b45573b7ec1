//! The PostgreSQL backend, for several RP instances sharing one database.
//!
//! This file holds only what differs from SQLite: the pool set-up, how a write begins, and the
//! dialect; the statements are in `core_impl` and `engine_impl`, the row mapping in `rows` and
//! `engine_rows`.

use std::time::Duration;

use async_trait::async_trait;
use sqlx::postgres::{PgPool, PgPoolOptions};
use sqlx::{Connection as _, Postgres, Transaction};

use super::StoreError;
use super::sql::Dialect;

/// How the shared statements are spelled here (as written).
const DIALECT: Dialect = Dialect::Postgres;

/// How long a caller waits for a free connection before the store gives up.
const ACQUIRE_TIMEOUT: Duration = Duration::from_secs(10);

/// A pooled connection idle at least this long is pinged before use.
const PING_WHEN_IDLE_FOR: Duration = Duration::from_secs(1);

/// The store in a PostgreSQL database.
#[derive(Debug, Clone)]
pub struct PostgresStore {
    pool: PgPool,
}

impl PostgresStore {
    /// The backend's name, as `Store::backend` reports it.
    const BACKEND: &'static str = "postgres";

    /// Connects to the database a `postgres://` URL names and applies the migrations.
    pub async fn open(url: &str, max_connections: u32) -> Result<Self, StoreError> {
        let pool = PgPoolOptions::new()
            .max_connections(max_connections.max(1))
            .acquire_timeout(ACQUIRE_TIMEOUT)
            // sqlx pings a connection before handing it out (and again when it takes it back):
            // a round trip to the server for every statement. Only a connection left idle a
            // while can have been cut unnoticed (a restarted server, a firewall's idle timeout),
            // so only those are checked; a broken one is dropped and another taken, as before.
            .test_before_acquire(false)
            .before_acquire(|connection, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_WHEN_IDLE_FOR {
                        connection.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect(url)
            .await?;
        sqlx::migrate!("schemas/migrations/postgres")
            .run(&pool)
            .await?;
        Ok(Self { pool })
    }

    async fn write(&self) -> Result<Transaction<'static, Postgres>, StoreError> {
        Ok(self.pool.begin().await?)
    }

    /// Where a write of one statement runs, without a transaction of its own.
    fn single_write(&self) -> &PgPool {
        &self.pool
    }
}

super::core_impl::impl_core_store!(PostgresStore, DIALECT);
super::engine_impl::impl_engine_store!(PostgresStore, Postgres, DIALECT);
super::setup_impl::impl_setup_store!(PostgresStore, Postgres, DIALECT);
super::protection_impl::impl_protection_store!(PostgresStore, Postgres, DIALECT);
super::recovery_plan_impl::impl_recovery_plan_store!(PostgresStore, Postgres, DIALECT);
super::failover::impl_failover_store!(PostgresStore, Postgres, DIALECT);
super::site_health::impl_site_health_store!(PostgresStore, Postgres, DIALECT);
