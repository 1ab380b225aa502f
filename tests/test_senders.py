"""convapi.MetaSender / convapi.TikTokSender (Rust, through the PyO3 bindings) against the local
FakeAdServer on 127.0.0.1: results, hashing on the wire, batching, retry policy, timeouts,
token and PII hygiene (URLs, logs, reprs, errors), GIL release and validation before sending.
"""

from __future__ import annotations

import copy
import hashlib
import logging
import os
import pickle
import re
import threading
import time
from collections.abc import Iterator
from typing import Any

import convapi
import pytest
from convapi.testing import FakeAdServer

PIXEL = "1234567890"
TT_PIXEL = "CTTPIXEL0123456789"
TOKEN = "EAAB-meta-SECRET-token-0123456789"
TT_TOKEN = "tt-SECRET-token-abcdef0123456789"
PLATFORMS = ("meta", "tiktok")

EMAIL = "  John.Doe@Example.COM "
PHONE = "+1 (650) 555-1234"
#: Raw and normalised PII that must never show up in logs or error texts.
PII = ("John.Doe@Example.COM", "john.doe@example.com", PHONE, "6505551234", "16505551234")


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def purchase(i: int = 0, **overrides: Any) -> dict[str, Any]:
    """A fully matched website Purchase, valid for both platforms."""
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_id": f"order-{i}",
        "event_time": int(time.time()),
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "user": {
            "email": EMAIL,
            "phone": PHONE,
            "first_name": "John",
            "last_name": "Doe",
            "city": "Menlo Park",
            "zip": "94025",
            "country": "US",
            "external_id": "cust-42",
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
        },
        "custom": {
            "value": "19.99",
            "currency": "usd",
            "content_ids": ["sku-1"],
            "contents": [{"id": "sku-1", "quantity": 1, "item_price": 19.99}],
        },
    }
    event.update(overrides)
    return event


def make_sender(platform: str, fake: FakeAdServer, token: str | None = None, **kw: Any) -> Any:
    kw.setdefault("backoff_base", 0.01)
    kw.setdefault("timeout", 5.0)
    if platform == "meta":
        return convapi.MetaSender(PIXEL, token or TOKEN, base_url=fake.base_url, **kw)
    return convapi.TikTokSender(TT_PIXEL, token or TT_TOKEN, base_url=fake.base_url, **kw)


def trace_of(response: Any) -> str | None:
    """The trace id the fake put in a response body (Meta fbtrace_id / TikTok request_id)."""
    if not isinstance(response, dict):
        return None
    if isinstance(response.get("error"), dict):
        return response["error"].get("fbtrace_id")
    return response.get("fbtrace_id") or response.get("request_id")


def data_of(req: Any) -> list[dict[str, Any]]:
    return req.body["data"]


@pytest.fixture
def fake() -> Iterator[FakeAdServer]:
    with FakeAdServer() as server:
        yield server


LOG_RE = re.compile(
    r"^(?P<platform>meta|tiktok) pixel=(?P<pixel>\S+) events=(?P<events>\d+) "
    r"status=(?P<status>\S+) attempt=(?P<attempt>\d+) duration_ms=(?P<duration>[\d.]+) "
    r"trace_id=(?P<trace>\S+) outcome=(?P<outcome>\w+) code=(?P<code>\S+)$"
)


def convapi_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.name == "convapi"]


# ------------------------------------------------------------------------------------------
# Success, hashing, batching
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_success_result_fields(fake: FakeAdServer, platform: str) -> None:
    result = make_sender(platform, fake).send([purchase()])

    assert isinstance(result, convapi.SendResult)
    assert result.platform == platform
    assert result.events_received == 1
    assert result.http_status == 200
    assert result.attempts == 1
    assert result.requests == 1
    assert isinstance(result.duration_ms, float) and 0 < result.duration_ms < 5000
    (req,) = fake.requests
    assert req.status == 200
    assert result.trace_id is not None and result.trace_id == trace_of(req.response)
    assert list(result.trace_ids) == [result.trace_id]
    assert result.response == req.response
    if platform == "meta":
        assert result.code is None
        assert result.response["events_received"] == 1
    else:
        assert result.code == 0
        assert result.messages == ["OK"]


