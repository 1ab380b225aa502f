//! The payload tree the builders produce.
//!
//! It borrows what it can from the parsed [`Event`](crate::event::Event), keeps keys in the order
//! they were added, and holds digests inline, so a payload costs a handful of allocations. It
//! serialises straight to JSON (the senders) and converts to Python objects (the bindings) or to
//! a [`serde_json::Value`] (the Rust API) without an intermediate document.

use crate::event::{is_empty, strip_empty};
use serde::ser::{Serialize, SerializeMap, SerializeSeq, Serializer};
use serde_json::{Map, Number, Value};

/// An object key: one of the builders' own (static, so the bindings can cache its Python
/// string by address) or a caller-given custom key.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Key<'a> {
    Static(&'static str),
    Dyn(&'a str),
}

impl Key<'_> {
    pub fn as_str(&self) -> &str {
        match self {
            Key::Static(s) => s,
            Key::Dyn(s) => s,
        }
    }
}

/// One payload value.
#[derive(Debug, Clone, PartialEq)]
pub enum Out<'a> {
    Str(&'a str),
    String(String),
    /// A SHA-256 digest in lowercase hex.
    Digest([u8; 64]),
    Int(i64),
    Num(&'a Number),
    Bool(bool),
    List(Vec<Out<'a>>),
    Obj(Vec<(Key<'a>, Out<'a>)>),
    /// A caller-given value passed through (custom extras), already stripped of empty parts.
    Json(Value),
}

impl Out<'_> {
    /// The digest's text (always ASCII hex).
    pub fn digest_str(digest: &[u8; 64]) -> &str {
        std::str::from_utf8(digest).unwrap_or_default()
    }

    /// The payload as a JSON value.
    pub fn into_value(self) -> Value {
        match self {
            Out::Str(s) => Value::String(s.to_string()),
            Out::String(s) => Value::String(s),
            Out::Digest(d) => Value::String(Out::digest_str(&d).to_string()),
            Out::Int(i) => Value::Number(i.into()),
            Out::Num(n) => Value::Number(n.clone()),
            Out::Bool(b) => Value::Bool(b),
            Out::List(items) => Value::Array(items.into_iter().map(Out::into_value).collect()),
            Out::Obj(entries) => Value::Object(
                entries
                    .into_iter()
                    .map(|(k, v)| (k.as_str().to_string(), v.into_value()))
                    .collect::<Map<String, Value>>(),
            ),
            Out::Json(v) => v,
        }
    }

    /// The payload as compact JSON, written once into a buffer sized for it: the bytes
    /// `serde_json::to_vec` would write, byte for byte, without going through serde (digests
    /// and the builders' own keys need no escaping scan beyond one pass).
    pub fn to_json_bytes(&self) -> Vec<u8> {
        let mut buf = Vec::with_capacity(self.json_len_hint());
        self.write_json(&mut buf);
        buf
    }

    /// Appends the payload as compact JSON to `buf`.
    pub fn write_json(&self, buf: &mut Vec<u8>) {
        match self {
            Out::Str(s) => write_json_str(buf, s),
            Out::String(s) => write_json_str(buf, s),
            Out::Digest(d) => {
                buf.push(b'"');
                buf.extend_from_slice(d);
                buf.push(b'"');
            }
            Out::Int(i) => buf.extend_from_slice(itoa::Buffer::new().format(*i).as_bytes()),
            Out::Num(n) => write_number(buf, n),
            Out::Bool(b) => buf.extend_from_slice(if *b { b"true" } else { b"false" }),
            Out::List(items) => {
                buf.push(b'[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    item.write_json(buf);
                }
                buf.push(b']');
            }
            Out::Obj(entries) => {
                buf.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        buf.push(b',');
                    }
                    write_json_str(buf, k.as_str());
                    buf.push(b':');
                    v.write_json(buf);
                }
                buf.push(b'}');
            }
            Out::Json(v) => {
                let _ = serde_json::to_writer(&mut *buf, v);
            }
        }
    }

    /// A cheap upper-ish estimate of the JSON's length, so the buffer is allocated once.
    fn json_len_hint(&self) -> usize {
        match self {
            Out::Str(s) => s.len() + 2,
            Out::String(s) => s.len() + 2,
            Out::Digest(_) => 66,
            Out::Int(_) | Out::Num(_) => 20,
            Out::Bool(_) => 5,
            Out::List(items) => 2 + items.iter().map(|i| i.json_len_hint() + 1).sum::<usize>(),
            Out::Obj(entries) => {
                2 + entries
                    .iter()
                    .map(|(k, v)| k.as_str().len() + 4 + v.json_len_hint())
                    .sum::<usize>()
            }
            Out::Json(_) => 64,
        }
    }

    /// The value under `key` of an object (tests and the senders' counting).
    pub fn get(&self, key: &str) -> Option<&Out<'_>> {
        match self {
            Out::Obj(entries) => entries
                .iter()
                .find(|(k, _)| k.as_str() == key)
                .map(|(_, v)| v),
            _ => None,
        }
    }
}

