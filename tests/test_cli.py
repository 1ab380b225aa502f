"""``python -m convapi`` end to end, as a subprocess (needs the native module built), for the four
platforms against the local fakes; the fake-server's option parsing also in-process."""

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
PIN_TOKEN = "pina-cli-SECRET-token-0123456789"
PIN_ACCOUNT = "549755885175"
GA4_SECRET = "ga4-cli-SECRET-api-secret-4567"
GA4_ID = "G-CLITEST42"
TOKEN_VARS = (
    "CONVAPI_META_TOKEN",
    "CONVAPI_TIKTOK_TOKEN",
    "CONVAPI_PINTEREST_TOKEN",
    "CONVAPI_GA4_API_SECRET",
)


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def run(
    *args: str, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k not in TOKEN_VARS}
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
        ("send", "--test"),
        ("send", "--client-id"),
        ("send", "--ad-account"),
        ("send", "--measurement-id"),
        ("send", "CONVAPI_GA4_API_SECRET"),
        ("normalize", "--country"),
        ("fake-server", "--port"),
        ("fake-server", "--pinterest-token"),
        ("fake-server", "--ga4-secret"),
        ("demo", "--events-only"),
        ("demo", "GA4"),
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
# send: Pinterest and GA4
# ---------------------------------------------------------------------------------------------


@pytest.fixture()
def fake4() -> Any:
    """A fake that knows the CLI tests' Pinterest token and GA4 stream secret."""
    with FakeAdServer(pinterest_tokens=[PIN_TOKEN], ga4_secrets={GA4_ID: GA4_SECRET}) as fake:
        yield fake


PIN_ENV = {"CONVAPI_PINTEREST_TOKEN": PIN_TOKEN}
GA4_ENV = {"CONVAPI_GA4_API_SECRET": GA4_SECRET}


def pinterest_purchase(*extra: str) -> tuple[str, ...]:
    return (
        "--event-name", "Purchase", "--event-id", "order-88",
        "--email", " Alice@Example.com ", "--phone", "+1 (650) 555-1212",
        "--value", "49.5", "--currency", "EUR", "--order-id", "S00088",
        "--url", "https://shop.example/thanks", "--user-agent", "Mozilla/5.0 test",
        "--ip", "203.0.113.5", *extra,
    )  # fmt: skip


def ga4_purchase(*extra: str) -> tuple[str, ...]:
    return (
        "--event-name", "Purchase", "--order-id", "S00099",
        "--email", " Jo.Hn.Smith@GMail.com ", "--phone", "+1 (650) 555-1212",
        "--first-name", "John", "--city", "San Francisco", "--country", "US",
        "--external-id", "cust-7", "--value", "49.5", "--currency", "EUR",
        "--url", "https://shop.example/thanks", *extra,
    )  # fmt: skip


def assert_no_ga4_secret(proc: subprocess.CompletedProcess[str]) -> None:
    for text in (proc.stdout, proc.stderr):
        assert GA4_SECRET not in text
        assert GA4_ID not in text, "the engine masks GA4's measurement id; so does the CLI"


