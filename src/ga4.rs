//! GA4 Measurement Protocol (web streams): the body of `POST /mp/collect` (and of the
//! validation server's `/debug/mp/collect`), its credentials (`measurement_id` and `api_secret`
//! in the query, by the protocol's design: the sender never shows them), Google's user-data
//! normalisation where it differs from the shared one, its event names and its answers.
//! Rules: `docs/specs/ga4_mp.md`.

use crate::error::ValidationError;
use crate::event::{canonical_event_name, is_standard_event, Event, MatchKey};
use crate::normalize::{sha256_hex, Field};
use crate::out::{Hashed, JsonWriter, Out, Sink, Tree};
use crate::platform::{Answer, Auth, Platform, PlatformSpec, Request, Target};
use crate::sender::{as_string, excerpt, Accepted, Attempt, Failure};
use serde_json::Value;
use std::borrow::Cow;

/// Google Analytics' collection host (`region1.google-analytics.com` collects in the EU).
pub const DEFAULT_GA4_BASE_URL: &str = "https://www.google-analytics.com";
/// Events older than this are refused here: GA would silently re-date them (spec §9).
pub const MAX_EVENT_AGE: i64 = 72 * 3600;
/// Most items one event carries (spec §5).
pub const MAX_ITEMS: usize = 200;

/// GA4's row in the platform table.
pub static SPEC: PlatformSpec = PlatformSpec {
    platform: Platform::Ga4,
    name: "ga4",
    label: "GA4 Measurement Protocol",
    id_name: "measurement_id",
    secret_name: "api_secret",
    default_base_url: DEFAULT_GA4_BASE_URL,
    max_events: 25,
    // Spec §8 (convapi's choice): GA has no event-level dedup, so retries stay few.
    max_attempts: 3,
    auth: Auth::Query("api_secret"),
    options: &["test"],
    check_target,
    path: |target, request| {
        format!(
            "/{}mp/collect?measurement_id={}",
            if request.test { "debug/" } else { "" },
            target.id
        )
    },
    check_event,
    identity: Some(identity),
    write_body: |buf, events, _, request| {
        let mut w = JsonWriter::new(buf);
        body_into(&mut w, events, request);
        w.finish();
    },
    build_body: |events, _, request| {
        let mut tree = Tree::new();
        body_into(&mut tree, events, request);
        tree.finish()
    },
    stream_body: None,
    write_event: |w, event| event_into(w, event),
    classify,
    event_name: ga4_event_name,
};

fn check_target(target: &Target) -> Result<(), ValidationError> {
    // The id is not repeated in the message: it never appears in an error.
    let ok = target
        .id
        .strip_prefix("G-")
        .is_some_and(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_alphanumeric()));
    if ok {
        Ok(())
    } else {
        Err(ValidationError::new(
            "measurement_id",
            "must be a web stream's measurement id (G- followed by letters and digits)",
        ))
    }
}

/// The client id in a `_ga` cookie value (`GA1.1.1234567890.1700000000` →
/// `1234567890.1700000000`), or a client id given as such (spec §3).
pub fn client_id(value: &str) -> Option<String> {
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let parts: Vec<&str> = value.trim().split('.').collect();
    match parts.as_slice() {
        [a, b] if digits(a) && digits(b) => Some(format!("{a}.{b}")),
        [version, .., a, b]
            if parts.len() >= 4
                && version.len() > 2
                && version.starts_with("GA")
                && digits(&version[2..])
                && digits(a)
                && digits(b) =>
        {
            Some(format!("{a}.{b}"))
        }
        _ => None,
    }
}

/// The session id in a `_ga_<stream>` cookie value: the third field of the old `GS1.1.…`
/// format, the `s…` field of the `GS2.1.s…$o…` format, or digits given as such.
pub fn session_id(value: &str) -> Option<String> {
    let value = value.trim();
    let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    if digits(value) {
        return Some(value.to_string());
    }
    let parts: Vec<&str> = value.split('.').collect();
    match parts.as_slice() {
        [v, _, third, ..] if v.starts_with("GS1") && digits(third) => Some(third.to_string()),
        [v, _, rest, ..] if v.starts_with("GS2") => rest
            .split('$')
            .find_map(|f| f.strip_prefix('s').filter(|s| digits(s)))
            .map(str::to_string),
        _ => None,
    }
}