def test_meta_fake_recorded_hashed_events(fake: FakeAdServer) -> None:
    make_sender("meta", fake).send([purchase(7)])

    (event,) = fake.meta_events(PIXEL)
    assert event["event_name"] == "Purchase"
    assert event["event_id"] == "order-7"
    assert event["action_source"] == "website"
    ud = event["user_data"]
    assert ud["em"] == [sha("john.doe@example.com")]
    assert ud["ph"] == [sha("16505551234")]
    assert ud["fn"] == [sha("john")]
    assert ud["ln"] == [sha("doe")]
    assert ud["ct"] == [sha("menlopark")]
    assert ud["zp"] == [sha("94025")]
    assert ud["country"] == [sha("us")]
    assert ud["external_id"] == [sha("cust-42")]
    assert ud["client_ip_address"] == "203.0.113.7"
    assert ud["client_user_agent"] == "Mozilla/5.0 (X11; Linux x86_64)"
    assert event["custom_data"]["value"] == 19.99
    assert event["custom_data"]["currency"] == "USD"
    raw = fake.requests[0].raw_body.decode().lower()
    assert "john.doe" not in raw and "555-1234" not in raw and "6505551234" not in raw


def test_tiktok_fake_recorded_hashed_events(fake: FakeAdServer) -> None:
    make_sender("tiktok", fake).send([purchase(7)])

    (event,) = fake.tiktok_events(TT_PIXEL)
    assert event["event"] == "Purchase"
    assert event["event_id"] == "order-7"
    assert event["page"]["url"] == "https://shop.example.com/shop/confirmation"
    user = event["user"]
    assert user["email"] == [sha("john.doe@example.com")]
    assert user["phone"] == [sha("+16505551234")]  # TikTok hashes E.164 with the '+'
    assert user["external_id"] == [sha("cust-42")]
    assert user["ip"] == "203.0.113.7"
    assert event["properties"]["currency"] == "USD"
    assert event["properties"]["value"] == 19.99
    req = fake.requests[0]
    assert req.body["event_source"] == "web"
    assert req.body["event_source_id"] == TT_PIXEL
    raw = req.raw_body.decode().lower()
    assert "john.doe" not in raw and "555-1234" not in raw and "6505551234" not in raw


@pytest.mark.parametrize("platform", PLATFORMS)
def test_2500_events_are_sent_in_three_requests(fake: FakeAdServer, platform: str) -> None:
    events = [purchase(i) for i in range(2500)]
    result = make_sender(platform, fake).send(events)

    assert [len(data_of(r)) for r in fake.requests] == [1000, 1000, 500]
    assert all(r.status == 200 for r in fake.requests)
    assert result.requests == 3
    assert result.attempts == 3
    assert result.events_received == 2500
    assert list(result.trace_ids) == [trace_of(r.response) for r in fake.requests]
    assert result.trace_id == result.trace_ids[-1]
    accepted = fake.meta_events() if platform == "meta" else fake.tiktok_events()
    assert [e["event_id"] for e in accepted] == [f"order-{i}" for i in range(2500)]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_test_event_code_reaches_the_platform(fake: FakeAdServer, platform: str) -> None:
    make_sender(platform, fake).send(purchase(3), test_event_code="TEST4242")
    if platform == "meta":
        events = fake.meta_events(PIXEL, test_event_code="TEST4242")
    else:
        events = fake.tiktok_events(TT_PIXEL, test_event_code="TEST4242")
    assert [e["event_id"] for e in events] == ["order-3"]
    assert fake.requests[0].test_event_code == "TEST4242"


# ------------------------------------------------------------------------------------------
# Retry policy
# ------------------------------------------------------------------------------------------

TRANSIENT = [
    ("meta", "http_500", {}),
    ("meta", "http_503", {}),
    ("meta", "meta_error", {"code": 2, "is_transient": True, "status": 500}),
    ("meta", "meta_error", {"code": 2, "is_transient": True}),  # HTTP 400 but code 2
    ("tiktok", "http_500", {}),
    ("tiktok", "http_503", {}),
    ("tiktok", "tiktok_code", {"code": 40100, "message": "Too many requests"}),  # HTTP 200
]