impl Serialize for Out<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Out::Str(s) => serializer.serialize_str(s),
            Out::String(s) => serializer.serialize_str(s),
            Out::Digest(d) => serializer.serialize_str(Out::digest_str(d)),
            Out::Int(i) => serializer.serialize_i64(*i),
            Out::Num(n) => n.serialize(serializer),
            Out::Bool(b) => serializer.serialize_bool(*b),
            Out::List(items) => {
                let mut seq = serializer.serialize_seq(Some(items.len()))?;
                for item in items {
                    seq.serialize_element(item)?;
                }
                seq.end()
            }
            Out::Obj(entries) => {
                let mut map = serializer.serialize_map(Some(entries.len()))?;
                for (k, v) in entries {
                    map.serialize_entry(k.as_str(), v)?;
                }
                map.end()
            }
            Out::Json(v) => v.serialize(serializer),
        }
    }
}

/// What each byte becomes inside a JSON string, as serde_json writes it: 0 = itself,
/// `u` = `\u00XX`, any other = a backslash and that byte.
static ESCAPE: [u8; 256] = {
    let mut table = [0u8; 256];
    let mut b = 0;
    while b < 0x20 {
        table[b] = b'u';
        b += 1;
    }
    table[0x08] = b'b';
    table[0x09] = b't';
    table[0x0a] = b'n';
    table[0x0c] = b'f';
    table[0x0d] = b'r';
    table[b'"' as usize] = b'"';
    table[b'\\' as usize] = b'\\';
    table
};

/// Appends a JSON number exactly as `serde_json` writes it: integers by `itoa`, and prices (a
/// finite float that is a whole number of cents below 10^13) as their digits, with no float
/// formatting; any other float through `serde_json`.
pub(crate) fn write_number(buf: &mut Vec<u8>, n: &Number) {
    if let Some(i) = n.as_i64() {
        buf.extend_from_slice(itoa::Buffer::new().format(i).as_bytes());
    } else if let Some(u) = n.as_u64() {
        buf.extend_from_slice(itoa::Buffer::new().format(u).as_bytes());
    } else if !n.as_f64().is_some_and(|f| write_cents(buf, f)) {
        // Writing into a Vec cannot fail, and a Number always serialises.
        let _ = serde_json::to_writer(&mut *buf, n);
    }
}

/// Writes `f` when it is a whole number of cents `c` (0 < |f| < 10^13) and returns true.
///
/// Why this is the shortest form `serde_json` writes: `c / 100.0` is the double nearest the
/// decimal `c/100` (both exact, the division correctly rounded), so when it equals `f` that
/// decimal reads back as `f`; below 2^45 doubles are closer than 0.01 apart, so no other
/// multiple of 0.01 (a shorter one included) reads back as `f`, and a shorter decimal with more
/// places would need fewer significant digits at a finer place, which the trimmed cents already
/// beat. Checked against `serde_json` by a property test.
fn write_cents(buf: &mut Vec<u8>, f: f64) -> bool {
    if f == 0.0 || !f.is_finite() || f.abs() >= 1e13 {
        return false;
    }
    let scaled = (f * 100.0).round();
    if scaled / 100.0 != f {
        return false;
    }
    let cents = scaled.abs() as u64;
    if f < 0.0 {
        buf.push(b'-');
    }
    buf.extend_from_slice(itoa::Buffer::new().format(cents / 100).as_bytes());
    let rest = (cents % 100) as u8;
    buf.push(b'.');
    buf.push(b'0' + rest / 10);
    if rest % 10 != 0 {
        buf.push(b'0' + rest % 10);
    }
    true
}

