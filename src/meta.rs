//! Meta Conversions API payload builder: the body of `POST /{version}/{pixel_id}/events`.

use crate::error::ValidationError;
use crate::event::{parse_events, BuildOptions, Event};
use crate::normalize::Field;
use crate::out::{JsonWriter, Key, Out, Sink, Tree};
use crate::platform::{Answer, Auth, Platform, PlatformSpec};
use crate::sender::{
    as_i64, as_string, excerpt, messages_of, status_retryable, Accepted, Attempt, Failure,
    FailureKind,
};
use serde_json::Value;
use std::borrow::Cow;

/// Meta's row in the platform table.
pub static SPEC: PlatformSpec = PlatformSpec {
    platform: Platform::Meta,
    name: "meta",
    label: "Meta Conversions API",
    id_name: "pixel_id",
    secret_name: "access_token",
    default_base_url: crate::sender::DEFAULT_META_BASE_URL,
    max_events: 1000,
    max_attempts: u32::MAX,
    auth: Auth::BodyKey("access_token"),
    options: &["test_event_code"],
    check_target: |t| crate::platform::check_plain_id("pixel_id", &t.id),
    path: |target, _| {
        format!(
            "/{}/{}/events",
            target
                .api_version
                .as_deref()
                .unwrap_or(crate::sender::DEFAULT_META_API_VERSION),
            target.id
        )
    },
    check_event: |event, _, _| check_event(event),
    identity: None,
    write_body: |buf, events, _, request| {
        let mut w = JsonWriter::new(buf);
        meta_body_into(&mut w, events, request.test_event_code.as_deref());
        w.finish();
    },
    build_body: |events, _, request| {
        let mut tree = Tree::new();
        meta_body_into(&mut tree, events, request.test_event_code.as_deref());
        tree.finish()
    },
    stream_body: Some(|w, _, request, events| {
        let done = w.stream_objs("data", events);
        w.str(
            "test_event_code",
            request.test_event_code.as_deref().map(str::trim),
        );
        done
    }),
    write_event: |w, event| meta_event(w, event),
    classify: classify_meta,
    event_name: |name| {
        Ok(Cow::Owned(
            crate::event::canonical_event_name(name).to_string(),
        ))
    },
};

/// The JSON body for `POST /{version}/{pixel_id}/events`, without the access token (the sender
/// adds it to the body, never to the URL).
pub fn build_meta_payload(
    events: &[Value],
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Value, ValidationError> {
    let parsed = parse_events(events, opts)?;
    Ok(meta_body(&parsed, test_event_code)?.into_value())
}

/// The exact bytes `MetaSender` posts for `events` (less the `access_token` it adds first):
/// equal as JSON to [`build_meta_payload`], written once, with no JSON value in between.
pub fn encode_meta_payload(
    events: &[Value],
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Vec<u8>, ValidationError> {
    encode_meta_body(&parse_events(events, opts)?, test_event_code)
}

/// [`encode_meta_payload`] for parsed events.
pub fn encode_meta_body(
    events: &[Event],
    test_event_code: Option<&str>,
) -> Result<Vec<u8>, ValidationError> {
    let mut buf = Vec::with_capacity(64 + events.len() * 1536);
    write_meta_body(events, test_event_code, &mut buf)?;
    Ok(buf)
}

/// [`encode_meta_body`] into `buf` (appended).
pub fn write_meta_body(
    events: &[Event],
    test_event_code: Option<&str>,
    buf: &mut Vec<u8>,
) -> Result<(), ValidationError> {
    check_events(events)?;
    let mut w = JsonWriter::new(buf);
    meta_body_into(&mut w, events, test_event_code);
    w.finish();
    Ok(())
}

/// The body for parsed events, as a payload tree (converted to a dict by the bindings).
pub fn meta_body<'a>(
    events: &'a [Event],
    test_event_code: Option<&'a str>,
) -> Result<Out<'a>, ValidationError> {
    check_events(events)?;
    let mut tree = Tree::new();
    meta_body_into(&mut tree, events, test_event_code);
    Ok(tree.finish())
}

fn check_events(events: &[Event]) -> Result<(), ValidationError> {
    for (i, event) in events.iter().enumerate() {
        check_event(event).map_err(|e| e.within(&format!("events[{i}]")))?;
    }
    Ok(())
}

/// What Meta requires of a website event beyond the neutral model's rules.
fn check_event(event: &Event) -> Result<(), ValidationError> {
    if event.action_source == "website" {
        if event.event_source_url.is_none() {
            return Err(ValidationError::new(
                "event_source_url",
                "is required by Meta for website events",
            ));
        }
        if event.client_user_agent.is_none() {
            return Err(ValidationError::new(
                "user.client_user_agent",
                "is required by Meta for website events (or use action_source system_generated)",
            ));
        }
    }
    Ok(())
}