@pytest.mark.parametrize(("platform", "fault", "params"), TRANSIENT)
def test_transient_error_is_retried_then_succeeds(
    fake: FakeAdServer, platform: str, fault: str, params: dict[str, Any]
) -> None:
    fake.inject(platform, fault, **params)
    result = make_sender(platform, fake).send([purchase()])

    assert result.attempts == 2
    assert result.requests == 1
    assert result.events_received == 1
    first, second = fake.requests
    assert first.fault == fault and first.error_code is not None
    assert second.status == 200 and second.fault is None
    assert data_of(first) == data_of(second)  # the same events were resent
    assert result.trace_id == trace_of(second.response)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_rate_limit_honours_retry_after(fake: FakeAdServer, platform: str) -> None:
    fake.inject(platform, "rate_limit", retry_after=1)
    sender = make_sender(platform, fake, backoff_base=0.0)
    started = time.monotonic()
    result = sender.send([purchase()])
    elapsed = time.monotonic() - started

    assert fake.requests[0].status == 429
    assert fake.requests[0].response_headers["Retry-After"] == "1"
    assert result.attempts == 2
    assert elapsed >= 1.0
    gap = fake.requests[1].received_at - fake.requests[0].received_at
    assert gap >= 0.95  # the wait happened between the two attempts
    assert elapsed < 3.0
    assert 1000.0 <= result.duration_ms <= elapsed * 1000 + 1  # backoff is part of the send


@pytest.mark.parametrize("platform", PLATFORMS)
def test_retry_after_longer_than_allowed_gives_up_at_once(
    fake: FakeAdServer, platform: str
) -> None:
    fake.inject(platform, "rate_limit", retry_after=30)
    sender = make_sender(platform, fake, max_retry_after=2.0)
    started = time.monotonic()
    with pytest.raises(convapi.ApiError) as info:
        sender.send([purchase()])

    assert time.monotonic() - started < 1.0
    err = info.value
    assert err.retryable is True
    assert err.retry_after == 30.0
    assert err.attempts == 1
    assert err.http_status == 429
    assert len(fake.requests) == 1


@pytest.mark.parametrize("platform", PLATFORMS)
def test_retries_exhausted_raise_retryable_error(fake: FakeAdServer, platform: str) -> None:
    fake.inject(platform, "http_503", times=3)
    with pytest.raises(convapi.ApiError) as info:
        make_sender(platform, fake, max_retries=2).send([purchase()])

    err = info.value
    assert err.retryable is True
    assert err.attempts == 3
    assert err.http_status == 503
    assert err.trace_id == trace_of(fake.requests[-1].response)
    assert len(fake.requests) == 3


PERMANENT = [
    ("meta", "meta_error", {"code": 100, "subcode": 2804003, "message": "Invalid parameter"}),
    ("tiktok", "tiktok_code", {"code": 40002, "message": "Invalid value for data[0].event"}),
]


@pytest.mark.parametrize(("platform", "fault", "params"), PERMANENT)
def test_permanent_error_is_not_retried(
    fake: FakeAdServer, platform: str, fault: str, params: dict[str, Any]
) -> None:
    fake.inject(platform, fault, **params)
    with pytest.raises(convapi.ApiError) as info:
        make_sender(platform, fake).send([purchase()])

    err = info.value
    (req,) = fake.requests
    assert err.platform == platform
    assert err.code == params["code"]
    assert err.subcode == params.get("subcode")
    assert err.retryable is False
    assert err.attempts == 1
    assert err.events_sent == 0
    assert err.trace_id is not None and err.trace_id == trace_of(req.response)
    assert err.http_status == req.status
    assert params["message"] in err.message


def test_meta_bad_token_190_is_not_retried() -> None:
    with FakeAdServer(meta_tokens={"good"}) as fake:
        with pytest.raises(convapi.ApiError) as info:
            make_sender("meta", fake, token="bad-token-value").send([purchase()])
        (req,) = fake.requests

    err = info.value
    assert err.code == 190
    assert err.http_status == 401
    assert err.retryable is False
    assert err.attempts == 1
    assert err.trace_id is not None and err.trace_id == trace_of(req.response)
    assert "bad-token-value" not in str(err) and "bad-token-value" not in repr(err)


