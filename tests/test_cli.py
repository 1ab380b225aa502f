"""``python -m convapi`` end to end, as a subprocess (needs the native module built)."""

from __future__ import annotations

import hashlib
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from convapi.testing import FakeAdServer

META_TOKEN = "EAAB-cli-secret-token-0123456789"
TT_TOKEN = "tt-cli-secret-token-0123456789"
META_PIXEL = "1234567890"
TT_PIXEL = "CCLI0123456789"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONVAPI_META_TOKEN", "CONVAPI_TIKTOK_TOKEN")
    }
    full_env.update(env or {})
    return subprocess.run(
        [sys.executable, "-m", "convapi", *args],
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
    )


def assert_no_token(proc: subprocess.CompletedProcess[str], *tokens: str) -> None:
    for token in tokens:
        assert token not in proc.stdout
        assert token not in proc.stderr


# ---------------------------------------------------------------------------------------------
# help and usage
# ---------------------------------------------------------------------------------------------


def test_top_level_help_lists_commands() -> None:
    proc = run("--help")
    assert proc.returncode == 0
    for command in ("send", "normalize", "fake-server", "demo"):
        assert command in proc.stdout


@pytest.mark.parametrize(
    ("command", "mentions"),
    [
        ("send", "--token-env"),
        ("normalize", "--country"),
        ("fake-server", "--port"),
        ("demo", "--events-only"),
    ],
)
def test_each_command_has_help(command: str, mentions: str) -> None:
    proc = run(command, "--help")
    assert proc.returncode == 0, proc.stderr
    assert mentions in proc.stdout


def test_no_command_is_usage_error() -> None:
    proc = run()
    assert proc.returncode == 2
    assert "COMMAND" in proc.stderr or "required" in proc.stderr


def test_send_without_platform_is_usage_error() -> None:
    proc = run("send", "--pixel", META_PIXEL, "--event-name", "Lead")
    assert proc.returncode == 2
    assert "--platform" in proc.stderr


def test_send_unknown_platform_is_usage_error() -> None:
    proc = run("send", "--platform", "snapchat", "--pixel", "1", "--event-name", "Lead")
    assert proc.returncode == 2
    assert "snapchat" in proc.stderr


def test_send_without_event_is_usage_error() -> None:
    proc = run("send", "--platform", "meta", "--pixel", META_PIXEL)
    assert proc.returncode == 2
    assert "--event-file" in proc.stderr and "--event-name" in proc.stderr


def test_send_with_both_event_sources_is_usage_error(tmp_path: Path) -> None:
    path = tmp_path / "e.json"
    path.write_text("{}")
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL,
        "--event-file", str(path), "--event-name", "Lead",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "not both" in proc.stderr


