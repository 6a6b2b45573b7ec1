//! The lab's WAP admin API (`schemas/fabric-http.md` §2), over a real socket.

mod lab_support;

use lab_support::*;
use serde_json::{Value, json};
use wapdr::lab::WorldKind;

async fn body(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or(Value::Null))
}

fn provision(id: &str, user: &str, plan: &str) -> Value {
    json!({
        "AccountAdminLiveEmailId": user, "AccountAdminLivePuid": user,
        "AccountId": "00000000-0000-0000-0000-000000000000", "FriendlyName": "Gold DR",
        "OfferCategory": null, "OfferInfo": null, "OfferType": 0, "ReasonCode": null,
        "ServiceAdminLiveEmailId": null, "ServiceAdminLivePuid": null,
        "SubscriptionId": id, "Status": null, "PlanId": plan, "CoAdminNames": null,
    })
}

#[tokio::test]
async fn requests_without_the_stamps_bearer_token_are_refused() {
    let lab = start(WorldKind::Small).await;
    let url = format!("{}/plans", lab.stamps()[0].wap_admin);
    let none = client().get(&url).send().await.unwrap();
    assert_eq!(none.status(), 401);
    let (_, error) = body(none).await;
    assert!(error["Code"].is_string() && error["Message"].is_string());
    let other_stamps = client()
        .get(&url)
        .bearer_auth(&lab.stamps()[1].wap_admin_token)
        .send()
        .await
        .unwrap();
    assert_eq!(other_stamps.status(), 401);
}

#[tokio::test]
async fn a_subscription_with_a_chosen_id_creates_the_tenant_user_role_in_spf() {
    let lab = start(WorldKind::Small).await;
    let (status, user) = body(
        wap(
            &lab,
            1,
            "POST",
            "users",
            Some(json!({"Name": "dave@contoso.lab", "Email": "dave@contoso.lab", "State": 1})),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{user}");
    let (status, plans) = body(wap(&lab, 1, "GET", "plans", None).await).await;
    assert_eq!(status, 200);
    assert!(plans["totalCount"].as_u64().unwrap() >= 2);
    let plan = plans["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["Id"] == "b-gold")
        .unwrap();
    assert_eq!(plan["ServiceQuotas"][0]["ServiceName"], "systemcenter");

    let id = "ec66ec96-8edd-4916-be45-607959155c2a";
    let (status, sub) = body(
        wap(
            &lab,
            1,
            "POST",
            "subscriptions",
            Some(provision(id, "dave@contoso.lab", "b-gold")),
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "{sub}");
    assert_eq!(sub["SubscriptionID"], id);
    assert_eq!(sub["State"], 1);

    let role = spf_json(&lab, 1, &format!("UserRoles(ID=guid'{id}')")).await;
    assert_eq!(role["Name"], format!("dave@contoso.lab_{id}"));
    assert_eq!(role["Members"], json!(["dave@contoso.lab"]));

    let (status, _) = body(
        wap(
            &lab,
            1,
            "POST",
            "subscriptions",
            Some(provision(id, "dave@contoso.lab", "b-gold")),
        )
        .await,
    )
    .await;
    assert_eq!(status, 409, "the same id twice");

    let (status, suspended) = body(
        wap(
            &lab,
            1,
            "PATCH",
            &format!("subscriptions/{id}"),
            Some(json!({"SubscriptionId": id, "Status": "Suspended"})),
        )
        .await,
    )
    .await;
    assert_eq!((status, suspended["State"].clone()), (200, json!(2)));
    let (_, active) = body(
        wap(
            &lab,
            1,
            "PATCH",
            &format!("subscriptions/{id}"),
            Some(json!({"Status": "Active"})),
        )
        .await,
    )
    .await;
    assert_eq!(active["State"], 1);
    let (_, listed) = body(
        wap(
            &lab,
            1,
            "GET",
            "subscriptions?userId=dave@contoso.lab",
            None,
        )
        .await,
    )
    .await;
    assert_eq!(listed["items"].as_array().unwrap().len(), 1);

    let deleted = wap(&lab, 1, "DELETE", &format!("subscriptions/{id}"), None).await;
    assert_eq!(deleted.status(), 202);
    assert_eq!(
        wap(&lab, 1, "GET", &format!("subscriptions/{id}"), None)
            .await
            .status(),
        404
    );
    let gone = spf_get(
        &lab,
        1,
        &format!("UserRoles(ID=guid'{id}')"),
        Some("application/json"),
    )
    .await;
    assert_eq!(
        gone.status(),
        404,
        "the user role goes with the subscription"
    );
}

#[tokio::test]
async fn a_missing_plan_or_user_is_404_and_creates_nothing() {
    let lab = start(WorldKind::Small).await;
    wap(
        &lab,
        0,
        "POST",
        "users",
        Some(json!({"Name": "erin@contoso.lab"})),
    )
    .await;
    let id = "0b0b0b0b-8edd-4916-be45-607959155c2a";
    let (status, error) = body(
        wap(
            &lab,
            0,
            "POST",
            "subscriptions",
            Some(provision(id, "erin@contoso.lab", "no-such-plan")),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert!(error["Code"].is_string());
    let (status, _) = body(
        wap(
            &lab,
            0,
            "POST",
            "subscriptions",
            Some(provision(id, "nobody@contoso.lab", "a-gold")),
        )
        .await,
    )
    .await;
    assert_eq!(status, 404);
    assert_eq!(
        wap(&lab, 0, "GET", &format!("subscriptions/{id}"), None)
            .await
            .status(),
        404
    );
    assert_eq!(
        wap(
            &lab,
            0,
            "POST",
            "users",
            Some(json!({"Name": "erin@contoso.lab"}))
        )
        .await
        .status(),
        409
    );
}

#[tokio::test]
async fn add_ons_and_resource_providers_are_served() {
    let lab = start(WorldKind::Small).await;
    let (status, addon) = body(wap(&lab, 0, "GET", "addons/dr-a", None).await).await;
    assert_eq!(status, 200);
    assert_eq!(addon["ServiceQuotas"][0]["ServiceName"], "disasterrecovery");
    let registration: Value = serde_json::from_str(
        &std::fs::read_to_string("../shared/fixtures/wap/resource-provider-registration.json")
            .unwrap_or_else(|_| r#"{"Name": "drservice"}"#.into()),
    )
    .unwrap();
    assert_eq!(
        wap(
            &lab,
            0,
            "POST",
            "resourceproviders",
            Some(registration.clone())
        )
        .await
        .status(),
        200
    );
    assert_eq!(
        wap(&lab, 0, "POST", "resourceproviders", Some(registration))
            .await
            .status(),
        409
    );
    let (_, rps) = body(wap(&lab, 0, "GET", "resourceproviders", None).await).await;
    assert_eq!(rps.as_array().unwrap().len(), 1);
}
