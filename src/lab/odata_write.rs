//! OData v3 writers for the lab's SPF: JSON light (minimal, full and no metadata) and Atom XML
//! (`<feed>`/`<entry>` with `m:properties` and typed `d:` properties), chosen from `Accept`.
//!
//! The writers only format what they are given; they never decide which entities to show.

use quick_xml::Writer;
use quick_xml::events::{BytesDecl, BytesEnd, BytesStart, BytesText, Event};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;

use super::odata::{Edm, format_datetime};

const NS_ATOM: &str = "http://www.w3.org/2005/Atom";
const NS_D: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices";
const NS_M: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices/metadata";
const SCHEME: &str = "http://schemas.microsoft.com/ado/2007/08/dataservices/scheme";

/// How much metadata JSON carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metadata {
    /// `odata=minimalmetadata` (also plain `application/json`).
    Minimal,
    /// `odata=fullmetadata`.
    Full,
    /// `odata=nometadata`.
    None,
}

/// The representation an answer takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Representation {
    /// JSON light.
    Json(Metadata),
    /// Atom XML, OData v3's default.
    Atom,
}

impl Representation {
    /// Chooses from the `Accept` header (and `$format`), as WCF Data Services does.
    pub fn negotiate(accept: Option<&str>, format: Option<&str>) -> Self {
        let accept = accept.unwrap_or("").to_ascii_lowercase();
        let format = format.unwrap_or("").to_ascii_lowercase();
        if format == "json" || accept.contains("application/json") {
            let metadata = if accept.contains("odata=fullmetadata") {
                Metadata::Full
            } else if accept.contains("odata=nometadata") {
                Metadata::None
            } else {
                Metadata::Minimal
            };
            Representation::Json(metadata)
        } else {
            Representation::Atom
        }
    }

    /// The `Content-Type` of a feed or entry in this representation.
    pub fn content_type(self, single: bool) -> &'static str {
        match self {
            Representation::Json(Metadata::Minimal) => {
                "application/json;odata=minimalmetadata;streaming=true;charset=utf-8"
            }
            Representation::Json(Metadata::Full) => {
                "application/json;odata=fullmetadata;streaming=true;charset=utf-8"
            }
            Representation::Json(Metadata::None) => {
                "application/json;odata=nometadata;streaming=true;charset=utf-8"
            }
            Representation::Atom if single => "application/atom+xml;type=entry;charset=utf-8",
            Representation::Atom => "application/atom+xml;type=feed;charset=utf-8",
        }
    }
}

/// An entity set as it appears on the wire.
#[derive(Debug, Clone, Copy)]
pub struct SetInfo {
    /// Collection name (`VirtualMachines`).
    pub name: &'static str,
    /// Entity type (`VMM.VirtualMachine`).
    pub type_name: &'static str,
}