/// Whether any of the 8 bytes of `word` is a control character, `"` or `\\` (exact for "any":
/// the classic has-less-than / has-zero-byte tests).
#[inline]
fn word_needs_escape(word: u64) -> bool {
    const ONES: u64 = 0x0101_0101_0101_0101;
    const HIGH: u64 = 0x8080_8080_8080_8080;
    let control = word.wrapping_sub(ONES * 0x20) & !word;
    let quote = word ^ (ONES * u64::from(b'"'));
    let backslash = word ^ (ONES * u64::from(b'\\'));
    (control | (quote.wrapping_sub(ONES) & !quote) | (backslash.wrapping_sub(ONES) & !backslash))
        & HIGH
        != 0
}

/// Appends `s` as a JSON string. Eight bytes are checked at a time; runs that need no escape
/// are copied whole.
fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    let mut i = 0;
    while i < bytes.len() {
        if let Some(chunk) = bytes.get(i..i + 8) {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            if !word_needs_escape(u64::from_le_bytes(word)) {
                i += 8;
                continue;
            }
        }
        // A word with something to escape, or the tail: byte by byte up to the next word.
        let end = (i + 8).min(bytes.len());
        while i < end {
            let b = bytes[i];
            let escape = ESCAPE[usize::from(b)];
            if escape != 0 {
                buf.extend_from_slice(&bytes[start..i]);
                if escape == b'u' {
                    buf.extend_from_slice(b"\\u00");
                    buf.push(HEX[usize::from(b >> 4)]);
                    buf.push(HEX[usize::from(b & 0xf)]);
                } else {
                    buf.push(b'\\');
                    buf.push(escape);
                }
                start = i + 1;
            }
            i += 1;
        }
    }
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// A match-key value as a platform sends it: a plain normalised value to hash, or a digest the
/// caller made.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Hashed<'a> {
    Plain(&'a str),
    /// A plain value that repeats across the events of a batch (country, city, ...): its
    /// digest may come from a small per-thread cache.
    Common(&'a str),
    Given(&'a str),
    /// A digest computed already (of a value a platform normalises its own way).
    Done([u8; 64]),
}

impl Hashed<'_> {
    /// The digest's 64 lowercase hex bytes (a given digest passes through lowercased).
    pub fn digest(self) -> [u8; 64] {
        let text = match self {
            Hashed::Done(d) => return d,
            Hashed::Plain(v) if !crate::normalize::is_sha256_hex(v) => {
                return crate::normalize::sha256_hex(v)
            }
            Hashed::Common(v) if !crate::normalize::is_sha256_hex(v) => {
                return crate::normalize::sha256_hex_common(v)
            }
            Hashed::Plain(v) | Hashed::Common(v) | Hashed::Given(v) => v,
        };
        let mut out = [b'0'; 64];
        for (o, b) in out.iter_mut().zip(text.bytes()) {
            *o = b.to_ascii_lowercase();
        }
        out
    }
}

/// Where a builder writes a payload. The builders are written once against this trait and run
/// against a [`Tree`] (the payload as [`Out`], for Python dicts and `serde_json::Value`) or a
/// [`JsonWriter`] (the request body's bytes, written straight into one buffer). Every method
/// skips an absent or empty value, and an object or list that ends up empty, so payloads never
/// carry empty values and no stripping pass is needed.
pub trait Sink<'a> {
    fn str(&mut self, key: &'static str, value: Option<&'a str>);
    /// A string computed by the builder (money as text, a derived id).
    fn string(&mut self, key: &'static str, value: Option<String>);
    fn num(&mut self, key: &'static str, value: Option<&'a Number>);
    fn int(&mut self, key: &'static str, value: Option<i64>);
    fn bool(&mut self, key: &'static str, value: Option<bool>);
    /// A list of strings.
    fn strs<I: IntoIterator<Item = &'a str>>(&mut self, key: &'static str, items: I);
    /// A list of SHA-256 digests.
    fn digests<I: IntoIterator<Item = Hashed<'a>>>(&mut self, key: &'static str, items: I);
    /// A nested object, filled by `fill`; left out when it stays empty (unless `keep_empty`).
    fn obj<F: FnOnce(&mut Self)>(&mut self, key: &'static str, keep_empty: bool, fill: F);
    /// A list of objects, one per item, each filled by `fill` (given the item's position).
    fn objs<T: 'a, F: FnMut(&mut Self, usize, &'a T)>(
        &mut self,
        key: &'static str,
        items: &'a [T],
        fill: F,
    );
    /// A caller-given value passed through, stripped of its empty parts.
    fn value(&mut self, key: Key<'a>, value: Option<&'a Value>);
}

/// A [`Sink`] that builds the payload as an [`Out`] tree.
#[derive(Debug, Default)]
pub struct Tree<'a> {
    entries: Vec<(Key<'a>, Out<'a>)>,
}