/// Names GA reserves (spec §5).
const RESERVED_NAMES: [&str; 32] = [
    "ad_activeview",
    "ad_click",
    "ad_exposure",
    "ad_query",
    "ad_reward",
    "adunit_exposure",
    "app_clear_data",
    "app_exception",
    "app_install",
    "app_remove",
    "app_store_refund",
    "app_update",
    "app_upgrade",
    "dynamic_link_app_open",
    "dynamic_link_app_update",
    "dynamic_link_first_open",
    "error",
    "firebase_campaign",
    "firebase_in_app_message_action",
    "firebase_in_app_message_dismiss",
    "firebase_in_app_message_impression",
    "first_open",
    "first_visit",
    "notification_dismiss",
    "notification_foreground",
    "notification_open",
    "notification_receive",
    "notification_send",
    "os_update",
    "session_start",
    "user_engagement",
    "screen_view",
];

/// GA4's name for a neutral event name (spec §6): the recommended events, snake_case for the
/// other standard names, and custom names as given when GA accepts them (never renamed).
pub fn ga4_event_name(name: &str) -> Result<Cow<'static, str>, ValidationError> {
    let canonical = canonical_event_name(name.trim());
    let mapped = match canonical {
        "PageView" => "page_view",
        "ViewContent" => "view_item",
        "AddToCart" => "add_to_cart",
        "AddToWishlist" => "add_to_wishlist",
        "InitiateCheckout" => "begin_checkout",
        "AddPaymentInfo" => "add_payment_info",
        "Purchase" | "CompletePayment" => "purchase",
        "Search" => "search",
        "Lead" => "generate_lead",
        "Contact" => "contact",
        "CompleteRegistration" => "sign_up",
        "Subscribe" => "subscribe",
        other if is_standard_event(other) => return Ok(Cow::Owned(snake_case(other))),
        other => {
            check_custom_name(other)?;
            return Ok(Cow::Owned(other.to_string()));
        }
    };
    Ok(Cow::Borrowed(mapped))
}

fn snake_case(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    for (i, c) in name.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_lowercase());
    }
    out
}

fn check_custom_name(name: &str) -> Result<(), ValidationError> {
    let bad = |rule: &str| {
        Err(ValidationError::new(
            "event_name",
            format!("{name:?} is not a GA4 event name: {rule}"),
        ))
    };
    let mut bytes = name.bytes();
    if !bytes.next().is_some_and(|b| b.is_ascii_alphabetic()) {
        return bad("it must start with a letter");
    }
    if !bytes.all(|b| b.is_ascii_alphanumeric() || b == b'_') {
        return bad("only letters, digits and _ are allowed");
    }
    if name.len() > 40 {
        return bad("at most 40 characters");
    }
    let lower = name.to_ascii_lowercase();
    if RESERVED_NAMES.contains(&lower.as_str())
        || ["ga_", "google_", "firebase_"]
            .iter()
            .any(|p| lower.starts_with(p))
    {
        return bad("the name is reserved by Google Analytics");
    }
    Ok(())
}

fn check_event(event: &Event<'_>, _: &Target, _: &Request) -> Result<(), ValidationError> {
    if event.client_id.as_deref().and_then(client_id).is_none() {
        return Err(ValidationError::new(
            "user.client_id",
            "is required by GA4: the _ga cookie value (GA1.1.<number>.<number>) or the client \
             id (<number>.<number>) of the shopper's browser",
        ));
    }
    let name = ga4_event_name(&event.event_name)?;
    if name == "purchase" && event.order_id.is_none() {
        return Err(ValidationError::new(
            "custom.order_id",
            "is required by GA4 for a purchase (its transaction_id, which GA deduplicates by)",
        ));
    }
    if event.parsed_at.saturating_sub(event.event_time) > MAX_EVENT_AGE {
        return Err(ValidationError::new(
            "event_time",
            "is older than 72 hours, which GA4 would silently re-date",
        ));
    }
    if user_id(event).is_some_and(|u| u.chars().count() > 256) {
        return Err(ValidationError::new(
            "user.external_id",
            "is longer than GA4's 256 characters for user_id",
        ));
    }
    Ok(())
}

/// GA's `user_id`: the shopper's own stable id (the neutral external id), sent as given.
fn user_id<'a>(event: &'a Event<'_>) -> Option<&'a str> {
    match event.key(Field::ExternalId)?.first()? {
        MatchKey::Plain(v) => Some(v),
        MatchKey::Hashed(_) => None,
    }
}

