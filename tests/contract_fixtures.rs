//! The WAP payloads in `../shared/fixtures/wap/` read into their contract types and survive every
//! trip through the writer; the XML writer keeps DataContract element order.
//!
//! Every `.json`/`.xml` file in the folder must be mapped below, so a new fixture is noticed.

use std::fmt::Debug;
use std::path::PathBuf;

use wapdr::contract::{
    AuthenticationMode, AzureProvisioningInfo, Format, FromWire, Node, QuotaUpdateBatch,
    QuotaUpdateResultBatch, ResourceProvider, ServiceQuotaSettingList, ToWire, UsageRecordList,
    WapError, WireSubscription, decode, encode, parse,
};
use wapdr::domain::{LifecycleState, SubscriptionState};

const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/wap");

/// Which contract each payload file holds.
const PAYLOADS: &[(&str, Contract)] = &[
    (
        "admin-subscription-provision-request.json",
        Contract::ProvisioningInfo,
    ),
    ("error-resourceprovider.json", Contract::Error),
    ("error-resourceprovider.xml", Contract::Error),
    (
        "notification-defaultquota-response.json",
        Contract::QuotaList,
    ),
    ("notification-quota-update-batch.json", Contract::QuotaBatch),
    ("notification-quota-update-batch.xml", Contract::QuotaBatch),
    (
        "notification-quota-update-result.json",
        Contract::QuotaResult,
    ),
    (
        "notification-subscription-create.json",
        Contract::Subscription,
    ),
    (
        "notification-subscription-create.xml",
        Contract::Subscription,
    ),
    (
        "resource-provider-registration.json",
        Contract::ResourceProvider,
    ),
    (
        "resource-provider-registration.xml",
        Contract::ResourceProvider,
    ),
    ("usage-response.json", Contract::UsageRecords),
    ("usage-response.xml", Contract::UsageRecords),
];

#[derive(Debug, Clone, Copy)]
enum Contract {
    ProvisioningInfo,
    Error,
    QuotaList,
    QuotaBatch,
    QuotaResult,
    Subscription,
    ResourceProvider,
    UsageRecords,
}

fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(FIXTURES).join(name);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn format_of(name: &str) -> Format {
    if name.ends_with(".xml") {
        Format::Xml
    } else {
        Format::Json
    }
}

