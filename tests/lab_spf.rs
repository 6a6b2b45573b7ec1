//! The lab's SPF VMM OData service, spoken to over a real socket exactly as `schemas/fabric-http.md`
//! §1 describes it.

mod lab_support;

use lab_support::*;
use serde_json::{Value, json};
use wapdr::lab::WorldKind;

fn ids(feed: &Value) -> Vec<String> {
    feed["value"]
        .as_array()
        .expect("value array")
        .iter()
        .map(|e| e["ID"].as_str().expect("ID").to_owned())
        .collect()
}

#[tokio::test]
async fn every_collection_lists_and_each_entity_reads_by_key_in_either_order() {
    let lab = start(WorldKind::Small).await;
    let stamp = lab.stamps()[0].stamp_id;
    for set in [
        "VirtualMachines",
        "Clouds",
        "VMNetworks",
        "VMSubnets",
        "UserRoles",
        "Stamps",
    ] {
        let feed = spf_json(&lab, 0, set).await;
        assert!(
            feed["odata.metadata"]
                .as_str()
                .unwrap()
                .ends_with(&format!("$metadata#{set}"))
        );
        let first = ids(&feed)[0].clone();
        let keyed = !matches!(set, "UserRoles" | "Stamps");
        let paths = if keyed {
            vec![
                format!("{set}(ID=guid'{first}',StampId=guid'{stamp}')"),
                format!("{set}(StampId=Guid'{stamp}',ID=Guid'{first}')"),
            ]
        } else {
            vec![
                format!("{set}(ID=guid'{first}')"),
                format!("{set}(guid'{first}')"),
            ]
        };
        for path in paths {
            let one = spf_json(&lab, 0, &path).await;
            assert_eq!(one["ID"], first.as_str(), "{path}");
            assert!(
                one["odata.metadata"]
                    .as_str()
                    .unwrap()
                    .ends_with("/@Element")
            );
        }
    }
    let missing = spf_get(
        &lab,
        0,
        &vm_key(&lab, 0, &uuid::Uuid::nil().to_string()),
        Some("application/json"),
    )
    .await;
    assert_eq!(missing.status(), 404);
    let body: Value = missing.json().await.unwrap();
    assert!(body["odata.error"]["message"]["value"].is_string());
}

#[tokio::test]
async fn filters_select_by_stamp_id_cloud_owner_and_modified_time() {
    let lab = start(WorldKind::Small).await;
    let stamp = lab.stamps()[0].stamp_id;
    let all = spf_json(&lab, 0, "VirtualMachines").await;
    let all_vms = all["value"].as_array().unwrap().clone();
    let by_stamp = spf_json(
        &lab,
        0,
        &format!("VirtualMachines?$filter=StampId eq guid'{stamp}'"),
    )
    .await;
    assert_eq!(ids(&by_stamp).len(), all_vms.len());
    let other = lab.stamps()[1].stamp_id;
    let none = spf_json(
        &lab,
        0,
        &format!("VirtualMachines?$filter=StampId eq guid'{other}'"),
    )
    .await;
    assert!(ids(&none).is_empty());

    let vm = &all_vms[0];
    let (cloud, role) = (
        vm["CloudId"].as_str().unwrap(),
        vm["Owner"]["RoleID"].as_str().unwrap(),
    );
    let by_owner = spf_json(
        &lab,
        0,
        &format!(
            "VirtualMachines?$filter=CloudId eq guid'{cloud}' and Owner/RoleID eq guid'{role}'"
        ),
    )
    .await;
    let expected = all_vms
        .iter()
        .filter(|v| v["CloudId"] == cloud && v["Owner"]["RoleID"] == role)
        .count();
    assert_eq!(ids(&by_owner).len(), expected);
    assert!(expected >= 5);

    let (a, b) = (
        all_vms[0]["ID"].as_str().unwrap(),
        all_vms[1]["ID"].as_str().unwrap(),
    );
    let either = spf_json(&lab, 0, &format!("VirtualMachines?$filter=(ID eq guid'{a}' or ID eq guid'{b}') and StampId eq guid'{stamp}'")).await;
    assert_eq!(ids(&either).len(), 2);

    let since = all_vms
        .iter()
        .map(|v| v["ModifiedTime"].as_str().unwrap().to_owned())
        .max()
        .unwrap();
    let changed = spf_json(
        &lab,
        0,
        &format!("VirtualMachines?$filter=ModifiedTime gt datetime'{since}'"),
    )
    .await;
    assert!(ids(&changed).is_empty(), "nothing changed yet");
    let merge = spf_send(
        &lab,
        0,
        "MERGE",
        &vm_key(&lab, 0, a),
        json!({"Description": "touched"}),
    )
    .await;
    assert_eq!(merge.status(), 204);
    let changed = spf_json(
        &lab,
        0,
        &format!("VirtualMachines?$filter=ModifiedTime gt datetime'{since}'"),
    )
    .await;
    assert_eq!(ids(&changed), vec![a.to_owned()]);
}