def test_tiktok_wrong_token_40105_is_not_retried() -> None:
    with FakeAdServer(tiktok_tokens={"good"}) as fake:
        with pytest.raises(convapi.ApiError) as info:
            make_sender("tiktok", fake, token="bad-token-value").send([purchase()])
        (req,) = fake.requests

    err = info.value
    assert err.code == 40105
    assert err.subcode is None
    assert err.retryable is False
    assert err.attempts == 1
    assert err.trace_id is not None and err.trace_id == trace_of(req.response)
    assert "bad-token-value" not in str(err) and "bad-token-value" not in repr(err)


def test_second_batch_failing_reports_events_already_sent(fake: FakeAdServer) -> None:
    # First request succeeds (no fault queued for it), second gets a permanent error.
    events = [purchase(i) for i in range(1500)]
    sender = make_sender("meta", fake)
    fake.inject("meta", "delay", seconds=0.01)  # consumed by the first request
    fake.inject("meta", "meta_error", code=100, subcode=2804003)
    with pytest.raises(convapi.ApiError) as info:
        sender.send(events)
    assert info.value.events_sent == 1000
    assert info.value.attempts == 2
    assert [len(data_of(r)) for r in fake.requests] == [1000, 500]


# ------------------------------------------------------------------------------------------
# Transport failures
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_timeout_raises_retryable_transport_error(fake: FakeAdServer, platform: str) -> None:
    fake.inject(platform, "delay", times=2, seconds=1.0)
    sender = make_sender(platform, fake, timeout=0.3, max_retries=1)
    started = time.monotonic()
    with pytest.raises(convapi.TransportError) as info:
        sender.send([purchase()])
    elapsed = time.monotonic() - started

    err = info.value
    assert err.platform == platform
    assert err.retryable is True
    assert err.attempts == 2
    assert "timed out" in str(err) or "timeout" in str(err).lower()
    assert 0.55 <= elapsed < 1.5  # two attempts of ~0.3 s each, not the server's 1 s


@pytest.mark.parametrize("platform", PLATFORMS)
def test_dropped_connection_is_retried(fake: FakeAdServer, platform: str) -> None:
    sender = make_sender(platform, fake)
    sender.send([purchase(1)])  # leave a pooled keep-alive connection behind
    fake.reset()
    fake.inject(platform, "drop")
    result = sender.send([purchase(2)])

    assert result.attempts == 2
    assert [r.status for r in fake.requests] == [0, 200]
    assert fake.requests[0].fault == "drop"


@pytest.mark.parametrize("platform", PLATFORMS)
def test_connection_refused_is_a_retryable_transport_error(platform: str) -> None:
    with FakeAdServer() as fake:
        base = fake.base_url  # a port nobody listens on once the fake stops
    kw = {"base_url": base, "max_retries": 1, "backoff_base": 0.01}
    if platform == "meta":
        sender = convapi.MetaSender(PIXEL, TOKEN, **kw)
    else:
        sender = convapi.TikTokSender(TT_PIXEL, TT_TOKEN, **kw)
    with pytest.raises(convapi.TransportError) as info:
        sender.send([purchase()])
    assert info.value.retryable is True
    assert info.value.attempts == 2


# ------------------------------------------------------------------------------------------
# Token and PII hygiene
# ------------------------------------------------------------------------------------------


def test_meta_token_travels_only_in_the_json_body(fake: FakeAdServer) -> None:
    make_sender("meta", fake).send([purchase()])
    (req,) = fake.requests
    assert req.token_sources == ("json_body",)
    assert not req.token_in_url
    assert TOKEN not in req.path and TOKEN not in req.query
    assert all(TOKEN not in v for v in req.headers.values())
    assert req.body["access_token"] == TOKEN


