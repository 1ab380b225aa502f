//! The neutral event model shared by both builders.
//!
//! Input is one plain JSON-like object per event, with raw PII, in the shape Odoo code naturally
//! produces. [`Event::parse`] validates it and normalises every match key once; the Meta and
//! TikTok builders then only pick, hash and rename.

use crate::error::ValidationError;
use crate::geo;
use crate::input::{lookup, Input};
use crate::normalize::{hash_value, is_sha256_hex, normalize_field, sha256_hex, trim, Field};
use crate::out::{Hashed, Out};
use serde_json::{Map, Number, Value};
use std::borrow::Cow;
use std::time::{SystemTime, UNIX_EPOCH};

/// Options shared by the payload builders.
#[derive(Debug, Clone, Default)]
pub struct BuildOptions {
    /// Raise on a bad match key instead of dropping that key.
    pub strict: bool,
    /// "Now" in Unix seconds; `None` reads the system clock. Tests pin it.
    pub now: Option<i64>,
}

impl BuildOptions {
    pub(crate) fn now(&self) -> i64 {
        self.now.unwrap_or_else(|| {
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_secs() as i64)
                .unwrap_or(0)
        })
    }
}

/// Most events one request may carry, on both platforms.
pub const MAX_EVENTS: usize = 1000;
/// Oldest event both platforms accept, in seconds (Meta rejects the whole batch past it).
pub const MAX_EVENT_AGE: i64 = 7 * 24 * 3600;

/// The action sources Meta accepts.
pub const ACTION_SOURCES: [&str; 9] = [
    "email",
    "website",
    "app",
    "phone_call",
    "chat",
    "physical_store",
    "system_generated",
    "business_messaging",
    "other",
];

/// Standard event names (Meta's, plus the base `PageView`), matched case- and
/// separator-insensitively so `add_to_cart` and `addtocart` become `AddToCart`.
const STANDARD_EVENTS: [&str; 21] = [
    "AddPaymentInfo",
    "AddToCart",
    "AddToWishlist",
    "ApplicationApproval",
    "CompleteRegistration",
    "Contact",
    "CustomizeProduct",
    "Donate",
    "Download",
    "FindLocation",
    "InitiateCheckout",
    "Lead",
    "PageView",
    "Purchase",
    "Schedule",
    "Search",
    "StartTrial",
    "SubmitApplication",
    "Subscribe",
    "ViewContent",
    "CompletePayment",
];

/// Whether `name` (canonical spelling) is one of the standard event names.
pub fn is_standard_event(name: &str) -> bool {
    STANDARD_EVENTS.contains(&name)
}

/// The canonical spelling of a standard event name; custom names come back unchanged.
pub fn canonical_event_name(name: &str) -> &str {
    // The usual input is already spelled canonically.
    if is_standard_event(name) {
        return name;
    }
    // Compared without allocating: this runs once per event.
    let folded = |s: &'static str| s.bytes().map(|b| b.to_ascii_lowercase());
    let wanted = || {
        name.bytes()
            .filter(u8::is_ascii_alphanumeric)
            .map(|b| b.to_ascii_lowercase())
    };
    STANDARD_EVENTS
        .iter()
        .find(|s| folded(s).eq(wanted()))
        .copied()
        .unwrap_or(name)
}

/// A match key after normalisation: either a plain normalised value (hashed per platform at build
/// time, since Meta and TikTok hash phones differently) or a digest the caller already made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MatchKey {
    Plain(String),
    Hashed(String),
}

impl MatchKey {
    /// The SHA-256 hex digest of the value, as Meta wants it (phones without `+`).
    pub fn meta_hash(&self, field: Field) -> String {
        match self {
            MatchKey::Hashed(h) => h.clone(),
            MatchKey::Plain(v) if field == Field::Phone => hash_value(v.trim_start_matches('+')),
            MatchKey::Plain(v) => hash_value(v),
        }
    }

    /// The SHA-256 hex digest of the value, as TikTok wants it (phones in E.164 with `+`).
    pub fn tiktok_hash(&self) -> String {
        match self {
            MatchKey::Hashed(h) => h.clone(),
            MatchKey::Plain(v) => hash_value(v),
        }
    }

    /// The value Meta hashes (phones without `+`).
    pub fn meta_hashed(&self, field: Field) -> Hashed<'_> {
        match self {
            MatchKey::Hashed(h) => Hashed::Given(h),
            MatchKey::Plain(v) if field == Field::Phone => Hashed::Plain(v.trim_start_matches('+')),
            MatchKey::Plain(v) if field.repeats() => Hashed::Common(v),
            MatchKey::Plain(v) => Hashed::Plain(v),
        }
    }

    /// The value TikTok (and the platforms hashing E.164 with its `+`) hashes.
    pub fn hashed(&self) -> Hashed<'_> {
        match self {
            MatchKey::Hashed(h) => Hashed::Given(h),
            MatchKey::Plain(v) => Hashed::Plain(v),
        }
    }

    /// [`MatchKey::meta_hash`] as a payload value, hashed without allocating.
    pub fn meta_out(&self, field: Field) -> Out<'_> {
        match self {
            MatchKey::Plain(v) if field == Field::Phone => digest_out(v.trim_start_matches('+')),
            _ => self.tiktok_out(),
        }
    }

    /// [`MatchKey::tiktok_hash`] as a payload value, hashed without allocating.
    pub fn tiktok_out(&self) -> Out<'_> {
        match self {
            MatchKey::Hashed(h) => Out::Str(h),
            MatchKey::Plain(v) => digest_out(v),
        }
    }
}

