//! Tolerant reading of fabric JSON: member names in any of PascalCase, camelCase or snake_case
//! (`VMId`, `vmId`, `vm_id` are one name), annotations (`odata.*`, `x@odata.type`) ignored,
//! unknown members ignored, numbers as JSON numbers or strings, GUIDs in any .NET text form.
//!
//! Readers normalise every object key to snake_case and then let serde read the value into types
//! whose fields are named in snake_case. This module never does I/O.

use serde::Deserialize;
use serde::de::{DeserializeOwned, Deserializer, Error as _};
use serde_json::{Map, Value};
use time::OffsetDateTime;

/// Reads `body` as `T` after normalising member names.
pub(crate) fn from_slice<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    from_value(value)
}

/// Reads an already parsed value as `T` after normalising member names.
pub(crate) fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, String> {
    serde_json::from_value(normalise(value)).map_err(|e| e.to_string())
}

/// The value with every object key in snake_case and annotations dropped.
pub(crate) fn normalise(value: Value) -> Value {
    match value {
        Value::Object(members) => {
            let mut out = Map::with_capacity(members.len());
            for (key, value) in members {
                // `odata.metadata`, `odata.nextLink`, `Prop@odata.type`: annotations, not data.
                if key.contains('.') || key.contains('@') {
                    continue;
                }
                out.insert(snake_case(&key), normalise(value));
            }
            Value::Object(out)
        }
        Value::Array(items) => Value::Array(items.into_iter().map(normalise).collect()),
        other => other,
    }
}

/// `VMNetworkIds` → `vm_network_ids`, `SubscriptionID` → `subscription_id`, `vmId` → `vm_id`.
pub(crate) fn snake_case(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    let mut out = String::with_capacity(key.len() + 4);
    for (index, &c) in chars.iter().enumerate() {
        if c == '_' || c == '-' || c == ' ' {
            if !out.is_empty() && !out.ends_with('_') {
                out.push('_');
            }
            continue;
        }
        if c.is_uppercase() {
            let previous = index.checked_sub(1).map(|i| chars[i]);
            let next = chars.get(index + 1);
            // A word starts at a lower-to-upper step, or at the last capital of an acronym
            // that is followed by a lower-case letter (`VMNetwork` → `vm`, `network`).
            let starts_word = match previous {
                Some(p) if p.is_lowercase() || p.is_ascii_digit() => true,
                Some(p) if p.is_uppercase() => next.is_some_and(|n| n.is_lowercase()),
                _ => false,
            };
            if starts_word && !out.ends_with('_') {
                out.push('_');
            }
            out.extend(c.to_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

/// An optional integer written as a JSON number or a string (`Edm.Int64` in OData v3 JSON).
pub(crate) fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Number(n)) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .map(Some)
            .ok_or_else(|| D::Error::custom(format!("{n} is not an integer"))),
        Some(Value::String(s)) if s.trim().is_empty() => Ok(None),
        Some(Value::String(s)) => s
            .trim()
            .parse::<i64>()
            .map(Some)
            .map_err(|_| D::Error::custom(format!("'{s}' is not an integer"))),
        Some(other) => Err(D::Error::custom(format!("{other} is not an integer"))),
    }
}

/// An optional boolean written as `true`/`false` or their text.
pub(crate) fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::Bool(b)) => Ok(Some(b)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("true") => Ok(Some(true)),
        Some(Value::String(s)) if s.eq_ignore_ascii_case("false") => Ok(Some(false)),
        Some(other) => Err(D::Error::custom(format!("{other} is not a boolean"))),
    }
}

/// An optional text that some services write as a number (`Status`).
pub(crate) fn opt_text<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(Value::Number(n)) => Ok(Some(n.to_string())),
        Some(Value::Bool(b)) => Ok(Some(b.to_string())),
        Some(other) => Err(D::Error::custom(format!("{other} is not text"))),
    }
}