impl<'a> Tree<'a> {
    pub fn new() -> Self {
        Self::default()
    }

    /// The object built so far.
    pub fn finish(self) -> Out<'a> {
        Out::Obj(self.entries)
    }

    fn push(&mut self, key: &'static str, value: Out<'a>) {
        self.entries.push((Key::Static(key), value));
    }

    /// Runs `fill` on a fresh object and returns its entries.
    fn child<F: FnOnce(&mut Self)>(&mut self, fill: F) -> Vec<(Key<'a>, Out<'a>)> {
        let outer = std::mem::take(&mut self.entries);
        fill(self);
        std::mem::replace(&mut self.entries, outer)
    }
}

impl<'a> Sink<'a> for Tree<'a> {
    fn str(&mut self, key: &'static str, value: Option<&'a str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.push(key, Out::Str(v));
        }
    }

    fn string(&mut self, key: &'static str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.push(key, Out::String(v));
        }
    }

    fn num(&mut self, key: &'static str, value: Option<&'a Number>) {
        if let Some(v) = value {
            self.push(key, Out::Num(v));
        }
    }

    fn int(&mut self, key: &'static str, value: Option<i64>) {
        if let Some(v) = value {
            self.push(key, Out::Int(v));
        }
    }

    fn bool(&mut self, key: &'static str, value: Option<bool>) {
        if let Some(v) = value {
            self.push(key, Out::Bool(v));
        }
    }

    fn strs<I: IntoIterator<Item = &'a str>>(&mut self, key: &'static str, items: I) {
        let items: Vec<Out<'a>> = items
            .into_iter()
            .filter(|s| !s.is_empty())
            .map(Out::Str)
            .collect();
        if !items.is_empty() {
            self.push(key, Out::List(items));
        }
    }

    fn digests<I: IntoIterator<Item = Hashed<'a>>>(&mut self, key: &'static str, items: I) {
        let items: Vec<Out<'a>> = items.into_iter().map(|h| Out::Digest(h.digest())).collect();
        if !items.is_empty() {
            self.push(key, Out::List(items));
        }
    }

    fn obj<F: FnOnce(&mut Self)>(&mut self, key: &'static str, keep_empty: bool, fill: F) {
        let entries = self.child(fill);
        if keep_empty || !entries.is_empty() {
            self.push(key, Out::Obj(entries));
        }
    }

    fn objs<T: 'a, F: FnMut(&mut Self, usize, &'a T)>(
        &mut self,
        key: &'static str,
        items: &'a [T],
        mut fill: F,
    ) {
        if items.is_empty() {
            return;
        }
        let list = items
            .iter()
            .enumerate()
            .map(|(i, item)| Out::Obj(self.child(|s| fill(s, i, item))))
            .collect();
        self.push(key, Out::List(list));
    }

    fn value(&mut self, key: Key<'a>, value: Option<&'a Value>) {
        if let Some(v) = value {
            let mut v = v.clone();
            strip_empty(&mut v);
            if !is_empty(&v) {
                self.entries.push((key, Out::Json(v)));
            }
        }
    }
}

