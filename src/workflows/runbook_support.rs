//! What the runbook workflows (`protect_new_vms`, `replication_health`, `reconcile_mirrors`)
//! share beyond [`super::fabric_refs`]: how a step's [`Stop`] becomes an engine outcome, their
//! parameters, the DR subscriptions of a phase, and a stamp's site looked up once per step rather
//! than once per VM.

use std::collections::HashMap;
use std::sync::Arc;

use serde_json::Value;
use uuid::Uuid;

use crate::domain::{DrPhase, DrSubscription};
use crate::engine::StepOutcome;
use crate::fabric::ReplicationEngine;
use crate::fabric::replication::{Container, ItemRef, Site};
use crate::store::{DrFilter, SharedStore};

use super::fabric_refs::{spf_stamp_id, stamp};
use super::stamp_verify::site_for;
use super::{StampClients, Stop};

/// How many DR records one store read returns while a runbook walks them all.
const LIST_PAGE: u32 = 500;

/// Every DR subscription in `phase`, read a page at a time.
pub(crate) async fn all_in_phase(
    store: &SharedStore,
    phase: DrPhase,
) -> Result<Vec<DrSubscription>, Stop> {
    let mut out = Vec::new();
    let mut after = None;
    loop {
        let page = store
            .list_dr_subscriptions(&DrFilter {
                phase: Some(phase),
                after,
                limit: Some(LIST_PAGE),
                ..DrFilter::default()
            })
            .await?;
        after = page.last().map(|dr| dr.subscription_id);
        let full = page.len() == LIST_PAGE as usize;
        out.extend(page);
        if !full {
            return Ok(out);
        }
    }
}

/// The engine outcome of a step's result: done, retried later, or failed.
pub(crate) fn outcome(result: Result<StepOutcome, Stop>) -> StepOutcome {
    match result {
        Ok(outcome) => outcome,
        Err(Stop::Transient(reason)) => super::retry(reason),
        Err(Stop::Final(reason)) => StepOutcome::Fail(reason),
    }
}

/// The engine's sites, read once, and each stamp's site as found.
pub(crate) struct Sites {
    engine: Arc<dyn ReplicationEngine>,
    sites: Option<Vec<Site>>,
    by_stamp: HashMap<Uuid, String>,
}

impl Sites {
    /// An empty cache over `engine`.
    pub(crate) fn new(engine: Arc<dyn ReplicationEngine>) -> Self {
        Self {
            engine,
            sites: None,
            by_stamp: HashMap::new(),
        }
    }

    /// The engine's site id of a stored stamp (through its VMM stamp id).
    pub(crate) async fn site_of(
        &mut self,
        clients: &StampClients,
        store: &SharedStore,
        stamp_id: Uuid,
    ) -> Result<String, Stop> {
        if let Some(site) = self.by_stamp.get(&stamp_id) {
            return Ok(site.clone());
        }
        let stamp = stamp(store, stamp_id).await?;
        let spf_stamp_id = spf_stamp_id(clients, store, &stamp).await?;
        if self.sites.is_none() {
            self.sites = Some(self.engine.sites().await?);
        }
        let sites = self.sites.as_deref().unwrap_or_default();
        let site = site_for(sites, spf_stamp_id).ok_or_else(|| {
            Stop::Final(format!(
                "The vault has no site for stamp '{}' (VMM stamp {spf_stamp_id}): register its VMM server in the vault.",
                stamp.name
            ))
        })?;
        self.by_stamp.insert(stamp_id, site.id.clone());
        Ok(site.id.clone())
    }

    /// The engine's container of a cloud on a stored stamp.
    pub(crate) async fn container(
        &mut self,
        clients: &StampClients,
        store: &SharedStore,
        stamp_id: Uuid,
        cloud_id: Uuid,
    ) -> Result<Container, Stop> {
        let site = self.site_of(clients, store, stamp_id).await?;
        Ok(Container {
            id: cloud_id.to_string(),
            name: cloud_id.to_string(),
            site,
            paired: true,
        })
    }
}

/// The engine's reference to a VM protected from `container`.
pub(crate) fn item_ref(container: &Container, vm_id: Uuid) -> ItemRef {
    ItemRef {
        site: container.site.clone(),
        container: container.id.clone(),
        vm_id: vm_id.to_string(),
    }
}

/// An optional non-negative integer parameter, with its default.
pub(crate) fn u64_param(params: &Value, name: &str, default: u64) -> Result<u64, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(value) => value
            .as_u64()
            .or_else(|| value.as_str().and_then(|s| s.trim().parse().ok()))
            .ok_or_else(|| format!("{name} must be a non-negative whole number")),
    }
}

/// An optional boolean parameter, with its default.
pub(crate) fn bool_param(params: &Value, name: &str, default: bool) -> Result<bool, String> {
    match params.get(name) {
        None | Some(Value::Null) => Ok(default),
        Some(Value::Bool(b)) => Ok(*b),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(true),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(false),
        Some(_) => Err(format!("{name} must be true or false")),
    }
}
