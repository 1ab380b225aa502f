"""The fake's time-based fault schedule, its Retry-After clock and its counts (urllib only)."""

from __future__ import annotations

import hashlib
import json
import socket
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from convapi.testing import FakeAdServer, FaultSchedule, Phase, RetryAfterClock

PIXEL = "1234567890"
TT_PIXEL = "CSCHEDULE0001"
TOKEN = "EAAB-schedule-token-0123456789"


class Clock:
    """A clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


def meta_body(*event_ids: str) -> dict[str, Any]:
    em = hashlib.sha256(b"alice@example.com").hexdigest()
    return {
        "access_token": TOKEN,
        "data": [
            {
                "event_name": "Purchase",
                "event_time": int(time.time()),
                "event_id": event_id,
                "action_source": "website",
                "event_source_url": "https://shop.example/cart",
                "user_data": {"em": [em], "client_user_agent": "Mozilla/5.0"},
                "custom_data": {"value": 10.0, "currency": "EUR"},
            }
            for event_id in event_ids
        ],
    }


def tiktok_body(*event_ids: str) -> dict[str, Any]:
    return {
        "event_source": "web",
        "event_source_id": TT_PIXEL,
        "data": [
            {
                "event": "Purchase",
                "event_time": int(time.time()),
                "event_id": event_id,
                "page": {"url": "https://shop.example/cart"},
                "properties": {"value": 10.0, "currency": "EUR"},
            }
            for event_id in event_ids
        ],
    }


def post(fake: FakeAdServer, platform: str, body: dict[str, Any], timeout: float = 10):
    if platform == "meta":
        url, headers = fake.meta_url(PIXEL), {"Content-Type": "application/json"}
    else:
        url = fake.tiktok_url
        headers = {"Content-Type": "application/json", "Access-Token": "tt-token"}
    req = urllib.request.Request(url, json.dumps(body).encode(), headers, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            return resp.status, json.loads(resp.read()), resp.headers
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read()), err.headers


OUTAGE = [
    {"duration": 10, "label": "5xx", "fault": "http_503"},
    {"duration": 10, "label": "timeouts", "fault": "hang", "params": {"seconds": 0.5}},
    {"duration": 10, "label": "429", "fault": "rate_limit", "params": {"retry_after": 5}},
    {
        "duration": 10,
        "label": "throttled",
        "faults": {
            "meta": ["meta_error", {"code": 17, "is_transient": True, "status": 400}],
            "tiktok": ["tiktok_code", {"code": 40100, "message": "Too many requests."}],
        },
    },
]


# ---------------------------------------------------------------------------------------------
# The schedule alone
# ---------------------------------------------------------------------------------------------


def test_phases_follow_the_clock_and_nothing_before_start() -> None:
    clock = Clock()
    schedule = FaultSchedule.sequence(OUTAGE, offset=5, clock=clock)
    assert schedule.fault_for("meta") is None  # not started
    schedule.start()
    assert schedule.fault_for("meta") is None and schedule.label_at() == "healthy"
    clock.now += 5
    assert schedule.fault_for("meta") == ("http_503", {})
    assert schedule.label_at() == "5xx"
    clock.now += 10
    assert schedule.fault_for("tiktok") == ("hang", {"seconds": 0.5})
    clock.now += 20
    assert schedule.fault_for("tiktok") == (
        "tiktok_code",
        {"code": 40100, "message": "Too many requests."},
    )
    assert schedule.fault_for("meta")[1]["code"] == 17
    clock.now += 10
    assert schedule.fault_for("meta") is None and schedule.fault_for("tiktok") is None
    assert schedule.duration == 45


def test_retry_after_until_the_phase_ends() -> None:
    clock = Clock()
    schedule = FaultSchedule(
        [Phase(0, 60, "rate_limit", params={"retry_after": "phase_end"})], clock=clock
    ).start()
    clock.now += 20.5
    assert schedule.fault_for("meta") == ("rate_limit", {"retry_after": 40})
    clock.now += 39.0
    assert schedule.fault_for("meta") == ("rate_limit", {"retry_after": 1})


def test_one_platform_phase_leaves_the_other_healthy() -> None:
    clock = Clock()
    schedule = FaultSchedule([Phase(0, 10, "http_500", ("tiktok",))], clock=clock).start()
    assert schedule.fault_for("tiktok") == ("http_500", {})
    assert schedule.fault_for("meta") is None
    assert schedule.label_at() == "meta:healthy tiktok:http_500"


def test_overlapping_phases_and_bad_phases_are_refused() -> None:
    with pytest.raises(ValueError, match="overlap"):
        FaultSchedule([Phase(0, 10, "http_500"), Phase(5, 15, "http_503", ("meta",))])
    with pytest.raises(ValueError):
        Phase(10, 5, "http_500")
    with pytest.raises(ValueError):
        Phase(0, 5, "http_500", ("snapchat",))
    with pytest.raises(ValueError):
        Phase(0, 5, "rate_limit", params={"retry_after": "soon"})


def test_schedule_round_trips_through_json() -> None:
    schedule = FaultSchedule.sequence(OUTAGE)
    again = FaultSchedule.from_json(schedule.to_json())
    assert again.phases == schedule.phases


def test_the_fake_refuses_a_schedule_with_an_impossible_fault() -> None:
    schedule = FaultSchedule([Phase(0, 10, "meta_error", ("tiktok",), {"code": 17})])
    with pytest.raises(ValueError, match="meta_error"):
        FakeAdServer(schedule=schedule)


def test_retry_after_clock_counts_early_requests_only() -> None:
    clock = RetryAfterClock()
    key = ("meta", PIXEL)
    clock.note(key, 100.0, "30")
    assert clock.check(key, 99.0) is False  # arrived before the wait was given
    assert clock.check(key, 110.0) is True
    assert clock.check(key, 130.0) is False
    assert clock.check(("tiktok", PIXEL), 110.0) is False
    assert clock.early_counts() == {key: 1}


# ---------------------------------------------------------------------------------------------
# The fake on a schedule
# ---------------------------------------------------------------------------------------------


def test_fake_answers_the_scheduled_faults_with_real_bodies() -> None:
    clock = Clock()
    schedule = FaultSchedule.sequence(OUTAGE, clock=clock)
    with FakeAdServer(schedule=schedule) as fake:
        status, body, _ = post(fake, "meta", meta_body("a"))
        assert status == 200  # not started yet
        schedule.start()
        status, body, _ = post(fake, "meta", meta_body("b"))
        assert status == 503 and body["error"]["code"] == 2
        assert body["error"]["is_transient"] is True and body["error"]["fbtrace_id"]
        status, body, _ = post(fake, "tiktok", tiktok_body("b"))
        assert status == 503 and body["code"] == 50002 and body["request_id"]

        clock.now += 15  # timeouts: the request is held, then closed unanswered
        with pytest.raises((TimeoutError, urllib.error.URLError, ConnectionError, OSError)):
            post(fake, "meta", meta_body("c"), timeout=0.2)

        clock.now += 10  # 429 with Retry-After
        status, body, headers = post(fake, "meta", meta_body("d"))
        assert status == 429 and body["error"]["code"] == 80004
        assert body["error"]["error_subcode"] == 2446079 and headers["Retry-After"] == "5"
        status, body, headers = post(fake, "tiktok", tiktok_body("d"))
        assert status == 429 and body["code"] == 40100 and headers["Retry-After"] == "5"

        clock.now += 10  # throttled: Meta code 17 (HTTP 400), TikTok 40100 (HTTP 200)
        status, body, _ = post(fake, "meta", meta_body("e"))
        assert status == 400 and body["error"]["code"] == 17
        assert body["error"]["is_transient"] is True
        status, body, _ = post(fake, "tiktok", tiktok_body("e"))
        assert status == 200 and body["code"] == 40100

        clock.now += 10  # recovered
        assert post(fake, "meta", meta_body("f"))[0] == 200
        assert post(fake, "tiktok", tiktok_body("f"))[1]["code"] == 0

        phases = [r.phase for r in fake.requests]
        assert phases[0] is None and phases[1] == "5xx" and phases[-1] == "healthy"
        # only the healthy answers accepted events; the held request accepted nothing
        assert sorted(e["event_id"] for e in fake.meta_events()) == ["a", "f"]
        assert [e["event_id"] for e in fake.tiktok_events()] == ["f"]


def test_injected_faults_come_before_the_schedule() -> None:
    clock = Clock()
    schedule = FaultSchedule([Phase(0, 100, "http_500")], clock=clock).start()
    with FakeAdServer(schedule=schedule) as fake:
        fake.inject("meta", "meta_error", code=190, status=401)
        assert post(fake, "meta", meta_body("x"))[1]["error"]["code"] == 190
        assert post(fake, "meta", meta_body("x"))[0] == 500


def test_early_retries_are_flagged_per_platform_and_pixel() -> None:
    fake_clock = Clock()
    with FakeAdServer(clock=fake_clock) as fake:
        fake.inject("meta", "rate_limit", retry_after=30)
        assert post(fake, "meta", meta_body("r"))[0] == 429
        fake_clock.now += 10
        assert post(fake, "meta", meta_body("r"))[0] == 200  # too early
        assert post(fake, "tiktok", tiktok_body("r"))[1]["code"] == 0  # another platform
        fake_clock.now += 25
        assert post(fake, "meta", meta_body("s"))[0] == 200  # after the wait
        assert [r.early_retry for r in fake.requests] == [False, True, False, False]
        assert fake.retry_clock.early_counts() == {("meta", PIXEL): 1}


def test_event_counts_by_event_id_show_resends() -> None:
    with FakeAdServer() as fake:
        post(fake, "meta", meta_body("o-1", "o-2"))
        post(fake, "meta", meta_body("o-2"))
        post(fake, "tiktok", tiktok_body("o-2"))
        counts = fake.event_counts()
        assert counts[("meta", PIXEL, "Purchase", "o-1")] == 1
        assert counts[("meta", PIXEL, "Purchase", "o-2")] == 2
        assert counts[("tiktok", TT_PIXEL, "Purchase", "o-2")] == 1
        assert sum(counts.values()) == 4


def test_request_timeline_per_minute() -> None:
    fake_clock = Clock()
    with FakeAdServer(clock=fake_clock) as fake:
        start = fake_clock.now
        post(fake, "meta", meta_body("t1", "t2"))
        fake.inject("tiktok", "http_503")
        post(fake, "tiktok", tiktok_body("t1"))
        fake_clock.now += 61
        post(fake, "tiktok", tiktok_body("t1"))
        timeline = fake.request_timeline(start)
        assert [row["bucket"] for row in timeline] == [0, 1]
        assert timeline[0]["requests"] == {"meta": 1, "tiktok": 1}
        assert timeline[0]["ok"] == {"meta": 1} and timeline[0]["accepted"] == {"meta": 1}
        assert timeline[0]["events"] == {"meta": 2}
        assert timeline[1]["requests"] == {"tiktok": 1} and timeline[1]["events"] == {"tiktok": 1}


def test_in_flight_lists_a_held_request_with_its_client_port() -> None:
    with FakeAdServer() as fake:
        fake.inject("meta", "delay", seconds=1.0)
        sock = socket.create_connection(("127.0.0.1", fake.port))
        body = json.dumps(meta_body("slow")).encode()
        head = (
            f"POST /v25.0/{PIXEL}/events HTTP/1.1\r\nHost: x\r\n"
            f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n"
        ).encode()
        sock.sendall(head + body)
        deadline = time.monotonic() + 5
        flights: list[dict[str, Any]] = []
        while not flights and time.monotonic() < deadline:
            flights = fake.in_flight()
            time.sleep(0.01)
        assert flights and flights[0]["platform"] == "meta"
        assert flights[0]["client_port"] == sock.getsockname()[1]
        sock.settimeout(5)
        assert sock.recv(64).startswith(b"HTTP/1.1 200")
        assert fake.requests[0].client_port == sock.getsockname()[1]
        sock.close()
        deadline = time.monotonic() + 5
        while fake.in_flight() and time.monotonic() < deadline:
            time.sleep(0.01)
        assert fake.in_flight() == []


def test_hang_ends_when_the_fake_stops() -> None:
    fake = FakeAdServer().start()
    fake.inject("meta", "hang", seconds=60)
    errors: list[BaseException] = []

    def call() -> None:
        try:
            post(fake, "meta", meta_body("h"), timeout=30)
        except BaseException as exc:  # noqa: BLE001 - the test inspects it
            errors.append(exc)

    thread = threading.Thread(target=call)
    thread.start()
    deadline = time.monotonic() + 5
    while not fake.in_flight() and time.monotonic() < deadline:
        time.sleep(0.01)
    started = time.monotonic()
    fake.stop()
    thread.join(timeout=10)
    assert not thread.is_alive() and time.monotonic() - started < 10
    assert errors and not fake.meta_events()