fn digest_out(value: &str) -> Out<'_> {
    if is_sha256_hex(value) {
        // Already a digest (lowercase: normalised values are); passed through as hash_value does.
        return Out::String(value.to_ascii_lowercase());
    }
    Out::Digest(sha256_hex(value))
}

/// The values of one match key: one inline (the usual case needs no allocation), more on the
/// heap.
pub type KeyValues = smallvec::SmallVec<[MatchKey; 1]>;

/// One item of `custom.contents`.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Content<'a> {
    pub id: Cow<'a, str>,
    pub quantity: Option<Number>,
    pub item_price: Option<Number>,
    pub title: Option<Cow<'a, str>>,
    pub category: Option<Cow<'a, str>>,
    pub brand: Option<Cow<'a, str>>,
}

/// The validated, normalised event. Text that needs no change is borrowed from the input.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Event<'a> {
    pub event_name: Cow<'a, str>,
    pub event_id: Option<Cow<'a, str>>,
    pub event_time: i64,
    /// The clock the event was parsed with (Unix seconds): platforms with a tighter age limit
    /// than the neutral model's check against it.
    pub parsed_at: i64,
    pub event_source_url: Option<Cow<'a, str>>,
    pub referrer_url: Option<Cow<'a, str>>,
    pub action_source: &'static str,
    pub opt_out: Option<bool>,
    pub limited_data_use: bool,
    /// Normalised match keys, in [`Field::ALL`] order, each with one or more values.
    pub keys: Vec<(Field, KeyValues)>,
    pub client_ip_address: Option<Cow<'a, str>>,
    pub client_user_agent: Option<Cow<'a, str>>,
    pub fbc: Option<Cow<'a, str>>,
    pub fbp: Option<Cow<'a, str>>,
    pub ttclid: Option<Cow<'a, str>>,
    pub ttp: Option<Cow<'a, str>>,
    pub locale: Option<Cow<'a, str>>,
    /// Pinterest's click id (the `epik` URL parameter or `_epik` cookie), sent as given.
    pub click_id: Option<Cow<'a, str>>,
    /// Pinterest's third-party partner id (e.g. RampID), sent as given.
    pub partner_id: Option<Cow<'a, str>>,
    /// GA4's client id (`_ga` cookie value or the id itself), as given.
    pub client_id: Option<Cow<'a, str>>,
    /// GA4's session id (`_ga_<stream>` cookie value or the id itself), as given.
    pub session_id: Option<Cow<'a, str>>,
    /// The city, state and zip as given (trimmed), for platforms whose rules differ from the
    /// shared normalisers (GA4 sends them unhashed, with spaces kept).
    pub city_text: Option<Cow<'a, str>>,
    pub state_text: Option<Cow<'a, str>>,
    pub zip_text: Option<Cow<'a, str>>,
    /// Consent for advertising use of the user's data and for personalised ads (GA4).
    pub consent_ad_user_data: Option<bool>,
    pub consent_ad_personalization: Option<bool>,
    pub value: Option<Number>,
    pub currency: Option<Cow<'a, str>>,
    pub content_ids: Vec<Cow<'a, str>>,
    pub contents: Vec<Content<'a>>,
    pub content_type: Option<Cow<'a, str>>,
    pub content_name: Option<Cow<'a, str>>,
    pub content_category: Option<Cow<'a, str>>,
    pub num_items: Option<i64>,
    pub order_id: Option<Cow<'a, str>>,
    pub search_string: Option<Cow<'a, str>>,
    /// GA4's `engagement_time_msec`, only when the caller gives it.
    pub engagement_time_msec: Option<i64>,
    pub status: Option<Value>,
    /// Custom keys not in the model, passed through (empty values stripped).
    pub extra_custom: Map<String, Value>,
}

