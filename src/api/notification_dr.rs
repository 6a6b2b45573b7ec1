//! What WAP's subscription notifications mean for DR: which ones start `enable_dr` or
//! `disable_dr`, the LifecycleState WAP is answered with meanwhile, and how a retry of the same
//! request is told from a new change (so it starts nothing twice).
//!
//! The rules (flows 2 and 8 of the design):
//! - Active with DrEnabled → enable DR: `Provisioning` for a new (or re-created) subscription,
//!   `Updating` for a change; the run sets `Provisioned` or `OutOfSync`.
//! - Suspended → nothing starts or stops: protection keeps running.
//! - DrEnabled turned off, or deletion, with protection to release → disable DR (`Updating` or
//!   `Deleting`); the run ends in `Provisioned` or the `Deleted` tombstone.
//! - The same request again while its run is under way changes nothing and starts nothing; while
//!   its LifecycleState says work is under way and no run of it is (wapdr stopped between
//!   recording the change and starting the run, so WAP got no answer and re-sends it), it starts
//!   the run.

use axum::http::StatusCode;

use crate::domain::{DrPhase, LifecycleState, Subscription, SubscriptionId, SubscriptionState};
use crate::engine::{StartRequest, start_run};
use crate::store::RunFilter;
use crate::workflows::{DISABLE_DR, ENABLE_DR, disable_dr_params, enable_dr_params};

use super::AppState;
use super::error::ApiError;

/// What a notification asks of DR.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum DrAction {
    /// Nothing to start.
    None,
    /// Start (or re-run: it reconciles) enable DR.
    Enable,
    /// Start disable DR.
    Disable,
    /// Start enable DR unless a run of it is under way for the subscription: WAP re-sent a
    /// notification whose change is recorded as in progress (`Provisioning`, `Updating`).
    ResumeEnable,
    /// Start disable DR unless a run of it is under way (`Updating`, `Deleting`).
    ResumeDisable,
}

/// Whether a subscription has DR protection to release: a DR record not yet disabled that got as
/// far as a cloud pair (a mirror, networks or VMs may exist).
pub(super) async fn has_dr_to_release(
    state: &AppState,
    id: SubscriptionId,
) -> Result<bool, ApiError> {
    Ok(state
        .store
        .get_dr_subscription(id)
        .await?
        .is_some_and(|dr| dr.phase != DrPhase::Disabled && dr.pair_id.is_some()))
}

/// Whether two records ask the same of DR (state, quota and admins; the name does not matter).
fn same_for_dr(a: &Subscription, b: &Subscription) -> bool {
    a.state == b.state
        && a.admin_id == b.admin_id
        && a.co_admins == b.co_admins
        && a.quota == b.quota
}

/// Decides what `next` (the subscription with WAP's changes applied to `before`) asks of DR, and
/// sets its LifecycleState accordingly. `has_dr` says whether protection exists to release.
///
/// A request that changes nothing DR cares about keeps the LifecycleState as it was and starts
/// nothing (WAP retrying, or a rename), except WAP re-sending exactly the subscription whose
/// last operation ended `OutOfSync`: that is a retry of the failed operation, so it runs again.
pub(super) fn plan_dr(
    before: Option<&Subscription>,
    next: &mut Subscription,
    has_dr: bool,
) -> DrAction {
    let live_before = before.filter(|b| !b.is_deleted());
    if let Some(b) = live_before
        && same_for_dr(b, next)
        && !(b.name == next.name && b.lifecycle == LifecycleState::OutOfSync)
    {
        next.lifecycle = b.lifecycle;
        next.last_error = b.last_error.clone();
        // Work recorded as under way may have lost its run: a wapdr killed between saving the
        // change and starting the run left WAP without an answer, and this is WAP's re-send.
        let in_progress = matches!(
            b.lifecycle,
            LifecycleState::Provisioning | LifecycleState::Updating | LifecycleState::Deleting
        );
        let mut wanted = next.clone();
        return match (in_progress, requested(&mut wanted, live_before, has_dr)) {
            (true, DrAction::Enable) => DrAction::ResumeEnable,
            (true, DrAction::Disable) => DrAction::ResumeDisable,
            _ => DrAction::None,
        };
    }
    requested(next, live_before, has_dr)
}

/// What `next` asks of DR on its own (its state and DrEnabled), with its LifecycleState set.
fn requested(
    next: &mut Subscription,
    live_before: Option<&Subscription>,
    has_dr: bool,
) -> DrAction {
    let dr_enabled = next.effective_quota().is_ok_and(|q| q.dr_enabled);
    match next.state {
        SubscriptionState::DeletePending if has_dr => {
            next.lifecycle = LifecycleState::Deleting;
            DrAction::Disable
        }
        SubscriptionState::Active if dr_enabled => {
            next.lifecycle = if live_before.is_some() {
                LifecycleState::Updating
            } else {
                LifecycleState::Provisioning
            };
            DrAction::Enable
        }
        SubscriptionState::Active | SubscriptionState::Suspended if !dr_enabled && has_dr => {
            next.lifecycle = LifecycleState::Updating;
            DrAction::Disable
        }
        _ => DrAction::None,
    }
}

