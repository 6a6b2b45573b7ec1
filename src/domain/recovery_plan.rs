//! Recovery plans: the order in which a subscription's VMs fail over. A plan is ordered groups;
//! the VMs of a group fail over in parallel (up to the fabric's concurrency), a group starts
//! after the previous one is done and its delay has passed, and each group has actions run
//! before and after its VMs (a webhook, a runbook, or a manual step acknowledged through the
//! API). Every DR subscription has a default plan, kept in sync with its protected VMs by wapdr.
//!
//! This module holds the model and its validation: pure functions, no I/O. It never executes a
//! plan (the failover workflows do).

use std::collections::{BTreeMap, BTreeSet};

use time::OffsetDateTime;
use uuid::Uuid;

use super::{ProtectedVm, SubscriptionId, VmProtectionState};

/// The name of every subscription's default plan (reserved: no other plan may take it).
pub const DEFAULT_PLAN_NAME: &str = "Default";
/// The name of the default plan's one group.
pub const DEFAULT_GROUP_NAME: &str = "Group 1";
/// The longest plan or group name, in characters.
pub const MAX_NAME_CHARS: usize = 128;
/// The longest plan description, manual prompt or success body text, in characters.
pub const MAX_TEXT_CHARS: usize = 2048;
/// The longest a group may wait before it starts (one day).
pub const MAX_DELAY_SECONDS: u32 = 86_400;
/// The longest a webhook may run (one hour; ASR gives scripts 600 s).
pub const MAX_TIMEOUT_SECONDS: u32 = 3_600;
/// The longest webhook URL, in bytes.
pub const MAX_URL_BYTES: usize = 2048;

/// One recovery plan of a subscription.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecoveryPlan {
    /// The plan's id.
    pub id: Uuid,
    /// The subscription whose VMs it orders.
    pub subscription_id: SubscriptionId,
    /// Its name, unique within the subscription.
    pub name: String,
    /// What it is for.
    pub description: Option<String>,
    /// The groups, in the order they fail over.
    pub groups: Vec<Group>,
    /// Whether this is the subscription's default plan (kept in sync by wapdr).
    pub is_default: bool,
    /// The optimistic-concurrency version (0 before the first save).
    pub version: i64,
    /// When it last changed (the database clock).
    pub updated_at: OffsetDateTime,
}

/// One group of a plan: VMs that fail over together.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Group {
    /// Its name, unique within the plan.
    pub name: String,
    /// The primary VM ids of its VMs.
    pub vms: Vec<Uuid>,
    /// How long to wait after the previous group before this one starts.
    pub delay_seconds: u32,
    /// What runs before the group's VMs fail over, in order.
    pub pre_actions: Vec<Action>,
    /// What runs after the group's VMs have failed over, in order.
    pub post_actions: Vec<Action>,
}

/// A step run before or after a group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An HTTP webhook: POSTed to, succeeding when its answer passes the rule in time.
    Script(Webhook),
    /// One of wapdr's runbooks, by name.
    Runbook {
        /// The runbook's name.
        name: String,
    },
    /// A pause until an operator acknowledges the step through the API.
    Manual {
        /// What the operator is asked to do.
        prompt: String,
    },
}

impl Action {
    /// The kind's name on the wire (`Script`, `Runbook`, `Manual`).
    pub fn kind(&self) -> &'static str {
        match self {
            Self::Script(_) => "Script",
            Self::Runbook { .. } => "Runbook",
            Self::Manual { .. } => "Manual",
        }
    }
}

/// A webhook action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    /// The http(s) URL called.
    pub url: String,
    /// How long the call may take.
    pub timeout_seconds: u32,
    /// Which answers count as success.
    pub success: SuccessRule,
}

/// Which webhook answers count as success.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SuccessRule {
    /// The status codes that succeed; empty means any 2xx.
    pub status_codes: Vec<u16>,
    /// Text the answer's body must contain, if any.
    pub body_contains: Option<String>,
}

