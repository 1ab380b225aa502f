"""The local fake of Meta CAPI and TikTok EAPI, driven with urllib only (no convapi sender).

Each validation rule of the specs gets one test: HTTP status, platform code and a message that
names the offending field.
"""

from __future__ import annotations

import hashlib
import http.client
import json
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
from convapi.testing import FakeAdServer, RecordedRequest

PIXEL = "1234567890"
TT_PIXEL = "CABCDEF1234567890"
TOKEN = "EAAB-meta-token-0123456789"
TT_TOKEN = "tt-token-abcdef0123456789"


def sha(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


EM = sha("alice@example.com")
PH = sha("16505551212")


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


# ---------------------------------------------------------------------------------------------
# Meta helpers
# ---------------------------------------------------------------------------------------------


def meta_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "PageView",
        "event_time": now(),
        "event_id": "evt-1",
        "action_source": "website",
        "event_source_url": "https://shop.example/product/42",
        "user_data": {
            "em": [EM],
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "client_ip_address": "203.0.113.7",
        },
    }
    event.update(overrides)
    return event


def with_user(**user: Any) -> dict[str, Any]:
    ev = meta_event()
    ev["user_data"].update(user)
    return ev


def meta_post(
    fake: FakeAdServer, events: list[Any] | Any, *, token: str | None = TOKEN, **extra: Any
) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
    body: dict[str, Any] = {"data": events, **extra}
    if token is not None:
        body["access_token"] = token
    return call(f"{fake.base_url}/v25.0/{PIXEL}/events", body)


def meta_error(body: dict[str, Any]) -> dict[str, Any]:
    assert set(body) == {"error"}, body
    err = body["error"]
    assert err["type"] == "OAuthException"
    assert isinstance(err["fbtrace_id"], str) and err["fbtrace_id"]
    return err


def assert_meta_invalid(
    fake: FakeAdServer, event: dict[str, Any], field: str, subcode: int | None = None
) -> dict[str, Any]:
    status, body, _ = meta_post(fake, [event])
    assert status == 400, body
    err = meta_error(body)
    assert err["code"] == 100
    assert err["message"] == "Invalid parameter"
    assert err["is_transient"] is False
    assert field in err["error_user_msg"], err
    assert err.get("error_subcode") == subcode
    assert fake.meta_events() == []
    return err


# ---------------------------------------------------------------------------------------------
# TikTok helpers
# ---------------------------------------------------------------------------------------------


def tt_event(**overrides: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": "ViewContent",
        "event_time": now(),
        "event_id": "evt-1",
        "user": {
            "email": EM,
            "phone": [sha("+16505551212")],
            "ip": "2001:db8::1",
            "user_agent": "Mozilla/5.0",
            "ttclid": "E.C.P.abc",
            "ttp": "2Xyz",
        },
        "page": {"url": "https://shop.example/p/1", "referrer": "https://shop.example/"},
        "properties": {
            "value": 19.9,
            "currency": "EUR",
            "contents": [{"content_id": "sku-1", "price": 19.9, "quantity": 1}],
            "content_type": "product",
        },
    }
    event.update(overrides)
    return event


def tt_post(
    fake: FakeAdServer,
    events: list[Any],
    *,
    token: str | None = TT_TOKEN,
    **top: Any,
) -> tuple[int, dict[str, Any], http.client.HTTPMessage]:
    body: dict[str, Any] = {"event_source": "web", "event_source_id": TT_PIXEL, "data": events}
    body.update(top)
    headers = {"Access-Token": token} if token is not None else {}
    return call(fake.tiktok_url, body, headers=headers)


REQUEST_ID_RE = re.compile(r"^\d{14}[0-9A-F]{20}$")


def tt_error(status: int, body: dict[str, Any], code: int, mention: str) -> None:
    assert status == 200, body
    assert body["code"] == code, body
    assert mention in body["message"], body
    assert REQUEST_ID_RE.match(body["request_id"])


def assert_tt_invalid(
    fake: FakeAdServer, event: dict[str, Any], mention: str, code: int = 40002
) -> None:
    status, body, _ = tt_post(fake, [event])
    tt_error(status, body, code, mention)
    assert fake.tiktok_events() == []


@pytest.fixture
def fake() -> Iterator[FakeAdServer]:
    with FakeAdServer() as server:
        yield server


# =============================================================================================
# Meta: success, transport, auth
# =============================================================================================


