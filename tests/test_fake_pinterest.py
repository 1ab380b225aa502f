"""The fake Pinterest Conversions API, driven with urllib only (no convapi sender).

Schema errors refuse the whole request (400 code 4196, the message naming the key); the other
rules fail one event inside a 200 answer (a partial failure). Each rule gets a test.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from convapi.testing import PLATFORMS, FakeAdServer, FaultSchedule, Phase, dedup_key

ACCOUNT = "549757463328"
TOKEN = "pina_conversion-token-0123456789abcdef"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EM = sha("alice@example.com")


def now() -> int:
    return int(time.time())


def call(
    url: str,
    body: Any = None,
    *,
    raw: bytes | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    timeout: float = 10,
) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
    hdrs = dict(headers or {})
    data = raw
    if data is None and body is not None:
        data = json.dumps(body).encode()
        hdrs.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, headers=hdrs, method=method)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            text = resp.read()
            return resp.status, json.loads(text) if text else {}, resp.headers
    except urllib.error.HTTPError as err:
        text = err.read()
        return err.code, json.loads(text) if text else {}, err.headers


def event(**overrides: Any) -> dict[str, Any]:
    ev: dict[str, Any] = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": now(),
        "event_id": "order-1001",
        "event_source_url": "https://shop.example/checkout",
        "user_data": {
            "em": [EM],
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        "custom_data": {"currency": "EUR", "value": "59.8", "order_id": "1001"},
    }
    ev.update(overrides)
    return ev


def with_user(**user: Any) -> dict[str, Any]:
    ev = event()
    ev["user_data"].update(user)
    return ev


def with_custom(**custom: Any) -> dict[str, Any]:
    ev = event()
    ev["custom_data"].update(custom)
    return ev


def post(
    fake: FakeAdServer,
    events: Any,
    *,
    token: str | None = TOKEN,
    account: str = ACCOUNT,
    test: bool = False,
    body: Any = None,
    headers: dict[str, str] | None = None,
    query: str = "",
    **kw: Any,
) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
    hdrs = dict(headers or {})
    if token is not None:
        hdrs.setdefault("Authorization", f"Bearer {token}")
    url = fake.pinterest_url(account, test=test) + query
    return call(url, {"data": events} if body is None else body, headers=hdrs, **kw)


def assert_invalid(status: int, body: dict[str, Any], *mentions: str) -> None:
    assert status == 400, body
    assert set(body) == {"code", "message"}, body
    assert body["code"] == 4196
    assert body["message"].startswith("Invalid request: "), body
    for mention in mentions:
        assert mention in body["message"], body


def assert_schema_error(fake: FakeAdServer, events: Any, *mentions: str) -> None:
    status, body, _ = post(fake, events)
    assert_invalid(status, body, *mentions)
    assert fake.pinterest_events() == []


def assert_failed(fake: FakeAdServer, ev: dict[str, Any], *mentions: str) -> str:
    status, body, _ = post(fake, [ev])
    assert status == 200, body
    assert body["num_events_received"] == 1 and body["num_events_processed"] == 0, body
    (result,) = body["events"]
    assert result["status"] == "failed"
    for mention in mentions:
        assert mention in result["error_message"], result
    assert fake.pinterest_events() == []
    return result["error_message"]


def assert_processed(fake: FakeAdServer, ev: dict[str, Any]) -> dict[str, Any]:
    status, body, _ = post(fake, [ev])
    assert status == 200, body
    assert body["num_events_processed"] == 1, body
    assert body["events"][0]["status"] == "processed", body
    return body["events"][0]


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
# Success, recording, the shape convapi sends
# =============================================================================================


def test_platforms_list_all_four() -> None:
    assert PLATFORMS == ("meta", "tiktok", "pinterest", "ga4")
    assert dedup_key("pinterest") == "event_id"


def test_success_body_and_recording(fake: FakeAdServer) -> None:
    events = [event(), event(event_name="add_to_cart", event_id="atc-1")]
    status, body, headers = post(fake, events)
    assert status == 200
    assert headers["Content-Type"].startswith("application/json")
    assert body == {
        "num_events_received": 2,
        "num_events_processed": 2,
        "events": [
            {"status": "processed", "error_message": None, "warning_message": None},
            {"status": "processed", "error_message": None, "warning_message": None},
        ],
    }
    assert fake.pinterest_events() == events
    assert fake.pinterest_events(ACCOUNT) == events and fake.pinterest_events("1") == []
    (rec,) = fake.requests
    assert rec.platform == "pinterest" and rec.pixel_id == ACCOUNT
    assert rec.token_sources == ("bearer_header",) and not rec.token_in_url
    assert rec.events_accepted == 2 and rec.test_mode is False
    assert rec.error_code is None


def test_the_shape_convapi_sends_is_accepted(fake: FakeAdServer) -> None:
    hashes = {k: [sha(k)] for k in ("ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country")}
    ev = {
        "event_name": "checkout",
        "action_source": "web",
        "event_time": now() - 60,
        "event_id": "order-1001",
        "event_source_url": "https://shop.example/checkout?epik=abc",
        "opt_out": False,
        "user_data": {
            "em": [EM],
            **hashes,
            "external_id": [sha("user_123")],
            "client_ip_address": "2001:db8::7",
            "client_user_agent": "Mozilla/5.0",
            "click_id": "dj0yJnU9b2JDcFFHekV4",
            "partner_id": "RampID-123",
        },
        "custom_data": {
            "currency": "EUR",
            "value": "59.8",
            "content_ids": ["sku-1", "sku-2"],
            "contents": [
                {
                    "id": "sku-1",
                    "item_price": "19.9",
                    "quantity": 2,
                    "item_name": "Mug",
                    "item_category": "Kitchen",
                    "item_brand": "Acme",
                },
                {"id": "sku-2", "item_price": "20", "quantity": 1},
            ],
            "content_name": "Mug",
            "content_category": "Kitchen",
            "num_items": 3,
            "order_id": "1001",
            "search_string": "mug",
            "opt_out_type": "LDP",
        },
        "language": "en",
    }
    assert assert_processed(fake, ev)["warning_message"] is None
    assert fake.pinterest_events() == [ev]


def test_nullable_fields_may_be_null(fake: FakeAdServer) -> None:
    ev = with_custom(currency=None, order_id=None)
    ev["event_source_url"] = None
    ev["user_data"]["click_id"] = None
    assert_processed(fake, ev)


# =============================================================================================
# Auth, path, method
# =============================================================================================


def test_missing_authorization_is_401_code_2(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [event()], token=None)
    assert (status, body) == (401, {"code": 2, "message": "Authentication failed."})
    assert fake.pinterest_events() == []


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", TOKEN])
def test_other_authorization_schemes_are_401(fake: FakeAdServer, header: str) -> None:
    status, body, _ = post(fake, [event()], token=None, headers={"Authorization": header})
    assert status == 401 and body["code"] == 2


def test_configured_tokens() -> None:
    with FakeAdServer(pinterest_tokens=[TOKEN]) as fake:
        assert post(fake, [event()], token="another-token")[0] == 401
        assert post(fake, [event()])[0] == 200
        assert len(fake.pinterest_events()) == 1


def test_token_in_query_is_recorded_not_accepted(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [event()], token=None, query=f"?access_token={TOKEN}")
    assert status == 401 and body["code"] == 2
    assert fake.requests[0].token_sources == ("query",)


@pytest.mark.parametrize("account", ["act_549757463328", "12a", "1" * 19])
def test_ad_account_id_must_be_digits_up_to_18(fake: FakeAdServer, account: str) -> None:
    status, body, _ = post(fake, [event()], account=account)
    assert_invalid(status, body, "ad_account_id", repr(account))


def test_ad_account_id_of_18_digits_is_fine(fake: FakeAdServer) -> None:
    assert post(fake, [event()], account="9" * 18)[0] == 200


def test_unknown_ad_account_is_404() -> None:
    with FakeAdServer(pinterest_ad_accounts=[ACCOUNT]) as fake:
        status, body, _ = post(fake, [event()], account="1234")
        assert status == 404 and body["code"] == 404 and "1234" in body["message"]
        assert post(fake, [event()])[0] == 200


@pytest.mark.parametrize(
    "path",
    ["/v5/ad_accounts/123/events/", "/v5/ad_accounts/123/event", "/v5/events", "/v4/x"],
)
def test_unknown_paths_are_404(fake: FakeAdServer, path: str) -> None:
    status, body, _ = call(fake.base_url + path, {"data": []}, headers={"Authorization": "x"})
    assert status == 404
    if path.startswith("/v5/"):
        assert set(body) == {"code", "message"}


def test_get_is_405_code_5(fake: FakeAdServer) -> None:
    status, body, headers = call(
        fake.pinterest_url(ACCOUNT), method="GET", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert status == 405 and body["code"] == 5 and body["message"] == "Method not allowed"
    assert headers["Allow"] == "POST"


# =============================================================================================
# The schema: 400 code 4196, the whole request refused
# =============================================================================================


def test_invalid_json(fake: FakeAdServer) -> None:
    status, body, _ = post(
        fake,
        None,
        body=None,
        raw=b'{"data": [',
        headers={"Content-Type": "application/json"},
    )
    assert_invalid(status, body, "not valid JSON")
    assert fake.requests[0].body == '{"data": ['


def test_body_must_be_sent_as_json(fake: FakeAdServer) -> None:
    raw = json.dumps({"data": [event()]}).encode()
    status, body, _ = post(fake, None, raw=raw, headers={"Content-Type": "text/plain"})
    assert_invalid(status, body, "application/json")


def test_body_must_be_an_object(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, None, body=[event()])
    assert_invalid(status, body, "is not of type 'object'")


def test_unknown_body_key(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, None, body={"data": [event()], "test_event_code": "T1"})
    assert_invalid(status, body, "Additional properties are not allowed ('test_event_code' was")


def test_unknown_event_key(fake: FakeAdServer) -> None:
    assert_schema_error(
        fake,
        [event(advertiser_tracking_enabled=True)],
        "('advertiser_tracking_enabled' was unexpected)",
        "data[0]",
    )


def test_unknown_custom_data_key_as_observed_by_woocommerce(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [with_custom(category_name="Mugs")])
    assert_invalid(status, body)
    assert body["message"].startswith(
        "Invalid request: Additional properties are not allowed ('category_name' was unexpected)"
    )
    assert "data[0].custom_data" in body["message"]


def test_unknown_contents_key(fake: FakeAdServer) -> None:
    ev = with_custom(contents=[{"id": "sku-1", "quantity": 1, "price": "9.9"}])
    assert_schema_error(fake, [ev], "('price' was unexpected)", "data[0].custom_data.contents[0]")


def test_two_unknown_keys_are_both_named(fake: FakeAdServer) -> None:
    assert_schema_error(fake, [event(foo=1, bar=2)], "('foo', 'bar' were unexpected)")


def test_app_and_device_info_are_strict_too(fake: FakeAdServer) -> None:
    assert_schema_error(fake, [event(app_info={"app_colour": "red"})], "'app_colour'")
    assert_schema_error(fake, [event(device_info={"os_family": "amiga"})], "'amiga' is not one")
    assert_schema_error(
        fake, [event(device_info={"battery_level": 101})], "greater than the maximum of 100"
    )
    assert_processed(fake, event(device_info={"os_family": "linux", "screen_width": 1920}))


def test_data_is_required(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, None, body={})
    assert_invalid(status, body, "'data' is a required property")


def test_data_must_be_a_list(fake: FakeAdServer) -> None:
    assert_schema_error(fake, event(), "is not of type 'array'", "data")


def test_data_must_not_be_empty(fake: FakeAdServer) -> None:
    assert_schema_error(fake, [], "[] is too short")


def test_at_most_1000_events(fake: FakeAdServer) -> None:
    assert_schema_error(fake, [event()] * 1001, "is too long", "1001 items")


def test_exactly_1000_events_are_accepted(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [event(event_id=f"e{i}") for i in range(1000)])
    assert status == 200 and body["num_events_processed"] == 1000
    assert len(fake.pinterest_events()) == 1000


@pytest.mark.parametrize(
    "field", ["event_name", "action_source", "event_time", "user_data", "event_id"]
)
def test_required_event_fields(fake: FakeAdServer, field: str) -> None:
    ev = event()
    del ev[field]
    assert_schema_error(fake, [ev], f"'{field}' is a required property", "data[0]")


@pytest.mark.parametrize(
    ("overrides", "mention"),
    [
        ({"event_time": float(now())}, "is not of type 'integer'"),
        ({"event_time": str(now())}, "is not of type 'integer'"),
        ({"event_time": True}, "is not of type 'integer'"),
        ({"event_id": 1001}, "1001 is not of type 'string'"),
        ({"event_name": None}, "None is not of type 'string'"),
        ({"opt_out": "false"}, "is not of type 'boolean'"),
        ({"user_data": [EM]}, "is not of type 'object'"),
        ({"custom_data": "EUR 59.8"}, "is not of type 'object'"),
    ],
)
def test_event_field_types(fake: FakeAdServer, overrides: dict[str, Any], mention: str) -> None:
    assert_schema_error(fake, [event(**overrides)], mention)


@pytest.mark.parametrize(
    ("custom", "mention"),
    [
        ({"value": 59.8}, "59.8 is not of type 'string'"),
        ({"predicted_ltv": 100}, "is not of type 'string'"),
        ({"num_items": "3"}, "'3' is not of type 'integer'"),
        ({"num_items": 3.0}, "3.0 is not of type 'integer'"),
        ({"content_ids": [1, 2]}, "1 is not of type 'string'"),
        ({"contents": [{"id": "a", "item_price": 19.9}]}, "19.9 is not of type 'string'"),
        ({"contents": [{"id": "a", "quantity": "2"}]}, "'2' is not of type 'integer'"),
        ({"contents": [{"id": 7}]}, "7 is not of type 'string'"),
    ],
)
def test_custom_data_types(fake: FakeAdServer, custom: dict[str, Any], mention: str) -> None:
    assert_schema_error(fake, [with_custom(**custom)], mention, "data[0].custom_data")


@pytest.mark.parametrize("key", ["em", "ph", "external_id", "country", "hashed_maids"])
def test_hashed_keys_must_be_lists_of_strings(fake: FakeAdServer, key: str) -> None:
    assert_schema_error(fake, [with_user(**{key: sha("x")})], "is not of type 'array'", key)
    assert_schema_error(fake, [with_user(**{key: [1]})], "1 is not of type 'string'", key)


def test_plain_user_keys_are_strings(fake: FakeAdServer) -> None:
    assert_schema_error(fake, [with_user(client_ip_address=["1.2.3.4"])], "'string'")
    assert_schema_error(fake, [with_user(click_id=123)], "123 is not of type 'string'")


@pytest.mark.parametrize(
    "user",
    [
        {"ph": [sha("16505551234")]},
        {"client_ip_address": "203.0.113.7"},
        {"client_user_agent": "Mozilla/5.0"},
        {"external_id": [sha("u1")], "click_id": "abc"},
        {},
    ],
)
def test_user_data_needs_em_maids_or_ip_and_user_agent(
    fake: FakeAdServer, user: dict[str, Any]
) -> None:
    assert_schema_error(
        fake, [event(user_data=user)], "is not valid under any of the given schemas", "user_data"
    )


@pytest.mark.parametrize(
    "user",
    [
        {"em": [EM]},
        {"hashed_maids": [sha("38400000-8cf0-11bd-b23e-10b96e40000d")]},
        {"client_ip_address": "203.0.113.7", "client_user_agent": "Mozilla/5.0"},
    ],
)
def test_each_identity_alone_is_enough(fake: FakeAdServer, user: dict[str, Any]) -> None:
    assert_processed(fake, event(user_data=user))


def test_one_schema_error_refuses_the_whole_batch(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [event(), event(event_id=5), event()])
    assert_invalid(status, body, "data[1].event_id")
    assert fake.pinterest_events() == []


# =============================================================================================
# Per-event rules: HTTP 200, the event "failed"
# =============================================================================================


def test_unknown_event_name_fails_the_event(fake: FakeAdServer) -> None:
    message = assert_failed(fake, event(event_name="Purchase"), "data[0].event_name", "checkout")
    assert "'Purchase'" in message


@pytest.mark.parametrize("name", ["page_visit", "custom", "add_payment_info", "contact", "lead"])
def test_known_event_names(fake: FakeAdServer, name: str) -> None:
    assert_processed(fake, event(event_name=name))


@pytest.mark.parametrize("source", ["website", "WEB", "app", "email"])
def test_unknown_action_source_fails_the_event(fake: FakeAdServer, source: str) -> None:
    assert_failed(fake, event(action_source=source), "data[0].action_source", "offline")


@pytest.mark.parametrize("source", ["app_android", "app_ios", "offline"])
def test_other_action_sources(fake: FakeAdServer, source: str) -> None:
    assert_processed(fake, event(action_source=source))


def test_event_older_than_7_days_fails(fake: FakeAdServer) -> None:
    assert_failed(fake, event(event_time=now() - 8 * 86400), "7 days")


def test_event_6_days_old_is_fine(fake: FakeAdServer) -> None:
    assert_processed(fake, event(event_time=now() - 6 * 86400))


def test_event_in_the_future_fails(fake: FakeAdServer) -> None:
    assert_failed(fake, event(event_time=now() + 3600), "in the future")


def test_event_time_in_milliseconds_fails(fake: FakeAdServer) -> None:
    assert_failed(fake, event(event_time=now() * 1000), "not milliseconds")


def test_small_clock_skew_is_allowed(fake: FakeAdServer) -> None:
    assert_processed(fake, event(event_time=now() + 200))


@pytest.mark.parametrize("key", ["em", "ph", "fn", "ln", "ge", "db", "ct", "st", "zp", "country"])
def test_unhashed_values_fail_the_event(fake: FakeAdServer, key: str) -> None:
    assert_failed(fake, with_user(**{key: ["plain"]}), f"user_data.{key}[0]", "SHA-256")


def test_uppercase_hash_fails_the_event(fake: FakeAdServer) -> None:
    assert_failed(fake, with_user(em=[EM.upper()]), "64 lowercase hex")


def test_second_value_of_a_list_is_checked(fake: FakeAdServer) -> None:
    assert_failed(fake, with_user(em=[EM, "bob@example.com"]), "user_data.em[1]")


@pytest.mark.parametrize("value", ["abc", "59,80", " 59.8", "", "1e999", "NaN"])
def test_value_must_parse_as_a_number(fake: FakeAdServer, value: str) -> None:
    assert_failed(fake, with_custom(value=value), "custom_data.value", "number")


@pytest.mark.parametrize("value", ["59.8", "-5", "0", "1e3", ".5"])
def test_number_strings(fake: FakeAdServer, value: str) -> None:
    assert_processed(fake, with_custom(value=value))


def test_item_price_must_parse_as_a_number(fake: FakeAdServer) -> None:
    ev = with_custom(contents=[{"id": "a", "item_price": "19.90 EUR", "quantity": 1}])
    assert_failed(fake, ev, "contents[0].item_price")


def test_currency_must_be_three_letters(fake: FakeAdServer) -> None:
    assert_failed(fake, with_custom(currency="EURO"), "custom_data.currency")


def test_client_ip_address_must_be_valid(fake: FakeAdServer) -> None:
    assert_failed(fake, with_user(client_ip_address="203.0.113.999"), "client_ip_address")


def test_unknown_user_data_key_is_a_warning_only(fake: FakeAdServer) -> None:
    result = assert_processed(fake, with_user(fbp="fb.1.1700000000000.1"))
    assert "user_data.fbp" in result["warning_message"]
    assert result["error_message"] is None
    assert len(fake.pinterest_events()) == 1


def test_language_not_two_letters_is_a_warning(fake: FakeAdServer) -> None:
    result = assert_processed(fake, event(language="eng"))
    assert "language" in result["warning_message"]


def test_partial_failure_in_request_order(fake: FakeAdServer) -> None:
    events = [
        event(event_id="a"),
        event(event_id="b", event_time=now() - 30 * 86400),
        event(event_id="c", event_name="nope"),
        event(event_id="d"),
    ]
    status, body, _ = post(fake, events)
    assert status == 200
    assert body["num_events_received"] == 4 and body["num_events_processed"] == 2
    assert [e["status"] for e in body["events"]] == ["processed", "failed", "failed", "processed"]
    assert "data[1].event_time" in body["events"][1]["error_message"]
    assert "data[2].event_name" in body["events"][2]["error_message"]
    assert [e["event_id"] for e in fake.pinterest_events()] == ["a", "d"]
    failed = fake.dropped("pinterest")
    assert [(d.event_index, d.event["event_id"]) for d in failed] == [(1, "b"), (2, "c")]
    assert failed[0].reason == body["events"][1]["error_message"]
    assert failed[0].scope == "event" and failed[0].pixel_id == ACCOUNT
    rec = fake.requests[0]
    assert rec.events_accepted == 2 and rec.events_dropped == 2


def test_all_events_failing_is_still_200(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [event(event_name="x"), event(event_name="y")])
    assert status == 200 and body["num_events_processed"] == 0


# =============================================================================================
# Test mode
# =============================================================================================


def test_test_mode_same_answer_nothing_accepted(fake: FakeAdServer) -> None:
    events = [event(), event(event_id="bad", event_name="nope")]
    live_status, live_body, _ = post(fake, events)
    fake.reset()
    status, body, _ = post(fake, events, test=True)
    assert (status, body) == (live_status, live_body)
    assert fake.pinterest_events() == [] and fake.dropped() == []
    (rec,) = fake.requests
    assert rec.test_mode is True and rec.query == "test=true" and rec.events_accepted == 0
    assert rec.body == {"data": events}


def test_test_false_is_a_live_request(fake: FakeAdServer) -> None:
    assert post(fake, [event()], query="?test=false")[0] == 200
    assert len(fake.pinterest_events()) == 1 and fake.requests[0].test_mode is False


def test_test_flag_must_be_boolean(fake: FakeAdServer) -> None:
    status, body, _ = post(fake, [event()], query="?test=yes")
    assert_invalid(status, body, "'yes' is not of type 'boolean'")


def test_is_test_is_not_the_test_flag(fake: FakeAdServer) -> None:
    # RL's name for the flag; the endpoint's parameter is ``test`` (OAS): these events count.
    assert post(fake, [event()], query="?is_test=true")[0] == 200
    assert len(fake.pinterest_events()) == 1


# =============================================================================================
# Faults, schedule, rate limit, counts
# =============================================================================================


def test_fault_http_500_then_recovers(fake: FakeAdServer) -> None:
    fake.inject("pinterest", "http_500")
    status, body, _ = post(fake, [event()])
    assert status == 500 and set(body) == {"code", "message"} and body["code"] == 500
    assert fake.requests[0].fault == "http_500" and fake.requests[0].body["data"]
    assert post(fake, [event()])[0] == 200
    assert len(fake.pinterest_events()) == 1


def test_fault_http_503_is_code_4197(fake: FakeAdServer) -> None:
    fake.inject("pinterest", "http_503")
    status, body, _ = post(fake, [event()])
    assert status == 503
    assert body == {
        "code": 4197,
        "message": "The endpoint has been ramped down and is currently not accepting any traffic.",
    }


def test_fault_rate_limit_is_429_code_8(fake: FakeAdServer) -> None:
    fake.inject("pinterest", "rate_limit", retry_after=7)
    status, body, headers = post(fake, [event()])
    assert status == 429 and body["code"] == 8 and "rate limit" in body["message"]
    assert headers["Retry-After"] == "7"
    assert fake.pinterest_events() == []


def test_fault_pinterest_error_422_detailed(fake: FakeAdServer) -> None:
    fake.inject(
        "pinterest",
        "pinterest_error",
        status=422,
        code=4100,
        message="Not all events were successfully processed.",
        details={"failed": [0]},
    )
    status, body, _ = post(fake, [event()])
    assert status == 422 and body["code"] == 4100 and body["details"] == {"failed": [0]}
    fake.inject("pinterest", "pinterest_error", code=29, status=403, retry_after=3)
    status, body, headers = post(fake, [event()])
    assert status == 403 and body["code"] == 29 and headers["Retry-After"] == "3"


def test_inject_checks_pinterest_faults(fake: FakeAdServer) -> None:
    with pytest.raises(ValueError, match="needs code"):
        fake.inject("pinterest", "pinterest_error")
    with pytest.raises(ValueError, match="applies to platform 'pinterest'"):
        fake.inject("meta", "pinterest_error", code=1)
    with pytest.raises(ValueError, match="applies to platform 'meta'"):
        fake.inject("pinterest", "meta_error", code=1)
    with pytest.raises(ValueError, match="unknown parameter"):
        fake.inject("pinterest", "pinterest_error", code=1, subcode=2)
    assert fake.pending_faults() == []


def test_fault_delay_drop_and_hang(fake: FakeAdServer) -> None:
    fake.inject("pinterest", "delay", seconds=0.2)
    started = time.monotonic()
    assert post(fake, [event()])[0] == 200
    assert time.monotonic() - started >= 0.2
    fake.inject("pinterest", "drop")
    with pytest.raises((urllib.error.URLError, ConnectionError, http.client.HTTPException)):
        post(fake, [event(event_id="dropped")])
    fake.inject("pinterest", "hang", seconds=0.5)
    with pytest.raises((TimeoutError, urllib.error.URLError, OSError)):
        post(fake, [event(event_id="hung")], timeout=0.2)
    wait_for_requests(fake, 3)  # recorded once the fake gives up holding it
    assert [e["event_id"] for e in fake.pinterest_events()] == ["order-1001"]
    assert [r.fault for r in fake.requests] == ["delay", "drop", "hang"]
    assert fake.requests[1].status == 0 and fake.requests[1].body["data"][0]["event_id"]


def test_faults_are_per_platform(fake: FakeAdServer) -> None:
    fake.inject("meta", "http_500")
    assert post(fake, [event()])[0] == 200
    assert fake.pending_faults() == [("meta", "http_500")]


class Clock:
    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def test_schedule_phases_for_pinterest() -> None:
    clock = Clock()
    schedule = FaultSchedule(
        [
            Phase(0, 10, "http_503", ("pinterest",), label="down"),
            Phase(10, 20, "rate_limit", ("pinterest",), {"retry_after": "phase_end"}, "429"),
        ],
        clock=clock,
    )
    with FakeAdServer(schedule=schedule, clock=clock) as fake:
        schedule.start()
        status, body, _ = post(fake, [event()])
        assert status == 503 and body["code"] == 4197
        assert schedule.label_at() == "meta:healthy tiktok:healthy pinterest:down"
        clock.now += 15
        status, body, headers = post(fake, [event()])
        assert status == 429 and body["code"] == 8 and headers["Retry-After"] == "5"
        clock.now += 1
        assert post(fake, [event()])[0] == 429
        clock.now += 10
        assert post(fake, [event()])[0] == 200
        assert [r.early_retry for r in fake.requests] == [False, False, True, False]
        assert [r.phase for r in fake.requests][0] == "meta:healthy tiktok:healthy pinterest:down"
        assert len(fake.pinterest_events()) == 1


def test_a_schedule_for_every_platform_covers_pinterest() -> None:
    schedule = FaultSchedule.sequence([{"duration": 60, "fault": "http_500"}]).start()
    with FakeAdServer(schedule=schedule) as fake:
        assert post(fake, [event()])[0] == 500
        assert schedule.label_at() == "http_500"


def test_builtin_rate_limit_per_token() -> None:
    with FakeAdServer(rate_limit_per_minute=2) as fake:
        assert post(fake, [event()])[0] == 200
        assert post(fake, [event()])[0] == 200
        status, body, headers = post(fake, [event()])
        assert status == 429 and body["code"] == 8 and int(headers["Retry-After"]) >= 1
        assert post(fake, [event()], token="another-token")[0] == 200


def test_event_counts_by_event_id_show_resends(fake: FakeAdServer) -> None:
    post(fake, [event(event_id="o-1"), event(event_id="o-2")])
    post(fake, [event(event_id="o-2")])
    post(fake, [event(event_id="o-3", event_name="nope")])  # failed: not counted
    counts = fake.event_counts()
    assert counts[("pinterest", ACCOUNT, "checkout", "o-1")] == 1
    assert counts[("pinterest", ACCOUNT, "checkout", "o-2")] == 2
    assert sum(counts.values()) == 3


def test_request_timeline_counts_pinterest(fake: FakeAdServer) -> None:
    start = time.time() - 1
    post(fake, [event(), event(event_id="x", event_name="nope")])
    (row,) = fake.request_timeline(start)
    assert row["requests"] == {"pinterest": 1} and row["events"] == {"pinterest": 1}


def test_log_lines_and_reprs_mask_the_bearer_token() -> None:
    lines: list[str] = []
    with FakeAdServer(log=lines.append) as fake:
        post(fake, [event()])
        post(fake, [event()], test=True)
        fake.inject("pinterest", "http_503")
        post(fake, [event()])
        text = "\n".join(lines) + repr(fake.requests) + repr([r.headers for r in fake.requests])
    assert TOKEN not in text
    assert "pinterest POST /v5/ad_accounts/549757463328/events -> 200 accepted=1" in lines[0]
    assert "[test]" in lines[1] and "fault=http_503" in lines[2] and "code=4197" in lines[2]