impl SuccessRule {
    /// Whether an answer with `status` and `body` passes the rule.
    pub fn accepts(&self, status: u16, body: &str) -> bool {
        let status_ok = if self.status_codes.is_empty() {
            (200..300).contains(&status)
        } else {
            self.status_codes.contains(&status)
        };
        status_ok
            && self
                .body_contains
                .as_deref()
                .is_none_or(|text| body.contains(text))
    }
}

/// What a plan's author wrote, before validation: the parts a caller may set.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanDraft {
    /// The name.
    pub name: String,
    /// The description.
    pub description: Option<String>,
    /// The groups, in order.
    pub groups: Vec<Group>,
}

/// Why a plan is refused; each message names the part at fault in the author's words.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct PlanError(pub String);

/// Checks a draft against the subscription's VM records and returns it trimmed.
///
/// Rules: a name of 1..=128 characters that is not the reserved default plan's; a description of
/// at most 2048; at least one group; group names present, at most 128 characters and unique
/// (ignoring case); a delay of at most a day; every VM one of the subscription's VM records and in
/// at most one group; webhooks with an absolute http(s) URL, a timeout of 1..=3600 s and status
/// codes of 100..=599; runbook names and manual prompts present. No limit on the number of groups,
/// VMs or actions.
pub fn validate_plan(draft: PlanDraft, known_vms: &BTreeSet<Uuid>) -> Result<PlanDraft, PlanError> {
    let name = draft.name.trim().to_owned();
    check_name("The plan's name", &name)?;
    if name.eq_ignore_ascii_case(DEFAULT_PLAN_NAME) {
        return Err(PlanError(format!(
            "The name '{DEFAULT_PLAN_NAME}' is reserved for the default plan that wapdr keeps; choose another."
        )));
    }
    let description = draft
        .description
        .map(|d| d.trim().to_owned())
        .filter(|d| !d.is_empty());
    if let Some(d) = &description {
        check_text("The plan's description", d)?;
    }
    if draft.groups.is_empty() {
        return Err(PlanError("A plan needs at least one group.".into()));
    }
    let mut group_names: BTreeMap<String, usize> = BTreeMap::new();
    let mut vm_groups: BTreeMap<Uuid, String> = BTreeMap::new();
    let mut groups = Vec::with_capacity(draft.groups.len());
    for (index, group) in draft.groups.into_iter().enumerate() {
        let group = validate_group(index, group, known_vms, &mut vm_groups)?;
        if let Some(first) = group_names.insert(group.name.to_lowercase(), index) {
            return Err(PlanError(format!(
                "Groups {} and {} are both named '{}'; group names must be unique.",
                first + 1,
                index + 1,
                group.name
            )));
        }
        groups.push(group);
    }
    Ok(PlanDraft {
        name,
        description,
        groups,
    })
}

fn validate_group(
    index: usize,
    group: Group,
    known_vms: &BTreeSet<Uuid>,
    vm_groups: &mut BTreeMap<Uuid, String>,
) -> Result<Group, PlanError> {
    let name = group.name.trim().to_owned();
    check_name(&format!("Group {}'s name", index + 1), &name)?;
    if group.delay_seconds > MAX_DELAY_SECONDS {
        return Err(PlanError(format!(
            "Group '{name}': a delay of {} seconds is too long; at most {MAX_DELAY_SECONDS} (one day).",
            group.delay_seconds
        )));
    }
    for vm in &group.vms {
        if !known_vms.contains(vm) {
            return Err(PlanError(format!(
                "Group '{name}': VM {vm} is not a VM of this subscription."
            )));
        }
        if let Some(other) = vm_groups.insert(*vm, name.clone()) {
            return Err(PlanError(if other == name {
                format!("Group '{name}' lists VM {vm} twice.")
            } else {
                format!(
                    "VM {vm} is in groups '{other}' and '{name}'; a VM may be in one group of a plan."
                )
            }));
        }
    }
    let pre_actions = validate_actions(&name, "pre-action", group.pre_actions)?;
    let post_actions = validate_actions(&name, "post-action", group.post_actions)?;
    Ok(Group {
        name,
        vms: group.vms,
        delay_seconds: group.delay_seconds,
        pre_actions,
        post_actions,
    })
}

