//! The notification endpoint: WAP's service management API tells wapdr about subscriptions of plans
//! and add-ons that include the DR service, and about quota changes.
//!
//! Registered as `http://HOST:PORT/notification`. Routes per `wap-contract.md` §2, plus the
//! `PUT`/`DELETE /subscriptions` form with the id in the body that Microsoft's sample RPs use.

use axum::extract::{Path, RawQuery, State};
use axum::http::StatusCode;
use tracing::instrument;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::contract::{
    QuotaUpdateBatch, QuotaUpdateResultBatch, ServiceQuotaSettingList, ServiceUsageSummary,
    SubscriptionList, Usage, WapError, WireSubscription,
};
use crate::domain::{
    DrQuota, LifecycleState, QuotaSources, Subscription, SubscriptionChanges, SubscriptionId,
};
use crate::store::{StoreError, SubscriptionFilter};

use super::AppState;
use super::error::ApiError;
use super::notification_dr::{DrAction, has_dr_to_release, plan_dr, start_dr, status_for};
use super::wire::{Negotiated, Reply, WapBody, bool_param};

/// How often a read-modify-write is retried when another request changed the row first.
const SAVE_ATTEMPTS: usize = 5;

/// The notification routes, relative to the endpoint's forwarding address.
pub fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(
            list_subscriptions,
            create_subscription,
            update_subscription_from_body,
            delete_subscription_from_body
        ))
        .routes(routes!(
            get_subscription,
            update_subscription,
            delete_subscription
        ))
        .routes(routes!(usage_summary))
        .routes(routes!(update_quota))
        .routes(routes!(default_quota))
}

/// `POST /subscriptions`: a subscription including the DR service was created (or re-created).
///
/// Idempotent: WAP may retry a create, so an existing subscription is updated, not refused.
#[utoipa::path(post, path = "/subscriptions", request_body = super::schemas::Subscription, responses((status = 201, description = "Recorded.", body = super::schemas::Subscription), (status = 202, description = "Recorded; DR work goes on (poll its LifecycleState).", body = super::schemas::Subscription)))]
#[instrument(skip_all, fields(subscription_id = %body.subscription_id), err(Debug))]
async fn create_subscription(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(body): WapBody<WireSubscription>,
) -> Result<Reply<WireSubscription>, ApiError> {
    let changes = changes_from(&body)?;
    let has_dr = has_dr_to_release(&state, body.subscription_id).await?;
    let mut action = DrAction::None;
    let saved = save_with_retry(&state, body.subscription_id, |existing| {
        let before = existing.clone();
        let mut next = match existing {
            Some(mut sub) if sub.is_deleted() => {
                sub.recreate(changes.clone());
                sub
            }
            Some(mut sub) => {
                sub.apply(changes.clone());
                sub
            }
            None => Subscription::created(body.subscription_id, changes.clone()),
        };
        action = plan_dr(before.as_ref(), &mut next, has_dr);
        Ok(Some(next))
    })
    .await?;
    start_dr(&state, action, &saved).await?;
    tracing::info!(
        state = saved.state.as_str(),
        lifecycle = saved.lifecycle.as_str(),
        "subscription recorded"
    );
    Ok(Reply::with_status(
        status_for(&saved, StatusCode::CREATED),
        format,
        wire_from(&saved),
    ))
}

/// `GET /subscriptions`: every subscription wapdr holds (tombstones excluded).
#[utoipa::path(get, path = "/subscriptions", responses((status = 200, description = "Every subscription.", body = Vec<super::schemas::Subscription>)))]
async fn list_subscriptions(
    State(state): State<AppState>,
    format: Negotiated,
) -> Result<Reply<SubscriptionList>, ApiError> {
    let mut all = Vec::new();
    let mut filter = SubscriptionFilter {
        limit: Some(1000),
        ..SubscriptionFilter::default()
    };
    loop {
        let page = state.store.list_subscriptions(&filter).await?;
        let done = page.len() < 1000;
        filter.after = page.last().map(|s| s.id);
        all.extend(page.iter().map(wire_from));
        if done {
            break;
        }
    }
    Ok(Reply::ok(format, SubscriptionList(all)))
}