fn owned(c: Cow<'_, str>) -> Cow<'static, str> {
    Cow::Owned(c.into_owned())
}

fn owned_opt(c: Option<Cow<'_, str>>) -> Option<Cow<'static, str>> {
    c.map(owned)
}

impl Event<'_> {
    /// The same event owning all its text (for callers that drop the input first).
    pub fn into_owned(self) -> Event<'static> {
        Event {
            event_name: owned(self.event_name),
            event_id: owned_opt(self.event_id),
            event_time: self.event_time,
            parsed_at: self.parsed_at,
            event_source_url: owned_opt(self.event_source_url),
            referrer_url: owned_opt(self.referrer_url),
            action_source: self.action_source,
            opt_out: self.opt_out,
            limited_data_use: self.limited_data_use,
            keys: self.keys,
            client_ip_address: owned_opt(self.client_ip_address),
            client_user_agent: owned_opt(self.client_user_agent),
            fbc: owned_opt(self.fbc),
            fbp: owned_opt(self.fbp),
            ttclid: owned_opt(self.ttclid),
            ttp: owned_opt(self.ttp),
            locale: owned_opt(self.locale),
            click_id: owned_opt(self.click_id),
            partner_id: owned_opt(self.partner_id),
            client_id: owned_opt(self.client_id),
            session_id: owned_opt(self.session_id),
            city_text: owned_opt(self.city_text),
            state_text: owned_opt(self.state_text),
            zip_text: owned_opt(self.zip_text),
            consent_ad_user_data: self.consent_ad_user_data,
            consent_ad_personalization: self.consent_ad_personalization,
            value: self.value,
            currency: owned_opt(self.currency),
            content_ids: self.content_ids.into_iter().map(owned).collect(),
            contents: self
                .contents
                .into_iter()
                .map(|c| Content {
                    id: owned(c.id),
                    quantity: c.quantity,
                    item_price: c.item_price,
                    title: owned_opt(c.title),
                    category: owned_opt(c.category),
                    brand: owned_opt(c.brand),
                })
                .collect(),
            content_type: owned_opt(self.content_type),
            content_name: owned_opt(self.content_name),
            content_category: owned_opt(self.content_category),
            num_items: self.num_items,
            order_id: owned_opt(self.order_id),
            search_string: owned_opt(self.search_string),
            engagement_time_msec: self.engagement_time_msec,
            status: self.status,
            extra_custom: self.extra_custom,
        }
    }
}

/// Whether a JSON value carries nothing worth sending.
pub(crate) fn is_empty(value: &Value) -> bool {
    match value {
        Value::Null => true,
        Value::String(s) => s.trim().is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        Value::Object(o) => o.values().all(is_empty),
        Value::Bool(_) | Value::Number(_) => false,
    }
}

type Entries<'m, 'a> = &'m [(Cow<'a, str>, Input<'a>)];

/// A map's value under one key as given (`None` when the key is absent).
type Slot<'m, 'a> = Option<&'m Input<'a>>;

/// The first value under each of `N` keys of a map, in one pass over its entries: `index` gives
/// a key's slot (a `match`, instead of comparing every key looked up with every entry).
fn slots<'m, 'a, const N: usize>(
    entries: Entries<'m, 'a>,
    index: impl Fn(&str) -> Option<usize>,
) -> [Slot<'m, 'a>; N] {
    let mut found: [Slot<'m, 'a>; N] = [None; N];
    for (key, value) in entries {
        if let Some(slot) = index(key).and_then(|i| found.get_mut(i)) {
            if slot.is_none() {
                *slot = Some(value);
            }
        }
    }
    found
}

/// A slot's value when it carries something (as [`lookup`] gives it).
#[inline(always)]
fn given<'m, 'a>(value: Slot<'m, 'a>) -> Slot<'m, 'a> {
    value.filter(|v| !v.is_empty())
}

/// The event's own keys, by slot (see [`slots`]).
fn event_slot(key: &str) -> Option<usize> {
    Some(match key {
        "event_name" => 0,
        "event_time" => 1,
        "event_id" => 2,
        "event_source_url" => 3,
        "referrer_url" => 4,
        "action_source" => 5,
        "opt_out" => 6,
        "limited_data_use" => 7,
        "consent" => 8,
        "user" => 9,
        "user_data" => 10,
        "custom" => 11,
        "custom_data" => 12,
        _ => return None,
    })
}

/// The custom data keys of the model, by slot (see [`slots`]); any other key is passed through.
fn custom_slot(key: &str) -> Option<usize> {
    Some(match key {
        "value" => 0,
        "currency" => 1,
        "content_ids" => 2,
        "contents" => 3,
        "content_type" => 4,
        "content_name" => 5,
        "content_category" => 6,
        "num_items" => 7,
        "order_id" => 8,
        "search_string" => 9,
        "status" => 10,
        "query" => 11,
        "engagement_time_msec" => 12,
        _ => return None,
    })
}

/// The keys of one item of `contents`, by slot (see [`slots`]).
fn content_slot(key: &str) -> Option<usize> {
    Some(match key {
        "id" => 0,
        "content_id" => 1,
        "item_price" => 2,
        "price" => 3,
        "quantity" => 4,
        "title" => 5,
        "content_name" => 6,
        "category" => 7,
        "content_category" => 8,
        "brand" => 9,
        _ => return None,
    })
}

