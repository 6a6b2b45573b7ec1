//! The DR workflows, written as steps on the engine, and what they share: the fabric clients of a
//! stored stamp ([`StampClients`]).
//!
//! Workflows reach the fabric only through `crate::fabric` and persist only through the store;
//! every step looks before it acts, so it is safe to run again after a crash.

mod stamp_clients;
pub mod stamp_verify;

pub use stamp_clients::StampClients;