def test_send_pinterest_from_flags(fake4: FakeAdServer) -> None:
    proc = run(
        "send", "--platform", "pinterest", "--ad-account", PIN_ACCOUNT,
        "--base-url", fake4.base_url, *pinterest_purchase("--epik", "dj0yJnU9cliEpik"),
        env=PIN_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["platform"] == "pinterest"
    assert result["url"] == fake4.pinterest_url(PIN_ACCOUNT)
    assert result["events_received"] == 1 and result["http_status"] == 200
    assert result["response"]["num_events_processed"] == 1
    assert_no_token(proc, PIN_TOKEN)
    (event,) = fake4.pinterest_events(PIN_ACCOUNT)
    assert event["event_name"] == "checkout" and event["event_id"] == "order-88"
    assert event["user_data"]["em"] == [sha("alice@example.com")]
    assert event["user_data"]["ph"] == [sha("16505551212")]
    assert event["user_data"]["click_id"] == "dj0yJnU9cliEpik"
    assert event["custom_data"]["value"] == "49.5"
    (req,) = fake4.requests
    assert req.token_sources == ("bearer_header",) and not req.token_in_url


def test_send_pinterest_pixel_means_the_ad_account_and_test_records_nothing(
    fake4: FakeAdServer,
) -> None:
    proc = run(
        "send", "--platform", "pinterest", "--pixel", PIN_ACCOUNT, "--test",
        "--base-url", fake4.base_url, *pinterest_purchase(), env=PIN_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["test"] is True and result["events_received"] == 1
    assert fake4.requests[-1].test_mode
    assert fake4.requests[-1].pixel_id == PIN_ACCOUNT
    assert fake4.pinterest_events() == []
    assert_no_token(proc, PIN_TOKEN)


def test_send_pinterest_429_is_retried(fake4: FakeAdServer) -> None:
    fake4.inject("pinterest", "rate_limit", retry_after=0)
    proc = run(
        "send", "--platform", "pinterest", "--ad-account", PIN_ACCOUNT,
        "--base-url", fake4.base_url, *pinterest_purchase(), env=PIN_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["attempts"] == 2
    assert [r.status for r in fake4.requests] == [429, 200]
    assert_no_token(proc, PIN_TOKEN)


def test_send_pinterest_wrong_token_exits_1_without_token(fake4: FakeAdServer) -> None:
    wrong = "pina-WRONG-token-000000000000"
    proc = run(
        "send", "--platform", "pinterest", "--ad-account", PIN_ACCOUNT,
        "--base-url", fake4.base_url, *pinterest_purchase(),
        "--token-env", "SHOP_PIN", env={"SHOP_PIN": wrong},
    )  # fmt: skip
    assert proc.returncode == 1
    assert "pinterest send failed" in proc.stderr and "code=2" in proc.stderr
    assert proc.stdout == ""
    assert_no_token(proc, wrong)


def test_send_pinterest_partial_failure_exits_1_naming_the_refused_event(
    tmp_path: Path,
) -> None:
    # The fake's clock runs 6 hours ahead: an event 7 days minus 1 hour old passes the builder's
    # 7-day rule but not Pinterest's, which refuses that event alone (HTTP 200, "failed").
    now = int(time.time())
    events = [
        {
            "event_name": "AddToCart", "event_id": f"atc-{i}", "event_time": t,
            "event_source_url": "https://shop.example/p/1",
            "user": {"email": f"buyer{i}@example.com"},
        }
        for i, t in enumerate([now - 30, now - 7 * 86400 + 3600, now - 20])
    ]  # fmt: skip
    path = tmp_path / "events.json"
    path.write_text(json.dumps(events))
    with FakeAdServer(pinterest_tokens=[PIN_TOKEN], clock=lambda: time.time() + 6 * 3600) as fake:
        proc = run(
            "send", "--platform", "pinterest", "--ad-account", PIN_ACCOUNT,
            "--base-url", fake.base_url, "--event-file", str(path), env=PIN_ENV,
        )  # fmt: skip
        accepted = [e["event_id"] for e in fake.pinterest_events()]
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "refused 1 event(s): events[1]:" in proc.stderr
    assert "7 days" in proc.stderr
    assert "accepted events [0, 2]" in proc.stderr
    assert "not retryable" in proc.stderr
    assert accepted == ["atc-0", "atc-2"]
    assert_no_token(proc, PIN_TOKEN)


def test_send_ga4_from_flags(fake4: FakeAdServer) -> None:
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--base-url", fake4.base_url,
        *ga4_purchase("--client-id", "GA1.1.1234567890.1700000000",
                      "--session-id", "GS1.1.1746825440.14.0.1746825440.0.0.0"),
        env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["platform"] == "ga4" and result["http_status"] == 204
    assert result["events_received"] == 1
    assert result["url"] == fake4.ga4_url() + "?measurement_id=***&api_secret=***"
    assert "drops what it cannot use silently" in proc.stderr
    assert_no_ga4_secret(proc)
    assert not fake4.ga4_dropped(), fake4.ga4_dropped()
    (event,) = fake4.ga4_events(GA4_ID)
    assert event["name"] == "purchase"
    assert event["client_id"] == "1234567890.1700000000"
    assert event["user_id"] == "cust-7"
    assert event["params"]["transaction_id"] == "S00099"
    assert event["params"]["session_id"] == "1746825440"
    # Google's gmail rule: the dots before the @ go
    assert event["user_data"]["sha256_email_address"] == [sha("johnsmith@gmail.com")]
    assert event["user_data"]["sha256_phone_number"] == [sha("+16505551212")]
    assert event["user_data"]["address"][0]["city"] == "san francisco"
    (req,) = fake4.requests
    assert req.path == "/mp/collect" and req.token_sources == ("query",)


def test_send_ga4_with_wrong_secret_is_dropped_silently_as_ga4_does(fake4: FakeAdServer) -> None:
    wrong = "ga4-WRONG-secret-000000000"
    proc = run(
        "send", "--platform", "ga4", "--pixel", GA4_ID, "--base-url", fake4.base_url,
        *ga4_purchase("--client-id", "123.456"), env={"CONVAPI_GA4_API_SECRET": wrong},
    )  # fmt: skip
    # GA4 answers 204 whatever it does: the CLI cannot know, and says so.
    assert proc.returncode == 0, proc.stderr
    assert "--test sends to the validation server" in proc.stderr
    assert fake4.ga4_events() == [] and fake4.ga4_dropped()
    assert wrong not in proc.stdout + proc.stderr
    assert_no_ga4_secret(proc)


def test_send_ga4_test_uses_the_validation_server(fake4: FakeAdServer) -> None:
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--test",
        "--base-url", fake4.base_url, *ga4_purchase("--client-id", "123.456"), env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["test"] is True
    assert result["response"] == {"validationMessages": []}
    assert fake4.requests[-1].path == "/debug/mp/collect"
    assert fake4.ga4_events() == []
    assert_no_ga4_secret(proc)


def test_send_ga4_validation_messages_exit_1(fake4: FakeAdServer, tmp_path: Path) -> None:
    event = {
        "event_name": "Purchase",
        "event_source_url": "https://shop.example/thanks",
        "user": {"client_id": "123.456"},
        "custom": {"value": 1, "currency": "EUR", "order_id": "S1",
                   "contents": [{"id": "x" * 150, "quantity": 1, "item_price": 1}]},
    }  # fmt: skip
    path = tmp_path / "e.json"
    path.write_text(json.dumps(event))
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--test",
        "--base-url", fake4.base_url, "--event-file", str(path), env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    assert "ga4 send failed" in proc.stderr and "items" in proc.stderr
    assert "not retryable" in proc.stderr
    assert_no_ga4_secret(proc)


def test_send_ga4_503_is_retried(fake4: FakeAdServer) -> None:
    fake4.inject("ga4", "http_503")
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--base-url", fake4.base_url,
        *ga4_purchase("--client-id", "123.456"), env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["attempts"] == 2
    assert [r.status for r in fake4.requests] == [503, 204]
    assert len(fake4.ga4_events()) == 1
    assert_no_ga4_secret(proc)


def test_send_ga4_transport_failure_exits_1_without_secret() -> None:
    with FakeAdServer() as fake:
        url = fake.base_url
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--base-url", url,
        *ga4_purchase("--client-id", "123.456"), "--max-retries", "0", "--timeout", "2",
        env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 1
    assert "ga4 send failed" in proc.stderr
    assert_no_ga4_secret(proc)


def test_send_ga4_without_client_id_exits_2_before_sending(fake4: FakeAdServer) -> None:
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--base-url", fake4.base_url,
        *ga4_purchase(), env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "user.client_id" in proc.stderr
    assert fake4.requests == []
    assert_no_ga4_secret(proc)


def test_send_ga4_bad_measurement_id_exits_2() -> None:
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", "UA-12345-1",
        *ga4_purchase("--client-id", "123.456"), env=GA4_ENV,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "invalid destination for ga4" in proc.stderr and "measurement_id" in proc.stderr
    assert GA4_SECRET not in proc.stderr


@pytest.mark.parametrize(
    ("platform", "variable", "what"),
    [
        ("pinterest", "CONVAPI_PINTEREST_TOKEN", "no access token"),
        ("ga4", "CONVAPI_GA4_API_SECRET", "no API secret"),
    ],
)
def test_send_new_platforms_without_secret_name_the_variable(
    platform: str, variable: str, what: str
) -> None:
    proc = run("send", "--platform", platform, "--pixel", GA4_ID if platform == "ga4" else
               PIN_ACCOUNT, "--event-name", "Lead", "--client-id", "1.2")
    assert proc.returncode == 2
    assert variable in proc.stderr and what in proc.stderr


def test_send_dry_run_pinterest_and_ga4_print_the_body() -> None:
    proc = run(
        "send", "--platform", "pinterest", "--ad-account", PIN_ACCOUNT, "--dry-run",
        *pinterest_purchase(),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["data"][0]["event_name"] == "checkout"
    assert body["data"][0]["user_data"]["em"] == [sha("alice@example.com")]
    proc = run(
        "send", "--platform", "ga4", "--measurement-id", GA4_ID, "--dry-run", "--test",
        *ga4_purchase("--client-id", "GA1.2.42.1700000000"),
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr
    body = json.loads(proc.stdout)
    assert body["client_id"] == "42.1700000000"
    assert body["validation_behavior"] == "ENFORCE_RECOMMENDATIONS"
    assert body["events"][0]["params"]["transaction_id"] == "S00099"
    assert GA4_ID not in proc.stdout


def test_send_dry_run_ga4_two_users_is_usage_error(tmp_path: Path) -> None:
    events = [
        {"event_name": "Lead", "event_source_url": "https://shop.example/",
         "user": {"client_id": f"{i}.1700000000"}}
        for i in (1, 2)
    ]  # fmt: skip
    path = tmp_path / "two.json"
    path.write_text(json.dumps(events))
    proc = run("send", "--platform", "ga4", "--pixel", GA4_ID, "--dry-run",
               "--event-file", str(path))
    assert proc.returncode == 2
    assert "one user" in proc.stderr and "--dry-run shows one request" in proc.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--platform", "meta", "--ad-account", "1"), "--ad-account is Pinterest"),
        (("--platform", "pinterest", "--measurement-id", "G-1"), "--measurement-id is GA4"),
        (("--platform", "ga4", "--pixel", "G-1", "--measurement-id", "G-1"), "not twice"),
        (("--platform", "ga4"), "--measurement-id"),
        (("--platform", "meta"), "a destination is needed"),
        (("--platform", "meta", "--pixel", "1", "--test"), "--test applies to Pinterest and GA4"),
        (("--platform", "tiktok", "--pixel", "C1", "--test"), "--test-event-code"),
        (("--platform", "pinterest", "--pixel", "1", "--test-event-code", "T"),
         "--test-event-code applies to Meta and TikTok"),
        (("--platform", "ga4", "--pixel", "G-1", "--api-version", "v25.0"), "meta only"),
    ],
)
def test_send_option_misuse_is_usage_error(args: tuple[str, ...], message: str) -> None:
    proc = run("send", *args, "--event-name", "Lead", env={**PIN_ENV, **GA4_ENV})
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert message in proc.stderr
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


DEMO_SECRETS = (
    "demo-meta-token-not-a-secret-0001",
    "demo-tiktok-token-not-a-secret-01",
    "demo-pinterest-token-not-a-secret-1",
    "demo-ga4-api-secret-not-a-secret-1",
    "G-DEMO2026CV",  # GA4's measurement id: the engine never shows it either
)


def test_demo_succeeds_and_reports_all_four_platforms() -> None:
    proc = run("demo")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    for label in ("Meta Conversions API", "TikTok Events API", "Pinterest Conversions API",
                  "GA4 Measurement Protocol"):
        assert f"\n{label}: POST " in out, label
        assert label in out.splitlines()[0]
    assert "events_received=5" in out
    assert "code=0" in out
    assert "fbtrace_id=" in out and "request_id=" in out
    assert "num_events_received=5, num_events_processed=5" in out
    assert "processed x5" in out
    assert "HTTP 204" in out and "requests=2" in out
    assert "dropped silently (the fake records it): nothing" in out
    for name in ("PageView", "ViewContent", "AddToCart", "InitiateCheckout", "Purchase"):
        assert name in out
    for name in ("page_visit", "add_to_cart", "initiate_checkout", "checkout"):
        assert f"    {name} " in out
    for name in ("page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"):
        assert f"    {name} " in out
    for platform in ("Meta", "TikTok", "Pinterest", "GA4"):
        assert f"What {platform} received (5 events" in out
        assert f"The {platform} Purchase event exactly as the fake received it" in out
    # the hashed, normalised email is shown (abbreviated), not just the raw one
    assert sha("elodie.martin@example.com")[:10] in out
    # the new browser identifiers, and why GA4 gets the whole funnel here only
    assert "client_id=1827394650." in out and "click_id=dj0y" in out
    assert "sends only Purchase to GA4 by default" in out
    assert "no browser/server" in out and "dedup" in out
    # GA4's URL is shown masked, its secret never
    assert "/mp/collect?measurement_id=***&api_secret=***" in out
    for secret in DEMO_SECRETS:
        assert secret not in out and secret not in proc.stderr
    assert "OK: Meta, TikTok, Pinterest and GA4 all accepted all 5 events" in out


def test_demo_events_only_is_json_of_what_was_received() -> None:
    proc = run("demo", "--events-only")
    assert proc.returncode == 0, proc.stderr
    received: dict[str, list[dict[str, Any]]] = json.loads(proc.stdout)
    assert sorted(received) == ["ga4", "meta", "pinterest", "tiktok"]
    assert all(len(events) == 5 for events in received.values())
    purchase = received["meta"][-1]
    assert purchase["event_name"] == "Purchase"
    em = purchase["user_data"]["em"]
    for digest in em if isinstance(em, list) else [em]:
        assert re.fullmatch(r"[0-9a-f]{64}", digest)
    assert received["tiktok"][0]["event"] == "Pageview"
    pin = received["pinterest"][-1]
    assert pin["event_name"] == "checkout" and pin["event_id"] == "SO-2026-00042"
    assert pin["user_data"]["em"] == [sha("elodie.martin@example.com")]
    assert pin["user_data"]["click_id"] == "dj0yJnU9RGVtb1BpbnRlcmVzdENsaWNrSWQ"
    assert pin["custom_data"]["value"] == "129.9"
    ga4 = received["ga4"]
    assert [e["name"] for e in ga4] == [
        "page_view", "view_item", "add_to_cart", "begin_checkout", "purchase"]
    assert {e["client_id"] for e in ga4} == {ga4[0]["client_id"]}
    assert re.fullmatch(r"1827394650\.\d+", ga4[0]["client_id"])
    assert "user_data" not in ga4[0] and ga4[-1]["user_id"] == "customer-1042"
    assert ga4[-1]["params"]["transaction_id"] == "SO-2026-00042"
    assert ga4[-1]["params"]["session_id"].isdigit()
    assert ga4[-1]["user_data"]["sha256_email_address"] == [sha("elodie.martin@example.com")]
    for secret in DEMO_SECRETS:
        assert secret not in proc.stdout and secret not in proc.stderr


def test_demo_with_faults_retries_and_still_succeeds() -> None:
    proc = run("demo", "--faults")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    out = proc.stdout
    assert "Pinterest 429 + Retry-After once" in out and "GA4 HTTP 503 once" in out
    answers = [line for line in out.splitlines() if line.startswith("  answer: ")]
    assert len(answers) == 4
    assert all("(1 retry)" in line for line in answers), answers
    for platform, fault in (("meta", "http_503"), ("tiktok", "rate_limit"),
                            ("pinterest", "rate_limit"), ("ga4", "http_503")):
        assert re.search(rf"^    {platform} +POST \S+ -> \d+ .*\(injected {fault}\)", out, re.M), (
            platform)
    assert "OK: Meta, TikTok, Pinterest and GA4 all accepted all 5 events" in out
    for secret in DEMO_SECRETS:
        assert secret not in out and secret not in proc.stderr


# ---------------------------------------------------------------------------------------------
# fake-server
# ---------------------------------------------------------------------------------------------


def test_fake_server_refuses_non_loopback_host() -> None:
    proc = run("fake-server", "--host", "0.0.0.0", "--port", "0")
    assert proc.returncode == 2
    assert "loopback" in proc.stderr


def _sigint_default() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
def test_fake_server_serves_and_logs_masked(stop_signal: signal.Signals) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "convapi", "fake-server", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # A test run started in the background of a shell without job control inherits SIGINT
        # ignored, and Python keeps an inherited ignore: Ctrl-C is what this test sends.
        preexec_fn=_sigint_default,
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


def test_fake_server_passes_pinterest_tokens_and_ga4_secrets(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import convapi.cli as cli

    seen: dict[str, Any] = {}

    def fake_run(host: str, port: int, **options: Any) -> None:
        seen.update(options, host=host, port=port)

    monkeypatch.setattr(cli, "run_fake_server", fake_run)
    code = cli.main([
        "fake-server", "--port", "0", "--pinterest-token", "p1", "--pinterest-token", "p2",
        "--ga4-secret", "G-ONE=s1", "--ga4-secret", "G-ONE=s2", "--ga4-secret", "G-TWO=s=3",
    ])  # fmt: skip
    assert code == 0
    assert seen["pinterest_tokens"] == ["p1", "p2"]
    assert seen["ga4_secrets"] == {"G-ONE": {"s1", "s2"}, "G-TWO": {"s=3"}}


@pytest.mark.parametrize("bad", ["G-ONE", "=hush-4242", "G-ONE=", "UA-1=hush-4242"])
def test_fake_server_bad_ga4_secret_is_usage_error(
    bad: str, capsys: pytest.CaptureFixture[str]
) -> None:
    import convapi.cli as cli

    assert cli.main(["fake-server", "--port", "0", "--ga4-secret", bad]) == 2
    err = capsys.readouterr().err
    assert "--ga4-secret" in err
    assert "hush-4242" not in err, "the secret is not echoed"


def _post(url: str, body: Any, headers: dict[str, str]) -> tuple[int, bytes]:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", **headers},
    )  # fmt: skip
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


def test_fake_server_serves_pinterest_and_ga4_with_secrets_masked() -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "convapi", "fake-server", "--port", "0",
         "--pinterest-token", PIN_TOKEN, "--ga4-secret", f"{GA4_ID}={GA4_SECRET}"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        match = re.search(r"http://127\.0\.0\.1:(\d+)", first)
        assert match, first
        base = match.group(0)
        now = int(time.time())
        pin_body = {"data": [{
            "event_name": "checkout", "action_source": "web", "event_time": now,
            "event_id": "o-1", "user_data": {"em": [sha("a@b.example")]},
        }]}  # fmt: skip
        pin_url = f"{base}/v5/ad_accounts/{PIN_ACCOUNT}/events"
        status, answer = _post(pin_url, pin_body, {"Authorization": f"Bearer {PIN_TOKEN}"})
        assert status == 200 and json.loads(answer)["num_events_processed"] == 1
        status, _ = _post(pin_url, pin_body, {"Authorization": "Bearer not-the-token-000"})
        assert status == 401
        ga4_body = {"client_id": "123.456", "events": [{"name": "purchase", "params": {
            "transaction_id": "S1", "currency": "EUR", "value": 1}}]}  # fmt: skip
        ga4_url = f"{base}/mp/collect?measurement_id={GA4_ID}&api_secret={GA4_SECRET}"
        status, answer = _post(ga4_url, ga4_body, {})
        assert status == 204 and answer == b""
        lines = []
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not any(
            "/mp/collect" in line and " -> " in line for line in lines
        ):
            lines.append(proc.stderr.readline())
        assert sum("-> 200" in line for line in lines) == 1, lines
        assert any("-> 401" in line for line in lines), lines
        assert any("/mp/collect" in line and "-> 204" in line for line in lines), lines
        for line in lines:
            assert PIN_TOKEN not in line and GA4_SECRET not in line, line
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    assert proc.returncode == 0
