//! TikTok Events API 2.0 payload builder: the body of `POST /open_api/v1.3/event/track/`.

use crate::error::ValidationError;
use crate::event::{canonical_event_name, parse_events, BuildOptions, Event, MatchKey};
use crate::normalize::Field;
use crate::out::{JsonWriter, Key, Out, Sink, Tree};
use crate::platform::{Answer, Auth, Platform, PlatformSpec};
use crate::sender::{
    as_i64, as_string, excerpt, status_retryable, Accepted, Attempt, Failure, FailureKind,
};
use serde_json::Value;
use std::borrow::Cow;

/// TikTok's row in the platform table.
pub static SPEC: PlatformSpec = PlatformSpec {
    platform: Platform::TikTok,
    name: "tiktok",
    label: "TikTok Events API",
    id_name: "pixel_code",
    secret_name: "access_token",
    default_base_url: crate::sender::DEFAULT_TIKTOK_BASE_URL,
    max_events: 1000,
    max_attempts: u32::MAX,
    auth: Auth::Header("Access-Token"),
    options: &["test_event_code"],
    check_target: |t| crate::platform::check_plain_id("pixel_code", &t.id),
    path: |_, _| crate::sender::TIKTOK_TRACK_PATH.to_string(),
    check_event: |event, _, _| check_event(event),
    identity: None,
    write_body: |buf, events, target, request| {
        let mut w = JsonWriter::new(buf);
        tiktok_body_into(
            &mut w,
            events,
            &target.id,
            request.test_event_code.as_deref(),
        );
        w.finish();
    },
    build_body: |events, target, request| {
        let mut tree = Tree::new();
        tiktok_body_into(
            &mut tree,
            events,
            &target.id,
            request.test_event_code.as_deref(),
        );
        tree.finish()
    },
    stream_body: Some(|w, target, request, events| {
        w.str("event_source", Some("web"));
        w.str("event_source_id", Some(target.id.trim()));
        w.str(
            "test_event_code",
            request.test_event_code.as_deref().map(str::trim),
        );
        w.stream_objs("data", events)
    }),
    write_event: |w, event| tiktok_event(w, event),
    classify: classify_tiktok,
    event_name: |name| Ok(Cow::Owned(tiktok_event_name(name).to_string())),
};

/// Meta-style (and legacy TikTok) names whose current TikTok name differs. Every other standard
/// name is the same on both platforms; custom names pass through unchanged.
const TIKTOK_NAMES: [(&str, &str); 3] = [
    // The Pixel's `ttq.page()` and TikTok's own integrations send "Pageview".
    ("PageView", "Pageview"),
    // Renamed on 1 May 2025; the old names are still converted by TikTok, the new ones are current.
    ("CompletePayment", "Purchase"),
    ("SubmitForm", "Lead"),
];

/// TikTok's current name for a Meta-style event name (`PageView` → `Pageview`,
/// `CompletePayment` → `Purchase`); other names come back in their canonical spelling.
pub fn tiktok_event_name(name: &str) -> &str {
    let canonical = canonical_event_name(name);
    TIKTOK_NAMES
        .iter()
        .find(|(from, _)| from.eq_ignore_ascii_case(canonical))
        .map(|(_, to)| *to)
        .unwrap_or(canonical)
}

