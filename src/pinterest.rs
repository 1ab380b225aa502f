//! Pinterest Conversions API (v5): the body of `POST /v5/ad_accounts/{ad_account_id}/events`,
//! its endpoint and auth (`Authorization: Bearer`), its answers (a per-event status list: a
//! partial failure is not a success) and its event names. Rules: `docs/specs/pinterest_capi.md`.

use crate::error::ValidationError;
use crate::event::{canonical_event_name, Event};
use crate::normalize::Field;
use crate::out::{JsonWriter, Out, Sink, Tree};
use crate::platform::{Answer, Auth, Platform, PlatformSpec, Target};
use crate::sender::{as_i64, as_string, excerpt, status_retryable, Accepted, Attempt, Failure};
use serde_json::{Number, Value};
use std::borrow::Cow;

/// Pinterest's API host.
pub const DEFAULT_PINTEREST_BASE_URL: &str = "https://api.pinterest.com";

/// Pinterest's row in the platform table.
pub static SPEC: PlatformSpec = PlatformSpec {
    platform: Platform::Pinterest,
    name: "pinterest",
    label: "Pinterest Conversions API",
    id_name: "ad_account_id",
    secret_name: "access_token",
    default_base_url: DEFAULT_PINTEREST_BASE_URL,
    max_events: 1000,
    // Spec §7 (convapi's choice): at most 5 attempts per batch.
    max_attempts: 5,
    auth: Auth::Bearer,
    options: &["test"],
    check_target,
    path: |target, request| {
        format!(
            "/v5/ad_accounts/{}/events{}",
            target.id,
            if request.test { "?test=true" } else { "" }
        )
    },
    check_event: |event, _, _| check_event(event),
    identity: None,
    write_body: |buf, events, _, _| {
        let mut w = JsonWriter::new(buf);
        body_into(&mut w, events);
        w.finish();
    },
    build_body: |events, _, _| {
        let mut tree = Tree::new();
        body_into(&mut tree, events);
        tree.finish()
    },
    stream_body: Some(|w, _, _, events| w.stream_objs("data", events)),
    write_event: |w, event| event_into(w, event),
    classify,
    event_name: |name| Ok(Cow::Borrowed(pinterest_event_name(name))),
};

fn check_target(target: &Target) -> Result<(), ValidationError> {
    let id = &target.id;
    if id.is_empty() || id.len() > 18 || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ValidationError::new(
            "ad_account_id",
            "must be Pinterest's numeric ad account id (at most 18 digits)",
        ));
    }
    Ok(())
}

/// Pinterest's `event_name` for a neutral name (spec §5). Names Pinterest has no counterpart
/// for go as `custom`: the API has no field for the original name.
pub fn pinterest_event_name(name: &str) -> &'static str {
    match canonical_event_name(name) {
        "PageView" | "ViewContent" => "page_visit",
        "AddToCart" => "add_to_cart",
        "AddToWishlist" => "add_to_wishlist",
        "InitiateCheckout" => "initiate_checkout",
        "AddPaymentInfo" => "add_payment_info",
        "Purchase" | "CompletePayment" => "checkout",
        "Search" => "search",
        "Lead" => "lead",
        "Contact" => "contact",
        "CompleteRegistration" => "signup",
        "Subscribe" => "subscribe",
        _ => "custom",
    }
}

/// Pinterest's `action_source` for a neutral one: web, or offline for what did not happen on
/// a website or in an app. App events need the platform (android/ios), which the neutral model
/// does not carry.
fn action_source(neutral: &str) -> Option<&'static str> {
    match neutral {
        "website" => Some("web"),
        "app" => None,
        _ => Some("offline"),
    }
}

