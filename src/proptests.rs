//! Property tests of the core: every normaliser, and the builders over arbitrary input events.
//!
//! What must hold for any input (unicode, huge strings, deep nesting, NaN, wrong types): no
//! panic; either a value or a `ValidationError` naming the field; normalising a normalised
//! value gives it back (the spec's rules are all projections); a payload holds no empty value,
//! no duplicate key, and only SHA-256 digests for the hashed match keys.
//!
//! Cases per property: `PROPTEST_CASES` (read by proptest), else [`CI_CASES`]. The soak run
//! (`scripts/soak_properties.sh`) sets 100,000.

use crate::error::ValidationError;
use crate::event::{parse_inputs, BuildOptions, Event};
use crate::ga4::{self, ga4_body, ga4_event_name};
use crate::geo;
use crate::input::Input;
use crate::meta::{build_meta_payload, meta_body};
use crate::normalize::{hash_value, is_sha256_hex, normalize, today, Field};
use crate::out::Out;
use crate::pinterest::{pinterest_body, pinterest_event_name};
use crate::platform::Request;
use crate::tiktok::{build_tiktok_payload, tiktok_body, tiktok_event_name};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use serde_json::{Map, Number, Value};
use std::borrow::Cow;

/// Cases per property when `PROPTEST_CASES` is not set: enough to catch a regression in CI,
/// few enough that `cargo test` stays a matter of seconds.
const CI_CASES: u32 = 96;

/// "Now" for the builders, pinned so that generated event times are reproducible.
const NOW: i64 = 1_790_000_000;

const PIXEL: &str = "CPROPTESTPIXEL";

fn config() -> ProptestConfig {
    let mut config = ProptestConfig::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CI_CASES;
    }
    config
}

// ---------------------------------------------------------------------------------------------
// Strategies
// ---------------------------------------------------------------------------------------------

/// Text of any kind: any Unicode scalar values (controls, combining marks, private use), printable
/// runs with padding, look-alike digests, and now and then a huge string.
fn messy_text() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => any::<String>(),
        4 => "\\PC{0,40}",
        2 => "[ \t\u{a0}\u{3000}]{0,3}[\\p{L}\\p{M}\\p{N}\\p{P}\\p{S}\\p{Z}]{0,30}[ \t\n]{0,3}",
        1 => "[0-9a-fA-F]{63,65}",
        1 => (any::<char>(), 1_000usize..40_000).prop_map(|(c, n)| std::iter::repeat(c).take(n).collect()),
        1 => ("\\PC{1,8}", 500usize..5_000).prop_map(|(s, n)| s.repeat(n)),
    ]
}

fn padded(inner: impl Strategy<Value = String>) -> impl Strategy<Value = String> {
    ("[ \t\u{a0}]{0,2}", inner, "[ \t\n]{0,2}").prop_map(|(a, b, c)| format!("{a}{b}{c}"))
}

fn one_of_cased(words: &'static [&'static str]) -> impl Strategy<Value = String> {
    (prop::sample::select(words), 0u8..3).prop_map(|(w, case)| match case {
        0 => w.to_string(),
        1 => w.to_uppercase(),
        _ => {
            let mut chars = w.chars();
            chars.next().map_or_else(String::new, |c| {
                c.to_uppercase().chain(chars).collect::<String>()
            })
        }
    })
}

const GENDERS: &[&str] = &[
    "f",
    "m",
    "female",
    "male",
    "woman",
    "man",
    "w",
    "girl",
    "boy",
    "femme",
    "homme",
    "frau",
    "mann",
    "mujer",
    "hombre",
    "féminin",
    "masculin",
    "weiblich",
    "männlich",
    "x",
    "other",
];
const STATES: &[&str] = &[
    "ca",
    "california",
    "new york",
    "ny",
    "new-york",
    "North Carolina",
    "nc",
    "Québec",
    "qc",
    "Ontario",
    "on",
    "british columbia",
    "Île-de-France",
    "Bayern",
    "District of Columbia",
    "puerto rico",
    "pr",
    "Texas",
    "tx",
    "wa",
    "washington",
    "Atlantis",
    "n.y.",
    "c a",
];
const COUNTRY_VALUES: &[&str] = &[
    "us",
    "US",
    "usa",
    "United States",
    "united states of america",
    "fr",
    "FRA",
    "France",
    "gb",
    "GBR",
    "United Kingdom",
    "uk",
    "de",
    "Germany",
    "DEU",
    "ca",
    "Canada",
    "jp",
    "Japan",
    "in",
    "India",
    "br",
    "Brazil",
    "cn",
    "China",
    "Côte d'Ivoire",
    "ci",
    "xk",
    "Narnia",
    "zz",
];
/// The `country` argument (region of national phones, US/CA rules for state and zip).
const COUNTRY_ARGS: &[&str] = &[
    "US",
    "us",
    "CA",
    "FR",
    "GB",
    "DE",
    "JP",
    "IN",
    "BR",
    "AU",
    "CN",
    "RU",
    "IT",
    "ES",
    "MX",
    "SH",
    "VA",
    "AQ",
    "United States",
    "usa",
    "Canada",
    "France",
    "xx",
    "Narnia",
];