/// Reads a fixture and checks both round trips; returns the value read.
fn round_trips<T: FromWire + ToWire + Debug + PartialEq>(name: &str) -> T {
    let format = format_of(name);
    let value: T = decode(format, &fixture(name)).unwrap_or_else(|e| panic!("{name}: {e}"));

    let same_format = encode(format, &value);
    let again: T = decode(format, &same_format).unwrap_or_else(|e| {
        panic!(
            "{name}: re-reading our own output failed: {e}\n{}",
            lossy(&same_format)
        )
    });
    assert_eq!(
        again, value,
        "{name}: decode -> encode -> decode changed the value"
    );

    let xml = encode(Format::Xml, &value);
    let from_xml: T = decode(Format::Xml, &xml)
        .unwrap_or_else(|e| panic!("{name}: reading our XML failed: {e}\n{}", lossy(&xml)));
    let json = encode(Format::Json, &from_xml);
    let from_json: T = decode(Format::Json, &json)
        .unwrap_or_else(|e| panic!("{name}: reading our JSON failed: {e}\n{}", lossy(&json)));
    assert_eq!(
        from_json, value,
        "{name}: JSON -> XML -> JSON changed the value"
    );
    value
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn check(name: &str, contract: Contract) {
    match contract {
        Contract::ProvisioningInfo => drop(round_trips::<AzureProvisioningInfo>(name)),
        Contract::Error => drop(round_trips::<WapError>(name)),
        Contract::QuotaList => drop(round_trips::<ServiceQuotaSettingList>(name)),
        Contract::QuotaBatch => drop(round_trips::<QuotaUpdateBatch>(name)),
        Contract::QuotaResult => drop(round_trips::<QuotaUpdateResultBatch>(name)),
        Contract::Subscription => drop(round_trips::<WireSubscription>(name)),
        Contract::ResourceProvider => drop(round_trips::<ResourceProvider>(name)),
        Contract::UsageRecords => drop(round_trips::<UsageRecordList>(name)),
    }
}

#[test]
fn every_payload_fixture_is_mapped_to_a_contract() {
    let mut unmapped = Vec::new();
    for entry in std::fs::read_dir(FIXTURES).expect("fixtures folder") {
        let name = entry
            .expect("entry")
            .file_name()
            .to_string_lossy()
            .into_owned();
        let is_payload = name.ends_with(".json") || name.ends_with(".xml");
        if is_payload && !PAYLOADS.iter().any(|(mapped, _)| *mapped == name) {
            unmapped.push(name);
        }
    }
    assert!(
        unmapped.is_empty(),
        "map these fixtures to a contract: {unmapped:?}"
    );
}

#[test]
fn every_payload_fixture_reads_and_round_trips_in_both_formats() {
    for (name, contract) in PAYLOADS {
        check(name, *contract);
    }
}

#[test]
fn json_and_xml_fixtures_of_the_same_contract_agree() {
    fn agree<T: FromWire + Debug + PartialEq>(stem: &str) {
        let json: T = decode(Format::Json, &fixture(&format!("{stem}.json"))).unwrap();
        let xml: T = decode(Format::Xml, &fixture(&format!("{stem}.xml"))).unwrap();
        assert_eq!(json, xml, "{stem}");
    }
    agree::<WapError>("error-resourceprovider");
    agree::<QuotaUpdateBatch>("notification-quota-update-batch");
    agree::<WireSubscription>("notification-subscription-create");
    agree::<ResourceProvider>("resource-provider-registration");
    agree::<UsageRecordList>("usage-response");
}

#[test]
fn fixtures_read_into_the_values_they_show() {
    let subscription: WireSubscription = round_trips("notification-subscription-create.json");
    assert_eq!(
        subscription.subscription_id.to_string(),
        "ec66ec96-8edd-4916-be45-607959155c2a"
    );
    assert_eq!(subscription.state, Some(SubscriptionState::Active));
    assert_eq!(
        subscription.lifecycle_state,
        Some(LifecycleState::Provisioned)
    );
    assert_eq!(subscription.quota_settings[0].key, "MaxProtectedVMs");
    assert_eq!(
        subscription.co_admin_ids.as_deref(),
        Some(&["coadmin@fabrikam.com".to_owned()][..])
    );

    let provider: ResourceProvider = round_trips("resource-provider-registration.xml");
    let tenant = provider.tenant_endpoint.expect("tenant endpoint");
    assert_eq!(
        tenant.endpoint.authentication_mode,
        AuthenticationMode::Basic
    );
    assert_eq!(
        tenant.target_uri_template.as_deref(),
        Some("subscriptions/{subid}/{*path}")
    );
    assert_eq!(provider.subscription_status_polling_interval.as_secs(), 30);
    assert!(provider.health_check_endpoint.is_none());
    assert!(provider.settings.is_empty());

    let usage: UsageRecordList = round_trips("usage-response.json");
    assert_eq!(usage.0[0].event_id, 23452);
    assert_eq!(usage.0[0].record.properties["VMName"], "web01");

    let batch: QuotaUpdateBatch = round_trips("notification-quota-update-batch.xml");
    assert_eq!(batch.add_on_quotas[0][0].value, "5");
    assert_eq!(batch.subscription_ids_to_update.len(), 2);

    let info: AzureProvisioningInfo = round_trips("admin-subscription-provision-request.json");
    assert_eq!(info.plan_id.as_deref(), Some("e3a1c7e1"));
    assert_eq!(info.co_admin_names, None);
}

/// The member names of an object node, in order.
fn names(node: &Node) -> Vec<String> {
    match node {
        Node::Map(members) => members.iter().map(|(name, _)| name.clone()).collect(),
        other => panic!("not an object: {other:?}"),
    }
}

fn assert_same_order<T: FromWire + ToWire>(name: &str, pick: fn(&Node) -> &Node) {
    let original = parse(Format::Xml, &fixture(name)).unwrap();
    let value: T = decode(Format::Xml, &fixture(name)).unwrap();
    let written = parse(Format::Xml, &encode(Format::Xml, &value)).unwrap();
    assert_eq!(names(pick(&written)), names(pick(&original)), "{name}");
}

#[test]
fn the_xml_writer_keeps_the_datacontract_element_order() {
    assert_same_order::<WireSubscription>("notification-subscription-create.xml", |n| n);
    assert_same_order::<ResourceProvider>("resource-provider-registration.xml", |n| n);
    assert_same_order::<ResourceProvider>("resource-provider-registration.xml", |n| {
        n.get(&["TenantEndpoint"]).unwrap()
    });
    assert_same_order::<UsageRecordList>("usage-response.xml", |n| n.items()[0]);
}

#[test]
fn the_xml_writer_declares_the_namespaces_datacontract_uses() {
    let subscription: WireSubscription = decode(
        Format::Json,
        &fixture("notification-subscription-create.json"),
    )
    .unwrap();
    let xml = lossy(&encode(Format::Xml, &subscription));
    assert!(xml.starts_with(r#"<?xml version="1.0" encoding="utf-8"?><Subscription xmlns="http://schemas.microsoft.com/windowsazure" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">"#), "{xml}");
    assert!(xml.contains("<State>Active</State>"), "{xml}");
    assert!(
        xml.contains(r#"<LastErrorMessage i:nil="true" />"#),
        "{xml}"
    );
    assert!(xml.contains(r#"<CoAdminIds xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays"><d2p1:string>coadmin@fabrikam.com</d2p1:string></CoAdminIds>"#), "{xml}");

    let info: AzureProvisioningInfo = decode(
        Format::Json,
        &fixture("admin-subscription-provision-request.json"),
    )
    .unwrap();
    let xml = lossy(&encode(Format::Xml, &info));
    assert!(
        xml.contains(
            r#"<AzureProvisioningInfo xmlns="http://www.microsoft.com/Azure/ProvisioningAgent/1.0""#
        ),
        "{xml}"
    );

    let json = lossy(&encode(Format::Json, &subscription));
    assert!(json.contains(r#""State":0,"LifecycleState":0"#), "{json}");
}

#[test]
fn unseen_but_legal_subscription_spellings_are_read() {
    let body = r#"{
        "subscriptionId": "EC66EC96-8EDD-4916-BE45-607959155C2A",
        "subscriptionName": "Gold DR",
        "state": "Suspended",
        "LifeCycleState": "OutOfSync",
        "lastErrorMessage": "boom",
        "quotaSettings": [{"key": "DrEnabled", "value": "true", "Extra": 1}],
        "adminId": "tenant@fabrikam.com",
        "CoAdmins": "coadmin@fabrikam.com",
        "SomethingNew": {"nested": [1, 2, 3]}
    }"#;
    let subscription: WireSubscription = decode(Format::Json, body.as_bytes()).unwrap();
    assert_eq!(subscription.state, Some(SubscriptionState::Suspended));
    assert_eq!(
        subscription.lifecycle_state,
        Some(LifecycleState::OutOfSync)
    );
    assert_eq!(subscription.quota_settings[0].value, "true");
    assert_eq!(
        subscription.co_admin_ids.as_deref(),
        Some(&["coadmin@fabrikam.com".to_owned()][..])
    );

    let xml = r#"<Subscription xmlns="http://schemas.microsoft.com/windowsazure">
        <subscriptionid>ec66ec96-8edd-4916-be45-607959155c2a</subscriptionid>
        <State>1</State><LifeCycleState>5</LifeCycleState>
        <Unknown><Deep>x</Deep></Unknown>
        <CoAdmins>coadmin@fabrikam.com</CoAdmins>
    </Subscription>"#;
    let from_xml: WireSubscription = decode(Format::Xml, xml.as_bytes()).unwrap();
    assert_eq!(from_xml.state, Some(SubscriptionState::Suspended));
    assert_eq!(from_xml.lifecycle_state, Some(LifecycleState::OutOfSync));
    assert_eq!(
        from_xml.co_admin_ids.as_deref(),
        Some(&["coadmin@fabrikam.com".to_owned()][..])
    );
}

#[test]
fn unseen_but_legal_registration_spellings_are_read() {
    let body = r#"{"name":"drservice","PassthroughEnabled":"True","Type":"UsageProvider",
        "SubscriptionStatusPollingInterval":"1.00:00:00",
        "NotificationEndpoint":{"forwardingaddress":"http://x/","AuthenticationMode":"windows"},
        "Settings":[{"Key":"a","Value":"b"}]}"#;
    let provider: ResourceProvider = decode(Format::Json, body.as_bytes()).unwrap();
    assert!(provider.pass_through_enabled);
    assert_eq!(
        provider.subscription_status_polling_interval.as_secs(),
        86_400
    );
    let endpoint = provider
        .notification_endpoint
        .expect("notification endpoint");
    assert_eq!(endpoint.authentication_mode, AuthenticationMode::Windows);
    assert_eq!(provider.settings[0].value.as_deref(), Some("b"));
}

#[test]
fn usage_records_read_from_an_array_of_usage_record_root() {
    let xml = r#"<ArrayOfUsageRecord xmlns="http://schemas.microsoft.com/windowsazure">
      <UsageRecord>
        <EventId>7</EventId>
        <SubscriptionId>ec66ec96-8edd-4916-be45-607959155c2a</SubscriptionId>
        <StartTime>2014-07-09T22:00:00</StartTime>
        <EndTime>2014-07-09T23:00:00.0000000+00:00</EndTime>
        <Resources xmlns:a="http://schemas.microsoft.com/2003/10/Serialization/Arrays">
          <a:KeyValueOfstringstring><a:Key>ProtectedVMHours</a:Key><a:Value>1</a:Value></a:KeyValueOfstringstring>
        </Resources>
      </UsageRecord>
    </ArrayOfUsageRecord>"#;
    let records: UsageRecordList = decode(Format::Xml, xml.as_bytes()).unwrap();
    assert_eq!(records.0.len(), 1);
    assert_eq!(records.0[0].event_id, 7);
    assert_eq!(records.0[0].record.resources["ProtectedVMHours"], "1");
    assert!(records.0[0].record.properties.is_empty());
    let empty: UsageRecordList = decode(Format::Xml, b"<UsageRecords />").unwrap();
    assert!(empty.0.is_empty());
    let empty_json: UsageRecordList = decode(Format::Json, b"[]").unwrap();
    assert_eq!(encode(Format::Json, &empty_json), b"[]");
}
