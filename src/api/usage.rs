//! The usage endpoint: WAP's usage collector pulls metering records by EventId.
//!
//! Registered as `http://HOST:PORT/`, so the collector calls `GET /usage?lastID=&batchSize=`.
//! `lastID` is also the acknowledgement: the collector holds every record up to it.

use axum::extract::{RawQuery, State};
use tracing::instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::UsageRecordList;

use super::AppState;
use super::error::ApiError;
use super::wire::{Negotiated, Reply, query_param};

/// Records per call when the collector does not say.
const DEFAULT_BATCH: i64 = 100;
/// Records per call at most, whatever the collector asks (fewer is allowed by the contract).
const MAX_BATCH: i64 = 5000;
/// The largest `lastID` accepted. An acknowledgement lifts the EventId counter past it (so records
/// stay visible after a database restore); ids near `i64::MAX` would leave no room for new records,
/// and no real collector can have seen them.
const MAX_LAST_ID: i64 = 1 << 62;

/// The usage route, relative to the endpoint's forwarding address.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(usage_records))
}

/// `GET /usage?lastID=&batchSize=`: up to batchSize records after lastID, oldest first.
#[utoipa::path(get, path = "/usage", params(("lastID" = Option<i64>, Query, description = "The last EventId the collector holds (acknowledges it)."), ("batchSize" = Option<i64>, Query, description = "Records wanted (at most 5000).")), responses((status = 200, description = "Records after lastID, oldest first.", body = Vec<super::schemas::UsageRecord>)))]
#[instrument(skip_all, err(Debug))]
async fn usage_records(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
) -> Result<Reply<UsageRecordList>, ApiError> {
    let last_id = integer_param(query.as_deref(), "lastID")?
        .unwrap_or(0)
        .max(0);
    if last_id > MAX_LAST_ID {
        return Err(ApiError::BadRequest(format!(
            "lastID {last_id} is beyond any EventId wapdr issues (at most {MAX_LAST_ID})."
        )));
    }
    let batch = integer_param(query.as_deref(), "batchSize")?.unwrap_or(DEFAULT_BATCH);
    if batch < 0 {
        return Err(ApiError::BadRequest(format!(
            "batchSize must not be negative, not {batch}."
        )));
    }
    if last_id > 0 {
        state.store.acknowledge_usage(last_id).await?;
    }
    let batch = u32::try_from(batch.min(MAX_BATCH)).unwrap_or(0);
    let records = state.store.usage_after(last_id, batch).await?;
    tracing::debug!(last_id, returned = records.len(), "usage served");
    Ok(Reply::ok(format, UsageRecordList(records)))
}

fn integer_param(query: Option<&str>, name: &str) -> Result<Option<i64>, ApiError> {
    match query_param(query, name) {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => {
            text.trim().parse::<i64>().map(Some).map_err(|_| {
                ApiError::BadRequest(format!("{name} must be an integer, not '{text}'."))
            })
        }
    }
}