/// Values shaped like each field's real inputs, with noise: they reach the rules that random
/// text never gets past (a valid-looking phone, a date, a state name).
fn shaped(field: Field) -> BoxedStrategy<String> {
    match field {
        Field::Email => prop_oneof![
            padded("[A-Za-z0-9._%+'-]{1,12}@[A-Za-z0-9-]{1,10}(\\.[A-Za-z]{2,6}){1,2}"),
            padded("\\PC{1,6}@\\PC{1,6}\\.\\PC{1,4}"),
            "[a-z@. ]{0,12}",
        ]
        .boxed(),
        Field::Phone => prop_oneof![
            padded("(\\+|00)?[0-9 .()/-]{3,22}"),
            "\\+[1-9][0-9]{5,15}",
            "0[1-9]( ?[0-9]{2}){4}",
            "\\(?[2-9][0-9]{2}\\)?[ .-]?[0-9]{3}[ .-]?[0-9]{4}",
            "(\\+|00)[0-9]{1,3} ?\\(0\\)[0-9 ]{6,12}",
            "[0-9+]{1,20}[a-z#*x]{0,3}[0-9]{0,4}",
        ]
        .boxed(),
        Field::FirstName | Field::LastName | Field::City => prop_oneof![
            padded("[\\p{L}\\p{M} '.,-]{0,24}"),
            padded("[A-Za-z]{1,10}( [A-Za-z]{1,10}){0,2}"),
        ]
        .boxed(),
        Field::Gender => padded(one_of_cased(GENDERS)).boxed(),
        Field::DateOfBirth => prop_oneof![
            padded("[0-9]{1,4}[-/.][0-9]{1,2}[-/.][0-9]{1,4}"),
            "(18|19|20|21)[0-9]{2}-[01][0-9]-[0-3][0-9]([T ][0-9]{2}:[0-9]{2}:[0-9]{2}(Z|[+-][0-9]{2}:[0-9]{2})?)?",
            "[0-9]{8}",
            "[01]?[0-9]/[0-3]?[0-9]/(19|20)[0-9]{2}",
            "[0-3][0-9]\\.[01][0-9]\\.(19|20)[0-9]{2}",
        ]
        .boxed(),
        Field::State => prop_oneof![padded(one_of_cased(STATES)), "[A-Za-z0-9 .-]{1,12}"].boxed(),
        Field::Zip => prop_oneof![
            padded("[0-9]{5}(-[0-9]{4})?"),
            padded("[A-Za-z0-9 -]{1,10}"),
            "[0-9]{1,9}",
        ]
        .boxed(),
        Field::Country => prop_oneof![padded(one_of_cased(COUNTRY_VALUES)), "[A-Za-z]{2,3}"].boxed(),
        Field::ExternalId => prop_oneof![padded("[A-Za-z0-9_-]{1,20}"), "[0-9]{1,20}"].boxed(),
    }
}

fn value_for(field: Field) -> impl Strategy<Value = String> {
    prop_oneof![1 => messy_text(), 2 => shaped(field)]
}

fn country_arg() -> impl Strategy<Value = Option<String>> {
    prop_oneof![
        2 => Just(None),
        4 => prop::sample::select(COUNTRY_ARGS).prop_map(|c| Some(c.to_string())),
        1 => "\\PC{0,6}".prop_map(Some),
    ]
}

/// Every key the event model reads, at any level, so generated maps hit the parsing code.
const KEYS: &[&str] = &[
    "event_name",
    "event_id",
    "event_time",
    "event_source_url",
    "referrer_url",
    "action_source",
    "opt_out",
    "limited_data_use",
    "user",
    "user_data",
    "custom",
    "custom_data",
    "email",
    "em",
    "phone",
    "ph",
    "phone_number",
    "first_name",
    "fn",
    "last_name",
    "ln",
    "gender",
    "ge",
    "date_of_birth",
    "db",
    "city",
    "ct",
    "state",
    "st",
    "zip",
    "zp",
    "country",
    "external_id",
    "client_ip_address",
    "ip",
    "client_user_agent",
    "user_agent",
    "fbc",
    "fbp",
    "ttclid",
    "ttp",
    "locale",
    "value",
    "currency",
    "content_ids",
    "contents",
    "content_type",
    "content_name",
    "content_category",
    "num_items",
    "order_id",
    "search_string",
    "status",
    "query",
    "id",
    "content_id",
    "quantity",
    "item_price",
    "price",
    "title",
    "category",
    "brand",
];

fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        3 => prop::sample::select(KEYS).prop_map(str::to_string),
        1 => "\\PC{0,12}",
    ]
}

