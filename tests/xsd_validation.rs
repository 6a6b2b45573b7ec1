//! The DataContract XML wapdr writes, and the contract fixtures, validate against the XSDs in
//! `schemas/xsd/` (checked with xmllint from Debian's libxml2-utils, which `.ci/run` installs).

use std::collections::BTreeMap;
use std::io::Write as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use time::macros::datetime;
use wapdr::contract::{
    self, AuthenticationMode, Format, QuotaUpdateBatch, QuotaUpdateResultBatch, ResourceProvider,
    ResourceProviderEndpoint, ResourceProviderType, ServiceQuotaSettingList, ServiceUsageSummary,
    SubscriptionList, TenantEndpoint, ToWire, Usage, UsageRecordList, WapError, WireSubscription,
};
use wapdr::domain::{
    DrQuota, LifecycleState, NewUsageRecord, QuotaSetting, SubscriptionId, SubscriptionState,
    UsageRecord,
};

const SCHEMA: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/schemas/xsd/windowsazure.xsd");
const FIXTURES: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../shared/fixtures/wap");

/// Validates `xml` with xmllint; `None` when xmllint is not installed (outside CI only).
fn validate(xml: &[u8]) -> Option<Result<(), String>> {
    let child = Command::new("xmllint")
        .args(["--noout", "--nonet", "--schema", SCHEMA, "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn();
    let mut child = match child {
        Ok(child) => child,
        Err(_) if std::env::var_os("CI").is_none() => {
            eprintln!("SKIPPED: xmllint is not installed (apt-get install libxml2-utils)");
            return None;
        }
        Err(err) => panic!("xmllint must be installed in CI: {err}"),
    };
    child.stdin.take().unwrap().write_all(xml).unwrap();
    let output = child.wait_with_output().unwrap();
    Some(if output.status.success() {
        Ok(())
    } else {
        Err(String::from_utf8_lossy(&output.stderr).into_owned())
    })
}

fn assert_valid<T: ToWire>(what: &str, value: &T) {
    let xml = contract::encode(Format::Xml, value);
    if let Some(result) = validate(&xml) {
        result.unwrap_or_else(|err| {
            panic!(
                "{what} is not valid:\n{err}\n{}",
                String::from_utf8_lossy(&xml)
            )
        });
    }
}

fn subscription(full: bool) -> WireSubscription {
    WireSubscription {
        subscription_id: SubscriptionId::new_random(),
        subscription_name: full.then(|| "Gold <DR> & \"more\"".to_owned()),
        state: Some(SubscriptionState::DeletePending),
        lifecycle_state: Some(LifecycleState::OutOfSync),
        last_error_message: full.then(|| "Stamp B's WAP admin API refused the token.".to_owned()),
        quota_settings: DrQuota::default().to_settings(),
        admin_id: Some("tenant@fabrikam.com".into()),
        co_admin_ids: full.then(|| vec!["a@fabrikam.com".to_owned(), "b@fabrikam.com".to_owned()]),
    }
}

#[test]
fn the_xml_fixtures_validate() {
    let mut checked = 0;
    for entry in std::fs::read_dir(FIXTURES).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().is_some_and(|e| e == "xml") {
            let Some(result) = validate(&std::fs::read(&path).unwrap()) else {
                return;
            };
            result.unwrap_or_else(|err| panic!("{}: {err}", path.display()));
            checked += 1;
        }
    }
    assert!(
        checked >= 5,
        "expected the WAP XML fixtures, found {checked}"
    );
}

#[test]
fn wapdr_writes_schema_valid_subscriptions_quota_and_errors() {
    assert_valid("a full subscription", &subscription(true));
    assert_valid("a sparse subscription", &subscription(false));
    assert_valid(
        "a subscription list",
        &SubscriptionList(vec![subscription(true), subscription(false)]),
    );
    assert_valid(
        "the default quota",
        &ServiceQuotaSettingList(DrQuota::default().to_settings()),
    );
    assert_valid(
        "a quota batch",
        &QuotaUpdateBatch {
            base_quota: vec![QuotaSetting::new("DrEnabled", "true")],
            add_on_quotas: vec![vec![QuotaSetting::new("MaxProtectedVms", "5")], vec![]],
            subscription_ids_to_update: vec![SubscriptionId::new_random()],
        },
    );
    let mut error = WapError::new(
        "BadRequest",
        "Quota setting 'RecoveryPoints': '25' is not a whole number from 0 to 24",
    );
    error.parameters = Some(vec!["RecoveryPoints".into()]);
    error.inner_errors = Some(vec![WapError::new("Inner", "cause")]);
    assert_valid("an error", &error);
    assert_valid(
        "a quota result",
        &QuotaUpdateResultBatch {
            updated_subscription_ids: vec![SubscriptionId::new_random().to_string()],
            failed_subscription_ids: vec![],
            error: Some(WapError::new("SubscriptionNotFound", "not known")),
        },
    );
}

#[test]
fn wapdr_writes_schema_valid_usage_and_registration() {
    let record = UsageRecord {
        event_id: 9_007_199_254_740_993,
        record: NewUsageRecord {
            external_record_id: "dr-usage-1".into(),
            subscription_id: SubscriptionId::new_random(),
            resource_id: "vm-1".into(),
            service_type: "disasterrecovery".into(),
            provider_name: "disasterrecovery".into(),
            start_time: datetime!(2026-11-01 10:00 UTC),
            end_time: datetime!(2026-11-01 11:00:00.123456 UTC),
            properties: BTreeMap::from([("VMName".to_owned(), "web01 & <db>".to_owned())]),
            resources: BTreeMap::new(),
        },
    };
    assert_valid("usage records", &UsageRecordList(vec![record]));
    assert_valid("no usage records", &UsageRecordList(vec![]));
    assert_valid(
        "a usage summary",
        &ServiceUsageSummary {
            service_name: "disasterrecovery".into(),
            service_display_name: "Disaster Recovery".into(),
            retrieved_successfully: true,
            error_message: None,
            usages: vec![Usage {
                display_name: "Protected virtual machines".into(),
                current_value: 3,
                limit: -1,
                unit_display_name: "VMs".into(),
                group_id: None,
                group_display_name: None,
            }],
        },
    );
    let endpoint = |path: &str| ResourceProviderEndpoint {
        forwarding_address: format!("https://wapdr.contoso.local:8642{path}"),
        authentication_mode: AuthenticationMode::Basic,
        authentication_username: Some("wapdr".into()),
        authentication_password: Some("p@ss".into()),
    };
    assert_valid(
        "a registration",
        &ResourceProvider {
            name: "disasterrecovery".into(),
            display_name: Some("Disaster Recovery".into()),
            description: None,
            enabled: true,
            pass_through_enabled: true,
            allow_anonymous_access: false,
            allow_multiple_instances: false,
            admin_endpoint: Some(endpoint("/admin")),
            tenant_endpoint: Some(TenantEndpoint {
                endpoint: endpoint("/tenant/"),
                source_uri_template: Some("{subid}/services/disasterrecovery/{*path}".into()),
                target_uri_template: Some("subscriptions/{subid}/{*path}".into()),
            }),
            usage_endpoint: Some(endpoint("/")),
            health_check_endpoint: None,
            notification_endpoint: Some(endpoint("/notification")),
            instance_id: Some(SubscriptionId::new_random().to_string()),
            instance_display_name: None,
            max_quota_update_batch_size: 5,
            subscription_status_polling_interval: Duration::from_millis(30_500),
            provider_type: ResourceProviderType::Standard,
            settings: vec![],
        },
    );
}

#[test]
fn the_schema_catches_members_out_of_datacontract_order() {
    let misordered = br#"<Subscription xmlns="http://schemas.microsoft.com/windowsazure">
        <State>Active</State><SubscriptionId>ec66ec96-8edd-4916-be45-607959155c2a</SubscriptionId></Subscription>"#;
    if let Some(result) = validate(misordered) {
        assert!(
            result.is_err(),
            "State before SubscriptionId must not validate"
        );
    }
    let bad_enum = br#"<Subscription xmlns="http://schemas.microsoft.com/windowsazure"><State>1</State></Subscription>"#;
    if let Some(result) = validate(bad_enum) {
        assert!(
            result.is_err(),
            "DataContract XML writes enum names, not integers"
        );
    }
}