def test_tiktok_token_travels_only_in_the_access_token_header(fake: FakeAdServer) -> None:
    make_sender("tiktok", fake).send([purchase()])
    (req,) = fake.requests
    assert req.token_sources == ("header",)
    assert req.headers["Access-Token"] == TT_TOKEN
    assert TT_TOKEN not in req.path and TT_TOKEN not in req.query
    assert TT_TOKEN.encode() not in req.raw_body
    assert all(TT_TOKEN not in v for k, v in req.headers.items() if k.lower() != "access-token")


@pytest.mark.parametrize("platform", PLATFORMS)
def test_token_never_in_any_url_even_over_retries(fake: FakeAdServer, platform: str) -> None:
    token = TOKEN if platform == "meta" else TT_TOKEN
    fake.inject(platform, "http_500")
    fake.inject(platform, "drop")
    make_sender(platform, fake).send([purchase(i) for i in range(1200)])
    assert len(fake.requests) == 4
    for req in fake.requests:
        assert token not in req.path + "?" + req.query
        assert "query" not in req.token_sources


@pytest.mark.parametrize("platform", PLATFORMS)
def test_one_log_line_per_http_attempt(
    fake: FakeAdServer, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="convapi")
    fake.inject(platform, "http_500")
    make_sender(platform, fake).send([purchase(i) for i in range(1500)])

    lines = convapi_lines(caplog)
    assert len(lines) == len(fake.requests) == 3
    parsed = [LOG_RE.match(line) for line in lines]
    assert all(parsed), lines
    pixel = PIXEL if platform == "meta" else TT_PIXEL
    expected = [  # (events, status, attempt, outcome)
        ("1000", "500", "1", "retry"),
        ("1000", "200", "2", "ok"),
        ("500", "200", "1", "ok"),
    ]
    for m, req, (events, status, attempt, outcome) in zip(
        parsed, fake.requests, expected, strict=True
    ):
        assert m is not None
        assert m["platform"] == platform
        assert m["pixel"] == pixel
        assert (m["events"], m["status"], m["attempt"], m["outcome"]) == (
            events,
            status,
            attempt,
            outcome,
        )
        assert float(m["duration"]) >= 0
        assert m["trace"] == trace_of(req.response)
    levels = [r.levelno for r in caplog.records if r.name == "convapi"]
    assert levels == [logging.WARNING, logging.INFO, logging.INFO]


@pytest.mark.parametrize("platform", PLATFORMS)
def test_logs_never_contain_token_or_raw_pii(
    fake: FakeAdServer, platform: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="convapi")
    token = TOKEN if platform == "meta" else TT_TOKEN
    sender = make_sender(platform, fake, max_retries=1)
    fake.inject(platform, "drop")
    sender.send([purchase()])
    fake.inject(platform, "http_503", times=2)
    with pytest.raises(convapi.ApiError):
        sender.send([purchase()])

    lines = convapi_lines(caplog)
    assert len(lines) == len(fake.requests) == 4
    assert [LOG_RE.match(line)["status"] for line in lines] == [  # type: ignore[index]
        "request",
        "200",
        "503",
        "503",
    ]
    text = "\n".join(lines) + caplog.text
    assert token not in text
    for value in PII:
        assert value not in text
    assert sha("john.doe@example.com") not in text


@pytest.mark.parametrize("platform", PLATFORMS)
def test_token_echoed_by_the_server_is_redacted_from_errors(
    fake: FakeAdServer, platform: str
) -> None:
    token = TOKEN if platform == "meta" else TT_TOKEN
    if platform == "meta":
        fake.inject("meta", "meta_error", code=100, message=f"Bad access_token {token} given")
    else:
        fake.inject("tiktok", "tiktok_code", code=40002, message=f"Bad token {token} given")
    with pytest.raises(convapi.ApiError) as info:
        make_sender(platform, fake).send([purchase()])

    err = info.value
    for text in (str(err), repr(err), err.message, repr(err.args)):
        assert token not in text
    assert "***" in err.message


