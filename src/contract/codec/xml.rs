//! DataContract XML into [`Node`], with quick-xml's event reader so every hostile construct is seen.
//!
//! Refused: any DOCTYPE (hence every DTD and entity declaration), entity references other than the
//! five predefined ones, nesting deeper than [`MAX_DEPTH`], a second root, and non-blank text
//! outside the root. Character references (`&#xD;`, which DataContract writes for CR) are accepted.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

use super::{ContractError, MAX_DEPTH, Node};

/// An element being read: its local name, whether it is `i:nil`, its children and its text.
struct Frame {
    name: String,
    nil: bool,
    children: Vec<(String, Node)>,
    has_children: bool,
    text: String,
}

impl Frame {
    fn open(start: &BytesStart<'_>) -> Result<Self, ContractError> {
        let name = String::from_utf8_lossy(start.local_name().as_ref()).into_owned();
        let mut nil = false;
        for attribute in start.attributes() {
            let attribute = attribute.map_err(malformed)?;
            if attribute.key.local_name().as_ref() == b"nil" {
                let value = attribute.unescape_value().map_err(malformed)?;
                nil = value.trim().eq_ignore_ascii_case("true") || value.trim() == "1";
            }
        }
        Ok(Self {
            name,
            nil,
            children: Vec::new(),
            has_children: false,
            text: String::new(),
        })
    }

    fn close(self) -> (String, Node) {
        let node = if self.nil {
            Node::Null
        } else if self.has_children {
            Node::Map(self.children)
        } else {
            Node::Scalar(self.text)
        };
        (self.name, node)
    }
}

/// Parses one XML document; the result is the root element's content (its name is ignored).
pub fn parse(text: &str) -> Result<Node, ContractError> {
    let mut reader = Reader::from_str(text);
    let config = reader.config_mut();
    config.check_end_names = true;
    config.expand_empty_elements = false;
    config.trim_text(false);

    let mut stack: Vec<Frame> = Vec::new();
    let mut root: Option<Node> = None;
    loop {
        let event = reader.read_event().map_err(malformed)?;
        match event {
            Event::DocType(_) => {
                return Err(ContractError::new(
                    "XML DTDs and entity declarations are not accepted",
                ));
            }
            Event::Start(start) => {
                ensure_single_root(&root)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep());
                }
                let frame = Frame::open(&start)?;
                stack.push(frame);
            }
            Event::Empty(start) => {
                ensure_single_root(&root)?;
                if stack.len() >= MAX_DEPTH {
                    return Err(too_deep());
                }
                let (name, node) = Frame::open(&start)?.close();
                attach(&mut stack, &mut root, name, node);
            }
            Event::End(_) => {
                // check_end_names guarantees a matching open element.
                let Some(frame) = stack.pop() else {
                    return Err(ContractError::new(
                        "body is not well-formed XML: unmatched end tag",
                    ));
                };
                let (name, node) = frame.close();
                attach(&mut stack, &mut root, name, node);
            }
            Event::Text(text) => {
                let text = text.unescape().map_err(malformed)?;
                match stack.last_mut() {
                    Some(frame) => frame.text.push_str(&text),
                    None if text.trim().is_empty() => {}
                    None => return Err(outside_root()),
                }
            }
            Event::CData(data) => {
                let data = std::str::from_utf8(&data)
                    .map_err(|e| ContractError::new(format!("body is not valid UTF-8: {e}")))?
                    .to_owned();
                match stack.last_mut() {
                    Some(frame) => frame.text.push_str(&data),
                    None => return Err(outside_root()),
                }
            }
            Event::Comment(_) | Event::Decl(_) | Event::PI(_) => {}
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(ContractError::new(
            "body is not well-formed XML: the document ends inside an element",
        ));
    }
    root.ok_or_else(|| ContractError::new("body is not well-formed XML: there is no root element"))
}

/// Hands a finished element to its parent, or makes it the document's root.
fn attach(stack: &mut [Frame], root: &mut Option<Node>, name: String, node: Node) {
    match stack.last_mut() {
        Some(parent) => {
            parent.has_children = true;
            parent.children.push((name, node));
        }
        None => *root = Some(node),
    }
}

