//! A fast reader for the block-style YAML that catalog files are written in.
//!
//! serde-saphyr (the guide's YAML crate) reads catalog files at about 17 MB/s: on a 500 × 50
//! synthetic catalog (9 MB) that is 0.53 s, most of loading, and it is the parser itself (reading
//! the same files into `IgnoredAny` costs as much; spans, budgets and snippets cost nothing
//! measurable). This reader understands only the subset catalog files are written in: block
//! mappings with plain keys, block sequences (also at their key's indentation), one-line plain,
//! single- and double-quoted scalars, `[]`, `{}`, one-line flow sequences of plain words, folded
//! and literal block scalars (`>`, `>-`, `|`, `|-`) whose lines share one indentation, and
//! comments. It builds a small tree and deserialises the wire types from it, with every
//! [`Spanned`] at the line and column serde-saphyr gives it.
//!
//! Anything outside that subset, and any error at all (of the YAML or of the file's shape: an
//! unknown field, a missing one, a wrong type), makes it *decline*: the file is then read by
//! serde-saphyr, so every error message (file, line, column, field) is serde-saphyr's as before.
//! `parse::fast_tests` compares both readers (values and places) on every catalog file the
//! project has (the real catalog, every fixture) and on scalars and structures at the edge of the
//! subset.

use std::borrow::Cow;
use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::{Deserialize, Deserializer};

/// Where a value starts in its file: 1-based line and column (in characters, as serde-saphyr
/// counts them); 0 when unknown.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    /// The line.
    pub line: u32,
    /// The column.
    pub column: u32,
}

impl Pos {
    /// The line (as `serde_saphyr::Location::line`).
    pub fn line(&self) -> u64 {
        u64::from(self.line)
    }

    /// The column (as `serde_saphyr::Location::column`).
    pub fn column(&self) -> u64 {
        u64::from(self.column)
    }
}

/// A value with the place it is written at, from either reader: serde-saphyr (through its own
/// `Spanned`) or the fast one (`super::fast`), which give the same places.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Spanned<T> {
    /// The value.
    pub value: T,
    /// Where it is written.
    pub referenced: Pos,
}

impl<'de, T: Deserialize<'de>> Deserialize<'de> for Spanned<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        if active() {
            return d.deserialize_newtype_struct(SPANNED, FastSpanned(std::marker::PhantomData));
        }
        let s = serde_saphyr::Spanned::<T>::deserialize(d)?;
        Ok(Spanned {
            value: s.value,
            referenced: Pos {
                line: u32::try_from(s.referenced.line()).unwrap_or(u32::MAX),
                column: u32::try_from(s.referenced.column()).unwrap_or(u32::MAX),
            },
        })
    }
}

/// The fast reader hands a `Spanned` its node with the node's place set beforehand.
struct FastSpanned<T>(std::marker::PhantomData<T>);

impl<'de, T: Deserialize<'de>> de::Visitor<'de> for FastSpanned<T> {
    type Value = Spanned<T>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a value")
    }

    fn visit_newtype_struct<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        let referenced = span();
        T::deserialize(d).map(|value| Spanned { value, referenced })
    }
}

/// The name [`Spanned`] asks for when this reader is the deserializer.
pub(super) const SPANNED: &str = "bundle::catalog::wire::Spanned";

thread_local! {
    /// Whether the deserializer running on this thread is this reader.
    static ACTIVE: Cell<bool> = const { Cell::new(false) };
    /// The place of the node a `Spanned` is being read from.
    static SPAN: Cell<Pos> = const { Cell::new(Pos { line: 0, column: 0 }) };
}

/// Whether [`from_str`] is deserialising on this thread.
pub(super) fn active() -> bool {
    ACTIVE.with(Cell::get)
}

/// The place of the node the `Spanned` being read stands for (set just before it is read).
pub(super) fn span() -> Pos {
    SPAN.with(Cell::get)
}

/// Reads `text` as a `T`, or `None` when it is outside the subset or wrong in any way (the
/// caller then reads it with serde-saphyr, which gives the exact error).
pub(super) fn from_str<T: DeserializeOwned>(text: &str) -> Option<T> {
    let root = Parser::new(text)?.document()?;
    ACTIVE.with(|a| a.set(true));
    let out = T::deserialize(&root);
    ACTIVE.with(|a| a.set(false));
    out.ok()
}