fn float() -> impl Strategy<Value = f64> {
    prop_oneof![
        4 => any::<f64>(),
        1 => prop::sample::select(vec![
            f64::NAN, -f64::NAN, f64::INFINITY, f64::NEG_INFINITY, -0.0, f64::MIN_POSITIVE,
            f64::MAX, f64::MIN, 1e-320, 9.007_199_254_740_993e15, 1.790_000_000e9,
        ]),
    ]
}

fn leaf() -> impl Strategy<Value = Input<'static>> {
    prop_oneof![
        1 => Just(Input::Null),
        1 => any::<bool>().prop_map(Input::Bool),
        2 => prop_oneof![
            any::<i64>(),
            Just(i64::MIN),
            Just(i64::MAX),
            (NOW - 9 * 86_400)..(NOW + 86_400),
            -3i64..3,
        ]
        .prop_map(Input::Int),
        2 => float().prop_map(Input::Float),
        4 => messy_text().prop_map(|s| Input::Str(Cow::Owned(s))),
        2 => prop_oneof![
            Just("Purchase".to_string()),
            Just("https://shop.example.com/p?x=1".to_string()),
            Just("EUR".to_string()),
            Just("website".to_string()),
            Just("Mozilla/5.0".to_string()),
            Just("203.0.113.5".to_string()),
            Just("fb.1.1700000000000.abc".to_string()),
            "[0-9]{1,12}(\\.[0-9]{1,4})?",
            shaped(Field::Phone),
            shaped(Field::Email),
        ]
        .prop_map(|s| Input::Str(Cow::Owned(s))),
    ]
}

/// Any input tree: scalars of every type under lists and maps, up to 8 levels deep.
fn input_tree() -> impl Strategy<Value = Input<'static>> {
    leaf().prop_recursive(8, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Input::List),
            prop::collection::vec((key(), inner), 0..8).prop_map(|entries| {
                Input::Map(
                    entries
                        .into_iter()
                        .map(|(k, v)| (Cow::Owned(k), v))
                        .collect(),
                )
            }),
        ]
    })
}

fn text_input(s: impl Strategy<Value = String>) -> impl Strategy<Value = Input<'static>> {
    s.prop_map(|s| Input::Str(Cow::Owned(s)))
}

fn map_input(entries: Vec<(&'static str, Option<Input<'static>>)>) -> Input<'static> {
    Input::Map(
        entries
            .into_iter()
            .filter_map(|(k, v)| v.map(|v| (Cow::Borrowed(k), v)))
            .collect(),
    )
}

/// A user object: every match key under its neutral or Meta name, plausible or arbitrary.
fn user_input() -> impl Strategy<Value = Input<'static>> {
    let match_keys = prop::collection::vec(
        (prop::sample::select(Field::ALL.to_vec()), any::<bool>())
            .prop_flat_map(|(field, meta)| {
                let name = if meta { field.meta_key() } else { field.name() };
                let value = prop_oneof![
                    3 => text_input(shaped(field)),
                    1 => prop::collection::vec(text_input(shaped(field)), 0..3).prop_map(Input::List),
                    1 => input_tree(),
                ];
                (Just(name), value)
            }),
        0..8,
    );
    let plain = prop::collection::vec(
        (
            prop::sample::select(vec![
                "client_ip_address",
                "ip",
                "client_user_agent",
                "user_agent",
                "fbc",
                "fbp",
                "ttclid",
                "ttp",
                "locale",
            ]),
            prop_oneof![
                text_input(prop_oneof![
                    Just("203.0.113.5".to_string()),
                    Just("2001:db8::1".to_string()),
                    Just("Mozilla/5.0 (X11)".to_string()),
                    "fb\\.1\\.[0-9]{13}\\.[A-Za-z0-9_-]{1,12}",
                ]),
                input_tree(),
            ],
        ),
        0..5,
    );
    (match_keys, plain).prop_map(|(keys, plain)| {
        Input::Map(
            keys.into_iter()
                .chain(plain)
                .map(|(k, v)| (Cow::Borrowed(k), v))
                .collect(),
        )
    })
}

fn number_input() -> impl Strategy<Value = Input<'static>> {
    prop_oneof![
        3 => (0u32..100_000).prop_map(|c| Input::Float(f64::from(c) / 100.0)),
        1 => float().prop_map(Input::Float),
        1 => any::<i64>().prop_map(Input::Int),
        1 => text_input("-?[0-9]{1,8}(\\.[0-9]{1,3})?|1e5|NaN|inf|0x10|\\PC{0,5}"),
        1 => input_tree(),
    ]
}