/// One entity ready to write.
#[derive(Debug, Clone)]
pub struct EntityOut {
    /// The key URL relative to the service base (`VirtualMachines(ID=guid'…',StampId=guid'…')`).
    pub key_path: String,
    /// Properties in order.
    pub props: Vec<(&'static str, Edm)>,
}

fn json_value(edm: &Edm) -> Value {
    match edm {
        Edm::Guid(g) => json!(g.to_string()),
        Edm::Str(s) => json!(s),
        Edm::DateTime(t) => json!(format_datetime(*t)),
        Edm::Int32(i) => json!(i),
        Edm::Int64(i) => json!(i.to_string()),
        Edm::Bool(b) => json!(b),
        Edm::Null(_) => Value::Null,
        Edm::Complex(_, members) => {
            let mut map = Map::new();
            for (k, v) in members {
                map.insert((*k).to_owned(), json_value(v));
            }
            Value::Object(map)
        }
        Edm::StrList(items) => json!(items),
        Edm::GuidList(items) => json!(items.iter().map(|g| g.to_string()).collect::<Vec<_>>()),
    }
}

/// Annotating these types tells a full-metadata reader what JSON alone cannot (guid, date, int64).
fn needs_type_annotation(edm: &Edm) -> bool {
    matches!(
        edm,
        Edm::Guid(_)
            | Edm::DateTime(_)
            | Edm::Int64(_)
            | Edm::Complex(..)
            | Edm::StrList(_)
            | Edm::GuidList(_)
    )
}

fn json_entity(
    base: &str,
    set: SetInfo,
    entity: &EntityOut,
    metadata: Metadata,
) -> Map<String, Value> {
    let mut map = Map::new();
    if metadata == Metadata::Full {
        map.insert("odata.type".into(), json!(set.type_name));
        map.insert(
            "odata.id".into(),
            json!(format!("{base}{}", entity.key_path)),
        );
        map.insert("odata.editLink".into(), json!(entity.key_path));
    }
    for (name, value) in &entity.props {
        if metadata == Metadata::Full && needs_type_annotation(value) {
            map.insert(format!("{name}@odata.type"), json!(value.type_name()));
        }
        map.insert((*name).to_owned(), json_value(value));
    }
    map
}

/// A JSON feed: `{"odata.metadata", "value": [...], "odata.nextLink"}`.
pub fn json_feed(
    base: &str,
    set: SetInfo,
    entities: &[EntityOut],
    next_link: Option<&str>,
    metadata: Metadata,
) -> Value {
    let mut map = Map::new();
    if metadata != Metadata::None {
        map.insert(
            "odata.metadata".into(),
            json!(format!("{base}$metadata#{}", set.name)),
        );
    }
    let values: Vec<Value> = entities
        .iter()
        .map(|e| Value::Object(json_entity(base, set, e, metadata)))
        .collect();
    map.insert("value".into(), Value::Array(values));
    if let Some(next) = next_link {
        map.insert("odata.nextLink".into(), json!(next));
    }
    Value::Object(map)
}

/// A single JSON entity, with `odata.metadata` pointing at `…#Set/@Element`.
pub fn json_entry(base: &str, set: SetInfo, entity: &EntityOut, metadata: Metadata) -> Value {
    let mut map = Map::new();
    if metadata != Metadata::None {
        map.insert(
            "odata.metadata".into(),
            json!(format!("{base}$metadata#{}/@Element", set.name)),
        );
    }
    map.extend(json_entity(base, set, entity, metadata));
    Value::Object(map)
}

type XmlWriter = Writer<Vec<u8>>;

fn text_element(w: &mut XmlWriter, name: &str, attrs: &[(&str, &str)], text: &str) {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, *v));
    }
    let _ = w.write_event(Event::Start(start));
    let _ = w.write_event(Event::Text(BytesText::new(text)));
    let _ = w.write_event(Event::End(BytesEnd::new(name)));
}

fn empty_element(w: &mut XmlWriter, name: &str, attrs: &[(&str, &str)]) {
    let mut start = BytesStart::new(name);
    for (k, v) in attrs {
        start.push_attribute((*k, *v));
    }
    let _ = w.write_event(Event::Empty(start));
}

fn atom_text(edm: &Edm) -> String {
    match edm {
        Edm::Guid(g) => g.to_string(),
        Edm::Str(s) => s.clone(),
        Edm::DateTime(t) => format_datetime(*t),
        Edm::Int32(i) | Edm::Int64(i) => i.to_string(),
        Edm::Bool(b) => b.to_string(),
        _ => String::new(),
    }
}

fn atom_property(w: &mut XmlWriter, name: &str, value: &Edm) {
    let tag = format!("d:{name}");
    match value {
        Edm::Str(s) => text_element(w, &tag, &[], s),
        Edm::Null(t) => empty_element(w, &tag, &[("m:type", t), ("m:null", "true")]),
        Edm::Complex(t, members) => {
            let mut start = BytesStart::new(tag.as_str());
            start.push_attribute(("m:type", *t));
            let _ = w.write_event(Event::Start(start));
            for (k, v) in members {
                atom_property(w, k, v);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(tag.as_str())));
        }
        Edm::StrList(_) | Edm::GuidList(_) => {
            let items: Vec<String> = match value {
                Edm::StrList(items) => items.clone(),
                Edm::GuidList(items) => items.iter().map(|g| g.to_string()).collect(),
                _ => Vec::new(),
            };
            let mut start = BytesStart::new(tag.as_str());
            start.push_attribute(("m:type", value.type_name()));
            let _ = w.write_event(Event::Start(start));
            for item in items {
                text_element(w, "d:element", &[], &item);
            }
            let _ = w.write_event(Event::End(BytesEnd::new(tag.as_str())));
        }
        other => text_element(w, &tag, &[("m:type", other.type_name())], &atom_text(other)),
    }
}