/// This reader declines the file (the caller falls back to serde-saphyr).
#[derive(Debug)]
pub(super) struct Decline;

impl fmt::Display for Decline {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("outside the fast YAML subset")
    }
}

impl std::error::Error for Decline {}

impl de::Error for Decline {
    fn custom<M: fmt::Display>(_: M) -> Self {
        Decline
    }
}

/// A node of the document, with where it starts.
#[derive(Debug)]
struct Node<'a> {
    at: Pos,
    kind: Kind<'a>,
}

#[derive(Debug)]
enum Kind<'a> {
    /// A plain scalar (`""` for an empty value).
    Plain(&'a str),
    /// A quoted or block scalar: always a string.
    Text(Cow<'a, str>),
    Seq(Vec<Node<'a>>),
    Map(Vec<(&'a str, Node<'a>)>),
}

/// The plain scalars YAML reads as null.
fn is_null(s: &str) -> bool {
    matches!(s, "" | "~" | "null" | "Null" | "NULL")
}

struct Parser<'a> {
    lines: Vec<&'a str>,
    /// Where each line's content starts (its indentation; further right for `- key: value`,
    /// whose mapping starts after the dash).
    start: Vec<usize>,
    /// The next line to read.
    next: usize,
}

type R<T> = Option<T>;

impl<'a> Parser<'a> {
    fn new(text: &'a str) -> Option<Self> {
        // tabs, carriage returns, other control characters, byte order marks and the line
        // separators of YAML 1.1 are left to serde-saphyr
        // (in blocks without an early exit, which the compiler turns into vector code: this scan
        // is a large part of reading a big catalog otherwise)
        let odd = |block: &[u8]| {
            block.iter().fold(false, |odd, &b| {
                odd | (b < 0x20 && b != b'\n') | (b == 0x7f)
            })
        };
        if text.as_bytes().chunks(256).any(odd)
            || !text.is_ascii() && text.contains(['\u{85}', '\u{2028}', '\u{2029}', '\u{feff}'])
        {
            return None;
        }
        let lines: Vec<&str> = text.split('\n').collect();
        let start = lines
            .iter()
            .map(|l| l.len() - l.trim_start_matches(' ').len())
            .collect();
        Some(Parser {
            lines,
            start,
            next: 0,
        })
    }

    fn document(mut self) -> R<Node<'a>> {
        let i = self.peek()?;
        if self.start[i] != 0 {
            return None;
        }
        let root = self.node()?;
        if !matches!(root.kind, Kind::Map(_)) || self.peek().is_some() {
            return None;
        }
        Some(root)
    }

    /// The content of line `i` from its start.
    fn content(&self, i: usize) -> &'a str {
        &self.lines[i][self.start[i]..]
    }

    fn pos(&self, i: usize, byte: usize) -> Pos {
        let line = self.lines[i];
        let column = if line.is_ascii() {
            byte
        } else {
            line[..byte].chars().count()
        };
        Pos {
            line: u32::try_from(i + 1).unwrap_or(u32::MAX),
            column: u32::try_from(column + 1).unwrap_or(u32::MAX),
        }
    }

    /// The next line with content (not blank, not a comment), from `self.next` on.
    fn peek(&mut self) -> Option<usize> {
        while self.next < self.lines.len() {
            let c = self.content(self.next);
            if !(c.trim_end_matches(' ').is_empty() || c.starts_with('#')) {
                return Some(self.next);
            }
            self.next += 1;
        }
        None
    }

    /// A block node starting at the next line with content.
    fn node(&mut self) -> R<Node<'a>> {
        let i = self.peek()?;
        let c = self.content(i);
        if is_dash(c) {
            self.seq(self.start[i])
        } else if key_of(c).is_some() {
            self.map(self.start[i])
        } else {
            None
        }
    }

    /// The value under a key or a dash with nothing after it on its line: a block node more
    /// indented than `n`, a sequence at `n` itself when `compact` (`key:` then `- item`), or
    /// empty.
    fn child(&mut self, n: usize, compact: bool, at: Pos) -> R<Node<'a>> {
        match self.peek() {
            Some(j) if self.start[j] > n => self.node(),
            Some(j) if compact && self.start[j] == n && is_dash(self.content(j)) => self.seq(n),
            _ => Some(Node {
                at,
                kind: Kind::Plain(""),
            }),
        }
    }

    fn seq(&mut self, n: usize) -> R<Node<'a>> {
        let first = self.peek()?;
        let at = self.pos(first, n);
        let mut items = Vec::new();
        while let Some(i) = self.item(n, true)? {
            let off = self.value_start(i, &self.content(i)[1..]);
            let rest = &self.lines[i][off..];
            if is_dash(rest) {
                return None;
            } else if key_of(rest).is_some() {
                self.start[i] = off;
                items.push(self.map(off)?);
            } else {
                items.push(self.value(i, off, n, false)?);
            }
        }
        Some(Node {
            at,
            kind: Kind::Seq(items),
        })
    }

    fn map(&mut self, n: usize) -> R<Node<'a>> {
        let first = self.peek()?;
        let at = self.pos(first, n);
        let mut entries = Vec::new();
        while let Some(i) = self.item(n, false)? {
            let (key, after) = key_of(self.content(i))?;
            let off = self.value_start(i, after);
            entries.push((key, self.value(i, off, n, true)?));
        }
        Some(Node {
            at,
            kind: Kind::Map(entries),
        })
    }

    /// The next line of the block collection indented `n` (a sequence when `dash`, else a
    /// mapping): `Some(Some(line))`, or `Some(None)` where the collection ends (a line less
    /// indented, or one of the other kind); `None` (left to serde-saphyr) for a line more indented.
    fn item(&mut self, n: usize, dash: bool) -> R<Option<usize>> {
        let Some(i) = self.peek() else {
            return Some(None);
        };
        if self.start[i] > n {
            return None;
        }
        Some((self.start[i] == n && is_dash(self.content(i)) == dash).then_some(i))
    }

    /// Where the value begins on line `i`, `after` being the line's end after its dash or key
    /// (spaces skipped).
    fn value_start(&self, i: usize, after: &str) -> usize {
        self.lines[i].len() - after.trim_start_matches(' ').len()
    }

    /// The value after a dash or key on line `i`, from byte `off` (in a collection indented `n`):
    /// written there, or — nothing but a comment there — the block node below it (`compact`: as in
    /// [`Parser::child`]).
    fn value(&mut self, i: usize, off: usize, n: usize, compact: bool) -> R<Node<'a>> {
        let rest = &self.lines[i][off..];
        if rest.is_empty() || rest.starts_with('#') {
            self.next = i + 1;
            self.child(n, compact, self.pos(i, off))
        } else {
            self.scalar(i, off, n)
        }
    }

    /// The value written on line `i` from byte `off` (in a collection indented `n`).
    fn scalar(&mut self, i: usize, off: usize, n: usize) -> R<Node<'a>> {
        let at = self.pos(i, off);
        let s = &self.lines[i][off..];
        self.next = i + 1;
        let (kind, rest) = match s.as_bytes()[0] {
            b'"' => double_quoted(s)?,
            b'\'' => single_quoted(s)?,
            b'[' => return self.flow_seq(i, off),
            b'{' => (Kind::Map(Vec::new()), s.strip_prefix("{}")?),
            b'>' | b'|' => return self.block_scalar(i, off, n),
            b'-' | b'?' | b':' | b',' | b']' | b'}' | b'#' | b'&' | b'*' | b'!' | b'%' | b'@'
            | b'`' => return None,
            _ => {
                let end = s.find(" #").unwrap_or(s.len());
                let v = s[..end].trim_end_matches(' ');
                if v.contains(": ") || v.ends_with(':') {
                    return None;
                }
                (Kind::Plain(v), "")
            }
        };
        if !end_of_value(rest) {
            return None;
        }
        Some(Node { at, kind })
    }

    /// `[a, b]`: plain words only.
    fn flow_seq(&mut self, i: usize, off: usize) -> R<Node<'a>> {
        let at = self.pos(i, off);
        let s = &self.lines[i][off..];
        let close = s.find(']')?;
        if !end_of_value(&s[close + 1..]) {
            return None;
        }
        let inner = &s[1..close];
        let mut items = Vec::new();
        if !inner.trim_matches(' ').is_empty() {
            let mut from = 1;
            for part in inner.split(',') {
                let word = part.trim_matches(' ');
                let lead = part.len() - part.trim_start_matches(' ').len();
                if word.is_empty()
                    || word.starts_with('-')
                    || !word
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"._/-".contains(&b))
                {
                    return None;
                }
                items.push(Node {
                    at: self.pos(i, off + from + lead),
                    kind: Kind::Plain(word),
                });
                from += part.len() + 1;
            }
        }
        Some(Node {
            at,
            kind: Kind::Seq(items),
        })
    }

    /// `>`, `>-`, `|`, `|-` on line `i` at `off`, its lines below (more indented than `n`, all at
    /// one indentation).
    fn block_scalar(&mut self, i: usize, off: usize, n: usize) -> R<Node<'a>> {
        let header = &self.lines[i][off..];
        let (folded, strip, rest) = match header.as_bytes() {
            [b'>', b'-', ..] => (true, true, &header[2..]),
            [b'|', b'-', ..] => (false, true, &header[2..]),
            [b'>', ..] => (true, false, &header[1..]),
            [b'|', ..] => (false, false, &header[1..]),
            _ => return None,
        };
        if !(rest.is_empty() || rest.starts_with(' ')) || !end_of_value(rest) {
            return None;
        }
        let mut j = i + 1;
        let first = *self.lines.get(j)?;
        let indent = self.start[j];
        if indent <= n || first.len() == indent {
            return None;
        }
        // serde-saphyr places a block scalar at its first line of text
        let at = self.pos(j, indent);
        let mut parts: Vec<&str> = Vec::new();
        while j < self.lines.len() {
            let l = self.lines[j];
            if l.trim_end_matches(' ').is_empty() {
                if l.len() > indent {
                    return None;
                }
                parts.push("");
            } else if self.start[j] == indent {
                parts.push(&l[indent..]);
            } else if self.start[j] <= n {
                break;
            } else {
                return None;
            }
            j += 1;
        }
        while parts.last() == Some(&"") {
            parts.pop();
        }
        let mut text = String::new();
        let mut previous_empty = false;
        for (k, p) in parts.iter().enumerate() {
            if k > 0 {
                // folding: a line break between two lines of text is a space, and an empty
                // line is a line break
                if !folded || p.is_empty() {
                    text.push('\n');
                } else if !previous_empty {
                    text.push(' ');
                }
            }
            text.push_str(p);
            previous_empty = p.is_empty();
        }
        if !strip {
            text.push('\n');
        }
        self.next = j;
        Some(Node {
            at,
            kind: Kind::Text(Cow::Owned(text)),
        })
    }
}

