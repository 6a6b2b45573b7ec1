//! OData v3 on the wire, as SPF speaks it: `$filter` expressions with correctly escaped literals,
//! entity keys, query strings, collection pages with `odata.nextLink`, and `odata.error` bodies.
//!
//! Nothing here does I/O. A value from a user never reaches a URL except through [`Literal`],
//! which escapes it, and [`encode_query`], which percent-encodes it.

use std::fmt;

use serde::de::DeserializeOwned;
use serde_json::Value;
use time::OffsetDateTime;
use time::macros::format_description;
use uuid::Uuid;

use super::tolerant;

/// A literal in a `$filter` expression, written with its OData v3 syntax.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `guid'…'`.
    Guid(Uuid),
    /// `'…'`, with `'` doubled.
    Text(String),
    /// `datetime'2026-11-22T10:00:00'` (UTC, whole seconds, rounded down).
    DateTime(OffsetDateTime),
    /// An integer.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

impl fmt::Display for Literal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Guid(id) => write!(f, "guid'{}'", id.hyphenated()),
            Self::Text(text) => write!(f, "'{}'", text.replace('\'', "''")),
            Self::DateTime(time) => {
                let utc = time.to_offset(time::UtcOffset::UTC);
                let format = format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]");
                // Formatting a valid UTC time with a fixed description cannot fail.
                let text = utc.format(&format).map_err(|_| fmt::Error)?;
                write!(f, "datetime'{text}'")
            }
            Self::Int(value) => write!(f, "{value}"),
            Self::Bool(value) => write!(f, "{value}"),
            Self::Null => f.write_str("null"),
        }
    }
}

/// A comparison operator of `$filter`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cmp {
    /// `eq`.
    Eq,
    /// `ne`.
    Ne,
    /// `gt`.
    Gt,
    /// `ge`.
    Ge,
    /// `lt`.
    Lt,
    /// `le`.
    Le,
}

impl Cmp {
    fn keyword(self) -> &'static str {
        match self {
            Self::Eq => "eq",
            Self::Ne => "ne",
            Self::Gt => "gt",
            Self::Ge => "ge",
            Self::Lt => "lt",
            Self::Le => "le",
        }
    }
}

/// A `$filter` expression, built from comparisons joined by `and` / `or`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter(String);

impl Filter {
    /// `path op literal`; `path` is a property path such as `Owner/RoleID` (wapdr's own constants).
    pub fn compare(path: &str, op: Cmp, literal: Literal) -> Self {
        Self(format!("{path} {} {literal}", op.keyword()))
    }

    /// `path eq literal`.
    pub fn eq(path: &str, literal: Literal) -> Self {
        Self::compare(path, Cmp::Eq, literal)
    }

    /// Both conditions.
    pub fn and(self, other: Filter) -> Self {
        Self(format!("{} and {}", self.grouped(), other.grouped()))
    }

    /// Either condition.
    pub fn or(self, other: Filter) -> Self {
        Self(format!("({} or {})", self.0, other.0))
    }

    /// All of the conditions, or `None` when there are none.
    pub fn all(filters: impl IntoIterator<Item = Filter>) -> Option<Self> {
        filters.into_iter().reduce(Filter::and)
    }