/// A list of strings that may arrive as `null`, a single string, or a list of strings.
pub(crate) fn text_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    match Option::<Value>::deserialize(d)? {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::String(s)) if s.is_empty() => Ok(Vec::new()),
        Some(Value::String(s)) => Ok(vec![s]),
        Some(Value::Array(items)) => items
            .into_iter()
            .filter(|v| !v.is_null())
            .map(|v| match v {
                Value::String(s) => Ok(s),
                // A list of objects with an id (`AddOns` as objects rather than ids).
                Value::Object(m) => m
                    .get("id")
                    .and_then(Value::as_str)
                    .map(str::to_owned)
                    .ok_or_else(|| D::Error::custom("list item has no id")),
                other => Ok(other.to_string()),
            })
            .collect(),
        Some(other) => Err(D::Error::custom(format!("{other} is not a list"))),
    }
}

/// An optional timestamp: RFC 3339, or OData v3's `Edm.DateTime` without offset (UTC).
/// Placeholder times before year 1900 (`0001-01-01`, ASR's `1753-01-01`) read as absent.
pub(crate) fn opt_time<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    match Option::<String>::deserialize(d)? {
        None => Ok(None),
        Some(text) if text.trim().is_empty() => Ok(None),
        Some(text) => parse_time(&text)
            .map(|t| (t.year() >= 1900).then_some(t))
            .ok_or_else(|| D::Error::custom(format!("'{text}' is not a timestamp"))),
    }
}

/// Parses a .NET timestamp in any of its wire forms (the contract codec's one parser).
pub(crate) fn parse_time(text: &str) -> Option<OffsetDateTime> {
    crate::contract::parse_time(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn member_names_in_any_convention_become_snake_case() {
        for (from, to) in [
            ("VMId", "vm_id"),
            ("vmId", "vm_id"),
            ("ID", "id"),
            ("StampId", "stamp_id"),
            ("RoleID", "role_id"),
            ("CPUCount", "cpu_count"),
            ("IsRecoveryVM", "is_recovery_vm"),
            ("VMNetworkIds", "vm_network_ids"),
            ("SubscriptionID", "subscription_id"),
            ("filteredTotalCount", "filtered_total_count"),
            (
                "initialReplicationProgressPercentage",
                "initial_replication_progress_percentage",
            ),
            ("stamp_id", "stamp_id"),
        ] {
            assert_eq!(snake_case(from), to, "{from}");
        }
    }

    #[test]
    fn annotations_are_dropped_and_nested_keys_normalised() {
        let value = serde_json::json!({"odata.metadata": "x", "Owner": {"RoleID": "r"},
            "GrantedToList@odata.type": "t", "Items": [{"Name": "a"}]});
        assert_eq!(
            normalise(value),
            serde_json::json!({"owner": {"role_id": "r"}, "items": [{"name": "a"}]})
        );
    }

    #[test]
    fn timestamps_without_offset_are_utc_and_placeholders_are_absent() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "opt_time")]
            t: Option<OffsetDateTime>,
        }
        let read = |s: &str| from_value::<T>(serde_json::json!({ "t": s })).unwrap().t;
        assert_eq!(
            read("2026-11-22T10:00:00").unwrap().unix_timestamp(),
            1_795_341_600
        );
        assert_eq!(read("2026-11-22T10:00:00Z"), read("2026-11-22T10:00:00"));
        assert_eq!(read("1753-01-01T01:01:01Z"), None);
        assert_eq!(read("0001-01-01T00:00:00"), None);
    }

    #[test]
    fn integers_read_from_numbers_or_strings() {
        #[derive(Deserialize)]
        struct T {
            #[serde(default, deserialize_with = "opt_i64")]
            n: Option<i64>,
        }
        let read = |v: Value| from_value::<T>(serde_json::json!({ "N": v })).unwrap().n;
        assert_eq!(read(serde_json::json!("42949672960")), Some(42_949_672_960));
        assert_eq!(read(serde_json::json!(7)), Some(7));
        assert_eq!(read(Value::Null), None);
    }
}
