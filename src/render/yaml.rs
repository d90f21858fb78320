//! YAML documents as upstream wrote them, and in-place edits of their scalars.
//!
//! Rendered charts and release manifests are kept byte-for-byte: a document is split out of its
//! stream ([`split`]), parsed into a [`Node`] tree that remembers where each scalar sits in the text
//! ([`parse`]), and edited by replacing those byte ranges only ([`apply`]). Comments, key order and
//! quoting of everything else stay as upstream has them.

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

/// A YAML node. Scalars carry the byte range of their source text (quotes included) when known.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Node {
    /// `null` or `~` or nothing.
    Null,
    /// A boolean.
    Bool(bool),
    /// A number, as JSON knows it.
    Number(serde_json::Number),
    /// A string and where it is in the document text.
    Str(String, Option<(usize, usize)>),
    /// A sequence.
    Seq(Vec<Node>),
    /// A mapping, in document order (keys are strings; other scalar keys are written as text).
    Map(Vec<(String, Node)>),
}

impl Node {
    /// The value at `key` of a mapping.
    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(m) => m.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string at a path of mapping keys.
    pub(crate) fn str_at(&self, path: &[&str]) -> Option<&str> {
        match path.iter().try_fold(self, |n, k| n.get(k))? {
            Node::Str(s, _) => Some(s.as_str()),
            _ => None,
        }
    }

    /// The node as JSON (for schema checks and for templates).
    pub(crate) fn to_json(&self) -> Value {
        match self {
            Node::Null => Value::Null,
            Node::Bool(b) => Value::Bool(*b),
            Node::Number(n) => Value::Number(n.clone()),
            Node::Str(s, _) => Value::String(s.clone()),
            Node::Seq(v) => Value::Array(v.iter().map(Node::to_json).collect()),
            Node::Map(m) => Value::Object(
                m.iter()
                    .map(|(k, v)| (k.clone(), v.to_json()))
                    .collect::<serde_json::Map<_, _>>(),
            ),
        }
    }
}

/// One document of a YAML stream.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Doc {
    /// The document's text (without the `---` line that starts it).
    pub text: String,
    /// The parsed document (`Node::Null` for an empty one).
    pub node: Node,
}

/// A document that does not parse.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ParseError {
    /// 1-based document number in the stream.
    pub document: usize,
    /// What the parser said (first line).
    pub message: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "document {}: {}", self.document, self.message)
    }
}

/// Splits a YAML stream into document texts at `---` lines (a `---` at the start of a line,
/// followed by nothing, a space or a comment). A `...` line ends a document. Empty documents
/// (only comments or blank lines) are kept as empty strings so that numbering matches the stream.
pub(crate) fn split(stream: &str) -> Vec<String> {
    let mut docs = Vec::new();
    let mut current = String::new();
    let mut started = false;
    for line in stream.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        let is_start = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_start {
            if started || !is_blank(&current) {
                docs.push(std::mem::take(&mut current));
            }
            current.clear();
            started = true;
            // Content after `--- ` on the same line belongs to the document.
            let rest = bare[3..].trim_start();
            if !rest.is_empty() && !rest.starts_with('#') {
                current.push_str(rest);
                current.push('\n');
            }
            continue;
        }
        if bare == "..." {
            docs.push(std::mem::take(&mut current));
            started = false;
            continue;
        }
        current.push_str(line);
    }
    if started || !is_blank(&current) {
        docs.push(current);
    }
    docs
}

/// Whether a document text holds only comments and blank lines.
pub(crate) fn is_blank(text: &str) -> bool {
    text.lines().all(|l| {
        let t = l.trim();
        t.is_empty() || t.starts_with('#')
    })
}

/// Parses one document's text.
pub(crate) fn parse(text: &str) -> Result<Node, String> {
    if is_blank(text) {
        return Ok(Node::Null);
    }
    let root: Spanned<Raw> = serde_saphyr::from_str(text).map_err(|e| {
        e.to_string()
            .lines()
            .next()
            .unwrap_or("invalid YAML")
            .to_string()
    })?;
    Ok(spanned(text, root))
}

