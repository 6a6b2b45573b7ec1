//! The contract's state → allowed operations table (`schemas/fabric-http.md` §3, asr-model §2.2),
//! checked through wapdr's ASR client against the lab: in every state of the table, each operation
//! wapdr can request is accepted and succeeds when the table allows it (on a fresh VM in that
//! state each time, since doing it changes the state), and is refused with
//! [`FabricError::InvalidOperation`], changing nothing, when the table does not. Then the data-loss
//! difference between an unplanned failover without the source and a planned one.
//!
//! Every VM is created for the test on stamp A's Gold cloud (owned by a Gold tenant's user role),
//! and every state is reached through the client's own calls.

mod common;

use std::collections::HashSet;
use std::time::Duration;

use common::lab::{asr, set_knobs, set_outage, small_lab, spf};
use futures::future::join_all;
use serde_json::json;
use time::OffsetDateTime;
use uuid::Uuid;
use wapdr::fabric::replication::{
    Container, Direction, Ensured, InitialReplication, ItemRef, Location, Operation, OperationId,
    OperationState, Phase, PolicyRef, PolicySpec, ProtectionStatus, Site,
};
use wapdr::fabric::spf::{NewVm, Owner, VmQuery};
use wapdr::fabric::{AsrEngine, FabricError, ReplicationEngine as _, SpfClient};
use wapdr::lab::LabHandle;

const WAIT: Duration = Duration::from_secs(30);

/// Disk of the VMs the tests create: 2 GiB replicate in about 20 lab seconds at the default rate.
const SMALL_DISK: i64 = 2 << 30;

/// Every operation wapdr can request of a protected VM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Request {
    TestFailover,
    TestFailoverCleanup,
    PlannedFailover,
    UnplannedFailover,
    Commit,
    CancelFailover,
    ApplyRecoveryPoint,
    Reprotect,
    DisableProtection,
}

const EVERY_REQUEST: [Request; 9] = [
    Request::TestFailover,
    Request::TestFailoverCleanup,
    Request::PlannedFailover,
    Request::UnplannedFailover,
    Request::Commit,
    Request::CancelFailover,
    Request::ApplyRecoveryPoint,
    Request::Reprotect,
    Request::DisableProtection,
];

impl Request {
    /// The `allowedOperations` entry that permits it, in wapdr's words (`ChangePit` is
    /// [`Operation::ChangeRecoveryPoint`], `ReverseReplicate` is [`Operation::Reprotect`]).
    fn operation(self) -> Operation {
        match self {
            Request::TestFailover => Operation::TestFailover,
            Request::TestFailoverCleanup => Operation::TestFailoverCleanup,
            Request::PlannedFailover => Operation::PlannedFailover,
            Request::UnplannedFailover => Operation::UnplannedFailover,
            Request::Commit => Operation::Commit,
            Request::CancelFailover => Operation::CancelFailover,
            Request::ApplyRecoveryPoint => Operation::ChangeRecoveryPoint,
            Request::Reprotect => Operation::Reprotect,
            Request::DisableProtection => Operation::DisableProtection,
        }
    }
}

/// The states of the contract's table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    Enabling,
    Protected,
    TestFailoverRunning,
    PlannedFailoverDone,
    UnplannedFailoverDone,
    Committed,
}

impl State {
    /// The state's `allowedOperations` as the contract's table lists them.
    fn contract_allowed(self) -> HashSet<Operation> {
        use Operation as Op;
        let ops: &[Op] = match self {
            State::Enabling => &[Op::DisableProtection],
            State::Protected => &[
                Op::PlannedFailover,
                Op::UnplannedFailover,
                Op::TestFailover,
                Op::DisableProtection,
            ],
            State::TestFailoverRunning => &[Op::TestFailoverCleanup],
            State::PlannedFailoverDone | State::UnplannedFailoverDone => &[
                Op::Commit,
                Op::ChangeRecoveryPoint,
                Op::DisableProtection,
                Op::CompleteMigration,
                Op::Reprotect,
                Op::CancelFailover,
            ],
            State::Committed => &[Op::Reprotect, Op::DisableProtection],
        };
        ops.iter().cloned().collect()
    }