fn content_input() -> impl Strategy<Value = Input<'static>> {
    (
        prop::option::of(prop_oneof![text_input("[A-Z0-9-]{1,8}"), input_tree()]),
        prop::option::of(number_input()),
        prop::option::of(number_input()),
        prop::option::of(text_input(messy_text())),
        prop::option::weighted(0.2, input_tree()),
    )
        .prop_map(|(id, quantity, price, title, brand)| {
            map_input(vec![
                ("id", id),
                ("quantity", quantity),
                ("item_price", price),
                ("title", title),
                ("brand", brand),
            ])
        })
}

fn custom_input() -> impl Strategy<Value = Input<'static>> {
    (
        prop::option::of(number_input()),
        prop::option::of(prop_oneof![
            text_input(
                prop::sample::select(vec!["EUR", "usd", "JPY", " gbp ", "XXX", "EURO", ""])
                    .prop_map(str::to_string)
            ),
            input_tree(),
        ]),
        prop::option::weighted(
            0.5,
            prop::collection::vec(content_input(), 0..4).prop_map(Input::List),
        ),
        prop::option::weighted(0.3, input_tree()),
        prop::option::weighted(0.3, number_input()),
        prop::option::weighted(
            0.3,
            prop_oneof![
                text_input(
                    prop::sample::select(vec!["product", "product_group", "sku"])
                        .prop_map(str::to_string)
                ),
                input_tree(),
            ],
        ),
        prop::collection::vec((key(), input_tree()), 0..3),
    )
        .prop_map(
            |(value, currency, contents, ids, num_items, content_type, extra)| {
                let mut map = map_input(vec![
                    ("value", value),
                    ("currency", currency),
                    ("contents", contents),
                    ("content_ids", ids),
                    ("num_items", num_items),
                    ("content_type", content_type),
                ]);
                if let Input::Map(entries) = &mut map {
                    entries.extend(extra.into_iter().map(|(k, v)| (Cow::Owned(k), v)));
                }
                map
            },
        )
}

/// An event-shaped map: the known keys with plausible or arbitrary values, and arbitrary extras.
fn event_input() -> impl Strategy<Value = Input<'static>> {
    let name = prop_oneof![
        4 => text_input(prop::sample::select(vec![
            "Purchase", "PageView", "add_to_cart", "ViewContent", "CompletePayment", "Lead",
            "SubmitForm", "custom event",
        ]).prop_map(str::to_string)),
        1 => input_tree(),
    ];
    let time = prop_oneof![
        3 => ((NOW - 8 * 86_400)..(NOW + 86_400)).prop_map(Input::Int),
        1 => ((NOW - 86_400)..NOW).prop_map(|t| Input::Str(Cow::Owned(format!(" {t} ")))),
        1 => Just(Input::Int(NOW * 1000)),
        1 => float().prop_map(Input::Float),
        1 => input_tree(),
    ];
    let url = prop_oneof![
        3 => text_input(Just("https://shop.example.com/shop/confirmation".to_string())),
        1 => text_input(prop::sample::select(vec!["ftp://x", "HTTPS://X.COM", "http://a b", "javascript:1"]).prop_map(str::to_string)),
        1 => input_tree(),
    ];
    let source = prop_oneof![
        text_input(
            prop::sample::select(vec![
                "website",
                "system_generated",
                "app",
                "Website",
                "shop"
            ])
            .prop_map(str::to_string)
        ),
        input_tree(),
    ];
    (
        prop::option::weighted(0.95, name),
        prop::option::weighted(0.5, text_input("[a-z0-9-]{1,20}")),
        prop::option::weighted(0.8, time),
        prop::option::weighted(0.8, url),
        prop::option::weighted(0.4, source),
        prop::option::weighted(0.2, input_tree()),
        prop::option::weighted(0.8, prop_oneof![4 => user_input(), 1 => input_tree()]),
        prop::option::weighted(0.8, prop_oneof![4 => custom_input(), 1 => input_tree()]),
        prop::collection::vec((key(), input_tree()), 0..2),
    )
        .prop_map(|(name, id, time, url, source, ldu, user, custom, extra)| {
            let mut map = map_input(vec![
                ("event_name", name),
                ("event_id", id),
                ("event_time", time),
                ("event_source_url", url),
                ("action_source", source),
                ("limited_data_use", ldu),
                ("user", user),
                ("custom", custom),
            ]);
            if let Input::Map(entries) = &mut map {
                entries.extend(extra.into_iter().map(|(k, v)| (Cow::Owned(k), v)));
            }
            map
        })
}

fn events() -> impl Strategy<Value = Vec<Input<'static>>> {
    prop_oneof![
        6 => prop::collection::vec(event_input(), 1..4),
        1 => prop::collection::vec(input_tree(), 0..3),
    ]
}

/// JSON values, as Rust callers pass events (`build_meta_payload(&[Value])`).
fn json_tree() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        float().prop_map(|f| Number::from_f64(f).map_or(Value::Null, Value::Number)),
        messy_text().prop_map(Value::String),
    ];
    leaf.prop_recursive(8, 96, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..8)
                .prop_map(|entries| Value::Object(entries.into_iter().collect::<Map<_, _>>())),
        ]
    })
}

