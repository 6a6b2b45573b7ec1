//! The codec's promises, seen through `decode` and `encode` on real contract types.

use super::*;
use crate::contract::{QuotaUpdateBatch, ResourceProvider, WapError, WireSubscription};
use crate::domain::{LifecycleState, SubscriptionState};

const ID: &str = "ec66ec96-8edd-4916-be45-607959155c2a";

fn json_subscription(body: &str) -> Result<WireSubscription, ContractError> {
    decode(Format::Json, body.as_bytes())
}

fn xml_subscription(body: &str) -> Result<WireSubscription, ContractError> {
    decode(Format::Xml, body.as_bytes())
}

#[test]
fn member_names_match_in_any_case() {
    let json = json_subscription(&format!(
        r#"{{"subscriptionid":"{ID}","SUBSCRIPTIONNAME":"n","lifeCycleState":"deleting"}}"#
    ))
    .unwrap();
    assert_eq!(json.subscription_name.as_deref(), Some("n"));
    assert_eq!(json.lifecycle_state, Some(LifecycleState::Deleting));
    let xml = xml_subscription(&format!(
        "<Subscription><subscriptionId>{ID}</subscriptionId><LifeCycleState>Deleting</LifeCycleState></Subscription>"
    ))
    .unwrap();
    assert_eq!(xml.lifecycle_state, Some(LifecycleState::Deleting));
}

