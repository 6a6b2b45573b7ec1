//! The parsed, format-neutral tree and the tolerant accessors type readers use on it.
//!
//! Every accessor takes the member's accepted names (canonical name first, then aliases), matches
//! them without regard to ASCII case, treats `null`/`i:nil` as absent, and names the canonical
//! member in its errors.

use std::time::Duration;

use time::OffsetDateTime;

use super::{ContractError, FromWire, text};
use crate::domain::{LifecycleState, SubscriptionId, SubscriptionState};

/// A parsed body: JSON and DataContract XML both become this tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// JSON `null` or an XML element with `i:nil="true"`.
    Null,
    /// JSON string, number or boolean as its text; XML text content of a leaf element.
    Scalar(String),
    /// JSON object members or XML child elements, in order, local names, duplicates kept.
    Map(Vec<(String, Node)>),
    /// A JSON array.
    Seq(Vec<Node>),
}

/// An enum with DataContract names and Json.NET integer values.
pub trait WireEnum: Copy + PartialEq + 'static {
    /// Every variant with its wire name and integer value.
    const VARIANTS: &'static [(Self, &'static str, i64)];

    /// The DataContract name of the variant.
    fn wire_name(self) -> &'static str {
        Self::VARIANTS
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or("", |(_, name, _)| name)
    }

    /// The integer value of the variant.
    fn wire_value(self) -> i64 {
        Self::VARIANTS
            .iter()
            .find(|(v, _, _)| *v == self)
            .map_or(0, |(_, _, value)| *value)
    }

    /// Reads a variant from its name (any case) or its integer text.
    fn from_wire_text(text: &str) -> Option<Self> {
        let text = text.trim();
        let number = text.parse::<i64>().ok();
        Self::VARIANTS
            .iter()
            .find(|(_, name, value)| name.eq_ignore_ascii_case(text) || number == Some(*value))
            .map(|(variant, _, _)| *variant)
    }
}

impl WireEnum for SubscriptionState {
    const VARIANTS: &'static [(Self, &'static str, i64)] = &[
        (Self::Active, "Active", 0),
        (Self::Suspended, "Suspended", 1),
        (Self::DeletePending, "DeletePending", 2),
    ];
}

impl WireEnum for LifecycleState {
    const VARIANTS: &'static [(Self, &'static str, i64)] = &[
        (Self::Provisioned, "Provisioned", 0),
        (Self::Provisioning, "Provisioning", 1),
        (Self::Updating, "Updating", 2),
        (Self::Deleting, "Deleting", 3),
        (Self::Deleted, "Deleted", 4),
        (Self::OutOfSync, "OutOfSync", 5),
    ];
}

impl Node {
    /// The first non-null member named any of `names`, ignoring ASCII case.
    pub fn get(&self, names: &[&str]) -> Option<&Node> {
        match self {
            Node::Map(members) => members
                .iter()
                .filter(|(_, value)| *value != Node::Null)
                .find(|(name, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
                .map(|(_, value)| value),
            _ => None,
        }
    }

    /// The member named any of `names` as given: [`Node::Null`] when it is there but only as
    /// `null` or `i:nil`, which a reader that clears a value on null tells from one left out.
    pub fn member(&self, names: &[&str]) -> Option<&Node> {
        self.get(names).or_else(|| match self {
            Node::Map(members) => members
                .iter()
                .find(|(name, _)| names.iter().any(|n| n.eq_ignore_ascii_case(name)))
                .map(|(_, value)| value),
            _ => None,
        })
    }

    /// The text of a scalar.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar(text) => Some(text),
            _ => None,
        }
    }

    /// The items of a list: array elements, child elements whatever their names, or a lone value.
    ///
    /// A blank scalar is an empty list, because an empty XML element (`<Settings />`) is one.
    pub fn items(&self) -> Vec<&Node> {
        match self {
            Node::Seq(items) => items.iter().collect(),
            Node::Map(members) => members.iter().map(|(_, value)| value).collect(),
            Node::Scalar(text) if text.trim().is_empty() => Vec::new(),
            Node::Scalar(_) => vec![self],
            Node::Null => Vec::new(),
        }
    }