def test_send_without_token_names_the_variable() -> None:
    proc = run("send", "--platform", "meta", "--pixel", META_PIXEL, "--event-name", "Lead")
    assert proc.returncode == 2
    assert "CONVAPI_META_TOKEN" in proc.stderr
    proc = run(
        "send", "--platform", "tiktok", "--pixel", TT_PIXEL, "--event-name", "Lead",
        "--token-env", "MY_TT_TOKEN",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "MY_TT_TOKEN" in proc.stderr


def test_send_missing_event_file(tmp_path: Path) -> None:
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL,
        "--event-file", str(tmp_path / "absent.json"),
        env={"CONVAPI_META_TOKEN": META_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "absent.json" in proc.stderr


def test_send_invalid_json_event_file(tmp_path: Path) -> None:
    path = tmp_path / "bad.json"
    path.write_text("{not json")
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL, "--event-file", str(path),
        env={"CONVAPI_META_TOKEN": META_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 2
    assert "not valid JSON" in proc.stderr


# ---------------------------------------------------------------------------------------------
# send against the fake
# ---------------------------------------------------------------------------------------------


def test_send_meta_from_flags(fake_api: FakeAdServer) -> None:
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL, "--base-url", fake_api.base_url,
        "--event-name", "Purchase", "--event-id", "order-77",
        "--email", " Alice@Example.com ", "--phone", "+1 (650) 555-1212",
        "--value", "49.5", "--currency", "EUR",
        "--url", "https://shop.example/thanks", "--user-agent", "Mozilla/5.0 test",
        "--ip", "203.0.113.5", "--test-event-code", "TEST123",
        env={"CONVAPI_META_TOKEN": META_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["platform"] == "meta"
    assert result["events_received"] == 1
    assert result["http_status"] == 200
    assert result["trace_id"] and result["attempts"] == 1
    assert_no_token(proc, META_TOKEN)
    (event,) = fake_api.meta_events(META_PIXEL, test_event_code="TEST123")
    assert event["event_name"] == "Purchase" and event["event_id"] == "order-77"
    em = event["user_data"]["em"]
    assert sha("alice@example.com") in (em if isinstance(em, list) else [em])
    assert event["custom_data"]["value"] == 49.5
    (req,) = fake_api.requests
    assert not req.token_in_url


def test_send_tiktok_from_event_file(fake_api: FakeAdServer, tmp_path: Path) -> None:
    events = [
        {
            "event_name": "AddToCart",
            "event_id": "atc-1",
            "event_source_url": "https://shop.example/p/1",
            "user": {"email": "bob@example.com", "client_ip_address": "2001:db8::5"},
            "custom": {"value": 10, "currency": "USD", "content_ids": ["sku-1"]},
        },
        {
            "event_name": "PageView",
            "event_id": "pv-1",
            "event_source_url": "https://shop.example/",
            "user": {"external_id": "customer-9"},
        },
    ]
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    proc = run(
        "send", "--platform", "tiktok", "--pixel", TT_PIXEL, "--base-url", fake_api.base_url,
        "--event-file", str(path), "--token-env", "SHOP_TT_TOKEN",
        env={"SHOP_TT_TOKEN": TT_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["platform"] == "tiktok" and result["code"] == 0
    assert result["events_received"] == 2
    assert_no_token(proc, TT_TOKEN)
    received = fake_api.tiktok_events(TT_PIXEL)
    assert [e["event"] for e in received] == ["AddToCart", "Pageview"]
    assert fake_api.requests[0].headers["Access-Token"] == TT_TOKEN


def test_send_api_error_exits_1_without_token(fake_api: FakeAdServer) -> None:
    fake_api.inject("meta", "meta_error", code=190, subcode=463, status=400, message="expired")
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL, "--base-url", fake_api.base_url,
        "--event-name", "Lead", "--email", "a@b.example", "--url", "https://shop.example/",
        "--user-agent", "UA",
        env={"CONVAPI_META_TOKEN": META_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "190" in proc.stderr
    assert proc.stdout == ""
    assert_no_token(proc, META_TOKEN)


def test_send_rejected_by_fake_validation_exits_1(fake_api: FakeAdServer) -> None:
    # 8 days old: the builder may send it, the API (the fake) refuses it with 2804003.
    old = str(int(time.time()) - 8 * 86400)
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL, "--base-url", fake_api.base_url,
        "--event-name", "Lead", "--email", "a@b.example", "--url", "https://shop.example/",
        "--user-agent", "UA", "--event-time", old,
        env={"CONVAPI_META_TOKEN": META_TOKEN},
    )  # fmt: skip
    assert proc.returncode in (1, 2), proc.stderr
    assert proc.stderr.strip()
    assert fake_api.meta_events() == []
    assert_no_token(proc, META_TOKEN)


def test_send_transport_failure_exits_1() -> None:
    with FakeAdServer() as fake:
        url = fake.base_url
    proc = run(
        "send", "--platform", "tiktok", "--pixel", TT_PIXEL, "--base-url", url,
        "--event-name", "Lead", "--email", "a@b.example", "--url", "https://shop.example/",
        "--max-retries", "0", "--timeout", "2",
        env={"CONVAPI_TIKTOK_TOKEN": TT_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "tiktok send failed" in proc.stderr
    assert_no_token(proc, TT_TOKEN)


def test_send_dry_run_prints_payload_without_token() -> None:
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL, "--dry-run",
        "--event-name", "Lead", "--email", "Alice@Example.com", "--url", "https://shop.example/",
        "--user-agent", "Mozilla/5.0 test",
        env={"CONVAPI_META_TOKEN": META_TOKEN},
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    payload = json.loads(proc.stdout)
    assert "access_token" not in payload
    assert sha("alice@example.com") in json.dumps(payload)
    assert_no_token(proc, META_TOKEN)


def test_send_invalid_event_exits_2_naming_the_field() -> None:
    proc = run(
        "send", "--platform", "meta", "--pixel", META_PIXEL, "--dry-run",
        "--event-name", "Lead", "--email", "Alice@Example.com", "--url", "https://shop.example/",
    )  # fmt: skip
    assert proc.returncode == 2
    assert "client_user_agent" in proc.stderr
    assert "Traceback" not in proc.stderr


# ---------------------------------------------------------------------------------------------
# normalize
# ---------------------------------------------------------------------------------------------


def test_normalize_phone_prints_e164_and_hash() -> None:
    proc = run("normalize", "phone", "+1 (650) 555-1212")
    assert proc.returncode == 0, proc.stderr
    assert "+16505551212" in proc.stdout
    assert sha("+16505551212") in proc.stdout


def test_normalize_national_phone_with_country() -> None:
    proc = run("normalize", "phone", "06 12 34 56 78", "--country", "FR", "--json")
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["normalized"] == "+33612345678"
    assert out["sha256"] == sha("+33612345678")


def test_normalize_email() -> None:
    proc = run("normalize", "email", "  John_Smith@Gmail.com ")
    assert proc.returncode == 0, proc.stderr
    assert "john_smith@gmail.com" in proc.stdout
    assert sha("john_smith@gmail.com") in proc.stdout


def test_normalize_bad_value_exits_2() -> None:
    proc = run("normalize", "email", "not-an-email")
    assert proc.returncode == 2
    assert "email" in proc.stderr


def test_normalize_unknown_field_exits_2() -> None:
    proc = run("normalize", "shoe_size", "42")
    assert proc.returncode == 2
    assert "shoe_size" in proc.stderr


# ---------------------------------------------------------------------------------------------
# demo
# ---------------------------------------------------------------------------------------------


def test_demo_succeeds_and_reports_both_platforms() -> None:
    proc = run("demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Meta Conversions API" in out and "TikTok Events API" in out
    assert "events_received=5" in out
    assert "code=0" in out
    assert "fbtrace_id=" in out and "request_id=" in out
    for name in ("PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase"):
        assert name in out
    # the hashed, normalised email is shown (abbreviated), not just the raw one
    assert sha("elodie.martin@example.com")[:10] in out
    assert "OK: Meta and TikTok both accepted all 5 events" in out


def test_demo_events_only_is_json_of_what_was_received() -> None:
    proc = run("demo", "--events-only")
    assert proc.returncode == 0, proc.stderr
    received: dict[str, list[dict[str, Any]]] = json.loads(proc.stdout)
    assert len(received["meta"]) == 5 and len(received["tiktok"]) == 5
    purchase = received["meta"][-1]
    assert purchase["event_name"] == "Purchase"
    em = purchase["user_data"]["em"]
    for digest in em if isinstance(em, list) else [em]:
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert received["tiktok"][0]["event"] == "Pageview"


def test_demo_with_faults_retries_and_still_succeeds() -> None:
    proc = run("demo", "--faults")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "attempts=2" in proc.stdout
    assert "injected http_503" in proc.stdout and "injected rate_limit" in proc.stdout


# ---------------------------------------------------------------------------------------------
# fake-server
# ---------------------------------------------------------------------------------------------


def test_fake_server_refuses_non_loopback_host() -> None:
    proc = run("fake-server", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode == 2
    assert "loopback" in proc.stderr


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_fake_server_serves_and_logs_masked(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "convapi", "fake-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        base = match.group(0)
        body = {
            "event_source": "web",
            "event_source_id": TT_PIXEL,
            "data": [
                {
                    "event": "Pageview",
                    "event_time": int(time.time()),
                    "page": {"url": "https://shop.example/"},
                }
            ],
        }
        req = urllib.request.Request(
            base + "/open_api/v1.3/event/track/",
            data=json.dumps(body).encode(),
            headers={"Content-Type": "application/json", "Access-Token": TT_TOKEN},
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            assert json.loads(resp.read())["code"] == 0
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            line = proc.stderr.readline()
            lines.append(line)
            if "/open_api/v1.3/event/track/ ->" in line:
                break
        assert any("-> 200" in line for line in lines), lines
        assert all(TT_TOKEN not in line for line in lines)
    finally:
        proc.send_signal(stop_signal)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
    assert proc.stderr is not None and "stopping" in proc.stderr.read()
