//! JSON into [`Node`], keeping member order and duplicates and bounding depth.
//!
//! serde_json does the lexing (escapes, surrogates, trailing garbage); a depth-counting seed builds
//! the tree directly so that `serde_json::Value`'s sorted, de-duplicated maps never get involved.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};

use super::{ContractError, MAX_DEPTH, Node};

/// Parses one JSON document.
pub fn parse(text: &str) -> Result<Node, ContractError> {
    let mut deserializer = serde_json::Deserializer::from_str(text);
    let node = NodeSeed { depth: 1 }
        .deserialize(&mut deserializer)
        .and_then(|node| deserializer.end().map(|()| node))
        .map_err(|e| ContractError::new(format!("body is not well-formed JSON: {e}")))?;
    Ok(node)
}

/// Builds a node at a given nesting depth (the root is depth 1).
struct NodeSeed {
    depth: usize,
}

impl<'de> DeserializeSeed<'de> for NodeSeed {
    type Value = Node;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Node, D::Error> {
        if self.depth > MAX_DEPTH {
            return Err(de::Error::custom(format!(
                "nesting deeper than {MAX_DEPTH} levels is not accepted"
            )));
        }
        deserializer.deserialize_any(NodeVisitor { depth: self.depth })
    }
}

struct NodeVisitor {
    depth: usize,
}

impl<'de> Visitor<'de> for NodeVisitor {
    type Value = Node;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_unit<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_none<E: de::Error>(self) -> Result<Node, E> {
        Ok(Node::Null)
    }

    fn visit_bool<E: de::Error>(self, value: bool) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_f64<E: de::Error>(self, value: f64) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_string()))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Node, E> {
        Ok(Node::Scalar(value.to_owned()))
    }

    fn visit_string<E: de::Error>(self, value: String) -> Result<Node, E> {
        Ok(Node::Scalar(value))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Node, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(NodeSeed {
            depth: self.depth + 1,
        })? {
            items.push(item);
        }
        Ok(Node::Seq(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Node, A::Error> {
        let mut members = Vec::new();
        while let Some(name) = map.next_key::<String>()? {
            let value = map.next_value_seed(NodeSeed {
                depth: self.depth + 1,
            })?;
            members.push((name, value));
        }
        Ok(Node::Map(members))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn members_keep_their_order_and_duplicates() {
        let node = parse(r#"{"b": 1, "a": true, "b": "x", "n": null, "f": 1.5}"#).unwrap();
        let Node::Map(members) = node else {
            panic!("not a map")
        };
        let names: Vec<&str> = members.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, ["b", "a", "b", "n", "f"]);
        assert_eq!(members[1].1, Node::Scalar("true".into()));
        assert_eq!(members[3].1, Node::Null);
        assert_eq!(members[4].1, Node::Scalar("1.5".into()));
    }

    #[test]
    fn json_nested_deeper_than_64_levels_is_refused() {
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert!(parse(&ok).is_ok());
        let bomb = format!("{}{}", "[".repeat(65), "]".repeat(65));
        let err = parse(&bomb).unwrap_err();
        assert!(err.message.contains("deeper than 64"), "{err}");
        let huge = "[".repeat(100_000);
        assert!(parse(&huge).is_err());
    }

    #[test]
    fn json_with_trailing_garbage_is_refused() {
        let err = parse(r#"{"a": 1} x"#).unwrap_err();
        assert!(
            err.message.starts_with("body is not well-formed JSON"),
            "{err}"
        );
        assert!(parse(r#"{"a": 1}{"a": 2}"#).is_err());
        assert!(parse(r#"{"a": 1}  "#).is_ok());
    }
}