/// What must be the same for events to share a request (spec §2): one user per request.
fn identity(event: &Event<'_>) -> String {
    let mut key = format!(
        "{}|{}|{:?}|{:?}",
        event
            .client_id
            .as_deref()
            .and_then(client_id)
            .unwrap_or_default(),
        user_id(event).unwrap_or_default(),
        event.consent_ad_user_data,
        event.consent_ad_personalization,
    );
    for (field, values) in &event.keys {
        key.push('|');
        key.push_str(field.name());
        for v in values {
            key.push(',');
            key.push_str(match v {
                MatchKey::Plain(v) | MatchKey::Hashed(v) => v,
            });
        }
    }
    for text in [&event.city_text, &event.state_text, &event.zip_text] {
        key.push('|');
        key.push_str(text.as_deref().unwrap_or_default());
    }
    key
}

/// Google's email rule (spec §4): trimmed and lowercased already; for gmail.com and
/// googlemail.com the dots before the `@` go too. A `+suffix` stays: Google does not say to
/// drop it.
pub fn normalize_email(email: &str) -> String {
    match email.rsplit_once('@') {
        Some((local, domain)) if domain == "gmail.com" || domain == "googlemail.com" => {
            format!("{}@{domain}", local.replace('.', ""))
        }
        _ => email.to_string(),
    }
}

/// Google's name rule: no digits or symbols, lowercase, trimmed. The shared normaliser has
/// done the rest (lowercase, punctuation gone, spaces collapsed); digits go here.
fn normalize_name(name: &str) -> Option<String> {
    let out: String = name.chars().filter(|c| !c.is_numeric()).collect();
    let out = out.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

/// Google's city and region rule: digits and symbols removed, lowercase, trimmed (inner
/// spaces kept, runs of them made one).
fn normalize_place(value: &str) -> Option<String> {
    let kept: String = value
        .chars()
        .flat_map(char::to_lowercase)
        .filter(|c| c.is_alphabetic() || c.is_whitespace())
        .collect();
    let out = kept.split_whitespace().collect::<Vec<_>>().join(" ");
    (!out.is_empty()).then_some(out)
}

/// Google's postal code rule: `.` and `~` removed, trimmed.
fn normalize_postal(value: &str) -> Option<String> {
    let out: String = value.chars().filter(|c| *c != '.' && *c != '~').collect();
    let out = out.trim();
    (!out.is_empty()).then(|| out.to_string())
}

fn plain_values<'e>(event: &'e Event<'_>, field: Field) -> impl Iterator<Item = &'e MatchKey> {
    event.key(field).unwrap_or_default().iter()
}

fn consent_word(flag: Option<bool>) -> Option<&'static str> {
    flag.map(|granted| if granted { "GRANTED" } else { "DENIED" })
}

fn body_into<'a, S: Sink<'a>>(sink: &mut S, events: &'a [Event<'a>], request: &Request) {
    let Some(first) = events.first() else {
        return;
    };
    sink.string("client_id", first.client_id.as_deref().and_then(client_id));
    sink.str("user_id", user_id(first));
    sink.obj("consent", false, |c| {
        c.str("ad_user_data", consent_word(first.consent_ad_user_data));
        c.str(
            "ad_personalization",
            consent_word(first.consent_ad_personalization),
        );
    });
    // No user data when the shopper denied its advertising use (spec §11).
    if first.consent_ad_user_data != Some(false) {
        sink.obj("user_data", false, |u| user_data_into(u, first));
    }
    if request.test {
        sink.str("validation_behavior", Some("ENFORCE_RECOMMENDATIONS"));
    }
    sink.objs("events", events, |s, _, event| event_into(s, event));
}

