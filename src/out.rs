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
