use super::*;

fn sub() -> SubscriptionId {
    SubscriptionId::parse("11111111-2222-3333-4444-555555555555").unwrap()
}

fn vm(name: &str, state: VmProtectionState) -> ProtectedVm {
    let mut vm = ProtectedVm::pending(
        sub(),
        Uuid::new_v4(),
        name.into(),
        Uuid::nil(),
        Uuid::nil(),
        Uuid::nil(),
    );
    vm.state = state;
    vm
}

fn group(name: &str, vms: &[Uuid]) -> Group {
    Group {
        name: name.into(),
        vms: vms.to_vec(),
        delay_seconds: 0,
        pre_actions: Vec::new(),
        post_actions: Vec::new(),
    }
}

fn hook(url: &str) -> Action {
    Action::Script(Webhook {
        url: url.into(),
        timeout_seconds: 60,
        success: SuccessRule::default(),
    })
}

fn draft(groups: Vec<Group>) -> PlanDraft {
    PlanDraft {
        name: "Web tier".into(),
        description: None,
        groups,
    }
}

fn refused(draft: PlanDraft, known: &BTreeSet<Uuid>) -> String {
    match validate_plan(draft, known) {
        Err(PlanError(message)) => message,
        Ok(plan) => panic!("expected a refusal, got {plan:?}"),
    }
}

#[test]
fn a_well_formed_plan_is_accepted_trimmed() {
    let (a, b) = (Uuid::new_v4(), Uuid::new_v4());
    let known = BTreeSet::from([a, b]);
    let mut first = group("  Databases ", &[a]);
    first.post_actions = vec![
        hook(" https://hooks.example.com:8443/check?x=1 "),
        Action::Manual {
            prompt: " Check replication lag ".into(),
        },
    ];
    let mut second = group("Web", &[b]);
    second.delay_seconds = 120;
    second.pre_actions = vec![Action::Runbook {
        name: "warm-caches".into(),
    }];
    let mut plan = draft(vec![first, second]);
    plan.name = " Web tier ".into();
    plan.description = Some("   ".into());
    let plan = validate_plan(plan, &known).unwrap();
    assert_eq!(plan.name, "Web tier");
    assert_eq!(plan.description, None);
    assert_eq!(plan.groups[0].name, "Databases");
    assert_eq!(
        plan.groups[0].post_actions,
        vec![
            hook("https://hooks.example.com:8443/check?x=1"),
            Action::Manual {
                prompt: "Check replication lag".into()
            }
        ]
    );
    assert_eq!(plan.groups[1].delay_seconds, 120);
}

#[test]
fn names_are_required_bounded_and_not_the_default_plans() {
    let known = BTreeSet::new();
    let mut plan = draft(vec![group("g", &[])]);
    plan.name = " ".into();
    assert_eq!(
        refused(plan.clone(), &known),
        "The plan's name is required."
    );
    plan.name = "x".repeat(MAX_NAME_CHARS + 1);
    assert!(refused(plan.clone(), &known).contains("at most 128"));
    plan.name = "x".repeat(MAX_NAME_CHARS);
    assert!(validate_plan(plan.clone(), &known).is_ok());
    plan.name = "default".into();
    assert!(refused(plan.clone(), &known).contains("reserved for the default plan"));
    plan.name = "ok".into();
    plan.description = Some("d".repeat(MAX_TEXT_CHARS + 1));
    assert!(refused(plan, &known).contains("description"));
}

#[test]
fn a_plan_needs_a_group_and_group_names_are_unique_and_present() {
    let known = BTreeSet::new();
    assert_eq!(
        refused(draft(Vec::new()), &known),
        "A plan needs at least one group."
    );
    assert_eq!(
        refused(draft(vec![group("a", &[]), group(" ", &[])]), &known),
        "Group 2's name is required."
    );
    let message = refused(draft(vec![group("Web", &[]), group("web", &[])]), &known);
    assert!(message.contains("Groups 1 and 2"), "{message}");
}

#[test]
fn a_vm_must_be_the_subscriptions_and_in_one_group_only() {
    let (a, stranger) = (Uuid::new_v4(), Uuid::new_v4());
    let known = BTreeSet::from([a]);
    let message = refused(draft(vec![group("g", &[stranger])]), &known);
    assert!(message.contains(&stranger.to_string()), "{message}");
    assert!(
        message.contains("not a VM of this subscription"),
        "{message}"
    );
    let message = refused(draft(vec![group("g", &[a, a])]), &known);
    assert!(message.contains("twice"), "{message}");
    let message = refused(draft(vec![group("g", &[a]), group("h", &[a])]), &known);
    assert!(message.contains("groups 'g' and 'h'"), "{message}");
}

#[test]
fn delays_and_timeouts_are_bounded() {
    let known = BTreeSet::new();
    let mut slow = group("g", &[]);
    slow.delay_seconds = MAX_DELAY_SECONDS + 1;
    assert!(refused(draft(vec![slow.clone()]), &known).contains("too long"));
    slow.delay_seconds = MAX_DELAY_SECONDS;
    assert!(validate_plan(draft(vec![slow]), &known).is_ok());
    for timeout in [0, MAX_TIMEOUT_SECONDS + 1] {
        let mut g = group("g", &[]);
        g.pre_actions = vec![Action::Script(Webhook {
            url: "http://h/".into(),
            timeout_seconds: timeout,
            success: SuccessRule::default(),
        })];
        let message = refused(draft(vec![g]), &known);
        assert!(message.starts_with("Group 'g', pre-action 1:"), "{message}");
        assert!(message.contains("timeout"), "{message}");
    }
}