/// A string field: strings are trimmed (and borrowed), numbers are written out, anything else
/// is an error.
#[inline(always)]
fn opt_string<'m>(
    value: Slot<'m, '_>,
    field: &str,
) -> Result<Option<Cow<'m, str>>, ValidationError> {
    match given(value) {
        None => Ok(None),
        Some(v) => text_of(v)
            .map(Some)
            .ok_or_else(|| ValidationError::new(field, "must be a string")),
    }
}

/// The trimmed text of a string or number input, borrowed when it can be.
#[inline(always)]
fn text_of<'m>(value: &'m Input<'_>) -> Option<Cow<'m, str>> {
    Some(match scalar_text(value)? {
        Cow::Borrowed(s) => Cow::Borrowed(trim(s)),
        Cow::Owned(s) => Cow::Owned(trim(&s).to_string()),
    })
}

/// The text of a string or number input (numbers written out as JSON would).
#[inline(always)]
fn scalar_text<'v>(value: &'v Input<'_>) -> Option<Cow<'v, str>> {
    match value {
        Input::Str(s) => Some(Cow::Borrowed(s.as_ref())),
        Input::Int(i) => Some(Cow::Owned(i.to_string())),
        Input::Float(f) => Number::from_f64(*f).map(|n| Cow::Owned(n.to_string())),
        _ => None,
    }
}

/// A number field: numbers, or strings holding a finite decimal number.
#[inline(always)]
fn opt_number(value: Slot<'_, '_>, field: &str) -> Result<Option<Number>, ValidationError> {
    match given(value) {
        None => Ok(None),
        Some(Input::Int(i)) => Ok(Some(Number::from(*i))),
        Some(Input::Float(f)) => Number::from_f64(*f)
            .map(Some)
            .ok_or_else(|| ValidationError::new(field, "must be a finite number")),
        Some(Input::Str(s)) => {
            let s = trim(s);
            let parsed = if let Ok(i) = s.parse::<i64>() {
                Some(Number::from(i))
            } else {
                s.parse::<f64>()
                    .ok()
                    .filter(|f| f.is_finite())
                    .and_then(Number::from_f64)
            };
            parsed
                .filter(|_| {
                    s.bytes()
                        .all(|b| b.is_ascii_digit() || b == b'.' || b == b'-' || b == b'+')
                })
                .map(Some)
                .ok_or_else(|| ValidationError::new(field, format!("not a number: {s:?}")))
        }
        Some(_) => Err(ValidationError::new(field, "must be a number")),
    }
}

#[inline(always)]
fn opt_bool(value: Slot<'_, '_>, field: &str) -> Result<Option<bool>, ValidationError> {
    match given(value) {
        None => Ok(None),
        Some(Input::Bool(b)) => Ok(Some(*b)),
        Some(Input::Int(i)) if *i == 0 || *i == 1 => Ok(Some(*i == 1)),
        Some(_) => Err(ValidationError::new(field, "must be true or false")),
    }
}

#[inline(always)]
fn as_object<'m, 'a>(
    value: Option<&'m Input<'a>>,
    field: &str,
) -> Result<Option<Entries<'m, 'a>>, ValidationError> {
    match value {
        None | Some(Input::Null) => Ok(None),
        Some(Input::Map(o)) => Ok(Some(o)),
        Some(_) => Err(ValidationError::new(field, "must be an object")),
    }
}

fn http_url<'m>(value: Slot<'m, '_>, key: &str) -> Result<Option<Cow<'m, str>>, ValidationError> {
    let url = opt_string(value, key)?;
    if let Some(u) = &url {
        let starts = |scheme: &str| {
            u.as_bytes()
                .get(..scheme.len())
                .is_some_and(|p| p.eq_ignore_ascii_case(scheme.as_bytes()))
        };
        // ASCII URLs (the usual) are scanned byte by byte; others char by char.
        let spaced = if u.is_ascii() {
            u.bytes().any(|b| b.is_ascii_whitespace() || b == 0x0b)
        } else {
            u.contains(char::is_whitespace)
        };
        if !(starts("http://") || starts("https://")) || spaced {
            return Err(ValidationError::new(
                key,
                "must be an http:// or https:// URL",
            ));
        }
    }
    Ok(url)
}

/// The user keys that are not match keys, with their accepted aliases.
const PLAIN_USER_KEYS: [(&str, &[&str]); 11] = [
    ("client_ip_address", &["client_ip_address", "ip"]),
    ("client_user_agent", &["client_user_agent", "user_agent"]),
    ("fbc", &["fbc"]),
    ("fbp", &["fbp"]),
    ("ttclid", &["ttclid"]),
    ("ttp", &["ttp"]),
    ("locale", &["locale"]),
    ("click_id", &["click_id", "epik"]),
    ("partner_id", &["partner_id"]),
    ("client_id", &["client_id", "ga"]),
    ("session_id", &["session_id"]),
];

