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
            // Writing into a Vec cannot fail, and a Number or Value always serialises.
            Out::Num(n) => {
                let _ = serde_json::to_writer(&mut *buf, n);
            }
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

/// Appends `s` as a JSON string: runs of bytes that need no escape are copied whole.
fn write_json_str(buf: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let bytes = s.as_bytes();
    buf.reserve(bytes.len() + 2);
    buf.push(b'"');
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let escape = ESCAPE[usize::from(b)];
        if escape == 0 {
            continue;
        }
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
    buf.extend_from_slice(&bytes[start..]);
    buf.push(b'"');
}

/// Builds an object that never holds an empty value, without a stripping pass afterwards.
#[derive(Debug, Default)]
pub struct Obj<'a>(Vec<(Key<'a>, Out<'a>)>);

impl<'a> Obj<'a> {
    pub fn new() -> Self {
        Self(Vec::new())
    }

    pub fn with_capacity(n: usize) -> Self {
        Self(Vec::with_capacity(n))
    }

    pub fn str(&mut self, key: &'static str, value: Option<&'a str>) -> &mut Self {
        if let Some(v) = value.filter(|v| !v.is_empty()) {
            self.0.push((Key::Static(key), Out::Str(v)));
        }
        self
    }

    pub fn num(&mut self, key: &'static str, value: Option<&'a Number>) -> &mut Self {
        if let Some(v) = value {
            self.0.push((Key::Static(key), Out::Num(v)));
        }
        self
    }

    pub fn int(&mut self, key: &'static str, value: Option<i64>) -> &mut Self {
        if let Some(v) = value {
            self.0.push((Key::Static(key), Out::Int(v)));
        }
        self
    }

    pub fn bool(&mut self, key: &'static str, value: Option<bool>) -> &mut Self {
        if let Some(v) = value {
            self.0.push((Key::Static(key), Out::Bool(v)));
        }
        self
    }

    /// A caller-given value (custom extras, status), stripped of empty parts; a key the builder
    /// already set wins.
    pub fn value(&mut self, key: Key<'a>, value: Option<&Value>) -> &mut Self {
        if let Some(v) = value {
            if self.0.iter().any(|(k, _)| k.as_str() == key.as_str()) {
                return self;
            }
            let mut v = v.clone();
            strip_empty(&mut v);
            if !is_empty(&v) {
                self.0.push((key, Out::Json(v)));
            }
        }
        self
    }

    pub fn list(&mut self, key: &'static str, items: Vec<Out<'a>>) -> &mut Self {
        if !items.is_empty() {
            self.0.push((Key::Static(key), Out::List(items)));
        }
        self
    }

    pub fn obj(&mut self, key: &'static str, value: Obj<'a>) -> &mut Self {
        if !value.0.is_empty() {
            self.0.push((Key::Static(key), Out::Obj(value.0)));
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Inserts as is, empty or not.
    pub fn raw(&mut self, key: &'static str, value: Out<'a>) -> &mut Self {
        self.0.push((Key::Static(key), value));
        self
    }

    pub fn build(self) -> Out<'a> {
        Out::Obj(self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn obj_skips_empty_values_and_keeps_order() {
        let n = Number::from(3);
        let mut o = Obj::new();
        o.str("b", Some("x"))
            .str("empty", Some(""))
            .str("none", None)
            .num("a", Some(&n))
            .list("list", vec![])
            .obj("inner", Obj::new())
            .value(Key::Dyn("extra"), Some(&json!({"k": [null, ""]})))
            .value(
                Key::Dyn("b"),
                Some(&json!("ignored: the builder's key wins")),
            )
            .value(Key::Static("kept"), Some(&json!({"k": [null, "v"]})));
        let out = o.build();
        let json = serde_json::to_string(&out).unwrap();
        assert_eq!(json, r#"{"b":"x","a":3,"kept":{"k":["v"]}}"#);
        assert_eq!(
            out.into_value(),
            json!({"a": 3, "b": "x", "kept": {"k": ["v"]}})
        );
    }

    #[test]
    fn json_writer_matches_serde_json_byte_for_byte() {
        let n = Number::from_f64(19.9).unwrap_or_else(|| Number::from(0));
        let big = Number::from(u64::MAX);
        let mut d = [b'a'; 64];
        d[0] = b'0';
        let mut o = Obj::new();
        o.str("plain", Some("abc"))
            .str(
                "escapes",
                Some("q\"b\\s/\u{8}\u{c}\n\r\t\u{1}\u{1f}\u{7f}é€😀"),
            )
            .num("float", Some(&n))
            .num("big", Some(&big))
            .int("neg", Some(i64::MIN))
            .bool("yes", Some(true))
            .raw("digest", Out::Digest(d))
            .list(
                "list",
                vec![Out::Int(0), Out::Bool(false), Out::String("x\"y".into())],
            )
            .raw("empty_obj", Out::Obj(Vec::new()))
            .raw("empty_list", Out::List(Vec::new()))
            .value(
                Key::Dyn("dyn\"key"),
                Some(&json!({"n": [1.5, -2, "\u{0}"], "t": true})),
            );
        let out = o.build();
        let expected = serde_json::to_vec(&out).unwrap_or_default();
        assert_eq!(
            String::from_utf8_lossy(&out.to_json_bytes()),
            String::from_utf8_lossy(&expected)
        );
    }

    proptest::proptest! {
        #[test]
        fn any_string_is_written_as_serde_json_writes_it(s in "\\PC*|[\\x00-\\x7f]*") {
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
