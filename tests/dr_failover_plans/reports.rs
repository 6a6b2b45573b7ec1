//! Reports of a drill by plan: the JSON report, the list with its filters, the HTML page, and
//! what the tenant sees.

use reqwest::{Method, StatusCode};
use serde_json::json;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::common::app::{Backend, json_of};
use crate::common::dr::{Tenant, admin, gold_world};
use crate::support::*;

pub(crate) async fn a_drill_by_plan_is_reported_listed_and_served_as_html_to_the_provider_and_its_tenant(
    backend: Backend,
) {
    let Some(world) = gold_world(backend).await else {
        return;
    };
    let app = &world.app;
    let (tenant, vms) = protected_tenant(&world, "olga@tailspin.lab", 2).await;
    let (other, _) = protected_tenant(&world, "pete@tailspin.lab", 1).await;
    let (db, web) = (vms[0], vms[1]);
    let plan = create_plan(
        app,
        &tenant,
        json!({
            "Name": "Web & DB drill",
            "Groups": [
                { "Name": "Databases", "Vms": [db] },
                { "Name": "Web", "Vms": [web] },
            ],
        }),
    )
    .await;
    // The tenant runs the drill by its plan (its SelfService allows drills).
    let response = app
        .tenant(
            Method::POST,
            &format!(
                "/subscriptions/{}/recovery-plans/{plan}/failover",
                tenant.id
            ),
            Some(&tenant.user),
        )
        .json(&json!({ "kind": "test", "reason": "quarterly drill" }))
        .send()
        .await
        .expect("tenant call");
    assert_eq!(response.status(), StatusCode::ACCEPTED);
    let started = json_of(response).await;
    assert_eq!(started["RecoveryPlanId"], plan.to_string(), "{started}");
    let run = finished(app, job_id(&started)).await;
    succeeded(app, &run).await;
    let job = run.id.to_string();

    let report = report(app, run.id).await;
    assert_eq!(report["Kind"], "test", "{report}");
    assert_eq!(report["Plan"]["name"], "Web & DB drill", "{report}");
    assert_eq!(report["Reason"], "quarterly drill", "{report}");
    assert_eq!(report["StartedBy"], tenant.user, "{report}");
    assert_eq!(group_vms(group(&report, "Databases")), [db.to_string()]);
    assert_eq!(group_vms(group(&report, "Web")), [web.to_string()]);
    for vm in report["Groups"]
        .as_array()
        .expect("Groups")
        .iter()
        .flat_map(|g| g["Vms"].as_array().expect("Vms"))
    {
        assert!(
            vm["Operation"] == "testFailover"
                && vm["Result"] == "Succeeded"
                && vm["Tasks"].as_array().is_some_and(|t| !t.is_empty()),
            "per-VM tasks: {vm}"
        );
    }
    let rto = report["Timing"]["RtoSeconds"].as_f64().expect("RtoSeconds");

    let list = |query: String| async move {
        let (status, body) = admin(app, Method::GET, &format!("/reports?{query}"), None).await;
        assert_eq!(status, StatusCode::OK, "{query}: {body}");
        body["Reports"]
            .as_array()
            .expect("Reports")
            .iter()
            .map(|r| r["JobId"].as_str().expect("JobId").to_owned())
            .collect::<Vec<_>>()
    };
    let sub = tenant.id;
    assert_eq!(
        list(format!("subscription={sub}&kind=test")).await,
        [job.as_str()]
    );
    assert!(
        list(format!("subscription={sub}&kind=planned"))
            .await
            .is_empty()
    );
    assert!(
        !list(format!("subscription={}", other.id))
            .await
            .contains(&job)
    );
    let created = OffsetDateTime::parse(report["CreatedAt"].as_str().expect("CreatedAt"), &Rfc3339)
        .expect("an RFC 3339 time");
    let second = time::Duration::seconds(1);
    let (before, after) = (rfc3339(created - second), rfc3339(created + second));
    assert_eq!(
        list(format!("subscription={sub}&from={before}&to={after}")).await,
        [job.as_str()]
    );
    assert!(
        list(format!("subscription={sub}&from={after}"))
            .await
            .is_empty()
    );
    assert!(
        list(format!("subscription={sub}&to={before}"))
            .await
            .is_empty()
    );
    for bad in [
        "kind=sideways",
        "from=yesterday",
        "to=2026-13-01",
        "subscription=not-a-guid",
        "limit=0",
        "after=not-a-job",
    ] {
        let (status, body) = admin(app, Method::GET, &format!("/reports?{bad}"), None).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert!(is_wap_error(&body), "{bad}: {body}");
    }

    let page = app
        .admin(Method::GET, &format!("/reports/{job}/html"))
        .send()
        .await
        .expect("GET html");
    assert_eq!(page.status(), StatusCode::OK);
    let content_type = page.headers()["content-type"]
        .to_str()
        .expect("ASCII")
        .to_owned();
    assert!(content_type.starts_with("text/html"), "{content_type}");
    let html = page.text().await.expect("the page");
    for fetches in ["<script", "src=", "href="] {
        assert!(!html.contains(fetches), "self-contained, yet has {fetches}");
    }
    assert!(html.contains("Web &amp; DB drill"), "the plan's name");
    assert!(html.contains("Recovery time (RTO)") && html.contains(&format!("{rto:.1} s")));

    let tenant_get = |who: &Tenant, path: String| {
        app.tenant(
            Method::GET,
            &format!("/subscriptions/{}{path}", who.id),
            Some(&who.user),
        )
        .send()
    };
    let own = json_of(
        tenant_get(&tenant, "/reports".into())
            .await
            .expect("tenant"),
    )
    .await;
    assert!(
        own["Reports"]
            .as_array()
            .is_some_and(|r| r.len() == 1 && r[0]["JobId"] == job),
        "{own}"
    );
    let response = tenant_get(&tenant, format!("/reports/{job}"))
        .await
        .expect("tenant");
    assert_eq!(response.status(), StatusCode::OK);
    let seen = json_of(response).await;
    assert_eq!(seen["JobId"], job);
    assert_eq!(seen["Plan"]["name"], "Web & DB drill");
    let response = tenant_get(&tenant, format!("/reports/{job}/html"))
        .await
        .expect("tenant");
    assert_eq!(response.status(), StatusCode::OK);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap_or_default()
            .starts_with("text/html")
    );

    let theirs = json_of(tenant_get(&other, "/reports".into()).await.expect("tenant")).await;
    assert_eq!(theirs["Reports"], json!([]), "{theirs}");
    for path in [format!("/reports/{job}"), format!("/reports/{job}/html")] {
        let response = tenant_get(&other, path.clone()).await.expect("tenant");
        assert_eq!(response.status(), StatusCode::NOT_FOUND, "{path}");
        let body = json_of(response).await;
        assert!(is_wap_error(&body), "{path}: {body}");
    }
    let response = app
        .tenant(
            Method::GET,
            &format!("/subscriptions/{}/reports/{job}", tenant.id),
            Some(&other.user),
        )
        .send()
        .await
        .expect("tenant");
    assert_eq!(
        response.status(),
        StatusCode::NOT_FOUND,
        "not their subscription"
    );
}