// ---------------------------------------------------------------------------------------------
// Checks
// ---------------------------------------------------------------------------------------------

fn resolved_country(country: Option<&str>) -> Option<&'static str> {
    country
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .and_then(geo::country_code)
}

/// The output rules of the normaliser of `field` (README "Normalisation", the specs' tables).
fn check_shape(field: Field, country: Option<&str>, out: &str) -> Result<(), TestCaseError> {
    if is_sha256_hex(out) {
        // a digest passes through, lowercased
        prop_assert_eq!(out, out.to_ascii_lowercase());
        return Ok(());
    }
    let ok = match field {
        Field::Email => {
            out.contains('@')
                && out == out.to_lowercase()
                && !out.chars().any(|c| c.is_whitespace() || c.is_control())
        }
        Field::Phone => {
            let digits = &out[1.min(out.len())..];
            out.starts_with('+')
                // E.164 says 15 digits at most; libphonenumber's metadata (followed by the
                // phonenumber crate, and Google's own library agrees) allows a few more, e.g.
                // German numbers with 15 national digits: +4921000000000000 is valid there
                && (4..=17).contains(&digits.len())
                && digits.bytes().all(|b| b.is_ascii_digit())
                && !digits.starts_with('0')
        }
        Field::FirstName | Field::LastName => {
            !out.starts_with(' ')
                && !out.ends_with(' ')
                && !out.contains("  ")
                && out.chars().all(|c| c == ' ' || c.is_alphanumeric())
                && out == out.to_lowercase()
        }
        Field::Gender => out == "f" || out == "m",
        Field::DateOfBirth => {
            let (this_year, _, _) = today();
            out.len() == 8
                && out.bytes().all(|b| b.is_ascii_digit())
                && (1900..=this_year).contains(&out[..4].parse::<i64>().unwrap_or(0))
                && (1..=12).contains(&out[4..6].parse::<u32>().unwrap_or(0))
                && (1..=31).contains(&out[6..].parse::<u32>().unwrap_or(0))
        }
        Field::City => out.chars().all(char::is_alphabetic) && out == out.to_lowercase(),
        Field::State => match resolved_country(country) {
            Some("us" | "ca") => out.len() == 2 && out.bytes().all(|b| b.is_ascii_lowercase()),
            _ => out.chars().all(char::is_alphanumeric) && out == out.to_lowercase(),
        },
        Field::Zip => match resolved_country(country) {
            Some("us") => out.len() == 5 && out.bytes().all(|b| b.is_ascii_digit()),
            _ => out.chars().all(char::is_alphanumeric) && out == out.to_lowercase(),
        },
        Field::Country => out.len() == 2 && out.bytes().all(|b| b.is_ascii_lowercase()),
        Field::ExternalId => !out.is_empty() && out == out.trim(),
    };
    prop_assert!(
        ok,
        "{} normalised to {:?}, which breaks its rule",
        field.name(),
        out
    );
    Ok(())
}

/// One normaliser on one input: a value obeying the field's rule and given back unchanged when
/// normalised again, or an error naming the field (or the `country` argument).
fn check_normaliser(field: Field, value: &str, country: Option<&str>) -> Result<(), TestCaseError> {
    let result = normalize(field.name(), value, country);
    prop_assert_eq!(
        &normalize(field.meta_key(), value, country),
        &result,
        "the Meta key is the same field"
    );
    match &result {
        Ok(out) => {
            prop_assert!(!out.is_empty());
            prop_assert_eq!(out.trim(), out.as_str());
            check_shape(field, country, out)?;
            let again = normalize(field.name(), out, country);
            prop_assert_eq!(
                &again,
                &result,
                "{} is not idempotent: {:?} -> {:?} -> {:?}",
                field.name(),
                value,
                out,
                again
            );
        }
        Err(err) => check_error(err, field.name(), country.is_some())?,
    }
    Ok(())
}

fn check_error(
    err: &ValidationError,
    field: &str,
    country_given: bool,
) -> Result<(), TestCaseError> {
    prop_assert!(
        err.field == field || (country_given && err.field == "country"),
        "error names {:?}, not {:?}: {}",
        err.field,
        field,
        err
    );
    prop_assert!(
        !err.message.trim().is_empty(),
        "an error says which rule: {:?}",
        err
    );
    Ok(())
}

/// The match keys each platform hashes, by the key of their user object.
const META_HASHED: [&str; 11] = [
    "em",
    "ph",
    "fn",
    "ln",
    "ge",
    "db",
    "ct",
    "st",
    "zp",
    "country",
    "external_id",
];
const TIKTOK_HASHED: [&str; 3] = ["email", "phone", "external_id"];

