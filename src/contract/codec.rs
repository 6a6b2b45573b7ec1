//! The one codec of the WAP contract: bytes in either format become a [`Node`] tree that type readers
//! walk tolerantly ([`FromWire`]), and type writers build an [`Out`] tree that is written strictly
//! in DataContract order ([`ToWire`]).
//!
//! The parsers are the security boundary for untrusted bodies: they refuse DTDs, unknown entities,
//! deep nesting, invalid UTF-8 and trailing garbage, and must never panic on any input.

mod json;
mod node;
mod text;

pub use text::parse_time;
mod write;
mod xml;

pub use node::{Node, WireEnum, read_items};

use std::time::Duration;

use time::OffsetDateTime;

use super::WAP_NAMESPACE;

/// The deepest nesting either parser accepts; WAP contracts need fewer than ten levels.
pub(crate) const MAX_DEPTH: usize = 64;

/// The two wire formats WAP speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Format {
    /// Json.NET style JSON.
    Json,
    /// .NET DataContract XML.
    Xml,
}

impl Format {
    /// The `Content-Type` to answer with in this format.
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json; charset=utf-8",
            Self::Xml => "application/xml; charset=utf-8",
        }
    }
}

/// A body that cannot be read as the expected contract; the message names the member at fault.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct ContractError {
    /// What is wrong, prefixed by the member path (`AdminEndpoint.ForwardingAddress: ...`) when known.
    pub message: String,
}

impl ContractError {
    /// An error with the given message.
    pub fn new(message: impl Into<String>) -> Self {
        Self {
            message: message.into(),
        }
    }

    /// An error about one member: `Member: message`.
    pub fn member(member: &str, message: impl std::fmt::Display) -> Self {
        Self::new(format!("{member}: {message}"))
    }

    /// The same error seen from the enclosing member, so that nested errors read as a path.
    pub fn within(self, parent: &str) -> Self {
        match self.message.split_once(": ") {
            Some((path, rest)) if is_member_path(path) => {
                let joiner = if path.starts_with('[') { "" } else { "." };
                Self::new(format!("{parent}{joiner}{path}: {rest}"))
            }
            _ => Self::member(parent, self.message),
        }
    }
}

/// Whether the text before `": "` is a member path we produced, rather than prose.
fn is_member_path(path: &str) -> bool {
    !path.is_empty()
        && path
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'))
}

/// A contract type that can be read from a parsed body.
pub trait FromWire: Sized {
    /// Reads the value from its node, tolerating case, aliases, nulls and unknown members.
    fn from_wire(node: &Node) -> Result<Self, ContractError>;
}

/// What writers build: a format-neutral tree that [`encode`] writes as JSON or DataContract XML.
#[derive(Debug, Clone, PartialEq)]
pub enum Out {
    /// JSON `null`, XML `i:nil="true"`.
    Null,
    /// A string.
    Str(String),
    /// A string the program holds (a state's name), written as [`Out::Str`] is.
    Name(&'static str),
    /// A GUID, written as a string, lower-case and hyphenated.
    Guid(uuid::Uuid),
    /// An integer.
    Int(i64),
    /// A boolean.
    Bool(bool),
    /// An enum: JSON writes the integer, XML the name.
    Enum {
        /// The DataContract name.
        name: &'static str,
        /// The integer value.
        value: i64,
    },
    /// A timestamp, written as RFC 3339 in UTC with `Z`.
    Time(OffsetDateTime),
    /// A .NET TimeSpan: JSON `"d.hh:mm:ss"`, XML `xs:duration`.
    Duration(Duration),
    /// An object, members in DataContract order.
    Obj(Vec<(&'static str, Out)>),
    /// A list of contract objects; `item` is the XML element name of each item.
    List {
        /// The XML item element name (`ServiceQuotaSetting`, ...).
        item: &'static str,
        /// The items.
        items: Vec<Out>,
    },
    /// A list of strings (XML `<d2p1:string>` items in the Arrays namespace).
    StrList(Vec<String>),
    /// A `Dictionary<string,string>` (JSON object; XML `KeyValueOfstringstring` items).
    Dict(Vec<(String, String)>),
}

impl Out {
    /// An optional string: `None` is written as null.
    pub fn opt_str(value: &Option<String>) -> Self {
        value.clone().map_or(Self::Null, Self::Str)
    }

    /// An enum member.
    pub fn enumeration<E: WireEnum>(value: E) -> Self {
        Self::Enum {
            name: value.wire_name(),
            value: value.wire_value(),
        }
    }
}

/// A contract type that can be written.
pub trait ToWire {
    /// The XML root element name (the DataContract name).
    const XML_ROOT: &'static str;
    /// The XML default namespace of the root element.
    const XML_NAMESPACE: &'static str = WAP_NAMESPACE;
    /// The value as an [`Out`] tree, members in DataContract order.
    fn to_wire(&self) -> Out;
}

/// Reads a body in the given format as `T`.
pub fn decode<T: FromWire>(format: Format, body: &[u8]) -> Result<T, ContractError> {
    let node = parse(format, body)?;
    T::from_wire(&node)
}

/// Parses a body into a [`Node`] without interpreting it.
pub fn parse(format: Format, body: &[u8]) -> Result<Node, ContractError> {
    // .NET writers often prefix UTF-8 with a byte-order mark; it is not content.
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    let text = std::str::from_utf8(body)
        .map_err(|e| ContractError::new(format!("body is not valid UTF-8: {e}")))?;
    if text.trim().is_empty() {
        return Err(ContractError::new("body is empty"));
    }
    match format {
        Format::Json => json::parse(text),
        Format::Xml => xml::parse(text),
    }
}

/// Writes a value in the given format.
pub fn encode<T: ToWire>(format: Format, value: &T) -> Vec<u8> {
    let out = value.to_wire();
    match format {
        Format::Json => write::json(&out).into_bytes(),
        Format::Xml => write::xml(T::XML_ROOT, T::XML_NAMESPACE, &out).into_bytes(),
    }
}

#[cfg(test)]
mod tests;
