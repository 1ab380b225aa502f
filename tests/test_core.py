"""The public core API: normalisers, hashing, both payload builders and their errors."""

from __future__ import annotations

import datetime as dt
import hashlib
import time
from decimal import Decimal

import convapi
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


# --- normalisers -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "value", "country", "expected"),
    [
        ("email", "  John_Smith@Gmail.com ", None, "john_smith@gmail.com"),
        ("phone", "(650)555-1212", "US", "+16505551212"),
        ("phone", "06 12 34 56 78", "FR", "+33612345678"),
        ("phone", "0033 6.12.34.56.78", None, "+33612345678"),
        ("phone", "(+1)2133734253", None, "+12133734253"),
        ("phone", "+44 (0)20 7946 0958", None, "+442079460958"),
        ("first_name", " Valéry ", None, "valéry"),
        ("last_name", "O'Brien-Smith", None, "obriensmith"),
        ("first_name", "정", None, "정"),
        ("city", "New York", None, "newyork"),
        ("state", "California", "US", "ca"),
        ("state", "Ontario", "CA", "on"),
        ("state", "Baden-Württemberg", "DE", "badenwürttemberg"),
        ("zip", "94103-1234", "US", "94103"),
        ("zip", "M1 1AE", "GB", "m11ae"),
        ("country", "United States", None, "us"),
        ("country", "DEU", None, "de"),
        ("country", "fr", None, "fr"),
        ("gender", "Female", None, "f"),
        ("gender", "male", None, "m"),
        ("date_of_birth", "2/16/1997", None, "19970216"),
        ("date_of_birth", "1997-02-16", None, "19970216"),
        ("external_id", " user_123 ", None, "user_123"),
        ("em", "A@B.CO", None, "a@b.co"),
    ],
)
def test_normalize(field: str, value: str, country: str | None, expected: str) -> None:
    assert convapi.normalize(field, value, country) == expected


def test_normalize_accepts_dates_and_country_names() -> None:
    assert convapi.normalize("date_of_birth", dt.date(1990, 1, 31)) == "19900131"
    assert convapi.normalize("date_of_birth", dt.datetime(1990, 1, 31, 23, 0)) == "19900131"
    assert convapi.normalize("phone", "06 12 34 56 78", "France") == "+33612345678"


def test_spec_examples() -> None:
    # Meta CIP: (650)555-1212 -> 16505551212 (Meta's ph is the E.164 digits without '+').
    payload = convapi.build_meta_payload(
        [
            {
                "event_name": "Lead",
                "action_source": "system_generated",
                "user": {
                    "phone": "(650)555-1212",
                    "country": "US",
                    "email": "John_Smith@gmail.com",
                },
            }
        ]
    )
    user = payload["data"][0]["user_data"]
    assert user["ph"] == [sha("16505551212")]
    assert user["em"] == ["62a14e44f765419d10fea99367361a727c12365e2520f32218d505ed9aa0f62f"]
    # TikTok EAPI 2.0 vectors.
    assert (
        convapi.hash_value(convapi.normalize("email", " ALICE_abc@gmail.com "))
        == "848a771458438fc2ec420560d769fb9b9b86851ee338ec56517baabd79d3bb4f"
    )
    assert (
        convapi.hash_value(convapi.normalize("phone", "(+1)2133734253"))
        == "9f7ec22d72092cd3c0b58726ed9c2d91b92e51a3f29837508fb2948bb22dd2fd"
    )
    assert (
        convapi.hash_value(convapi.normalize("external_id", "user_123"))
        == "80fba0ae1c48e3978e43e4efc365e14e12ea0c830ba8ba5b9a2dafc7e3f2ab8b"
    )


@pytest.mark.parametrize(
    ("field", "value", "country", "rule"),
    [
        ("email", "not-an-email", None, "email address"),
        ("phone", "12", "FR", "phone"),
        ("phone", "0612345678", None, "country"),
        ("phone", "call me maybe", None, "letters"),
        ("gender", "x", None, "f/m"),
        ("date_of_birth", "1850-01-01", None, "1900"),
        ("date_of_birth", "2001-02-29", None, "calendar"),
        ("state", "Atlantis", "US", "US state"),
        ("zip", "123", "US", "5 digits"),
        ("country", "Narnia", None, "country"),
        ("shoe_size", "42", None, "unknown field"),
    ],
)
def test_normalize_errors_name_field_and_rule(
    field: str, value: str, country: str | None, rule: str
) -> None:
    with pytest.raises(convapi.ValidationError) as info:
        convapi.normalize(field, value, country)
    assert info.value.field == field
    assert rule in str(info.value)
    assert isinstance(info.value, ValueError)