fn ensure_single_root(root: &Option<Node>) -> Result<(), ContractError> {
    match root {
        Some(_) => Err(outside_root()),
        None => Ok(()),
    }
}

fn outside_root() -> ContractError {
    ContractError::new("body is not well-formed XML: content after or outside the root element")
}

fn too_deep() -> ContractError {
    ContractError::new(format!(
        "body nests deeper than {MAX_DEPTH} levels, which is not accepted"
    ))
}

fn malformed(error: impl std::fmt::Display) -> ContractError {
    ContractError::new(format!("body is not well-formed XML: {error}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scalar(text: &str) -> Node {
        Node::Scalar(text.into())
    }

    #[test]
    fn elements_become_scalars_maps_and_nulls() {
        let node = parse(
            r#"<?xml version="1.0" encoding="utf-8"?>
            <!-- a comment -->
            <p:Root xmlns:p="urn:x" xmlns:i="http://www.w3.org/2001/XMLSchema-instance">
              <p:Name> padded </p:Name>
              <Empty />
              <Nil xsi:nil="true" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"/>
              <Child><Key>a &amp; b&#xD;</Key><Key><![CDATA[<raw>]]></Key></Child>
            </p:Root>"#,
        )
        .unwrap();
        let expected = Node::Map(vec![
            ("Name".into(), scalar(" padded ")),
            ("Empty".into(), scalar("")),
            ("Nil".into(), Node::Null),
            (
                "Child".into(),
                Node::Map(vec![
                    ("Key".into(), scalar("a & b\r")),
                    ("Key".into(), scalar("<raw>")),
                ]),
            ),
        ]);
        assert_eq!(node, expected);
    }

    #[test]
    fn xml_with_a_dtd_is_refused() {
        let bodies = [
            r#"<!DOCTYPE Subscription><Subscription/>"#,
            r#"<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "boom">]><x>&e;</x>"#,
            r#"<!DOCTYPE x SYSTEM "file:///etc/passwd"><x/>"#,
        ];
        for body in bodies {
            let err = parse(body).unwrap_err();
            assert_eq!(
                err.message,
                "XML DTDs and entity declarations are not accepted"
            );
        }
    }

    #[test]
    fn xml_with_an_unknown_entity_is_refused() {
        let err = parse("<x><Name>&xxe;</Name></x>").unwrap_err();
        assert!(
            err.message.starts_with("body is not well-formed XML"),
            "{err}"
        );
        assert!(parse(r#"<x a="&xxe;" i:nil="&xxe;"/>"#).is_err());
    }

    #[test]
    fn xml_nested_deeper_than_64_levels_is_refused() {
        let ok = format!("{}{}", "<a>".repeat(64), "</a>".repeat(64));
        assert!(parse(&ok).is_ok());
        let bomb = format!("{}{}", "<a>".repeat(65), "</a>".repeat(65));
        assert!(parse(&bomb).unwrap_err().message.contains("deeper than 64"));
        let empty_at_limit = format!("{}<b/>{}", "<a>".repeat(64), "</a>".repeat(64));
        assert!(parse(&empty_at_limit).is_err());
    }

    #[test]
    fn xml_with_garbage_around_the_root_is_refused() {
        for body in [
            "<a/>x",
            "x<a/>",
            "<a/><b/>",
            "<a></b>",
            "<a>",
            "</a>",
            "<a><![CDATA[x]]></a>y",
        ] {
            assert!(parse(body).is_err(), "{body}");
        }
        assert!(parse("<a/>  <!-- trailing comment -->\n").is_ok());
    }

    #[test]
    fn no_truncation_of_a_valid_document_panics() {
        let body = r#"<?xml version="1.0"?><R xmlns:i="urn:i"><A i:nil="true" /><B>x &amp; &#65;</B>
            <C><![CDATA[y]]><!-- z --></C></R>"#;
        for end in 0..body.len() {
            if body.is_char_boundary(end) {
                let _ = parse(&body[..end]);
            }
        }
    }
}
