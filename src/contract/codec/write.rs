//! The strict writer: an [`Out`] tree as Json.NET-style JSON or DataContract XML.
//!
//! JSON members and XML elements come out in the order the tree lists them, which the types keep
//! in DataContract order; enums are integers in JSON and names in XML.

use std::fmt::Write as _;

use super::{Out, text};

/// The namespace of DataContract arrays of primitives and of dictionaries.
const ARRAYS_NAMESPACE: &str = "http://schemas.microsoft.com/2003/10/Serialization/Arrays";
/// The namespace of `i:nil`.
const INSTANCE_NAMESPACE: &str = "http://www.w3.org/2001/XMLSchema-instance";

/// Writes the tree as compact JSON.
pub fn json(out: &Out) -> String {
    let mut buffer = String::new();
    write_json(&mut buffer, out);
    buffer
}

fn write_json(buffer: &mut String, out: &Out) {
    match out {
        Out::Null => buffer.push_str("null"),
        Out::Str(value) => json_string(buffer, value),
        Out::Name(value) => json_string(buffer, value),
        Out::Guid(id) => {
            buffer.push('"');
            buffer.push_str(
                id.hyphenated()
                    .encode_lower(&mut uuid::Uuid::encode_buffer()),
            );
            buffer.push('"');
        }
        Out::Int(value) => {
            let _ = write!(buffer, "{value}");
        }
        Out::Bool(value) => buffer.push_str(if *value { "true" } else { "false" }),
        Out::Enum { value, .. } => {
            let _ = write!(buffer, "{value}");
        }
        // RFC 3339 text has nothing to escape.
        Out::Time(time) => {
            buffer.push('"');
            text::push_time(buffer, *time);
            buffer.push('"');
        }
        Out::Duration(duration) => json_string(buffer, &text::format_timespan(*duration)),
        Out::Obj(members) => {
            buffer.push('{');
            for (index, (name, value)) in members.iter().enumerate() {
                if index > 0 {
                    buffer.push(',');
                }
                json_string(buffer, name);
                buffer.push(':');
                write_json(buffer, value);
            }
            buffer.push('}');
        }
        Out::List { items, .. } => {
            buffer.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    buffer.push(',');
                }
                write_json(buffer, item);
            }
            buffer.push(']');
        }
        Out::StrList(items) => {
            buffer.push('[');
            for (index, item) in items.iter().enumerate() {
                if index > 0 {
                    buffer.push(',');
                }
                json_string(buffer, item);
            }
            buffer.push(']');
        }
        Out::Dict(pairs) => {
            buffer.push('{');
            for (index, (key, value)) in pairs.iter().enumerate() {
                if index > 0 {
                    buffer.push(',');
                }
                json_string(buffer, key);
                buffer.push(':');
                json_string(buffer, value);
            }
            buffer.push('}');
        }
    }
}

/// Appends `value` as a JSON string, escaped exactly as serde_json escapes it (`"`, `\\`, and
/// the control characters below U+0020, with lower-case hex), written in place: a list of a
/// hundred VMs has some two thousand strings, and a `String` each showed in `wapdr bench api`.
fn json_string(buffer: &mut String, value: &str) {
    buffer.reserve(value.len() + 2);
    buffer.push('"');
    // Most strings (names, states, member names) have nothing to escape: one pass that the
    // compiler can vectorise finds that, and the string is copied whole.
    let needs_escape = |chunk: &[u8]| {
        chunk.iter().fold(false, |seen, &b| {
            seen | (b < 0x20) | (b == b'"') | (b == b'\\')
        })
    };
    if !value.as_bytes().chunks(32).any(needs_escape) {
        buffer.push_str(value);
        buffer.push('"');
        return;
    }
    let mut plain = 0;
    for (at, byte) in value.bytes().enumerate() {
        let escaped = match byte {
            b'"' => "\\\"",
            b'\\' => "\\\\",
            b'\n' => "\\n",
            b'\r' => "\\r",
            b'\t' => "\\t",
            0x08 => "\\b",
            0x0c => "\\f",
            0x00..=0x1f => "",
            _ => continue,
        };
        // Every byte escaped is ASCII, so these slices fall on character boundaries.
        buffer.push_str(&value[plain..at]);
        if escaped.is_empty() {
            let _ = write!(buffer, "\\u{byte:04x}");
        } else {
            buffer.push_str(escaped);
        }
        plain = at + 1;
    }
    buffer.push_str(&value[plain..]);
    buffer.push('"');
}