/// Splits and parses a stream; documents that are empty are left out.
pub(crate) fn parse_stream(stream: &str) -> Result<Vec<Doc>, ParseError> {
    let mut out = Vec::new();
    for (i, text) in split(stream).into_iter().enumerate() {
        let node = parse(&text).map_err(|message| ParseError {
            document: i + 1,
            message,
        })?;
        if matches!(node, Node::Null) {
            continue;
        }
        out.push(Doc { text, node });
    }
    Ok(out)
}

/// One edit: replace the bytes `start..end` of a document text with `with`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Edit {
    /// Start byte.
    pub start: usize,
    /// End byte (exclusive).
    pub end: usize,
    /// The new text.
    pub with: String,
}

/// Applies edits (non-overlapping) to a text.
pub(crate) fn apply(text: &str, mut edits: Vec<Edit>) -> String {
    edits.sort_by_key(|e| std::cmp::Reverse(e.start));
    let mut out = text.to_string();
    for e in edits {
        out.replace_range(e.start..e.end, &e.with);
    }
    out
}

/// The edit that replaces, inside the string scalar at `span` (as found by [`parse`]) whose value
/// is `value`, each `(old, new)` pair of substrings. The scalar keeps its style (plain or quoted)
/// when its source text holds the value verbatim and every `new` is made of characters that are
/// safe there (image references and registry hosts are); otherwise the whole scalar is written as
/// a JSON (= YAML double-quoted) string.
pub(crate) fn replace_in_scalar(
    text: &str,
    span: (usize, usize),
    value: &str,
    pairs: &[(String, String)],
) -> Edit {
    let source = &text[span.0..span.1];
    let inner = |q: char| {
        (source.len() >= 2 && source.starts_with(q) && source.ends_with(q))
            .then(|| &source[1..source.len() - 1])
    };
    let verbatim = source == value
        || inner('"').is_some_and(|s| s == value && !s.contains('\\'))
        || inner('\'').is_some_and(|s| s == value && !s.contains('\''));
    let safe = pairs.iter().all(|(_, new)| safe_plain_or_quoted(new));
    let with = if verbatim && safe {
        pairs
            .iter()
            .fold(source.to_string(), |acc, (old, new)| acc.replace(old, new))
    } else {
        let replaced = pairs
            .iter()
            .fold(value.to_string(), |acc, (old, new)| acc.replace(old, new));
        serde_json::to_string(&replaced).unwrap_or_default()
    };
    Edit {
        start: span.0,
        end: span.1,
        with,
    }
}

/// Image references and registry hosts only contain these; such text can stand in a plain or
/// quoted scalar without escaping.
fn safe_plain_or_quoted(s: &str) -> bool {
    s.chars()
        .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// Deserialisation helper: a node whose children carry spans.
enum Raw {
    Null,
    Bool(bool),
    Number(serde_json::Number),
    Str(String),
    Seq(Vec<Spanned<Raw>>),
    Map(Vec<(Spanned<Raw>, Spanned<Raw>)>),
}

impl Raw {
    fn into_node(self, text: &str) -> Node {
        match self {
            Raw::Null => Node::Null,
            Raw::Bool(b) => Node::Bool(b),
            Raw::Number(n) => Node::Number(n),
            Raw::Str(s) => Node::Str(s, None),
            Raw::Seq(v) => Node::Seq(v.into_iter().map(|x| spanned(text, x)).collect()),
            Raw::Map(m) => Node::Map(
                m.into_iter()
                    .map(|(k, v)| (key_text(text, k), spanned(text, v)))
                    .collect(),
            ),
        }
    }
}

/// A mapping key as text: a key that YAML reads as a bool or number (`n`, `on`, `1`) is taken as
/// written, since Kubernetes field names are strings.
fn key_text(text: &str, k: Spanned<Raw>) -> String {
    if !matches!(k.value, Raw::Str(_)) {
        let span = k.referenced.span();
        if let (Some(o), Some(l)) = (span.byte_offset(), span.byte_len()) {
            let (o, l) = (o as usize, l as usize);
            if let Some(src) = text.get(o..o + l)
                && !src.is_empty()
                && !src.contains(['\n', '"', '\''])
            {
                return src.to_string();
            }
        }
    }
    match k.value {
        Raw::Null => "null".to_string(),
        Raw::Bool(b) => b.to_string(),
        Raw::Number(n) => n.to_string(),
        Raw::Str(s) => s,
        Raw::Seq(_) | Raw::Map(_) => "?".to_string(),
    }
}

/// A child node, with the byte range of a string scalar when the parser knows it and the text
/// there is the scalar (checked, so that a wrong range can never corrupt an edit).
fn spanned(text: &str, s: Spanned<Raw>) -> Node {
    let span = s.referenced.span();
    let range = match (span.byte_offset(), span.byte_len()) {
        (Some(o), Some(l)) => usize::try_from(o)
            .ok()
            .zip(usize::try_from(l).ok())
            .map(|(o, l)| (o, o + l)),
        _ => None,
    };
    match s.value {
        Raw::Str(v) => {
            let range = range.filter(|&(a, b)| {
                text.get(a..b).is_some_and(|src| {
                    src == v
                        || (src.len() >= 2 && src[1..src.len() - 1].contains(v.as_str()))
                        || src.starts_with('|')
                        || src.starts_with('>')
                })
            });
            Node::Str(v, range)
        }
        other => other.into_node(text),
    }
}

impl<'de> Deserialize<'de> for Raw {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(RawVisitor)
    }
}