#[tokio::test]
async fn a_filter_outside_the_grammar_is_a_400_odata_error() {
    let lab = start(WorldKind::Small).await;
    for bad in [
        "Nope eq 1",
        "substringof('a', Name)",
        "Name eq",
        "StampId eq guid'not-a-guid'",
        "(Name eq 'x'",
    ] {
        let response = spf_get(
            &lab,
            0,
            &format!("VirtualMachines?$filter={bad}"),
            Some("application/json"),
        )
        .await;
        assert_eq!(response.status(), 400, "{bad}");
        let body: Value = response.json().await.unwrap();
        assert!(body["odata.error"]["code"].is_string(), "{bad}: {body}");
    }
}

#[tokio::test]
async fn top_skip_and_select_shape_the_page() {
    let lab = start(WorldKind::Small).await;
    let all = ids(&spf_json(&lab, 0, "VirtualMachines").await);
    let page = spf_json(&lab, 0, "VirtualMachines?$top=3&$skip=2&$select=ID,Name").await;
    assert_eq!(ids(&page), all[2..5].to_vec());
    let first = page["value"][0].as_object().unwrap();
    assert_eq!(first.len(), 2, "only the selected properties: {first:?}");
    let ordered = spf_json(&lab, 0, "VirtualMachines?$orderby=Name desc&$select=Name").await;
    let names: Vec<&str> = ordered["value"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["Name"].as_str().unwrap())
        .collect();
    let mut sorted = names.clone();
    sorted.sort_unstable_by(|a, b| b.cmp(a));
    assert_eq!(names, sorted);
}

#[tokio::test]
async fn server_paging_stops_at_500_with_a_next_link_that_continues() {
    let lab = start(WorldKind::Empty).await;
    control(
        &lab,
        "POST",
        "/lab/stamps/A/vms",
        Some(json!({"count": 620, "running": true})),
    )
    .await;
    let first = spf_json(&lab, 0, "VirtualMachines?$filter=IsRecoveryVM eq false").await;
    assert_eq!(ids(&first).len(), 500);
    let next = first["odata.nextLink"]
        .as_str()
        .expect("nextLink")
        .to_owned();
    assert!(next.starts_with("http://"), "absolute: {next}");
    let s = &lab.stamps()[0];
    let second: Value = client()
        .get(&next)
        .basic_auth(&s.spf_username, Some(&s.spf_password))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(ids(&second).len(), 120);
    assert!(second.get("odata.nextLink").is_none());
}

#[tokio::test]
async fn full_metadata_annotates_entities_and_minimal_does_not() {
    let lab = start(WorldKind::Small).await;
    let full = spf_get(
        &lab,
        0,
        "VirtualMachines?$top=1",
        Some("application/json;odata=fullmetadata"),
    )
    .await;
    let full: Value = full.json().await.unwrap();
    let vm = &full["value"][0];
    assert_eq!(vm["odata.type"], "VMM.VirtualMachine");
    assert!(
        vm["odata.editLink"]
            .as_str()
            .unwrap()
            .starts_with("VirtualMachines(ID=guid'")
    );
    assert!(vm["odata.id"].as_str().unwrap().starts_with("http://"));
    assert!(vm["TotalSize"].is_string(), "Int64 is a JSON string");
    let minimal = spf_json(&lab, 0, "VirtualMachines?$top=1").await;
    assert!(minimal["value"][0].get("odata.type").is_none());
    let none = spf_get(
        &lab,
        0,
        "VirtualMachines?$top=1",
        Some("application/json;odata=nometadata"),
    )
    .await;
    let none: Value = none.json().await.unwrap();
    assert!(none.get("odata.metadata").is_none());
}