/// `-` alone or `- …`: a sequence item.
fn is_dash(c: &str) -> bool {
    c == "-" || c.starts_with("- ")
}

/// `key:` or `key: value` with a plain key of letters, digits, `_` and `-`: the key and what
/// follows the colon.
fn key_of(c: &str) -> Option<(&str, &str)> {
    let colon = c.find(':')?;
    let (key, after) = (&c[..colon], &c[colon + 1..]);
    if key.is_empty()
        || key.starts_with('-')
        || !key
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
        || !(after.is_empty() || after.starts_with(' '))
    {
        return None;
    }
    Some((key, after))
}

/// Nothing, or a comment after a space, follows a value.
fn end_of_value(rest: &str) -> bool {
    let r = rest.trim_start_matches(' ');
    r.is_empty() || (r.starts_with('#') && r.len() < rest.len())
}

/// `"…"` on one line: the text and what follows the closing quote.
fn double_quoted(s: &str) -> Option<(Kind<'_>, &str)> {
    let body = &s[1..];
    let mut out: Option<String> = None;
    let mut chars = body.char_indices();
    while let Some((k, ch)) = chars.next() {
        match ch {
            '"' => {
                let text = match out {
                    Some(o) => Cow::Owned(o),
                    None => Cow::Borrowed(&body[..k]),
                };
                return Some((Kind::Text(text), &body[k + 1..]));
            }
            '\\' => {
                let o = out.get_or_insert_with(|| body[..k].to_string());
                match chars.next()?.1 {
                    '\\' => o.push('\\'),
                    '"' => o.push('"'),
                    '/' => o.push('/'),
                    'n' => o.push('\n'),
                    't' => o.push('\t'),
                    _ => return None,
                }
            }
            c => {
                if let Some(o) = out.as_mut() {
                    o.push(c);
                }
            }
        }
    }
    None
}