    /// The pairs of a .NET `Dictionary<string,string>`.
    ///
    /// Accepts a JSON object, XML `KeyValueOfstringstring` items and a list of `{Key, Value}`
    /// objects (the DataContractJsonSerializer shape); a null value reads as empty text.
    pub fn dict(&self) -> Vec<(String, String)> {
        let key_value = |node: &Node| {
            node.get(&["Key"]).and_then(Node::as_str).map(|key| {
                let value = node.get(&["Value"]).and_then(Node::as_str).unwrap_or("");
                (key.to_owned(), value.to_owned())
            })
        };
        match self {
            Node::Map(members) => members
                .iter()
                .filter_map(|(name, value)| match value {
                    Node::Map(_) if name.eq_ignore_ascii_case("KeyValueOfstringstring") => {
                        key_value(value)
                    }
                    Node::Scalar(text) => Some((name.clone(), text.clone())),
                    Node::Null => Some((name.clone(), String::new())),
                    _ => None,
                })
                .collect(),
            Node::Seq(items) => items.iter().filter_map(key_value).collect(),
            _ => Vec::new(),
        }
    }

    /// Checks that the node can be read as an object (an empty XML element counts as one).
    pub fn expect_object(&self) -> Result<(), ContractError> {
        match self {
            Node::Map(_) => Ok(()),
            Node::Scalar(text) if text.trim().is_empty() => Ok(()),
            other => Err(ContractError::new(format!(
                "expected an object, found {}",
                other.kind()
            ))),
        }
    }