fn meta_body_into<'a, S: Sink<'a>>(
    sink: &mut S,
    events: &'a [Event],
    test_event_code: Option<&'a str>,
) {
    sink.objs("data", events, |s, _, event| meta_event(s, event));
    sink.str("test_event_code", test_event_code.map(str::trim));
}

/// One event of Meta's `data[]` (already checked by `check_event`).
fn meta_event<'a, S: Sink<'a>>(s: &mut S, event: &'a Event) {
    s.str("event_name", Some(&event.event_name));
    s.int("event_time", Some(event.event_time));
    s.str("event_id", event.event_id.as_deref());
    s.str("event_source_url", event.event_source_url.as_deref());
    s.str("referrer_url", event.referrer_url.as_deref());
    s.str("action_source", Some(event.action_source));
    s.bool("opt_out", event.opt_out);
    // user_data is required even when it ended up empty.
    s.obj("user_data", true, |u| {
        for (field, keys) in &event.keys {
            u.digests(field.meta_key(), keys.iter().map(|k| k.meta_hashed(*field)));
        }
        u.str("client_ip_address", event.client_ip_address.as_deref());
        u.str("client_user_agent", event.client_user_agent.as_deref());
        u.str("fbc", event.fbc.as_deref());
        u.str("fbp", event.fbp.as_deref());
    });
    s.obj("custom_data", false, |c| {
        c.num("value", event.value.as_ref());
        c.str("currency", event.currency.as_deref());
        c.strs("content_ids", event.content_ids.iter().map(AsRef::as_ref));
        c.objs("contents", &event.contents, |item, _, content| {
            item.str("id", Some(&content.id));
            item.num("quantity", content.quantity.as_ref());
            item.num("item_price", content.item_price.as_ref());
            item.str("title", content.title.as_deref());
            item.str("category", content.category.as_deref());
            item.str("brand", content.brand.as_deref());
        });
        c.str("content_type", event.content_type.as_deref());
        c.str("content_name", event.content_name.as_deref());
        c.str("content_category", event.content_category.as_deref());
        c.int("num_items", event.num_items);
        c.str("order_id", event.order_id.as_deref());
        c.str("search_string", event.search_string.as_deref());
        c.value(Key::Static("status"), event.status.as_ref());
        // Never a key set above: parse_custom keeps known keys out of extra_custom.
        for (k, v) in &event.extra_custom {
            c.value(Key::Dyn(k), Some(v));
        }
    });
    if event.limited_data_use {
        // LDU with country and state 0: Meta geolocates the event from its IP.
        s.strs("data_processing_options", ["LDU"]);
        s.int("data_processing_options_country", Some(0));
        s.int("data_processing_options_state", Some(0));
    }
}

/// Meta's key for a neutral match-key name, for callers that map keys themselves.
pub fn meta_key(field: &str) -> Option<&'static str> {
    Field::parse(field).map(Field::meta_key)
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// Meta: whether an error code is worth retrying. `None` = unknown code (decided by status).
pub(crate) fn meta_code_retryable(code: i64) -> Option<bool> {
    match code {
        100 | 190 | 102 | 3 | 10 | 200..=299 => Some(false),
        1 | 2 | 4 | 17 | 32 | 341 | 368 | 613 | 80000..=80099 => Some(true),
        _ => None,
    }
}