/// A payload tree: valid JSON, no empty value (but Meta's required `user_data`), no key twice
/// in one object.
fn check_tree(out: &Out<'_>, key: &str) -> Result<(), TestCaseError> {
    match out {
        Out::Str(s) => prop_assert!(!s.is_empty(), "empty string under {}", key),
        Out::String(s) => prop_assert!(!s.is_empty(), "empty string under {}", key),
        Out::Digest(d) => prop_assert!(is_sha256_hex(Out::digest_str(d))),
        Out::Int(_) | Out::Bool(_) => {}
        Out::Num(n) => prop_assert!(n.as_f64().is_some_and(f64::is_finite)),
        Out::List(items) => {
            prop_assert!(
                !items.is_empty() || key == "data",
                "empty list under {}",
                key
            );
            for item in items {
                check_tree(item, key)?;
            }
        }
        Out::Obj(entries) => {
            prop_assert!(
                !entries.is_empty() || key == "user_data",
                "empty object under {}",
                key
            );
            for (i, (k, v)) in entries.iter().enumerate() {
                let k = k.as_str();
                prop_assert!(
                    !entries[..i].iter().any(|(other, _)| other.as_str() == k),
                    "key {} twice under {}",
                    k,
                    key
                );
                check_tree(v, k)?;
            }
        }
        Out::Json(v) => check_json(v, key)?,
    }
    Ok(())
}

fn check_json(value: &Value, key: &str) -> Result<(), TestCaseError> {
    match value {
        Value::Null => prop_assert!(false, "null under {}", key),
        Value::String(s) => prop_assert!(!s.trim().is_empty(), "blank string under {}", key),
        Value::Array(items) => {
            prop_assert!(!items.is_empty(), "empty list under {}", key);
            for item in items {
                check_json(item, key)?;
            }
        }
        Value::Object(map) => {
            prop_assert!(!map.is_empty(), "empty object under {}", key);
            for (k, v) in map {
                check_json(v, k)?;
            }
        }
        Value::Bool(_) | Value::Number(_) => {}
    }
    Ok(())
}

/// Every hashed match key of `user` is a list of lowercase SHA-256 digests: no plain PII.
fn check_hashed(user: Option<&Value>, keys: &[&str]) -> Result<(), TestCaseError> {
    let Some(user) = user.and_then(Value::as_object) else {
        return Ok(());
    };
    for key in keys {
        if let Some(values) = user.get(*key) {
            let all_digests = values.as_array().is_some_and(|items| {
                items.iter().all(|v| {
                    v.as_str()
                        .is_some_and(|s| is_sha256_hex(s) && s == s.to_ascii_lowercase())
                })
            });
            prop_assert!(all_digests, "{} is not a list of digests: {}", key, values);
        }
    }
    Ok(())
}

fn check_payload(out: Out<'_>, events: &[Event], meta: bool) -> Result<(), TestCaseError> {
    check_tree(&out, "")?;
    let value = out.into_value();
    let text = serde_json::to_string(&value).map_err(|e| TestCaseError::fail(e.to_string()))?;
    // valid JSON (not compared value for value: serde_json's default parser is off by an ulp
    // on some subnormal floats, which the writer prints exactly)
    serde_json::from_str::<Value>(&text).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let data = value["data"].as_array().cloned().unwrap_or_default();
    prop_assert_eq!(data.len(), events.len());
    for (sent, event) in data.iter().zip(events) {
        if meta {
            prop_assert_eq!(sent["event_name"].as_str(), Some(event.event_name.as_ref()));
            check_hashed(sent.get("user_data"), &META_HASHED)?;
        } else {
            prop_assert_eq!(
                sent["event"].as_str(),
                Some(tiktok_event_name(&event.event_name))
            );
            check_hashed(sent.get("user"), &TIKTOK_HASHED)?;
        }
        prop_assert_eq!(sent["event_time"].as_i64(), Some(event.event_time));
        prop_assert!(event.event_time <= NOW && NOW - event.event_time <= 7 * 86_400);
    }
    Ok(())
}

fn check_events_error(err: &ValidationError, strict: bool) -> Result<(), TestCaseError> {
    prop_assert!(
        err.field.starts_with("events"),
        "error names {:?}: {}",
        err.field,
        err
    );
    prop_assert!(!err.message.trim().is_empty());
    if !strict {
        // without strict, a match key breaking its rule is dropped (the event is still sent);
        // only a value of the wrong type (a map, a bool) is an error
        let key = err.field.rsplit('.').next().unwrap_or("");
        let under_user = err.field.contains(".user.");
        prop_assert!(
            !(under_user && Field::parse(key).is_some())
                || err.message == "must be a string or a list of strings",
            "a bad match key failed a non-strict build: {}",
            err
        );
    }
    Ok(())
}

