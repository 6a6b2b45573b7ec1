//! Recovery plans through the admin and tenant APIs on SQLite and PostgreSQL: create, read,
//! replace and delete; every validation rule answers 400 with a message naming the fault and
//! changes nothing; tenants write only with `SelfService` `Full` on an active subscription and
//! strangers see nothing; and the default plan appears when DR is enabled on the lab, holding
//! every protected VM, and loses a VM when it is excluded.

mod common;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::domain::{SubscriptionState, VmProtectionState};

use common::app::Backend;
use common::dr::{
    add_vms, admin, gold_world, new_tenant, notification_body, notify_create, records,
    settled_lifecycle, until_all,
};
use common::dr_api::*;

on_both_backends!(
    the_provider_creates_reads_replaces_and_deletes_a_plan,
    each_validation_rule_is_a_400_that_changes_nothing,
    the_default_plan_cannot_be_edited_or_deleted,
    a_tenant_with_full_self_service_edits_plans_others_only_read_them,
    the_default_plan_holds_every_protected_vm_after_enablement_and_drops_an_excluded_one,
);

fn plans(sub: impl std::fmt::Display) -> String {
    format!("/subscriptions/{sub}/recovery-plans")
}

fn tiered(db: Uuid, web: Uuid) -> Value {
    json!({
        "Name": "Tiered",
        "Description": "Databases first",
        "Groups": [
            {"Name": "Databases", "Vms": [db.to_string()], "PostActions": [
                {"Kind": "Script", "Url": "https://hooks.example.com/check", "TimeoutSeconds": 60,
                 "SuccessStatusCodes": [200, 204], "SuccessBodyContains": "ok"},
                {"Kind": "Manual", "Prompt": "Check the databases"}
            ]},
            {"Name": "Web", "Vms": [web.to_string()], "DelaySeconds": 30,
             "PreActions": [{"Kind": "Runbook", "Runbook": "replication-health"}]}
        ]
    })
}

