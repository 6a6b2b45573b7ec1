//! One heartbeat probe of a stamp: a cheap authenticated read of its SPF (the VMM stamps it
//! manages) and of its WAP admin API (its plans), and the replication engine asked whether it
//! knows the stamp's site; the three at once, each tried once and bounded by [`PROBE_BUDGET`].
//!
//! A probe never fails: what a service did not do is what the probe reports, in the words of
//! [`ServiceProbe`]. Nothing here decides a verdict (that is `domain::site_health`), and nothing
//! here may carry a secret into a message (fabric errors carry none).

use std::future::Future;
use std::time::{Duration, Instant};

use uuid::Uuid;

use crate::domain::{ServiceProbe, SiteProbe, SiteService, Stamp};
use crate::fabric::FabricError;
use crate::fabric::replication::Site;

use super::StampClients;
use super::stamp_clients::PROBE_TIMEOUT;
use super::stamp_verify::{discover_spf_stamp, site_for};

/// The longest one service's probe may take in all: a request's timeout, plus room for the
/// replication engine's token request on a cold start.
pub const PROBE_BUDGET: Duration = PROBE_TIMEOUT.saturating_add(Duration::from_secs(1));

/// What probing a stamp found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StampProbe {
    /// Each service's probe.
    pub probe: SiteProbe,
    /// The VMM stamp id SPF names for the stamp, when SPF answered with one.
    pub spf_stamp_id: Option<Uuid>,
}

/// Probes `stamp`'s SPF, WAP admin API and the replication engine at once through `clients`
/// (which should be [`StampClients::probes`]: one attempt, short timeouts).
pub async fn probe_stamp(clients: &StampClients, stamp: &Stamp) -> StampProbe {
    let (spf, wap_admin, sites) = tokio::join!(
        probe_spf(clients, stamp),
        probe_wap_admin(clients, stamp),
        read_sites(clients),
    );
    let (spf, found) = spf;
    let spf_stamp_id = stamp.spf_stamp_id.or(found);
    StampProbe {
        probe: SiteProbe {
            spf,
            wap_admin,
            replication: judge_sites(sites, spf_stamp_id),
        },
        spf_stamp_id: found,
    }
}

/// Runs `call` within [`PROBE_BUDGET`]; its result (or `None` when it ran out) and its latency.
async fn timed<T>(call: impl Future<Output = T>) -> (Option<T>, u64) {
    let started = Instant::now();
    let result = tokio::time::timeout(PROBE_BUDGET, call).await.ok();
    let latency = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
    (result, latency)
}

/// The probe of a service that did not answer within [`PROBE_BUDGET`].
fn out_of_time(service: SiteService, latency_ms: u64) -> ServiceProbe {
    ServiceProbe::unreachable(
        latency_ms,
        format!(
            "{} did not answer within {} seconds.",
            service.as_str(),
            PROBE_BUDGET.as_secs()
        ),
    )
}

/// The probe of a service whose call failed with `err`.
fn failed(latency_ms: u64, err: &FabricError) -> ServiceProbe {
    let message = err.to_string();
    match err {
        FabricError::Unreachable { .. } | FabricError::Timeout { .. } => {
            ServiceProbe::unreachable(latency_ms, message)
        }
        // wapdr's own settings are at fault: nothing says the site is gone.
        FabricError::InvalidConfiguration { .. } => ServiceProbe {
            ok: false,
            reachable: true,
            credentials_accepted: None,
            latency_ms,
            message,
        },
        FabricError::Unauthorized { .. } => ServiceProbe {
            ok: false,
            reachable: true,
            credentials_accepted: Some(false),
            latency_ms,
            message,
        },
        FabricError::Unavailable { .. } => ServiceProbe {
            ok: false,
            reachable: true,
            credentials_accepted: None,
            latency_ms,
            message,
        },
        _ => ServiceProbe {
            ok: false,
            reachable: true,
            credentials_accepted: Some(true),
            latency_ms,
            message,
        },
    }
}

/// SPF: lists the VMM stamps it manages (and so finds this stamp's).
async fn probe_spf(clients: &StampClients, stamp: &Stamp) -> (ServiceProbe, Option<Uuid>) {
    let spf = match clients.spf(stamp) {
        Ok(spf) => spf,
        Err(err) => return (failed(0, &err), None),
    };
    match timed(discover_spf_stamp(&spf, stamp)).await {
        (None, ms) => (out_of_time(SiteService::Spf, ms), None),
        (Some(Err(err)), ms) => (failed(ms, &err), None),
        (Some(Ok(Ok(id))), ms) => (
            ServiceProbe::answered(ms, format!("SPF answers and manages VMM stamp {id}.")),
            Some(id),
        ),
        // SPF answers; which VMM stamp is this one's is a setup question, not an outage.
        (Some(Ok(Err(message))), ms) => (ServiceProbe::answered(ms, message), None),
    }
}