#[tokio::test]
async fn atom_is_the_default_and_carries_typed_properties() {
    let lab = start(WorldKind::Small).await;
    let response = spf_get(&lab, 0, "VirtualMachines?$top=2", None).await;
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/atom+xml")
    );
    let xml = response.text().await.unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let (mut entries, mut ids, mut typed_guid, mut in_id) = (0, Vec::new(), false, false);
    loop {
        match reader.read_event().expect("well-formed Atom") {
            quick_xml::events::Event::Start(e) => {
                if e.name().as_ref() == b"entry" {
                    entries += 1;
                }
                if e.name().as_ref() == b"d:ID" {
                    in_id = true;
                    typed_guid = e
                        .attributes()
                        .flatten()
                        .any(|a| a.key.as_ref() == b"m:type" && a.value.as_ref() == b"Edm.Guid");
                }
            }
            quick_xml::events::Event::Text(t) if in_id => {
                ids.push(t.unescape().unwrap().into_owned());
                in_id = false;
            }
            quick_xml::events::Event::Eof => break,
            _ => {}
        }
    }
    assert_eq!(entries, 2);
    assert_eq!(ids.len(), 2);
    assert!(typed_guid);
    assert!(
        xml.contains("<m:properties>") && xml.contains("<d:StatusString>Running</d:StatusString>")
    );
}

#[tokio::test]
async fn a_posted_vm_is_creating_until_the_creation_latency_has_passed_then_running() {
    let lab = start(WorldKind::Small).await;
    let clouds = spf_json(&lab, 0, "Clouds").await;
    let cloud = clouds["value"][0]["ID"].as_str().unwrap().to_owned();
    let role = spf_json(&lab, 0, "UserRoles").await["value"][0]["ID"]
        .as_str()
        .unwrap()
        .to_owned();
    let response = spf_send(
        &lab,
        0,
        "POST",
        "VirtualMachines",
        json!({"Name": "new-vm", "CloudId": cloud, "StampId": lab.stamps()[0].stamp_id, "Owner": {"RoleID": role}, "TotalSize": "21474836480"}),
    )
    .await;
    assert_eq!(response.status(), 201);
    assert!(response.headers().get("location").is_some());
    let vm: Value = response.json().await.unwrap();
    assert_eq!(vm["StatusString"], "Creating...");
    assert!(
        !vm["Owner"]["RoleName"].as_str().unwrap().is_empty(),
        "owner names filled from the role"
    );
    let key = vm_key(&lab, 0, vm["ID"].as_str().unwrap());
    advance(&lab, 121.0).await;
    let vm = spf_json(&lab, 0, &key).await;
    assert_eq!(vm["StatusString"], "Running");
}

#[tokio::test]
async fn merge_hands_a_vm_to_another_role_and_delete_removes_it() {
    let lab = start(WorldKind::Small).await;
    let vm = spf_json(&lab, 0, "VirtualMachines?$top=1").await["value"][0].clone();
    let roles = spf_json(&lab, 0, "UserRoles").await;
    let other = roles["value"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["ID"] != vm["Owner"]["RoleID"])
        .unwrap()
        .clone();
    let key = vm_key(&lab, 0, vm["ID"].as_str().unwrap());
    let response = spf_send(
        &lab,
        0,
        "PATCH",
        &key,
        json!({"Owner": {"RoleID": other["ID"], "UserName": "someone", "RoleName": other["Name"]}}),
    )
    .await;
    assert_eq!(response.status(), 204);
    let moved = spf_json(&lab, 0, &key).await;
    assert_eq!(moved["Owner"]["RoleID"], other["ID"]);
    assert!(moved["ModifiedTime"].as_str().unwrap() > vm["ModifiedTime"].as_str().unwrap());

    let tunnelled = client()
        .post(format!("{}{SVC}{key}", lab.stamps()[0].spf))
        .basic_auth(
            &lab.stamps()[0].spf_username,
            Some(&lab.stamps()[0].spf_password),
        )
        .header("X-HTTP-Method", "MERGE")
        .json(&json!({"Operation": "Stop"}))
        .send()
        .await
        .unwrap();
    assert_eq!(tunnelled.status(), 204);
    assert_eq!(spf_json(&lab, 0, &key).await["StatusString"], "Stopped");

    assert_eq!(
        spf_send(&lab, 0, "DELETE", &key, json!({})).await.status(),
        204
    );
    assert_eq!(
        spf_get(&lab, 0, &key, Some("application/json"))
            .await
            .status(),
        404
    );
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let lab = start(WorldKind::Empty).await;
    let response = client()
        .get(format!("{}{SVC}VirtualMachines", lab.stamps()[0].spf))
        .basic_auth("spfadmin", Some("wrong"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
}