/// The slot in [`PLAIN_USER_KEYS`] of a user key and its alias rank (0 wins over 1).
#[cfg(test)]
fn plain_user_slot(key: &str) -> Option<(usize, usize)> {
    PLAIN_USER_KEYS
        .iter()
        .enumerate()
        .find_map(|(slot, (_, aliases))| {
            aliases
                .iter()
                .position(|a| *a == key)
                .map(|rank| (slot, rank))
        })
}

/// What a user key is: a plain key (its slot in [`PLAIN_USER_KEYS`] and alias rank), a match
/// key (its index in [`Field::ALL`]; 0 = neutral name, 1 = Meta key) or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum UserKey {
    Plain(usize, usize),
    Field(usize, usize),
    Other,
}

/// [`UserKey`] of a key in one `match` (the tables above, checked by a test), instead of
/// comparing the key with thirty names.
fn user_key(key: &str) -> UserKey {
    use UserKey::{Field as F, Other, Plain as P};
    match key {
        "client_ip_address" => P(0, 0),
        "ip" => P(0, 1),
        "client_user_agent" => P(1, 0),
        "user_agent" => P(1, 1),
        "fbc" => P(2, 0),
        "fbp" => P(3, 0),
        "ttclid" => P(4, 0),
        "ttp" => P(5, 0),
        "locale" => P(6, 0),
        "click_id" => P(7, 0),
        "epik" => P(7, 1),
        "partner_id" => P(8, 0),
        "client_id" => P(9, 0),
        "ga" => P(9, 1),
        "session_id" => P(10, 0),
        "email" => F(0, 0),
        "em" => F(0, 1),
        "phone" => F(1, 0),
        "ph" => F(1, 1),
        "first_name" => F(2, 0),
        "fn" => F(2, 1),
        "last_name" => F(3, 0),
        "ln" => F(3, 1),
        "gender" => F(4, 0),
        "ge" => F(4, 1),
        "date_of_birth" => F(5, 0),
        "db" => F(5, 1),
        "city" => F(6, 0),
        "ct" => F(6, 1),
        "state" => F(7, 0),
        "st" => F(7, 1),
        "zip" => F(8, 0),
        "zp" => F(8, 1),
        "country" => F(9, 0),
        "external_id" => F(10, 0),
        _ => Other,
    }
}

/// A consent flag: true/false, 1/0, or Google's `GRANTED`/`DENIED`.
fn consent_flag(consent: Entries<'_, '_>, key: &str) -> Result<Option<bool>, ValidationError> {
    let field = || format!("consent.{key}");
    match lookup(consent, key) {
        None => Ok(None),
        Some(Input::Bool(b)) => Ok(Some(*b)),
        Some(Input::Int(i)) if *i == 0 || *i == 1 => Ok(Some(*i == 1)),
        Some(Input::Str(s)) if trim(s).eq_ignore_ascii_case("granted") => Ok(Some(true)),
        Some(Input::Str(s)) if trim(s).eq_ignore_ascii_case("denied") => Ok(Some(false)),
        Some(_) => Err(ValidationError::new(
            field(),
            "must be true, false, GRANTED or DENIED",
        )),
    }
}