fn check_event(event: &Event<'_>) -> Result<(), ValidationError> {
    if action_source(event.action_source).is_none() {
        return Err(ValidationError::new(
            "action_source",
            "Pinterest takes web or offline events here (app events need app_android/app_ios)",
        ));
    }
    if event.event_id.is_none() {
        return Err(ValidationError::new(
            "event_id",
            "is required by Pinterest (it deduplicates the Pinterest tag's copy by it)",
        ));
    }
    let has_email = event.key(Field::Email).is_some();
    let has_ip_and_agent = event.client_ip_address.is_some() && event.client_user_agent.is_some();
    if !has_email && !has_ip_and_agent {
        return Err(ValidationError::new(
            "user",
            "Pinterest needs an email, or the client IP address and user agent",
        ));
    }
    Ok(())
}

/// Money as Pinterest takes it: a decimal string, no exponent (Rust writes floats that way).
fn decimal(n: &Number) -> String {
    match n.as_i64() {
        Some(i) => i.to_string(),
        None => n.as_f64().map_or_else(|| n.to_string(), |f| f.to_string()),
    }
}

/// A count as Pinterest's int64: whole numbers only (a fractional quantity is left out).
fn whole(n: Option<&Number>) -> Option<i64> {
    let n = n?;
    n.as_i64().or_else(|| {
        n.as_f64()
            .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
            .map(|f| f as i64)
    })
}

/// Two-letter ISO 639-1 language from a locale such as `fr-FR` or `en_US`.
fn language(locale: &str) -> Option<String> {
    let lang = locale.split(['-', '_']).next().unwrap_or(locale);
    (lang.len() == 2 && lang.bytes().all(|b| b.is_ascii_alphabetic()))
        .then(|| lang.to_ascii_lowercase())
}

fn body_into<'a, S: Sink<'a>>(sink: &mut S, events: &'a [Event<'a>]) {
    sink.objs("data", events, |s, _, event| event_into(s, event));
}

fn event_into<'a, S: Sink<'a>>(s: &mut S, event: &'a Event<'a>) {
    s.str("event_name", Some(pinterest_event_name(&event.event_name)));
    s.str("action_source", action_source(event.action_source));
    s.int("event_time", Some(event.event_time));
    s.str("event_id", event.event_id.as_deref());
    s.str("event_source_url", event.event_source_url.as_deref());
    s.bool("opt_out", event.opt_out);
    // user_data is required even if only the IP address and user agent remain.
    s.obj("user_data", true, |u| {
        for (field, keys) in &event.keys {
            // Pinterest hashes phones as digits without '+', like Meta (spec §3).
            u.digests(field.meta_key(), keys.iter().map(|k| k.meta_hashed(*field)));
        }
        u.str("client_ip_address", event.client_ip_address.as_deref());
        u.str("client_user_agent", event.client_user_agent.as_deref());
        u.str("click_id", event.click_id.as_deref());
        u.str("partner_id", event.partner_id.as_deref());
    });
    s.obj("custom_data", false, |c| {
        c.str("currency", event.currency.as_deref());
        c.string("value", event.value.as_ref().map(decimal));
        // content_ids default to the contents' ids (spec §4).
        if event.content_ids.is_empty() {
            c.strs(
                "content_ids",
                event.contents.iter().map(|item| item.id.as_ref()),
            );
        } else {
            c.strs("content_ids", event.content_ids.iter().map(AsRef::as_ref));
        }
        c.objs("contents", &event.contents, |item, _, content| {
            item.str("id", Some(content.id.as_ref()));
            item.string("item_price", content.item_price.as_ref().map(decimal));
            item.int("quantity", whole(content.quantity.as_ref()));
            item.str("item_name", content.title.as_deref());
            item.str("item_category", content.category.as_deref());
            item.str("item_brand", content.brand.as_deref());
        });
        c.str("content_name", event.content_name.as_deref());
        c.str("content_category", event.content_category.as_deref());
        c.int("num_items", event.num_items);
        c.str("order_id", event.order_id.as_deref());
        c.str("search_string", event.search_string.as_deref());
        // Limited Data Processing (spec §10). Custom extras are never sent: Pinterest refuses
        // a whole request with an unknown key.
        c.str("opt_out_type", event.limited_data_use.then_some("LDP"));
    });
    s.string("language", event.locale.as_deref().and_then(language));
}