    /// The expression text (before URL encoding).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    // An `or` is always parenthesised when built, so `and` needs no more grouping.
    fn grouped(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Filter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The key segment of an entity with `ID` and `StampId`: `(ID=guid'…',StampId=guid'…')`.
pub fn stamped_key(id: Uuid, stamp_id: Uuid) -> String {
    format!(
        "(ID={},StampId={})",
        Literal::Guid(id),
        Literal::Guid(stamp_id)
    )
}

/// The key segment of an entity keyed by `ID` alone: `(ID=guid'…')`.
pub fn id_key(id: Uuid) -> String {
    format!("(ID={})", Literal::Guid(id))
}

/// A query string from `(name, value)` pairs: names as given (`$filter`), values percent-encoded
/// with spaces as `%20` (OData servers do not all read `+` as a space).
pub fn encode_query<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> String {
    pairs
        .into_iter()
        .map(|(name, value)| {
            let encoded: String = form_urlencoded::byte_serialize(value.as_bytes()).collect();
            format!("{name}={}", encoded.replace('+', "%20"))
        })
        .collect::<Vec<_>>()
        .join("&")
}

/// One page of a collection: the raw entities and the link to the next page, if any.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    /// The entities of this page, unread.
    pub entities: Vec<Value>,
    /// `odata.nextLink` (v3), `@odata.nextLink` (v4) or `__next` (verbose), when more remain.
    pub next_link: Option<String>,
}

/// Splits a collection answer into its entities and next link.
pub fn read_page(body: Value) -> Result<Page, String> {
    let Value::Object(mut members) = body else {
        return Err("a collection answer must be an object".into());
    };
    let next_link = ["odata.nextLink", "@odata.nextLink", "__next"]
        .iter()
        .find_map(|k| members.get(*k).and_then(Value::as_str).map(str::to_owned))
        // Verbose JSON (WCF Data Services) puts the link beside the results: {"d": {"__next"}}.
        .or_else(|| {
            members
                .get("d")
                .and_then(|d| d.get("__next"))
                .and_then(Value::as_str)
                .map(str::to_owned)
        });
    let entities = match members.remove("value") {
        Some(Value::Array(items)) => items,
        // OData verbose JSON: {"d": {"results": [...]}} or {"d": [...]}.
        _ => match members.remove("d") {
            Some(Value::Array(items)) => items,
            Some(Value::Object(mut d)) => match d.remove("results") {
                Some(Value::Array(items)) => items,
                _ => return Err("collection has no 'value' array".into()),
            },
            _ => return Err("collection has no 'value' array".into()),
        },
    };
    Ok(Page {
        entities,
        next_link,
    })
}

/// Reads a collection answer's body: its entities as `T` (member names in any case, as SPF's
/// versions vary) and the link to the next page. Any body gives a value or an error, never a panic.
pub fn read_entities<T: DeserializeOwned>(body: &[u8]) -> Result<(Vec<T>, Option<String>), String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    let page = read_page(value)?;
    let entities = page
        .entities
        .into_iter()
        .map(tolerant::from_value)
        .collect::<Result<_, _>>()?;
    Ok((entities, page.next_link))
}

/// Reads an entity answer's body (JSON light or verbose) as `T`.
pub fn read_entity<T: DeserializeOwned>(body: &[u8]) -> Result<T, String> {
    let value: Value = serde_json::from_slice(body).map_err(|e| format!("invalid JSON: {e}"))?;
    tolerant::from_value(unwrap_entity(value))
}

/// One entity as answered: JSON light gives the entity itself; verbose JSON wraps it as
/// `{"d": {...}}` (or `{"d": {"results": {...}}}` in OData v2 style).
pub fn unwrap_entity(body: Value) -> Value {
    match body {
        Value::Object(mut members) if members.len() == 1 && members.contains_key("d") => {
            match members.remove("d") {
                Some(Value::Object(mut d))
                    if d.len() == 1 && d.get("results").is_some_and(Value::is_object) =>
                {
                    d.remove("results").unwrap_or_default()
                }
                Some(inner) => inner,
                None => Value::Null,
            }
        }
        other => other,
    }
}