fn validate_actions(
    group: &str,
    what: &str,
    actions: Vec<Action>,
) -> Result<Vec<Action>, PlanError> {
    actions
        .into_iter()
        .enumerate()
        .map(|(index, action)| {
            let at = format!("Group '{group}', {what} {}", index + 1);
            validate_action(&at, action)
        })
        .collect()
}

fn validate_action(at: &str, action: Action) -> Result<Action, PlanError> {
    match action {
        Action::Script(hook) => {
            let url = hook.url.trim().to_owned();
            check_webhook_url(at, &url)?;
            if !(1..=MAX_TIMEOUT_SECONDS).contains(&hook.timeout_seconds) {
                return Err(PlanError(format!(
                    "{at}: a timeout of {} seconds is out of range; use 1 to {MAX_TIMEOUT_SECONDS}.",
                    hook.timeout_seconds
                )));
            }
            if let Some(code) = hook
                .success
                .status_codes
                .iter()
                .find(|c| !(100..=599).contains(*c))
            {
                return Err(PlanError(format!(
                    "{at}: {code} is not an HTTP status code (100 to 599)."
                )));
            }
            let body_contains = hook.success.body_contains.filter(|t| !t.is_empty());
            if let Some(text) = &body_contains {
                check_text(&format!("{at}: the expected body text"), text)?;
            }
            Ok(Action::Script(Webhook {
                url,
                timeout_seconds: hook.timeout_seconds,
                success: SuccessRule {
                    status_codes: hook.success.status_codes,
                    body_contains,
                },
            }))
        }
        Action::Runbook { name } => {
            let name = name.trim().to_owned();
            check_name(&format!("{at}: the runbook's name"), &name)?;
            Ok(Action::Runbook { name })
        }
        Action::Manual { prompt } => {
            let prompt = prompt.trim().to_owned();
            if prompt.is_empty() {
                return Err(PlanError(format!(
                    "{at}: a manual step needs a prompt telling the operator what to do."
                )));
            }
            check_text(&format!("{at}: the prompt"), &prompt)?;
            Ok(Action::Manual { prompt })
        }
    }
}