def test_prehashed_values_pass_through() -> None:
    digest = sha("someone@example.com")
    assert convapi.hash_value(digest.upper()) == digest
    assert convapi.normalize("email", digest.upper()) == digest
    assert convapi.hash_value("someone@example.com") == digest


# --- builders --------------------------------------------------------------------------------


def full_purchase(**overrides: object) -> dict:
    event = {
        "event_name": "Purchase",
        "event_id": "S00042",
        "event_time": int(time.time()) - 30,
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "referrer_url": "https://shop.example.com/shop/payment",
        "user": {
            "email": "Jane.Doe@Example.com",
            "phone": ["+33 6 12 34 56 78", "06 98 76 54 32"],
            "first_name": "Jane",
            "last_name": "Doe",
            "gender": "female",
            "date_of_birth": dt.date(1985, 7, 14),
            "city": "Paris",
            "state": "Île-de-France",
            "zip": "75 001",
            "country": "France",
            "external_id": 7,
            "client_ip_address": "203.0.113.5",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "fbc": "fb.1.1732000000000.IwAR0abc",
            "fbp": "fb.1.1732000000000.1234567890",
            "ttclid": "E.C.P.v3",
            "ttp": "2abcTTP",
            "locale": "fr-FR",
        },
        "custom": {
            "value": Decimal("59.80"),
            "currency": "eur",
            "contents": [
                {
                    "id": "SKU-1",
                    "quantity": 2,
                    "item_price": 29.9,
                    "title": "Mug",
                    "category": "Kitchen",
                }
            ],
            "content_type": "product",
            "order_id": "S00042",
            "num_items": 2,
        },
    }
    event.update(overrides)
    return event


def test_meta_payload_full_purchase() -> None:
    body = convapi.build_meta_payload([full_purchase()], test_event_code="TEST123")
    assert body["test_event_code"] == "TEST123"
    (event,) = body["data"]
    user = event["user_data"]
    assert user["em"] == [sha("jane.doe@example.com")]
    assert user["ph"] == [sha("33612345678"), sha("33698765432")]
    assert user["fn"] == [sha("jane")]
    assert user["ge"] == [sha("f")]
    assert user["db"] == [sha("19850714")]
    assert user["ct"] == [sha("paris")]
    assert user["st"] == [sha("îledefrance")]
    assert user["zp"] == [sha("75001")]
    assert user["country"] == [sha("fr")]
    assert user["external_id"] == [sha("7")]
    assert user["fbc"] == "fb.1.1732000000000.IwAR0abc"
    assert user["client_user_agent"].startswith("Mozilla")
    assert "ttclid" not in user and "locale" not in user
    custom = event["custom_data"]
    assert custom["value"] == pytest.approx(59.8)
    assert custom["currency"] == "EUR"
    assert custom["contents"][0] == {
        "id": "SKU-1",
        "quantity": 2,
        "item_price": 29.9,
        "title": "Mug",
        "category": "Kitchen",
    }
    assert event["action_source"] == "website"
    assert event["event_id"] == "S00042"


def test_tiktok_payload_full_purchase() -> None:
    body = convapi.build_tiktok_payload([full_purchase()], pixel_code="CPIX123")
    assert body["event_source"] == "web" and body["event_source_id"] == "CPIX123"
    (event,) = body["data"]
    assert event["event"] == "Purchase" and event["event_id"] == "S00042"
    user = event["user"]
    assert user["email"] == [sha("jane.doe@example.com")]
    assert user["phone"] == [sha("+33612345678"), sha("+33698765432")]
    assert user["external_id"] == [sha("7")]
    assert user["ttclid"] == "E.C.P.v3" and user["ttp"] == "2abcTTP" and user["locale"] == "fr-FR"
    assert user["ip"] == "203.0.113.5"
    props = event["properties"]
    assert props["contents"] == [
        {
            "content_id": "SKU-1",
            "content_name": "Mug",
            "content_category": "Kitchen",
            "price": 29.9,
            "quantity": 2,
        }
    ]
    assert props["currency"] == "EUR" and props["order_id"] == "S00042"
    assert event["page"] == {
        "url": "https://shop.example.com/shop/confirmation",
        "referrer": "https://shop.example.com/shop/payment",
    }