    /// The requests the table allows, in the order of [`EVERY_REQUEST`].
    fn allowed_requests(self) -> Vec<Request> {
        let allowed = self.contract_allowed();
        EVERY_REQUEST
            .into_iter()
            .filter(|r| allowed.contains(&r.operation()))
            .collect()
    }

    /// The requests the table refuses.
    fn refused_requests(self) -> Vec<Request> {
        let allowed = self.contract_allowed();
        EVERY_REQUEST
            .into_iter()
            .filter(|r| !allowed.contains(&r.operation()))
            .collect()
    }

    fn phase(self) -> Phase {
        match self {
            State::Enabling => Phase::Enabling,
            State::Protected => Phase::Protected,
            State::TestFailoverRunning => Phase::TestFailoverRunning,
            State::PlannedFailoverDone => Phase::FailedOver { planned: true },
            State::UnplannedFailoverDone => Phase::FailedOver { planned: false },
            State::Committed => Phase::Committed,
        }
    }

    fn active_location(self) -> Location {
        match self {
            State::Enabling | State::Protected | State::TestFailoverRunning => Location::Primary,
            _ => Location::Recovery,
        }
    }
}

/// The failover direction away from where the VM runs now.
fn away_from(active: Location) -> Direction {
    match active {
        Location::Primary => Direction::PrimaryToRecovery,
        Location::Recovery => Direction::RecoveryToPrimary,
    }
}

/// What a refused request must leave unchanged (replication times move on by themselves).
#[derive(Debug, PartialEq, Eq)]
struct Observed {
    phase: Phase,
    active_location: Location,
    allowed: Vec<Operation>,
    replica_vm_id: Option<String>,
    operation_in_progress: Option<String>,
}

fn observed(status: &ProtectionStatus) -> Observed {
    Observed {
        phase: status.phase,
        active_location: status.active_location,
        allowed: status.allowed.clone(),
        replica_vm_id: status.replica_vm_id.clone(),
        operation_in_progress: status.operation_in_progress.clone(),
    }
}

/// A VM in a state of the table, with a recovery point id for `ApplyRecoveryPoint`.
struct InState {
    item: ItemRef,
    point: String,
}

/// A small-world lab with stamp A's Gold cloud paired to stamp B's, and wapdr's clients.
struct Fixture {
    lab: LabHandle,
    engine: AsrEngine,
    spf_a: SpfClient,
    stamp_a: Uuid,
    site: Site,
    primary: Container,
    policy: PolicyRef,
    gold_a: Uuid,
    tenant: Uuid,
}