/// The JSON body for `POST /open_api/v1.3/event/track/` (web events of one pixel).
pub fn build_tiktok_payload(
    events: &[Value],
    pixel_code: &str,
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Value, ValidationError> {
    check_pixel_code(pixel_code)?;
    let parsed = parse_events(events, opts)?;
    Ok(tiktok_body(&parsed, pixel_code, test_event_code)?.into_value())
}

/// The exact bytes `TikTokSender` posts for `events` (the token goes in a header): equal as
/// JSON to [`build_tiktok_payload`], written once, with no JSON value in between.
pub fn encode_tiktok_payload(
    events: &[Value],
    pixel_code: &str,
    test_event_code: Option<&str>,
    opts: &BuildOptions,
) -> Result<Vec<u8>, ValidationError> {
    check_pixel_code(pixel_code)?;
    let parsed = parse_events(events, opts)?;
    let mut buf = Vec::with_capacity(64 + parsed.len() * 1024);
    write_tiktok_body(&parsed, pixel_code, test_event_code, &mut buf)?;
    Ok(buf)
}

fn check_pixel_code(pixel_code: &str) -> Result<(), ValidationError> {
    if pixel_code.trim().is_empty() {
        return Err(ValidationError::new("pixel_code", "is required"));
    }
    Ok(())
}

/// The body for parsed events, as a payload tree (converted to a dict by the bindings).
pub fn tiktok_body<'a>(
    events: &'a [Event],
    pixel_code: &'a str,
    test_event_code: Option<&'a str>,
) -> Result<Out<'a>, ValidationError> {
    check(events, pixel_code)?;
    let mut tree = Tree::new();
    tiktok_body_into(&mut tree, events, pixel_code, test_event_code);
    Ok(tree.finish())
}

/// The request body's bytes for parsed events, into `buf` (appended).
pub fn write_tiktok_body(
    events: &[Event],
    pixel_code: &str,
    test_event_code: Option<&str>,
    buf: &mut Vec<u8>,
) -> Result<(), ValidationError> {
    check(events, pixel_code)?;
    let mut w = JsonWriter::new(buf);
    tiktok_body_into(&mut w, events, pixel_code, test_event_code);
    w.finish();
    Ok(())
}

fn check(events: &[Event], pixel_code: &str) -> Result<(), ValidationError> {
    check_pixel_code(pixel_code)?;
    for (i, event) in events.iter().enumerate() {
        check_event(event).map_err(|e| e.within(&format!("events[{i}]")))?;
    }
    Ok(())
}

fn check_event(event: &Event<'_>) -> Result<(), ValidationError> {
    if event.event_source_url.is_none() {
        return Err(ValidationError::new(
            "event_source_url",
            "is required by TikTok for web events (page.url)",
        ));
    }
    Ok(())
}

fn tiktok_body_into<'a, S: Sink<'a>>(
    sink: &mut S,
    events: &'a [Event],
    pixel_code: &'a str,
    test_event_code: Option<&'a str>,
) {
    sink.str("event_source", Some("web"));
    sink.str("event_source_id", Some(pixel_code.trim()));
    sink.str("test_event_code", test_event_code.map(str::trim));
    sink.objs("data", events, |s, _, event| tiktok_event(s, event));
}

/// One event of TikTok's `data[]` (already checked).
fn tiktok_event<'a, S: Sink<'a>>(s: &mut S, event: &'a Event) {
    let hashes = |field: Field| {
        event
            .key(field)
            .unwrap_or_default()
            .iter()
            .map(MatchKey::hashed)
    };
    s.str("event", Some(tiktok_event_name(&event.event_name)));
    s.int("event_time", Some(event.event_time));
    // TikTok rejects a numeric event_id (40002): always a string.
    s.str("event_id", event.event_id.as_deref());
    s.obj("user", false, |u| {
        u.digests("email", hashes(Field::Email));
        u.digests("phone", hashes(Field::Phone));
        u.digests("external_id", hashes(Field::ExternalId));
        u.str("ip", event.client_ip_address.as_deref());
        u.str("user_agent", event.client_user_agent.as_deref());
        u.str("ttclid", event.ttclid.as_deref());
        u.str("ttp", event.ttp.as_deref());
        u.str("locale", event.locale.as_deref());
    });
    // TikTok warns when content_type comes without contents.
    let content_type = (!event.contents.is_empty() || !event.content_ids.is_empty())
        .then(|| event.content_type.as_deref().unwrap_or("product"));
    s.obj("properties", false, |p| {
        p.objs("contents", &event.contents, |item, _, c| {
            item.str("content_id", Some(&c.id));
            item.str("content_name", c.title.as_deref());
            item.str("content_category", c.category.as_deref());
            item.num("price", c.item_price.as_ref());
            item.num("quantity", c.quantity.as_ref());
            item.str("brand", c.brand.as_deref());
        });
        p.strs("content_ids", event.content_ids.iter().map(AsRef::as_ref));
        p.str("content_type", content_type);
        p.str("content_name", event.content_name.as_deref());
        p.str("content_category", event.content_category.as_deref());
        p.str("currency", event.currency.as_deref());
        p.num("value", event.value.as_ref());
        p.int("num_items", event.num_items);
        p.str("order_id", event.order_id.as_deref());
        p.str("search_string", event.search_string.as_deref());
        for (k, v) in &event.extra_custom {
            p.value(Key::Dyn(k), Some(v));
        }
    });
    s.obj("page", false, |p| {
        p.str("url", event.event_source_url.as_deref());
        p.str("referrer", event.referrer_url.as_deref());
    });
    if event.limited_data_use {
        s.bool("limited_data_use", Some(true));
    }
}