/// Both builders on the same events: payloads obeying [`check_payload`], or errors naming the
/// event and the field.
fn check_build(events: &[Input<'_>], strict: bool) -> Result<(), TestCaseError> {
    let opts = BuildOptions {
        strict,
        now: Some(NOW),
    };
    let parsed = match parse_inputs(events, &opts) {
        Ok(parsed) => parsed,
        Err(err) => return check_events_error(&err, strict),
    };
    prop_assert_eq!(parsed.len(), events.len());
    match meta_body(&parsed, Some(" TEST1 ")) {
        Ok(out) => check_payload(out, &parsed, true)?,
        Err(err) => check_events_error(&err, strict)?,
    }
    match tiktok_body(&parsed, PIXEL, None) {
        Ok(out) => check_payload(out, &parsed, false)?,
        Err(err) => check_events_error(&err, strict)?,
    }
    // Pinterest and GA4: the same tree rules (their own shapes are their modules' tests)
    let request = Request::default();
    for built in [pinterest_body(&parsed), ga4_body(&parsed, &request)] {
        match built {
            Ok(out) => {
                check_tree(&out, "")?;
                serde_json::to_string(&out.into_value())
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
            }
            Err(err) => check_events_error(&err, strict)?,
        }
    }
    Ok(())
}

fn check_json_build(events: &[Value], strict: bool) -> Result<(), TestCaseError> {
    let opts = BuildOptions {
        strict,
        now: Some(NOW),
    };
    for result in [
        build_meta_payload(events, None, &opts),
        build_tiktok_payload(events, PIXEL, None, &opts),
    ] {
        match result {
            Ok(value) => {
                let text = serde_json::to_string(&value)
                    .map_err(|e| TestCaseError::fail(e.to_string()))?;
                prop_assert!(!text.is_empty());
            }
            Err(err) => check_events_error(&err, strict)?,
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------------
// Properties
// ---------------------------------------------------------------------------------------------

/// One property per normaliser, so that the soak run gives each its own case count.
macro_rules! normaliser_properties {
    ($($name:ident => $field:expr),* $(,)?) => {
        proptest! {
            #![proptest_config(config())]
            $(
                #[test]
                fn $name(value in value_for($field), country in country_arg()) {
                    check_normaliser($field, &value, country.as_deref())?;
                }
            )*
        }
    };
}

normaliser_properties! {
    email => Field::Email,
    phone => Field::Phone,
    first_name => Field::FirstName,
    last_name => Field::LastName,
    gender => Field::Gender,
    date_of_birth => Field::DateOfBirth,
    city => Field::City,
    state => Field::State,
    zip => Field::Zip,
    country => Field::Country,
    external_id => Field::ExternalId,
}

proptest! {
    #![proptest_config(config())]

    /// The JSON writer's prices (whole cents, written without float formatting) are the bytes
    /// serde_json writes, for prices and for any other float.
    #[test]
    fn numbers_are_written_as_serde_json_writes_them(
        cents in prop_oneof![
            4 => -100_000i64..100_000,
            2 => any::<i64>().prop_map(|c| c % 2_000_000_000_000_000),
            1 => 999_999_999_999_000i64..1_000_000_000_001_000,
        ],
        divisor in prop_oneof![Just(100.0f64), Just(10.0), Just(1.0), Just(1000.0), Just(3.0)],
        raw in any::<f64>(),
    ) {
        for f in [cents as f64 / divisor, raw, -raw, f64::from_bits(raw.to_bits() ^ 1)] {
            if let Some(n) = Number::from_f64(f) {
                let mut buf = Vec::new();
                crate::out::write_number(&mut buf, &n);
                prop_assert_eq!(String::from_utf8_lossy(&buf), serde_json::to_string(&n).unwrap_or_default(), "{}", f);
            }
        }
    }

    #[test]
    fn hash_value_is_a_digest_and_idempotent(value in messy_text()) {
        let digest = hash_value(&value);
        prop_assert!(is_sha256_hex(&digest) && digest == digest.to_ascii_lowercase());
        prop_assert_eq!(hash_value(&digest), digest.clone(), "never hashed twice");
        if is_sha256_hex(&value) {
            prop_assert_eq!(digest, value.to_ascii_lowercase());
        }
    }

    #[test]
    fn unknown_fields_are_named(field in "\\PC{0,12}", value in messy_text()) {
        match normalize(&field, &value, None) {
            Ok(out) => prop_assert!(Field::parse(&field).is_some(), "{:?} -> {:?}", field, out),
            Err(err) => prop_assert!(
                err.field == field || Field::parse(&field).is_some(),
                "{:?}: {}", field, err
            ),
        }
    }

    #[test]
    fn event_names_of_every_platform(name in messy_text()) {
        let _ = tiktok_event_name(&name);
        prop_assert!(!pinterest_event_name(&name).is_empty());
        match ga4_event_name(&name) {
            Ok(mapped) => {
                prop_assert!(!mapped.is_empty());
                // a GA4 name is given back as it is
                let again = ga4_event_name(&mapped);
                prop_assert_eq!(again.as_deref().ok(), Some(mapped.as_ref()));
            }
            Err(err) => prop_assert!(!err.field.is_empty() && !err.message.is_empty(), "{}", err),
        }
    }

    #[test]
    fn ga4_identities_are_idempotent(value in prop_oneof![
        messy_text(),
        "GA[0-9]\\.[0-9]\\.[0-9]{1,12}\\.[0-9]{1,12}",
        "GS[12]\\.[0-9]\\.s?[0-9]{1,12}(\\$[a-z][0-9]{1,4}){0,3}(\\.[0-9]{1,10}){0,4}",
        "[0-9]{1,12}(\\.[0-9]{1,12})?",
    ]) {
        if let Some(id) = ga4::client_id(&value) {
            prop_assert!(id.split('.').count() == 2 && id.bytes().all(|b| b.is_ascii_digit() || b == b'.'));
            prop_assert_eq!(ga4::client_id(&id), Some(id.clone()));
        }
        if let Some(id) = ga4::session_id(&value) {
            prop_assert!(!id.is_empty() && id.bytes().all(|b| b.is_ascii_digit()), "{:?}", id);
            prop_assert_eq!(ga4::session_id(&id), Some(id.clone()));
        }
        if let Ok(email) = normalize("email", &value, None) {
            let google = ga4::normalize_email(&email);
            prop_assert_eq!(ga4::normalize_email(&google), google.clone(), "Google's email rule");
        }
    }

    #[test]
    fn arbitrary_events_build_or_name_the_field(events in events(), strict in any::<bool>()) {
        check_build(&events, strict)?;
    }

    #[test]
    fn arbitrary_json_events_build_or_name_the_field(
        events in prop::collection::vec(json_tree(), 0..3),
        strict in any::<bool>(),
    ) {
        check_json_build(&events, strict)?;
    }
}

/// Single cases, run once whatever `PROPTEST_CASES` says.
mod fixed_cases {
    use super::*;

    #[test]
    fn deep_nesting_is_not_a_stack_overflow() {
        // The Python bindings refuse input deeper than 32 levels; Rust callers hand over JSON
        // values, which serde_json parses at most 128 deep. 2,000 levels still build.
        let mut deep = Input::Str(Cow::Borrowed("leaf"));
        for _ in 0..2_000 {
            deep = Input::List(vec![deep]);
        }
        let event = Input::Map(vec![
            (
                Cow::Borrowed("event_name"),
                Input::Str(Cow::Borrowed("Lead")),
            ),
            (
                Cow::Borrowed("action_source"),
                Input::Str(Cow::Borrowed("system_generated")),
            ),
            (
                Cow::Borrowed("custom"),
                Input::Map(vec![(Cow::Borrowed("deep"), deep.clone())]),
            ),
            (
                Cow::Borrowed("user"),
                Input::Map(vec![(Cow::Borrowed("email"), deep)]),
            ),
        ]);
        let opts = BuildOptions {
            strict: false,
            now: Some(NOW),
        };
        match parse_inputs(std::slice::from_ref(&event), &opts) {
            Ok(parsed) => {
                let body = meta_body(&parsed, None).map(Out::into_value);
                assert!(body.is_ok(), "{body:?}");
            }
            Err(err) => assert!(err.field.starts_with("events[0]"), "{err}"),
        }
    }

    #[test]
    fn huge_batches_are_refused_with_the_field() {
        let event = Input::Map(vec![(
            Cow::Borrowed("event_name"),
            Input::Str(Cow::Borrowed("PageView")),
        )]);
        let events = vec![event; 1_001];
        let err = parse_inputs(&events, &BuildOptions::default()).unwrap_err();
        assert_eq!(err.field, "events");
        let err = parse_inputs(&[], &BuildOptions::default()).unwrap_err();
        assert_eq!(err.field, "events");
    }

    /// Found by `arbitrary_events_build_or_name_the_field`: the 7-day check computed
    /// `now - event_time` unchecked (a panic in debug, the event sent with that time in
    /// release); fixed in abb4195.
    #[test]
    fn event_time_far_in_the_past_is_refused() {
        let opts = BuildOptions {
            strict: false,
            now: Some(NOW),
        };
        for time in [
            Input::Int(i64::MIN),
            Input::Float(-1.691_665_018_253_618_7e121),
            Input::Str(Cow::Borrowed("-9223372036854775808")),
        ] {
            let event = Input::Map(vec![
                (
                    Cow::Borrowed("event_name"),
                    Input::Str(Cow::Borrowed("Lead")),
                ),
                (
                    Cow::Borrowed("action_source"),
                    Input::Str(Cow::Borrowed("system_generated")),
                ),
                (Cow::Borrowed("event_time"), time),
            ]);
            let err = parse_inputs(&[event], &opts).unwrap_err();
            assert_eq!(err.field, "events[0].event_time", "{err}");
        }
    }
}
