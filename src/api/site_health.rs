//! The admin API's site health: every stamp's current heartbeat verdict, and one stamp's verdict
//! with each service's last probe and its probe history, newest first.
//!
//! Handlers only read what the `site_heartbeat` runbook recorded; they never probe a stamp (that
//! is `POST /admin/stamps/{id}/verify`). A stamp never probed shows the verdict `Unknown`.

use axum::extract::{Path, RawQuery, State};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::{Out, ToWire};
use crate::domain::{SiteHealth, SiteProbe, SiteProbeRecord, Stamp};

use super::AppState;
use super::error::ApiError;
use super::jobs::opt_time;
use super::setup::stamp_by_id;
use super::wire::{Negotiated, Reply, limit_param, query_param};

/// The verdict shown for a stamp the heartbeat has not probed yet.
pub const UNKNOWN_VERDICT: &str = "Unknown";

/// How many probes the history shows unless `limit` says otherwise.
const DEFAULT_HISTORY: u32 = 100;

/// The site-health routes, relative to `/admin`.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_site_health))
        .routes(routes!(stamp_health))
}

/// One stamp's current health on the wire (`None`: never probed).
pub struct StampHealthWire {
    stamp: Stamp,
    health: Option<SiteHealth>,
    history: Option<Vec<SiteProbeRecord>>,
}

/// Every stamp's current health.
pub struct SiteHealthList(Vec<StampHealthWire>);

/// Each service's probe, in report order.
fn services(probe: &SiteProbe) -> Out {
    Out::List {
        item: "ServiceProbe",
        items: probe
            .services()
            .iter()
            .map(|(service, p)| {
                Out::Obj(vec![
                    ("Service", Out::Str(service.as_str().into())),
                    ("Ok", Out::Bool(p.ok)),
                    ("Reachable", Out::Bool(p.reachable)),
                    (
                        "CredentialsAccepted",
                        p.credentials_accepted.map_or(Out::Null, Out::Bool),
                    ),
                    (
                        "LatencyMs",
                        Out::Int(i64::try_from(p.latency_ms).unwrap_or(i64::MAX)),
                    ),
                    ("Message", Out::Str(p.message.clone())),
                ])
            })
            .collect(),
    }
}

fn probe_to_wire(record: &SiteProbeRecord) -> Out {
    Out::Obj(vec![
        ("ProbedAt", Out::Time(record.probed_at)),
        ("Verdict", Out::Str(record.verdict.as_str().into())),
        (
            "ConsecutiveMisses",
            Out::Int(record.consecutive_misses.into()),
        ),
        ("Services", services(&record.probe)),
    ])
}

impl ToWire for StampHealthWire {
    const XML_ROOT: &'static str = "StampHealth";

    fn to_wire(&self) -> Out {
        let h = self.health.as_ref();
        let mut members = vec![
            ("StampId", Out::Str(self.stamp.id.to_string())),
            ("StampName", Out::Str(self.stamp.name.clone())),
            ("AutoFailover", Out::Bool(self.stamp.auto_failover)),
            (
                "Verdict",
                Out::Str(h.map_or(UNKNOWN_VERDICT, |h| h.verdict.as_str()).into()),
            ),
            (
                "PreviousVerdict",
                h.and_then(|h| h.previous_verdict)
                    .map_or(Out::Null, |v| Out::Str(v.as_str().into())),
            ),
            ("Since", opt_time(h.map(|h| h.since))),
            (
                "ConsecutiveMisses",
                Out::Int(h.map_or(0, |h| h.consecutive_misses).into()),
            ),
            ("LastProbeAt", opt_time(h.map(|h| h.last_probe_at))),
            (
                "Reason",
                h.map_or(Out::Null, |h| Out::Str(h.reason.clone())),
            ),
            (
                "Services",
                h.map_or(
                    Out::List {
                        item: "ServiceProbe",
                        items: Vec::new(),
                    },
                    |h| services(&h.last_probe),
                ),
            ),
        ];
        if let Some(history) = &self.history {
            members.push((
                "History",
                Out::List {
                    item: "Probe",
                    items: history.iter().map(probe_to_wire).collect(),
                },
            ));
        }
        Out::Obj(members)
    }
}

impl ToWire for SiteHealthList {
    const XML_ROOT: &'static str = "SiteHealth";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "StampHealth",
            items: self.0.iter().map(ToWire::to_wire).collect(),
        }
    }
}

/// `GET /admin/site-health`: every stamp's current verdict, by stamp name (`Unknown` for a stamp
/// never probed).
#[utoipa::path(get, path = "/site-health", responses((status = 200, description = "Every stamp's health.", body = Vec<super::schemas::StampHealth>)))]
async fn list_site_health(
    State(state): State<AppState>,
    format: Negotiated,
) -> Result<Reply<SiteHealthList>, ApiError> {
    let stamps = state.store.list_stamps().await?;
    let mut health = state.store.list_site_health().await?;
    let views = stamps
        .into_iter()
        .map(|stamp| {
            let found = health
                .iter()
                .position(|h| h.stamp_id == stamp.id)
                .map(|i| health.swap_remove(i));
            StampHealthWire {
                stamp,
                health: found,
                history: None,
            }
        })
        .collect();
    Ok(Reply::ok(format, SiteHealthList(views)))
}

/// `GET /admin/stamps/{id}/health[?limit=&since=]`: the stamp's current verdict with each
/// service's last probe, and its probes newest first (100 unless `limit`, 1..1000; only those at
/// or after `since`, an RFC 3339 time, when given). 400 for a bad parameter, 404 for an unknown
/// stamp.
#[utoipa::path(get, path = "/stamps/{id}/health", params(("id" = String, Path, description = "The stamp (its id, a GUID)."), ("limit" = Option<u32>, Query, description = "Page size, 1 to 1000."), ("since" = Option<String>, Query, description = "RFC 3339 time.")), responses((status = 200, description = "The stamp's health and its history.", body = super::schemas::StampHealth)))]
async fn stamp_health(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    RawQuery(query): RawQuery,
) -> Result<Reply<StampHealthWire>, ApiError> {
    let query = query.as_deref();
    let limit = limit_param(query)?.unwrap_or(DEFAULT_HISTORY);
    let since = query_param(query, "since")
        .map(|text| {
            OffsetDateTime::parse(text.trim(), &Rfc3339).map_err(|_| {
                ApiError::BadRequest(format!(
                    "since '{text}' is not an RFC 3339 time (2026-03-01T12:00:00Z)."
                ))
            })
        })
        .transpose()?;
    let stamp = stamp_by_id(&state, &id).await?;
    let health = state.store.get_site_health(stamp.id).await?;
    let history = state
        .store
        .site_probe_history(stamp.id, since, limit)
        .await?;
    Ok(Reply::ok(
        format,
        StampHealthWire {
            stamp,
            health,
            history: Some(history),
        },
    ))
}