struct RawVisitor;

impl<'de> Visitor<'de> for RawVisitor {
    type Value = Raw;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any YAML value")
    }
    fn visit_unit<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_none<E>(self) -> Result<Raw, E> {
        Ok(Raw::Null)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Raw, D::Error> {
        Raw::deserialize(d)
    }
    fn visit_bool<E>(self, v: bool) -> Result<Raw, E> {
        Ok(Raw::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Raw, E> {
        Ok(Raw::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Raw, E> {
        Ok(Raw::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Raw, E> {
        Ok(serde_json::Number::from_f64(v)
            .map(Raw::Number)
            .unwrap_or_else(|| Raw::Str(v.to_string())))
    }
    fn visit_str<E>(self, v: &str) -> Result<Raw, E> {
        Ok(Raw::Str(v.to_string()))
    }
    fn visit_string<E>(self, v: String) -> Result<Raw, E> {
        Ok(Raw::Str(v))
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut v = Vec::new();
        while let Some(x) = a.next_element::<Spanned<Raw>>()? {
            v.push(x);
        }
        Ok(Raw::Seq(v))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut a: A) -> Result<Raw, A::Error> {
        let mut m = Vec::new();
        while let Some(k) = a.next_key::<Spanned<Raw>>()? {
            let v = a.next_value::<Spanned<Raw>>()?;
            m.push((k, v));
        }
        Ok(Raw::Map(m))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spans_point_at_scalars() {
        let text = "a:\n  image: quay.io/x/y:v1 # c\n  q: \"quay.io/x/y:v1\"\n  args:\n    - --img=quay.io/x/y:v1\n  n: 3\n";
        let node = parse(text).unwrap();
        let a = node.get("a").unwrap();
        let Node::Str(v, Some((s, e))) = a.get("image").unwrap() else {
            panic!("{a:?}")
        };
        assert_eq!(v, "quay.io/x/y:v1");
        assert_eq!(&text[*s..*e], "quay.io/x/y:v1");
        let Node::Str(_, Some((s, e))) = a.get("q").unwrap() else {
            panic!()
        };
        assert_eq!(&text[*s..*e], "\"quay.io/x/y:v1\"");
        let Node::Seq(args) = a.get("args").unwrap() else {
            panic!()
        };
        let Node::Str(v, Some(span)) = &args[0] else {
            panic!()
        };
        let pair = (
            "quay.io/x/y:v1".to_string(),
            "m/quay.io/x/y@sha256:1".to_string(),
        );
        let edit = replace_in_scalar(text, *span, v, &[pair]);
        let out = apply(text, vec![edit]);
        assert!(out.contains("- --img=m/quay.io/x/y@sha256:1\n"), "{out}");
        assert!(out.contains("# c"));
        assert_eq!(a.get("n"), Some(&Node::Number(3.into())), "{a:?}");
    }

    #[test]
    fn splits_streams() {
        let s = "# head\n---\na: 1\n---\n# only a comment\n---\nb: 2\n...\n";
        let d = split(s);
        assert_eq!(d.len(), 3, "{d:?}");
        assert_eq!(d[0], "a: 1\n");
        assert!(is_blank(&d[1]));
        assert_eq!(parse_stream(s).unwrap().len(), 2);
        assert_eq!(split("a: 1\n").len(), 1);
    }
}