def test_meta_native_keys_raw_or_hashed_are_accepted() -> None:
    digest = sha("raw@example.com")
    body = convapi.build_meta_payload(
        {
            "event_name": "Lead",
            "action_source": "system_generated",
            "user_data": {"em": digest, "ph": "+1 650 555 1212", "fn": "ANNA"},
            "custom_data": {"value": 1, "currency": "USD"},
        }
    )
    user = body["data"][0]["user_data"]
    assert user["em"] == [digest]
    assert user["ph"] == [sha("16505551212")]
    assert user["fn"] == [sha("anna")]


def test_event_names_map_to_tiktok() -> None:
    assert convapi.tiktok_event_name("PageView") == "Pageview"
    assert convapi.tiktok_event_name("CompletePayment") == "Purchase"
    assert convapi.tiktok_event_name("SubmitForm") == "Lead"
    assert convapi.tiktok_event_name("AddToCart") == "AddToCart"
    body = convapi.build_tiktok_payload(
        {"event_name": "PageView", "event_source_url": "https://x.example/"}, pixel_code="C1"
    )
    assert body["data"][0]["event"] == "Pageview"


def test_limited_data_use_and_empty_values() -> None:
    event = full_purchase(limited_data_use=True)
    event["custom"] = {
        **event["custom"],
        "content_ids": [],
        "content_name": "",
        "search_string": None,
    }
    meta = convapi.build_meta_payload([event])["data"][0]
    assert meta["data_processing_options"] == ["LDU"]
    for key in ("content_ids", "content_name", "search_string"):
        assert key not in meta["custom_data"]
    tiktok = convapi.build_tiktok_payload([event], pixel_code="C1")["data"][0]
    assert tiktok["limited_data_use"] is True


def test_bad_match_key_dropped_or_strict() -> None:
    event = full_purchase()
    event["user"] = {**event["user"], "phone": "12345", "email": "nope"}
    user = convapi.build_meta_payload([event])["data"][0]["user_data"]
    assert "ph" not in user and "em" not in user and "fn" in user
    with pytest.raises(convapi.ValidationError) as info:
        convapi.build_meta_payload([event], strict=True)
    assert info.value.field in {"events[0].user.email", "events[0].user.phone"}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"event_name": None}, "events[0].event_name"),
        ({"event_time": int(time.time()) - 8 * 86400}, "events[0].event_time"),
        ({"custom": {"value": "twelve", "currency": "EUR"}}, "events[0].custom.value"),
        ({"custom": {"value": 12, "currency": "EURO"}}, "events[0].custom.currency"),
        ({"custom": {"value": 12}}, "events[0].custom.currency"),
        ({"event_source_url": "ftp://x"}, "events[0].event_source_url"),
    ],
)
def test_event_errors_name_the_field(change: dict, field: str) -> None:
    event = full_purchase(**change)
    with pytest.raises(convapi.ValidationError) as info:
        convapi.build_meta_payload([event])
    assert info.value.field == field
    with pytest.raises(convapi.ValidationError):
        convapi.build_tiktok_payload([event], pixel_code="C1")


def test_more_than_1000_events_rejected() -> None:
    events = [full_purchase(event_id=str(i)) for i in range(1001)]
    with pytest.raises(convapi.ValidationError) as info:
        convapi.build_meta_payload(events)
    assert info.value.field == "events"
    assert len(convapi.build_meta_payload(events[:1000])["data"]) == 1000


def test_unsupported_python_types_are_type_errors() -> None:
    with pytest.raises(TypeError):
        convapi.build_meta_payload([{"event_name": "Lead", "custom": {"value": object()}}])
    with pytest.raises(TypeError):
        convapi.build_meta_payload("not events")  # type: ignore[arg-type]


# --- properties ------------------------------------------------------------------------------