fn user_data_into<'a, S: Sink<'a>>(u: &mut S, event: &'a Event<'a>) {
    let emails = plain_values(event, Field::Email).take(3).map(|k| match k {
        MatchKey::Plain(v) => Hashed::Done(sha256_hex(&normalize_email(v))),
        MatchKey::Hashed(h) => Hashed::Given(h),
    });
    u.digests("sha256_email_address", emails);
    // E.164 with its '+', hashed as TikTok does (spec §4).
    u.digests(
        "sha256_phone_number",
        plain_values(event, Field::Phone)
            .take(3)
            .map(MatchKey::hashed),
    );
    // One name per address, as a string (not a list like the emails and phones).
    let name = |field: Field| -> Option<String> {
        let digest = match event.key(field)?.first()? {
            MatchKey::Plain(v) => sha256_hex(&normalize_name(v)?),
            MatchKey::Hashed(h) => Hashed::Given(h).digest(),
        };
        Some(String::from_utf8_lossy(&digest).into_owned())
    };
    let (first_name, last_name) = (name(Field::FirstName), name(Field::LastName));
    let city = event.city_text.as_deref().and_then(normalize_place);
    let region = event.state_text.as_deref().and_then(normalize_place);
    let postal = event.zip_text.as_deref().and_then(normalize_postal);
    let country = match event.key(Field::Country).and_then(|k| k.first()) {
        Some(MatchKey::Plain(c)) => Some(c.to_ascii_uppercase()),
        _ => None,
    };
    let any = first_name.is_some()
        || last_name.is_some()
        || city.is_some()
        || region.is_some()
        || postal.is_some()
        || country.is_some();
    if any {
        u.objs("address", &ADDRESS_SLOT, |a, _, _| {
            a.string("sha256_first_name", first_name.clone());
            a.string("sha256_last_name", last_name.clone());
            a.string("city", city.clone());
            a.string("region", region.clone());
            a.string("postal_code", postal.clone());
            a.string("country", country.clone());
        });
    }
}

/// The one address GA4 gets (it takes up to two): a list of one slot to fill.
static ADDRESS_SLOT: [(); 1] = [()];

fn event_into<'a, S: Sink<'a>>(s: &mut S, event: &'a Event<'a>) {
    // Checked already: a name that does not map was refused before any body was built.
    let name = ga4_event_name(&event.event_name).unwrap_or(Cow::Borrowed("event"));
    let is_purchase = name == "purchase";
    s.string("name", Some(name.into_owned()));
    s.int(
        "timestamp_micros",
        Some(event.event_time.saturating_mul(1_000_000)),
    );
    s.obj("params", false, |p| {
        if is_purchase {
            p.str("transaction_id", event.order_id.as_deref());
        }
        p.str("currency", event.currency.as_deref());
        p.num("value", event.value.as_ref());
        if event.contents.is_empty() {
            p.objs(
                "items",
                &event.content_ids[..event.content_ids.len().min(MAX_ITEMS)],
                |item, _, id| {
                    item.str("item_id", Some(id.as_ref()));
                    if event.content_ids.len() == 1 {
                        item.str("item_name", event.content_name.as_deref());
                        item.str("item_category", event.content_category.as_deref());
                    }
                },
            );
        } else {
            p.objs(
                "items",
                &event.contents[..event.contents.len().min(MAX_ITEMS)],
                |item, _, c| {
                    item.str("item_id", Some(c.id.as_ref()));
                    item.str("item_name", c.title.as_deref());
                    item.num("price", c.item_price.as_ref());
                    item.num("quantity", c.quantity.as_ref());
                    item.str("item_category", c.category.as_deref());
                    item.str("item_brand", c.brand.as_deref());
                },
            );
        }
        p.str("search_term", event.search_string.as_deref());
        p.str("page_location", event.event_source_url.as_deref());
        p.str("page_referrer", event.referrer_url.as_deref());
        p.string(
            "session_id",
            event.session_id.as_deref().and_then(session_id),
        );
        p.int("engagement_time_msec", event.engagement_time_msec);
    });
}