async fn the_provider_creates_reads_replaces_and_deletes_a_plan(backend: Backend) {
    let Some(w) = world(backend, &[], false).await else {
        return;
    };
    let db = w.vm("db", VmProtectionState::Protected, |_| {}).await;
    let web = w.vm("web", VmProtectionState::Protected, |_| {}).await;

    let (status, created) = w
        .admin(Method::POST, &plans(w.sub), Some(tiered(db, web)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(created["Name"], "Tiered");
    assert_eq!(created["IsDefault"], false);
    assert_eq!(created["Version"], 1);
    assert_eq!(created["Groups"][0]["Vms"], json!([db.to_string()]));
    let hook = &created["Groups"][0]["PostActions"][0];
    assert_eq!(hook["Kind"], "Script");
    assert_eq!(hook["SuccessStatusCodes"], json!([200, 204]));
    assert_eq!(
        created["Groups"][0]["PostActions"][1]["Prompt"],
        "Check the databases"
    );
    assert_eq!(created["Groups"][1]["DelaySeconds"], 30);
    assert_eq!(
        created["Groups"][1]["PreActions"][0]["Runbook"],
        "replication-health"
    );
    let id = created["Id"].as_str().unwrap().to_owned();
    let one = format!("{}/{id}", plans(w.sub));

    let (status, read) = w.admin(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read, created);
    let (_, listed) = w.admin(Method::GET, &plans(w.sub), None).await;
    assert_eq!(listed.as_array().unwrap().len(), 1);

    // The same name again is a conflict, whatever its case.
    let mut again = tiered(db, web);
    again["Name"] = json!("TIERED");
    let (status, body) = w.admin(Method::POST, &plans(w.sub), Some(again)).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    assert!(
        body["Message"].as_str().unwrap().contains("already has"),
        "{body}"
    );

    // Replacing with a stale version is refused; with the current one it is applied.
    let mut flat = json!({"Name": "Flat", "Groups": [{"Name": "All", "Vms": [web.to_string(), db.to_string()]}]});
    flat["Version"] = json!(7);
    let (status, body) = w.admin(Method::PUT, &one, Some(flat.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT, "{body}");
    flat["Version"] = json!(1);
    let (status, replaced) = w.admin(Method::PUT, &one, Some(flat)).await;
    assert_eq!(status, StatusCode::OK, "{replaced}");
    assert_eq!(replaced["Name"], "Flat");
    assert_eq!(replaced["Version"], 2);
    assert_eq!(replaced["Groups"].as_array().unwrap().len(), 1);

    // XML too.
    let response = w
        .app
        .admin(Method::GET, &one)
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains("<RecoveryPlan ") && xml.contains("<Name>Flat</Name>"),
        "{xml}"
    );

    let (status, _) = w.admin(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, body) = w.admin(Method::GET, &one, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "{body}");
    let (status, _) = w.admin(Method::GET, &plans(Uuid::new_v4()), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn each_validation_rule_is_a_400_that_changes_nothing(backend: Backend) {
    let Some(w) = world(backend, &[], false).await else {
        return;
    };
    let db = w
        .vm("db", VmProtectionState::Protected, |_| {})
        .await
        .to_string();
    let stranger = Uuid::new_v4().to_string();
    let group = |vms: Value| json!({"Name": "G", "Vms": vms});
    let hook = |extra: Value| {
        let mut action = json!({"Kind": "Script", "Url": "https://h.example.com/x"});
        action
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        json!({"Name": "P", "Groups": [{"Name": "G", "PreActions": [action]}]})
    };
    let cases = [
        (
            json!({"Name": "", "Groups": [group(json!([]))]}),
            "name is required",
        ),
        (
            json!({"Name": "x".repeat(129), "Groups": [group(json!([]))]}),
            "at most 128",
        ),
        (
            json!({"Name": "Default", "Groups": [group(json!([]))]}),
            "reserved",
        ),
        (json!({"Name": "P", "Groups": []}), "at least one group"),
        (
            json!({"Name": "P", "Groups": [group(json!([])), group(json!([]))]}),
            "unique",
        ),
        (
            json!({"Name": "P", "Groups": [group(json!([stranger]))]}),
            "not a VM of this subscription",
        ),
        (
            json!({"Name": "P", "Groups": [group(json!([db])), {"Name": "H", "Vms": [db]}]}),
            "one group",
        ),
        (
            json!({"Name": "P", "Groups": [group(json!(["not-a-guid"]))]}),
            "not a VM id",
        ),
        (
            json!({"Name": "P", "Groups": [{"Name": "G", "DelaySeconds": 86_401}]}),
            "too long",
        ),
        (hook(json!({"TimeoutSeconds": 0})), "timeout"),
        (hook(json!({"TimeoutSeconds": 3_601})), "timeout"),
        (
            hook(json!({"Url": "ftp://h.example.com/"})),
            "http or https",
        ),
        (hook(json!({"Url": "h.example.com/x"})), "absolute"),
        (
            hook(json!({"SuccessStatusCodes": [999]})),
            "not an HTTP status code",
        ),
        (
            json!({"Name": "P", "Groups": [{"Name": "G", "PostActions": [{"Kind": "Manual"}]}]}),
            "needs a prompt",
        ),
        (
            json!({"Name": "P", "Groups": [{"Name": "G", "PostActions": [{"Kind": "Pray"}]}]}),
            "not one of Script",
        ),
    ];
    for (body, expected) in cases {
        let (status, answer) = w
            .admin(Method::POST, &plans(w.sub), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body} → {answer}");
        let message = answer["Message"].as_str().unwrap_or_default();
        assert!(
            message.contains(expected),
            "{body}: '{message}' lacks '{expected}'"
        );
    }
    let (_, listed) = w.admin(Method::GET, &plans(w.sub), None).await;
    assert_eq!(listed, json!([]), "no refused plan was stored");
}

async fn the_default_plan_cannot_be_edited_or_deleted(backend: Backend) {
    let Some(w) = world(backend, &[("SelfService", "Full")], false).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let default = wapdr::workflows::sync_default_plan(&w.app.store(), w.sub)
        .await
        .unwrap();
    assert_eq!(default.groups[0].vms, vec![vm]);
    let one = format!("{}/{}", plans(w.sub), default.id);
    let body = json!({"Name": "Mine", "Groups": [{"Name": "G"}]});
    let (status, answer) = w.admin(Method::PUT, &one, Some(body.clone())).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(
        answer["Message"].as_str().unwrap().contains("kept in sync"),
        "{answer}"
    );
    let (status, _) = w.admin(Method::DELETE, &one, None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = w
        .tenant(
            Method::DELETE,
            &format!("/recovery-plans/{}", default.id),
            OWNER,
            None,
        )
        .await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (_, read) = w.admin(Method::GET, &one, None).await;
    assert_eq!(read["Name"], "Default");
    assert_eq!(read["IsDefault"], true);
    assert_eq!(read["Groups"][0]["Vms"], json!([vm.to_string()]));
}

async fn a_tenant_with_full_self_service_edits_plans_others_only_read_them(backend: Backend) {
    let body =
        |vm: Uuid| json!({"Name": "Mine", "Groups": [{"Name": "G", "Vms": [vm.to_string()]}]});

    // Drill lets the tenant read, not write.
    let Some(w) = world(backend, &[("SelfService", "Drill")], false).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let (status, answer) = w
        .tenant(Method::POST, "/recovery-plans", OWNER, Some(body(vm)))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        answer["Message"]
            .as_str()
            .unwrap()
            .contains("full self-service"),
        "{answer}"
    );
    let (status, listed) = w.tenant(Method::GET, "/recovery-plans", OWNER, None).await;
    assert_eq!((status, listed), (StatusCode::OK, json!([])));

    // Full lets the owner and co-admins write; a stranger gets the 404 of a missing subscription.
    let Some(w) = world(backend, &[("SelfService", "Full")], false).await else {
        return;
    };
    let vm = w.vm("web", VmProtectionState::Protected, |_| {}).await;
    let (status, created) = w
        .tenant(Method::POST, "/recovery-plans", CO_ADMIN, Some(body(vm)))
        .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    let one = format!("/recovery-plans/{}", created["Id"].as_str().unwrap());
    let (status, _) = w.tenant(Method::GET, &one, STRANGER, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = w.tenant(Method::DELETE, &one, STRANGER, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Script and runbook actions run from wapdr's network: the tenant adds manual steps only,
    // and keeps the provider's script when it edits the plan.
    let hook = json!({"Kind": "Script", "Url": "http://10.0.0.1/admin", "TimeoutSeconds": 5});
    let manual = json!({"Kind": "Manual", "Prompt": "Tell the app team"});
    let with = |actions: Value| json!({"Name": "Mine", "Groups": [{"Name": "G", "Vms": [vm.to_string()], "PreActions": actions}]});
    let (status, answer) = w
        .tenant(Method::PUT, &one, OWNER, Some(with(json!([hook]))))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    assert!(
        answer["Message"].as_str().unwrap().contains("Script"),
        "{answer}"
    );
    let (status, answer) = w
        .tenant(Method::POST, "/recovery-plans", OWNER, Some(json!({"Name": "Other", "Groups": [{"Name": "G", "Vms": [], "PostActions": [{"Kind": "Runbook", "Runbook": "reconcile-mirrors"}]}]})))
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{answer}");
    let (status, read) = w.tenant(Method::GET, &one, OWNER, None).await;
    assert_eq!(
        (status, read["Groups"][0]["PreActions"].clone()),
        (StatusCode::OK, json!([])),
        "nothing changed"
    );
    let (status, answer) = w
        .admin(
            Method::PUT,
            &format!("{}/{}", plans(w.sub), created["Id"].as_str().unwrap()),
            Some(with(json!([hook]))),
        )
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the provider adds the script: {answer}"
    );
    let (status, answer) = w
        .tenant(Method::PUT, &one, OWNER, Some(with(json!([hook, manual]))))
        .await;
    assert_eq!(
        status,
        StatusCode::OK,
        "the tenant keeps it and adds a manual step: {answer}"
    );

    // A suspended subscription's plans can be read, not changed.
    let store = w.app.store();
    let mut sub = store.get_subscription(w.sub).await.unwrap().unwrap();
    sub.state = SubscriptionState::Suspended;
    store.save_subscription(&sub).await.unwrap();
    let (status, answer) = w.tenant(Method::DELETE, &one, OWNER, None).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(
        answer["Message"].as_str().unwrap().contains("suspended"),
        "{answer}"
    );
    let (status, read) = w.tenant(Method::GET, &one, OWNER, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(read["Name"], "Mine");
}

async fn the_default_plan_holds_every_protected_vm_after_enablement_and_drops_an_excluded_one(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let (app, lab) = (&world.app, &world.lab);
    let tenant = new_tenant(lab, "erin@tailspin.lab", "a-gold").await;
    let vms = add_vms(lab, &tenant, "Gold", "erin", 3, &[]).await;
    let (status, body) =
        notify_create(app, &notification_body(&tenant, &[("DrEnabled", "true")])).await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    settled_lifecycle(app, &tenant).await;
    until_all(app, &tenant, &vms, VmProtectionState::Protected).await;

    let by_name: Vec<String> = records(app, &tenant)
        .await
        .into_iter()
        .map(|vm| vm.vm_id.to_string())
        .collect();
    let default_vms = || async {
        let (status, listed) = admin(
            app,
            Method::GET,
            &format!("/subscriptions/{}/recovery-plans", tenant.id),
            None,
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{listed}");
        let plans = listed.as_array().unwrap().clone();
        assert_eq!(plans.len(), 1, "{listed}");
        assert_eq!(plans[0]["IsDefault"], true);
        plans[0]["Groups"][0]["Vms"].clone()
    };
    // The last VM's sync follows its record's save: look again for a moment.
    let settled = |want: Value| async move {
        for _ in 0..100 {
            let vms = default_vms().await;
            if vms == want {
                return vms;
            }
            tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        }
        default_vms().await
    };
    assert_eq!(settled(json!(by_name)).await, json!(by_name));

    let excluded = vms[1];
    let (status, body) = admin(
        app,
        Method::PUT,
        &format!("/subscriptions/{}/vms/{excluded}/protection", tenant.id),
        Some(json!({"Excluded": true})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED, "{body}");
    until_all(app, &tenant, &[excluded], VmProtectionState::Excluded).await;
    let remaining: Vec<String> = by_name
        .iter()
        .filter(|id| **id != excluded.to_string())
        .cloned()
        .collect();
    assert_eq!(settled(json!(remaining)).await, json!(remaining));
}