fn atom_entry_body(w: &mut XmlWriter, base: &str, set: SetInfo, entity: &EntityOut, updated: &str) {
    text_element(w, "id", &[], &format!("{base}{}", entity.key_path));
    empty_element(
        w,
        "category",
        &[("term", set.type_name), ("scheme", SCHEME)],
    );
    let short = set.type_name.rsplit('.').next().unwrap_or(set.type_name);
    empty_element(
        w,
        "link",
        &[
            ("rel", "edit"),
            ("title", short),
            ("href", &entity.key_path),
        ],
    );
    empty_element(w, "title", &[]);
    text_element(w, "updated", &[], updated);
    let _ = w.write_event(Event::Start(BytesStart::new("author")));
    empty_element(w, "name", &[]);
    let _ = w.write_event(Event::End(BytesEnd::new("author")));
    let mut content = BytesStart::new("content");
    content.push_attribute(("type", "application/xml"));
    let _ = w.write_event(Event::Start(content));
    let _ = w.write_event(Event::Start(BytesStart::new("m:properties")));
    for (name, value) in &entity.props {
        atom_property(w, name, value);
    }
    let _ = w.write_event(Event::End(BytesEnd::new("m:properties")));
    let _ = w.write_event(Event::End(BytesEnd::new("content")));
}

fn root(name: &str, base: &str) -> BytesStart<'static> {
    let mut start = BytesStart::new(name.to_owned());
    start.push_attribute(("xml:base", base));
    start.push_attribute(("xmlns", NS_ATOM));
    start.push_attribute(("xmlns:d", NS_D));
    start.push_attribute(("xmlns:m", NS_M));
    start
}

fn atom_updated(now: OffsetDateTime) -> String {
    format!("{}Z", format_datetime(now))
}

/// An Atom feed with a `<link rel="next">` when more remain.
pub fn atom_feed(
    base: &str,
    set: SetInfo,
    entities: &[EntityOut],
    next_link: Option<&str>,
    now: OffsetDateTime,
) -> String {
    let updated = atom_updated(now);
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    let _ = w.write_event(Event::Start(root("feed", base)));
    text_element(&mut w, "id", &[], &format!("{base}{}", set.name));
    text_element(&mut w, "title", &[("type", "text")], set.name);
    text_element(&mut w, "updated", &[], &updated);
    empty_element(
        &mut w,
        "link",
        &[("rel", "self"), ("title", set.name), ("href", set.name)],
    );
    for entity in entities {
        let _ = w.write_event(Event::Start(BytesStart::new("entry")));
        atom_entry_body(&mut w, base, set, entity, &updated);
        let _ = w.write_event(Event::End(BytesEnd::new("entry")));
    }
    if let Some(next) = next_link {
        empty_element(&mut w, "link", &[("rel", "next"), ("href", next)]);
    }
    let _ = w.write_event(Event::End(BytesEnd::new("feed")));
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// A single Atom entry.
pub fn atom_entry(base: &str, set: SetInfo, entity: &EntityOut, now: OffsetDateTime) -> String {
    let updated = atom_updated(now);
    let mut w = Writer::new(Vec::new());
    let _ = w.write_event(Event::Decl(BytesDecl::new("1.0", Some("utf-8"), None)));
    let _ = w.write_event(Event::Start(root("entry", base)));
    atom_entry_body(&mut w, base, set, entity, &updated);
    let _ = w.write_event(Event::End(BytesEnd::new("entry")));
    String::from_utf8(w.into_inner()).unwrap_or_default()
}

/// The OData error body (JSON).
pub fn json_error(code: &str, message: &str) -> Value {
    json!({"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}}})
}
