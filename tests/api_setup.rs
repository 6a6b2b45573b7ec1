//! Provider setup through the admin API against a small lab: stamps, replication policies, cloud
//! pairs with their rules, network mappings and the test network. Every test runs on SQLite and
//! on PostgreSQL.

mod common;

use common::app::{Backend, TestApp};
use common::lab::small_lab;
use common::setup::{add_plan_like, bound_cloud, pair_body, register_lab_stamps, stamp_body};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::lab::LabHandle;

on_both_backends!(
    stamps_register_read_update_and_delete_and_never_show_their_secrets,
    bad_stamp_input_is_refused_and_stores_nothing,
    policies_take_defaults_keep_hyper_v_limits_and_update_in_place,
    a_gold_pair_across_stamps_is_accepted_and_the_rules_refuse_the_rest,
    one_to_many_and_many_to_one_pairs_are_accepted,
    network_mappings_and_the_test_network_are_set_and_read_back,
    answers_come_as_xml_when_asked,
);

async fn json_of(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("a body");
    let value = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, value)
}

async fn admin(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    json_of(request.send().await.expect("admin call")).await
}

/// A started app and lab with both lab stamps registered and a `gold-5min` policy.
async fn set_up(backend: Backend) -> Option<(TestApp, LabHandle, String, String)> {
    let app = TestApp::start(backend).await?;
    let lab = small_lab().await;
    let (a, b) = register_lab_stamps(&app, &lab).await;
    let (status, _) = admin(
        &app,
        Method::POST,
        "/policies",
        Some(json!({"name": "gold-5min"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    Some((app, lab, a, b))
}

fn assert_no_secret(lab: &LabHandle, body: &Value) {
    let text = body.to_string();
    for stamp in lab.stamps() {
        assert!(
            !text.contains(&stamp.spf_password),
            "SPF password in {text}"
        );
        assert!(
            !text.contains(&stamp.wap_admin_token),
            "WAP admin token in {text}"
        );
    }
}

async fn stamps_register_read_update_and_delete_and_never_show_their_secrets(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let lab = small_lab().await;
    let (a, b) = register_lab_stamps(&app, &lab).await;

    let (status, list) = admin(&app, Method::GET, "/stamps", None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(list.as_array().unwrap().len(), 2);
    assert_no_secret(&lab, &list);
    let (_, one) = admin(&app, Method::GET, &format!("/stamps/{a}"), None).await;
    assert_eq!(one["Name"], "A");
    assert_eq!(one["HasSpfPassword"], true);
    assert_eq!(one["HasWapAdminToken"], true);
    assert!(one["SpfUrl"].as_str().unwrap().ends_with("Odata.svc/"));
    assert_no_secret(&lab, &one);

    // A PUT without secrets keeps them; a name another stamp has is a conflict.
    let (status, updated) = admin(
        &app,
        Method::PUT,
        &format!("/stamps/{a}"),
        Some(json!({"tenantPortalUrl": "https://portal-a.example"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["TenantPortalUrl"], "https://portal-a.example");
    let stored = app
        .store()
        .get_stamp(a.parse().unwrap())
        .await
        .unwrap()
        .unwrap();
    {
        use secrecy::ExposeSecret as _;
        assert_eq!(
            stored.spf_password.expose_secret(),
            lab.stamps()[0].spf_password
        );
    }
    let (status, err) = admin(
        &app,
        Method::PUT,
        &format!("/stamps/{a}"),
        Some(json!({"name": "b"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT, "{err}");

    let (status, _) = admin(&app, Method::DELETE, &format!("/stamps/{b}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, err) = admin(&app, Method::GET, &format!("/stamps/{b}"), None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(err["Code"], "NotFound");
}

async fn bad_stamp_input_is_refused_and_stores_nothing(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let lab = small_lab().await;
    let cases = [
        ("name", json!(null), "Name is required."),
        ("spfUrl", json!("ftp://spf"), "spfUrl 'ftp://spf'"),
        ("spfPassword", json!(""), "spfPassword is required."),
        ("tenantPortalUrl", json!("portal"), "tenantPortalUrl"),
    ];
    for (member, value, message) in cases {
        let mut body = stamp_body(&lab, 0);
        body[member] = value;
        let (status, err) = admin(&app, Method::POST, "/stamps", Some(body)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{member}: {err}");
        assert!(
            err["Message"].as_str().unwrap().contains(message),
            "{member}: {err}"
        );
    }
    let response = app
        .admin(Method::POST, "/stamps")
        .header("content-type", "application/json")
        .body("{not json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let (_, list) = admin(&app, Method::GET, "/stamps", None).await;
    assert_eq!(list, json!([]));

    register_lab_stamps(&app, &lab).await;
    let mut again = stamp_body(&lab, 0);
    again["name"] = json!("a");
    let (status, err) = admin(&app, Method::POST, "/stamps", Some(again)).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert_eq!(err["Message"], "A stamp named 'a' exists already.");
    let anonymous = app
        .anonymous(Method::GET, "/admin/stamps")
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn policies_take_defaults_keep_hyper_v_limits_and_update_in_place(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let (status, created) = admin(
        &app,
        Method::POST,
        "/policies",
        Some(json!({"name": "gold-30s", "copyFrequencySeconds": 30, "initialReplication": "offline"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{created}");
    assert_eq!(
        created,
        json!({"Name": "gold-30s", "CopyFrequencySeconds": 30, "RecoveryPoints": 4,
               "AppConsistentFrequencyHours": 1, "InitialReplication": "Offline", "Compression": true})
    );
    for (body, message) in [
        (
            json!({"name": "x", "copyFrequencySeconds": 60}),
            "not one of 30, 300, 900",
        ),
        (
            json!({"name": "x", "recoveryPoints": 25}),
            "recoveryPoints 25",
        ),
        (
            json!({"name": "x", "appConsistentFrequencyHours": 13}),
            "appConsistentFrequencyHours 13",
        ),
        (
            json!({"name": "x", "recoveryPoints": -1}),
            "RecoveryPoints -1",
        ),
        (
            json!({"name": "x", "initialReplication": "disk"}),
            "InitialReplication 'disk'",
        ),
        (json!({"copyFrequencySeconds": 30}), "Name is required."),
    ] {
        let (status, err) = admin(&app, Method::POST, "/policies", Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert!(
            err["Message"].as_str().unwrap().contains(message),
            "{body}: {err}"
        );
    }
    let (status, _) = admin(
        &app,
        Method::POST,
        "/policies",
        Some(json!({"name": "GOLD-30S"})),
    )
    .await;
    assert_eq!(status, StatusCode::CONFLICT);

    let (status, updated) = admin(
        &app,
        Method::PUT,
        "/policies/gold-30s",
        Some(json!({"recoveryPoints": 12, "compression": false})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["RecoveryPoints"], 12);
    assert_eq!(updated["CopyFrequencySeconds"], 30);
    let (status, _) = admin(
        &app,
        Method::PUT,
        "/policies/gold-30s",
        Some(json!({"copyFrequencySeconds": 45})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (_, list) = admin(&app, Method::GET, "/policies", None).await;
    assert_eq!(list.as_array().unwrap().len(), 1);
    assert_eq!(list[0]["RecoveryPoints"], 12);
    let (status, _) = admin(&app, Method::DELETE, "/policies/gold-30s", None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(&app, Method::GET, "/policies/gold-30s", None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn a_gold_pair_across_stamps_is_accepted_and_the_rules_refuse_the_rest(backend: Backend) {
    let Some((app, lab, a, b)) = set_up(backend).await else {
        return;
    };
    let (a_gold, b_gold) = (
        bound_cloud(&lab, 0, "a-gold").await,
        bound_cloud(&lab, 1, "b-gold").await,
    );
    let a_silver = bound_cloud(&lab, 0, "a-silver").await;

    let (status, pair) = admin(
        &app,
        Method::POST,
        "/cloud-pairs",
        Some(pair_body(
            (&a, "a-gold", a_gold),
            (&b, "b-gold", b_gold),
            "gold-5min",
        )),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pair}");
    assert_eq!(pair["Primary"]["PlanId"], "a-gold");
    assert_eq!(pair["Primary"]["StampName"], "A");
    assert_eq!(pair["Recovery"]["CloudId"], b_gold.to_string());
    assert_eq!(pair["Policy"], "gold-5min");
    let pair_id = pair["Id"].as_str().unwrap().to_owned();

    let refusals = [
        (
            pair_body(
                (&a, "a-silver", a_silver),
                (&a, "a-gold", a_gold),
                "gold-5min",
            ),
            StatusCode::BAD_REQUEST,
            "both on stamp 'A'".to_owned(),
        ),
        (
            pair_body(
                (&a, "a-silver", a_gold),
                (&b, "b-gold", b_gold),
                "gold-5min",
            ),
            StatusCode::BAD_REQUEST,
            format!("is not bound to cloud {a_gold}"),
        ),
        (
            pair_body(
                (&a, "a-gold", a_gold),
                (&b, "b-silver", bound_cloud(&lab, 1, "b-silver").await),
                "gold-5min",
            ),
            StatusCode::CONFLICT,
            format!(
                "Plan 'Gold VMs (A)' is already paired with 'Gold VMs (B)' on stamp B by pair {pair_id}."
            ),
        ),
        (
            pair_body(
                (&a, "a-silver", a_silver),
                (&b, "b-gold", b_gold),
                "platinum",
            ),
            StatusCode::BAD_REQUEST,
            "Replication policy 'platinum' is not known.".to_owned(),
        ),
        (
            pair_body(
                (&a, "a-bronze", a_silver),
                (&b, "b-gold", b_gold),
                "gold-5min",
            ),
            StatusCode::BAD_REQUEST,
            "Stamp 'A' has no plan 'a-bronze'.".to_owned(),
        ),
        (
            json!({"primary": {"stampId": a}, "policy": "gold-5min"}),
            StatusCode::BAD_REQUEST,
            "PlanId".to_owned(),
        ),
    ];
    for (body, expected, message) in refusals {
        let (status, err) = admin(&app, Method::POST, "/cloud-pairs", Some(body.clone())).await;
        assert_eq!(status, expected, "{body}: {err}");
        assert!(
            err["Message"].as_str().unwrap().contains(&message),
            "{body}: {err}"
        );
    }
    let (_, pairs) = admin(&app, Method::GET, "/cloud-pairs", None).await;
    assert_eq!(pairs.as_array().unwrap().len(), 1, "{pairs}");

    // A stamp or a policy in use cannot be deleted; the pair can, and then they can.
    let (status, err) = admin(&app, Method::DELETE, &format!("/stamps/{b}"), None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    assert!(err["Message"].as_str().unwrap().contains(&pair_id), "{err}");
    let (status, _) = admin(&app, Method::DELETE, "/policies/gold-5min", None).await;
    assert_eq!(status, StatusCode::CONFLICT);
    let (status, _) = admin(
        &app,
        Method::DELETE,
        &format!("/cloud-pairs/{pair_id}"),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (status, _) = admin(&app, Method::DELETE, &format!("/stamps/{b}"), None).await;
    assert_eq!(status, StatusCode::NO_CONTENT);
}

async fn one_to_many_and_many_to_one_pairs_are_accepted(backend: Backend) {
    let Some((app, lab, a, b)) = set_up(backend).await else {
        return;
    };
    // A second plan on A's Gold cloud, so that one cloud pairs with two recovery clouds.
    add_plan_like(&lab, 0, "a-gold", "a-gold-plus", "Gold Plus (A)").await;
    let a_gold = bound_cloud(&lab, 0, "a-gold").await;
    let a_silver = bound_cloud(&lab, 0, "a-silver").await;
    let (b_gold, b_silver) = (
        bound_cloud(&lab, 1, "b-gold").await,
        bound_cloud(&lab, 1, "b-silver").await,
    );
    let bodies = [
        pair_body((&a, "a-gold", a_gold), (&b, "b-gold", b_gold), "gold-5min"),
        pair_body(
            ("A", "a-gold-plus", a_gold),
            ("B", "b-silver", b_silver),
            "gold-5min",
        ),
        pair_body(
            (&a, "a-silver", a_silver),
            (&b, "b-gold", b_gold),
            "gold-5min",
        ),
        pair_body(
            (&b, "b-gold", b_gold),
            (&a, "a-silver", a_silver),
            "gold-5min",
        ),
    ];
    for body in bodies {
        let (status, pair) = admin(&app, Method::POST, "/cloud-pairs", Some(body)).await;
        assert_eq!(status, StatusCode::CREATED, "{pair}");
    }
    let (_, pairs) = admin(&app, Method::GET, "/cloud-pairs", None).await;
    assert_eq!(pairs.as_array().unwrap().len(), 4);
}

async fn network_mappings_and_the_test_network_are_set_and_read_back(backend: Backend) {
    let Some((app, lab, a, b)) = set_up(backend).await else {
        return;
    };
    let (a_gold, b_gold) = (
        bound_cloud(&lab, 0, "a-gold").await,
        bound_cloud(&lab, 1, "b-gold").await,
    );
    let (_, pair) = admin(
        &app,
        Method::POST,
        "/cloud-pairs",
        Some(pair_body(
            (&a, "a-gold", a_gold),
            (&b, "b-gold", b_gold),
            "gold-5min",
        )),
    )
    .await;
    let id = pair["Id"].as_str().unwrap();
    let path = format!("/cloud-pairs/{id}/network-mappings");
    let (status, empty) = admin(&app, Method::GET, &path, None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(empty["Mappings"], json!([]));

    // Two of A's networks onto B's network, as the lab's inventory lists them.
    let network_ids = |list: &Value| -> Vec<String> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|n| n["Id"].as_str().unwrap().to_owned())
            .collect()
    };
    let a_networks = network_ids(
        &admin(&app, Method::GET, &format!("/stamps/{a}/networks"), None)
            .await
            .1,
    );
    let b_networks = network_ids(
        &admin(&app, Method::GET, &format!("/stamps/{b}/networks"), None)
            .await
            .1,
    );
    assert!(a_networks.len() >= 2 && !b_networks.is_empty());
    let (n1, n2, r1) = (&a_networks[0], &a_networks[1], &b_networks[0]);
    let mut expected = vec![
        json!({"PrimaryNetworkId": n1, "RecoveryNetworkId": r1}),
        json!({"PrimaryNetworkId": n2, "RecoveryNetworkId": r1}),
    ];
    let (status, put) = admin(
        &app,
        Method::PUT,
        &path,
        Some(json!({"mappings": [
            {"primaryNetworkId": n1, "recoveryNetworkId": r1},
            {"primaryNetworkId": n2, "recoveryNetworkId": r1},
        ]})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{put}");
    expected.sort_by_key(|m| m["PrimaryNetworkId"].as_str().unwrap().to_owned());
    assert_eq!(put["Mappings"], json!(expected));

    let stranger = Uuid::new_v4();
    let refusals = [
        (
            json!({"mappings": [
                {"primaryNetworkId": n1, "recoveryNetworkId": r1},
                {"primaryNetworkId": n1, "recoveryNetworkId": r1},
            ]}),
            "more than once".to_owned(),
        ),
        (
            json!({"mappings": [{"primaryNetworkId": r1, "recoveryNetworkId": r1}]}),
            format!("PrimaryNetworkId {r1} is not a VM network of stamp 'A'."),
        ),
        (
            json!({"mappings": [{"primaryNetworkId": n1, "recoveryNetworkId": stranger}]}),
            format!("RecoveryNetworkId {stranger} is not a VM network of stamp 'B'."),
        ),
        (
            json!({"mappings": [{"primaryNetworkId": "x"}]}),
            "PrimaryNetworkId".to_owned(),
        ),
    ];
    for (body, message) in refusals {
        let (status, err) = admin(&app, Method::PUT, &path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {err}");
        assert!(
            err["Message"].as_str().unwrap().contains(&message),
            "{body}: {err}"
        );
    }
    let (_, read) = admin(&app, Method::GET, &path, None).await;
    assert_eq!(
        read["Mappings"],
        json!(expected),
        "a refused PUT changed nothing"
    );

    let test_path = format!("/cloud-pairs/{id}/test-network");
    let (status, err) = admin(
        &app,
        Method::PUT,
        &test_path,
        Some(json!({"networkId": n1})),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::BAD_REQUEST,
        "an A network is no test network on B: {err}"
    );
    let (status, with_net) = admin(
        &app,
        Method::PUT,
        &test_path,
        Some(json!({"networkId": r1})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{with_net}");
    assert_eq!(&with_net["TestNetworkId"], r1);
    let (_, read) = admin(&app, Method::GET, &path, None).await;
    assert_eq!(&read["TestNetworkId"], r1);
    let (_, pair) = admin(&app, Method::GET, &format!("/cloud-pairs/{id}"), None).await;
    assert_eq!(&pair["TestNetworkId"], r1);
    let (status, cleared) = admin(
        &app,
        Method::PUT,
        &test_path,
        Some(json!({"networkId": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(cleared["TestNetworkId"], Value::Null);
    let (status, _) = admin(
        &app,
        Method::GET,
        &format!("/cloud-pairs/{}/network-mappings", Uuid::new_v4()),
        None,
    )
    .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

async fn answers_come_as_xml_when_asked(backend: Backend) {
    let Some((app, lab, a, _)) = set_up(backend).await else {
        return;
    };
    let response = app
        .admin(Method::GET, &format!("/stamps/{a}"))
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains("<Stamp") && xml.contains("<HasSpfPassword>true</HasSpfPassword>"),
        "{xml}"
    );
    assert!(!xml.contains(&lab.stamps()[0].spf_password));
    let response = app
        .admin(Method::POST, "/policies")
        .header("content-type", "application/xml")
        .header("accept", "application/xml")
        .body(r#"<ReplicationPolicy xmlns="http://schemas.microsoft.com/windowsazure"><Name>silver</Name><CopyFrequencySeconds>900</CopyFrequencySeconds></ReplicationPolicy>"#)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::CREATED);
    let xml = response.text().await.unwrap();
    assert!(
        xml.contains("<CopyFrequencySeconds>900</CopyFrequencySeconds>"),
        "{xml}"
    );
}