/// Which of Pinterest's error codes and statuses are worth retrying (spec §7).
pub(crate) fn retryable(status: u16, code: Option<i64>) -> bool {
    match code {
        Some(8) | Some(4197) => true,
        Some(4196) | Some(1104) | Some(2) | Some(3) | Some(29) | Some(2625) | Some(2626) => false,
        _ => status_retryable(status),
    }
}

fn classify(answer: &Answer<'_>) -> Attempt {
    let status = answer.status;
    let body = answer.body.as_ref().filter(|b| b.is_object());
    if (200..300).contains(&status) {
        let Some(body) = body.filter(|b| b.get("num_events_received").is_some()) else {
            // A 2xx without Pinterest's envelope: someone else answered; the event ids keep a
            // resend from counting twice with the tag, so trying again is the safe side.
            let mut f = Failure::transport(
                "response",
                format!(
                    "HTTP {status} without num_events_received: {}",
                    excerpt(answer.raw)
                ),
                true,
            );
            f.status = Some(status);
            return Attempt::Failed(f);
        };
        let received = as_i64(body.get("num_events_received")).unwrap_or(0).max(0) as u64;
        let processed = as_i64(body.get("num_events_processed")).unwrap_or(0).max(0) as usize;
        let statuses: &[Value] = body
            .get("events")
            .and_then(Value::as_array)
            .map_or(&[], Vec::as_slice);
        let mut failed: Vec<(usize, String)> = Vec::new();
        let mut messages = Vec::new();
        for i in 0..answer.events {
            let entry = statuses.get(i);
            let state = entry.and_then(|e| e.get("status")).and_then(Value::as_str);
            let error = entry.and_then(|e| as_string(e.get("error_message")));
            let warning = entry.and_then(|e| as_string(e.get("warning_message")));
            match state {
                Some("processed") => {
                    if let Some(w) = warning {
                        messages.push(format!("events[{i}]: {w}"));
                    }
                }
                Some("failed") => {
                    failed.push((i, error.or(warning).unwrap_or_else(|| "failed".to_string())))
                }
                _ => {}
            }
        }
        // Events without a status, when the counts say not all were processed, failed too.
        let unexplained = answer
            .events
            .saturating_sub(processed)
            .saturating_sub(failed.len());
        if unexplained > 0 {
            for i in 0..answer.events {
                let listed = statuses
                    .get(i)
                    .and_then(|e| e.get("status"))
                    .and_then(Value::as_str)
                    .is_some();
                if !listed && failed.len() < answer.events.saturating_sub(processed) {
                    failed.push((i, "not processed (no status given)".to_string()));
                }
            }
            failed.sort_by_key(|(i, _)| *i);
        }
        let mut accepted = Accepted::new(received.min(processed as u64), status, body.clone());
        accepted.messages = messages;
        accepted.failed = failed;
        return Attempt::Accepted(accepted);
    }
    let code = body.and_then(|b| as_i64(b.get("code")));
    let message = body
        .and_then(|b| as_string(b.get("message")))
        .unwrap_or_else(|| format!("HTTP {status}: {}", excerpt(answer.raw)));
    match code {
        Some(code) => Attempt::Failed(Failure::api(
            code,
            message,
            status,
            retryable(status, Some(code)),
        )),
        None => {
            let mut f = Failure::transport("response", message, retryable(status, None));
            f.status = Some(status);
            Attempt::Failed(f)
        }
    }
}

