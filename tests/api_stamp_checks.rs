//! A stamp's live view through the admin API against a small lab: verify reports every service
//! (reachable, credentials accepted, what was found) and never fails for a service that is down;
//! inventory lists the lab's clouds, VM Clouds plans with their clouds, and VM networks.

mod common;

use common::app::{Backend, TestApp};
use common::lab::{set_outage, small_lab};
use common::setup::{app_with_lab, bound_cloud, register_lab_stamps};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

on_both_backends!(
    verify_with_the_labs_credentials_finds_everything_on_both_stamps,
    verify_with_a_wrong_spf_password_says_the_credentials_were_rejected,
    verify_of_an_unreachable_stamp_is_a_report_not_an_error,
    verify_without_a_replication_engine_says_none_is_configured,
    inventory_lists_the_labs_clouds_plans_and_networks,
    inventory_of_an_unreachable_stamp_is_a_502_naming_the_service,
);

async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut request = app.admin(method, path);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.expect("admin call");
    let status = response.status();
    (status, response.json().await.expect("JSON"))
}

fn check<'a>(report: &'a Value, service: &str) -> &'a Value {
    report["Checks"]
        .as_array()
        .expect("Checks")
        .iter()
        .find(|c| c["Service"] == service)
        .unwrap_or_else(|| panic!("no {service} check in {report}"))
}

async fn verify_with_the_labs_credentials_finds_everything_on_both_stamps(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let (a, b) = register_lab_stamps(&app, &lab).await;
    for (index, id) in [a, b].into_iter().enumerate() {
        let (status, report) =
            call(&app, Method::POST, &format!("/stamps/{id}/verify"), None).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(report["Ok"], true, "{report:#}");
        let stamp = &lab.stamps()[index];
        assert_eq!(report["SpfStampId"], stamp.stamp_id.to_string());
        let spf = check(&report, "SPF");
        assert_eq!(
            (&spf["Reachable"], &spf["CredentialsAccepted"]),
            (&json!(true), &json!(true))
        );
        assert!(spf["Found"].to_string().contains("cloud 'Gold'"), "{spf}");
        let plan_id = format!("{}-gold", stamp.name.to_lowercase());
        let wap = check(&report, "WAP admin API");
        assert!(
            wap["Found"]
                .to_string()
                .contains(&format!("({plan_id}) bound to cloud 'Gold'")),
            "{wap}"
        );
        let engine = check(&report, "Replication engine");
        assert!(engine["Found"].to_string().contains("site '"), "{engine}");
        // The VMM stamp id is recorded on the stamp.
        let (_, shown) = call(&app, Method::GET, &format!("/stamps/{id}"), None).await;
        assert_eq!(shown["SpfStampId"], stamp.stamp_id.to_string());
        let text = report.to_string();
        assert!(!text.contains(&stamp.spf_password) && !text.contains(&stamp.wap_admin_token));
    }
}

async fn verify_with_a_wrong_spf_password_says_the_credentials_were_rejected(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let (a, _) = register_lab_stamps(&app, &lab).await;
    let (status, _) = call(
        &app,
        Method::PUT,
        &format!("/stamps/{a}"),
        Some(json!({"spfPassword": "wrong"})),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, report) = call(&app, Method::POST, &format!("/stamps/{a}/verify"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["Ok"], false);
    let spf = check(&report, "SPF");
    assert_eq!(spf["Ok"], false);
    assert_eq!(spf["Reachable"], true);
    assert_eq!(spf["CredentialsAccepted"], false);
    assert!(
        spf["Message"]
            .as_str()
            .unwrap()
            .contains("credentials were rejected"),
        "{spf}"
    );
    assert_eq!(check(&report, "WAP admin API")["Ok"], true, "{report:#}");
    assert!(!report.to_string().contains("wrong"));
}

async fn verify_of_an_unreachable_stamp_is_a_report_not_an_error(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let (a, _) = register_lab_stamps(&app, &lab).await;
    set_outage(&lab, "A", true).await;
    let (status, report) = call(&app, Method::POST, &format!("/stamps/{a}/verify"), None).await;
    assert_eq!(status, StatusCode::OK, "{report}");
    assert_eq!(report["Ok"], false);
    for service in ["SPF", "WAP admin API"] {
        let c = check(&report, service);
        assert_eq!(
            (&c["Ok"], &c["Reachable"]),
            (&json!(false), &json!(false)),
            "{c}"
        );
        assert!(
            c["Message"].as_str().unwrap().contains("unreachable"),
            "{c}"
        );
    }
}

async fn verify_without_a_replication_engine_says_none_is_configured(backend: Backend) {
    let Some(app) = TestApp::start(backend).await else {
        return;
    };
    let lab = small_lab().await;
    let (a, _) = register_lab_stamps(&app, &lab).await;
    let (_, report) = call(&app, Method::POST, &format!("/stamps/{a}/verify"), None).await;
    assert_eq!(check(&report, "SPF")["Ok"], true, "{report:#}");
    let engine = check(&report, "Replication engine");
    assert_eq!(engine["Ok"], false);
    assert!(
        engine["Message"]
            .as_str()
            .unwrap()
            .starts_with("No replication engine configured")
    );
}

async fn inventory_lists_the_labs_clouds_plans_and_networks(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let (a, _) = register_lab_stamps(&app, &lab).await;
    let (status, clouds) = call(&app, Method::GET, &format!("/stamps/{a}/clouds"), None).await;
    assert_eq!(status, StatusCode::OK, "{clouds}");
    let mut names: Vec<&str> = clouds
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["Name"].as_str().unwrap())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Gold", "Silver"]);

    let (status, plans) = call(&app, Method::GET, &format!("/stamps/{a}/plans"), None).await;
    assert_eq!(status, StatusCode::OK);
    let gold = plans
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Id"] == "a-gold")
        .expect("a-gold");
    assert_eq!(
        gold["CloudId"],
        bound_cloud(&lab, 0, "a-gold").await.to_string()
    );
    let gold_cloud = clouds
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["Name"] == "Gold")
        .unwrap();
    assert_eq!(gold["CloudId"], gold_cloud["Id"]);

    let (status, networks) = call(&app, Method::GET, &format!("/stamps/{a}/networks"), None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        networks
            .as_array()
            .unwrap()
            .iter()
            .any(|n| n["Name"] == "A-test-failover"),
        "{networks}"
    );
    let xml = app
        .admin(Method::GET, &format!("/stamps/{a}/plans"))
        .header("accept", "application/xml")
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(xml.contains("<Id>a-gold</Id>"), "{xml}");
}

async fn inventory_of_an_unreachable_stamp_is_a_502_naming_the_service(backend: Backend) {
    let Some((app, lab)) = app_with_lab(backend).await else {
        return;
    };
    let (a, _) = register_lab_stamps(&app, &lab).await;
    set_outage(&lab, "A", true).await;
    for (path, service) in [
        ("clouds", "SPF stamp A"),
        ("plans", "WAP admin API of stamp A"),
        ("networks", "SPF stamp A"),
    ] {
        let (status, err) = call(&app, Method::GET, &format!("/stamps/{a}/{path}"), None).await;
        assert_eq!(status, StatusCode::BAD_GATEWAY, "{path}: {err}");
        assert_eq!(err["Code"], "BadGateway");
        assert!(
            err["Message"].as_str().unwrap().contains(service),
            "{path}: {err}"
        );
    }
}
