//! OData v3 query pieces the lab's SPF speaks: typed property values (`Edm`), key segments
//! (`(ID=guid'…',StampId=guid'…')` in either order), and `$filter` (comparisons joined by
//! `and`/`or`, `not`, parentheses, the literals of `schemas/fabric-http.md` §1).
//!
//! Anything outside that grammar is an error the caller turns into a 400: the lab must never guess
//! what an unsupported query meant.

use std::cmp::Ordering;

use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;
use uuid::Uuid;

/// A typed property value.
#[derive(Debug, Clone, PartialEq)]
pub enum Edm {
    /// `Edm.Guid`.
    Guid(Uuid),
    /// `Edm.String`.
    Str(String),
    /// `Edm.DateTime` (UTC).
    DateTime(OffsetDateTime),
    /// `Edm.Int32`.
    Int32(i64),
    /// `Edm.Int64` (a JSON string on the wire).
    Int64(i64),
    /// `Edm.Boolean`.
    Bool(bool),
    /// A null of the given Edm type.
    Null(&'static str),
    /// A complex value: its type name and members.
    Complex(&'static str, Vec<(&'static str, Edm)>),
    /// A collection of strings.
    StrList(Vec<String>),
    /// A collection of guids.
    GuidList(Vec<Uuid>),
}

impl Edm {
    /// The Edm type name written in `m:type` / `@odata.type`.
    pub fn type_name(&self) -> &'static str {
        match self {
            Edm::Guid(_) => "Edm.Guid",
            Edm::Str(_) => "Edm.String",
            Edm::DateTime(_) => "Edm.DateTime",
            Edm::Int32(_) => "Edm.Int32",
            Edm::Int64(_) => "Edm.Int64",
            Edm::Bool(_) => "Edm.Boolean",
            Edm::Null(t) => t,
            Edm::Complex(t, _) => t,
            Edm::StrList(_) => "Collection(Edm.String)",
            Edm::GuidList(_) => "Collection(Edm.Guid)",
        }
    }

    /// An optional string: the value, or a typed null.
    pub fn opt_str(value: Option<&str>) -> Edm {
        value.map_or(Edm::Null("Edm.String"), |s| Edm::Str(s.to_owned()))
    }

    /// An optional guid: the value, or a typed null.
    pub fn opt_guid(value: Option<Uuid>) -> Edm {
        value.map_or(Edm::Null("Edm.Guid"), Edm::Guid)
    }
}

/// `Edm.DateTime` as OData v3 JSON and Atom write it: UTC, no offset, milliseconds when not zero.
pub fn format_datetime(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let base = t
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second]"
        ))
        .unwrap_or_default();
    if t.millisecond() == 0 {
        base
    } else {
        format!("{base}.{:03}", t.millisecond())
    }
}

/// Reads a `datetime'…'` / `datetimeoffset'…'` body: with or without offset (UTC assumed),
/// with or without fractional seconds.
pub fn parse_datetime(text: &str) -> Option<OffsetDateTime> {
    if let Ok(t) = OffsetDateTime::parse(text, &Rfc3339) {
        return Some(t);
    }
    let with_z = format!("{text}Z");
    if let Ok(t) = OffsetDateTime::parse(&with_z, &Rfc3339) {
        return Some(t);
    }
    // `2026-11-22T10:00` (no seconds) is legal OData.
    OffsetDateTime::parse(&format!("{text}:00Z"), &Rfc3339).ok()
}

/// Parses a key segment body (`ID=guid'…',StampId=guid'…'` or a bare `guid'…'`) into
/// (name, id) pairs; names are returned as written.
pub fn parse_key(segment: &str) -> Result<Vec<(String, Uuid)>, String> {
    let mut out = Vec::new();
    for part in segment.split(',') {
        let part = part.trim();
        let (name, literal) = match part.split_once('=') {
            Some((n, l)) => (n.trim().to_owned(), l.trim()),
            None => ("ID".to_owned(), part),
        };
        let inner = strip_guid_literal(literal)
            .ok_or_else(|| format!("bad key value '{literal}': expected guid'…'"))?;
        let id = Uuid::parse_str(inner).map_err(|_| format!("bad guid '{inner}' in key"))?;
        out.push((name, id));
    }
    Ok(out)
}

