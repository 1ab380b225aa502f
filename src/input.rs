//! The borrowed input tree the event model parses.
//!
//! Callers hand events over as JSON ([`serde_json::Value`]) from Rust or as plain dicts from
//! Python. Both convert into [`Input`] without copying what they can borrow, and the event model
//! reads that one shape: small ordered maps scanned linearly (an event has a dozen keys), no
//! hashing, no B-tree nodes, no intermediate JSON document for the Python path.

use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// One input value.
#[derive(Debug, Clone, PartialEq)]
pub enum Input<'a> {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(Cow<'a, str>),
    List(Vec<Input<'a>>),
    Map(Vec<(Cow<'a, str>, Input<'a>)>),
}

impl<'a> From<&'a Value> for Input<'a> {
    fn from(value: &'a Value) -> Self {
        match value {
            Value::Null => Input::Null,
            Value::Bool(b) => Input::Bool(*b),
            Value::Number(n) => number_input(n),
            Value::String(s) => Input::Str(Cow::Borrowed(s)),
            Value::Array(items) => Input::List(items.iter().map(Input::from).collect()),
            Value::Object(map) => Input::Map(
                map.iter()
                    .map(|(k, v)| (Cow::Borrowed(k.as_str()), Input::from(v)))
                    .collect(),
            ),
        }
    }
}

fn number_input(n: &Number) -> Input<'static> {
    if let Some(i) = n.as_i64() {
        Input::Int(i)
    } else if n.is_u64() {
        // Beyond i64: kept as its digits so ids keep every digit.
        Input::Str(Cow::Owned(n.to_string()))
    } else {
        Input::Float(n.as_f64().unwrap_or(f64::NAN))
    }
}

impl<'a> Input<'a> {
    /// Whether the value carries nothing worth sending: null, a blank string, or a list/map of
    /// such values.
    #[inline]
    pub fn is_empty(&self) -> bool {
        match self {
            Input::Null => true,
            // Most strings start with a printable ASCII character: no need to trim those.
            Input::Str(s) => match s.as_bytes().first() {
                Some(b) if b.is_ascii_graphic() => false,
                _ => blank(s),
            },
            Input::List(items) => items.iter().all(Input::is_empty),
            Input::Map(entries) => entries.iter().all(|(_, v)| v.is_empty()),
            Input::Bool(_) | Input::Int(_) | Input::Float(_) => false,
        }
    }

    /// The entries of a map, or `None` for any other value.
    pub fn as_map(&self) -> Option<&[(Cow<'a, str>, Input<'a>)]> {
        match self {
            Input::Map(entries) => Some(entries),
            _ => None,
        }
    }

    /// A JSON number for `Int`/`Float` (`None` for non-finite floats and other values).
    pub fn as_number(&self) -> Option<Number> {
        match self {
            Input::Int(i) => Some(Number::from(*i)),
            Input::Float(f) => Number::from_f64(*f),
            _ => None,
        }
    }

    /// The value as JSON, for the parts of an event passed through as given (custom extras).
    pub fn to_value(&self) -> Value {
        match self {
            Input::Null => Value::Null,
            Input::Bool(b) => Value::Bool(*b),
            Input::Int(i) => Value::Number((*i).into()),
            Input::Float(f) => Number::from_f64(*f).map_or(Value::Null, Value::Number),
            Input::Str(s) => Value::String(s.to_string()),
            Input::List(items) => Value::Array(items.iter().map(Input::to_value).collect()),
            Input::Map(entries) => Value::Object(
                entries
                    .iter()
                    .map(|(k, v)| (k.to_string(), v.to_value()))
                    .collect::<Map<String, Value>>(),
            ),
        }
    }
}

/// Whether a string is empty or all whitespace.
#[inline(never)]
fn blank(s: &str) -> bool {
    s.trim().is_empty()
}

/// The first non-empty value under `key` in a map's entries.
pub(crate) fn lookup<'m, 'a>(
    entries: &'m [(Cow<'a, str>, Input<'a>)],
    key: &str,
) -> Option<&'m Input<'a>> {
    entries
        .iter()
        .find(|(k, _)| k.as_ref() == key)
        .map(|(_, v)| v)
        .filter(|v| !v.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn json_converts_without_losing_big_integers() {
        let v =
            json!({"a": 1, "b": 18446744073709551615u64, "c": 1.5, "d": [null, "x"], "e": true});
        let input = Input::from(&v);
        let map = input.as_map().unwrap();
        assert_eq!(lookup(map, "a"), Some(&Input::Int(1)));
        assert_eq!(
            lookup(map, "b"),
            Some(&Input::Str(Cow::Owned("18446744073709551615".into())))
        );
        assert_eq!(lookup(map, "c"), Some(&Input::Float(1.5)));
        assert_eq!(lookup(map, "e"), Some(&Input::Bool(true)));
        assert_eq!(input.to_value()["b"], json!("18446744073709551615"));
        assert_eq!(input.to_value()["d"], json!([null, "x"]));
    }

    #[test]
    fn emptiness_is_recursive_and_lookup_skips_empty_values() {
        let v = json!({"a": "  ", "b": [], "c": {"x": [null, ""]}, "d": 0, "e": false});
        let input = Input::from(&v);
        let map = input.as_map().unwrap();
        assert!(lookup(map, "a").is_none());
        assert!(lookup(map, "b").is_none());
        assert!(lookup(map, "c").is_none());
        assert!(lookup(map, "d").is_some());
        assert!(lookup(map, "e").is_some());
        assert!(lookup(map, "missing").is_none());
        assert!(!input.is_empty());
    }
}