FIELDS = [
    "email",
    "phone",
    "first_name",
    "last_name",
    "gender",
    "date_of_birth",
    "city",
    "state",
    "zip",
    "country",
    "external_id",
]


@settings(max_examples=300, deadline=None)
@given(
    field=st.sampled_from(FIELDS),
    value=st.text(max_size=40),
    country=st.sampled_from([None, "US", "FR", "GB", "DE", "CA", "BR"]),
)
def test_normalizers_never_crash_and_are_idempotent(
    field: str, value: str, country: str | None
) -> None:
    try:
        once = convapi.normalize(field, value, country)
    except convapi.ValidationError as err:
        assert err.field in {field, "country"}
        return
    assert convapi.normalize(field, once, country) == once


@settings(max_examples=200, deadline=None)
@given(user=st.dictionaries(st.sampled_from(FIELDS), st.text(max_size=20), max_size=6))
def test_builders_never_crash_on_arbitrary_user_data(user: dict) -> None:
    event = {
        "event_name": "Lead",
        "event_source_url": "https://x.example/",
        "user": {**user, "client_user_agent": "UA"},
    }
    meta = convapi.build_meta_payload([event])["data"][0]["user_data"]
    tiktok = convapi.build_tiktok_payload([event], pixel_code="C1")["data"][0]
    for values in (v for k, v in meta.items() if isinstance(v, list)):
        assert all(len(h) == 64 for h in values)
    assert tiktok["event"] == "Lead"


def test_python_input_edge_cases_survive_the_direct_conversion() -> None:
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    event = {
        "event_name": "Purchase",
        "event_time": now,
        "action_source": "system_generated",
        "user": {"email": "A@B.CO", "em": sha("other@b.co").upper(), "external_id": 2**70},
        "custom": {
            "value": Decimal("10.5"),
            "currency": "usd",
            "content_ids": (2**70, "B"),
            "my_extra": {"kept": [None, "x", ""], "gone": ""},
            "empty_extra": [None, ""],
        },
    }
    (out,) = convapi.build_meta_payload((event,))["data"]
    assert out["event_time"] == int(now.timestamp())
    # The neutral name and the Meta key are both used; a digest passes through lowercased.
    assert out["user_data"]["em"] == [sha("a@b.co"), sha("other@b.co")]
    assert out["user_data"]["external_id"] == [sha(str(2**70))]
    custom = out["custom_data"]
    assert custom["value"] == 10.5 and custom["currency"] == "USD"
    assert custom["content_ids"] == [str(2**70), "B"]
    assert custom["my_extra"] == {"kept": ["x"]}
    assert "empty_extra" not in custom
    # Keys come out in the builder's order, the event's name first.
    assert next(iter(out)) == "event_name"


def test_fields_constant_matches_the_typed_stub_and_normalize() -> None:
    import ast
    import pathlib

    stub = pathlib.Path(convapi.__file__).with_name("_convapi.pyi").read_text()
    (literal,) = [
        node.value
        for node in ast.parse(stub).body
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == "Field"
    ]
    assert isinstance(literal, ast.Subscript)
    stub_fields = tuple(ast.literal_eval(literal.slice))
    assert convapi.FIELDS == stub_fields
    neutral = convapi.FIELDS[:11]
    meta_keys = dict(zip(convapi.FIELDS[11:], neutral, strict=False))
    for field in convapi.FIELDS:
        with pytest.raises(convapi.ValidationError) as info:
            convapi.normalize(field, "   ")
        # Errors name the neutral field, whichever spelling was given.
        assert info.value.field == meta_keys.get(field, field)


def test_deeply_nested_input_is_a_validation_error_not_a_crash() -> None:
    deep: list = []
    for _ in range(100_000):
        deep = [deep]
    event = {"event_name": "Lead", "action_source": "system_generated", "custom": {"x": deep}}
    with pytest.raises(convapi.ValidationError) as info:
        convapi.build_meta_payload([event])
    assert info.value.field.startswith("events[0].custom.x[0][0]"), "the whole path"
    assert "nested deeper" in str(info.value)
    shallow = {"a": {"b": [1, {"c": "kept"}]}}
    event["custom"] = {"x": shallow}
    (out,) = convapi.build_meta_payload([event])["data"]
    assert out["custom_data"]["x"] == shallow
