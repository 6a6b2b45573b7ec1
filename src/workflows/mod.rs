//! The DR workflows, written as steps on the engine (`pair_clouds`; the runbooks'
//! `replication_health` and `reconcile_mirrors`), and what they share:
//! the fabric clients of a stored stamp ([`StampClients`]) and stamp verification.
//!
//! Workflows reach the fabric only through `crate::fabric` and persist only through the store;
//! every step looks before it acts, so it is safe to run again after a crash.

mod pair_clouds;
mod reconcile_mirrors;
mod replication_health;
mod runbook_support;
mod stamp_clients;
pub mod stamp_verify;

pub use pair_clouds::{PAIR_CLOUDS, PairClouds, pair_clouds_params};
pub use reconcile_mirrors::{RECONCILE_MIRRORS, ReconcileMirrors};
pub use replication_health::{REPLICATION_HEALTH, ReplicationHealth};
pub use stamp_clients::StampClients;