/// A [`Sink`] that writes the payload as compact JSON into a buffer: the same bytes as
/// [`Out::to_json_bytes`] on the [`Tree`] of the same payload, without building the tree. An
/// object or list that stays empty is cut back out of the buffer.
#[derive(Debug)]
pub struct JsonWriter<'b> {
    buf: &'b mut Vec<u8>,
    /// Whether the object being written has no entry yet.
    first: bool,
}

impl<'b> JsonWriter<'b> {
    /// Starts an object in `buf` (appended to what it holds).
    pub fn new(buf: &'b mut Vec<u8>) -> Self {
        buf.push(b'{');
        Self { buf, first: true }
    }

    /// Closes the object.
    pub fn finish(self) {
        self.buf.push(b'}');
    }

    /// Writes one of the builders' own keys: plain ASCII names, so no escaping scan.
    fn key(&mut self, key: &'static str) {
        debug_assert!(key.bytes().all(|b| ESCAPE[usize::from(b)] == 0));
        let comma = usize::from(!self.first);
        self.first = false;
        let key = key.as_bytes();
        let len = comma + key.len() + 3;
        self.buf.reserve(len);
        let start = self.buf.len();
        // SAFETY: `len` bytes were reserved past `start`; every one of them is written below
        // before the length covers them.
        unsafe {
            let at = self.buf.as_mut_ptr().add(start);
            *at = b',';
            *at.add(comma) = b'"';
            std::ptr::copy_nonoverlapping(key.as_ptr(), at.add(comma + 1), key.len());
            *at.add(comma + 1 + key.len()) = b'"';
            *at.add(comma + 2 + key.len()) = b':';
            self.buf.set_len(start + len);
        }
    }

    fn any_key(&mut self, key: Key<'_>) {
        match key {
            Key::Static(k) => self.key(k),
            Key::Dyn(k) => {
                if !self.first {
                    self.buf.push(b',');
                }
                self.first = false;
                write_json_str(self.buf, k);
                self.buf.push(b':');
            }
        }
    }

    /// Writes `key` and a container opened with `open`, runs `fill`, and closes it with `close`;
    /// or, when `fill` wrote nothing (it returns false), cuts the key back out.
    fn container<F: FnOnce(&mut Self) -> bool>(
        &mut self,
        key: &'static str,
        open: u8,
        close: u8,
        keep_empty: bool,
        fill: F,
    ) {
        let mark = self.buf.len();
        let was_first = self.first;
        self.key(key);
        self.buf.push(open);
        let wrote = fill(self);
        if wrote || keep_empty {
            self.buf.push(close);
            self.first = false;
        } else {
            self.buf.truncate(mark);
            self.first = was_first;
        }
    }
}

/// The objects of a list being written one at a time ([`JsonWriter::stream_objs`]).
pub struct ObjList<'w, 'b> {
    w: &'w mut JsonWriter<'b>,
    count: usize,
}

impl<'b> ObjList<'_, 'b> {
    /// Appends one object, filled by `fill`.
    pub fn push(&mut self, fill: impl FnOnce(&mut JsonWriter<'b>)) {
        if self.count > 0 {
            self.w.buf.push(b',');
        }
        self.w.buf.push(b'{');
        self.w.first = true;
        fill(self.w);
        self.w.buf.push(b'}');
        self.count += 1;
    }
}

impl<'b> JsonWriter<'b> {
    /// Writes `key` and a list of objects that `items` appends one at a time, so that events
    /// are written as they are parsed (while their input is still in the cache). `items`
    /// returns false to stop (its caller holds the reason); the list is then left unfinished
    /// and false returned.
    pub fn stream_objs(
        &mut self,
        key: &'static str,
        items: &mut dyn FnMut(&mut ObjList<'_, 'b>) -> bool,
    ) -> bool {
        self.key(key);
        self.buf.push(b'[');
        let mut list = ObjList { w: self, count: 0 };
        if !items(&mut list) {
            return false;
        }
        self.buf.push(b']');
        self.first = false;
        true
    }
}