def test_meta_success_body_and_recording(fake: FakeAdServer) -> None:
    events = [meta_event(), meta_event(event_name="ViewContent", event_id="evt-2")]
    status, body, headers = meta_post(fake, events)
    assert status == 200
    assert set(body) == {"events_received", "messages", "fbtrace_id"}
    assert body["events_received"] == 2
    assert body["messages"] == []
    assert re.match(r"^A[A-Za-z0-9_-]{22}$", body["fbtrace_id"])
    assert headers["Content-Type"].startswith("application/json")
    assert [e["event_name"] for e in fake.meta_events()] == ["PageView", "ViewContent"]
    assert fake.meta_events(pixel_id=PIXEL) == fake.meta_events()
    assert fake.meta_events(pixel_id="999") == []
    (req,) = fake.requests
    assert isinstance(req, RecordedRequest)
    assert (req.platform, req.method, req.path, req.status) == (
        "meta",
        "POST",
        f"/v25.0/{PIXEL}/events",
        200,
    )
    assert req.pixel_id == PIXEL and req.api_version == "v25.0"
    assert req.headers["content-type"] == "application/json"
    assert req.body["data"][0]["event_id"] == "evt-1"
    assert req.response == body
    assert req.events_accepted == 2


def test_meta_token_in_json_body_is_not_in_url(fake: FakeAdServer) -> None:
    meta_post(fake, [meta_event()])
    (req,) = fake.requests
    assert req.token_sources == ("json_body",)
    assert not req.token_in_url
    assert "access_token" not in req.query


def test_meta_token_in_query_is_accepted_and_recorded(fake: FakeAdServer) -> None:
    url = f"{fake.base_url}/v25.0/{PIXEL}/events?access_token={TOKEN}"
    status, body, _ = call(url, {"data": [meta_event()]})
    assert status == 200, body
    (req,) = fake.requests
    assert req.token_in_url and req.token_source == "query"
    assert req.query_params["access_token"] == [TOKEN]


