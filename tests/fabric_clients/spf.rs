//! The SPF OData client: paging, filters, tolerant reading, keyed reads and conflicts.

use std::sync::{Arc, Mutex};

use axum::Json;
use axum::Router;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::routing::{get, post};
use secrecy::SecretString;
use serde_json::{Value, json};
use uuid::Uuid;
use wapdr::fabric::spf::{NewUserRole, VmQuery};
use wapdr::fabric::{FabricError, SpfClient};

use super::{quick_retries, serve, settings};

const ROOT: &str = "/SC2012R2/VMM/Microsoft.Management.Odata.svc";

fn vm(index: usize, stamp: Uuid) -> Value {
    json!({"ID": Uuid::from_u128(index as u128 + 1000).to_string(), "StampId": stamp.to_string(),
           "Name": format!("vm{index}"), "TotalSize": "42949672960", "CPUCount": 2,
           "Owner": {"UserName": "o'brien@f.com", "RoleName": "r", "RoleID": Uuid::from_u128(7).to_string()},
           "StatusString": "Running", "ModifiedTime": "2026-11-22T10:00:00"})
}

async fn client(base: &str) -> SpfClient {
    SpfClient::new(
        &format!("{base}{ROOT}/"),
        "admin",
        SecretString::from("s3cret"),
        &settings(),
        quick_retries(),
    )
    .unwrap()
    .named("SPF stamp A")
}

#[tokio::test]
async fn listing_vms_follows_next_links_and_sends_the_filter_encoded() {
    /// The raw query and `Accept` of every request.
    type Requests = Vec<(String, Option<String>)>;
    #[derive(Clone, Default)]
    struct Seen(Arc<Mutex<Requests>>);
    let stamp = Uuid::from_u128(1);
    let seen = Seen::default();
    let router = Router::new()
        .route(
            &format!("{ROOT}/VirtualMachines"),
            get(|State(seen): State<Seen>, headers: HeaderMap, RawQuery(query): RawQuery| async move {
                let query = query.unwrap_or_default();
                let accept = headers.get("accept").and_then(|v| v.to_str().ok()).map(str::to_owned);
                seen.0.lock().unwrap().push((query.clone(), accept));
                let host = headers.get("host").unwrap().to_str().unwrap().to_owned();
                let skip: usize = query
                    .split('&')
                    .find_map(|p| p.strip_prefix("$skip="))
                    .map_or(0, |s| s.parse().unwrap());
                let stamp = Uuid::from_u128(1);
                let end = (skip + 500).min(1200);
                let value: Vec<Value> = (skip..end).map(|i| vm(i, stamp)).collect();
                let mut body = json!({"odata.metadata": "m#VirtualMachines", "value": value});
                if end < 1200 {
                    let filter = query.split('&').find(|p| p.starts_with("$filter=")).unwrap_or("");
                    body["odata.nextLink"] = json!(format!(
                        "http://{host}{ROOT}/VirtualMachines?{filter}&$skip={end}"
                    ));
                }
                Json(body)
            }),
        )
        .with_state(seen.clone());
    let spf = client(&serve(router).await).await;

    let vms = spf
        .list_vms(&VmQuery {
            stamp_id: Some(stamp),
            owner_role_id: Some(Uuid::from_u128(7)),
            ..VmQuery::default()
        })
        .await
        .unwrap();

    assert_eq!(vms.len(), 1200);
    assert_eq!(vms[1199].name, "vm1199");
    assert_eq!(vms[0].total_size, Some(42_949_672_960));
    let seen = seen.0.lock().unwrap();
    assert_eq!(seen.len(), 3);
    let decoded: String = form_urlencoded::parse(seen[0].0.as_bytes())
        .find(|(k, _)| k == "$filter")
        .map(|(_, v)| v.into_owned())
        .unwrap();
    assert_eq!(
        decoded,
        "StampId eq guid'00000000-0000-0000-0000-000000000001' and Owner/RoleID eq guid'00000000-0000-0000-0000-000000000007'"
    );
    assert!(!seen[0].0.contains(' ') && !seen[0].0.contains('+'));
    assert_eq!(
        seen[0].1.as_deref(),
        Some("application/json;odata=minimalmetadata")
    );
}

#[tokio::test]
async fn a_vm_reads_the_same_from_minimal_and_full_metadata() {
    let stamp = Uuid::from_u128(1);
    let id = Uuid::from_u128(1000);
    let minimal = vm(0, stamp);
    let mut full = minimal.clone();
    full["odata.type"] = json!("VMM.VirtualMachine");
    full["odata.id"] = json!("x");
    full["odata.editLink"] = json!("VirtualMachines(ID=guid'x',StampId=guid'y')");
    full["GrantedToList@odata.type"] = json!("Collection(VMM.UserAndRole)");
    full["TotalSize"] = json!(42_949_672_960_i64);
    let router = Router::new().route(
        &format!("{ROOT}/VirtualMachines(ID=guid'{id}',StampId=guid'{stamp}')"),
        get(move |headers: HeaderMap| {
            let (minimal, full) = (minimal.clone(), full.clone());
            async move {
                let x_version = headers
                    .get("x-ms-version")
                    .map(|v| v.to_str().unwrap().to_owned());
                assert_eq!(x_version.as_deref(), Some("2014-02-01"));
                // Alternate the two shapes between calls.
                static CALLS: std::sync::atomic::AtomicUsize =
                    std::sync::atomic::AtomicUsize::new(0);
                if CALLS.fetch_add(1, std::sync::atomic::Ordering::SeqCst) % 2 == 0 {
                    Json(minimal)
                } else {
                    Json(full)
                }
            }
        }),
    );
    let spf = client(&serve(router).await).await;

    let first = spf.get_vm(stamp, id).await.unwrap().unwrap();
    let second = spf.get_vm(stamp, id).await.unwrap().unwrap();

    assert_eq!(first, second);
    assert_eq!(
        first.owner.unwrap().user_name.as_deref(),
        Some("o'brien@f.com")
    );
}

#[tokio::test]
async fn a_missing_vm_is_none_and_a_duplicate_role_is_a_conflict() {
    let router = Router::new()
        .fallback(|| async {
            (
                StatusCode::NOT_FOUND,
                Json(json!({"odata.error": {"code": "NotFound", "message": {"lang": "en-US", "value": "no"}}})),
            )
        })
        .route(
            &format!("{ROOT}/UserRoles"),
            post(|Json(body): Json<Value>| async move {
                assert_eq!(body["Profile"], "TenantAdmin");
                (
                    StatusCode::CONFLICT,
                    Json(json!({"odata.error": {"code": "Conflict", "message": {"lang": "en-US", "value": "exists"}}})),
                )
            }),
        );
    let spf = client(&serve(router).await).await;

    let missing = spf
        .get_vm(Uuid::from_u128(1), Uuid::from_u128(2))
        .await
        .unwrap();
    let conflict = spf
        .create_user_role(&NewUserRole {
            id: Uuid::from_u128(3),
            name: "t@f.com_3".into(),
            profile: "TenantAdmin".into(),
            members: vec!["t@f.com".into()],
        })
        .await
        .unwrap_err();

    assert_eq!(missing, None);
    match conflict {
        FabricError::Conflict {
            service, message, ..
        } => {
            assert_eq!(service, "SPF stamp A");
            assert_eq!(message, "exists");
        }
        other => panic!("expected a conflict, got {other:?}"),
    }
}
