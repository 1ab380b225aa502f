"""The fake GA4 Measurement Protocol, driven with urllib / http.client only (no convapi sender).

``/mp/collect`` answers 204 whatever it gets, like GA; the tests read what the fake recorded as
taken (``ga4_events``) or dropped and why (``ga4_dropped``). ``/debug/mp/collect`` answers the
validation messages. Each rule gets a test on the validation server and, where what GA drops
matters, on ``/mp/collect``.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from convapi.testing import FakeAdServer, FaultSchedule, Phase, dedup_key

MID = "G-ABC123XYZ9"
SECRET = "kT3-pQ9_zZ8wX2vY7uR1sA"  # an api_secret as GA generates them (22 characters)
CLIENT_ID = "1234567890.1700000000"
HOUR_US = 3600 * 1_000_000


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def now_us() -> int:
    return int(time.time() * 1_000_000)


def query(mid: str | None = MID, secret: str | None = SECRET) -> str:
    params = {}
    if mid is not None:
        params["measurement_id"] = mid
    if secret is not None:
        params["api_secret"] = secret
    return "?" + urllib.parse.urlencode(params) if params else ""


def send(
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    method: str = "POST",
    timeout: float = 10,
    content_type: str = "application/json",
) -> tuple[int, bytes, http.client.HTTPMessage]:
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    headers = {"Content-Type": content_type} if data is not None else {}
    req = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, resp.read(), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, err.read(), err.headers


def collect(
    fake: FakeAdServer,
    body: Any = None,
    *,
    mid: str | None = MID,
    secret: str | None = SECRET,
    **kw,
) -> tuple[int, bytes, http.client.HTTPMessage]:
    return send(fake.ga4_url() + query(mid, secret), body, **kw)


def debug(fake: FakeAdServer, body: Any = None, **kw: Any) -> list[dict[str, str]]:
    status, text, headers = send(fake.ga4_debug_url() + query(), body, **kw)
    assert status == 200, text
    assert headers["Content-Type"].startswith("application/json")
    answer = json.loads(text)
    assert set(answer) == {"validationMessages"}
    return answer["validationMessages"]


def purchase(**params: Any) -> dict[str, Any]:
    base = {
        "transaction_id": "T-1001",
        "currency": "EUR",
        "value": 59.8,
        "items": [{"item_id": "sku-1", "item_name": "Mug", "price": 19.9, "quantity": 2}],
    }
    base.update(params)
    return {"name": "purchase", "params": base}


def payload(*events: dict[str, Any], **top: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"client_id": CLIENT_ID, "events": list(events) or [purchase()]}
    body.update(top)
    return body


def one_message(fake: FakeAdServer, body: Any, code: str, field_path: str | None, *mentions: str):
    messages = debug(fake, body)
    assert len(messages) == 1, messages
    (message,) = messages
    assert message["validationCode"] == code, message
    if field_path is None:
        assert "fieldPath" not in message, message
    else:
        assert message["fieldPath"] == field_path, message
    for mention in mentions:
        assert mention in message["description"], message
    return message


def assert_clean(fake: FakeAdServer, body: Any) -> None:
    assert debug(fake, body) == []


@pytest.fixture(scope="module")
def shared_fake() -> Iterator[FakeAdServer]:
    with FakeAdServer() as server:
        yield server


@pytest.fixture
def fake(shared_fake: FakeAdServer) -> Iterator[FakeAdServer]:
    """One server for the module (starting one per test costs more than the test), reset."""
    shared_fake.reset()
    yield shared_fake
    shared_fake.reset()


def wait_for_requests(fake: FakeAdServer, n: int, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while len(fake.requests) < n and time.monotonic() < deadline:
        time.sleep(0.01)


# =============================================================================================
# /mp/collect: 204, what GA takes
# =============================================================================================


def test_collect_answers_204_with_an_empty_body(fake: FakeAdServer) -> None:
    status, text, headers = collect(fake, payload())
    assert (status, text) == (204, b"")
    assert "Content-Type" not in headers
    (rec,) = fake.requests
    assert rec.platform == "ga4" and rec.pixel_id == MID and rec.status == 204
    assert rec.response is None and rec.events_accepted == 1 and rec.test_mode is False
    assert rec.token_sources == ("query",)  # by the protocol's design
    assert fake.ga4_dropped() == []


def test_events_carry_the_request_fields(fake: FakeAdServer) -> None:
    user_data = {"sha256_email_address": [sha("alice@example.com")]}
    consent = {"ad_user_data": "GRANTED", "ad_personalization": "DENIED"}
    body = payload(
        purchase(),
        {"name": "add_to_cart", "params": {"currency": "EUR", "value": 1}, "timestamp_micros": 5},
        user_id="u-42",
        user_data=user_data,
        consent=consent,
        timestamp_micros=now_us() - HOUR_US,
    )
    body["events"][1]["timestamp_micros"] = now_us() - 2 * HOUR_US
    collect(fake, body)
    first, second = fake.ga4_events()
    assert first == {
        "client_id": CLIENT_ID,
        "user_id": "u-42",
        "user_data": user_data,
        "consent": consent,
        "timestamp_micros": body["timestamp_micros"],
        **purchase(),
    }
    assert second["timestamp_micros"] == body["events"][1]["timestamp_micros"]  # its own wins
    assert fake.ga4_events(MID) == [first, second] and fake.ga4_events("G-OTHER") == []


def test_the_shape_convapi_sends_is_taken(fake: FakeAdServer) -> None:
    t = now_us() - 60_000_000
    body = {
        "client_id": CLIENT_ID,
        "user_id": "partner-7",
        "timestamp_micros": t,
        "consent": {"ad_user_data": "GRANTED", "ad_personalization": "GRANTED"},
        "user_data": {
            "sha256_email_address": [sha("alice@example.com")],
            "sha256_phone_number": [sha("+16505551234")],
            "address": [
                {
                    "sha256_first_name": sha("alice"),
                    "sha256_last_name": sha("smith"),
                    "city": "san francisco",
                    "region": "california",
                    "postal_code": "94103",
                    "country": "US",
                }
            ],
        },
        "validation_behavior": "ENFORCE_RECOMMENDATIONS",
        "events": [
            {
                "name": "purchase",
                "timestamp_micros": t,
                "params": {
                    "transaction_id": "1001",
                    "currency": "EUR",
                    "value": 59.8,
                    "items": [
                        {"item_id": "sku-1", "item_name": "Mug", "price": 19.9, "quantity": 2},
                        {"item_id": "sku-2", "price": 20.0, "quantity": 1},
                    ],
                    "session_id": 1747132561,
                    "engagement_time_msec": 1200,
                    "page_location": "https://shop.example/checkout/confirm?order=1001",
                    "search_term": "mug",
                },
            }
        ],
    }
    assert_clean(fake, body)
    assert collect(fake, body)[0] == 204
    (taken,) = fake.ga4_events()
    assert taken["params"] == body["events"][0]["params"] and "validation_behavior" not in taken
    assert fake.ga4_dropped() == []


def test_text_plain_like_send_beacon_is_read_too(fake: FakeAdServer) -> None:
    collect(fake, payload(), content_type="text/plain;charset=UTF-8")
    assert len(fake.ga4_events()) == 1


@pytest.mark.parametrize(
    ("raw", "mention"),
    [
        (b'{"client_id": ', "Unable to parse Measurement Protocol JSON payload."),
        (b"[1, 2]", "Expected a JSON object."),
        (b"", "Unable to parse"),
        (b'{"client_id": "1.2", "events": [{"name": "x", "names": 1}]}', "Cannot find field"),
    ],
)
def test_malformed_payloads_are_204_and_dropped_whole(
    fake: FakeAdServer, raw: bytes, mention: str
) -> None:
    status, text, _ = collect(fake, raw=raw)
    assert (status, text) == (204, b"")
    assert fake.ga4_events() == []
    (dropped,) = fake.ga4_dropped()
    assert dropped.scope == "request" and mention in dropped.reason
    assert dropped.pixel_id == MID and dropped.request_index == 0


def test_one_bad_event_is_dropped_alone(fake: FakeAdServer) -> None:
    body = payload(purchase(), {"name": "_bad", "params": {}}, purchase(transaction_id="T-2"))
    assert collect(fake, body)[0] == 204
    assert [e["params"]["transaction_id"] for e in fake.ga4_events()] == ["T-1001", "T-2"]
    (dropped,) = fake.ga4_dropped()
    assert (dropped.scope, dropped.event_index, dropped.event_name) == ("event", 1, "_bad")
    assert dropped.validation_code == "NAME_INVALID" and dropped.event == body["events"][1]
    rec = fake.requests[0]
    assert rec.events_accepted == 2 and rec.events_dropped == 1


def test_get_is_405_and_unknown_paths_404(fake: FakeAdServer) -> None:
    status, text, headers = send(fake.ga4_url() + query(), method="GET")
    assert (status, text, headers["Allow"]) == (405, b"", "POST")
    assert send(fake.base_url + "/mp/collect/" + query(), payload())[:2] == (404, b"")
    assert send(fake.base_url + "/debug/mp/validate", payload())[:2] == (404, b"")
    assert fake.ga4_events() == []


# =============================================================================================
# Credentials: 204 and dropped, never the secret in the reason
# =============================================================================================


@pytest.mark.parametrize(
    ("mid", "secret", "mention"),
    [
        (None, SECRET, "measurement_id is missing"),
        ("", SECRET, "measurement_id is missing"),
        ("UA-12345-1", SECRET, "not a web stream's Measurement ID"),
        ("g-abc123", SECRET, "not a web stream's Measurement ID"),
        (MID, None, "api_secret is missing"),
        (MID, "", "api_secret is missing"),
    ],
)
def test_missing_or_malformed_credentials(
    fake: FakeAdServer, mid: str | None, secret: str | None, mention: str
) -> None:
    assert collect(fake, payload(), mid=mid, secret=secret)[:2] == (204, b"")
    assert fake.ga4_events() == []
    (dropped,) = fake.ga4_dropped()
    assert dropped.scope == "request" and mention in dropped.reason and dropped.events == 1
    assert SECRET not in dropped.reason


def test_firebase_app_id_is_an_app_stream(fake: FakeAdServer) -> None:
    url = fake.ga4_url() + "?firebase_app_id=1:123:android:abc&api_secret=" + SECRET
    assert send(url, payload())[0] == 204
    assert "firebase_app_id" in fake.ga4_dropped()[0].reason


def test_configured_secrets() -> None:
    secrets = {MID: SECRET, "G-ROTATING1": ["old-secret-1", "new-secret-2"], "G-ANYSECRET": None}
    with FakeAdServer(ga4_secrets=secrets) as fake:
        assert collect(fake, payload())[0] == 204
        assert collect(fake, payload(), secret="wrong-secret-value")[0] == 204
        assert collect(fake, payload(), mid="G-UNKNOWN42")[0] == 204
        collect(fake, payload(), mid="G-ROTATING1", secret="new-secret-2")
        collect(fake, payload(), mid="G-ROTATING1", secret="old-secret-1")
        collect(fake, payload(), mid="G-ANYSECRET", secret="whatever")
        assert [r.pixel_id for r in fake.accepted_events("ga4")] == [
            MID,
            "G-ROTATING1",
            "G-ROTATING1",
            "G-ANYSECRET",
        ]
        wrong, unknown = fake.ga4_dropped()
        assert wrong.reason == f"api_secret is not a valid secret of measurement_id {MID}"
        assert wrong.pixel_id == MID and wrong.events == 1
        assert "G-UNKNOWN42 is unknown" in unknown.reason
        assert all("secret-value" not in d.reason for d in fake.ga4_dropped())


def test_the_validation_server_does_not_check_credentials() -> None:
    with FakeAdServer(ga4_secrets={MID: SECRET}) as fake:
        status, text, _ = send(fake.ga4_debug_url(), payload())
        assert status == 200 and json.loads(text) == {"validationMessages": []}
        status, text, _ = send(fake.ga4_debug_url() + query("G-NOPE", "bad"), payload())
        assert json.loads(text) == {"validationMessages": []}
        assert fake.ga4_events() == [] and fake.ga4_dropped() == []
        assert all(r.test_mode for r in fake.requests)


# =============================================================================================
# The validation server: one test per rule
# =============================================================================================


def test_valid_request_has_no_messages(fake: FakeAdServer) -> None:
    assert_clean(fake, payload())
    assert fake.ga4_events() == [] and fake.requests[0].test_mode is True
    assert fake.requests[0].events_accepted == 0


def test_google_documented_example(fake: FakeAdServer) -> None:
    body = payload({"name": "_badEventName", "params": {}})
    assert debug(fake, body) == [
        {
            "fieldPath": "events",
            "description": "Event at index: [0] has invalid name [_badEventName]. Names must "
            "start with an alphabetic character.",
            "validationCode": "NAME_INVALID",
        }
    ]


def test_client_id_is_required(fake: FakeAdServer) -> None:
    body = payload()
    del body["client_id"]
    one_message(fake, body, "VALUE_REQUIRED", "client_id", "requires a client_id")
    one_message(fake, payload(client_id=""), "VALUE_REQUIRED", "client_id")


@pytest.mark.parametrize("client_id", ["18", "abc.def", "0.1700000000", "123.0", "1.2.3", " 1.2"])
def test_client_id_is_two_positive_numbers(fake: FakeAdServer, client_id: str) -> None:
    one_message(fake, payload(client_id=client_id), "VALUE_INVALID", "client_id", client_id)


def test_client_id_dropped_on_collect(fake: FakeAdServer) -> None:
    collect(fake, payload(client_id="GA1.1.123.456"))
    assert fake.ga4_events() == [] and fake.ga4_dropped()[0].field_path == "client_id"


def test_events_are_required(fake: FakeAdServer) -> None:
    one_message(fake, {"client_id": CLIENT_ID}, "VALUE_REQUIRED", "events")
    one_message(fake, {"client_id": CLIENT_ID, "events": []}, "VALUE_REQUIRED", "events")


def test_at_most_25_events(fake: FakeAdServer) -> None:
    events = [{"name": "page_view"}] * 26
    one_message(fake, payload(*events), "EXCEEDED_MAX_ENTITIES", "events", "[26]", "25")
    collect(fake, payload(*events))
    assert fake.ga4_events() == [] and fake.ga4_dropped()[0].events == 26


def test_25_events_are_fine(fake: FakeAdServer) -> None:
    assert_clean(fake, payload(*[{"name": "page_view"}] * 25))


def test_event_name_is_required(fake: FakeAdServer) -> None:
    one_message(fake, payload({"params": {}}), "VALUE_REQUIRED", "events", "index: [0]")


@pytest.mark.parametrize(
    ("name", "mention"),
    [
        ("1st_purchase", "start with an alphabetic character"),
        ("add-to-cart", "alphanumeric characters and underscores"),
        ("add to cart", "alphanumeric characters and underscores"),
        ("é_vénement", "start with an alphabetic character"),
        ("a" * 41, "40 characters or fewer"),
    ],
)
def test_event_name_rules(fake: FakeAdServer, name: str, mention: str) -> None:
    one_message(fake, payload({"name": name}), "NAME_INVALID", "events", f"[{name}]", mention)


def test_event_name_of_40_characters_is_fine(fake: FakeAdServer) -> None:
    assert_clean(fake, payload({"name": "a" * 40}))


@pytest.mark.parametrize(
    "name",
    ["session_start", "first_visit", "user_engagement", "app_remove", "screen_view", "ga_x",
     "google_purchase", "firebase_event"],
)  # fmt: skip
def test_reserved_event_names(fake: FakeAdServer, name: str) -> None:
    one_message(fake, payload({"name": name}), "NAME_RESERVED", "events", f"[{name}]")


def test_event_names_are_case_sensitive_custom_names(fake: FakeAdServer) -> None:
    assert_clean(fake, payload({"name": "Session_Start"}, {"name": "contact"}))


def test_at_most_25_params(fake: FakeAdServer) -> None:
    params = {f"p{i}": i for i in range(26)}
    one_message(
        fake, payload({"name": "x", "params": params}), "EXCEEDED_MAX_ENTITIES",
        "events[0].params", "[26]",
    )  # fmt: skip
    assert_clean(fake, payload({"name": "x", "params": {f"p{i}": i for i in range(25)}}))


@pytest.mark.parametrize(
    ("key", "code"),
    [
        ("_internal", "NAME_RESERVED"),
        ("firebase_x", "NAME_RESERVED"),
        ("ga_session", "NAME_RESERVED"),
        ("google_thing", "NAME_RESERVED"),
        ("gtag.config", "NAME_RESERVED"),
        ("firebase_conversion", "NAME_RESERVED"),
        ("item-id", "NAME_INVALID"),
        ("9lives", "NAME_INVALID"),
        ("p" * 41, "NAME_INVALID"),
    ],
)
def test_param_names(fake: FakeAdServer, key: str, code: str) -> None:
    body = payload({"name": "x", "params": {key: 1}})
    one_message(fake, body, code, f"events[0].params.{key}", f"[{key}]")


@pytest.mark.parametrize(
    ("key", "limit"),
    [("coupon", 100), ("page_title", 300), ("page_referrer", 420), ("page_location", 1000)],
)
def test_param_value_lengths(fake: FakeAdServer, key: str, limit: int) -> None:
    assert_clean(fake, payload({"name": "x", "params": {key: "v" * limit}}))
    one_message(
        fake,
        payload({"name": "x", "params": {key: "v" * (limit + 1)}}),
        "VALUE_OUT_OF_BOUNDS",
        f"events[0].params.{key}",
        f"at most {limit}",
    )


def test_session_id_is_exempt_from_the_value_length(fake: FakeAdServer) -> None:
    assert_clean(fake, payload({"name": "x", "params": {"session_id": "1" * 150}}))


def test_items_must_be_a_list(fake: FakeAdServer) -> None:
    body = payload(purchase(items={"item_id": "sku-1"}))
    one_message(fake, body, "VALUE_INVALID", "events[0].params.items")


def test_at_most_200_items(fake: FakeAdServer) -> None:
    assert_clean(fake, payload(purchase(items=[{"item_id": f"s{i}"} for i in range(200)])))
    one_message(
        fake,
        payload(purchase(items=[{"item_id": f"s{i}"} for i in range(201)])),
        "EXCEEDED_MAX_ENTITIES",
        "events[0].params.items",
        "[201]",
    )


@pytest.mark.parametrize("item", [{"price": 9.9}, {"item_id": "", "item_name": ""}, {}])
def test_items_need_item_id_or_item_name(fake: FakeAdServer, item: dict[str, Any]) -> None:
    body = payload(purchase(items=[{"item_id": "ok"}, item]))
    one_message(fake, body, "VALUE_REQUIRED", "events[0].params.items[1]", "item_id or item_name")


def test_item_name_alone_is_enough(fake: FakeAdServer) -> None:
    assert_clean(fake, payload(purchase(items=[{"item_name": "Mug", "price": 9.9}])))


def test_at_most_10_custom_item_params(fake: FakeAdServer) -> None:
    ok = {"item_id": "a", "item_brand": "b", **{f"c{i}": i for i in range(10)}}
    assert_clean(fake, payload(purchase(items=[ok])))
    one_message(
        fake,
        payload(purchase(items=[{**ok, "c10": 1}])),
        "EXCEEDED_MAX_ENTITIES",
        "events[0].params.items[0]",
        "[11] custom parameters",
    )


def test_item_params_follow_the_name_and_length_rules(fake: FakeAdServer) -> None:
    one_message(
        fake, payload(purchase(items=[{"item_id": "a", "bad-key": 1}])), "NAME_INVALID",
        "events[0].params.items[0].bad-key",
    )  # fmt: skip
    one_message(
        fake, payload(purchase(items=[{"item_id": "a", "item_variant": "v" * 101}])),
        "VALUE_OUT_OF_BOUNDS", "events[0].params.items[0].item_variant",
    )  # fmt: skip


@pytest.mark.parametrize("currency", ["eur", "EURO", "€", 978])
def test_currency_is_uppercase_iso_4217(fake: FakeAdServer, currency: Any) -> None:
    one_message(
        fake, payload(purchase(currency=currency)), "VALUE_INVALID", "events[0].params.currency"
    )


def test_value_needs_a_currency(fake: FakeAdServer) -> None:
    event = purchase()
    del event["params"]["currency"]
    one_message(fake, payload(event), "VALUE_REQUIRED", "events[0].params.currency", "value")


def test_purchase_needs_transaction_id_only_when_enforcing(fake: FakeAdServer) -> None:
    event = purchase()
    del event["params"]["transaction_id"]
    assert_clean(fake, payload(event))
    enforced = payload(event, validation_behavior="ENFORCE_RECOMMENDATIONS")
    one_message(fake, enforced, "VALUE_REQUIRED", "events[0].params.transaction_id")
    one_message(
        fake,
        payload(purchase(transaction_id=""), validation_behavior="ENFORCE_RECOMMENDATIONS"),
        "VALUE_REQUIRED",
        "events[0].params.transaction_id",
    )
    collect(fake, payload(event))
    collect(fake, enforced)
    assert len(fake.ga4_events()) == 1  # RELAXED takes it; ENFORCE drops it
    assert fake.ga4_dropped()[0].field_path == "events[0].params.transaction_id"


def test_value_must_be_a_number_when_enforcing(fake: FakeAdServer) -> None:
    enforce = {"validation_behavior": "ENFORCE_RECOMMENDATIONS"}
    assert_clean(fake, payload(purchase(value="9.99"), **enforce))  # Google's own example
    assert_clean(fake, payload(purchase(value="lots")))
    one_message(
        fake, payload(purchase(value="lots"), **enforce), "VALUE_INVALID", "events[0].params.value"
    )


def test_old_timestamp_only_reported_when_enforcing(fake: FakeAdServer) -> None:
    old = {**purchase(), "timestamp_micros": now_us() - 73 * HOUR_US}
    assert_clean(fake, payload(old))
    one_message(
        fake,
        payload(old, validation_behavior="ENFORCE_RECOMMENDATIONS"),
        "VALUE_INVALID",
        "events[0].timestamp_micros",
        "more than 72 hours",
    )
    assert_clean(fake, payload({**purchase(), "timestamp_micros": now_us() - 71 * HOUR_US}))


def test_request_timestamp_applies_to_events_without_their_own(fake: FakeAdServer) -> None:
    body = payload(
        timestamp_micros=now_us() - 80 * HOUR_US, validation_behavior="ENFORCE_RECOMMENDATIONS"
    )
    one_message(fake, body, "VALUE_INVALID", "timestamp_micros", "72 hours")


def test_milliseconds_are_called_out(fake: FakeAdServer) -> None:
    event = {**purchase(), "timestamp_micros": int(time.time() * 1000)}
    body = payload(event, validation_behavior="ENFORCE_RECOMMENDATIONS")
    one_message(fake, body, "VALUE_INVALID", "events[0].timestamp_micros", "not milliseconds")


def test_future_timestamp_when_enforcing(fake: FakeAdServer) -> None:
    event = {**purchase(), "timestamp_micros": now_us() + HOUR_US}
    body = payload(event, validation_behavior="ENFORCE_RECOMMENDATIONS")
    one_message(fake, body, "VALUE_INVALID", "events[0].timestamp_micros", "future")


def test_relaxed_collect_moves_an_old_event_to_72_hours_ago(fake: FakeAdServer) -> None:
    sent = now_us() - 100 * HOUR_US
    collect(fake, payload({**purchase(), "timestamp_micros": sent}))
    (taken,) = fake.ga4_events()
    assert abs(taken["timestamp_micros"] - (now_us() - 72 * HOUR_US)) < 60_000_000
    (moved,) = fake.ga4_dropped()
    assert moved.scope == "timestamp_micros" and moved.event["timestamp_micros"] == sent
    assert "72 hours ago" in moved.reason


def test_enforcing_collect_drops_an_old_event(fake: FakeAdServer) -> None:
    body = payload(
        {**purchase(), "timestamp_micros": now_us() - 100 * HOUR_US},
        purchase(transaction_id="fresh"),
        validation_behavior="ENFORCE_RECOMMENDATIONS",
    )
    collect(fake, body)
    assert [e["params"]["transaction_id"] for e in fake.ga4_events()] == ["fresh"]
    assert fake.ga4_dropped()[0].scope == "event"


def test_body_must_be_smaller_than_130kb(fake: FakeAdServer) -> None:
    def padded(size: int) -> bytes:
        body = payload({"name": "x", "params": {"p": ""}})
        base = len(json.dumps(body).encode())
        body["events"][0]["params"]["p"] = "v" * (size - base)
        raw = json.dumps(body).encode()
        assert len(raw) == size
        return raw

    # 129,999 bytes: only the (long) parameter value is reported, not the size
    (message,) = debug(fake, raw=padded(129_999))
    assert message["fieldPath"] == "events[0].params.p"
    (message,) = debug(fake, raw=padded(130_000))
    assert message["validationCode"] == "VALUE_OUT_OF_BOUNDS" and "fieldPath" not in message
    assert "130000 bytes" in message["description"]
    collect(fake, raw=padded(130_000))
    assert fake.ga4_dropped()[0].scope == "request"


@pytest.mark.parametrize(
    ("user_data", "code", "field_path"),
    [
        ({"sha256_email_address": ["alice@example.com"]}, "VALUE_INVALID",
         "user_data.sha256_email_address[0]"),
        ({"sha256_email_address": sha("a")[:63]}, "VALUE_INVALID",
         "user_data.sha256_email_address[0]"),
        ({"sha256_phone_number": ["+16505551234"]}, "VALUE_INVALID",
         "user_data.sha256_phone_number[0]"),
        ({"sha256_email_address": [sha(str(i)) for i in range(4)]}, "EXCEEDED_MAX_ENTITIES",
         "user_data.sha256_email_address"),
        ({"sha256_phone_number": [sha(str(i)) for i in range(4)]}, "EXCEEDED_MAX_ENTITIES",
         "user_data.sha256_phone_number"),
        ({"address": [{"city": "x"}] * 3}, "EXCEEDED_MAX_ENTITIES", "user_data.address"),
        ({"address": {"sha256_first_name": "alice"}}, "VALUE_INVALID",
         "user_data.address[0].sha256_first_name"),
        ({"address": [{"sha256_street": "123 main street"}]}, "VALUE_INVALID",
         "user_data.address[0].sha256_street"),
        ({"address": [{"country": "USA"}]}, "VALUE_INVALID", "user_data.address[0].country"),
    ],
)  # fmt: skip
def test_user_data_rules(
    fake: FakeAdServer, user_data: dict[str, Any], code: str, field_path: str
) -> None:
    one_message(fake, payload(user_data=user_data), code, field_path)


def test_user_data_single_values_and_uppercase_hex_are_fine(fake: FakeAdServer) -> None:
    user_data = {
        "sha256_email_address": sha("a@b.c").upper(),
        "sha256_phone_number": [sha("+1"), sha("+2"), sha("+3")],
        "address": {"sha256_first_name": sha("a"), "country": "us"},
    }
    assert_clean(fake, payload(user_data=user_data))


def test_bad_user_data_is_dropped_not_the_events(fake: FakeAdServer) -> None:
    collect(fake, payload(user_data={"sha256_email_address": ["alice@example.com"]}, user_id="u"))
    (taken,) = fake.ga4_events()
    assert "user_data" not in taken and taken["user_id"] == "u"
    (dropped,) = fake.ga4_dropped()
    assert dropped.scope == "user_data" and dropped.event is None


def test_user_id_at_most_256_characters(fake: FakeAdServer) -> None:
    assert_clean(fake, payload(user_id="u" * 256))
    one_message(fake, payload(user_id="u" * 257), "VALUE_OUT_OF_BOUNDS", "user_id")


def test_user_properties(fake: FakeAdServer) -> None:
    one_message(
        fake, payload(user_properties={"user_id": {"value": "x"}}), "NAME_RESERVED",
        "user_properties.user_id",
    )  # fmt: skip
    one_message(
        fake, payload(user_properties={"tier": {"value": "g" * 37}}), "VALUE_OUT_OF_BOUNDS",
        "user_properties.tier.value",
    )  # fmt: skip
    one_message(
        fake, payload(user_properties={"t" * 25: {"value": 1}}), "NAME_INVALID",
        f"user_properties.{'t' * 25}",
    )  # fmt: skip
    many = {f"p{i}": {"value": i} for i in range(26)}
    one_message(fake, payload(user_properties=many), "EXCEEDED_MAX_ENTITIES", "user_properties")
    collect(fake, payload(user_properties=many))
    assert "user_properties" not in fake.ga4_events()[0]
    assert fake.ga4_dropped()[0].scope == "user_properties"


@pytest.mark.parametrize(
    ("body", "mention"),
    [
        ({"client_id": CLIENT_ID, "events": [{"name": "x"}], "clientid": "1.2"},
         "clientid: Cannot find field."),
        ({"client_id": CLIENT_ID, "events": [{"name": "x", "names": "y"}]},
         "(events[0]) names: Cannot find field."),
        ({"client_id": 1.2, "events": [{"name": "x"}]}, "client_id: Expected a string."),
        ({"client_id": CLIENT_ID, "events": {"name": "x"}}, "events: Expected an array."),
        ({"client_id": CLIENT_ID, "events": [{"name": "x", "params": []}]},
         "(events[0]) params: Expected an object."),
        ({"client_id": CLIENT_ID, "events": [{"name": "x"}],
          "consent": {"ad_user_data": "granted"}},
         "(consent) ad_user_data: Invalid enum value"),
        ({"client_id": CLIENT_ID, "events": [{"name": "x"}], "validation_behavior": "STRICT"},
         "validation_behavior: Invalid enum value"),
        ({"client_id": CLIENT_ID, "events": [{"name": "x"}], "timestamp_micros": 1.5},
         "timestamp_micros: Expected an integer."),
        ({"client_id": CLIENT_ID, "events": [{"name": "x"}], "user_data": {"email": "x"}},
         "(user_data) email: Cannot find field."),
    ],
)  # fmt: skip
def test_payload_fields_are_the_protocols(
    fake: FakeAdServer, body: dict[str, Any], mention: str
) -> None:
    (message,) = debug(fake, body)
    assert message["validationCode"] == "VALUE_INVALID" and "fieldPath" not in message
    assert message["description"].startswith("Unable to parse Measurement Protocol JSON payload.")
    assert mention in message["description"]
    collect(fake, body)
    assert fake.ga4_events() == [] and fake.ga4_dropped()[0].scope == "request"


def test_validation_server_lists_every_message(fake: FakeAdServer) -> None:
    body = payload({"name": "_x"}, {"name": "session_start"}, purchase(currency="eur"))
    codes = [(m["validationCode"], m["fieldPath"]) for m in debug(fake, body)]
    assert codes == [
        ("NAME_INVALID", "events"),
        ("NAME_RESERVED", "events"),
        ("VALUE_INVALID", "events[2].params.currency"),
    ]


# =============================================================================================
# Faults, schedule, rate limit, counts
# =============================================================================================


@pytest.mark.parametrize(
    ("fault", "status", "name"), [("http_500", 500, "INTERNAL"), ("http_503", 503, "UNAVAILABLE")]
)
def test_fault_5xx_with_google_error_body(
    fake: FakeAdServer, fault: str, status: int, name: str
) -> None:
    fake.inject("ga4", fault)
    got, text, _ = collect(fake, payload())
    assert got == status
    error = json.loads(text)["error"]
    assert error["code"] == status and error["status"] == name and error["message"]
    assert fake.ga4_events() == [] and fake.ga4_dropped() == []
    assert fake.requests[0].body == payload() and fake.requests[0].error_code == status
    assert collect(fake, payload())[0] == 204
    assert len(fake.ga4_events()) == 1


def test_fault_rate_limit_429_with_retry_after(fake: FakeAdServer) -> None:
    fake.inject("ga4", "rate_limit", retry_after=12)
    status, text, headers = collect(fake, payload())
    assert status == 429 and headers["Retry-After"] == "12"
    assert json.loads(text)["error"]["status"] == "RESOURCE_EXHAUSTED"


def test_fault_ga4_status(fake: FakeAdServer) -> None:
    fake.inject("ga4", "ga4_status", status=413)
    status, text, _ = collect(fake, payload())
    assert status == 413 and json.loads(text)["error"]["code"] == 413
    fake.inject("ga4", "ga4_status", status=204)  # answered, nothing taken (a lost request)
    assert collect(fake, payload())[:2] == (204, b"")
    assert fake.ga4_events() == []
    with pytest.raises(ValueError, match="needs status"):
        fake.inject("ga4", "ga4_status")
    with pytest.raises(ValueError, match="applies to platform 'ga4'"):
        fake.inject("tiktok", "ga4_status", status=500)
    with pytest.raises(ValueError, match="applies to platform 'pinterest'"):
        fake.inject("ga4", "pinterest_error", code=1)


def test_faults_apply_to_the_validation_server_too(fake: FakeAdServer) -> None:
    fake.inject("ga4", "http_503")
    assert send(fake.ga4_debug_url(), payload())[0] == 503


def test_fault_delay_drop_and_hang(fake: FakeAdServer) -> None:
    fake.inject("ga4", "delay", seconds=0.2)
    started = time.monotonic()
    assert collect(fake, payload())[0] == 204
    assert time.monotonic() - started >= 0.2
    fake.inject("ga4", "drop")
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        collect(fake, payload(purchase(transaction_id="dropped")))
    fake.inject("ga4", "hang", seconds=0.5)
    with pytest.raises((TimeoutError, urllib.error.URLError, OSError)):
        collect(fake, payload(purchase(transaction_id="hung")), timeout=0.2)
    wait_for_requests(fake, 3)
    assert [e["params"]["transaction_id"] for e in fake.ga4_events()] == ["T-1001"]
    assert [r.fault for r in fake.requests] == ["delay", "drop", "hang"]
    assert [r.status for r in fake.requests] == [204, 0, 0]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_schedule_phases_for_ga4() -> None:
    clock = Clock()
    schedule = FaultSchedule(
        [
            Phase(0, 10, "http_503", ("ga4",), label="down"),
            Phase(10, 20, "rate_limit", ("ga4",), {"retry_after": "phase_end"}, "429"),
        ],
        clock=clock,
    )
    with FakeAdServer(schedule=schedule, clock=clock) as fake:
        schedule.start()
        assert collect(fake, payload())[0] == 503
        clock.now += 12
        status, _, headers = collect(fake, payload())
        assert status == 429 and headers["Retry-After"] == "8"
        clock.now += 1
        assert collect(fake, payload())[0] == 429
        clock.now += 10
        assert collect(fake, payload())[0] == 204
        assert [r.early_retry for r in fake.requests] == [False, False, True, False]
        assert fake.requests[0].phase == "meta:healthy tiktok:healthy ga4:down"
        assert len(fake.ga4_events()) == 1


def test_builtin_rate_limit_per_measurement_id() -> None:
    with FakeAdServer(rate_limit_per_minute=1) as fake:
        assert collect(fake, payload())[0] == 204
        status, text, headers = collect(fake, payload())
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert collect(fake, payload(), mid="G-SECOND01")[0] == 204


def test_purchases_are_counted_by_transaction_id(fake: FakeAdServer) -> None:
    assert dedup_key("ga4") == "transaction_id"
    collect(fake, payload(purchase(transaction_id="T-1"), purchase(transaction_id="T-2")))
    collect(fake, payload(purchase(transaction_id="T-1")))  # a resend: GA dedups it, we count
    collect(fake, payload({"name": "add_to_cart", "params": {"currency": "EUR", "value": 1}}))
    assert fake.ga4_transaction_counts() == {(MID, "T-1"): 2, (MID, "T-2"): 1}
    counts = fake.event_counts()
    assert counts[("ga4", MID, "purchase", "T-1")] == 2
    assert counts[("ga4", MID, "add_to_cart", "")] == 1


def test_request_timeline_counts_ga4(fake: FakeAdServer) -> None:
    start = time.time() - 1
    collect(fake, payload(purchase(), {"name": "_bad"}))
    (row,) = fake.request_timeline(start)
    assert row["requests"] == {"ga4": 1} and row["ok"] == {"ga4": 1}
    assert row["events"] == {"ga4": 1}


# =============================================================================================
# The api_secret never appears in the fake's logs or reprs
# =============================================================================================


def test_the_secret_never_appears_in_logs_or_reprs() -> None:
    lines: list[str] = []
    odd_secret = "s3cr&t/with=odd;chars"  # percent-encoded in the URL
    with FakeAdServer(log=lines.append, ga4_secrets={MID: [SECRET, odd_secret]}) as fake:
        collect(fake, payload())
        collect(fake, payload(), secret=odd_secret)
        collect(fake, payload(), secret="wrong-but-also-secret")
        collect(fake, raw=b"not json")
        send(fake.ga4_debug_url() + query(), payload({"name": "_bad"}))
        fake.inject("ga4", "http_500")
        collect(fake, payload())
        fake.inject("ga4", "drop")
        with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
            collect(fake, payload())
        # a sloppy client separating parameters with ';'
        send(f"{fake.ga4_url()}?measurement_id={MID};api_secret={SECRET}", payload())
        send(f"{fake.ga4_url()}?API_SECRET={SECRET}&measurement_id={MID}", payload())
        shown = "\n".join(
            [
                *lines,
                repr(fake.requests),
                *(str(r) for r in fake.requests),
                repr(fake.ga4_dropped()),
                repr(fake.ga4_events()),
                repr(fake.accepted_events()),
                repr(fake.in_flight()),
                repr([r.headers for r in fake.requests]),
                repr([r.response for r in fake.requests]),
            ]
        )
    encoded = urllib.parse.quote(odd_secret, safe="")
    for secret in (SECRET, odd_secret, encoded, "wrong-but-also-secret"):
        assert secret not in shown
    assert len(lines) == 9
    assert all("api_secret=***" in line for line in lines[:7])
    assert "?measurement_id=*** " in lines[7]  # the value holds the secret: all of it masked
    # The measurement id travels beside the secret and is never shown either.
    assert "?API_SECRET=***&measurement_id=*** " in lines[8]
    assert "ga4     POST /mp/collect?measurement_id=***&api_secret=*** -> 204" in lines[0]
    assert MID not in "\n".join(lines)
    assert "token=***" in lines[0] and "accepted=1" in lines[0]
    assert "dropped_events=1" in lines[2] and "[test]" in lines[4]
    # the raw query stays available to tests that need it
    assert SECRET in fake.requests[0].query