impl Fixture {
    async fn start(copy_frequency_seconds: u32) -> Self {
        let lab = small_lab().await;
        let engine = asr(&lab);
        let stamp_a = lab.stamps()[0].stamp_id;
        let stamp_b = lab.stamps()[1].stamp_id;
        let sites = engine.sites().await.unwrap();
        let site_of = |stamp: Uuid| {
            sites
                .iter()
                .find(|s| s.stamp_id.eq_ignore_ascii_case(&stamp.to_string()))
                .cloned()
                .unwrap_or_else(|| panic!("a site for stamp {stamp} in {sites:?}"))
        };
        let (site, site_b) = (site_of(stamp_a), site_of(stamp_b));
        let gold = |containers: Vec<Container>| {
            containers
                .into_iter()
                .find(|c| c.name.contains("Gold"))
                .expect("a Gold cloud")
        };
        let primary = gold(engine.containers(&site.id).await.unwrap());
        let recovery = gold(engine.containers(&site_b.id).await.unwrap());
        let policy = engine
            .ensure_policy(
                &format!("gold-{copy_frequency_seconds}s"),
                &PolicySpec {
                    copy_frequency_seconds,
                    recovery_points: 4,
                    app_consistent_frequency_hours: 1,
                    compression: true,
                    initial_replication: InitialReplication::OverNetwork,
                },
            )
            .await
            .unwrap();
        if let Ensured::Started(op) = engine
            .ensure_container_pairing(&primary, &recovery, &policy)
            .await
            .unwrap()
        {
            let status = engine.wait(&op, WAIT).await.unwrap();
            assert_eq!(
                status.state,
                OperationState::Succeeded,
                "pairing: {status:?}"
            );
        }

        let spf_a = spf(&lab, 0);
        let gold_a = spf_a
            .list_clouds(stamp_a)
            .await
            .unwrap()
            .into_iter()
            .find(|c| c.name.contains("Gold"))
            .expect("stamp A has a Gold cloud")
            .id;
        let tenant = spf_a
            .list_vms(&VmQuery {
                stamp_id: Some(stamp_a),
                cloud_id: Some(gold_a),
                ..VmQuery::default()
            })
            .await
            .unwrap()
            .iter()
            .find_map(|v| v.owner.as_ref()?.role_id)
            .expect("a tenant's user role owns the Gold VMs");
        Fixture {
            lab,
            engine,
            spf_a,
            stamp_a,
            site,
            primary,
            policy,
            gold_a,
            tenant,
        }
    }