@pytest.mark.parametrize("platform", PLATFORMS)
def test_token_and_pii_absent_from_reprs_of_senders_results_and_errors(
    fake: FakeAdServer, platform: str
) -> None:
    token = TOKEN if platform == "meta" else TT_TOKEN
    sender = make_sender(platform, fake, timeout=0.3, max_retries=0)
    result = sender.send([purchase()])
    fake.inject(platform, "http_500")
    with pytest.raises(convapi.ApiError) as api_info:
        sender.send([purchase()])
    fake.inject(platform, "delay", seconds=0.8)
    with pytest.raises(convapi.TransportError) as transport_info:
        sender.send([purchase()])

    texts = [
        str(sender),
        repr(sender),
        sender.url,
        str(result),
        repr(result),
        repr(result.response),
        repr(result.messages),
    ]
    for err in (api_info.value, transport_info.value):
        texts += [str(err), repr(err), err.message, repr(vars(err))]
    for text in texts:
        assert token not in text
        for value in PII:
            assert value not in text
    assert "***" in repr(sender)


def _errors_from_a_real_send(fake: FakeAdServer) -> list[convapi.ConvapiError]:
    errors: list[convapi.ConvapiError] = []
    sender = make_sender("meta", fake, timeout=0.3, max_retries=0)
    fake.inject("meta", "meta_error", code=100, subcode=2804003, message="Event too old")
    fake.inject("meta", "delay", seconds=0.8)
    for events in ([purchase()], [purchase()], [purchase(custom={"value": 1})]):
        with pytest.raises(convapi.ConvapiError) as info:
            sender.send(events)
        errors.append(info.value)
    assert [type(e) for e in errors] == [
        convapi.ApiError,
        convapi.TransportError,
        convapi.ValidationError,
    ]
    return errors


@pytest.mark.parametrize("how", ["pickle", "copy", "deepcopy"])
def test_errors_survive_pickle_and_copy(fake: FakeAdServer, how: str) -> None:
    # multiprocessing / ProcessPoolExecutor / job queues pickle exceptions raised in workers.
    for err in _errors_from_a_real_send(fake):
        if how == "pickle":
            clone = pickle.loads(pickle.dumps(err))
        elif how == "copy":
            clone = copy.copy(err)
        else:
            clone = copy.deepcopy(err)
        assert type(clone) is type(err)
        assert str(clone) == str(err)
        assert clone.args == err.args
        assert vars(clone) == vars(err)


@pytest.mark.parametrize("platform", PLATFORMS)
def test_reprs_use_python_syntax(fake: FakeAdServer, platform: str) -> None:
    sender = make_sender(platform, fake)
    result = sender.send([purchase()])
    text = repr(result)
    assert "Some(" not in text
    assert f"platform='{platform}'" in text
    assert f"trace_id='{result.trace_id}'" in text
    assert f"code={result.code}" in text  # None for Meta, 0 for TikTok
    assert f"url='{sender.url}'" in repr(sender)
    assert repr(sender).startswith(f"{type(sender).__name__}(")


# ------------------------------------------------------------------------------------------
# Concurrency
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("platform", PLATFORMS)
def test_gil_is_released_during_a_slow_send(fake: FakeAdServer, platform: str) -> None:
    counter = [0]
    stop = threading.Event()

    def count() -> None:
        while not stop.is_set():
            counter[0] += 1
            time.sleep(0.001)

    thread = threading.Thread(target=count, daemon=True)
    thread.start()
    try:
        fake.inject(platform, "delay", seconds=1.5)
        sender = make_sender(platform, fake)
        before = counter[0]
        started = time.monotonic()
        result = sender.send([purchase()])
        elapsed = time.monotonic() - started
        during = counter[0] - before
    finally:
        stop.set()
        thread.join(timeout=2)

    assert result.attempts == 1
    assert elapsed >= 1.5
    # ~1 tick per ms when the GIL is free; a held GIL would leave the counter frozen.
    assert during >= 300, during


def test_two_threads_send_concurrently(fake: FakeAdServer) -> None:
    fake.inject("meta", "delay", seconds=0.7)
    fake.inject("tiktok", "delay", seconds=0.7)
    results: dict[str, Any] = {}

    def run(platform: str) -> None:
        results[platform] = make_sender(platform, fake).send([purchase()])

    threads = [threading.Thread(target=run, args=(p,)) for p in PLATFORMS]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=5)
    elapsed = time.monotonic() - started
    assert set(results) == set(PLATFORMS)
    assert all(r.events_received == 1 for r in results.values())
    assert elapsed < 1.3  # overlapped, not 1.4 s back to back