def test_meta_form_body_with_data_as_json_string(fake: FakeAdServer) -> None:
    form = urllib.parse.urlencode(
        {"data": json.dumps([meta_event()]), "access_token": TOKEN, "test_event_code": "TEST1"}
    ).encode()
    status, body, _ = call(
        f"{fake.base_url}/v25.0/{PIXEL}/events",
        raw=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert status == 200, body
    assert body["events_received"] == 1
    (req,) = fake.requests
    assert req.token_sources == ("form_body",)
    assert req.test_event_code == "TEST1"


def test_meta_multipart_form_like_curl_dash_f(fake: FakeAdServer) -> None:
    boundary = "XyZ123"
    parts = [("data", json.dumps([meta_event()])), ("access_token", TOKEN)]
    raw = "".join(
        f'--{boundary}\r\nContent-Disposition: form-data; name="{k}"\r\n\r\n{v}\r\n'
        for k, v in parts
    )
    raw += f"--{boundary}--\r\n"
    status, body, _ = call(
        f"{fake.base_url}/v25.0/{PIXEL}/events",
        raw=raw.encode(),
        headers={"Content-Type": f"multipart/form-data; boundary={boundary}"},
    )
    assert status == 200, body
    assert fake.requests[0].token_sources == ("multipart_body",)


def test_meta_bearer_header_token(fake: FakeAdServer) -> None:
    status, body, _ = call(
        f"{fake.base_url}/v25.0/{PIXEL}/events",
        {"data": [meta_event()]},
        headers={"Authorization": f"Bearer {TOKEN}"},
    )
    assert status == 200, body
    assert fake.requests[0].token_sources == ("bearer_header",)


def test_meta_data_items_as_json_strings_like_the_sdk(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, [json.dumps(meta_event())])
    assert status == 200, body
    assert fake.meta_events()[0]["event_name"] == "PageView"


def test_meta_data_as_json_encoded_string(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, json.dumps([meta_event()]))
    assert status == 200, body


def test_meta_missing_token(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, [meta_event()], token=None)
    assert status == 400
    err = meta_error(body)
    assert err["code"] == 104
    assert "access token" in err["message"]
    assert fake.meta_events() == []


def test_meta_wrong_token() -> None:
    with FakeAdServer(meta_tokens={TOKEN}) as fake:
        status, body, headers = meta_post(fake, [meta_event()], token="EAAB-other-token")
        assert status == 401
        err = meta_error(body)
        assert err["code"] == 190
        assert "access token" in err["message"]
        assert "invalid_token" in headers["WWW-Authenticate"]
        assert meta_post(fake, [meta_event()])[0] == 200


def test_meta_test_event_code_recorded(fake: FakeAdServer) -> None:
    status, _, _ = meta_post(fake, [meta_event()], test_event_code="TEST4242")
    assert status == 200
    assert fake.meta_events(test_event_code="TEST4242")
    assert fake.meta_events(test_event_code="OTHER") == []
    (accepted,) = fake.accepted_events("meta")
    assert accepted.test_event_code == "TEST4242" and accepted.pixel_id == PIXEL


def test_meta_unknown_pixel_object(fake: FakeAdServer) -> None:
    status, body, _ = call(
        f"{fake.base_url}/v25.0/not-a-pixel/events", {"data": [meta_event()], "access_token": "x"}
    )
    assert status == 400
    err = meta_error(body)
    assert (err["code"], err["error_subcode"]) == (100, 33)
    assert "not-a-pixel" in err["message"]


def test_meta_deprecated_api_version(fake: FakeAdServer) -> None:
    status, body, _ = call(
        f"{fake.base_url}/v18.0/{PIXEL}/events", {"data": [meta_event()], "access_token": "x"}
    )
    assert status == 400
    assert meta_error(body)["code"] == 2635


def test_meta_wrong_method(fake: FakeAdServer) -> None:
    status, body, headers = call(f"{fake.base_url}/v25.0/{PIXEL}/events", method="GET")
    assert status == 405
    assert meta_error(body)["code"] == 100
    assert headers["Allow"] == "POST"


def test_meta_invalid_json(fake: FakeAdServer) -> None:
    status, body, _ = call(
        f"{fake.base_url}/v25.0/{PIXEL}/events",
        raw=b'{"data": [',
        headers={"Content-Type": "application/json"},
    )
    assert status == 400
    err = meta_error(body)
    assert err["code"] == 100 and "JSON" in err["message"]


def test_unknown_path_is_404(fake: FakeAdServer) -> None:
    status, body, _ = call(f"{fake.base_url}/nope", {"x": 1})
    assert status == 404
    assert "/nope" in body["error"]["message"]
    status, body, _ = call(f"{fake.base_url}/open_api/v1.3/pixel/nope/", {"x": 1})
    assert status == 404 and body["code"] != 0


# =============================================================================================
# Meta: validation rules (one per test)
# =============================================================================================


def test_meta_data_required(fake: FakeAdServer) -> None:
    status, body, _ = call(f"{fake.base_url}/v25.0/{PIXEL}/events", {"access_token": TOKEN})
    assert status == 400
    err = meta_error(body)
    assert err["code"] == 100 and "data" in err["message"]


def test_meta_data_must_not_be_empty(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, [])
    assert status == 400
    err = meta_error(body)
    assert err["code"] == 100 and "data" in err["message"]


def test_meta_data_must_be_an_array(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, {"event_name": "x"})
    assert status == 400 and "data" in meta_error(body)["message"]


def test_meta_at_most_1000_events(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, [meta_event(event_id=str(i)) for i in range(1001)])
    assert status == 400
    err = meta_error(body)
    assert err["code"] == 100 and "1000" in err["message"]
    assert fake.meta_events() == []


def test_meta_exactly_1000_events_accepted(fake: FakeAdServer) -> None:
    status, body, _ = meta_post(fake, [meta_event(event_id=str(i)) for i in range(1000)])
    assert status == 200 and body["events_received"] == 1000
    assert len(fake.meta_events()) == 1000


def test_meta_event_name_required(fake: FakeAdServer) -> None:
    ev = meta_event()
    del ev["event_name"]
    assert_meta_invalid(fake, ev, "event_name")


def test_meta_event_time_required(fake: FakeAdServer) -> None:
    ev = meta_event()
    del ev["event_time"]
    assert_meta_invalid(fake, ev, "event_time")


def test_meta_event_time_too_old(fake: FakeAdServer) -> None:
    err = assert_meta_invalid(
        fake, meta_event(event_time=now() - 8 * 86400), "event_time", subcode=2804003
    )
    assert err["error_user_title"] == "Event Timestamp Too Old"


def test_meta_event_time_six_days_old_is_fine(fake: FakeAdServer) -> None:
    assert meta_post(fake, [meta_event(event_time=now() - 6 * 86400)])[0] == 200


def test_meta_physical_store_events_may_be_62_days_old(fake: FakeAdServer) -> None:
    ev = meta_event(action_source="physical_store", event_time=now() - 30 * 86400)
    del ev["event_source_url"]
    assert meta_post(fake, [ev])[0] == 200


def test_meta_event_time_in_milliseconds_is_far_future(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(event_time=now() * 1000), "event_time")


def test_meta_event_time_far_future(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(event_time=now() + 3600), "event_time")


def test_meta_event_time_small_clock_skew_is_allowed(fake: FakeAdServer) -> None:
    assert meta_post(fake, [meta_event(event_time=now() + 60)])[0] == 200


def test_meta_event_time_must_be_integer_seconds(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(event_time=str(now())), "event_time")


def test_meta_action_source_required(fake: FakeAdServer) -> None:
    ev = meta_event()
    del ev["action_source"]
    assert_meta_invalid(fake, ev, "action_source")


def test_meta_action_source_must_be_allowed_value(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(action_source="web"), "action_source")


def test_meta_website_requires_event_source_url(fake: FakeAdServer) -> None:
    ev = meta_event()
    del ev["event_source_url"]
    assert_meta_invalid(fake, ev, "event_source_url")


def test_meta_event_source_url_must_be_http(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(event_source_url="shop.example/x"), "event_source_url")


def test_meta_website_requires_client_user_agent(fake: FakeAdServer) -> None:
    ev = meta_event()
    del ev["user_data"]["client_user_agent"]
    assert_meta_invalid(fake, ev, "client_user_agent")


def test_meta_non_website_needs_neither_url_nor_user_agent(fake: FakeAdServer) -> None:
    ev = meta_event(action_source="system_generated", user_data={"em": EM})
    del ev["event_source_url"]
    assert meta_post(fake, [ev])[0] == 200


def test_meta_user_data_required(fake: FakeAdServer) -> None:
    ev = meta_event()
    del ev["user_data"]
    assert_meta_invalid(fake, ev, "user_data")


def test_meta_plain_email_rejected(fake: FakeAdServer) -> None:
    err = assert_meta_invalid(fake, with_user(em="alice@example.com"), "user_data.em")
    assert err["error_data"]["blame_field_specs"] == [["user_data", "em"]]


def test_meta_plain_phone_in_list_rejected(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(ph=[PH, "+1 650 555 1212"]), "user_data.ph[1]")


@pytest.mark.parametrize("key", ["fn", "ln", "db", "ge", "ct", "st", "zp", "country"])
def test_meta_every_hashed_key_rejects_plain_values(fake: FakeAdServer, key: str) -> None:
    assert_meta_invalid(fake, with_user(**{key: "plain"}), f"user_data.{key}")


def test_meta_external_id_must_be_hashed(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(external_id="user-42"), "user_data.external_id")


def test_meta_uppercase_hash_rejected(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(em=EM.upper()), "user_data.em")


def test_meta_hashed_keys_accept_string_or_list(fake: FakeAdServer) -> None:
    ev = with_user(em=EM, ph=[PH, sha("16505550000")], fn=sha("alice"), country=sha("us"))
    assert meta_post(fake, [ev])[0] == 200


def test_meta_unknown_user_data_key_rejected(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(email=EM), "user_data.email")


def test_meta_unknown_event_key_rejected(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(user={"em": EM}), "data[0].user")


def test_meta_fbc_bad_format(fake: FakeAdServer) -> None:
    err = assert_meta_invalid(fake, with_user(fbc="IwAR2abc"), "fbc", subcode=2804001)
    assert err["error_user_title"] == "Click ID Incorrectly Formatted"


def test_meta_fbc_creation_time_in_seconds_rejected(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(fbc=f"fb.1.{now()}.IwAR2abc"), "fbc", subcode=2804001)


def test_meta_fbc_valid_with_and_without_appendix(fake: FakeAdServer) -> None:
    ms = now() * 1000
    assert meta_post(fake, [with_user(fbc=f"fb.1.{ms}.IwAR2aBc_-9")])[0] == 200
    assert meta_post(fake, [with_user(fbc=f"fb.1.{ms}.IwAR2aBc.AbCdEf")])[0] == 200


def test_meta_fbp_bad_format(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(fbp="fb.1.123.456"), "fbp")


def test_meta_fbp_valid(fake: FakeAdServer) -> None:
    assert meta_post(fake, [with_user(fbp="fb.1.1596403881668.1116446470")])[0] == 200


def test_meta_client_ip_address_must_be_valid(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, with_user(client_ip_address="300.1.2.3"), "client_ip_address")


def test_meta_client_ip_address_ipv6_ok(fake: FakeAdServer) -> None:
    assert meta_post(fake, [with_user(client_ip_address="2001:db8::7")])[0] == 200


def test_meta_currency_must_be_three_letters(fake: FakeAdServer) -> None:
    ev = meta_event(custom_data={"value": 1.0, "currency": "EURO"})
    assert_meta_invalid(fake, ev, "custom_data.currency")


def test_meta_value_must_be_numeric(fake: FakeAdServer) -> None:
    ev = meta_event(custom_data={"value": "12.50", "currency": "EUR"})
    assert_meta_invalid(fake, ev, "custom_data.value")


def test_meta_purchase_requires_value(fake: FakeAdServer) -> None:
    ev = meta_event(event_name="Purchase", custom_data={"currency": "EUR"})
    assert_meta_invalid(fake, ev, "custom_data.value")


def test_meta_purchase_requires_currency(fake: FakeAdServer) -> None:
    ev = meta_event(event_name="Purchase", custom_data={"value": 10})
    assert_meta_invalid(fake, ev, "custom_data.currency")


def test_meta_purchase_with_value_and_lowercase_currency_ok(fake: FakeAdServer) -> None:
    ev = meta_event(
        event_name="Purchase",
        custom_data={
            "value": 129.9,
            "currency": "chf",
            "contents": [{"id": "sku-1", "quantity": 1, "item_price": 99.9}],
        },
    )
    assert meta_post(fake, [ev])[0] == 200


def test_meta_contents_need_id_and_quantity(fake: FakeAdServer) -> None:
    ev = meta_event(custom_data={"contents": [{"id": "sku-1"}]})
    assert_meta_invalid(fake, ev, "contents[0].quantity")


def test_meta_data_processing_options_only_ldu(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(data_processing_options=["CCPA"]), "data_processing")


def test_meta_data_processing_options_ldu_and_empty_ok(fake: FakeAdServer) -> None:
    ldu = meta_event(
        data_processing_options=["LDU"],
        data_processing_options_country=1,
        data_processing_options_state=1000,
    )
    assert meta_post(fake, [ldu, meta_event(data_processing_options=[])])[0] == 200


def test_meta_opt_out_must_be_boolean(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(opt_out="yes"), "opt_out")


def test_meta_event_id_must_be_string(fake: FakeAdServer) -> None:
    assert_meta_invalid(fake, meta_event(event_id=42), "event_id")


@pytest.mark.parametrize(
    "user",
    [
        {"fn": sha("alice"), "ge": sha("f")},
        {"ln": sha("smith"), "ge": sha("f")},
        {"db": sha("19970216"), "client_user_agent": "UA"},
        {
            "ct": sha("paris"),
            "country": sha("fr"),
            "st": sha("idf"),
            "zp": sha("75001"),
            "ge": sha("f"),
            "client_user_agent": "UA",
        },
        {"zp": sha("75001"), "client_user_agent": "UA"},
        {"client_user_agent": "UA"},
    ],
)
def test_meta_matching_baseline_rejects_weak_identifiers(
    fake: FakeAdServer, user: dict[str, str]
) -> None:
    # system_generated: no website-only requirements mask the baseline rule
    ev = meta_event(user_data=user, action_source="system_generated")
    del ev["event_source_url"]
    err = assert_meta_invalid(fake, ev, "user_data", subcode=2804050)
    assert "customer information" in err["error_user_msg"]


@pytest.mark.parametrize(
    "user",
    [
        {"em": EM, "client_user_agent": "UA"},
        {"client_ip_address": "203.0.113.9", "client_user_agent": "UA"},
        {"fbp": "fb.1.1596403881668.1116446470", "client_user_agent": "UA"},
        {"external_id": sha("user-42"), "client_user_agent": "UA"},
    ],
)
def test_meta_matching_baseline_accepts_strong_identifiers(
    fake: FakeAdServer, user: dict[str, str]
) -> None:
    assert meta_post(fake, [meta_event(user_data=user)])[0] == 200


def test_meta_one_invalid_event_rejects_the_whole_batch(fake: FakeAdServer) -> None:
    events = [meta_event(), meta_event(event_id="e2"), with_user(em="bob@example.com")]
    status, body, _ = meta_post(fake, events)
    assert status == 400
    assert "data[2].user_data.em" in body["error"]["error_user_msg"]
    assert fake.meta_events() == []
    assert fake.requests[0].events_accepted == 0


# =============================================================================================
# TikTok
# =============================================================================================


def test_tiktok_success_body_and_recording(fake: FakeAdServer) -> None:
    status, body, headers = tt_post(fake, [tt_event(), tt_event(event="Purchase", event_id="2")])
    assert status == 200
    assert set(body) == {"code", "message", "request_id", "data"}
    assert (body["code"], body["message"], body["data"]) == (0, "OK", {})
    assert REQUEST_ID_RE.match(body["request_id"])
    assert headers["Content-Type"].startswith("application/json")
    assert [e["event"] for e in fake.tiktok_events()] == ["ViewContent", "Purchase"]
    assert fake.tiktok_events(pixel_code=TT_PIXEL) == fake.tiktok_events()
    assert fake.tiktok_events(pixel_code="OTHER") == []
    (req,) = fake.requests
    assert req.platform == "tiktok" and req.path == "/open_api/v1.3/event/track/"
    assert req.headers["Access-Token"] == TT_TOKEN
    assert req.headers["content-type"] == "application/json"
    assert req.token_sources == ("header",) and not req.token_in_url
    assert req.pixel_id == TT_PIXEL and req.events_accepted == 2


def test_tiktok_test_event_code_recorded(fake: FakeAdServer) -> None:
    assert tt_post(fake, [tt_event()], test_event_code="TEST123")[1]["code"] == 0
    assert fake.tiktok_events(test_event_code="TEST123")


def test_tiktok_missing_token(fake: FakeAdServer) -> None:
    status, body, _ = tt_post(fake, [tt_event()], token=None)
    tt_error(status, body, 40105, "Access-Token")
    assert fake.tiktok_events() == []


def test_tiktok_wrong_token() -> None:
    with FakeAdServer(tiktok_tokens={TT_TOKEN}) as fake:
        status, body, _ = tt_post(fake, [tt_event()], token="nope")
        tt_error(status, body, 40105, "access token")
        assert tt_post(fake, [tt_event()])[1]["code"] == 0


def test_tiktok_token_in_query_is_not_accepted(fake: FakeAdServer) -> None:
    body = {"event_source": "web", "event_source_id": TT_PIXEL, "data": [tt_event()]}
    status, answer, _ = call(f"{fake.tiktok_url}?access_token={TT_TOKEN}", body)
    assert answer["code"] == 40105
    assert fake.requests[0].token_in_url


def test_tiktok_event_source_must_be_known(fake: FakeAdServer) -> None:
    status, body, _ = tt_post(fake, [tt_event()], event_source="website")
    tt_error(status, body, 40002, "event_source")


def test_tiktok_event_source_id_required(fake: FakeAdServer) -> None:
    status, body, _ = call(
        fake.tiktok_url,
        {"event_source": "web", "data": [tt_event()]},
        headers={"Access-Token": TT_TOKEN},
    )
    tt_error(status, body, 40002, "event_source_id")


def test_tiktok_data_must_not_be_empty(fake: FakeAdServer) -> None:
    status, body, _ = tt_post(fake, [])
    tt_error(status, body, 40002, "data")


def test_tiktok_more_than_1000_events_rejects_request(fake: FakeAdServer) -> None:
    status, body, _ = tt_post(fake, [tt_event(event_id=str(i)) for i in range(1001)])
    tt_error(status, body, 40002, "1000")
    assert fake.tiktok_events() == []


def test_tiktok_event_required(fake: FakeAdServer) -> None:
    ev = tt_event()
    del ev["event"]
    assert_tt_invalid(fake, ev, "data[0].event")


def test_tiktok_event_time_required(fake: FakeAdServer) -> None:
    ev = tt_event()
    del ev["event_time"]
    assert_tt_invalid(fake, ev, "event_time")


def test_tiktok_event_time_must_be_integer_seconds(fake: FakeAdServer) -> None:
    assert_tt_invalid(fake, tt_event(event_time="2026-01-01T00:00:00Z"), "event_time")


def test_tiktok_event_time_in_milliseconds_rejected(fake: FakeAdServer) -> None:
    assert_tt_invalid(fake, tt_event(event_time=now() * 1000), "event_time")


def test_tiktok_numeric_event_id_rejected_verbatim(fake: FakeAdServer) -> None:
    status, body, _ = tt_post(fake, [tt_event(event_id=12345)])
    assert status == 200
    assert body["code"] == 40002
    assert body["message"] == "Invalid value for event_id: not a valid string."


def test_tiktok_web_requires_page_url(fake: FakeAdServer) -> None:
    ev = tt_event()
    del ev["page"]
    assert_tt_invalid(fake, ev, "page.url")


def test_tiktok_offline_does_not_require_page(fake: FakeAdServer) -> None:
    ev = tt_event()
    del ev["page"]
    assert tt_post(fake, [ev], event_source="offline")[1]["code"] == 0


def test_tiktok_plain_email_rejected(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["user"]["email"] = "alice@example.com"
    assert_tt_invalid(fake, ev, "user.email")


def test_tiktok_plain_phone_in_list_rejected(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["user"]["phone"] = [sha("+16505551212"), "+16505551212"]
    assert_tt_invalid(fake, ev, "user.phone[1]")


def test_tiktok_external_id_must_be_hashed(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["user"]["external_id"] = "user_123"
    assert_tt_invalid(fake, ev, "user.external_id")


def test_tiktok_ip_must_be_valid(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["user"]["ip"] = "not-an-ip"
    assert_tt_invalid(fake, ev, "user.ip")


def test_tiktok_value_must_be_numeric(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["properties"]["value"] = "19.90"
    assert_tt_invalid(fake, ev, "properties.value")


def test_tiktok_currency_must_be_three_letters(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["properties"]["currency"] = "€"
    assert_tt_invalid(fake, ev, "properties.currency")


def test_tiktok_string_price_is_40000(fake: FakeAdServer) -> None:
    ev = tt_event()
    ev["properties"]["contents"][0]["price"] = "19.90"
    assert_tt_invalid(fake, ev, "Invalid Price Field", code=40000)


def test_tiktok_custom_and_case_variant_event_names_accepted(fake: FakeAdServer) -> None:
    events = [tt_event(event="Pageview"), tt_event(event="PageView"), tt_event(event="MyCustom")]
    assert tt_post(fake, events)[1]["code"] == 0
    assert [e["event"] for e in fake.tiktok_events()] == ["Pageview", "PageView", "MyCustom"]


def test_tiktok_invalid_json_is_400(fake: FakeAdServer) -> None:
    status, body, _ = call(
        fake.tiktok_url,
        raw=b"{not json",
        headers={"Content-Type": "application/json", "Access-Token": TT_TOKEN},
    )
    assert status == 400 and body["code"] == 40002


def test_tiktok_requires_json_content_type(fake: FakeAdServer) -> None:
    body = json.dumps({"event_source": "web", "event_source_id": TT_PIXEL, "data": [tt_event()]})
    status, answer, _ = call(
        fake.tiktok_url,
        raw=body.encode(),
        headers={"Content-Type": "text/plain", "Access-Token": TT_TOKEN},
    )
    tt_error(status, answer, 40002, "Content-Type")


def test_tiktok_wrong_method_is_405(fake: FakeAdServer) -> None:
    status, body, _ = call(fake.tiktok_url, method="GET", headers={"Access-Token": TT_TOKEN})
    assert status == 405 and body["code"] != 0


def test_tiktok_path_without_trailing_slash_is_404(fake: FakeAdServer) -> None:
    url = fake.tiktok_url.rstrip("/")
    status, body, _ = call(url, {"data": []}, headers={"Access-Token": TT_TOKEN})
    assert status == 404 and body["code"] != 0


# =============================================================================================
# Faults
# =============================================================================================


def test_fault_http_500_meta_then_recovers(fake: FakeAdServer) -> None:
    fake.inject("meta", "http_500")
    status, body, _ = meta_post(fake, [meta_event()])
    assert status == 500
    err = meta_error(body)
    assert err["code"] == 2 and err["is_transient"] is True
    assert fake.meta_events() == []
    assert fake.requests[0].fault == "http_500"
    assert fake.requests[0].body["data"][0]["event_id"] == "evt-1"
    assert meta_post(fake, [meta_event()])[0] == 200


def test_fault_http_503_tiktok(fake: FakeAdServer) -> None:
    fake.inject("tiktok", "http_503")
    status, body, _ = tt_post(fake, [tt_event()])
    assert status == 503
    assert 50000 <= body["code"] < 60000
    assert fake.tiktok_events() == []


def test_fault_rate_limit_meta(fake: FakeAdServer) -> None:
    fake.inject("meta", "rate_limit", retry_after=7)
    status, body, headers = meta_post(fake, [meta_event()])
    assert status == 429
    assert headers["Retry-After"] == "7"
    err = meta_error(body)
    assert err["code"] in (4, 17, 80004) and err["is_transient"] is True


def test_fault_rate_limit_tiktok_40100(fake: FakeAdServer) -> None:
    fake.inject("tiktok", "rate_limit", retry_after=2)
    status, body, headers = tt_post(fake, [tt_event()])
    assert status == 429 and headers["Retry-After"] == "2"
    assert body["code"] == 40100


def test_fault_meta_error_custom(fake: FakeAdServer) -> None:
    fake.inject("meta", "meta_error", code=190, subcode=463, status=400, message="Session expired")
    status, body, _ = meta_post(fake, [meta_event()])
    assert status == 400
    err = meta_error(body)
    assert (err["code"], err["error_subcode"], err["is_transient"]) == (190, 463, False)
    assert err["message"] == "Session expired"


def test_fault_tiktok_code(fake: FakeAdServer) -> None:
    fake.inject("tiktok", "tiktok_code", code=40001, message="No permission")
    status, body, _ = tt_post(fake, [tt_event()])
    assert (status, body["code"], body["message"]) == (200, 40001, "No permission")


def test_fault_delay_then_normal_answer(fake: FakeAdServer) -> None:
    fake.inject("meta", "delay", seconds=0.5)
    start = time.monotonic()
    status, _, _ = meta_post(fake, [meta_event()])
    assert time.monotonic() - start >= 0.45
    assert status == 200
    assert len(fake.meta_events()) == 1
    assert fake.requests[0].fault == "delay"


def test_fault_delay_longer_than_client_timeout(fake: FakeAdServer) -> None:
    fake.inject("tiktok", "delay", seconds=1.0)
    body = {"event_source": "web", "event_source_id": TT_PIXEL, "data": [tt_event()]}
    with pytest.raises((TimeoutError, urllib.error.URLError)):
        call(fake.tiktok_url, body, headers={"Access-Token": TT_TOKEN}, timeout=0.2)


def test_fault_drop_closes_without_answer(fake: FakeAdServer) -> None:
    fake.inject("meta", "drop")
    with pytest.raises((http.client.RemoteDisconnected, ConnectionError, urllib.error.URLError)):
        meta_post(fake, [meta_event()])
    (req,) = fake.requests
    assert (req.status, req.response, req.fault) == (0, None, "drop")
    assert fake.meta_events() == []
    assert meta_post(fake, [meta_event()])[0] == 200


def test_faults_are_fifo_and_counted(fake: FakeAdServer) -> None:
    fake.inject("meta", "http_503", times=2)
    fake.inject("meta", "rate_limit", retry_after=0)
    statuses = [meta_post(fake, [meta_event()])[0] for _ in range(4)]
    assert statuses == [503, 503, 429, 200]


def test_faults_are_per_platform(fake: FakeAdServer) -> None:
    fake.inject("meta", "http_500")
    assert tt_post(fake, [tt_event()])[1]["code"] == 0
    assert fake.pending_faults() == [("meta", "http_500")]
    assert meta_post(fake, [meta_event()])[0] == 500


def test_reset_clears_records_and_faults(fake: FakeAdServer) -> None:
    meta_post(fake, [meta_event()])
    fake.inject("tiktok", "http_500", times=3)
    fake.reset()
    assert fake.requests == [] and fake.meta_events() == [] and fake.pending_faults() == []
    assert tt_post(fake, [tt_event()])[1]["code"] == 0


def test_inject_rejects_unknown_fault_and_params(fake: FakeAdServer) -> None:
    with pytest.raises(ValueError):
        fake.inject("meta", "explode")
    with pytest.raises(ValueError):
        fake.inject("snapchat", "http_500")
    with pytest.raises(ValueError):
        fake.inject("meta", "delay", second=1)
    with pytest.raises(ValueError):
        fake.inject("tiktok", "meta_error", code=1)


def test_builtin_rate_limit_per_token() -> None:
    with FakeAdServer(rate_limit_per_minute=2) as fake:
        assert meta_post(fake, [meta_event()])[0] == 200
        assert meta_post(fake, [meta_event()])[0] == 200
        status, body, headers = meta_post(fake, [meta_event()])
        assert status == 429 and int(headers["Retry-After"]) >= 1
        assert meta_error(body)["is_transient"] is True
        assert meta_post(fake, [meta_event()], token="EAAB-another-token")[0] == 200
        tt_post(fake, [tt_event()])
        tt_post(fake, [tt_event()])
        status, body, headers = tt_post(fake, [tt_event()])
        assert status == 429 and body["code"] == 40100 and "Retry-After" in headers
        assert len(fake.meta_events()) == 3 and len(fake.tiktok_events()) == 2


# =============================================================================================
# Server properties
# =============================================================================================


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "example.com", "::"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError, match="loopback"):
        FakeAdServer(host=host)


def test_binds_loopback_only(fake: FakeAdServer) -> None:
    assert fake.base_url.startswith("http://127.0.0.1:")


def test_concurrent_requests_are_all_recorded(fake: FakeAdServer) -> None:
    errors: list[BaseException] = []

    def worker(i: int) -> None:
        try:
            if i % 2:
                assert meta_post(fake, [meta_event(event_id=f"m{i}")])[0] == 200
            else:
                assert tt_post(fake, [tt_event(event_id=f"t{i}")])[1]["code"] == 0
        except BaseException as exc:  # noqa: BLE001 - collected and re-raised below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(24)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert len(fake.requests) == 24
    assert len(fake.meta_events()) == 12 and len(fake.tiktok_events()) == 12


def test_log_lines_mask_tokens() -> None:
    lines: list[str] = []
    with FakeAdServer(log=lines.append) as fake:
        meta_post(fake, [meta_event()])
        call(
            f"{fake.base_url}/v25.0/{PIXEL}/events?access_token={TOKEN}",
            {"data": [meta_event()]},
        )
        tt_post(fake, [tt_event()])
    assert len(lines) == 3
    joined = "\n".join(lines)
    assert TOKEN not in joined and TT_TOKEN not in joined
    assert "meta" in lines[0] and "200" in lines[0] and "tiktok" in lines[2]


def test_repr_of_recorded_request_masks_tokens(fake: FakeAdServer) -> None:
    call(
        f"{fake.base_url}/v25.0/{PIXEL}/events?access_token={TOKEN}",
        {"data": [meta_event()]},
    )
    tt_post(fake, [tt_event()])
    text = repr(fake.requests) + repr(fake.requests[1].headers)
    assert TOKEN not in text and TT_TOKEN not in text


def test_keep_alive_connection_is_closed_when_the_fake_stops() -> None:
    fake = FakeAdServer().start()
    conn = http.client.HTTPConnection("127.0.0.1", fake.port, timeout=5)
    body = json.dumps({"data": [meta_event()], "access_token": TOKEN})
    headers = {"Content-Type": "application/json"}
    conn.request("POST", f"/v25.0/{PIXEL}/events", body=body, headers=headers)
    assert conn.getresponse().read() and fake.meta_events()
    fake.stop()
    with pytest.raises((http.client.HTTPException, ConnectionError)):
        conn.request("POST", f"/v25.0/{PIXEL}/events", body=body, headers=headers)
        conn.getresponse()
    conn.close()
    assert len(fake.requests) == 1