/// Calls `f` with every non-empty raw value of a match key given under its neutral name and
/// its Meta key (a string, a number, or a list of those), in that order.
fn for_each_raw(
    field: Field,
    slots: &[Option<&Input<'_>>; 2],
    mut f: impl FnMut(&str) -> Result<(), ValidationError>,
) -> Result<(), ValidationError> {
    let bad = || ValidationError::new(field.name(), "must be a string or a list of strings");
    for value in slots.iter().flatten().filter(|v| !v.is_empty()) {
        match value {
            Input::List(items) => {
                for item in items.iter().filter(|v| !v.is_empty()) {
                    f(&scalar_text(item).ok_or_else(bad)?)?;
                }
            }
            single => f(&scalar_text(single).ok_or_else(bad)?)?,
        }
    }
    Ok(())
}

impl<'m> Event<'m> {
    /// Validates and normalises one neutral event. Text that needs no change is borrowed from
    /// `value`.
    pub fn parse(value: &'m Input<'_>, opts: &BuildOptions) -> Result<Event<'m>, ValidationError> {
        let obj = value
            .as_map()
            .ok_or_else(|| ValidationError::new("", "an event must be an object"))?;
        let [name, time, id, source_url, referrer, source, opt_out, limited, consent, user, user_data, custom, custom_data] =
            slots::<13>(obj, event_slot);
        let event_name = match given(name) {
            Some(Input::Str(s)) => Cow::Borrowed(canonical_event_name(trim(s))),
            Some(_) => return Err(ValidationError::new("event_name", "must be a string")),
            None => return Err(ValidationError::new("event_name", "is required")),
        };
        let now = opts.now();
        let event_time = match given(time) {
            None => now,
            Some(Input::Int(i)) => *i,
            Some(Input::Float(f)) if f.is_finite() => *f as i64,
            Some(Input::Str(s)) => s
                .trim()
                .parse::<i64>()
                .map_err(|_| ValidationError::new("event_time", "must be Unix seconds"))?,
            Some(_) => return Err(ValidationError::new("event_time", "must be Unix seconds")),
        };
        if event_time > 100_000_000_000 {
            return Err(ValidationError::new(
                "event_time",
                "looks like milliseconds; give Unix seconds",
            ));
        }
        if now.saturating_sub(event_time) > MAX_EVENT_AGE {
            return Err(ValidationError::new(
                "event_time",
                "is older than 7 days (Meta rejects a whole batch holding such an event)",
            ));
        }
        // Client clocks run ahead: a future time is clamped to now rather than rejected.
        let event_time = event_time.min(now);
        let action_source = match opt_string(source, "action_source")? {
            None => "website",
            Some(s) if ACTION_SOURCES.contains(&s.as_ref()) => ACTION_SOURCES
                .iter()
                .copied()
                .find(|a| *a == s.as_ref())
                .unwrap_or("website"),
            Some(_) => {
                return Err(ValidationError::new(
                    "action_source",
                    format!("must be one of {}", ACTION_SOURCES.join(", ")),
                ))
            }
        };
        let mut event = Event {
            event_name,
            event_id: opt_string(id, "event_id")?,
            event_time,
            parsed_at: now,
            event_source_url: http_url(source_url, "event_source_url")?,
            referrer_url: http_url(referrer, "referrer_url")?,
            action_source,
            opt_out: opt_bool(opt_out, "opt_out")?,
            limited_data_use: opt_bool(limited, "limited_data_use")?.unwrap_or(false),
            ..Event::default()
        };
        if let Some(consent) = as_object(consent, "consent")? {
            event.consent_ad_user_data = consent_flag(consent, "ad_user_data")?;
            event.consent_ad_personalization = consent_flag(consent, "ad_personalization")?;
        }
        if let Some(user) = as_object(user.or(user_data), "user")? {
            event.parse_user(user, opts).map_err(|e| e.within("user"))?;
        }
        if let Some(custom) = as_object(custom.or(custom_data), "custom")? {
            event.parse_custom(custom).map_err(|e| e.within("custom"))?;
        }
        if event.event_name == "Purchase" {
            if event.value.is_none() {
                return Err(ValidationError::new(
                    "custom.value",
                    "is required for Purchase",
                ));
            }
            if event.currency.is_none() {
                return Err(ValidationError::new(
                    "custom.currency",
                    "is required for Purchase",
                ));
            }
        }
        Ok(event)
    }

    fn parse_user(
        &mut self,
        user: Entries<'m, '_>,
        opts: &BuildOptions,
    ) -> Result<(), ValidationError> {
        // One pass over the user object: every entry goes to its slot. A match key may come under
        // its neutral name and its Meta key (both are used); a plain key under its first alias.
        let mut plain: [Option<(usize, &'m Input<'_>)>; 11] = [None; 11];
        let mut raw: [[Option<&'m Input<'_>>; 2]; 11] = [[None; 2]; 11];
        for (key, value) in user {
            match user_key(key) {
                UserKey::Plain(slot, rank) => {
                    if !value.is_empty() && plain[slot].map_or(true, |(held, _)| rank < held) {
                        plain[slot] = Some((rank, value));
                    }
                }
                UserKey::Field(i, which) => raw[i][which] = Some(value),
                UserKey::Other => {}
            }
        }
        for (slot, found) in plain.iter().enumerate() {
            let (name, _) = PLAIN_USER_KEYS[slot];
            let text = match found {
                None => None,
                Some((_, v)) => {
                    Some(text_of(v).ok_or_else(|| ValidationError::new(name, "must be a string"))?)
                }
            };
            *match slot {
                0 => &mut self.client_ip_address,
                1 => &mut self.client_user_agent,
                2 => &mut self.fbc,
                3 => &mut self.fbp,
                4 => &mut self.ttclid,
                5 => &mut self.ttp,
                6 => &mut self.locale,
                7 => &mut self.click_id,
                8 => &mut self.partner_id,
                9 => &mut self.client_id,
                _ => &mut self.session_id,
            } = text;
        }
        // The address as given, for the platforms that normalise it their own way.
        let first_text = |slots: &[Option<&'m Input<'_>>; 2]| -> Option<Cow<'m, str>> {
            let value = slots.iter().flatten().find(|v| !v.is_empty())?;
            let single = match value {
                Input::List(items) => items.iter().find(|v| !v.is_empty())?,
                other => other,
            };
            text_of(single).filter(|t| !is_sha256_hex(t))
        };
        self.city_text = first_text(&raw[6]);
        self.state_text = first_text(&raw[7]);
        self.zip_text = first_text(&raw[8]);
        if let Some(ip) = &self.client_ip_address {
            if ip.parse::<std::net::IpAddr>().is_err() {
                if opts.strict {
                    return Err(ValidationError::new(
                        "client_ip_address",
                        "not an IPv4 or IPv6 address",
                    ));
                }
                self.client_ip_address = None;
            }
        }
        // The country first: it is the region for national phone numbers and picks state/zip rules.
        let country_index = Field::ALL.len() - 2;
        debug_assert_eq!(Field::ALL[country_index], Field::Country);
        let mut country_code = None;
        for_each_raw(Field::Country, &raw[country_index], |c| {
            if country_code.is_none() && !is_sha256_hex(trim(c)) {
                country_code = geo::country_code(c);
            }
            Ok(())
        })?;
        self.keys.reserve(Field::ALL.len());
        for (i, field) in Field::ALL.into_iter().enumerate() {
            if raw[i].iter().all(Option::is_none) {
                continue;
            }
            // Filled where it is kept (not built aside and moved in), dropped again if empty.
            self.keys.push((field, KeyValues::new()));
            let Some((_, keys)) = self.keys.last_mut() else {
                continue;
            };
            let filled = for_each_raw(field, &raw[i], |raw| {
                let trimmed = trim(raw);
                let key = if is_sha256_hex(trimmed) {
                    MatchKey::Hashed(trimmed.to_ascii_lowercase())
                } else {
                    match normalize_field(field, trimmed, country_code) {
                        Ok(v) => MatchKey::Plain(v),
                        Err(e) if opts.strict => return Err(e),
                        Err(_) => return Ok(()),
                    }
                };
                if !keys.contains(&key) {
                    keys.push(key);
                }
                Ok(())
            });
            if self.keys.last().is_some_and(|(_, keys)| keys.is_empty()) {
                self.keys.pop();
            }
            filled?;
        }
        Ok(())
    }

    fn parse_custom(&mut self, custom: Entries<'m, '_>) -> Result<(), ValidationError> {
        let found = slots::<13>(custom, custom_slot);
        // Every entry a key of the model: no extras to look for below.
        let all_known = found.iter().flatten().count() == custom.len();
        let [value, currency, content_ids, contents, content_type, content_name, content_category, num_items, order_id, search_string, status, query, engagement_time_msec] =
            found;
        self.value = opt_number(value, "value")?;
        self.currency = match opt_string(currency, "currency")? {
            None => None,
            Some(c) => {
                let upper = if c.bytes().any(|b| b.is_ascii_lowercase()) {
                    Cow::Owned(c.to_ascii_uppercase())
                } else {
                    c
                };
                if !geo::is_currency(&upper) {
                    return Err(ValidationError::new(
                        "currency",
                        format!("{upper:?} is not an ISO 4217 currency code"),
                    ));
                }
                Some(upper)
            }
        };
        if let Some(ids) = given(content_ids) {
            let items = match ids {
                Input::List(items) => items.as_slice(),
                single => std::slice::from_ref(single),
            };
            for item in items.iter().filter(|v| !v.is_empty()) {
                match text_of(item) {
                    Some(t) => self.content_ids.push(t),
                    None => {
                        return Err(ValidationError::new(
                            "content_ids",
                            "must be a list of strings",
                        ))
                    }
                }
            }
        }
        if let Some(contents) = given(contents) {
            let Input::List(items) = contents else {
                return Err(ValidationError::new(
                    "contents",
                    "must be a list of objects",
                ));
            };
            self.contents.reserve(items.len());
            for (i, item) in items.iter().enumerate().filter(|(_, v)| !v.is_empty()) {
                // The item's position is only formatted into an error, never on success.
                let at = |e: ValidationError| e.within(&format!("contents[{i}]"));
                let obj = item
                    .as_map()
                    .ok_or_else(|| at(ValidationError::new("", "must be an object")))?;
                let [id, content_id, item_price, price, quantity, title, name, category, content_category, brand] =
                    slots::<10>(obj, content_slot);
                let either = |a: Slot<'m, '_>,
                              b: Slot<'m, '_>,
                              field: &str|
                 -> Result<Option<Cow<'m, str>>, ValidationError> {
                    Ok(opt_string(a, field)?.or(opt_string(b, field)?))
                };
                let id = either(id, content_id, "id")
                    .map_err(at)?
                    .ok_or_else(|| at(ValidationError::new("id", "is required")))?;
                let item_price = match opt_number(item_price, "item_price").map_err(at)? {
                    Some(p) => Some(p),
                    None => opt_number(price, "item_price").map_err(at)?,
                };
                self.contents.push(Content {
                    id,
                    quantity: opt_number(quantity, "quantity").map_err(at)?,
                    item_price,
                    title: either(title, name, "title").map_err(at)?,
                    category: either(category, content_category, "category").map_err(at)?,
                    brand: opt_string(brand, "brand").map_err(at)?,
                });
            }
        }
        self.content_type = opt_string(content_type, "content_type")?;
        if let Some(t) = &self.content_type {
            if t != "product" && t != "product_group" {
                return Err(ValidationError::new(
                    "content_type",
                    "must be product or product_group",
                ));
            }
        }
        self.content_name = opt_string(content_name, "content_name")?;
        self.content_category = opt_string(content_category, "content_category")?;
        self.num_items = match opt_number(num_items, "num_items")? {
            None => None,
            Some(n) => Some(
                n.as_i64()
                    .ok_or_else(|| ValidationError::new("num_items", "must be a whole number"))?,
            ),
        };
        self.order_id = opt_string(order_id, "order_id")?;
        self.search_string = opt_string(search_string, "search_string")?;
        self.engagement_time_msec = match opt_number(engagement_time_msec, "engagement_time_msec")?
        {
            None => None,
            Some(n) => Some(n.as_i64().filter(|v| *v >= 0).ok_or_else(|| {
                ValidationError::new(
                    "engagement_time_msec",
                    "must be a whole number of milliseconds",
                )
            })?),
        };
        self.status = given(status).map(Input::to_value);
        if self.search_string.is_none() {
            self.search_string = opt_string(query, "search_string")?;
        }
        for (k, v) in custom.iter().filter(|_| !all_known) {
            if custom_slot(k).is_none() && !v.is_empty() {
                self.extra_custom.insert(k.to_string(), v.to_value());
            }
        }
        Ok(())
    }

    /// The values of one match key, if any.
    pub fn key(&self, field: Field) -> Option<&[MatchKey]> {
        self.keys
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, v)| v.as_slice())
    }
}

