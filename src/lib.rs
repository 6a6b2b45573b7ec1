//! wapdr: disaster recovery sold as a Windows Azure Pack plan add-on.
//!
//! The crate is laid out as the parts of `DESIGN.md`:
//! - [`contract`]: the WAP wire types and their one JSON/DataContract-XML codec;
//! - [`api`]: the axum routers of the resource-provider endpoints;
//! - [`domain`]: the rules (quota schema, subscription lifecycle, provider setup and cloud-pair
//!   resolution), no I/O;
//! - [`store`]: persistence behind one trait, SQLite and PostgreSQL;
//! - [`engine`]: durable workflow runs with leases, retries and schedules, and the runbooks;
//! - [`clock`]: the one clock abstraction workers sleep through;
//! - [`app`]: wires config, store and api into a running service;
//! - [`config`]: the layered configuration (defaults, TOML file, `WAPDR_` environment);
//! - [`fabric`]: the HTTP clients of the services wapdr drives (SPF, WAP admin API, the
//!   replication engine), with one retry policy and one error type;
//! - [`workflows`]: the DR workflows as steps on the engine, and the fabric clients of a stamp;
//! - [`metrics`]: the Prometheus metrics `/metrics` serves (fabric calls as they happen, VMs and
//!   RPO from the store);
//! - [`report`]: failover and drill reports (JSON and a self-contained HTML page) built from a
//!   job's records;
//! - [`lab`]: the in-memory fabric (SPF, WAP admin, ASR, Azure AD) behind the real HTTP contracts;
//!   only the binary's `lab`/`demo` commands and tests may use it.
//!

pub mod api;
pub mod app;
pub mod clock;
pub mod config;
pub mod contract;
pub mod domain;
pub mod engine;
pub mod fabric;
pub mod lab;
pub mod metrics;
pub mod report;
pub mod store;
pub mod workflows;