/// `'…'` on one line (`''` is a quote): the text and what follows the closing quote.
fn single_quoted(s: &str) -> Option<(Kind<'_>, &str)> {
    let body = &s[1..];
    let mut out: Option<String> = None;
    let mut k = 0;
    while let Some(q) = body[k..].find('\'') {
        let at = k + q;
        if body[at + 1..].starts_with('\'') {
            out.get_or_insert_with(String::new).push_str(&body[k..=at]);
            k = at + 2;
            continue;
        }
        let text = match out {
            Some(mut o) => {
                o.push_str(&body[k..at]);
                Cow::Owned(o)
            }
            None => Cow::Borrowed(&body[..at]),
        };
        return Some((Kind::Text(text), &body[at + 1..]));
    }
    None
}

// ---------------------------------------------------------------------------------------------
// Deserialising from the tree: type-directed, declining wherever serde-saphyr might differ.

impl<'de> de::Deserializer<'de> for &Node<'_> {
    type Error = Decline;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match &self.kind {
            Kind::Seq(items) => visitor.visit_seq(Items(items.iter())),
            Kind::Map(entries) => visitor.visit_map(Entries(entries.iter(), None)),
            _ => Err(Decline),
        }
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.kind {
            Kind::Plain("true") => visitor.visit_bool(true),
            Kind::Plain("false") => visitor.visit_bool(false),
            _ => Err(Decline),
        }
    }

    fn deserialize_u64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.kind {
            Kind::Plain(s)
                if !s.is_empty()
                    && s.len() < 19
                    && s.bytes().all(|b| b.is_ascii_digit())
                    && (s == "0" || !s.starts_with('0')) =>
            {
                visitor.visit_u64(s.parse().map_err(|_| Decline)?)
            }
            _ => Err(Decline),
        }
    }

    fn deserialize_u32<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.deserialize_u64(visitor)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match &self.kind {
            Kind::Plain(s) if !is_null(s) && *s != "true" && *s != "false" => visitor.visit_str(s),
            Kind::Text(s) => visitor.visit_str(s),
            _ => Err(Decline),
        }
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.deserialize_str(visitor)
    }

    fn deserialize_identifier<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        self.deserialize_str(visitor)
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match self.kind {
            Kind::Plain(s) if is_null(s) => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Decline> {
        if name == SPANNED {
            SPAN.with(|s| s.set(self.at));
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match &self.kind {
            Kind::Seq(items) => visitor.visit_seq(Items(items.iter())),
            _ => Err(Decline),
        }
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        match &self.kind {
            Kind::Map(entries) => visitor.visit_map(Entries(entries.iter(), None)),
            _ => Err(Decline),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Decline> {
        self.deserialize_map(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Decline> {
        match self.kind {
            Kind::Plain(s) if !is_null(s) => visitor.visit_enum(s.into_deserializer()),
            _ => Err(Decline),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Decline> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        i8 i16 i32 i64 i128 u8 u16 u128 f32 f64 char bytes byte_buf unit unit_struct
        tuple tuple_struct
    }
}

struct Items<'n, 'a>(std::slice::Iter<'n, Node<'a>>);

impl<'de> de::SeqAccess<'de> for Items<'_, '_> {
    type Error = Decline;

    fn next_element_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Decline> {
        self.0.next().map(|n| seed.deserialize(n)).transpose()
    }
}

struct Entries<'n, 'a>(
    std::slice::Iter<'n, (&'a str, Node<'a>)>,
    Option<&'n Node<'a>>,
);

impl<'de> de::MapAccess<'de> for Entries<'_, '_> {
    type Error = Decline;

    fn next_key_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Decline> {
        let Some((key, value)) = self.0.next() else {
            return Ok(None);
        };
        self.1 = Some(value);
        seed.deserialize((*key).into_deserializer()).map(Some)
    }

    fn next_value_seed<S: de::DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<S::Value, Decline> {
        seed.deserialize(self.1.take().ok_or(Decline)?)
    }
}