fn check_name(what: &str, name: &str) -> Result<(), PlanError> {
    if name.is_empty() {
        return Err(PlanError(format!("{what} is required.")));
    }
    let chars = name.chars().count();
    if chars > MAX_NAME_CHARS {
        return Err(PlanError(format!(
            "{what} is {chars} characters long; at most {MAX_NAME_CHARS}."
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(PlanError(format!("{what} holds control characters.")));
    }
    Ok(())
}

fn check_text(what: &str, text: &str) -> Result<(), PlanError> {
    let chars = text.chars().count();
    if chars > MAX_TEXT_CHARS {
        return Err(PlanError(format!(
            "{what} is {chars} characters long; at most {MAX_TEXT_CHARS}."
        )));
    }
    Ok(())
}

/// Checks a webhook URL: absolute http or https, with a host, no credentials, no spaces.
fn check_webhook_url(at: &str, url: &str) -> Result<(), PlanError> {
    let bad = |why: &str| PlanError(format!("{at}: the webhook URL '{url}' {why}"));
    if url.is_empty() {
        return Err(PlanError(format!("{at}: a webhook needs a URL.")));
    }
    if url.len() > MAX_URL_BYTES {
        return Err(PlanError(format!(
            "{at}: the webhook URL is longer than {MAX_URL_BYTES} bytes."
        )));
    }
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(bad("holds spaces or control characters."));
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Err(bad("is not an absolute http:// or https:// URL."));
    };
    if !(scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https")) {
        return Err(bad("must use http or https."));
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or("");
    if authority.contains('@') {
        return Err(bad(
            "carries credentials; put a token in the path or query instead.",
        ));
    }
    let host = match authority.strip_prefix('[') {
        // An IPv6 literal: [::1]:8080.
        Some(v6) => match v6.split_once(']') {
            Some((addr, port)) if !addr.is_empty() => {
                check_port(port.strip_prefix(':'), &bad)?;
                addr
            }
            _ => return Err(bad("has a malformed IPv6 host.")),
        },
        None => {
            let (host, port) = match authority.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (authority, None),
            };
            check_port(port, &bad)?;
            host
        }
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    if !host_ok {
        return Err(bad("has no valid host."));
    }
    Ok(())
}

fn check_port(port: Option<&str>, bad: &impl Fn(&str) -> PlanError) -> Result<(), PlanError> {
    match port {
        None => Ok(()),
        Some(p) if p.parse::<u16>().is_ok_and(|p| p > 0) => Ok(()),
        Some(_) => Err(bad("has an invalid port.")),
    }
}

/// The default plan's groups for a subscription's VM records: one group with every `Protected`
/// VM, sorted by name (then id), no delay and no actions.
pub fn default_groups(vms: &[ProtectedVm]) -> Vec<Group> {
    let mut protected: Vec<&ProtectedVm> = vms
        .iter()
        .filter(|vm| vm.state == VmProtectionState::Protected)
        .collect();
    protected.sort_by(|a, b| a.name.cmp(&b.name).then(a.vm_id.cmp(&b.vm_id)));
    vec![Group {
        name: DEFAULT_GROUP_NAME.into(),
        vms: protected.into_iter().map(|vm| vm.vm_id).collect(),
        delay_seconds: 0,
        pre_actions: Vec::new(),
        post_actions: Vec::new(),
    }]
}

/// A new (unsaved) default plan for `subscription` holding its protected VMs.
pub fn default_plan(subscription: SubscriptionId, vms: &[ProtectedVm]) -> RecoveryPlan {
    RecoveryPlan {
        id: Uuid::new_v4(),
        subscription_id: subscription,
        name: DEFAULT_PLAN_NAME.into(),
        description: Some(
            "Every protected VM of the subscription, in one group; kept in sync by wapdr.".into(),
        ),
        groups: default_groups(vms),
        is_default: true,
        version: 0,
        updated_at: OffsetDateTime::UNIX_EPOCH,
    }
}

/// The name of the group a failover adds, last, for protected VMs its plan does not name.
pub const NOT_IN_PLAN_GROUP_NAME: &str = "Not in plan";

/// A plan as a failover of the subscription runs it: its groups in order with only the VMs that
/// are protected now (a group left without VMs keeps its delay and actions), then a last group
/// "Not in plan" with every protected VM the plan does not name — a failover moves the whole
/// subscription, the plan only orders it. Also returns the plan's VMs that are not protected
/// (excluded, unprotectable, gone), which the failover skips and reports.
pub fn plan_for_failover(groups: &[Group], protected: &[Uuid]) -> (Vec<Group>, Vec<Uuid>) {
    let protected_set: BTreeSet<Uuid> = protected.iter().copied().collect();
    let mut named = BTreeSet::new();
    let mut skipped = Vec::new();
    let mut run: Vec<Group> = groups
        .iter()
        .map(|group| {
            let mut group = group.clone();
            group.vms.retain(|vm| {
                named.insert(*vm);
                let keep = protected_set.contains(vm);
                if !keep {
                    skipped.push(*vm);
                }
                keep
            });
            group
        })
        .collect();
    let rest: Vec<Uuid> = protected
        .iter()
        .filter(|vm| !named.contains(vm))
        .copied()
        .collect();
    if !rest.is_empty() {
        run.push(Group {
            name: NOT_IN_PLAN_GROUP_NAME.into(),
            vms: rest,
            delay_seconds: 0,
            pre_actions: Vec::new(),
            post_actions: Vec::new(),
        });
    }
    (run, skipped)
}

#[cfg(test)]
#[path = "recovery_plan_tests.rs"]
mod tests;