/// The `(code, message)` of an OData error body (`odata.error`, v4 `error`), if it is one.
pub fn read_error(body: &[u8]) -> (Option<String>, Option<String>) {
    let Ok(value) = serde_json::from_slice::<Value>(body) else {
        return (None, None);
    };
    let error = value.get("odata.error").or_else(|| value.get("error"));
    let Some(error) = error else {
        return (None, None);
    };
    let code = error.get("code").and_then(Value::as_str).map(str::to_owned);
    let message = match error.get("message") {
        Some(Value::String(text)) => Some(text.clone()),
        Some(Value::Object(m)) => m.get("value").and_then(Value::as_str).map(str::to_owned),
        _ => None,
    };
    (code, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn verbose_json_pages_and_entities_are_understood() {
        let page = read_page(serde_json::json!({"d": {"results": [{"ID": 1}, {"ID": 2}],
            "__next": "http://x/VirtualMachines?$skiptoken=2"}}))
        .unwrap();
        assert_eq!(page.entities.len(), 2);
        assert_eq!(
            page.next_link.as_deref(),
            Some("http://x/VirtualMachines?$skiptoken=2")
        );
        let bare = read_page(serde_json::json!({"d": [{"ID": 1}]})).unwrap();
        assert_eq!((bare.entities.len(), bare.next_link), (1, None));

        let entity = serde_json::json!({"d": {"__metadata": {"uri": "u"}, "ID": "1"}});
        assert_eq!(unwrap_entity(entity)["ID"], "1");
        let v2 = serde_json::json!({"d": {"results": {"ID": "2"}}});
        assert_eq!(unwrap_entity(v2)["ID"], "2");
        let light = serde_json::json!({"odata.metadata": "m", "ID": "3"});
        assert_eq!(unwrap_entity(light.clone()), light);
    }

    #[test]
    fn text_literals_double_their_quotes() {
        assert_eq!(Literal::Text("O'Brien".into()).to_string(), "'O''Brien'");
        assert_eq!(Literal::Text("''".into()).to_string(), "''''''");
    }

    #[test]
    fn guid_and_datetime_literals_use_odata_v3_syntax() {
        let id = Uuid::parse_str("6D224FC6-F326-5D35-96DE-FBF51EFB3179").unwrap();
        assert_eq!(
            Literal::Guid(id).to_string(),
            "guid'6d224fc6-f326-5d35-96de-fbf51efb3179'"
        );
        let t = datetime!(2026-11-22 12:00:00.75 +02:00);
        assert_eq!(
            Literal::DateTime(t).to_string(),
            "datetime'2026-11-22T10:00:00'"
        );
        assert_eq!(Literal::Bool(true).to_string(), "true");
        assert_eq!(Literal::Null.to_string(), "null");
    }

    #[test]
    fn filters_join_with_and_and_parenthesise_or() {
        let a = Filter::eq("StampId", Literal::Int(1));
        let b = Filter::eq("Name", Literal::Text("x".into()));
        let c = Filter::compare("CPUCount", Cmp::Ge, Literal::Int(2));
        assert_eq!(
            a.and(b.or(c)).as_str(),
            "StampId eq 1 and (Name eq 'x' or CPUCount ge 2)"
        );
        assert_eq!(Filter::all(Vec::new()), None);
    }

    #[test]
    fn query_values_are_percent_encoded_with_spaces_as_percent_20() {
        let q = encode_query([("$filter", "Name eq 'a&b #1+2'")]);
        assert_eq!(q, "$filter=Name%20eq%20%27a%26b%20%231%2B2%27");
    }

    #[test]
    fn keys_name_both_parts() {
        let id = Uuid::nil();
        assert_eq!(
            stamped_key(id, id),
            "(ID=guid'00000000-0000-0000-0000-000000000000',StampId=guid'00000000-0000-0000-0000-000000000000')"
        );
    }

    #[test]
    fn pages_carry_their_next_link_and_errors_their_code() {
        let page = read_page(
            serde_json::json!({"odata.metadata": "m", "value": [{"ID": 1}],
            "odata.nextLink": "http://x/VirtualMachines?$skip=500"}),
        )
        .unwrap();
        assert_eq!(page.entities.len(), 1);
        assert_eq!(
            page.next_link.as_deref(),
            Some("http://x/VirtualMachines?$skip=500")
        );
        let (code, message) = read_error(
            br#"{"odata.error":{"code":"Conflict","message":{"lang":"en-US","value":"exists"}}}"#,
        );
        assert_eq!(
            (code.as_deref(), message.as_deref()),
            (Some("Conflict"), Some("exists"))
        );
    }
}