/// Parses a whole batch, checking its size and naming the failing event in errors.
pub fn parse_events(
    events: &[Value],
    opts: &BuildOptions,
) -> Result<Vec<Event<'static>>, ValidationError> {
    let inputs: Vec<Input<'_>> = events.iter().map(Input::from).collect();
    Ok(parse_inputs(&inputs, opts)?
        .into_iter()
        .map(Event::into_owned)
        .collect())
}

/// [`parse_events`] for events already in the [`Input`] shape (the Python bindings' path).
pub fn parse_inputs<'m>(
    events: &'m [Input<'_>],
    opts: &BuildOptions,
) -> Result<Vec<Event<'m>>, ValidationError> {
    if events.is_empty() {
        return Err(ValidationError::new(
            "events",
            "at least one event is required",
        ));
    }
    if events.len() > MAX_EVENTS {
        return Err(ValidationError::new(
            "events",
            format!(
                "{} events: a request carries at most {MAX_EVENTS} (the senders split larger sends)",
                events.len()
            ),
        ));
    }
    events
        .iter()
        .enumerate()
        .map(|(i, e)| Event::parse(e, opts).map_err(|err| err.within(&format!("events[{i}]"))))
        .collect()
}

/// Removes empty strings, nulls, empty lists and empty objects, recursively.
pub(crate) fn strip_empty(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for v in map.values_mut() {
                strip_empty(v);
            }
            map.retain(|_, v| !is_empty(v));
        }
        Value::Array(items) => {
            for v in items.iter_mut() {
                strip_empty(v);
            }
            items.retain(|v| !is_empty(v));
        }
        _ => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_need_an_http_scheme_and_no_whitespace() {
        let url = |u: &str| {
            let entries = vec![(Cow::Borrowed("u"), Input::Str(Cow::Owned(u.to_string())))];
            let [slot] = slots::<1>(&entries, |k| (k == "u").then_some(0));
            http_url(slot, "event_source_url").map(|v| v.map(|c| c.into_owned()))
        };
        for ok in [
            "https://shop.example.com/p?x=1",
            "HTTP://A.B",
            " http://é.fr/ü ",
        ] {
            assert!(matches!(url(ok), Ok(Some(_))), "{ok:?}");
        }
        for bad in [
            "ftp://a.b",
            "https:/a.b",
            "https://a.b/x y",
            "https://a.b/x\u{b}y",
            "https://a.b/x\ty",
            "https://é.fr/\u{a0}x",
            "https://é.fr/\u{2003}x",
            "shop.example.com",
        ] {
            assert!(url(bad).is_err(), "{bad:?}");
        }
        assert!(matches!(url("  "), Ok(None)));
    }

    #[test]
    fn user_key_agrees_with_the_tables() {
        for (slot, (_, aliases)) in PLAIN_USER_KEYS.iter().enumerate() {
            for (rank, alias) in aliases.iter().enumerate() {
                assert_eq!(user_key(alias), UserKey::Plain(slot, rank), "{alias}");
                assert_eq!(plain_user_slot(alias), Some((slot, rank)));
            }
        }
        for (i, field) in Field::ALL.iter().enumerate() {
            assert_eq!(
                user_key(field.name()),
                UserKey::Field(i, 0),
                "{}",
                field.name()
            );
            if field.meta_key() != field.name() {
                assert_eq!(user_key(field.meta_key()), UserKey::Field(i, 1));
            }
        }
        assert_eq!(user_key("phone_number"), UserKey::Other);
        assert_eq!(user_key("Email"), UserKey::Other);
    }
}