/// Starts the run an action asks for; the saved record's version is in the dedupe key, so a
/// later change (or a re-create after delete) starts a new run while a race on the same change
/// does not. A run that cannot start leaves the subscription `OutOfSync` with why.
pub(super) async fn start_dr(
    state: &AppState,
    action: DrAction,
    saved: &Subscription,
) -> Result<(), ApiError> {
    let (workflow, params) = match action {
        DrAction::None => return Ok(()),
        DrAction::Enable | DrAction::ResumeEnable => (ENABLE_DR, enable_dr_params(saved.id)),
        DrAction::Disable | DrAction::ResumeDisable => (DISABLE_DR, disable_dr_params(saved.id)),
    };
    let resume = matches!(action, DrAction::ResumeEnable | DrAction::ResumeDisable);
    if resume && run_under_way(state, saved.id, workflow).await? {
        return Ok(());
    }
    if resume {
        tracing::warn!(
            subscription_id = %saved.id,
            workflow,
            "a notification re-sent while its work is recorded as under way found no run doing it; starting it"
        );
    }
    let request = StartRequest {
        workflow: workflow.to_owned(),
        params,
        trigger: "api".to_owned(),
        started_by: "WAP notification".to_owned(),
        reason: Some(format!(
            "Subscription {} is {} with LifecycleState {}.",
            saved.id,
            saved.state.as_str(),
            saved.lifecycle.as_str()
        )),
        dedupe_key: Some(format!("{workflow}:{}:v{}", saved.id, saved.version)),
    };
    if let Err(err) = start_run(&state.store, &state.registry, request).await {
        tracing::error!(subscription_id = %saved.id, error = %err, "DR run could not start");
        let mut failed = saved.clone();
        failed.lifecycle = LifecycleState::OutOfSync;
        failed.last_error = Some(format!("The DR service could not start {workflow}: {err}"));
        let _ = state.store.save_subscription(&failed).await;
        return Err(ApiError::Internal(anyhow::anyhow!(
            "starting {workflow} failed: {err}"
        )));
    }
    Ok(())
}

/// Whether a run of `workflow` for subscription `id` has not ended yet.
async fn run_under_way(
    state: &AppState,
    id: SubscriptionId,
    workflow: &str,
) -> Result<bool, ApiError> {
    let runs = state
        .store
        .list_runs(&RunFilter {
            workflow: Some(workflow.to_owned()),
            subscription_id: Some(id.to_string()),
            ..RunFilter::default()
        })
        .await?;
    Ok(runs.iter().any(|run| !run.state.is_final()))
}

/// The status WAP is answered with: 202 while work remains, else `done`.
pub(super) fn status_for(sub: &Subscription, done: StatusCode) -> StatusCode {
    match sub.lifecycle {
        LifecycleState::Provisioning | LifecycleState::Updating | LifecycleState::Deleting => {
            StatusCode::ACCEPTED
        }
        _ => done,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{QuotaSetting, QuotaSources, SubscriptionChanges};

    fn sub(dr: bool, state: SubscriptionState) -> Subscription {
        let quota = QuotaSources::single(vec![QuotaSetting {
            key: "DrEnabled".into(),
            value: dr.to_string(),
        }]);
        Subscription::created(
            SubscriptionId::new_random(),
            SubscriptionChanges {
                state: Some(state),
                quota: Some(quota),
                ..SubscriptionChanges::default()
            },
        )
    }

    #[test]
    fn a_new_dr_subscription_is_provisioning_and_a_retry_starts_nothing() {
        let mut next = sub(true, SubscriptionState::Active);
        assert_eq!(plan_dr(None, &mut next, false), DrAction::Enable);
        assert_eq!(next.lifecycle, LifecycleState::Provisioning);
        // Re-sent while Provisioning: start_dr starts enable DR only if no run of it is alive.
        let mut again = next.clone();
        assert_eq!(
            plan_dr(Some(&next), &mut again, true),
            DrAction::ResumeEnable
        );
        assert_eq!(again.lifecycle, LifecycleState::Provisioning);
        let mut renamed = next.clone();
        renamed.name = "Platinum DR".into();
        assert_eq!(
            plan_dr(Some(&next), &mut renamed, true),
            DrAction::ResumeEnable
        );
        let mut done = next.clone();
        done.lifecycle = LifecycleState::Provisioned;
        let mut resent_done = done.clone();
        assert_eq!(plan_dr(Some(&done), &mut resent_done, true), DrAction::None);
        assert_eq!(resent_done.lifecycle, LifecycleState::Provisioned);
        let mut failed = next.clone();
        failed.lifecycle = LifecycleState::OutOfSync;
        let mut resent = failed.clone();
        assert_eq!(plan_dr(Some(&failed), &mut resent, true), DrAction::Enable);
        assert_eq!(resent.lifecycle, LifecycleState::Updating);
    }

    #[test]
    fn suspension_keeps_protection_and_deletion_releases_it() {
        let mut before = sub(true, SubscriptionState::Active);
        before.lifecycle = LifecycleState::Provisioned;
        let mut suspended = before.clone();
        suspended.state = SubscriptionState::Suspended;
        assert_eq!(plan_dr(Some(&before), &mut suspended, true), DrAction::None);
        let mut deleting = before.clone();
        deleting.state = SubscriptionState::DeletePending;
        assert_eq!(
            plan_dr(Some(&before), &mut deleting, true),
            DrAction::Disable
        );
        assert_eq!(deleting.lifecycle, LifecycleState::Deleting);
        let mut deleting_again = deleting.clone();
        assert_eq!(
            plan_dr(Some(&deleting), &mut deleting_again, true),
            DrAction::ResumeDisable
        );
        let mut off = sub(false, SubscriptionState::Active);
        off.id = before.id;
        assert_eq!(plan_dr(Some(&before), &mut off, true), DrAction::Disable);
        assert_eq!(off.lifecycle, LifecycleState::Updating);
        let mut off_never_on = sub(false, SubscriptionState::Active);
        assert_eq!(
            plan_dr(Some(&before), &mut off_never_on, false),
            DrAction::None
        );
        assert_eq!(off_never_on.lifecycle, LifecycleState::Provisioned);
    }
}