fn strip_guid_literal(literal: &str) -> Option<&str> {
    let lower = literal.get(..5)?.to_ascii_lowercase();
    if lower == "guid'" && literal.ends_with('\'') && literal.len() >= 6 {
        Some(&literal[5..literal.len() - 1])
    } else {
        None
    }
}

/// A literal in a filter.
#[derive(Debug, Clone, PartialEq)]
pub enum Literal {
    /// `guid'…'`.
    Guid(Uuid),
    /// `'text'`.
    Str(String),
    /// `datetime'…'` or `datetimeoffset'…'`.
    DateTime(OffsetDateTime),
    /// An integer.
    Int(i64),
    /// `true` / `false`.
    Bool(bool),
    /// `null`.
    Null,
}

/// One side of a comparison.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    /// A property path such as `Owner/RoleID`.
    Property(String),
    /// A literal.
    Literal(Literal),
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CmpOp {
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

/// A parsed `$filter`.
#[derive(Debug, Clone, PartialEq)]
pub enum Filter {
    /// `a op b`.
    Cmp(Operand, CmpOp, Operand),
    /// `a and b`.
    And(Box<Filter>, Box<Filter>),
    /// `a or b`.
    Or(Box<Filter>, Box<Filter>),
    /// `not a`.
    Not(Box<Filter>),
}

impl Filter {
    /// Parses `text`, accepting only property paths `known` says exist.
    pub fn parse(text: &str, known: &dyn Fn(&str) -> bool) -> Result<Filter, String> {
        let tokens = tokenize(text)?;
        let mut parser = Parser {
            tokens,
            pos: 0,
            known,
        };
        let filter = parser.or()?;
        if parser.pos != parser.tokens.len() {
            return Err(format!(
                "unexpected '{}' in $filter",
                parser.tokens[parser.pos].text()
            ));
        }
        Ok(filter)
    }

    /// Evaluates against an entity, reading properties through `get`.
    pub fn matches(&self, get: &dyn Fn(&str) -> Edm) -> bool {
        match self {
            Filter::And(a, b) => a.matches(get) && b.matches(get),
            Filter::Or(a, b) => a.matches(get) || b.matches(get),
            Filter::Not(a) => !a.matches(get),
            Filter::Cmp(l, op, r) => {
                let l = resolve(l, get);
                let r = resolve(r, get);
                compare(&l, *op, &r)
            }
        }
    }
}

/// A comparable value: a property's value or a literal, normalised.
#[derive(Debug, Clone, PartialEq)]
enum Value {
    Guid(Uuid),
    Str(String),
    DateTime(OffsetDateTime),
    Int(i64),
    Bool(bool),
    Null,
    Other,
}

fn resolve(operand: &Operand, get: &dyn Fn(&str) -> Edm) -> Value {
    match operand {
        Operand::Literal(l) => match l {
            Literal::Guid(g) => Value::Guid(*g),
            Literal::Str(s) => Value::Str(s.clone()),
            Literal::DateTime(t) => Value::DateTime(*t),
            Literal::Int(i) => Value::Int(*i),
            Literal::Bool(b) => Value::Bool(*b),
            Literal::Null => Value::Null,
        },
        Operand::Property(p) => match get(p) {
            Edm::Guid(g) => Value::Guid(g),
            Edm::Str(s) => Value::Str(s),
            Edm::DateTime(t) => Value::DateTime(t),
            Edm::Int32(i) | Edm::Int64(i) => Value::Int(i),
            Edm::Bool(b) => Value::Bool(b),
            Edm::Null(_) => Value::Null,
            _ => Value::Other,
        },
    }
}

fn compare(l: &Value, op: CmpOp, r: &Value) -> bool {
    let ordering = match (l, r) {
        (Value::Null, Value::Null) => Some(Ordering::Equal),
        (Value::Null, _) | (_, Value::Null) => None,
        (Value::Guid(a), Value::Guid(b)) => Some(a.cmp(b)),
        // A guid compared with text compares the canonical text (clients sometimes quote ids).
        (Value::Guid(a), Value::Str(b)) => Some(a.to_string().cmp(&b.to_ascii_lowercase())),
        (Value::Str(a), Value::Guid(b)) => Some(a.to_ascii_lowercase().cmp(&b.to_string())),
        (Value::Str(a), Value::Str(b)) => Some(a.cmp(b)),
        (Value::DateTime(a), Value::DateTime(b)) => Some(a.cmp(b)),
        (Value::Int(a), Value::Int(b)) => Some(a.cmp(b)),
        (Value::Bool(a), Value::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    };
    match (op, ordering) {
        (CmpOp::Eq, Some(o)) => o == Ordering::Equal,
        (CmpOp::Eq, None) => false,
        (CmpOp::Ne, Some(o)) => o != Ordering::Equal,
        (CmpOp::Ne, None) => true,
        (_, None) => false,
        (CmpOp::Gt, Some(o)) => o == Ordering::Greater,
        (CmpOp::Ge, Some(o)) => o != Ordering::Less,
        (CmpOp::Lt, Some(o)) => o == Ordering::Less,
        (CmpOp::Le, Some(o)) => o != Ordering::Greater,
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Token {
    Open,
    Close,
    Word(String),
    Literal(Literal),
}

impl Token {
    fn text(&self) -> String {
        match self {
            Token::Open => "(".into(),
            Token::Close => ")".into(),
            Token::Word(w) => w.clone(),
            Token::Literal(l) => format!("{l:?}"),
        }
    }
}

fn tokenize(text: &str) -> Result<Vec<Token>, String> {
    let chars: Vec<char> = text.chars().collect();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            tokens.push(Token::Open);
            i += 1;
        } else if c == ')' {
            tokens.push(Token::Close);
            i += 1;
        } else if c == '\'' {
            let (s, next) = quoted(&chars, i)?;
            tokens.push(Token::Literal(Literal::Str(s)));
            i = next;
        } else if c == '-' || c.is_ascii_digit() {
            let start = i;
            i += 1;
            while i < chars.len() && chars[i].is_ascii_digit() {
                i += 1;
            }
            let digits: String = chars[start..i].iter().collect();
            // OData's Int64 suffix.
            if i < chars.len() && (chars[i] == 'L' || chars[i] == 'l') {
                i += 1;
            }
            let n = digits
                .parse::<i64>()
                .map_err(|_| format!("bad number '{digits}' in $filter"))?;
            tokens.push(Token::Literal(Literal::Int(n)));
        } else if c.is_ascii_alphabetic() || c == '_' {
            let start = i;
            while i < chars.len()
                && (chars[i].is_ascii_alphanumeric() || chars[i] == '_' || chars[i] == '/')
            {
                i += 1;
            }
            let word: String = chars[start..i].iter().collect();
            if i < chars.len() && chars[i] == '\'' {
                let (body, next) = quoted(&chars, i)?;
                i = next;
                tokens.push(Token::Literal(typed_literal(&word, &body)?));
            } else {
                tokens.push(match word.as_str() {
                    "true" => Token::Literal(Literal::Bool(true)),
                    "false" => Token::Literal(Literal::Bool(false)),
                    "null" => Token::Literal(Literal::Null),
                    _ => Token::Word(word),
                });
            }
        } else {
            return Err(format!("unexpected character '{c}' in $filter"));
        }
    }
    Ok(tokens)
}

/// Reads `'…'` starting at `start` (a quote), with `''` as an escaped quote.
fn quoted(chars: &[char], start: usize) -> Result<(String, usize), String> {
    let mut out = String::new();
    let mut i = start + 1;
    loop {
        match chars.get(i) {
            None => return Err("unterminated string in $filter".into()),
            Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                out.push('\'');
                i += 2;
            }
            Some('\'') => return Ok((out, i + 1)),
            Some(c) => {
                out.push(*c);
                i += 1;
            }
        }
    }
}

fn typed_literal(prefix: &str, body: &str) -> Result<Literal, String> {
    match prefix.to_ascii_lowercase().as_str() {
        "guid" => Uuid::parse_str(body)
            .map(Literal::Guid)
            .map_err(|_| format!("bad guid literal '{body}'")),
        "datetime" | "datetimeoffset" => parse_datetime(body)
            .map(Literal::DateTime)
            .ok_or_else(|| format!("bad {prefix} literal '{body}'")),
        other => Err(format!("unsupported literal type '{other}'")),
    }
}

struct Parser<'a> {
    tokens: Vec<Token>,
    pos: usize,
    known: &'a dyn Fn(&str) -> bool,
}