    /// `count` new tenant VMs in stamp A's Gold cloud, running, not yet protected.
    async fn new_vms(&self, prefix: &str, count: usize, disk_bytes: i64) -> Vec<ItemRef> {
        let mut ids = Vec::new();
        for i in 0..count {
            let created = self
                .spf_a
                .create_vm(&NewVm {
                    id: None,
                    stamp_id: self.stamp_a,
                    cloud_id: self.gold_a,
                    name: format!("{prefix}-{i:02}"),
                    vm_id: None,
                    owner: Some(Owner {
                        user_name: None,
                        role_name: None,
                        role_id: Some(self.tenant),
                    }),
                    cpu_count: Some(1),
                    memory: Some(2048),
                    total_size: Some(disk_bytes),
                    tag: None,
                    description: None,
                    is_recovery_vm: None,
                    vm_network_ids: vec![],
                })
                .await
                .unwrap();
            ids.push(created.id);
        }
        for id in &ids {
            let deadline = tokio::time::Instant::now() + WAIT;
            loop {
                let vm = self
                    .spf_a
                    .get_vm(self.stamp_a, *id)
                    .await
                    .unwrap()
                    .expect("the new VM exists");
                if vm.status_string.as_deref() == Some("Running") {
                    break;
                }
                assert!(
                    tokio::time::Instant::now() < deadline,
                    "VM {id} never finished creating: {vm:?}"
                );
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
        ids.into_iter()
            .map(|id| ItemRef {
                site: self.site.id.clone(),
                container: self.primary.id.clone(),
                vm_id: id.to_string(),
            })
            .collect()
    }

    async fn status(&self, item: &ItemRef) -> Option<ProtectionStatus> {
        self.engine.protection_status(item).await.unwrap()
    }

    /// Polls the item's status until `done` holds.
    async fn status_until(
        &self,
        item: &ItemRef,
        what: &str,
        done: impl Fn(&Option<ProtectionStatus>) -> bool,
    ) -> Option<ProtectionStatus> {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let status = self.status(item).await;
            if done(&status) {
                return status;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "{} never reached {what}: {status:?}",
                item.vm_id
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Protects a VM and waits until initial replication has finished.
    async fn protect(&self, item: &ItemRef) {
        let op = self
            .engine
            .enable_protection(item, &self.policy)
            .await
            .unwrap();
        let status = self.engine.wait(&op, WAIT).await.unwrap();
        assert_eq!(
            status.state,
            OperationState::Succeeded,
            "enable: {status:?}"
        );
        self.status_until(item, "Protected", |s| {
            s.as_ref().is_some_and(|s| s.phase == Phase::Protected)
        })
        .await;
    }

    /// Sends `request` the way wapdr would (away from where the VM runs, source site available).
    async fn request(
        &self,
        item: &ItemRef,
        request: Request,
        point: &str,
    ) -> Result<OperationId, FabricError> {
        let way = away_from(
            self.status(item)
                .await
                .map_or(Location::Primary, |s| s.active_location),
        );
        let engine = &self.engine;
        match request {
            Request::TestFailover => engine.test_failover(item, way, None).await,
            Request::TestFailoverCleanup => engine.test_failover_cleanup(item, "state table").await,
            Request::PlannedFailover => engine.planned_failover(item, way).await,
            Request::UnplannedFailover => engine.unplanned_failover(item, way, true).await,
            Request::Commit => engine.commit(item).await,
            Request::CancelFailover => engine.cancel_failover(item).await,
            Request::ApplyRecoveryPoint => engine.apply_recovery_point(item, point).await,
            Request::Reprotect => engine.reprotect(item, way).await,
            Request::DisableProtection => engine.disable_protection(item).await,
        }
    }

    /// A setup step: `request` must be accepted and succeed.
    async fn run(&self, item: &ItemRef, request: Request) {
        let op = self
            .request(item, request, "")
            .await
            .unwrap_or_else(|e| panic!("setup {request:?} on {}: {e}", item.vm_id));
        let status = self.engine.wait(&op, WAIT).await.unwrap();
        assert_eq!(
            status.state,
            OperationState::Succeeded,
            "setup {request:?}: {status:?}"
        );
    }

    /// The id of the item's latest recovery point, if it has any.
    async fn latest_point(&self, item: &ItemRef) -> Option<String> {
        self.engine
            .recovery_points(item)
            .await
            .unwrap()
            .into_iter()
            .max_by_key(|p| p.time)
            .map(|p| p.id)
    }

    /// Takes a new VM into `state` (not `Enabling`) with the client's own calls.
    async fn bring_to(&self, item: ItemRef, state: State) -> InState {
        self.protect(&item).await;
        let mut seen = None;
        match state {
            State::Enabling => unreachable!("enabling is reached by Fixture::enabling"),
            State::Protected => {}
            State::TestFailoverRunning => self.run(&item, Request::TestFailover).await,
            State::PlannedFailoverDone => self.run(&item, Request::PlannedFailover).await,
            State::UnplannedFailoverDone => self.run(&item, Request::UnplannedFailover).await,
            State::Committed => {
                self.run(&item, Request::PlannedFailover).await;
                // Commit discards the points; keep one of the item's own for the refusal.
                seen = self.latest_point(&item).await;
                self.run(&item, Request::Commit).await;
            }
        }
        let point = match self.latest_point(&item).await.or(seen) {
            Some(point) => point,
            None => panic!("{state:?}: the item never had a recovery point"),
        };
        InState { item, point }
    }

    /// `count` new VMs taken into `state` in parallel.
    async fn vms_in(&self, state: State, count: usize) -> Vec<InState> {
        let prefix = format!("{state:?}").to_lowercase();
        let items = self.new_vms(&prefix, count, SMALL_DISK).await;
        join_all(items.into_iter().map(|item| self.bring_to(item, state))).await
    }

    async fn advance_clock(&self, seconds: f64) {
        let response = reqwest::Client::new()
            .post(format!("{}/lab/clock/advance", self.lab.control()))
            .json(&json!({ "seconds": seconds }))
            .send()
            .await
            .expect("control API");
        assert!(response.status().is_success(), "{}", response.status());
    }
}

/// Checks one row of the table. `vms` are in `state`, one per request the table allows; the first
/// also takes every request the table refuses. Returns the disagreements found.
async fn check_row(fx: &Fixture, state: State, vms: &[InState]) -> Vec<String> {
    let mut problems = Vec::new();
    let allowed = state.allowed_requests();
    assert_eq!(vms.len(), allowed.len(), "one VM per allowed request");

    for vm in vms {
        let status = fx.status(&vm.item).await.expect("protected");
        assert_eq!(
            (status.phase, status.active_location),
            (state.phase(), state.active_location()),
            "{state:?} reached through the client: {status:?}"
        );
    }
    let status = fx.status(&vms[0].item).await.expect("protected");
    let reported: HashSet<Operation> = status.allowed.iter().cloned().collect();
    if reported != state.contract_allowed() {
        problems.push(format!(
            "{state:?}: allowedOperations read through the client are {:?}, the contract lists {:?}",
            status.allowed,
            state.contract_allowed()
        ));
    }

    let first = &vms[0];
    for request in state.refused_requests() {
        let Some(before) = fx.status(&first.item).await else {
            problems.push(format!(
                "{state:?}: the item is no longer protected; {request:?} and the refusals after \
                 it were not checked"
            ));
            break;
        };
        let answer = fx.request(&first.item, request, &first.point).await;
        let after = fx.status(&first.item).await;
        match &answer {
            Err(FabricError::InvalidOperation { .. }) => {}
            Ok(op) => {
                let outcome = fx.engine.wait(op, WAIT).await.map(|s| s.state);
                problems.push(format!(
                    "{state:?}: {request:?} is not in the table's allowedOperations but was \
                     accepted (operation ended {outcome:?})"
                ));
            }
            Err(other) => problems.push(format!(
                "{state:?}: {request:?} was refused, but not with InvalidOperation: {other:?}"
            )),
        }
        match after {
            Some(after) if observed(&after) == observed(&before) => {}
            after => problems.push(format!(
                "{state:?}: the refused {request:?} changed the item: before {before:?}, after {after:?}"
            )),
        }
    }

    let mut started = Vec::new();
    for (vm, request) in vms.iter().zip(&allowed) {
        let Some(before) = fx.status(&vm.item).await else {
            problems.push(format!(
                "{state:?}: the VM for {request:?} is no longer protected; not checked"
            ));
            continue;
        };
        match fx.request(&vm.item, *request, &vm.point).await {
            Ok(op) => started.push((vm, *request, before, op)),
            Err(e) => problems.push(format!(
                "{state:?}: {request:?} is in the table's allowedOperations but was refused: {e}"
            )),
        }
    }
    let outcomes = join_all(started.iter().map(|(_, _, _, op)| fx.engine.wait(op, WAIT))).await;
    for ((vm, request, before, _), outcome) in started.iter().zip(outcomes) {
        let outcome = outcome.unwrap();
        if outcome.state != OperationState::Succeeded {
            problems.push(format!(
                "{state:?}: the allowed {request:?} was accepted but did not succeed: {outcome:?}"
            ));
            continue;
        }
        let after = fx.status(&vm.item).await;
        if let Err(e) = check_outcome(*request, before, after.as_ref()) {
            problems.push(format!("{state:?}: after {request:?}: {e}"));
        }
    }
    problems
}

/// The state an allowed request leads to (asr-model §3.1).
fn check_outcome(
    request: Request,
    before: &ProtectionStatus,
    after: Option<&ProtectionStatus>,
) -> Result<(), String> {
    let flipped = match before.active_location {
        Location::Primary => Location::Recovery,
        Location::Recovery => Location::Primary,
    };
    let (phases, location): (&[Phase], Location) = match request {
        Request::DisableProtection => {
            return match after {
                None => Ok(()),
                Some(after) => Err(format!("still protected: {after:?}")),
            };
        }
        Request::TestFailover => (&[Phase::TestFailoverRunning], before.active_location),
        Request::TestFailoverCleanup => (&[Phase::Protected], before.active_location),
        Request::PlannedFailover => (&[Phase::FailedOver { planned: true }], flipped),
        Request::UnplannedFailover => (&[Phase::FailedOver { planned: false }], flipped),
        Request::Commit => (&[Phase::Committed], before.active_location),
        // Rolled back: protected again where it ran before the failover.
        Request::CancelFailover => (&[Phase::Protected], flipped),
        Request::ApplyRecoveryPoint => (&[before.phase], before.active_location),
        // Protected in reverse, running where it runs (possibly resynchronising first).
        Request::Reprotect => (&[Phase::Protected, Phase::Enabling], before.active_location),
    };
    match after {
        Some(after) if phases.contains(&after.phase) && after.active_location == location => Ok(()),
        other => Err(format!(
            "expected {phases:?} at {location:?}, found {other:?}"
        )),
    }
}

fn assert_agrees(state: State, problems: Vec<String>) {
    assert!(
        problems.is_empty(),
        "the lab/client disagree with the contract's table in state {state:?}:\n  {}",
        problems.join("\n  ")
    );
}

/// Checks a row whose VMs are reached from an unprotected VM by [`Fixture::bring_to`].
async fn table_row(state: State) {
    let fx = Fixture::start(300).await;
    let vms = fx.vms_in(state, state.allowed_requests().len()).await;
    let problems = check_row(&fx, state, &vms).await;
    fx.lab.shutdown().await;
    assert_agrees(state, problems);
}

#[tokio::test]
async fn an_enabling_vm_allows_only_disabling_protection_and_refuses_the_rest() {
    let fx = Fixture::start(300).await;
    // A fully protected VM lends a genuine recovery point id: an enabling VM has none yet, and
    // ApplyRecoveryPoint must be refused for the state, not for a malformed point.
    let donor = fx.new_vms("donor", 1, SMALL_DISK).await.remove(0);
    let donor = fx.bring_to(donor, State::Protected).await;

    // Initial replication slowed down so far that it cannot finish during the test.
    set_knobs(
        &fx.lab,
        json!({ "initial_replication_bytes_per_second": 1.0 }),
    )
    .await;
    let item = fx.new_vms("enabling", 1, SMALL_DISK).await.remove(0);
    fx.engine
        .enable_protection(&item, &fx.policy)
        .await
        .unwrap();
    // Enabling and idle: the enable job's own step is over, initial replication runs on.
    let status = fx
        .status_until(&item, "Enabling with no operation in progress", |s| {
            s.as_ref()
                .is_some_and(|s| s.phase == Phase::Enabling && s.operation_in_progress.is_none())
        })
        .await
        .expect("protected");
    assert!(
        status.initial_replication_percent.unwrap_or(0) < 100,
        "initial replication still running: {status:?}"
    );

    let vms = [InState {
        item,
        point: donor.point,
    }];
    let problems = check_row(&fx, State::Enabling, &vms).await;
    fx.lab.shutdown().await;
    assert_agrees(State::Enabling, problems);
}

#[tokio::test]
async fn a_protected_vm_allows_failovers_drills_and_disabling_and_refuses_the_rest() {
    table_row(State::Protected).await;
}

#[tokio::test]
async fn a_vm_in_a_test_failover_allows_only_its_cleanup_and_refuses_the_rest() {
    table_row(State::TestFailoverRunning).await;
}

#[tokio::test]
async fn a_planned_failover_awaiting_commit_allows_commit_cancel_point_change_reprotect_and_disabling_only()
 {
    table_row(State::PlannedFailoverDone).await;
}

#[tokio::test]
async fn an_unplanned_failover_awaiting_commit_allows_commit_cancel_point_change_reprotect_and_disabling_only()
 {
    table_row(State::UnplannedFailoverDone).await;
}

#[tokio::test]
async fn a_committed_failover_allows_reprotect_and_disabling_and_refuses_the_rest() {
    table_row(State::Committed).await;
}

#[tokio::test]
async fn an_unplanned_failover_without_the_source_loses_what_was_not_replicated_a_planned_one_nothing()
 {
    // 15-minute copies: wide enough between cycles to change the primary and cut it off in one.
    let fx = Fixture::start(900).await;
    let vms = fx.new_vms("loss", 2, SMALL_DISK).await;
    join_all(vms.iter().map(|item| fx.protect(item))).await;
    let (planned, unplanned) = (&vms[0], &vms[1]);
    let vm_uuid = |item: &ItemRef| item.vm_id.parse::<Uuid>().unwrap();
    let last_change = |vm: wapdr::fabric::spf::Vm| -> OffsetDateTime {
        vm.modified_time.expect("SPF reports ModifiedTime")
    };

    // Planned: the primary changes, then the failover shuts it down and synchronises first.
    fx.spf_a
        .set_vm_tag(
            fx.stamp_a,
            vm_uuid(planned),
            "changed before the planned failover",
        )
        .await
        .unwrap();
    fx.run(planned, Request::PlannedFailover).await;
    let primary = fx
        .spf_a
        .get_vm(fx.stamp_a, vm_uuid(planned))
        .await
        .unwrap()
        .expect("the primary stays");
    let primary_last_change = last_change(primary);
    let status = fx.status(planned).await.unwrap();
    assert_eq!(status.phase, Phase::FailedOver { planned: true });
    let replicated = status.last_replicated.expect("last replicated time");
    assert!(
        replicated >= primary_last_change,
        "a planned failover loses nothing: last replicated {replicated} is before the \
         primary's last change {primary_last_change}"
    );
    let points = fx.engine.recovery_points(planned).await.unwrap();
    let latest = points
        .iter()
        .map(|p| p.time)
        .max()
        .expect("recovery points");
    assert!(
        latest >= primary_last_change,
        "the planned failover's latest recovery point {latest} is at or after the primary's \
         last change {primary_last_change}: {points:?}"
    );

    // Unplanned: wait for a fresh replication cycle, change the primary, cut stamp A off.
    let first = fx.status(unplanned).await.unwrap().last_replicated;
    let cycle = fx
        .status_until(unplanned, "a new replication cycle", |s| {
            s.as_ref().and_then(|s| s.last_replicated) > first
        })
        .await
        .and_then(|s| s.last_replicated)
        .expect("a replication cycle");
    tokio::time::sleep(Duration::from_millis(30)).await;
    fx.spf_a
        .set_vm_tag(fx.stamp_a, vm_uuid(unplanned), "never replicated")
        .await
        .unwrap();
    let primary = fx
        .spf_a
        .get_vm(fx.stamp_a, vm_uuid(unplanned))
        .await
        .unwrap()
        .expect("the primary");
    let primary_last_change = last_change(primary);
    set_outage(&fx.lab, "A", true).await;
    fx.advance_clock(1800.0).await;

    let op = fx
        .engine
        .unplanned_failover(unplanned, Direction::PrimaryToRecovery, false)
        .await
        .expect("an unplanned failover needs no source site");
    let outcome = fx.engine.wait(&op, WAIT).await.unwrap();
    assert_eq!(outcome.state, OperationState::Succeeded, "{outcome:?}");
    let status = fx.status(unplanned).await.unwrap();
    assert_eq!(status.phase, Phase::FailedOver { planned: false });
    assert_eq!(status.active_location, Location::Recovery);
    let replicated = status.last_replicated.expect("last replicated time");
    assert!(
        replicated < primary_last_change,
        "an unplanned failover loses what was not replicated: last replicated {replicated} is \
         not before the primary's last change {primary_last_change}"
    );
    assert_eq!(
        replicated, cycle,
        "nothing replicated after the cut, however much time passed"
    );
    let points = fx.engine.recovery_points(unplanned).await.unwrap();
    let latest = points
        .iter()
        .map(|p| p.time)
        .max()
        .expect("recovery points");
    assert!(
        latest < primary_last_change,
        "the latest recovery point {latest} misses the primary's last change \
         {primary_last_change}: {points:?}"
    );
    fx.lab.shutdown().await;
}
