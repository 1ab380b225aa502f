"""PinterestSender and GA4Sender (Rust, through the bindings) against the local fakes: what the
platforms receive, partial failures, test modes, faults, one user per GA4 request, and that the
GA4 secret and measurement id never show in a repr, a log line or an error.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from typing import Any

import convapi
import pytest
from convapi.testing import FakeAdServer

AD_ACCOUNT = "549755885175"
PIN_TOKEN = "pina-SECRET-conversion-token-0123"
MEASUREMENT = "G-TESTSTREAM1"
API_SECRET = "ga4-SECRET-api-secret-4567"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def event(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A website Purchase both platforms take (a GA4 client id and an order id included)."""
    base: dict[str, Any] = {
        "event_name": "Purchase",
        "event_id": f"order-{i}",
        "event_time": int(time.time()) - 30,
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "user": {
            "email": " John.Smith+Promo@GoogleMail.com ",
            "phone": "+1 (650) 555-1234",
            "first_name": "John",
            "city": "San Francisco",
            "state": "CA",
            "zip": "94103-1234",
            "country": "US",
            "external_id": "cust-42",
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "epik": "dj0yJnU9epik",
            "client_id": "GA1.1.1234567890.1700000000",
            "session_id": "GS1.1.1746825440.14.0.1746825440.0.0.0",
        },
        "custom": {
            "value": 59.8,
            "currency": "EUR",
            "order_id": f"S{i:05d}",
            "contents": [{"id": "SKU-1", "quantity": 2, "item_price": 29.9, "title": "Mug"}],
        },
    }
    base.update(overrides)
    return base


@pytest.fixture(scope="module")
def server() -> Any:
    with FakeAdServer(
        pinterest_tokens=[PIN_TOKEN], ga4_secrets={MEASUREMENT: API_SECRET}
    ) as fake:
        yield fake


@pytest.fixture()
def fake(server: FakeAdServer) -> FakeAdServer:
    server.reset()
    return server


def pinterest(fake: FakeAdServer, **kw: Any) -> convapi.PinterestSender:
    kw.setdefault("backoff_base", 0.01)
    return convapi.PinterestSender(AD_ACCOUNT, PIN_TOKEN, base_url=fake.base_url, **kw)


def ga4(fake: FakeAdServer, **kw: Any) -> convapi.GA4Sender:
    kw.setdefault("backoff_base", 0.01)
    return convapi.GA4Sender(MEASUREMENT, API_SECRET, base_url=fake.base_url, **kw)


# ---- Pinterest --------------------------------------------------------------------------------


def test_pinterest_accepts_what_the_sender_posts(fake: FakeAdServer) -> None:
    result = pinterest(fake).send([event(0), event(1)])
    assert result.events_received == 2
    received = fake.pinterest_events()
    assert [e["event_id"] for e in received] == ["order-0", "order-1"]
    sent = received[0]
    assert sent["event_name"] == "checkout"
    assert sent["user_data"]["em"] == [sha("john.smith+promo@googlemail.com")]
    assert sent["user_data"]["ph"] == [sha("16505551234")]
    assert sent["user_data"]["click_id"] == "dj0yJnU9epik"
    assert sent["custom_data"]["value"] == "59.8"
    assert not fake.dropped("pinterest")


def test_pinterest_encode_is_what_is_posted(fake: FakeAdServer) -> None:
    events = [event(0)]
    body = convapi.encode_pinterest_payload(events)
    assert json.loads(body) == convapi.build_pinterest_payload(events)
    pinterest(fake).send(events)
    assert fake.requests[-1].body == json.loads(body)


def test_pinterest_test_mode_records_nothing(fake: FakeAdServer) -> None:
    result = pinterest(fake).send([event(0)], test=True)
    assert result.events_received == 1
    assert fake.requests[-1].test_mode
    assert fake.pinterest_events() == []


def test_pinterest_partial_failure_names_the_refused_events() -> None:
    # The fake's clock runs 6 hours ahead: an event 7 days minus 1 hour old passes the builder's
    # 7-day rule but is past Pinterest's, so Pinterest refuses that one event (HTTP 200,
    # status "failed") and processes the others.
    ahead = 6 * 3600.0
    with FakeAdServer(pinterest_tokens=[PIN_TOKEN], clock=lambda: time.time() + ahead) as fake:
        old = event(1, event_time=int(time.time()) - 7 * 86400 + 3600)
        with pytest.raises(convapi.PartialSendError) as info:
            pinterest(fake).send([event(0), old, event(2)])
        err = info.value
        assert [i for i, _ in err.failed] == [1]
        assert "7 days" in err.failed[0][1]
        assert err.sent == [0, 2]
        assert err.events_sent == 2
        assert err.retryable is False
        assert isinstance(err, convapi.ApiError)
        assert [e["event_id"] for e in fake.pinterest_events()] == ["order-0", "order-2"]
        assert fake.requests[-1].events_dropped == 1
        assert len(fake.requests) == 1, "a refused event is not retried"