    fn kind(&self) -> &'static str {
        match self {
            Node::Null => "null",
            Node::Scalar(_) => "a value",
            Node::Map(_) => "an object",
            Node::Seq(_) => "a list",
        }
    }

    /// The text of a member, or an error naming it if it is not a scalar.
    fn scalar(&self, names: &[&str]) -> Result<Option<&str>, ContractError> {
        match self.get(names) {
            None => Ok(None),
            Some(Node::Scalar(text)) => Ok(Some(text)),
            Some(other) => Err(ContractError::member(
                canonical(names),
                format!("expected a value, found {}", other.kind()),
            )),
        }
    }

    /// A required string member.
    pub fn required_str(&self, names: &[&str]) -> Result<String, ContractError> {
        self.optional_str(names)?.ok_or_else(|| missing(names))
    }

    /// An optional string member (absent or null is `None`).
    pub fn optional_str(&self, names: &[&str]) -> Result<Option<String>, ContractError> {
        Ok(self.scalar(names)?.map(str::to_owned))
    }

    /// A string member that reads as empty text when absent.
    pub fn str_or_empty(&self, names: &[&str]) -> Result<String, ContractError> {
        Ok(self.optional_str(names)?.unwrap_or_default())
    }

    /// An optional integer member (blank text is absent).
    pub fn optional_i64(&self, names: &[&str]) -> Result<Option<i64>, ContractError> {
        self.typed(names, "an integer", |t| t.parse::<i64>().ok())
    }

    /// A required integer member.
    pub fn required_i64(&self, names: &[&str]) -> Result<i64, ContractError> {
        self.optional_i64(names)?.ok_or_else(|| missing(names))
    }

    /// An optional boolean member: `true`/`false` in any case, or `1`/`0`.
    pub fn optional_bool(&self, names: &[&str]) -> Result<Option<bool>, ContractError> {
        self.typed(names, "true or false", |t| {
            match t.to_ascii_lowercase().as_str() {
                "true" | "1" => Some(true),
                "false" | "0" => Some(false),
                _ => None,
            }
        })
    }

    /// A boolean member that is `false` when absent (the .NET default).
    pub fn bool_or_false(&self, names: &[&str]) -> Result<bool, ContractError> {
        Ok(self.optional_bool(names)?.unwrap_or(false))
    }

    /// An optional enum member, by name (any case) or integer.
    pub fn optional_enum<E: WireEnum>(&self, names: &[&str]) -> Result<Option<E>, ContractError> {
        let Some(text) = self.scalar(names)?.filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        E::from_wire_text(text).map(Some).ok_or_else(|| {
            let names_list: Vec<&str> = E::VARIANTS.iter().map(|(_, n, _)| *n).collect();
            let values: Vec<String> = E::VARIANTS.iter().map(|(_, _, v)| v.to_string()).collect();
            ContractError::member(
                canonical(names),
                format!(
                    "'{text}' is not one of {} (or {})",
                    names_list.join(", "),
                    values.join(", ")
                ),
            )
        })
    }

    /// A required enum member.
    pub fn required_enum<E: WireEnum>(&self, names: &[&str]) -> Result<E, ContractError> {
        self.optional_enum(names)?.ok_or_else(|| missing(names))
    }

    /// A required subscription id member (any .NET GUID form).
    pub fn required_subscription_id(
        &self,
        names: &[&str],
    ) -> Result<SubscriptionId, ContractError> {
        let text = self.scalar(names)?.ok_or_else(|| missing(names))?;
        SubscriptionId::parse(text).map_err(|e| ContractError::member(canonical(names), e))
    }

    /// An optional timestamp member: RFC 3339, or a .NET form without offset taken as UTC.
    pub fn optional_time(&self, names: &[&str]) -> Result<Option<OffsetDateTime>, ContractError> {
        self.typed(names, "a date and time (ISO 8601)", text::parse_time)
    }

    /// A required timestamp member.
    pub fn required_time(&self, names: &[&str]) -> Result<OffsetDateTime, ContractError> {
        self.optional_time(names)?.ok_or_else(|| missing(names))
    }

    /// An optional TimeSpan member: `"d.hh:mm:ss"` (Json.NET) or `xs:duration` (`PT30S`).
    pub fn optional_duration(&self, names: &[&str]) -> Result<Option<Duration>, ContractError> {
        self.typed(
            names,
            "a time span (hh:mm:ss or an xs:duration such as PT30S)",
            text::parse_duration,
        )
    }

    /// An optional nested contract object.
    pub fn optional<T: FromWire>(&self, names: &[&str]) -> Result<Option<T>, ContractError> {
        self.get(names)
            .map(|node| T::from_wire(node).map_err(|e| e.within(canonical(names))))
            .transpose()
    }

    /// A list of contract objects; absent or null is empty.
    pub fn list<T: FromWire>(&self, names: &[&str]) -> Result<Vec<T>, ContractError> {
        match self.get(names) {
            None => Ok(Vec::new()),
            Some(node) => read_items(node).map_err(|e| e.within(canonical(names))),
        }
    }

    /// A list of strings; a lone string is a one-item list, null items are skipped.
    pub fn string_list(&self, names: &[&str]) -> Result<Vec<String>, ContractError> {
        Ok(self.optional_string_list(names)?.unwrap_or_default())
    }

    /// A list of strings that keeps the difference between absent/null (`None`) and empty.
    pub fn optional_string_list(
        &self,
        names: &[&str],
    ) -> Result<Option<Vec<String>>, ContractError> {
        let Some(node) = self.get(names) else {
            return Ok(None);
        };
        node.items()
            .into_iter()
            .enumerate()
            .filter(|(_, item)| **item != Node::Null)
            .map(|(index, item)| match item {
                Node::Scalar(text) => Ok(text.clone()),
                other => Err(ContractError::new(format!(
                    "{}[{index}]: expected a string, found {}",
                    canonical(names),
                    other.kind()
                ))),
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Some)
    }

    /// Reads a scalar member through `parse`; blank text is absent.
    fn typed<T>(
        &self,
        names: &[&str],
        expected: &str,
        parse: impl Fn(&str) -> Option<T>,
    ) -> Result<Option<T>, ContractError> {
        let Some(text) = self.scalar(names)?.filter(|t| !t.trim().is_empty()) else {
            return Ok(None);
        };
        parse(text.trim()).map(Some).ok_or_else(|| {
            ContractError::member(canonical(names), format!("'{text}' is not {expected}"))
        })
    }
}

/// Reads every item of a list node as `T`, naming the index of a bad item.
pub fn read_items<T: FromWire>(node: &Node) -> Result<Vec<T>, ContractError> {
    node.items()
        .into_iter()
        .enumerate()
        .map(|(index, item)| T::from_wire(item).map_err(|e| e.within(&format!("[{index}]"))))
        .collect()
}

/// The name errors use for a member: the first of its accepted names.
fn canonical<'a>(names: &[&'a str]) -> &'a str {
    names.first().copied().unwrap_or("value")
}

fn missing(names: &[&str]) -> ContractError {
    ContractError::member(canonical(names), "a value is required")
}