def test_one_sender_shared_by_many_threads(fake: FakeAdServer) -> None:
    sender = make_sender("meta", fake)
    fake.inject("meta", "delay", times=8, seconds=0.4)
    results: list[Any] = []
    errors: list[BaseException] = []

    def run(i: int) -> None:
        try:
            results.append(sender.send([purchase(100 + i)]))
        except BaseException as exc:  # reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(8)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=10)
    elapsed = time.monotonic() - started
    assert errors == []
    assert sorted(r.events_received for r in results) == [1] * 8
    assert sorted(e["event_id"] for e in fake.meta_events()) == sorted(
        f"order-{100 + i}" for i in range(8)
    )
    assert elapsed < 2.0  # 8 x 0.4 s in parallel, not 3.2 s in series


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
@pytest.mark.parametrize("platform", PLATFORMS)
def test_sender_works_in_a_forked_child(fake: FakeAdServer, platform: str) -> None:
    # Odoo's prefork workers: the parent has a pooled client (and its I/O thread) before fork.
    sender = make_sender(platform, fake, timeout=3.0, max_retries=0)
    sender.send([purchase(1)])
    pid = os.fork()
    if pid == 0:  # child: report through the exit status only
        code = 1
        try:
            code = 0 if sender.send([purchase(2)]).events_received == 1 else 2
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    sender.send([purchase(3)])  # the parent's client still works
    events = fake.meta_events() if platform == "meta" else fake.tiktok_events()
    assert [e["event_id"] for e in events] == ["order-1", "order-2", "order-3"]


# ------------------------------------------------------------------------------------------
# Validation before sending
# ------------------------------------------------------------------------------------------

BAD_EVENTS = [
    ({"custom": {"value": 10}}, "events[{i}].custom.currency"),
    ({"event_source_url": "ftp://shop.example.com/"}, "events[{i}].event_source_url"),
    ({"event_time": int(time.time()) - 10 * 86400}, "events[{i}].event_time"),
]


@pytest.mark.parametrize("platform", PLATFORMS)
@pytest.mark.parametrize(("override", "field"), BAD_EVENTS)
def test_validation_error_raised_before_any_request(
    fake: FakeAdServer, platform: str, override: dict[str, Any], field: str
) -> None:
    events = [purchase(0), purchase(1, **override)]
    with pytest.raises(convapi.ValidationError) as info:
        make_sender(platform, fake).send(events)
    assert info.value.field == field.format(i=1)
    assert isinstance(info.value, ValueError)
    assert fake.requests == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_bad_event_in_a_later_batch_sends_nothing(fake: FakeAdServer, platform: str) -> None:
    events = [purchase(i) for i in range(2500)]
    events[1700] = purchase(1700, custom={"value": 1})
    with pytest.raises(convapi.ValidationError) as info:
        make_sender(platform, fake).send(events)
    assert info.value.field == "events[1700].custom.currency"
    assert fake.requests == []


@pytest.mark.parametrize("platform", PLATFORMS)
def test_empty_event_list_is_a_validation_error(fake: FakeAdServer, platform: str) -> None:
    with pytest.raises(convapi.ValidationError) as info:
        make_sender(platform, fake).send([])
    assert info.value.field == "events"
    assert fake.requests == []


def test_sender_construction_validates_arguments() -> None:
    with pytest.raises(convapi.ValidationError) as info:
        convapi.MetaSender(PIXEL, "", base_url="http://127.0.0.1:9")
    assert info.value.field == "access_token"
    with pytest.raises(convapi.ValidationError) as info:
        convapi.TikTokSender(TT_PIXEL, TT_TOKEN, base_url="ftp://127.0.0.1:9")
    assert info.value.field == "base_url"
    with pytest.raises(convapi.ValidationError) as info:
        convapi.MetaSender("12/34", TOKEN, base_url="http://127.0.0.1:9")
    assert info.value.field == "pixel_id"