fn classify_meta(answer: &Answer<'_>) -> Attempt {
    let (status, parsed, raw, header_trace) = (
        answer.status,
        answer.body.clone(),
        answer.raw,
        answer.header_trace.clone(),
    );
    let error_obj = parsed
        .as_ref()
        .and_then(|v| v.get("error"))
        .filter(|e| e.is_object());
    if (200..300).contains(&status) && error_obj.is_none() {
        if let Some(body) = parsed.as_ref().filter(|v| v.is_object()) {
            if let Some(n) = body.get("events_received").and_then(|v| {
                v.as_u64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            }) {
                let trace_id = as_string(body.get("fbtrace_id")).or(header_trace);
                return Attempt::Accepted(Accepted {
                    events_received: n,
                    code: None,
                    messages: messages_of(body.get("messages")),
                    trace_id,
                    http_status: status,
                    body: parsed.unwrap_or(Value::Null),
                    failed: Vec::new(),
                });
            }
        }
        // A 2xx without the success envelope: maybe a proxy answered. Meta deduplicates on
        // event_id, so trying again is safe.
        let mut f = Failure::transport(
            "response",
            format!("HTTP {status} without events_received: {}", excerpt(raw)),
            true,
        );
        f.status = Some(status);
        f.trace_id = header_trace;
        return Attempt::Failed(f);
    }
    let Some(err) = error_obj else {
        let mut f = Failure::transport(
            "response",
            format!("HTTP {status} without a Graph API error: {}", excerpt(raw)),
            status_retryable(status),
        );
        f.status = Some(status);
        f.trace_id = header_trace;
        return Attempt::Failed(f);
    };
    let code = as_i64(err.get("code"));
    let subcode = as_i64(err.get("error_subcode"));
    let is_transient = err.get("is_transient").and_then(Value::as_bool) == Some(true);
    let mut message = as_string(err.get("message")).unwrap_or_else(|| "unknown error".into());
    if let Some(t) = as_string(err.get("type")) {
        message = format!("{message} [{t}]");
    }
    let title = as_string(err.get("error_user_title"));
    let user_msg = as_string(err.get("error_user_msg"));
    match (title, user_msg) {
        (Some(t), Some(m)) => message = format!("{message}: {t}: {m}"),
        (Some(x), None) | (None, Some(x)) => message = format!("{message}: {x}"),
        (None, None) => {}
    }
    let retryable = match code.and_then(meta_code_retryable) {
        Some(r) => r,
        None => is_transient || status_retryable(status),
    };
    let trace_id = as_string(err.get("fbtrace_id")).or(header_trace);
    Attempt::Failed(Failure {
        kind: FailureKind::Api {
            code: code.unwrap_or(0),
            subcode,
            message,
        },
        retryable,
        retry_after: None,
        status: Some(status),
        trace_id,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::normalize::hash_value;
    use serde_json::json;

    const NOW: i64 = 1_790_000_000;

    fn opts() -> BuildOptions {
        BuildOptions {
            strict: false,
            now: Some(NOW),
        }
    }

    fn purchase() -> Value {
        json!({
            "event_name": "Purchase",
            "event_id": "order-42",
            "event_time": NOW - 60,
            "event_source_url": "https://shop.example.com/shop/confirmation",
            "user": {
                "email": " John_Smith@Gmail.com ",
                "phone": "(650)555-1212",
                "first_name": "John",
                "country": "US",
                "zip": "94103-1234",
                "client_user_agent": "Mozilla/5.0",
                "client_ip_address": "2001:db8::1",
                "fbc": "fb.1.1700000000000.AbC",
                "external_id": 42,
            },
            "custom": {"value": "19.90", "currency": "usd", "contents": [{"id": "SKU", "quantity": 1, "item_price": 19.9}], "content_ids": [], "order_id": ""},
        })
    }

    #[test]
    fn purchase_is_hashed_per_spec() {
        let body = build_meta_payload(&[purchase()], Some("TEST1"), &opts())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["test_event_code"], "TEST1");
        let ev = &body["data"][0];
        assert_eq!(ev["event_time"], NOW - 60);
        assert_eq!(ev["action_source"], "website");
        let ud = &ev["user_data"];
        assert_eq!(ud["em"][0], hash_value("john_smith@gmail.com"));
        assert_eq!(ud["ph"][0], hash_value("16505551212"));
        assert_eq!(ud["fn"][0], hash_value("john"));
        assert_eq!(ud["zp"][0], hash_value("94103"));
        assert_eq!(ud["country"][0], hash_value("us"));
        assert_eq!(ud["external_id"][0], hash_value("42"));
        assert_eq!(
            ud["fbc"], "fb.1.1700000000000.AbC",
            "click ids are never changed or hashed"
        );
        assert_eq!(ud["client_ip_address"], "2001:db8::1");
        let cd = &ev["custom_data"];
        assert_eq!(cd["currency"], "USD");
        assert_eq!(cd["value"], 19.9);
        assert!(
            cd.get("content_ids").is_none() && cd.get("order_id").is_none(),
            "empty values are stripped"
        );
        assert!(ev.get("data_processing_options").is_none());
    }

    #[test]
    fn bytes_are_the_payload_as_json() {
        let mut ldu = purchase();
        ldu["limited_data_use"] = json!(true);
        ldu["custom"]["status"] = json!({"a": [1, null]});
        ldu["custom"]["extra \"key\""] = json!("x\ny");
        ldu["user"]["ph"] = json!(["+33 6 12 34 56 78", hash_value("x")]);
        let events = [purchase(), ldu];
        let bytes = encode_meta_payload(&events, Some("T1"), &opts()).unwrap_or_default();
        let tree = build_meta_payload(&events, Some("T1"), &opts()).unwrap_or_default();
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).ok(),
            Some(tree.clone())
        );
        let parsed = parse_events(&events, &opts()).unwrap_or_default();
        let tree_bytes = meta_body(&parsed, Some("T1")).map(|t| t.to_json_bytes());
        assert_eq!(Ok(bytes), tree_bytes, "byte for byte, key order included");
    }

    #[test]
    fn limited_data_use_and_prehashed_keys() {
        let mut ev = purchase();
        ev["limited_data_use"] = json!(true);
        let digest = hash_value("someone@example.com");
        ev["user"] = json!({"em": digest.to_uppercase(), "client_user_agent": "UA"});
        let body = build_meta_payload(&[ev], None, &opts()).unwrap_or_else(|e| panic!("{e}"));
        let ev = &body["data"][0];
        assert_eq!(ev["data_processing_options"], json!(["LDU"]));
        assert_eq!(ev["data_processing_options_country"], 0);
        assert_eq!(ev["user_data"]["em"][0], digest, "never hashed twice");
    }

    #[test]
    fn bad_match_key_dropped_unless_strict() {
        let mut ev = purchase();
        ev["user"]["phone"] = json!("12");
        let body = build_meta_payload(std::slice::from_ref(&ev), None, &opts())
            .unwrap_or_else(|e| panic!("{e}"));
        assert!(body["data"][0]["user_data"].get("ph").is_none());
        assert!(body["data"][0]["user_data"].get("em").is_some());
        let strict = BuildOptions {
            strict: true,
            now: Some(NOW),
        };
        let err = build_meta_payload(&[ev], None, &strict)
            .err()
            .unwrap_or_else(|| panic!("strict must fail"));
        assert_eq!(err.field, "events[0].user.phone");
    }

    #[test]
    fn batch_level_errors_name_the_field() {
        let cases: Vec<(Value, &str)> = vec![
            (json!({"event_time": NOW}), "events[0].event_name"),
            (
                json!({"event_name": "Lead", "event_time": NOW - 8 * 86_400, "action_source": "system_generated"}),
                "events[0].event_time",
            ),
            (
                json!({"event_name": "Purchase", "action_source": "system_generated", "custom": {"value": "1,5", "currency": "EUR"}}),
                "events[0].custom.value",
            ),
            (
                json!({"event_name": "Purchase", "action_source": "system_generated", "custom": {"value": 1, "currency": "EURO"}}),
                "events[0].custom.currency",
            ),
            (
                json!({"event_name": "Purchase", "action_source": "system_generated", "custom": {"value": 1}}),
                "events[0].custom.currency",
            ),
            (
                json!({"event_name": "Lead", "event_source_url": "https://x.example"}),
                "events[0].user.client_user_agent",
            ),
            (
                json!({"event_name": "Lead", "user": {"client_user_agent": "UA"}}),
                "events[0].event_source_url",
            ),
            (
                json!({"event_name": "Lead", "action_source": "web"}),
                "events[0].action_source",
            ),
            (
                json!({"event_name": "Lead", "action_source": "system_generated", "custom": {"contents": [{"id": "A"}, {"quantity": 1}]}}),
                "events[0].custom.contents[1].id",
            ),
            (
                json!({"event_name": "Lead", "action_source": "system_generated", "custom": {"contents": [{"id": "A", "item_price": "x"}]}}),
                "events[0].custom.contents[0].item_price",
            ),
        ];
        for (event, field) in cases {
            let err = build_meta_payload(std::slice::from_ref(&event), None, &opts())
                .err()
                .unwrap_or_else(|| panic!("{event} must fail"));
            assert_eq!(err.field, field, "{event}: {err}");
        }
        let many = vec![json!({"event_name": "Lead", "action_source": "system_generated"}); 1001];
        assert_eq!(
            build_meta_payload(&many, None, &opts())
                .err()
                .map(|e| e.field),
            Some("events".into())
        );
        assert_eq!(
            build_meta_payload(&[], None, &opts())
                .err()
                .map(|e| e.field),
            Some("events".into())
        );
    }

    #[test]
    fn future_time_is_clamped_and_names_canonicalised() {
        let ev = json!({"event_name": "add_to_cart", "event_time": NOW + 3600, "action_source": "system_generated"});
        let body = build_meta_payload(&[ev], None, &opts()).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["data"][0]["event_time"], NOW);
        assert_eq!(body["data"][0]["event_name"], "AddToCart");
        assert_eq!(body["data"][0]["user_data"], json!({}));
    }
}