def test_pinterest_rate_limit_is_retried_and_bad_token_is_not(fake: FakeAdServer) -> None:
    fake.inject("pinterest", "rate_limit", retry_after=0)
    result = pinterest(fake).send([event(0)])
    assert result.attempts == 2
    wrong = convapi.PinterestSender(AD_ACCOUNT, "wrong-token", base_url=fake.base_url)
    with pytest.raises(convapi.ApiError) as info:
        wrong.send([event(1)])
    assert info.value.code == 2
    assert info.value.retryable is False
    assert "wrong-token" not in str(info.value)


def test_pinterest_refuses_what_it_cannot_take_before_sending(fake: FakeAdServer) -> None:
    no_id = event(0)
    del no_id["event_id"]
    with pytest.raises(convapi.ValidationError) as info:
        pinterest(fake).send([no_id])
    assert info.value.field == "events[0].event_id"
    with pytest.raises(TypeError, match="test_event_code"):
        pinterest(fake).send([event(0)], test_event_code="T1")  # type: ignore[call-arg]
    assert fake.requests == []


# ---- GA4 --------------------------------------------------------------------------------------


def test_ga4_collect_receives_one_user_per_request(fake: FakeAdServer) -> None:
    other = event(1)
    other["user"]["client_id"] = "GA1.1.999.1700000000"
    other["user"]["email"] = "someone@example.com"
    result = ga4(fake).send([event(0), other, event(2)])
    assert result.requests == 2
    assert result.events_received == 3
    received = fake.ga4_events()
    assert not fake.ga4_dropped(), fake.ga4_dropped()
    assert [e["client_id"] for e in received] == [
        "1234567890.1700000000", "1234567890.1700000000", "999.1700000000"]
    first = received[0]
    assert first["name"] == "purchase"
    assert first["params"]["transaction_id"] == "S00000"
    assert first["user_data"]["sha256_email_address"] == [sha("johnsmith+promo@googlemail.com")]
    assert first["params"]["session_id"] == "1746825440"


def test_ga4_validation_server_messages_raise(fake: FakeAdServer) -> None:
    assert ga4(fake).send([event(0)], test=True).events_received == 1
    assert fake.ga4_events() == []
    assert "/debug/mp/collect" in fake.requests[-1].path
    long_item = event(1)
    long_item["custom"]["contents"] = [{"id": "x" * 150, "quantity": 1, "item_price": 1}]
    with pytest.raises(convapi.ApiError) as info:
        ga4(fake).send([long_item], test=True)
    assert info.value.retryable is False
    assert "items" in info.value.message and "[VALUE_" in info.value.message, info.value.message


def test_ga4_secret_and_measurement_id_never_shown(
    fake: FakeAdServer, caplog: pytest.LogCaptureFixture
) -> None:
    sender = ga4(fake, max_retries=0, timeout=1.0)
    texts = [repr(sender), sender.url, str(sender.__class__)]
    caplog.set_level(logging.DEBUG, logger="convapi")
    sender.send([event(0)])
    fake.inject("ga4", "http_503")
    with pytest.raises(convapi.TransportError) as info:
        sender.send([event(1)])
    texts += [str(info.value), repr(info.value), info.value.message, caplog.text]
    fake.inject("ga4", "ga4_status", status=403)
    with pytest.raises(convapi.ApiError) as api:
        sender.send([event(2)])
    texts += [str(api.value), repr(api.value)]
    for text in texts:
        assert API_SECRET not in text, text
        assert MEASUREMENT not in text, text
    assert sender.measurement_id == MEASUREMENT, "available when asked for by name"


def test_ga4_refuses_without_client_id_or_transaction_id(fake: FakeAdServer) -> None:
    no_client = event(0)
    del no_client["user"]["client_id"]
    with pytest.raises(convapi.ValidationError) as info:
        ga4(fake).send([no_client])
    assert info.value.field == "events[0].user.client_id"
    no_order = event(0)
    del no_order["custom"]["order_id"]
    with pytest.raises(convapi.ValidationError) as info:
        ga4(fake).send([no_order])
    assert info.value.field == "events[0].custom.order_id"
    assert fake.requests == []


def test_platform_table_is_exported() -> None:
    assert convapi.PLATFORMS == ("meta", "tiktok", "pinterest", "ga4")
    assert set(convapi.SENDERS) == set(convapi.PLATFORMS)
    assert convapi.PLATFORM_INFO["ga4"]["secret_in_url"] is True
    assert convapi.PLATFORM_INFO["ga4"]["max_events"] == 25
    for name in convapi.PLATFORMS:
        assert convapi.event_name(name, "Purchase")
    with pytest.raises(ValueError, match="unknown platform"):
        convapi.build_payload("snapchat", [event(0)])