impl Parser<'_> {
    fn peek_word(&self, word: &str) -> bool {
        matches!(self.tokens.get(self.pos), Some(Token::Word(w)) if w == word)
    }

    fn or(&mut self) -> Result<Filter, String> {
        let mut left = self.and()?;
        while self.peek_word("or") {
            self.pos += 1;
            let right = self.and()?;
            left = Filter::Or(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn and(&mut self) -> Result<Filter, String> {
        let mut left = self.unary()?;
        while self.peek_word("and") {
            self.pos += 1;
            let right = self.unary()?;
            left = Filter::And(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Filter, String> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Filter::Not(Box::new(self.unary()?)));
        }
        if self.tokens.get(self.pos) == Some(&Token::Open) {
            self.pos += 1;
            let inner = self.or()?;
            if self.tokens.get(self.pos) != Some(&Token::Close) {
                return Err("missing ')' in $filter".into());
            }
            self.pos += 1;
            return Ok(inner);
        }
        let left = self.operand()?;
        let op = match self.tokens.get(self.pos) {
            Some(Token::Word(w)) => match w.as_str() {
                "eq" => CmpOp::Eq,
                "ne" => CmpOp::Ne,
                "gt" => CmpOp::Gt,
                "ge" => CmpOp::Ge,
                "lt" => CmpOp::Lt,
                "le" => CmpOp::Le,
                other => return Err(format!("unsupported operator '{other}' in $filter")),
            },
            Some(other) => return Err(format!("expected an operator, found '{}'", other.text())),
            None => return Err("$filter ends where an operator was expected".into()),
        };
        self.pos += 1;
        let right = self.operand()?;
        Ok(Filter::Cmp(left, op, right))
    }

    fn operand(&mut self) -> Result<Operand, String> {
        let token = self
            .tokens
            .get(self.pos)
            .cloned()
            .ok_or("$filter ends where a value was expected")?;
        self.pos += 1;
        match token {
            Token::Literal(l) => Ok(Operand::Literal(l)),
            Token::Word(w) if (self.known)(&w) => Ok(Operand::Property(w)),
            Token::Word(w) => Err(format!("unknown property '{w}' in $filter")),
            other => Err(format!("expected a value, found '{}'", other.text())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known(p: &str) -> bool {
        matches!(
            p,
            "StampId" | "ID" | "Owner/RoleID" | "ModifiedTime" | "Name"
        )
    }

    #[test]
    fn parses_and_or_with_parentheses_and_every_literal() {
        let f = Filter::parse(
            "(StampId eq guid'6a5f3a40-9a2c-4a3e-8f0e-2f6d1a7b9c11' or Name eq 'it''s') and ModifiedTime gt datetime'2026-11-22T10:00:00' and ID ne null",
            &known,
        )
        .unwrap();
        assert!(matches!(f, Filter::And(..)));
    }

    #[test]
    fn refuses_unknown_properties_functions_and_garbage() {
        assert!(Filter::parse("Nope eq 1", &known).is_err());
        assert!(Filter::parse("substringof('a', Name)", &known).is_err());
        assert!(Filter::parse("Name eq", &known).is_err());
        assert!(Filter::parse("Name eq 'x' )", &known).is_err());
        assert!(Filter::parse("Name eq 'open", &known).is_err());
    }

    #[test]
    fn keys_read_in_either_order_and_case() {
        let k = parse_key(
            "StampId=Guid'6a5f3a40-9a2c-4a3e-8f0e-2f6d1a7b9c11',ID=guid'6a5f3a40-9a2c-4a3e-8f0e-2f6d1a7b9c12'",
        )
        .unwrap();
        assert_eq!(k[0].0, "StampId");
        assert_eq!(k[1].0, "ID");
    }

    #[test]
    fn datetime_filters_compare_in_time() {
        let f = Filter::parse("ModifiedTime gt datetime'2026-11-22T10:00:00'", &known).unwrap();
        let later = parse_datetime("2026-11-22T10:00:00.5").unwrap();
        assert!(f.matches(&|_| Edm::DateTime(later)));
        let earlier = parse_datetime("2026-11-22T09:59:59").unwrap();
        assert!(!f.matches(&|_| Edm::DateTime(earlier)));
    }
}