/// The payload tree of one request: `{"data": [...]}` (tests and the Rust API). The ad
/// account and the test flag go in the URL, not the body.
pub fn pinterest_body<'a>(events: &'a [Event<'a>]) -> Result<Out<'a>, ValidationError> {
    SPEC.build(
        events,
        &crate::platform::NO_TARGET,
        &crate::platform::NO_REQUEST,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse_events, BuildOptions};
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
            "event_name": "Purchase", "event_id": "order-1", "event_time": NOW - 60,
            "event_source_url": "https://shop.example.com/c", "limited_data_use": true,
            "user": {"email": " John.Smith@Example.com ", "phone": "+1 (650) 555-1234",
                     "first_name": "John", "city": "San Francisco", "state": "CA",
                     "zip": "94103-1234", "country": "US", "gender": "female",
                     "date_of_birth": "1997-02-16", "external_id": "user_123",
                     "client_ip_address": "203.0.113.5", "client_user_agent": "UA",
                     "epik": "dj0yJnU9abc", "locale": "en_US", "fbp": "not for pinterest"},
            "custom": {"value": 72.39, "currency": "usd", "order_id": "S1", "num_items": 2,
                       "contents": [{"id": "SKU", "quantity": 2.0, "item_price": 19.9, "title": "Mug"}],
                       "extra": "never sent"},
        })
    }

    fn body(events: &[Value]) -> Result<Value, ValidationError> {
        let parsed = parse_events(events, &opts())?;
        pinterest_body(&parsed).map(Out::into_value)
    }

    #[test]
    fn spec_examples_and_shape() {
        let b = body(&[purchase()]).unwrap_or_else(|e| panic!("{e}"));
        let e = &b["data"][0];
        assert_eq!(e["event_name"], "checkout");
        assert_eq!(e["action_source"], "web");
        assert_eq!(e["event_time"], NOW - 60);
        assert_eq!(e["language"], "en");
        let u = &e["user_data"];
        // The spec's worked examples (§3).
        for (key, digest) in [
            (
                "em",
                "8e621e3d0368631d263d07a351fa8d34fba0d17c15fbcdec11a5f58008d022a0",
            ),
            (
                "ph",
                "6069d14bf122fdfd931dc7beb58e5dfbba395b1faf05bdcd42d12358d63d8599",
            ),
            (
                "fn",
                "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a",
            ),
            (
                "ct",
                "1a6bd4d9d79dc0a79b53795c70d3349fa9e38968a3fbefbfe8783efb1d2b6aac",
            ),
            (
                "st",
                "6959097001d10501ac7d54c0bdb8db61420f658f2922cc26e46d536119a31126",
            ),
            (
                "zp",
                "91dc2519ea98c5002cf2091e6a12b772eafdce9dca618e626d7d3b8275361789",
            ),
            (
                "country",
                "79adb2a2fce5c6ba215fe5f27f532d4e7edbac4b6a5e09e1ef3a08084a904621",
            ),
            (
                "ge",
                "252f10c83610ebca1a059c0bae8255eba2f95be4d1d7bcfa89d7248a82d9f111",
            ),
            (
                "db",
                "01acdbf6ec7b4f478a225f1a246e5d6767eeab1a7ffa17f025265b5b94f40f0c",
            ),
            (
                "external_id",
                "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b",
            ),
        ] {
            assert_eq!(u[key], json!([digest]), "{key}");
        }
        assert_eq!(u["click_id"], "dj0yJnU9abc");
        assert_eq!(u["client_ip_address"], "203.0.113.5");
        assert!(u.get("fbp").is_none());
        let c = &e["custom_data"];
        assert_eq!(c["value"], "72.39", "money is a decimal string");
        assert_eq!(c["currency"], "USD");
        assert_eq!(
            c["content_ids"],
            json!(["SKU"]),
            "defaults to the contents' ids"
        );
        assert_eq!(
            c["contents"],
            json!([{"id": "SKU", "item_price": "19.9", "quantity": 2, "item_name": "Mug"}])
        );
        assert_eq!(c["num_items"], 2);
        assert_eq!(c["opt_out_type"], "LDP");
        assert!(
            c.get("extra").is_none(),
            "unknown keys would fail the whole request"
        );
        assert_eq!(hash_value("16505551234"), u["ph"][0]);
    }

    #[test]
    fn names_and_required_fields() {
        for (neutral, pin) in [
            ("PageView", "page_visit"),
            ("ViewContent", "page_visit"),
            ("add_to_cart", "add_to_cart"),
            ("InitiateCheckout", "initiate_checkout"),
            ("CompleteRegistration", "signup"),
            ("Contact", "contact"),
            ("MyThing", "custom"),
        ] {
            assert_eq!(pinterest_event_name(neutral), pin, "{neutral}");
        }
        let mut no_id = purchase();
        no_id.as_object_mut().map(|o| o.remove("event_id"));
        assert_eq!(
            body(&[no_id]).err().map(|e| e.field),
            Some("events[0].event_id".into())
        );
        let anonymous = json!({"event_name": "Lead", "event_id": "l1", "event_source_url": "https://x.example/",
                               "user": {"client_user_agent": "UA"}});
        assert_eq!(
            body(&[anonymous]).err().map(|e| e.field),
            Some("events[0].user".into())
        );
        let app = json!({"event_name": "Lead", "event_id": "l1", "action_source": "app",
                         "user": {"email": "a@b.co"}});
        assert_eq!(
            body(&[app]).err().map(|e| e.field),
            Some("events[0].action_source".into())
        );
        let store = json!({"event_name": "Purchase", "event_id": "p", "action_source": "physical_store",
                           "user": {"email": "a@b.co"}, "custom": {"value": 1, "currency": "EUR"}});
        assert_eq!(
            body(&[store])
                .map(|b| b["data"][0]["action_source"].clone())
                .ok(),
            Some(json!("offline"))
        );
    }

    #[test]
    fn bytes_equal_the_tree() {
        let parsed = parse_events(&[purchase(), purchase()], &opts()).unwrap_or_default();
        let mut buf = Vec::new();
        SPEC.encode(
            &parsed,
            &crate::platform::NO_TARGET,
            &crate::platform::NO_REQUEST,
            &mut buf,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let tree = pinterest_body(&parsed).map(|t| t.to_json_bytes());
        assert_eq!(Ok(buf), tree);
    }

    fn answer(status: u16, body: Value, events: usize) -> Attempt {
        let raw = body.to_string();
        classify(&Answer {
            status,
            body: Some(body),
            raw: raw.as_bytes(),
            header_trace: None,
            events,
            request: &crate::platform::NO_REQUEST,
        })
    }

    #[test]
    fn per_event_status_is_a_partial_failure() {
        let ok = answer(
            200,
            json!({"num_events_received": 2, "num_events_processed": 2,
            "events": [{"status": "processed", "error_message": null, "warning_message": "odd"},
                       {"status": "processed", "error_message": "", "warning_message": ""}]}),
            2,
        );
        let Attempt::Accepted(acc) = ok else {
            panic!("accepted")
        };
        assert!(acc.failed.is_empty());
        assert_eq!(acc.events_received, 2);
        assert_eq!(acc.messages, vec!["events[0]: odd".to_string()]);
        let partial = answer(
            200,
            json!({"num_events_received": 3, "num_events_processed": 1,
            "events": [{"status": "processed"}, {"status": "failed", "error_message": "too old"}]}),
            3,
        );
        let Attempt::Accepted(acc) = partial else {
            panic!("accepted")
        };
        assert_eq!(
            acc.failed,
            vec![
                (1, "too old".to_string()),
                (2, "not processed (no status given)".to_string())
            ]
        );
        assert_eq!(acc.events_received, 1);
    }

    #[test]
    fn errors_are_classified_per_spec() {
        for (status, code, retry) in [
            (429, 8, true),
            (503, 4197, true),
            (500, 1, true),
            (400, 4196, false),
            (401, 2, false),
            (403, 29, false),
            (422, 0, false),
        ] {
            match answer(status, json!({"code": code, "message": "m"}), 1) {
                Attempt::Failed(f) => assert_eq!(f.retryable, retry, "{status}/{code}"),
                Attempt::Accepted(_) => panic!("{status} must fail"),
            }
        }
        match answer(200, json!({"unexpected": true}), 1) {
            Attempt::Failed(f) => assert!(f.retryable),
            Attempt::Accepted(_) => panic!("no envelope is not a success"),
        }
    }
}