#[test]
fn enums_read_from_json_net_integers_and_datacontract_names() {
    for (state, expected) in [
        ("1", SubscriptionState::Suspended),
        ("\"1\"", SubscriptionState::Suspended),
        ("\"deletepending\"", SubscriptionState::DeletePending),
        ("\"Active\"", SubscriptionState::Active),
    ] {
        let body = format!(r#"{{"SubscriptionId":"{ID}","State":{state}}}"#);
        assert_eq!(
            json_subscription(&body).unwrap().state,
            Some(expected),
            "{state}"
        );
    }
    let xml = xml_subscription(&format!(
        "<Subscription><SubscriptionId>{ID}</SubscriptionId><State>2</State><LifecycleState>5</LifecycleState></Subscription>"
    ))
    .unwrap();
    assert_eq!(xml.state, Some(SubscriptionState::DeletePending));
    assert_eq!(xml.lifecycle_state, Some(LifecycleState::OutOfSync));
}

#[test]
fn an_unknown_enum_value_is_refused_naming_the_member_and_the_choices() {
    let err =
        json_subscription(&format!(r#"{{"SubscriptionId":"{ID}","State":"Frozen"}}"#)).unwrap_err();
    assert_eq!(
        err.message,
        "State: 'Frozen' is not one of Active, Suspended, DeletePending (or 0, 1, 2)"
    );
    assert!(json_subscription(&format!(r#"{{"SubscriptionId":"{ID}","State":7}}"#)).is_err());
}

#[test]
fn a_bad_subscription_id_is_refused_naming_the_member() {
    let err = json_subscription(r#"{"SubscriptionId":"abc"}"#).unwrap_err();
    assert_eq!(
        err.message,
        "SubscriptionId: Subscription id 'abc' is not a valid GUID."
    );
    let err = json_subscription("{}").unwrap_err();
    assert_eq!(err.message, "SubscriptionId: a value is required");
}

#[test]
fn nil_and_null_members_read_as_absent() {
    let xml = xml_subscription(&format!(
        r#"<Subscription xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><SubscriptionId>{ID}</SubscriptionId>
        <State i:nil="true" /><LastErrorMessage i:nil="true"/><CoAdminIds i:nil="true"/></Subscription>"#
    ))
    .unwrap();
    assert_eq!(xml.state, None, "absent, so an update keeps the state");
    assert_eq!(xml.last_error_message, None);
    assert_eq!(
        xml.co_admin_ids, None,
        "nil, so an update keeps the co-admins"
    );
    let json = json_subscription(&format!(
        r#"{{"SubscriptionId":"{ID}","State":null,"QuotaSettings":null,"CoAdminIds":null}}"#
    ))
    .unwrap();
    assert_eq!(json.state, None);
    assert_eq!(json.co_admin_ids, None);
    assert!(json.quota_settings.is_empty());
}

#[test]
fn a_null_member_is_there_for_a_reader_that_asks() {
    for (format, body) in [
        (Format::Json, r#"{"Limit":null,"Other":1}"#),
        (
            Format::Xml,
            r#"<Settings xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><limit i:nil="true"/><Other>1</Other></Settings>"#,
        ),
    ] {
        let node = parse(format, body.as_bytes()).unwrap();
        assert_eq!(node.get(&["Limit"]), None, "{body}");
        assert_eq!(node.member(&["Limit"]), Some(&Node::Null), "{body}");
        assert_eq!(node.member(&["Missing"]), None, "{body}");
        assert_eq!(node.member(&["other"]), node.get(&["Other"]), "{body}");
    }
}

#[test]
fn co_admins_may_be_a_single_string_or_spelled_co_admins() {
    let single = json_subscription(&format!(
        r#"{{"SubscriptionId":"{ID}","CoAdminIds":"a@b"}}"#
    ))
    .unwrap();
    assert_eq!(single.co_admin_ids.unwrap(), ["a@b"]);
    let alias = json_subscription(&format!(
        r#"{{"SubscriptionId":"{ID}","CoAdmins":["a@b","c@d"]}}"#
    ))
    .unwrap();
    assert_eq!(alias.co_admin_ids.unwrap(), ["a@b", "c@d"]);
    let xml = xml_subscription(&format!(
        "<Subscription><SubscriptionId>{ID}</SubscriptionId><CoAdmins>a@b</CoAdmins></Subscription>"
    ))
    .unwrap();
    assert_eq!(xml.co_admin_ids.unwrap(), ["a@b"]);
}

#[test]
fn unknown_members_are_ignored() {
    let json = json_subscription(&format!(
        r#"{{"Future":{{"x":[1,2]}},"SubscriptionId":"{ID}","ExtensionData":null}}"#
    ))
    .unwrap();
    assert_eq!(json.subscription_id.to_string(), ID);
    let xml = xml_subscription(&format!(
        "<Subscription><Future><x>1</x></Future><SubscriptionId>{ID}</SubscriptionId></Subscription>"
    ))
    .unwrap();
    assert_eq!(xml.subscription_id.to_string(), ID);
}

#[test]
fn nested_errors_name_the_path_to_the_member() {
    let err = decode::<QuotaUpdateBatch>(
        Format::Json,
        br#"{"BaseQuota":[{"Key":"a","Value":"1"},{"Value":"2"}]}"#,
    )
    .unwrap_err();
    assert_eq!(err.message, "BaseQuota[1].Key: a value is required");
    let err = decode::<QuotaUpdateBatch>(
        Format::Json,
        format!(r#"{{"SubscriptionIdsToUpdate":["{ID}","nope"]}}"#).as_bytes(),
    )
    .unwrap_err();
    assert_eq!(
        err.message,
        "SubscriptionIdsToUpdate[1]: Subscription id 'nope' is not a valid GUID."
    );
    let err = decode::<ResourceProvider>(
        Format::Json,
        br#"{"Name":"dr","AdminEndpoint":{"AuthenticationMode":"Kerberos","ForwardingAddress":"x"}}"#,
    )
    .unwrap_err();
    assert!(
        err.message
            .starts_with("AdminEndpoint.AuthenticationMode: 'Kerberos'"),
        "{err}"
    );
}

#[test]
fn a_value_of_the_wrong_shape_is_refused() {
    let err = json_subscription(&format!(
        r#"{{"SubscriptionId":"{ID}","AdminId":{{"a":1}}}}"#
    ))
    .unwrap_err();
    assert_eq!(err.message, "AdminId: expected a value, found an object");
    assert!(json_subscription("[1]").is_err());
    assert!(json_subscription("null").is_err());
}

#[test]
fn empty_and_non_utf8_bodies_are_refused() {
    for format in [Format::Json, Format::Xml] {
        assert_eq!(
            decode::<WapError>(format, b"").unwrap_err().message,
            "body is empty"
        );
        assert_eq!(
            decode::<WapError>(format, b"  \n").unwrap_err().message,
            "body is empty"
        );
        let err = decode::<WapError>(format, b"{\"Code\":\"\xff\"}").unwrap_err();
        assert!(err.message.starts_with("body is not valid UTF-8"), "{err}");
    }
}

#[test]
fn a_utf8_byte_order_mark_is_tolerated() {
    let error = decode::<WapError>(Format::Json, b"\xEF\xBB\xBF{\"Code\":\"X\"}").unwrap();
    assert_eq!(error.code, "X");
}

#[test]
fn no_prefix_of_a_body_panics_in_either_format() {
    let json = encode(Format::Json, &WapError::new("Bad", "x"));
    let xml = encode(Format::Xml, &WapError::new("Bad", "<&>"));
    for (format, body) in [(Format::Json, json), (Format::Xml, xml)] {
        for end in 0..=body.len() {
            let _ = decode::<WapError>(format, &body[..end]);
            let _ = decode::<WireSubscription>(format, &body[..end]);
        }
    }
}

#[test]
fn xml_with_an_entity_declaration_is_refused_through_decode() {
    let body = r#"<?xml version="1.0"?><!DOCTYPE Error [<!ENTITY x SYSTEM "file:///etc/passwd">]><Error><Code>&x;</Code></Error>"#;
    let err = decode::<WapError>(Format::Xml, body.as_bytes()).unwrap_err();
    assert_eq!(
        err.message,
        "XML DTDs and entity declarations are not accepted"
    );
}

#[test]
fn content_types_name_utf8() {
    assert_eq!(
        Format::Json.content_type(),
        "application/json; charset=utf-8"
    );
    assert_eq!(Format::Xml.content_type(), "application/xml; charset=utf-8");
}

#[test]
fn odd_character_references_are_refused_or_read_without_panicking() {
    for reference in [
        "&#0;",
        "&#xD800;",
        "&#xFFFFFFFFFF;",
        "&#;",
        "&#x;",
        "&#65",
        "&amp",
    ] {
        let body = format!("<Error><Code>a{reference}b</Code></Error>");
        let _ = decode::<WapError>(Format::Xml, body.as_bytes());
    }
    let ok =
        decode::<WapError>(Format::Xml, b"<Error><Code>&#65;&#x42;&lt;</Code></Error>").unwrap();
    assert_eq!(ok.code, "AB<");
}

/// A tiny deterministic generator, so the mutation test needs no extra crate and never flakes.
fn next(seed: &mut u64) -> u64 {
    *seed = seed
        .wrapping_mul(6_364_136_223_846_793_005)
        .wrapping_add(1_442_695_040_888_963_407);
    *seed >> 33
}

#[test]
fn mutated_bodies_never_panic() {
    let mut error = WapError::new("Bad", "x");
    error.parameters = Some(vec!["p".into()]);
    error.inner_errors = Some(vec![WapError::new("Inner", "y")]);
    let samples = [
        encode(Format::Json, &error),
        encode(Format::Xml, &error),
        format!(r#"{{"SubscriptionId":"{ID}","State":1,"CoAdminIds":["a"],"QuotaSettings":[{{"Key":"k","Value":"v"}}]}}"#).into_bytes(),
    ];
    let alphabet = b"<>/&;#\"'{}[]:,=!?-x0 \n\xff";
    let mut seed = 42;
    for sample in &samples {
        for _ in 0..2_000 {
            let mut body = sample.clone();
            for _ in 0..=next(&mut seed) % 4 {
                let at = (next(&mut seed) as usize) % body.len();
                let byte = alphabet[(next(&mut seed) as usize) % alphabet.len()];
                match next(&mut seed) % 3 {
                    0 => body[at] = byte,
                    1 => body.insert(at, byte),
                    _ => {
                        body.remove(at);
                    }
                }
            }
            for format in [Format::Json, Format::Xml] {
                let _ = decode::<WapError>(format, &body);
                let _ = decode::<WireSubscription>(format, &body);
                let _ = decode::<ResourceProvider>(format, &body);
            }
        }
    }
}