/// Writes the tree as a DataContract XML document with the given root name and namespace.
pub fn xml(root: &str, namespace: &str, out: &Out) -> String {
    let mut buffer = String::from(r#"<?xml version="1.0" encoding="utf-8"?>"#);
    let declarations = format!(
        r#" xmlns="{}" xmlns:i="{INSTANCE_NAMESPACE}""#,
        escape(namespace)
    );
    write_element(&mut buffer, root, &declarations, out);
    buffer
}

/// Writes `<name attributes>content</name>`, or the self-closing form when there is no content.
fn write_element(buffer: &mut String, name: &str, attributes: &str, out: &Out) {
    let content = match out {
        Out::Null => {
            let _ = write!(buffer, r#"<{name}{attributes} i:nil="true" />"#);
            return;
        }
        Out::Str(value) => escape(value),
        Out::Name(value) => escape(value),
        Out::Guid(id) => id.to_string(),
        Out::Int(value) => value.to_string(),
        Out::Bool(value) => value.to_string(),
        Out::Enum { name, .. } => (*name).to_owned(),
        Out::Time(time) => text::format_time(*time),
        Out::Duration(duration) => text::format_xs_duration(*duration),
        Out::Obj(members) => {
            let mut inner = String::new();
            for (member, value) in members {
                write_element(&mut inner, member, "", value);
            }
            inner
        }
        Out::List { item, items } => {
            let mut inner = String::new();
            for value in items {
                write_element(&mut inner, item, "", value);
            }
            inner
        }
        Out::StrList(items) => {
            let attributes = format!(r#"{attributes} xmlns:d2p1="{ARRAYS_NAMESPACE}""#);
            let mut inner = String::new();
            for value in items {
                let _ = write!(inner, "<d2p1:string>{}</d2p1:string>", escape(value));
            }
            return close(buffer, name, &attributes, &inner);
        }
        Out::Dict(pairs) => {
            let attributes = format!(r#"{attributes} xmlns:d2p1="{ARRAYS_NAMESPACE}""#);
            let mut inner = String::new();
            for (key, value) in pairs {
                let _ = write!(
                    inner,
                    "<d2p1:KeyValueOfstringstring><d2p1:Key>{}</d2p1:Key><d2p1:Value>{}</d2p1:Value></d2p1:KeyValueOfstringstring>",
                    escape(key),
                    escape(value)
                );
            }
            return close(buffer, name, &attributes, &inner);
        }
    };
    close(buffer, name, attributes, &content);
}

fn close(buffer: &mut String, name: &str, attributes: &str, content: &str) {
    if content.is_empty() {
        let _ = write!(buffer, "<{name}{attributes} />");
    } else {
        let _ = write!(buffer, "<{name}{attributes}>{content}</{name}>");
    }
}

/// Escapes text and attribute values; CR and other control characters become character references
/// so that they survive XML line-end normalisation as DataContract's own `&#xD;` does.
fn escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '&' => escaped.push_str("&amp;"),
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '"' => escaped.push_str("&quot;"),
            '\t' | '\n' => escaped.push(c),
            c if c.is_control() => {
                let _ = write!(escaped, "&#x{:X};", u32::from(c));
            }
            c => escaped.push(c),
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_text_is_escaped_and_nulls_are_nil() {
        let out = Out::Obj(vec![
            ("A", Out::Str("<&>\"' \r".into())),
            ("B", Out::Null),
            ("C", Out::StrList(vec![])),
        ]);
        let xml = xml("Root", "urn:ns", &out);
        assert_eq!(
            xml,
            r#"<?xml version="1.0" encoding="utf-8"?><Root xmlns="urn:ns" xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><A>&lt;&amp;&gt;&quot;' &#xD;</A><B i:nil="true" /><C xmlns:d2p1="http://schemas.microsoft.com/2003/10/Serialization/Arrays" /></Root>"#
        );
    }

    #[test]
    fn json_strings_are_escaped_as_serde_json_escapes_them() {
        let every_ascii: String = (0u8..=0x7f).map(char::from).collect();
        for value in [
            every_ascii.as_str(),
            "",
            "plain",
            "é\u{2028}\u{1F600} \"quoted\" back\\slash\u{7f}",
            "\u{0}\u{1f}end",
        ] {
            let mut written = String::new();
            json_string(&mut written, value);
            assert_eq!(written, serde_json::to_string(value).unwrap(), "{value:?}");
        }
    }

    #[test]
    fn json_enums_are_integers_and_lists_are_arrays() {
        let out = Out::Obj(vec![
            (
                "State",
                Out::Enum {
                    name: "Suspended",
                    value: 1,
                },
            ),
            ("Ids", Out::StrList(vec!["a\"b".into()])),
            ("Props", Out::Dict(vec![("k".into(), "v".into())])),
            ("None", Out::Null),
        ]);
        assert_eq!(
            json(&out),
            r#"{"State":1,"Ids":["a\"b"],"Props":{"k":"v"},"None":null}"#
        );
    }
}