// ---------------------------------------------------------------------------------------------
// Answers
// ---------------------------------------------------------------------------------------------

/// TikTok: whether a non-zero code is worth retrying. `None` = unknown (decided by status).
pub(crate) fn tiktok_code_retryable(code: i64) -> Option<bool> {
    match code {
        40100 | 40700 | 50000..=59999 => Some(true),
        40000..=49999 => Some(false),
        _ => None,
    }
}

fn classify_tiktok(answer: &Answer<'_>) -> Attempt {
    let (status, parsed, raw, events) = (
        answer.status,
        answer.body.clone(),
        answer.raw,
        answer.events,
    );
    let envelope = parsed.as_ref().filter(|v| v.is_object());
    let code = envelope.and_then(|v| as_i64(v.get("code")));
    let Some(code) = code else {
        let retryable = if (200..300).contains(&status) {
            // No envelope on a 2xx: someone else answered; the event_id deduplicates a resend.
            true
        } else {
            status_retryable(status)
        };
        let mut f = Failure::transport(
            "response",
            format!(
                "HTTP {status} without a TikTok response code: {}",
                excerpt(raw)
            ),
            retryable,
        );
        f.status = Some(status);
        return Attempt::Failed(f);
    };
    let body = envelope.cloned().unwrap_or(Value::Null);
    let trace_id = as_string(body.get("request_id"));
    let message = as_string(body.get("message")).unwrap_or_default();
    if (200..300).contains(&status) && (code == 0 || code == 20001) {
        return Attempt::Accepted(Accepted {
            events_received: events as u64,
            code: Some(code),
            messages: if message.is_empty() {
                Vec::new()
            } else {
                vec![message]
            },
            trace_id,
            http_status: status,
            body,
            failed: Vec::new(),
        });
    }
    let retryable = match tiktok_code_retryable(code) {
        Some(r) => r,
        None => status_retryable(status),
    };
    Attempt::Failed(Failure {
        kind: FailureKind::Api {
            code,
            subcode: None,
            message: if message.is_empty() {
                "unknown error".to_string()
            } else {
                message
            },
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

    #[test]
    fn event_names_map_to_current_tiktok_names() {
        assert_eq!(tiktok_event_name("PageView"), "Pageview");
        assert_eq!(tiktok_event_name("CompletePayment"), "Purchase");
        assert_eq!(tiktok_event_name("SubmitForm"), "Lead");
        assert_eq!(tiktok_event_name("Purchase"), "Purchase");
        assert_eq!(tiktok_event_name("add_to_cart"), "AddToCart");
        assert_eq!(tiktok_event_name("MyCustomThing"), "MyCustomThing");
    }

    #[test]
    fn spec_vectors_and_shape() {
        let ev = json!({
            "event_name": "Purchase",
            "event_id": 1234,
            "event_time": NOW - 5,
            "event_source_url": "https://shop.example.com/shop/confirmation?x=1",
            "referrer_url": "https://shop.example.com/shop/payment",
            "limited_data_use": true,
            "user": {
                "email": " ALICE_abc@gmail.com ",
                "phone": "(+1)2133734253",
                "external_id": "user_123",
                "client_ip_address": "203.0.113.7",
                "client_user_agent": "UA",
                "ttclid": "E.C.P.abc",
                "ttp": "ttp-cookie",
                "locale": "en-US",
                "first_name": "Alice",
            },
            "custom": {"value": 25, "currency": "EUR", "contents": [{"id": "P1", "quantity": 1, "item_price": "25.00", "title": "Mug", "category": "Kitchen", "brand": "Acme"}], "search_string": "mug"},
        });
        let body = build_tiktok_payload(&[ev], "CPIXEL", Some("TEST9"), &opts())
            .unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(body["event_source"], "web");
        assert_eq!(body["event_source_id"], "CPIXEL");
        assert_eq!(body["test_event_code"], "TEST9");
        let d = &body["data"][0];
        assert_eq!(d["event"], "Purchase");
        assert_eq!(d["event_id"], "1234", "event_id is always a JSON string");
        assert_eq!(
            d["user"]["email"][0],
            "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
        );
        assert_eq!(
            d["user"]["phone"][0],
            "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
        );
        assert_eq!(
            d["user"]["external_id"][0],
            "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"
        );
        assert_eq!(d["user"]["ip"], "203.0.113.7");
        assert_eq!(d["user"]["ttclid"], "E.C.P.abc");
        assert!(d["user"].get("first_name").is_none());
        assert_eq!(
            d["properties"]["contents"][0],
            json!({"content_id": "P1", "content_name": "Mug", "content_category": "Kitchen", "price": 25.0, "quantity": 1, "brand": "Acme"})
        );
        assert_eq!(d["properties"]["content_type"], "product");
        assert_eq!(d["properties"]["search_string"], "mug");
        assert_eq!(
            d["page"]["referrer"],
            "https://shop.example.com/shop/payment"
        );
        assert_eq!(d["limited_data_use"], true);
        assert_eq!(hash_value("+12133734253"), d["user"]["phone"][0]);
    }

    #[test]
    fn bytes_are_the_payload_as_json() {
        let ev = json!({
            "event_name": "Purchase", "event_id": 7, "event_time": NOW - 5,
            "event_source_url": "https://shop.example.com/c", "limited_data_use": true,
            "user": {"email": "A@b.co", "phone": ["+1 213 373 4253", "06 12 34 56 78"], "country": "FR",
                     "external_id": "u1", "client_ip_address": "203.0.113.7", "ttp": "t"},
            "custom": {"value": 2.5, "currency": "eur", "content_ids": ["A", ""],
                       "contents": [{"id": "A", "quantity": 1, "price": 2.5}], "note": {"x": [1, ""]}},
        });
        let events = [
            ev.clone(),
            json!({"event_name": "PageView", "event_source_url": "https://x.example/"}),
        ];
        let bytes = encode_tiktok_payload(&events, "CPX", None, &opts()).unwrap_or_default();
        let tree = build_tiktok_payload(&events, "CPX", None, &opts()).unwrap_or_default();
        assert_eq!(
            serde_json::from_slice::<Value>(&bytes).ok(),
            Some(tree.clone())
        );
        let parsed = parse_events(&events, &opts()).unwrap_or_default();
        let tree_bytes = tiktok_body(&parsed, "CPX", None).map(|t| t.to_json_bytes());
        assert_eq!(Ok(bytes), tree_bytes, "byte for byte, key order included");
    }

    #[test]
    fn url_and_pixel_required() {
        let ev = json!({"event_name": "Lead", "action_source": "system_generated"});
        let err = build_tiktok_payload(std::slice::from_ref(&ev), "C1", None, &opts()).err();
        assert_eq!(
            err.map(|e| e.field),
            Some("events[0].event_source_url".into())
        );
        let err = build_tiktok_payload(&[ev], " ", None, &opts()).err();
        assert_eq!(err.map(|e| e.field), Some("pixel_code".into()));
    }

    #[test]
    fn no_content_type_without_contents() {
        let ev = json!({"event_name": "ViewContent", "event_source_url": "https://x.example/p", "custom": {"content_type": "product", "value": 3}});
        let body =
            build_tiktok_payload(&[ev], "C1", None, &opts()).unwrap_or_else(|e| panic!("{e}"));
        assert!(body["data"][0]["properties"].get("content_type").is_none());
    }
}