fn classify(answer: &Answer<'_>) -> Attempt {
    let status = answer.status;
    if (200..300).contains(&status) {
        if answer.request.test {
            // The validation server: its messages are the errors of a test send (spec §8).
            let messages: Vec<String> = answer
                .body
                .as_ref()
                .and_then(|b| b.get("validationMessages"))
                .and_then(Value::as_array)
                .map(|list| {
                    list.iter()
                        .map(|m| {
                            format!(
                                "{}: {} [{}]",
                                as_string(m.get("fieldPath")).unwrap_or_else(|| "?".into()),
                                as_string(m.get("description")).unwrap_or_default(),
                                as_string(m.get("validationCode")).unwrap_or_default()
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            if !messages.is_empty() {
                return Attempt::Failed(Failure::api(0, messages.join("; "), status, false));
            }
        }
        // /mp/collect answers 2xx with no body whatever it does with the events.
        return Attempt::Accepted(Accepted::new(
            answer.events as u64,
            status,
            answer.body.clone().unwrap_or(Value::Null),
        ));
    }
    let message = format!("HTTP {status}: {}", excerpt(answer.raw));
    if status == 429 || status >= 500 || status == 408 {
        let mut f = Failure::transport("response", message, true);
        f.status = Some(status);
        return Attempt::Failed(f);
    }
    Attempt::Failed(Failure::api(i64::from(status), message, status, false))
}

/// The payload tree of one request (tests and the Rust API): events of one user.
pub fn ga4_body<'a>(
    events: &'a [Event<'a>],
    request: &'a Request,
) -> Result<Out<'a>, ValidationError> {
    SPEC.build(events, &crate::platform::NO_TARGET, request)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{parse_events, BuildOptions};
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
            "event_source_url": "https://shop.example.com/c",
            "consent": {"ad_user_data": true, "ad_personalization": "DENIED"},
            "user": {"email": " John.Smith+Promo@GoogleMail.com ", "phone": "(650) 555-1234",
                     "first_name": "John2", "last_name": "Doe", "city": "San Francisco",
                     "state": "California", "zip": "94103-1234", "country": "US",
                     "external_id": "user_123", "client_id": "GA1.1.1234567890.1700000000",
                     "session_id": "GS2.1.s1747132561$o1$g0$t1747132655$j0$l0$h0"},
            "custom": {"value": 59.8, "currency": "EUR", "order_id": "S1", "engagement_time_msec": 100,
                       "contents": [{"id": "SKU", "quantity": 2, "item_price": 19.9, "title": "Mug"}]},
        })
    }

    fn body(events: &[Value], test: bool) -> Result<Value, ValidationError> {
        let parsed = parse_events(events, &opts())?;
        let request = Request {
            test_event_code: None,
            test,
        };
        ga4_body(&parsed, &request).map(Out::into_value)
    }

    #[test]
    fn cookies_give_the_ids() {
        assert_eq!(
            client_id("GA1.1.1234567890.1700000000").as_deref(),
            Some("1234567890.1700000000")
        );
        assert_eq!(
            client_id("GA1.2.1234567890.1700000000").as_deref(),
            Some("1234567890.1700000000")
        );
        assert_eq!(
            client_id("GA1.1-2.1234567890.1700000000").as_deref(),
            Some("1234567890.1700000000")
        );
        assert_eq!(
            client_id("1234567890.1700000000").as_deref(),
            Some("1234567890.1700000000")
        );
        for bad in ["", "FPID2.2.abc", "GA1.1.x.1", "1234567890", "GA1.1.12"] {
            assert_eq!(client_id(bad), None, "{bad}");
        }
        assert_eq!(
            session_id("GS1.1.1746825440.14.0.1746825440.0.0.0").as_deref(),
            Some("1746825440")
        );
        assert_eq!(
            session_id("GS2.1.s1747132561$o1$g0$t1747132655").as_deref(),
            Some("1747132561")
        );
        assert_eq!(session_id("1747132561").as_deref(), Some("1747132561"));
        assert_eq!(session_id("GS2.1.o1$g0"), None);
    }

    #[test]
    fn purchase_body_per_spec() {
        let b = body(&[purchase()], false).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(b["client_id"], "1234567890.1700000000");
        assert_eq!(b["user_id"], "user_123");
        assert_eq!(
            b["consent"],
            json!({"ad_user_data": "GRANTED", "ad_personalization": "DENIED"})
        );
        assert!(b.get("validation_behavior").is_none());
        let u = &b["user_data"];
        // The spec's examples (§4): gmail dots go, the +suffix stays; E.164 with '+'.
        assert_eq!(
            u["sha256_email_address"][0],
            "c04d03ddd2f2ddfeb6b8b129e53a4caa5c44e85862c0a33990d7d5336e88effd"
        );
        assert_eq!(
            u["sha256_phone_number"][0],
            "a2996076d3ad4af5dc818b908b3d8e354f26ededf7df0e0aa6ac354143805ee0"
        );
        let a = &u["address"][0];
        assert_eq!(
            a["sha256_first_name"],
            "96d9632f363564cc3032521409cf22a852f2032eec099ed5967c0d000cec607a",
            "digits removed: john"
        );
        assert_eq!(
            a["sha256_last_name"],
            "799ef92a11af918e3fb741df42934f3b568ed2d93ac1df74f1b8d41a27932a6f"
        );
        assert_eq!(a["city"], "san francisco");
        assert_eq!(a["region"], "california");
        assert_eq!(a["postal_code"], "94103-1234");
        assert_eq!(a["country"], "US");
        let e = &b["events"][0];
        assert_eq!(e["name"], "purchase");
        assert_eq!(e["timestamp_micros"], (NOW - 60) * 1_000_000);
        let p = &e["params"];
        assert_eq!(p["transaction_id"], "S1");
        assert_eq!(p["value"], 59.8);
        assert_eq!(p["currency"], "EUR");
        assert_eq!(
            p["items"],
            json!([{"item_id": "SKU", "item_name": "Mug", "price": 19.9, "quantity": 2}])
        );
        assert_eq!(p["session_id"], "1747132561");
        assert_eq!(p["engagement_time_msec"], 100);
        let test = body(&[purchase()], true).unwrap_or_default();
        assert_eq!(test["validation_behavior"], "ENFORCE_RECOMMENDATIONS");
    }

    #[test]
    fn refusals_name_the_field() {
        let mut no_client = purchase();
        no_client["user"]
            .as_object_mut()
            .map(|u| u.remove("client_id"));
        assert_eq!(
            body(&[no_client], false).err().map(|e| e.field),
            Some("events[0].user.client_id".into())
        );
        let mut no_order = purchase();
        no_order["custom"]
            .as_object_mut()
            .map(|c| c.remove("order_id"));
        assert_eq!(
            body(&[no_order], false).err().map(|e| e.field),
            Some("events[0].custom.order_id".into())
        );
        let mut old = purchase();
        old["event_time"] = json!(NOW - 73 * 3600);
        assert_eq!(
            body(&[old], false).err().map(|e| e.field),
            Some("events[0].event_time".into())
        );
        let mut reserved = purchase();
        reserved["event_name"] = json!("session_start");
        assert_eq!(
            body(&[reserved], false).err().map(|e| e.field),
            Some("events[0].event_name".into())
        );
        let mut other_user = purchase();
        other_user["user"]["client_id"] = json!("1.2");
        assert!(
            body(&[purchase(), other_user], false).is_err(),
            "one user per request"
        );
        let many: Vec<Value> = (0..26).map(|_| purchase()).collect();
        assert_eq!(
            body(&many, false).err().map(|e| e.field),
            Some("events".into())
        );
        let mut denied = purchase();
        denied["consent"]["ad_user_data"] = json!(false);
        assert!(body(&[denied], false)
            .unwrap_or_default()
            .get("user_data")
            .is_none());
    }

    #[test]
    fn names() {
        for (neutral, ga) in [
            ("PageView", "page_view"),
            ("ViewContent", "view_item"),
            ("InitiateCheckout", "begin_checkout"),
            ("Lead", "generate_lead"),
            ("CompleteRegistration", "sign_up"),
            ("StartTrial", "start_trial"),
            ("my_event", "my_event"),
        ] {
            assert_eq!(
                ga4_event_name(neutral).ok().as_deref(),
                Some(ga),
                "{neutral}"
            );
        }
        for bad in ["1x", "a-b", "ga_thing", "first_visit", &"x".repeat(41)] {
            assert!(ga4_event_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn validation_messages_are_errors_in_test_mode() {
        let raw = r#"{"validationMessages":[{"fieldPath":"events","description":"bad name","validationCode":"NAME_INVALID"}]}"#;
        let test = Request {
            test_event_code: None,
            test: true,
        };
        let answer = Answer {
            status: 200,
            body: serde_json::from_str(raw).ok(),
            raw: raw.as_bytes(),
            header_trace: None,
            events: 1,
            request: &test,
        };
        match classify(&answer) {
            Attempt::Failed(f) => {
                assert!(!f.retryable);
                assert!(
                    matches!(&f.kind, crate::sender::FailureKind::Api { message, .. } if message.contains("NAME_INVALID"))
                );
            }
            Attempt::Accepted(_) => panic!("validation messages are a failure"),
        }
        let live = Answer {
            status: 204,
            body: None,
            raw: b"",
            header_trace: None,
            events: 3,
            request: &crate::platform::NO_REQUEST,
        };
        assert!(matches!(classify(&live), Attempt::Accepted(a) if a.events_received == 3));
        for (status, retry) in [(429, true), (503, true), (400, false), (403, false)] {
            let a = Answer {
                status,
                body: None,
                raw: b"",
                header_trace: None,
                events: 1,
                request: &crate::platform::NO_REQUEST,
            };
            assert!(
                matches!(classify(&a), Attempt::Failed(f) if f.retryable == retry),
                "{status}"
            );
        }
    }
}