/// `GET /subscriptions/{id}`: the subscription with its LifecycleState (WAP polls this).
#[utoipa::path(get, path = "/subscriptions/{id}", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "The subscription.", body = super::schemas::Subscription)))]
async fn get_subscription(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<WireSubscription>, ApiError> {
    let id = parse_id(&id)?;
    let sub = state
        .store
        .get_subscription(id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Ok(Reply::ok(format, wire_from(&sub)))
}

/// `PUT /subscriptions/{id}`: name, state (suspend, reactivate, delete pending), admins or quota changed.
#[utoipa::path(put, path = "/subscriptions/{id}", params(("id" = String, Path, description = "The subscription (a GUID).")), request_body = super::schemas::Subscription, responses((status = 200, description = "Updated.", body = super::schemas::Subscription), (status = 202, description = "Updated; DR work goes on.", body = super::schemas::Subscription)))]
async fn update_subscription(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
    WapBody(body): WapBody<WireSubscription>,
) -> Result<Reply<WireSubscription>, ApiError> {
    let id = parse_id(&id)?;
    if body.subscription_id != id {
        return Err(ApiError::BadRequest(format!(
            "The body's SubscriptionId {} does not match the path's {id}.",
            body.subscription_id
        )));
    }
    apply_update(state, format, body).await
}

/// `PUT /subscriptions` with the id in the body (sample-RP form).
#[utoipa::path(put, path = "/subscriptions", request_body = super::schemas::Subscription, responses((status = 200, description = "Updated.", body = super::schemas::Subscription), (status = 202, description = "Updated; DR work goes on.", body = super::schemas::Subscription)))]
async fn update_subscription_from_body(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(body): WapBody<WireSubscription>,
) -> Result<Reply<WireSubscription>, ApiError> {
    apply_update(state, format, body).await
}

#[instrument(skip_all, fields(subscription_id = %body.subscription_id), err(Debug))]
async fn apply_update(
    state: AppState,
    format: Negotiated,
    body: WireSubscription,
) -> Result<Reply<WireSubscription>, ApiError> {
    let id = body.subscription_id;
    let changes = changes_from(&body)?;
    let has_dr = has_dr_to_release(&state, id).await?;
    let mut action = DrAction::None;
    let saved = save_with_retry(&state, id, |existing| match existing {
        Some(mut sub) if !sub.is_deleted() => {
            let before = sub.clone();
            sub.apply(changes.clone());
            action = plan_dr(Some(&before), &mut sub, has_dr);
            Ok(Some(sub))
        }
        _ => Err(not_found(id)),
    })
    .await?;
    start_dr(&state, action, &saved).await?;
    tracing::info!(
        state = saved.state.as_str(),
        lifecycle = saved.lifecycle.as_str(),
        "subscription updated"
    );
    Ok(Reply::with_status(
        status_for(&saved, StatusCode::OK),
        format,
        wire_from(&saved),
    ))
}

/// `DELETE /subscriptions/{id}`: idempotent; an unknown or already deleted subscription is success.
#[utoipa::path(delete, path = "/subscriptions/{id}", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "Deleted.", body = super::schemas::Subscription), (status = 202, description = "Deleting; DR is being released.", body = super::schemas::Subscription)))]
async fn delete_subscription(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<WireSubscription>, ApiError> {
    let id = parse_id(&id)?;
    apply_delete(state, format, id).await
}

/// `DELETE /subscriptions` with the subscription in the body (sample-RP form).
#[utoipa::path(delete, path = "/subscriptions", request_body = super::schemas::Subscription, responses((status = 200, description = "Deleted.", body = super::schemas::Subscription), (status = 202, description = "Deleting; DR is being released.", body = super::schemas::Subscription)))]
async fn delete_subscription_from_body(
    State(state): State<AppState>,
    format: Negotiated,
    WapBody(body): WapBody<WireSubscription>,
) -> Result<Reply<WireSubscription>, ApiError> {
    apply_delete(state, format, body.subscription_id).await
}

#[instrument(skip_all, fields(subscription_id = %id), err(Debug))]
async fn apply_delete(
    state: AppState,
    format: Negotiated,
    id: SubscriptionId,
) -> Result<Reply<WireSubscription>, ApiError> {
    let has_dr = has_dr_to_release(&state, id).await?;
    let mut action = DrAction::None;
    let saved = save_with_retry(&state, id, |existing| match existing {
        // A delete already under way: WAP polls or repeats; answer 202 and start nothing.
        Some(sub) if sub.lifecycle == LifecycleState::Deleting => Ok(None),
        Some(mut sub) if !sub.is_deleted() && has_dr => {
            // Protection to release first: the run leaves the tombstone when done.
            sub.lifecycle = LifecycleState::Deleting;
            sub.last_error = None;
            action = DrAction::Disable;
            Ok(Some(sub))
        }
        Some(mut sub) if !sub.is_deleted() => {
            sub.mark_deleted();
            Ok(Some(sub))
        }
        // Nothing to do: already a tombstone, or never known here.
        _ => Ok(None),
    })
    .await;
    let sub = match saved {
        Ok(sub) => sub,
        Err(ApiError::NotFound(_)) => {
            let mut gone = Subscription::created(id, SubscriptionChanges::default());
            gone.mark_deleted();
            gone
        }
        Err(other) => return Err(other),
    };
    start_dr(&state, action, &sub).await?;
    tracing::info!(lifecycle = sub.lifecycle.as_str(), "subscription delete");
    Ok(Reply::with_status(
        status_for(&sub, StatusCode::OK),
        format,
        wire_from(&sub),
    ))
}

/// `GET /subscriptions/{id}/usagesummary`: what the subscription uses of its DR quota.
#[utoipa::path(get, path = "/subscriptions/{id}/usagesummary", params(("id" = String, Path, description = "The subscription (a GUID).")), responses((status = 200, description = "The usage.", body = super::schemas::ServiceUsageSummary)))]
async fn usage_summary(
    State(state): State<AppState>,
    format: Negotiated,
    Path(id): Path<String>,
) -> Result<Reply<ServiceUsageSummary>, ApiError> {
    let id = parse_id(&id)?;
    let sub = state
        .store
        .get_subscription(id)
        .await?
        .filter(|s| !s.is_deleted())
        .ok_or_else(|| not_found(id))?;
    let quota = sub.effective_quota()?;
    let counts = state.store.count_protected_vms(id).await?;
    let protected: u64 = crate::domain::VmProtectionState::ALL
        .into_iter()
        .filter(|s| s.counts_against_quota())
        .filter_map(|s| counts.get(s.as_str()))
        .sum();
    Ok(Reply::ok(
        format,
        ServiceUsageSummary {
            service_name: state.rp_name.to_string(),
            service_display_name: state.rp_display_name.to_string(),
            retrieved_successfully: true,
            error_message: None,
            usages: vec![Usage {
                display_name: "Protected virtual machines".into(),
                // What counts against MaxProtectedVms: protected or being protected.
                current_value: i64::try_from(protected).unwrap_or(i64::MAX),
                limit: quota.max_protected_vms.map_or(-1, i64::from),
                unit_display_name: "VMs".into(),
                group_id: None,
                group_display_name: None,
            }],
        },
    ))
}

/// `PUT /quota[?validateOnly=true]`: a plan's or add-on's quota changed, for a batch of subscriptions.
#[utoipa::path(put, path = "/quota", params(("validateOnly" = Option<bool>, Query, description = "true to check without saving.")), request_body = super::schemas::QuotaUpdateBatch, responses((status = 200, description = "The outcome; with validateOnly=true, the valid batch echoed back.", body = super::schemas::QuotaAnswer)))]
#[instrument(skip_all, fields(subscriptions = body.subscription_ids_to_update.len()), err(Debug))]
async fn update_quota(
    State(state): State<AppState>,
    format: Negotiated,
    RawQuery(query): RawQuery,
    WapBody(body): WapBody<QuotaUpdateBatch>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse as _;

    let validate_only = bool_param(query.as_deref(), "validateOnly")?.unwrap_or(false);
    let quota = QuotaSources {
        base: body.base_quota.clone(),
        add_ons: body.add_on_quotas.clone(),
    };
    quota.validate()?;
    if validate_only {
        return Ok(Reply::ok(format, body).into_response());
    }
    let mut updated = Vec::new();
    let mut failed = Vec::new();
    for id in &body.subscription_ids_to_update {
        if updated.contains(id) || failed.contains(&id.to_string()) {
            continue;
        }
        if requota(&state, *id, &quota).await? {
            updated.push(*id);
        } else {
            failed.push(id.to_string());
        }
    }
    let error = (!failed.is_empty()).then(|| {
        WapError::new(
            "SubscriptionNotFound",
            format!(
                "These subscriptions are not known to the DR service: {}.",
                failed.join(", ")
            ),
        )
    });
    tracing::info!(
        updated = updated.len(),
        failed = failed.len(),
        "quota updated"
    );
    Ok(Reply::ok(
        format,
        QuotaUpdateResultBatch {
            updated_subscription_ids: updated.iter().map(ToString::to_string).collect(),
            failed_subscription_ids: failed,
            error,
        },
    )
    .into_response())
}

/// Gives subscription `id` the quota `PUT /quota` sent and applies DR's rules to it, in one write
/// of the record: enable DR runs again (the quota applies to existing VMs), or disable DR when
/// DrEnabled turned off. A repeat of the same batch changes nothing and starts nothing, except
/// the run of a change recorded as under way that a crash kept from starting (WAP re-sends a
/// batch it got no answer for). False when the subscription is unknown or deleted.
async fn requota(
    state: &AppState,
    id: SubscriptionId,
    quota: &QuotaSources,
) -> Result<bool, ApiError> {
    let has_dr = has_dr_to_release(state, id).await?;
    let mut action = DrAction::None;
    let mut live = false;
    let saved = save_with_retry(state, id, |existing| match existing {
        Some(sub) if !sub.is_deleted() => {
            live = true;
            let mut next = sub.clone();
            let changed = next.quota != *quota;
            if changed {
                next.quota = quota.clone();
                next.lifecycle = LifecycleState::Provisioned;
                next.last_error = None;
            }
            action = plan_dr(Some(&sub), &mut next, has_dr);
            Ok(changed.then_some(next))
        }
        _ => {
            live = false;
            Ok(None)
        }
    })
    .await;
    match saved {
        Ok(saved) if live => start_dr(state, action, &saved).await.map(|()| true),
        Ok(_) | Err(ApiError::NotFound(_)) => Ok(false),
        Err(other) => Err(other),
    }
}

/// `GET /defaultquota`: the quota a new plan or add-on starts from.
#[utoipa::path(get, path = "/defaultquota", responses((status = 200, description = "The default quota.", body = Vec<super::schemas::QuotaSetting>)))]
async fn default_quota(format: Negotiated) -> Reply<ServiceQuotaSettingList> {
    Reply::ok(
        format,
        ServiceQuotaSettingList(DrQuota::default().to_settings()),
    )
}

/// Reads, changes and saves a subscription, retrying when another request changed it meanwhile.
/// `change` returns `None` when there is nothing to save; the stored row is returned as is then.
async fn save_with_retry<F>(
    state: &AppState,
    id: SubscriptionId,
    mut change: F,
) -> Result<Subscription, ApiError>
where
    F: FnMut(Option<Subscription>) -> Result<Option<Subscription>, ApiError>,
{
    for _ in 0..SAVE_ATTEMPTS {
        let existing = state.store.get_subscription(id).await?;
        let fallback = existing.clone();
        let Some(next) = change(existing)? else {
            return fallback.ok_or_else(|| not_found(id));
        };
        match state.store.save_subscription(&next).await {
            Ok(saved) => return Ok(saved),
            Err(StoreError::Conflict) => continue,
            Err(other) => return Err(other.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

fn changes_from(body: &WireSubscription) -> Result<SubscriptionChanges, ApiError> {
    let quota = (!body.quota_settings.is_empty())
        .then(|| QuotaSources::single(body.quota_settings.clone()));
    if let Some(quota) = &quota {
        // WAP validated this quota when the plan was saved; only values wapdr cannot use are
        // refused here, not keys it does not know (a newer wapdr may have added them).
        quota.effective()?;
    }
    Ok(SubscriptionChanges {
        name: body.subscription_name.clone(),
        state: body.state,
        admin_id: body.admin_id.clone(),
        co_admins: body.co_admin_ids.clone(),
        quota,
    })
}

/// The subscription as WAP sees it: QuotaSettings are the effective DR quota.
pub(super) fn wire_from(sub: &Subscription) -> WireSubscription {
    WireSubscription {
        subscription_id: sub.id,
        subscription_name: Some(sub.name.clone()),
        state: Some(sub.state),
        lifecycle_state: Some(sub.lifecycle),
        last_error_message: sub.last_error.clone(),
        quota_settings: sub
            .effective_quota()
            .map(|q| q.to_settings())
            .unwrap_or_default(),
        admin_id: Some(sub.admin_id.clone()),
        co_admin_ids: Some(sub.co_admins.clone()),
    }
}

pub(super) fn parse_id(text: &str) -> Result<SubscriptionId, ApiError> {
    SubscriptionId::parse(text).map_err(|e| ApiError::BadRequest(e.to_string()))
}

fn not_found(id: SubscriptionId) -> ApiError {
    ApiError::NotFound(format!("Subscription {id} is not known to the DR service."))
}