/// The WAP admin API: lists the plans.
async fn probe_wap_admin(clients: &StampClients, stamp: &Stamp) -> ServiceProbe {
    let wap = match clients.wap_admin(stamp) {
        Ok(wap) => wap,
        Err(err) => return failed(0, &err),
    };
    match timed(wap.list_plans()).await {
        (None, ms) => out_of_time(SiteService::WapAdmin, ms),
        (Some(Err(err)), ms) => failed(ms, &err),
        (Some(Ok(plans)), ms) => ServiceProbe::answered(
            ms,
            format!("The WAP admin API answers with {} plan(s).", plans.len()),
        ),
    }
}

/// What asking the replication engine for its sites gave.
enum Sites {
    /// No engine is configured.
    NoEngine,
    /// The engine did not answer in time.
    OutOfTime(u64),
    /// The engine failed.
    Failed(u64, FabricError),
    /// The engine's sites.
    Found(u64, Vec<Site>),
}

async fn read_sites(clients: &StampClients) -> Sites {
    let Some(engine) = clients.replication() else {
        return Sites::NoEngine;
    };
    match timed(engine.sites()).await {
        (None, ms) => Sites::OutOfTime(ms),
        (Some(Err(err)), ms) => Sites::Failed(ms, err),
        (Some(Ok(sites)), ms) => Sites::Found(ms, sites),
    }
}

/// The replication engine's probe: it answered and knows the site of VMM stamp `spf_stamp_id`.
fn judge_sites(sites: Sites, spf_stamp_id: Option<Uuid>) -> ServiceProbe {
    let (ms, sites) = match sites {
        Sites::NoEngine => {
            return ServiceProbe {
                ok: false,
                reachable: false,
                credentials_accepted: None,
                latency_ms: 0,
                message: "No replication engine configured: add an [asr] section to wapdr's \
                          configuration."
                    .into(),
            };
        }
        Sites::OutOfTime(ms) => return out_of_time(SiteService::Replication, ms),
        Sites::Failed(ms, err) => return failed(ms, &err),
        Sites::Found(ms, sites) => (ms, sites),
    };
    let missing = |message: String| ServiceProbe {
        ok: false,
        reachable: true,
        credentials_accepted: Some(true),
        latency_ms: ms,
        message,
    };
    let Some(spf_stamp_id) = spf_stamp_id else {
        return missing(
            "The vault answers, but the stamp's site cannot be looked for until SPF names the \
             VMM stamp."
                .into(),
        );
    };
    match site_for(&sites, spf_stamp_id) {
        Some(site) => ServiceProbe::answered(
            ms,
            format!("The vault answers and knows site '{}'.", site.name),
        ),
        None => missing(format!(
            "The vault has no site for VMM stamp {spf_stamp_id}: register this stamp's VMM server \
             in the vault."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site(stamp: Uuid) -> Site {
        Site {
            id: "site-a".into(),
            name: "vmm-a".into(),
            stamp_id: stamp.to_string().to_uppercase(),
        }
    }

    #[test]
    fn the_engine_is_ok_only_when_it_knows_the_stamps_site() {
        let stamp = Uuid::new_v4();
        let found = judge_sites(Sites::Found(7, vec![site(stamp)]), Some(stamp));
        assert!(found.ok && found.reachable);
        assert_eq!(found.latency_ms, 7);
        let other = judge_sites(Sites::Found(7, vec![site(Uuid::new_v4())]), Some(stamp));
        assert!(!other.ok && other.reachable);
        assert!(other.message.contains("no site"), "{}", other.message);
        let unknown = judge_sites(Sites::Found(7, vec![site(stamp)]), None);
        assert!(!unknown.ok && unknown.reachable);
        assert!(!judge_sites(Sites::NoEngine, Some(stamp)).ok);
    }

    #[test]
    fn only_refused_broken_or_silent_connections_count_as_unreachable() {
        let unreachable = FabricError::Unreachable {
            service: "SPF stamp A".into(),
            url: "http://spf".into(),
            detail: "Connection refused".into(),
        };
        assert!(!failed(1, &unreachable).reachable);
        let silent = FabricError::Timeout {
            service: "SPF stamp A".into(),
            url: "http://spf".into(),
        };
        assert!(!failed(1, &silent).reachable);
        assert!(!out_of_time(SiteService::Spf, 5000).reachable);
        let rejected = FabricError::from_status("WAP admin API", "u", 401, None, None);
        let probe = failed(1, &rejected);
        assert!(probe.reachable && !probe.ok);
        assert_eq!(probe.credentials_accepted, Some(false));
        let busy = FabricError::from_status("WAP admin API", "u", 503, None, None);
        assert!(failed(1, &busy).reachable);
        let misconfigured = FabricError::InvalidConfiguration {
            service: "SPF".into(),
            detail: "CA bundle".into(),
        };
        assert!(failed(0, &misconfigured).reachable);
    }
}