#[test]
fn webhook_urls_must_be_absolute_http_or_https_with_a_host() {
    let known = BTreeSet::new();
    for bad in [
        "",
        "hooks.example.com/x",
        "ftp://hooks.example.com/x",
        "http:///x",
        "http://user:secret@hooks.example.com/",
        "http://hooks example.com/",
        "https://hooks.example.com:99999/",
        "http://[::1/",
    ] {
        let mut g = group("g", &[]);
        g.post_actions = vec![hook(bad)];
        assert!(validate_plan(draft(vec![g]), &known).is_err(), "{bad}");
    }
    for good in [
        "http://localhost:8080/hook",
        "HTTPS://hooks.example.com",
        "http://[::1]:9000/x?y=z",
        "http://10.0.0.5/run#frag",
    ] {
        let mut g = group("g", &[]);
        g.post_actions = vec![hook(good)];
        assert!(validate_plan(draft(vec![g]), &known).is_ok(), "{good}");
    }
}

#[test]
fn success_rules_runbooks_and_prompts_are_checked() {
    let known = BTreeSet::new();
    let mut g = group("g", &[]);
    g.pre_actions = vec![Action::Script(Webhook {
        url: "http://h/".into(),
        timeout_seconds: 5,
        success: SuccessRule {
            status_codes: vec![200, 700],
            body_contains: None,
        },
    })];
    assert!(refused(draft(vec![g]), &known).contains("700 is not an HTTP status code"));
    let mut g = group("g", &[]);
    g.pre_actions = vec![Action::Runbook { name: " ".into() }];
    assert!(refused(draft(vec![g]), &known).contains("runbook's name is required"));
    let mut g = group("g", &[]);
    g.post_actions = vec![Action::Manual { prompt: "".into() }];
    assert!(refused(draft(vec![g]), &known).contains("needs a prompt"));
}

#[test]
fn a_success_rule_checks_status_and_body() {
    let any_2xx = SuccessRule::default();
    assert!(any_2xx.accepts(204, ""));
    assert!(!any_2xx.accepts(302, ""));
    let strict = SuccessRule {
        status_codes: vec![202],
        body_contains: Some("\"ok\":true".into()),
    };
    assert!(strict.accepts(202, "{\"ok\":true}"));
    assert!(!strict.accepts(200, "{\"ok\":true}"));
    assert!(!strict.accepts(202, "{\"ok\":false}"));
}

#[test]
fn ten_thousand_vms_make_a_valid_plan() {
    let vms: Vec<Uuid> = (0..10_000).map(|_| Uuid::new_v4()).collect();
    let known: BTreeSet<Uuid> = vms.iter().copied().collect();
    let groups = vms
        .chunks(1000)
        .enumerate()
        .map(|(i, chunk)| group(&format!("Wave {i}"), chunk))
        .collect();
    let plan = validate_plan(draft(groups), &known).unwrap();
    assert_eq!(
        plan.groups.iter().map(|g| g.vms.len()).sum::<usize>(),
        10_000
    );
}

#[test]
fn the_default_plan_holds_every_protected_vm_sorted_by_name() {
    let vms = vec![
        vm("web", VmProtectionState::Protected),
        vm("db", VmProtectionState::Protected),
        vm("build", VmProtectionState::Excluded),
        vm("app", VmProtectionState::Enabling),
        vm("cache", VmProtectionState::Protected),
    ];
    let plan = default_plan(sub(), &vms);
    assert!(plan.is_default);
    assert_eq!(plan.name, DEFAULT_PLAN_NAME);
    assert_eq!(plan.groups.len(), 1);
    assert_eq!(
        plan.groups[0].vms,
        vec![vms[4].vm_id, vms[1].vm_id, vms[0].vm_id]
    );
    assert!(default_groups(&[])[0].vms.is_empty());
}

#[test]
fn a_failover_runs_the_plans_protected_vms_in_order_and_the_rest_last() {
    let ids: Vec<Uuid> = (0..5).map(|_| Uuid::new_v4()).collect();
    let mut databases = group("Databases", &ids[0..2]);
    databases.pre_actions.push(Action::Manual {
        prompt: "Stop the app tier".into(),
    });
    let emptied = group("Old", &ids[2..3]);
    let plan = [databases, emptied];
    // ids[2] is no longer protected; ids[3] and ids[4] are protected but not in the plan.
    let protected = [ids[0], ids[1], ids[3], ids[4]];
    let (run, skipped) = plan_for_failover(&plan, &protected);
    assert_eq!(skipped, vec![ids[2]]);
    assert_eq!(
        run.iter().map(|g| g.name.as_str()).collect::<Vec<_>>(),
        ["Databases", "Old", NOT_IN_PLAN_GROUP_NAME]
    );
    assert_eq!(run[0].vms, ids[0..2].to_vec());
    assert_eq!(run[0].pre_actions.len(), 1, "actions stay with their group");
    assert!(run[1].vms.is_empty(), "an emptied group keeps its place");
    assert_eq!(run[2].vms, vec![ids[3], ids[4]]);
    let (whole, _) = plan_for_failover(&[group("All", &protected)], &protected);
    assert_eq!(
        whole.len(),
        1,
        "no extra group when the plan names every VM"
    );
}
