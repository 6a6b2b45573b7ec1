//! Recovery plans as they go on the wire (PascalCase JSON members, DataContract XML): the plan a
//! caller writes ([`PlanInput`], read tolerantly) and the plan wapdr answers with
//! ([`PlanView`], [`PlanList`]).
//!
//! An action is one object whose `Kind` says which members matter: `Script` (`Url`,
//! `TimeoutSeconds` — 300 when absent —, `SuccessStatusCodes` — any 2xx when empty —,
//! `SuccessBodyContains`), `Runbook` (`Runbook`) or `Manual` (`Prompt`).

use uuid::Uuid;

use crate::contract::{ContractError, FromWire, Node, Out, ToWire};
use crate::domain::{Action, Group, PlanDraft, RecoveryPlan, SuccessRule, Webhook};

use super::jobs::opt_time;

/// A webhook's timeout when the caller names none.
const DEFAULT_TIMEOUT_SECONDS: u32 = 300;

/// The body of `POST` and `PUT .../recovery-plans`.
pub struct PlanInput {
    /// The plan as written.
    pub draft: PlanDraft,
    /// The version the caller last read (a `PUT` with a stale one is refused); absent: any.
    pub version: Option<i64>,
}

impl FromWire for PlanInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let groups: Vec<GroupInput> = node.list(&["Groups"])?;
        Ok(Self {
            draft: PlanDraft {
                name: node.str_or_empty(&["Name"])?,
                description: node.optional_str(&["Description"])?,
                groups: groups.into_iter().map(|g| g.0).collect(),
            },
            version: node.optional_i64(&["Version"])?,
        })
    }
}

/// A group as written.
struct GroupInput(Group);

/// A non-negative number member that fits a `u32` (larger ones saturate, for validation to name).
fn seconds(node: &Node, name: &str) -> Result<Option<u32>, ContractError> {
    match node.optional_i64(&[name])? {
        None => Ok(None),
        Some(n) if n < 0 => Err(ContractError::member(name, format!("{n} is negative"))),
        Some(n) => Ok(Some(u32::try_from(n).unwrap_or(u32::MAX))),
    }
}

impl FromWire for GroupInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let vms = node
            .string_list(&["Vms"])?
            .iter()
            .enumerate()
            .map(|(index, text)| {
                Uuid::parse_str(text.trim()).map_err(|_| {
                    ContractError::new(format!("Vms[{index}]: '{text}' is not a VM id (a GUID)"))
                })
            })
            .collect::<Result<Vec<_>, _>>()?;
        let pre: Vec<ActionInput> = node.list(&["PreActions"])?;
        let post: Vec<ActionInput> = node.list(&["PostActions"])?;
        Ok(Self(Group {
            name: node.str_or_empty(&["Name"])?,
            vms,
            delay_seconds: seconds(node, "DelaySeconds")?.unwrap_or(0),
            pre_actions: pre.into_iter().map(|a| a.0).collect(),
            post_actions: post.into_iter().map(|a| a.0).collect(),
        }))
    }
}

/// An action as written.
struct ActionInput(Action);

impl FromWire for ActionInput {
    fn from_wire(node: &Node) -> Result<Self, ContractError> {
        node.expect_object()?;
        let kind = node.required_str(&["Kind"])?;
        let action = match kind.trim().to_ascii_lowercase().as_str() {
            "script" | "webhook" => {
                let status_codes = node
                    .string_list(&["SuccessStatusCodes"])?
                    .iter()
                    .map(|text| {
                        text.trim().parse::<u16>().map_err(|_| {
                            ContractError::member(
                                "SuccessStatusCodes",
                                format!("'{text}' is not an HTTP status code"),
                            )
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                Action::Script(Webhook {
                    url: node.str_or_empty(&["Url"])?,
                    timeout_seconds: seconds(node, "TimeoutSeconds")?
                        .unwrap_or(DEFAULT_TIMEOUT_SECONDS),
                    success: SuccessRule {
                        status_codes,
                        body_contains: node.optional_str(&["SuccessBodyContains"])?,
                    },
                })
            }
            "runbook" => Action::Runbook {
                name: node.str_or_empty(&["Runbook"])?,
            },
            "manual" => Action::Manual {
                prompt: node.str_or_empty(&["Prompt"])?,
            },
            _ => {
                return Err(ContractError::member(
                    "Kind",
                    format!("'{kind}' is not one of Script, Runbook, Manual"),
                ));
            }
        };
        Ok(Self(action))
    }
}

fn action_out(action: &Action) -> Out {
    let (hook, runbook, prompt) = match action {
        Action::Script(hook) => (Some(hook), None, None),
        Action::Runbook { name } => (None, Some(name.clone()), None),
        Action::Manual { prompt } => (None, None, Some(prompt.clone())),
    };
    Out::Obj(vec![
        ("Kind", Out::Str(action.kind().into())),
        ("Url", hook.map_or(Out::Null, |h| Out::Str(h.url.clone()))),
        (
            "TimeoutSeconds",
            hook.map_or(Out::Null, |h| Out::Int(h.timeout_seconds.into())),
        ),
        (
            "SuccessStatusCodes",
            hook.map_or(Out::Null, |h| Out::List {
                item: "int",
                items: h
                    .success
                    .status_codes
                    .iter()
                    .map(|c| Out::Int((*c).into()))
                    .collect(),
            }),
        ),
        (
            "SuccessBodyContains",
            hook.map_or(Out::Null, |h| Out::opt_str(&h.success.body_contains)),
        ),
        ("Runbook", Out::opt_str(&runbook)),
        ("Prompt", Out::opt_str(&prompt)),
    ])
}

fn actions_out(actions: &[Action]) -> Out {
    Out::List {
        item: "RecoveryPlanAction",
        items: actions.iter().map(action_out).collect(),
    }
}

fn group_out(group: &Group) -> Out {
    Out::Obj(vec![
        ("Name", Out::Str(group.name.clone())),
        ("DelaySeconds", Out::Int(group.delay_seconds.into())),
        (
            "Vms",
            Out::StrList(group.vms.iter().map(Uuid::to_string).collect()),
        ),
        ("PreActions", actions_out(&group.pre_actions)),
        ("PostActions", actions_out(&group.post_actions)),
    ])
}

/// One plan as the APIs show it.
pub struct PlanView(pub RecoveryPlan);

impl ToWire for PlanView {
    const XML_ROOT: &'static str = "RecoveryPlan";

    fn to_wire(&self) -> Out {
        plan_out(&self.0)
    }
}

fn plan_out(plan: &RecoveryPlan) -> Out {
    {
        Out::Obj(vec![
            ("Id", Out::Str(plan.id.to_string())),
            ("SubscriptionId", Out::Str(plan.subscription_id.to_string())),
            ("Name", Out::Str(plan.name.clone())),
            ("Description", Out::opt_str(&plan.description)),
            ("IsDefault", Out::Bool(plan.is_default)),
            (
                "Groups",
                Out::List {
                    item: "RecoveryPlanGroup",
                    items: plan.groups.iter().map(group_out).collect(),
                },
            ),
            ("Version", Out::Int(plan.version)),
            ("UpdatedAt", opt_time(Some(plan.updated_at))),
        ])
    }
}

/// A subscription's plans: the default plan first, then by name.
pub struct PlanList(pub Vec<RecoveryPlan>);

impl ToWire for PlanList {
    const XML_ROOT: &'static str = "RecoveryPlans";

    fn to_wire(&self) -> Out {
        Out::List {
            item: "RecoveryPlan",
            items: self.0.iter().map(plan_out).collect(),
        }
    }
}