impl<'a> Sink<'a> for JsonWriter<'_> {
    fn str(&mut self, key: &'static str, value: Option<&'a str>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.key(key);
            write_json_str(self.buf, v);
        }
    }

    fn string(&mut self, key: &'static str, value: Option<String>) {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.key(key);
            write_json_str(self.buf, &v);
        }
    }

    fn num(&mut self, key: &'static str, value: Option<&'a Number>) {
        if let Some(v) = value {
            self.key(key);
            Out::Num(v).write_json(self.buf);
        }
    }

    fn int(&mut self, key: &'static str, value: Option<i64>) {
        if let Some(v) = value {
            self.key(key);
            self.buf
                .extend_from_slice(itoa::Buffer::new().format(v).as_bytes());
        }
    }

    fn bool(&mut self, key: &'static str, value: Option<bool>) {
        if let Some(v) = value {
            self.key(key);
            self.buf
                .extend_from_slice(if v { b"true" } else { b"false" });
        }
    }

    fn strs<I: IntoIterator<Item = &'a str>>(&mut self, key: &'static str, items: I) {
        self.container(key, b'[', b']', false, |w| {
            let mut n = 0;
            for s in items.into_iter().filter(|s| !s.is_empty()) {
                if n > 0 {
                    w.buf.push(b',');
                }
                write_json_str(w.buf, s);
                n += 1;
            }
            n > 0
        });
    }

    fn digests<I: IntoIterator<Item = Hashed<'a>>>(&mut self, key: &'static str, items: I) {
        self.container(key, b'[', b']', false, |w| {
            let mut n = 0;
            for h in items {
                if n > 0 {
                    w.buf.push(b',');
                }
                w.buf.push(b'"');
                w.buf.extend_from_slice(&h.digest());
                w.buf.push(b'"');
                n += 1;
            }
            n > 0
        });
    }

    fn obj<F: FnOnce(&mut Self)>(&mut self, key: &'static str, keep_empty: bool, fill: F) {
        self.container(key, b'{', b'}', keep_empty, |w| {
            w.first = true;
            fill(w);
            !w.first
        });
    }

    fn objs<T: 'a, F: FnMut(&mut Self, usize, &'a T)>(
        &mut self,
        key: &'static str,
        items: &'a [T],
        mut fill: F,
    ) {
        self.container(key, b'[', b']', false, |w| {
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    w.buf.push(b',');
                }
                w.buf.push(b'{');
                w.first = true;
                fill(w, i, item);
                w.buf.push(b'}');
            }
            !items.is_empty()
        });
    }

    fn value(&mut self, key: Key<'a>, value: Option<&'a Value>) {
        if let Some(v) = value {
            let mut v = v.clone();
            strip_empty(&mut v);
            if !is_empty(&v) {
                self.any_key(key);
                Out::Json(v).write_json(self.buf);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strings_are_escaped_as_serde_json_escapes_them() {
        // Every byte to escape at every position of strings up to 40 bytes, which covers the
        // 8-byte scan and the tail; then a long text with no escape at all.
        let specials = ['"', '\\', '\n', '\u{1}', '\u{1f}', '\t', 'é', '\u{7f}', '/'];
        for len in 0..40 {
            for at in 0..len {
                for c in specials {
                    let text: String = (0..len)
                        .map(|i| {
                            if i == at {
                                c
                            } else {
                                char::from(b'a' + (i % 26) as u8)
                            }
                        })
                        .collect();
                    let mut buf = Vec::new();
                    write_json_str(&mut buf, &text);
                    let expected = serde_json::to_string(&text).unwrap_or_default();
                    assert_eq!(String::from_utf8_lossy(&buf), expected, "{text:?}");
                }
            }
        }
        let long = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 ".repeat(9);
        let mut buf = Vec::new();
        write_json_str(&mut buf, &long);
        assert_eq!(buf, serde_json::to_vec(&long).unwrap_or_default());
    }

    const GIVEN: &str = "ABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABABAB";

    /// One payload written through a sink: every kind of entry, empty ones included.
    fn sample<'a, S: Sink<'a>>(s: &mut S, n: &'a Number, big: &'a Number, extra: &'a Value) {
        s.str("b", Some("x"));
        s.str("empty", Some(""));
        s.str("none", None);
        s.num("a", Some(n));
        s.num("big", Some(big));
        s.int("neg", Some(i64::MIN));
        s.bool("yes", Some(true));
        s.str(
            "escapes",
            Some("q\"b\\s/\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é€😀"),
        );
        s.strs("list", ["", "x\"y", "z"]);
        s.strs("empty_list", [""]);
        s.digests("digests", [Hashed::Plain("a@b.co"), Hashed::Given(GIVEN)]);
        s.digests("no_digests", []);
        s.obj("inner_empty", false, |i| i.str("gone", None));
        s.obj("kept_empty", true, |i| i.str("gone", None));
        s.obj("inner", false, |i| {
            i.int("k", Some(1));
            i.obj("deeper_empty", false, |_| {});
        });
        s.objs("items", &[1i64, 2], |i, _, v| i.int("v", Some(*v)));
        s.objs::<i64, _>("no_items", &[], |_, _, _| {});
        s.string("computed", Some(format!("{}", 1 + 1)));
        s.string("computed_empty", Some(String::new()));
        s.value(Key::Dyn("extra"), Some(extra));
        s.value(Key::Dyn("empty_extra"), Some(&Value::Null));
    }

    #[test]
    fn both_sinks_write_the_same_payload_and_skip_empty_values() {
        let n = Number::from_f64(19.9).unwrap_or_else(|| Number::from(0));
        let big = Number::from(u64::MAX);
        let extra = json!({"n": [1.5, -2, "\u{0}", null, ""], "t": true, "e": {}});
        let mut tree = Tree::new();
        sample(&mut tree, &n, &big, &extra);
        let tree = tree.finish();
        let mut buf = Vec::new();
        let mut w = JsonWriter::new(&mut buf);
        sample(&mut w, &n, &big, &extra);
        w.finish();
        let serde = serde_json::to_vec(&tree).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&buf),
            String::from_utf8_lossy(&serde)
        );
        assert_eq!(tree.to_json_bytes(), serde);
        let value = tree.into_value();
        assert_eq!(value["b"], "x");
        assert_eq!(value["list"], json!(["x\"y", "z"]));
        assert_eq!(value["digests"][0], crate::normalize::hash_value("a@b.co"));
        assert_eq!(value["digests"][1], "ab".repeat(32));
        assert_eq!(value["kept_empty"], json!({}));
        assert_eq!(value["inner"], json!({"k": 1}));
        assert_eq!(value["items"], json!([{"v": 1}, {"v": 2}]));
        assert_eq!(value["extra"], json!({"n": [1.5, -2, "\u{0}"], "t": true}));
        for gone in [
            "empty",
            "none",
            "empty_list",
            "no_digests",
            "inner_empty",
            "no_items",
            "empty_extra",
        ] {
            assert!(value.get(gone).is_none(), "{gone} must be left out");
        }
        let keys: Vec<&String> = value
            .as_object()
            .map(|m| m.keys().collect())
            .unwrap_or_default();
        assert!(!keys.is_empty());
        assert!(
            String::from_utf8_lossy(&buf).starts_with(r#"{"b":"x","a":19.9,"#),
            "keys stay in the order they were written"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "\\PC*|[\\x00-\\x7f]*|([a-z]{0,9}[\"\\\\\\x00-\\x1f]){0,6}[a-z]{0,9}") {
            let out = Out::List(vec![Out::Str(&s), Out::String(s.clone())]);
            proptest::prop_assert_eq!(out.to_json_bytes(), serde_json::to_vec(&out).unwrap_or_default());
        }
    }

    #[test]
    fn digests_serialise_as_text() {
        let mut d = [b'0'; 64];
        d[63] = b'f';
        let out = Out::List(vec![Out::Digest(d), Out::Bool(true), Out::Int(-1)]);
        let text = serde_json::to_string(&out).unwrap();
        assert_eq!(text, format!("[\"{}f\",true,-1]", "0".repeat(63)));
        assert_eq!(
            serde_json::from_str::<Value>(&text).unwrap(),
            out.into_value()
        );
    }
}
