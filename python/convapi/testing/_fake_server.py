"""A faithful local fake of the Meta Conversions API and the TikTok Events API 2.0.

Later platforms live in their own modules (``_pinterest``, ``_ga4``; the table is
``_platforms``); this module routes their requests to them and shares recording, faults, rate
limits, the schedule and logging.

Pure standard library, no import from ``convapi``: it must work without the native module.

Behaviour follows ``shared/specs/meta_capi.md`` and ``shared/specs/tiktok_eapi.md``:

* Meta: ``POST /v{N}.0/{pixel_id}/events`` on Graph.  The token travels as ``access_token``
  (query string, form field or JSON body member) or as ``Authorization: Bearer``; where it came
  from is recorded so tests can assert a sender never puts it in the URL.  Errors use the Graph
  error body ``{"error": {"message", "type", "code", "error_subcode", "is_transient",
  "error_user_title", "error_user_msg", "fbtrace_id"}}``.  One invalid event rejects the batch.
* TikTok: ``POST /open_api/v1.3/event/track/`` with the ``Access-Token`` header and a JSON body.
  Answers are HTTP 200 with ``{"code", "message", "request_id", "data"}``; ``code`` 0 = success.

Where the specs leave a detail open (for example the subcode of a "too far in the future"
event_time), the fake rejects what the specs call invalid and says so in ``error_user_msg``
without inventing a subcode.
"""

from __future__ import annotations

import copy
import ipaddress
import json
import math
import re
import secrets
import signal
import socket
import string
import sys
import threading
import time
from collections import Counter, deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timezone
from email.parser import BytesParser
from email.policy import HTTP as HTTP_POLICY
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, parse_qsl, urlsplit

from ._platforms import PLATFORMS, platform_module
from ._schedule import EventKey, FaultSchedule, RetryAfterClock, event_counts, request_timeline

__all__ = [
    "PLATFORMS",
    "AcceptedEvent",
    "Dropped",
    "FakeAdServer",
    "Headers",
    "Incoming",
    "RecordedRequest",
    "mask_token",
    "run_fake_server",
]

JSON = Any

# --------------------------------------------------------------------------------------------
# Constants from the specs
# --------------------------------------------------------------------------------------------

META_PATH_RE = re.compile(r"^/v(?P<major>\d+)\.(?P<minor>\d+)/(?P<pixel>[^/]+)/events/?$")
TIKTOK_PATH = "/open_api/v1.3/event/track/"

#: Graph API versions that exist and are not yet retired (spec §1 table), as of late 2026.
DEFAULT_META_API_VERSIONS = (22, 26)

META_MAX_EVENTS = 1000
TIKTOK_MAX_EVENTS = 1000
SEVEN_DAYS = 7 * 24 * 3600
SIXTY_TWO_DAYS = 62 * 24 * 3600

META_ACTION_SOURCES = frozenset(
    {
        "email",
        "website",
        "app",
        "phone_call",
        "chat",
        "physical_store",
        "system_generated",
        "business_messaging",
        "other",
    }
)
#: user_data keys that must carry SHA-256 hashes; each a string or a list of strings (CIP).
META_HASHED_KEYS = (
    "em",
    "ph",
    "fn",
    "ln",
    "db",
    "ge",
    "ct",
    "st",
    "zp",
    "country",
    "external_id",
)
#: Legacy hashed keys the SDK still supports (single values).
META_LEGACY_HASHED_KEYS = ("f5first", "f5last", "fi", "dobd", "dobm", "doby")
#: user_data keys that are sent raw (CIP).
META_RAW_KEYS = (
    "client_ip_address",
    "client_user_agent",
    "fbc",
    "fbp",
    "subscription_id",
    "fb_login_id",
    "lead_id",
    "anon_id",
    "madid",
    "page_id",
    "page_scoped_user_id",
    "ctwa_clid",
    "ig_account_id",
    "ig_sid",
)
META_USER_DATA_KEYS = frozenset(META_HASHED_KEYS + META_LEGACY_HASHED_KEYS + META_RAW_KEYS)
META_EVENT_KEYS = frozenset(
    {
        "event_name",
        "event_time",
        "event_id",
        "event_source_url",
        "referrer_url",
        "action_source",
        "user_data",
        "custom_data",
        "opt_out",
        "data_processing_options",
        "data_processing_options_country",
        "data_processing_options_state",
        "app_data",
        "original_event_data",
        "attribution_data",
        "messaging_channel",
        "customer_segmentation",
    }
)
#: Matching baseline (BP): customer information that is only one of these sets, or a subset of
#: one, makes the event invalid.
META_WEAK_COMBOS = (
    frozenset({"ct", "country", "st", "zp", "ge", "client_user_agent"}),
    frozenset({"db", "client_user_agent"}),
    frozenset({"fn", "ge"}),
    frozenset({"ln", "ge"}),
)
META_DPO_STATES = frozenset({0, *range(1000, 1014)})

#: fbc = fb.{subdomainIndex}.{creationTime ms}.{fbclid}[.{appendix}] (FBC; CIP caveat).
FBC_RE = re.compile(r"^fb\.[0-2]\.\d{13}\.[A-Za-z0-9_\-]+(\.[A-Za-z0-9_\-]+)?$")
#: fbp = fb.{subdomainIndex}.{creationTime ms}.{random}[.{appendix}]
FBP_RE = re.compile(r"^fb\.[0-2]\.\d{13}\.\d+(\.[A-Za-z0-9_\-]+)?$")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")

TIKTOK_EVENT_SOURCES = ("web", "app", "offline", "crm")
#: EAPI 2.0 web standard events plus the legacy names TikTok still converts (spec §2).
TIKTOK_STANDARD_EVENTS = frozenset(
    {
        "AddPaymentInfo",
        "AddToCart",
        "AddToWishlist",
        "ApplicationApproval",
        "CompleteRegistration",
        "Contact",
        "CustomizeProduct",
        "Download",
        "FindLocation",
        "InitiateCheckout",
        "Lead",
        "Purchase",
        "Schedule",
        "Search",
        "StartTrial",
        "SubmitApplication",
        "Subscribe",
        "ViewContent",
        "Pageview",
        "CompletePayment",
        "PlaceAnOrder",
        "ClickButton",
        "SubmitForm",
    }
)
TIKTOK_HASHED_USER_KEYS = ("email", "phone", "external_id")

_FBTRACE_ALPHABET = string.ascii_letters + string.digits + "-_"


# --------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------


def mask_token(token: str | None) -> str:
    """A loggable stand-in for a secret: never the whole value."""
    if token is None:
        return "<none>"
    if token == "":
        return "<empty>"
    if len(token) < 12:
        return f"***({len(token)} chars)"
    return f"{token[:4]}…({len(token)} chars)"


def _new_fbtrace_id() -> str:
    return "A" + "".join(secrets.choice(_FBTRACE_ALPHABET) for _ in range(22))


def _new_tiktok_request_id() -> str:
    stamp = datetime.now(timezone.utc).strftime("%Y%m%d%H%M%S")
    return stamp + secrets.token_hex(10).upper()


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _is_number(value: object) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return True
    return isinstance(value, float) and math.isfinite(value)


def _is_http_url(value: object) -> bool:
    if not isinstance(value, str) or value != value.strip() or not value:
        return False
    parts = urlsplit(value)
    return parts.scheme in ("http", "https") and bool(parts.netloc)


def _is_ip(value: object) -> bool:
    if not isinstance(value, str) or value != value.strip():
        return False
    try:
        ipaddress.ip_address(value)
    except ValueError:
        return False
    return True


def _tiktok_pixel_of(body: JSON) -> str | None:
    source_id = body.get("event_source_id") if isinstance(body, dict) else None
    return source_id if isinstance(source_id, str) else None


def _reject_constant(name: str) -> float:
    raise ValueError(f"invalid JSON constant {name}")


def _loads(text: str | bytes) -> JSON:
    """json.loads that refuses NaN/Infinity like a strict JSON parser."""
    return json.loads(text, parse_constant=_reject_constant)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


#: query parameters never shown: Meta's token (masked), GA4's api_secret and measurement_id (the
#: id travels beside the secret, and convapi shows neither)
_SECRET_QUERY_KEYS = frozenset({"access_token", "api_secret", "measurement_id"})


def _mask_query(query: str) -> str:
    if not query:
        return ""
    out = []
    for key, value in parse_qsl(query, keep_blank_values=True):
        lowered = key.lower()
        if lowered == "access_token":
            value = mask_token(value)
        elif lowered in _SECRET_QUERY_KEYS or any(
            f"{k}=" in value.lower() for k in _SECRET_QUERY_KEYS
        ):
            value = "***"
        out.append(f"{key}={value}")
    return "?" + "&".join(out)


class Headers(dict[str, str]):
    """Request headers as received (original case), looked up case-insensitively.

    Its repr masks credentials so that assertion failures never print a token.
    """

    _SENSITIVE = frozenset({"access-token", "authorization"})

    def __init__(self, items: Iterable[tuple[str, str]] = ()) -> None:
        super().__init__()
        self._lower: dict[str, str] = {}
        for key, value in items:
            self[key] = value

    def __setitem__(self, key: str, value: str) -> None:
        existing = self._lower.get(key.lower())
        if existing is not None and existing != key:
            super().__delitem__(existing)
        self._lower[key.lower()] = key
        super().__setitem__(key, value)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(self._lower.get(key.lower(), key))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and key.lower() in self._lower

    def get(self, key: str, default: Any = None) -> Any:
        real = self._lower.get(key.lower())
        return default if real is None else super().__getitem__(real)

    def __repr__(self) -> str:
        shown = {k: (mask_token(v) if k.lower() in self._SENSITIVE else v) for k, v in self.items()}
        return f"Headers({shown!r})"


@dataclass(repr=False)
class RecordedRequest:
    """One request the fake received, and what it answered.

    ``status`` is 0 and ``response`` None when the connection was dropped on purpose.
    ``token_sources`` lists where a credential was found: ``"query"`` (the URL),
    ``"form_body"``, ``"json_body"``, ``"multipart_body"``, ``"bearer_header"`` (Meta) or
    ``"header"`` (TikTok ``Access-Token``); Pinterest ``"bearer_header"``; GA4 ``"query"``
    (its ``api_secret``, in the URL by the protocol's design; the repr masks it).
    """

    platform: str
    method: str
    path: str
    query: str
    headers: Headers
    body: JSON
    status: int
    response: JSON
    raw_body: bytes = b""
    token_sources: tuple[str, ...] = ()
    pixel_id: str | None = None
    api_version: str | None = None
    fault: str | None = None
    events_accepted: int = 0
    test_event_code: str | None = None
    received_at: float = 0.0
    response_headers: dict[str, str] = field(default_factory=dict)
    #: it came before a ``Retry-After`` the fake gave this platform and pixel was over
    early_retry: bool = False
    #: the schedule's phase when it arrived (None without a schedule)
    phase: str | None = None
    #: the client's TCP port (which process sent it, for the soak scenarios)
    client_port: int = 0
    #: a test request: Pinterest ``?test=true``, GA4's validation server (nothing accepted)
    test_mode: bool = False
    #: events the platform did not take (Pinterest "failed", GA4 dropped silently)
    events_dropped: int = 0

    @property
    def query_params(self) -> dict[str, list[str]]:
        return parse_qs(self.query, keep_blank_values=True)

    @property
    def token_in_url(self) -> bool:
        return "query" in self.token_sources

    @property
    def token_source(self) -> str | None:
        return self.token_sources[0] if self.token_sources else None

    @property
    def error_code(self) -> int | None:
        """Graph or Google ``error.code``, or TikTok / Pinterest non-zero ``code``; None on
        success or no answer."""
        if not isinstance(self.response, dict):
            return None
        if isinstance(self.response.get("error"), dict):
            code = self.response["error"].get("code")
            return code if isinstance(code, int) else None
        code = self.response.get("code")
        return code if isinstance(code, int) and code != 0 else None

    def __repr__(self) -> str:
        return (
            f"RecordedRequest(platform={self.platform!r}, method={self.method!r}, "
            f"path={self.path!r}, query={_mask_query(self.query)!r}, status={self.status}, "
            f"fault={self.fault!r}, token_sources={self.token_sources!r}, "
            f"events_accepted={self.events_accepted}, response={self.response!r})"
        )


@dataclass(frozen=True)
class AcceptedEvent:
    """An event the fake accepted, with where it went."""

    platform: str
    pixel_id: str
    event: dict[str, Any]
    test_event_code: str | None
    request_index: int
    received_at: float


@dataclass(frozen=True)
class Dropped:
    """Something a platform received and did not take, and why: Pinterest events answered
    ``"failed"``; what GA4 drops silently (``scope``: ``"request"``, ``"event"``,
    ``"user_data"``, ``"user_properties"``, or ``"timestamp_micros"`` for an event GA keeps
    but moves to 72 hours ago). ``events`` counts the events of a dropped request."""

    platform: str
    pixel_id: str
    scope: str
    reason: str
    request_index: int
    received_at: float
    validation_code: str | None = None
    field_path: str | None = None
    event_index: int | None = None
    event_name: str | None = None
    event: dict[str, Any] | None = None
    events: int = 0


@dataclass
class Incoming:
    """One request as a platform module sees it."""

    method: str
    path: str
    query: str
    headers: Headers
    raw: bytes
    received_at: float

    @property
    def query_pairs(self) -> list[tuple[str, str]]:
        return parse_qsl(self.query, keep_blank_values=True)


@dataclass
class _Fault:
    kind: str
    params: dict[str, Any]


@dataclass
class _Answer:
    status: int
    body: JSON
    headers: dict[str, str] = field(default_factory=dict)


class _Problem(Exception):
    """A validation failure, carrying the final HTTP answer."""

    def __init__(self, answer: _Answer) -> None:
        super().__init__(str(answer.body))
        self.answer = answer


# --------------------------------------------------------------------------------------------
# Answer builders
# --------------------------------------------------------------------------------------------


def _graph_error(
    status: int,
    message: str,
    code: int,
    *,
    subcode: int | None = None,
    is_transient: bool | None = None,
    user_title: str | None = None,
    user_msg: str | None = None,
    error_type: str = "OAuthException",
    blame: list[list[str]] | None = None,
    headers: dict[str, str] | None = None,
) -> _Answer:
    trace = _new_fbtrace_id()
    err: dict[str, Any] = {"message": message, "type": error_type, "code": code}
    if subcode is not None:
        err["error_subcode"] = subcode
    if is_transient is not None:
        err["is_transient"] = is_transient
    if user_title is not None:
        err["error_user_title"] = user_title
    if user_msg is not None:
        err["error_user_msg"] = user_msg
    if blame:
        err["error_data"] = {"blame_field_specs": blame}
    err["fbtrace_id"] = trace
    hdrs = {"x-fb-trace-id": trace}
    if headers:
        hdrs.update(headers)
    return _Answer(status, {"error": err}, hdrs)


def _capi_invalid(
    field_path: str,
    user_msg: str,
    *,
    subcode: int | None = None,
    user_title: str = "Invalid Parameter",
) -> _Problem:
    """The shape Graph uses for a rejected CAPI event: message "Invalid parameter", code 100."""
    parts = [p for p in re.split(r"[.\[\]]+", field_path) if p and not p.isdigit()]
    blame = [parts[1:] if parts[:1] == ["data"] and len(parts) > 1 else parts]
    return _Problem(
        _graph_error(
            400,
            "Invalid parameter",
            100,
            subcode=subcode,
            is_transient=False,
            user_title=user_title,
            user_msg=user_msg,
            blame=blame,
        )
    )


def _graph_param_error(message: str) -> _Problem:
    return _Problem(_graph_error(400, f"(#100) {message}", 100, is_transient=False))


def _tiktok_body(code: int, message: str) -> dict[str, Any]:
    return {"code": code, "message": message, "request_id": _new_tiktok_request_id(), "data": {}}


def _tiktok_answer(code: int, message: str, status: int = 200, **headers: str) -> _Answer:
    body = _tiktok_body(code, message)
    hdrs = {"X-Tt-Logid": body["request_id"]}
    hdrs.update(headers)
    return _Answer(status, body, hdrs)


def _tiktok_invalid(field_path: str, reason: str, code: int = 40002) -> _Problem:
    return _Problem(_tiktok_answer(code, f"Invalid value for {field_path}: {reason}"))


def _tiktok_missing(field_path: str) -> _Problem:
    return _Problem(_tiktok_answer(40002, f"{field_path}: Missing data for required field."))


# --------------------------------------------------------------------------------------------
# Meta validation
# --------------------------------------------------------------------------------------------


@dataclass
class _MetaRequest:
    params: dict[str, Any]
    token_sources: list[str]
    tokens: list[str]


def _meta_parse_body(
    raw: bytes, content_type: str, query: str, headers: Headers
) -> tuple[_MetaRequest, JSON]:
    """Merge query, body and header credentials the way Graph reads parameters.

    Returns the merged parameters and the parsed body to record.
    """
    sources: list[str] = []
    tokens: list[str] = []
    params: dict[str, Any] = {}
    for key, value in parse_qsl(query, keep_blank_values=True):
        params[key] = value
        if key == "access_token":
            sources.append("query")
            tokens.append(value)

    auth = headers.get("Authorization")
    if isinstance(auth, str):
        scheme, _, cred = auth.strip().partition(" ")
        if scheme.lower() in ("bearer", "oauth") and cred.strip():
            sources.append("bearer_header")
            tokens.append(cred.strip())

    ctype = content_type.split(";", 1)[0].strip().lower()
    body: JSON = None
    text = raw.decode("utf-8", errors="replace") if raw else ""
    if not raw:
        body = None
    elif ctype == "application/json" or (not ctype and text.lstrip().startswith("{")):
        try:
            body = _loads(raw)
        except ValueError as exc:
            raise _graph_param_error(f"Invalid JSON in request body: {exc}") from None
        if not isinstance(body, dict):
            raise _graph_param_error("The request body must be a JSON object")
        if "access_token" in body:
            sources.append("json_body")
            tokens.append(body["access_token"] if isinstance(body["access_token"], str) else "")
        params.update(body)
    elif ctype == "multipart/form-data":
        msg = BytesParser(policy=HTTP_POLICY).parsebytes(
            b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + raw
        )
        form: dict[str, Any] = {}
        if msg.is_multipart():
            for part in msg.iter_parts():
                name = part.get_param("name", header="content-disposition")
                if not isinstance(name, str):
                    continue
                payload = part.get_payload(decode=True)
                value = (
                    payload.decode("utf-8", errors="replace") if isinstance(payload, bytes) else ""
                )
                form[name] = value
        if "access_token" in form:
            sources.append("multipart_body")
            tokens.append(form["access_token"])
        body = form
        params.update(form)
    else:  # form-encoded (also the default for a non-JSON body without Content-Type)
        form_pairs = parse_qsl(text, keep_blank_values=True)
        form = dict(form_pairs)
        if "access_token" in form:
            sources.append("form_body")
            tokens.append(form["access_token"])
        body = form
        params.update(form)
    params.pop("access_token", None)
    return _MetaRequest(params, sources, tokens), body


def _meta_decode_data(params: Mapping[str, Any]) -> list[Any]:
    if "data" not in params:
        raise _graph_param_error("The parameter data is required")
    data = params["data"]
    if isinstance(data, str):
        try:
            data = _loads(data)
        except ValueError:
            raise _graph_param_error("param data must be an array.") from None
    if not isinstance(data, list):
        raise _graph_param_error("param data must be an array.")
    if not data:
        raise _graph_param_error("param data must be a non-empty array.")
    if len(data) > META_MAX_EVENTS:
        raise _graph_param_error(
            f"param data must be an array with at most {META_MAX_EVENTS} elements "
            f"(got {len(data)})."
        )
    return data


def _check_hashed(path: str, value: Any, *, allow_list: bool = True) -> None:
    values = value if (allow_list and isinstance(value, list)) else [value]
    for i, item in enumerate(values):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        if not isinstance(item, str):
            raise _capi_invalid(
                where, f"{where} must be a string (a SHA-256 hash), got {type(item).__name__}."
            )
        if not SHA256_RE.match(item):
            raise _capi_invalid(
                where,
                f"{where} must be hashed: a SHA-256 hash of the normalised value, 64 lowercase "
                "hex characters. Unhashed customer information is not accepted.",
                user_title="Unhashed Customer Information",
            )


def _meta_identifiers(user_data: Mapping[str, Any]) -> set[str]:
    present = set()
    for key, value in user_data.items():
        if value is None or value == "" or value == []:
            continue
        present.add(key)
    return present


def _validate_meta_event(
    raw_event: Any, idx: int, now: float, future_skew: float
) -> dict[str, Any]:
    base = f"data[{idx}]"
    event = raw_event
    if isinstance(raw_event, str):  # list<JSON-encoded string>, as the SDK sends it
        try:
            event = _loads(raw_event)
        except ValueError:
            raise _capi_invalid(base, f"{base} is not valid JSON.") from None
    if not isinstance(event, dict):
        raise _capi_invalid(base, f"{base} must be an event object.")

    unknown = sorted(k for k in event if k not in META_EVENT_KEYS)
    if unknown:
        raise _capi_invalid(
            f"{base}.{unknown[0]}", f"{base}.{unknown[0]} is not a valid event parameter."
        )

    name = event.get("event_name")
    if name is None:
        raise _capi_invalid(f"{base}.event_name", f"{base}.event_name is required.")
    if not isinstance(name, str) or not name.strip():
        raise _capi_invalid(f"{base}.event_name", f"{base}.event_name must be a non-empty string.")

    action_source = event.get("action_source")
    if action_source is None:
        raise _capi_invalid(f"{base}.action_source", f"{base}.action_source is required.")
    if action_source not in META_ACTION_SOURCES:
        raise _capi_invalid(
            f"{base}.action_source",
            f"{base}.action_source must be one of {', '.join(sorted(META_ACTION_SOURCES))}; "
            f"got {action_source!r}.",
        )

    event_time = event.get("event_time")
    if event_time is None:
        raise _capi_invalid(f"{base}.event_time", f"{base}.event_time is required.")
    if not _is_int(event_time):
        raise _capi_invalid(
            f"{base}.event_time",
            f"{base}.event_time must be an integer Unix timestamp in seconds.",
        )
    max_age = SIXTY_TWO_DAYS if action_source == "physical_store" else SEVEN_DAYS
    if event_time < now - max_age:
        raise _capi_invalid(
            f"{base}.event_time",
            "The timestamp for this event is too far in the past. Events need to be sent from "
            "your server within 7 days of when they occurred. Enter a timestamp that has "
            f"occurred within the last 7 days ({base}.event_time).",
            subcode=2804003,
            user_title="Event Timestamp Too Old",
        )
    if event_time > now + future_skew:
        raise _capi_invalid(
            f"{base}.event_time",
            f"{base}.event_time is in the future ({int(event_time - now)} s ahead). Send the "
            "time the event happened, in seconds (not milliseconds).",
            user_title="Event Timestamp Too Far In The Future",
        )

    if "event_id" in event and not isinstance(event["event_id"], str):
        raise _capi_invalid(f"{base}.event_id", f"{base}.event_id must be a string.")
    if "opt_out" in event and not isinstance(event["opt_out"], bool):
        raise _capi_invalid(f"{base}.opt_out", f"{base}.opt_out must be a boolean.")
    for key in ("event_source_url", "referrer_url"):
        if key in event and not _is_http_url(event[key]):
            raise _capi_invalid(
                f"{base}.{key}", f"{base}.{key} must be a URL starting with http:// or https://."
            )

    user_data = event.get("user_data")
    if user_data is None:
        raise _capi_invalid(f"{base}.user_data", f"{base}.user_data is required.")
    if not isinstance(user_data, dict):
        raise _capi_invalid(f"{base}.user_data", f"{base}.user_data must be an object.")

    if action_source == "website":
        if "event_source_url" not in event:
            raise _capi_invalid(
                f"{base}.event_source_url",
                f"{base}.event_source_url is required for website events.",
            )
        ua = user_data.get("client_user_agent")
        if not isinstance(ua, str) or not ua.strip():
            raise _capi_invalid(
                f"{base}.user_data.client_user_agent",
                f"{base}.user_data.client_user_agent is required for website events.",
            )

    ud = f"{base}.user_data"
    for key, value in user_data.items():
        path = f"{ud}.{key}"
        if key not in META_USER_DATA_KEYS:
            raise _capi_invalid(path, f"{path} is not a valid customer information parameter.")
        if key in META_HASHED_KEYS:
            _check_hashed(path, value)
        elif key in META_LEGACY_HASHED_KEYS:
            _check_hashed(path, value, allow_list=False)
        elif key == "client_ip_address":
            if not _is_ip(value):
                raise _capi_invalid(
                    path, f"{path} must be a valid IPv4 or IPv6 address; got {value!r}."
                )
        elif key == "fbc":
            if not isinstance(value, str) or not FBC_RE.match(value):
                raise _capi_invalid(
                    path,
                    f"{path} must look like fb.{{subdomainIndex}}.{{creationTime in ms}}."
                    f"{{fbclid}}; got {value!r}.",
                    subcode=2804001,
                    user_title="Click ID Incorrectly Formatted",
                )
        elif key == "fbp":
            if not isinstance(value, str) or not FBP_RE.match(value):
                raise _capi_invalid(
                    path,
                    f"{path} must look like fb.{{subdomainIndex}}.{{creationTime in ms}}."
                    f"{{random}}; got {value!r}.",
                    user_title="Browser ID Incorrectly Formatted",
                )
        elif key in ("fb_login_id", "lead_id"):
            if not _is_int(value) and not (isinstance(value, str) and value.isdigit()):
                raise _capi_invalid(path, f"{path} must be an integer.")
        elif not isinstance(value, str):
            raise _capi_invalid(path, f"{path} must be a string.")

    custom = event.get("custom_data")
    if custom is not None and not isinstance(custom, dict):
        raise _capi_invalid(f"{base}.custom_data", f"{base}.custom_data must be an object.")
    custom = custom or {}
    cd = f"{base}.custom_data"
    if "value" in custom and not _is_number(custom["value"]):
        raise _capi_invalid(f"{cd}.value", f"{cd}.value must be a number.")
    if "currency" in custom and not (
        isinstance(custom["currency"], str) and CURRENCY_RE.match(custom["currency"])
    ):
        raise _capi_invalid(
            f"{cd}.currency", f"{cd}.currency must be a 3-letter ISO 4217 currency code."
        )
    if name == "Purchase":
        for key in ("value", "currency"):
            if key not in custom:
                raise _capi_invalid(
                    f"{cd}.{key}",
                    f"{cd}.{key} is required for Purchase events (value and currency).",
                )
    if "content_ids" in custom:
        ids = custom["content_ids"]
        if not isinstance(ids, list) or not all(isinstance(i, str | int) for i in ids):
            raise _capi_invalid(f"{cd}.content_ids", f"{cd}.content_ids must be a list of strings.")
    if "contents" in custom:
        contents = custom["contents"]
        if not isinstance(contents, list):
            raise _capi_invalid(f"{cd}.contents", f"{cd}.contents must be a list of objects.")
        for j, item in enumerate(contents):
            cp = f"{cd}.contents[{j}]"
            if not isinstance(item, dict):
                raise _capi_invalid(cp, f"{cp} must be an object.")
            if "id" not in item or not isinstance(item["id"], str | int):
                raise _capi_invalid(f"{cp}.id", f"{cp}.id is required.")
            if "quantity" not in item or not _is_int(item["quantity"]):
                raise _capi_invalid(f"{cp}.quantity", f"{cp}.quantity is required (integer).")
            if "item_price" in item and not _is_number(item["item_price"]):
                raise _capi_invalid(f"{cp}.item_price", f"{cp}.item_price must be a number.")
    if "num_items" in custom and not _is_int(custom["num_items"]):
        raise _capi_invalid(f"{cd}.num_items", f"{cd}.num_items must be an integer.")
    if "content_type" in custom and custom["content_type"] not in ("product", "product_group"):
        raise _capi_invalid(
            f"{cd}.content_type", f"{cd}.content_type must be 'product' or 'product_group'."
        )

    if "data_processing_options" in event:
        dpo = event["data_processing_options"]
        if not isinstance(dpo, list) or any(opt != "LDU" for opt in dpo):
            raise _capi_invalid(
                f"{base}.data_processing_options",
                f'{base}.data_processing_options must be [] or ["LDU"]; got {dpo!r}.',
            )
    if "data_processing_options_country" in event and event[
        "data_processing_options_country"
    ] not in (0, 1):
        raise _capi_invalid(
            f"{base}.data_processing_options_country",
            f"{base}.data_processing_options_country must be 0 (geolocate) or 1 (US).",
        )
    if "data_processing_options_state" in event:
        state = event["data_processing_options_state"]
        if not _is_int(state) or state not in META_DPO_STATES:
            raise _capi_invalid(
                f"{base}.data_processing_options_state",
                f"{base}.data_processing_options_state must be 0 or a state code 1000-1013.",
            )

    present = _meta_identifiers(user_data)
    if any(present <= combo for combo in META_WEAK_COMBOS):
        listed = ", ".join(sorted(present)) or "none"
        raise _capi_invalid(
            ud,
            f"{ud} does not contain enough customer information to match the event "
            f"(only: {listed}). Add identifiers such as em, ph, external_id, fbc, fbp or "
            "client_ip_address with client_user_agent.",
            subcode=2804050,
            user_title="Not Enough Customer Information",
        )
    return event


# --------------------------------------------------------------------------------------------
# TikTok validation
# --------------------------------------------------------------------------------------------


def _check_tiktok_hashed(path: str, value: Any) -> None:
    values = value if isinstance(value, list) else [value]
    if isinstance(value, list) and not value:
        raise _tiktok_invalid(path, "must not be an empty list.")
    for i, item in enumerate(values):
        where = f"{path}[{i}]" if isinstance(value, list) else path
        if not isinstance(item, str):
            raise _tiktok_invalid(where, "not a valid string.")
        if not SHA256_RE.match(item):
            raise _tiktok_invalid(
                where, "not a valid SHA-256 hash (64 lowercase hex characters expected)."
            )


def _validate_tiktok_event(event: Any, idx: int, event_source: str) -> dict[str, Any]:
    base = f"data[{idx}]"
    if not isinstance(event, dict):
        raise _tiktok_invalid(base, "not a valid object.")
    name = event.get("event")
    if name is None:
        raise _tiktok_missing(f"{base}.event")
    if not isinstance(name, str) or not name.strip():
        raise _tiktok_invalid(f"{base}.event", "not a valid string.")
    if "event_time" not in event:
        raise _tiktok_missing(f"{base}.event_time")
    event_time = event["event_time"]
    if not _is_int(event_time) or event_time <= 0:
        raise _tiktok_invalid(f"{base}.event_time", "not a valid integer (Unix seconds).")
    if event_time >= 100_000_000_000:
        raise _tiktok_invalid(f"{base}.event_time", "must be in seconds, not milliseconds.")
    if "event_id" in event and not isinstance(event["event_id"], str):
        # Observed verbatim (stape-io/tiktok-tag#10): numbers are refused.
        raise _Problem(_tiktok_answer(40002, "Invalid value for event_id: not a valid string."))
    if "limited_data_use" in event and not isinstance(event["limited_data_use"], bool):
        raise _tiktok_invalid(f"{base}.limited_data_use", "not a valid boolean.")

    page = event.get("page")
    if page is not None and not isinstance(page, dict):
        raise _tiktok_invalid(f"{base}.page", "not a valid object.")
    if event_source == "web":
        if page is None or "url" not in page:
            raise _tiktok_missing(f"{base}.page.url")
    if page is not None:
        if "url" in page and not _is_http_url(page["url"]):
            raise _tiktok_invalid(f"{base}.page.url", "not a valid URL.")
        if (
            "referrer" in page
            and page["referrer"] not in ("", None)
            and not _is_http_url(page["referrer"])
        ):
            raise _tiktok_invalid(f"{base}.page.referrer", "not a valid URL.")

    user = event.get("user")
    if user is not None:
        if not isinstance(user, dict):
            raise _tiktok_invalid(f"{base}.user", "not a valid object.")
        for key in TIKTOK_HASHED_USER_KEYS:
            if key in user:
                _check_tiktok_hashed(f"{base}.user.{key}", user[key])
        if "ip" in user and not _is_ip(user["ip"]):
            raise _tiktok_invalid(f"{base}.user.ip", "not a valid IPv4 or IPv6 address.")
        for key in ("user_agent", "ttclid", "ttp", "locale"):
            if key in user and not isinstance(user[key], str):
                raise _tiktok_invalid(f"{base}.user.{key}", "not a valid string.")

    props = event.get("properties")
    if props is not None:
        if not isinstance(props, dict):
            raise _tiktok_invalid(f"{base}.properties", "not a valid object.")
        pp = f"{base}.properties"
        if "value" in props and not _is_number(props["value"]):
            raise _tiktok_invalid(f"{pp}.value", "not a valid number.")
        if "currency" in props and not (
            isinstance(props["currency"], str) and CURRENCY_RE.match(props["currency"])
        ):
            raise _tiktok_invalid(f"{pp}.currency", "not a valid ISO 4217 currency code.")
        if "content_ids" in props and not (
            isinstance(props["content_ids"], list)
            and all(isinstance(i, str) for i in props["content_ids"])
        ):
            raise _tiktok_invalid(f"{pp}.content_ids", "not a valid list of strings.")
        if "contents" in props:
            contents = props["contents"]
            if not isinstance(contents, list):
                raise _tiktok_invalid(f"{pp}.contents", "not a valid list.")
            for j, item in enumerate(contents):
                cp = f"{pp}.contents[{j}]"
                if not isinstance(item, dict):
                    raise _tiktok_invalid(cp, "not a valid object.")
                if "price" in item and not _is_number(item["price"]):
                    # Observed (mtebele/react-native-tiktok-business-sdk#30): code 40000.
                    raise _Problem(_tiktok_answer(40000, "Invalid Price Field"))
                if "quantity" in item and not _is_int(item["quantity"]):
                    raise _tiktok_invalid(f"{cp}.quantity", "not a valid integer.")
                if "content_id" in item and not isinstance(item["content_id"], str):
                    raise _tiktok_invalid(f"{cp}.content_id", "not a valid string.")
        if "num_items" in props and not _is_int(props["num_items"]):
            raise _tiktok_invalid(f"{pp}.num_items", "not a valid integer.")
    return event


# --------------------------------------------------------------------------------------------
# The server
# --------------------------------------------------------------------------------------------


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 128
    allow_reuse_address = True
    fake: FakeAdServer

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that hangs up (or a connection the fake drops) is not an error worth a
        # traceback; anything else is still reported.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _IPv6Server(_Server):
    address_family = socket.AF_INET6


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server_version = "convapi-fake/1"
    sys_version = ""
    server: _Server

    def setup(self) -> None:
        super().setup()
        # Headers and body leave in two writes; without TCP_NODELAY, Nagle plus the client's
        # delayed ACK stall every Python client ~40 ms per request (reqwest is not affected).
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.server.fake._track(self.connection, add=True)

    def finish(self) -> None:
        try:
            super().finish()
        finally:
            self.server.fake._track(self.connection, add=False)

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        return  # the fake logs one line per request itself

    def do_POST(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def do_GET(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def do_PUT(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def do_DELETE(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def do_PATCH(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.fake._handle(self)

    def read_body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                line = self.rfile.readline(65537)
                size = int(line.split(b";", 1)[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(65537) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(65537)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def answer(self, ans: _Answer) -> None:
        self.send_response(ans.status)
        if ans.body is None:  # an empty answer (GA4's 204 No Content)
            payload = b""
            if ans.status != 204:
                self.send_header("Content-Length", "0")
        else:
            payload = json.dumps(ans.body, separators=(",", ":")).encode("utf-8")
            ctype = "application/json; charset=UTF-8"
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
        for key, value in ans.headers.items():
            self.send_header(key, value)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(payload)
        self.wfile.flush()

    def drop(self) -> None:
        self.close_connection = True
        try:
            self.connection.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


class FakeAdServer:
    """A local, faithful fake of Meta CAPI, TikTok EAPI 2.0, the Pinterest Conversions API and
    the GA4 Measurement Protocol for tests and the demo.

    ``meta_tokens`` / ``tiktok_tokens`` / ``pinterest_tokens``: accepted tokens (None = any
    non-empty token).
    ``meta_pixels`` / ``tiktok_pixels`` / ``pinterest_ad_accounts``: known pixel / ad account
    ids (None = any; Meta and Pinterest ids must be numeric).
    ``ga4_secrets``: measurement_id -> api_secret (or a collection of them, or None for any);
    None = any ``G-`` measurement_id with any non-empty secret.
    ``rate_limit_per_minute``: per platform and token, answer 429 once exceeded (None = off).
    ``future_skew``: seconds an event_time may lie in the future (Meta and Pinterest reject
    beyond it; GA4 under ENFORCE_RECOMMENDATIONS).
    ``log``: a callable taking one line per request (tokens masked), or None.
    ``schedule``: a :class:`FaultSchedule` answering faults by time once started (faults queued
    with ``inject`` come first).
    """

    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        meta_tokens: Iterable[str] | None = None,
        tiktok_tokens: Iterable[str] | None = None,
        meta_pixels: Iterable[str] | None = None,
        tiktok_pixels: Iterable[str] | None = None,
        pinterest_tokens: Iterable[str] | None = None,
        pinterest_ad_accounts: Iterable[str] | None = None,
        ga4_secrets: Mapping[str, str | Iterable[str] | None] | None = None,
        rate_limit_per_minute: int | None = None,
        meta_api_versions: tuple[int, int] = DEFAULT_META_API_VERSIONS,
        future_skew: float = 300.0,
        clock: Callable[[], float] = time.time,
        log: Callable[[str], None] | None = None,
        schedule: FaultSchedule | None = None,
    ) -> None:
        if not _is_loopback(host):
            raise ValueError(
                f"FakeAdServer only binds to a loopback address (127.0.0.1, ::1, localhost); "
                f"refusing {host!r}"
            )
        if rate_limit_per_minute is not None and rate_limit_per_minute < 1:
            raise ValueError("rate_limit_per_minute must be None or >= 1")
        self.host = "127.0.0.1" if host == "localhost" else host
        self._requested_port = port
        self.meta_tokens = None if meta_tokens is None else frozenset(meta_tokens)
        self.tiktok_tokens = None if tiktok_tokens is None else frozenset(tiktok_tokens)
        self.meta_pixels = None if meta_pixels is None else frozenset(map(str, meta_pixels))
        self.tiktok_pixels = None if tiktok_pixels is None else frozenset(map(str, tiktok_pixels))
        self.pinterest_tokens = None if pinterest_tokens is None else frozenset(pinterest_tokens)
        self.pinterest_ad_accounts = (
            None if pinterest_ad_accounts is None else frozenset(map(str, pinterest_ad_accounts))
        )
        self.ga4_secrets: dict[str, frozenset[str] | None] | None = (
            None
            if ga4_secrets is None
            else {
                str(mid): (
                    None
                    if secret is None
                    else frozenset([secret] if isinstance(secret, str) else secret)
                )
                for mid, secret in ga4_secrets.items()
            }
        )
        self.rate_limit_per_minute = rate_limit_per_minute
        self.meta_api_versions = meta_api_versions
        self.future_skew = future_skew
        self.clock = clock
        self.log = log
        self._lock = threading.Lock()
        self._requests: list[RecordedRequest] = []
        self._accepted: list[AcceptedEvent] = []
        self._dropped: list[Dropped] = []
        self._faults: dict[str, deque[_Fault]] = {p: deque() for p in PLATFORMS}
        self._hits: dict[tuple[str, str], deque[float]] = {}
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()
        self._connections: set[socket.socket] = set()
        self.schedule: FaultSchedule | None = None
        self.set_schedule(schedule)
        self.retry_clock = RetryAfterClock()
        self._in_flight: dict[int, dict[str, Any]] = {}

    # ---- lifecycle -------------------------------------------------------------------------

    def start(self) -> FakeAdServer:
        if self._server is not None:
            return self
        server_cls = _IPv6Server if ":" in self.host else _Server
        server = server_cls((self.host, self._requested_port), _Handler)
        server.fake = self
        self._server = server
        self._stopping.clear()
        self._thread = threading.Thread(
            target=server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FakeAdServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        server, self._server = self._server, None
        if server is None:
            return
        self._stopping.set()
        server.shutdown()
        server.server_close()
        # Close kept-alive connections too: a stopped fake must not answer anything.
        with self._lock:
            connections = list(self._connections)
        for conn in connections:
            try:
                conn.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> FakeAdServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def port(self) -> int:
        if self._server is None:
            raise RuntimeError("FakeAdServer is not running; call start() first")
        return int(self._server.server_address[1])

    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def meta_url(self, pixel_id: str, api_version: str = "v25.0") -> str:
        return f"{self.base_url}/{api_version}/{pixel_id}/events"

    @property
    def tiktok_url(self) -> str:
        return f"{self.base_url}{TIKTOK_PATH}"

    def pinterest_url(self, ad_account_id: str, *, test: bool = False) -> str:
        url = f"{self.base_url}/v5/ad_accounts/{ad_account_id}/events"
        return f"{url}?test=true" if test else url

    def ga4_url(self) -> str:
        """``/mp/collect`` without its query (the sender adds measurement_id and api_secret)."""
        return f"{self.base_url}/mp/collect"

    def ga4_debug_url(self) -> str:
        """``/debug/mp/collect`` (the validation server) without its query."""
        return f"{self.base_url}/debug/mp/collect"

    # ---- inspection ------------------------------------------------------------------------

    @property
    def requests(self) -> list[RecordedRequest]:
        with self._lock:
            return list(self._requests)

    def requests_for(self, platform: str) -> list[RecordedRequest]:
        with self._lock:
            return [r for r in self._requests if r.platform == platform]

    def accepted_events(self, platform: str | None = None) -> list[AcceptedEvent]:
        with self._lock:
            return [a for a in self._accepted if platform is None or a.platform == platform]

    def meta_events(
        self, pixel_id: str | None = None, *, test_event_code: str | None = None
    ) -> list[dict[str, Any]]:
        """Accepted Meta events (``data[]`` items, decoded), in arrival order."""
        return self._events("meta", pixel_id, test_event_code)

    def tiktok_events(
        self, pixel_code: str | None = None, *, test_event_code: str | None = None
    ) -> list[dict[str, Any]]:
        """Accepted TikTok events (``data[]`` items), in arrival order."""
        return self._events("tiktok", pixel_code, test_event_code)

    def pinterest_events(self, ad_account_id: str | None = None) -> list[dict[str, Any]]:
        """Processed Pinterest events (``data[]`` items) of non-test requests, in arrival
        order."""
        return self._events("pinterest", ad_account_id, None)

    def ga4_events(self, measurement_id: str | None = None) -> list[dict[str, Any]]:
        """Events GA4 took, in arrival order: each ``events[]`` item with the request's fields
        (``client_id``, ``user_id``, ``user_data``, ``consent``, ``timestamp_micros`` where the
        event has none, ...) copied in, as GA attributes them; a timestamp GA moved is shown
        moved."""
        return self._events("ga4", measurement_id, None)

    def dropped(self, platform: str | None = None, pixel_id: str | None = None) -> list[Dropped]:
        """What platforms did not take, and why (see :class:`Dropped`), in arrival order."""
        with self._lock:
            return [
                d
                for d in self._dropped
                if (platform is None or d.platform == platform)
                and (pixel_id is None or d.pixel_id == str(pixel_id))
            ]

    def ga4_dropped(self, measurement_id: str | None = None) -> list[Dropped]:
        """What GA4 dropped silently (it answers 204 regardless), and why."""
        return self.dropped("ga4", measurement_id)

    def ga4_transaction_counts(self) -> Counter[tuple[str, str]]:
        """How many ``purchase`` events GA4 took per (measurement_id, transaction_id): GA has
        no event_id; it deduplicates purchases by transaction_id."""
        counts: Counter[tuple[str, str]] = Counter()
        for (platform, pixel, name, txn), n in self.event_counts().items():
            if platform == "ga4" and name == "purchase":
                counts[(pixel, txn)] += n
        return counts

    def _events(
        self, platform: str, pixel: str | None, test_event_code: str | None
    ) -> list[dict[str, Any]]:
        with self._lock:
            return [
                copy.deepcopy(a.event)
                for a in self._accepted
                if a.platform == platform
                and (pixel is None or a.pixel_id == str(pixel))
                and (test_event_code is None or a.test_event_code == test_event_code)
            ]

    def pending_faults(self, platform: str | None = None) -> list[tuple[str, str]]:
        with self._lock:
            platforms = PLATFORMS if platform is None else (platform,)
            return [(p, f.kind) for p in platforms for f in self._faults[p]]

    def reset(self) -> None:
        """Forget recorded requests and events, pending faults and rate-limit counters."""
        with self._lock:
            self._requests.clear()
            self._accepted.clear()
            self._dropped.clear()
            for queue in self._faults.values():
                queue.clear()
            self._hits.clear()
        self.retry_clock.reset()

    def set_schedule(self, schedule: FaultSchedule | None) -> None:
        """Answer faults by ``schedule`` from now on (once it is started); None: no schedule."""
        if schedule is not None:
            for phase in schedule.phases:
                if phase.fault is not None:
                    for platform in phase.platforms:
                        self._check_fault(platform, phase.fault, dict(phase.params))
        self.schedule = schedule

    def event_counts(self) -> Counter[EventKey]:
        """How many times each (platform, pixel, event name, event_id) was accepted. GA4 has
        no event_id: its fourth element is the ``transaction_id`` of a purchase ("" for other
        events; ``_platforms.dedup_key`` names the field per platform)."""
        return event_counts(self.accepted_events())

    def request_timeline(self, start: float, bucket: float = 60.0) -> list[dict[str, Any]]:
        """Requests per ``bucket`` seconds since ``start`` (this fake's clock), per platform:
        requests, 2xx answers, events accepted, early retries (see ``RetryAfterClock``)."""
        return request_timeline(self.requests, start=start, bucket=bucket)

    def in_flight(self) -> list[dict[str, Any]]:
        """Requests being handled now: ``platform``, ``client_port``, ``since`` (clock),
        ``bytes`` (body length announced)."""
        with self._lock:
            return [dict(v) for v in self._in_flight.values()]

    # ---- faults ----------------------------------------------------------------------------

    _FAULT_PARAMS: dict[str, frozenset[str]] = {
        "http_500": frozenset({"code", "message"}),
        "http_503": frozenset({"code", "message"}),
        "rate_limit": frozenset({"retry_after", "code", "subcode", "status", "message"}),
        "meta_error": frozenset(
            {
                "code",
                "subcode",
                "is_transient",
                "status",
                "message",
                "type",
                "user_title",
                "user_msg",
                "retry_after",
            }
        ),
        "tiktok_code": frozenset({"code", "message", "status"}),
        "delay": frozenset({"seconds"}),
        "hang": frozenset({"seconds"}),
        "drop": frozenset(),
    }

    def inject(self, platform: str, fault: str, times: int = 1, **params: Any) -> None:
        """Make the next ``times`` requests of ``platform`` fail (queued FIFO after earlier ones).

        Faults: ``http_500``, ``http_503``, ``rate_limit`` (429 + Retry-After; ``retry_after``),
        ``meta_error`` (``code``, ``subcode``, ``is_transient``, ``status``, ``message``),
        ``tiktok_code`` (``code``, ``message``), ``pinterest_error`` (``code``, ``status``,
        ``message``, ``details``, ``retry_after``), ``ga4_status`` (``status``, ``message``,
        ``retry_after``), ``delay`` (``seconds``, then a normal answer),
        ``hang`` (hold the request ``seconds``, then close it: nothing answered or accepted, a
        timeout for any client that waits less), ``drop`` (close the connection without an
        answer).
        """
        self._check_fault(platform, fault, params)
        if times < 1:
            raise ValueError("times must be >= 1")
        with self._lock:
            for _ in range(times):
                self._faults[platform].append(_Fault(fault, dict(params)))

    def _check_fault(self, platform: str, fault: str, params: Mapping[str, Any]) -> None:
        if platform not in PLATFORMS:
            raise ValueError(f"platform must be one of {PLATFORMS}, not {platform!r}")
        for other in PLATFORMS:
            module = platform_module(other)
            if module is None or fault not in module.own_faults:
                continue
            if other != platform:
                raise ValueError(f"{fault} applies to platform {other!r}")
            unknown = set(params) - module.own_faults[fault]
            if unknown:
                raise ValueError(f"unknown parameter(s) for {fault}: {sorted(unknown)}")
            module.check_fault(fault, params)
            return
        if fault not in self._FAULT_PARAMS:
            known = set(self._FAULT_PARAMS)
            for other in PLATFORMS:
                module = platform_module(other)
                known |= set(module.own_faults) if module is not None else set()
            raise ValueError(f"unknown fault {fault!r}; known: {sorted(known)}")
        if fault == "meta_error" and platform != "meta":
            raise ValueError("meta_error applies to platform 'meta'")
        if fault == "tiktok_code" and platform != "tiktok":
            raise ValueError("tiktok_code applies to platform 'tiktok'")
        unknown = set(params) - self._FAULT_PARAMS[fault]
        if unknown:
            raise ValueError(f"unknown parameter(s) for {fault}: {sorted(unknown)}")
        if fault == "meta_error" and "code" not in params:
            raise ValueError("meta_error needs code=")
        if fault == "tiktok_code" and "code" not in params:
            raise ValueError("tiktok_code needs code=")
        if fault in ("delay", "hang") and "seconds" not in params:
            raise ValueError(f"{fault} needs seconds=")

    def _next_fault(self, platform: str) -> _Fault | None:
        with self._lock:
            queue = self._faults.get(platform)
            if queue:
                return queue.popleft()
        scheduled = self.schedule.fault_for(platform) if self.schedule is not None else None
        return None if scheduled is None else _Fault(scheduled[0], scheduled[1])

    @staticmethod
    def _fault_answer(platform: str, fault: _Fault) -> _Answer:
        module = platform_module(platform)
        if module is not None:
            return module.fault_answer(fault.kind, fault.params)
        p = fault.params
        if fault.kind in ("http_500", "http_503"):
            status = 500 if fault.kind == "http_500" else 503
            if platform == "meta":
                return _graph_error(
                    status,
                    p.get(
                        "message",
                        "An unexpected error has occurred. Please retry your request later.",
                    ),
                    int(p.get("code", 2)),
                    is_transient=True,
                )
            return _tiktok_answer(
                int(p.get("code", 50000 if status == 500 else 50002)),
                p.get(
                    "message",
                    "Internal service error. Please retry later."
                    if status == 500
                    else "Service temporarily unavailable.",
                ),
                status,
            )
        if fault.kind == "rate_limit":
            retry_after = str(max(0, math.ceil(float(p.get("retry_after", 1)))))
            status = int(p.get("status", 429))
            if platform == "meta":
                return _graph_error(
                    status,
                    p.get(
                        "message",
                        "(#80004) There have been too many calls to this ad-account."
                        " Wait a bit and try again.",
                    ),
                    int(p.get("code", 80004)),
                    subcode=p.get("subcode", 2446079),
                    is_transient=True,
                    headers={"Retry-After": retry_after},
                )
            return _tiktok_answer(
                int(p.get("code", 40100)),
                p.get("message", "Too many requests. Please retry in some time."),
                status,
                **{"Retry-After": retry_after},
            )
        if fault.kind == "meta_error":
            headers = {}
            if "retry_after" in p:
                headers["Retry-After"] = str(max(0, math.ceil(float(p["retry_after"]))))
            return _graph_error(
                int(p.get("status", 400)),
                p.get("message", "Injected error"),
                int(p["code"]),
                subcode=p.get("subcode"),
                is_transient=bool(p.get("is_transient", False)),
                user_title=p.get("user_title"),
                user_msg=p.get("user_msg"),
                error_type=p.get("type", "OAuthException"),
                headers=headers,
            )
        if fault.kind == "tiktok_code":
            return _tiktok_answer(
                int(p["code"]), p.get("message", "Injected error"), int(p.get("status", 200))
            )
        raise AssertionError(fault.kind)  # pragma: no cover

    # ---- rate limit ------------------------------------------------------------------------

    def _rate_limited(self, platform: str, token: str) -> float | None:
        """Count the hit; return seconds to wait when over the per-minute budget."""
        limit = self.rate_limit_per_minute
        if limit is None:
            return None
        now = time.monotonic()
        with self._lock:
            hits = self._hits.setdefault((platform, token), deque())
            while hits and hits[0] <= now - 60.0:
                hits.popleft()
            if len(hits) >= limit:
                return max(0.0, hits[0] + 60.0 - now)
            hits.append(now)
            return None

    # ---- request handling ------------------------------------------------------------------

    def _track(self, conn: socket.socket, *, add: bool) -> None:
        with self._lock:
            if add:
                self._connections.add(conn)
            else:
                self._connections.discard(conn)

    def _handle(self, h: _Handler) -> None:
        if self._stopping.is_set():
            h.drop()
            return
        received_at = self.clock()
        split = urlsplit(h.path)
        path, query = split.path, split.query
        headers = Headers((k, v) for k, v in h.headers.items())
        try:
            raw = h.read_body()
        except (ValueError, OSError):
            raw = b""
        meta_match = META_PATH_RE.match(path)
        routed: str | None = None
        if meta_match:
            platform = "meta"
        elif path == TIKTOK_PATH or path.rstrip("/") == TIKTOK_PATH.rstrip("/"):
            platform = "tiktok"
        else:
            platform = "unknown"
            for name in PLATFORMS:
                module = platform_module(name)
                routed = None if module is None else module.route(path, query)
                if routed is not None:
                    platform = name
                    break
        rec = RecordedRequest(
            platform=platform,
            method=h.command,
            path=path,
            query=query,
            headers=headers,
            body=None,
            status=0,
            response=None,
            raw_body=raw,
            received_at=received_at,
            client_port=int(h.client_address[1]),
        )
        if meta_match:
            rec.pixel_id = meta_match.group("pixel")
            rec.api_version = f"v{meta_match.group('major')}.{meta_match.group('minor')}"
        if routed is not None:
            rec.pixel_id = routed
        if self.schedule is not None and self.schedule.started:
            rec.phase = self.schedule.label_at()
        flight = id(h)
        with self._lock:
            self._in_flight[flight] = {
                "platform": platform,
                "client_port": h.client_address[1],
                "since": received_at,
                "bytes": len(raw),
            }
        try:
            self._answer_request(h, platform, raw, query, headers, rec, received_at)
        finally:
            with self._lock:
                self._in_flight.pop(flight, None)

    def _answer_request(
        self,
        h: _Handler,
        platform: str,
        raw: bytes,
        query: str,
        headers: Headers,
        rec: RecordedRequest,
        received_at: float,
    ) -> None:
        accepted: list[dict[str, Any]] = []
        dropped: list[dict[str, Any]] = []
        module = platform_module(platform)
        incoming = Incoming(h.command, rec.path, query, headers, raw, received_at)
        fault = self._next_fault(platform) if platform in PLATFORMS else None
        answer: _Answer | None
        if fault is not None and fault.kind == "delay":
            rec.fault = "delay"
            self._stopping.wait(float(fault.params["seconds"]))
            fault = None
        if fault is not None:
            rec.fault = fault.kind
            # Still parse what was sent, so tests can inspect retried payloads.
            if module is not None:
                module.parse_only(incoming, rec)
            else:
                self._parse_only(platform, h, raw, query, headers, rec)
            if fault.kind == "hang":
                self._stopping.wait(float(fault.params["seconds"]))
            answer = None if fault.kind in ("drop", "hang") else self._fault_answer(platform, fault)
        elif platform == "meta":
            answer = self._handle_meta(h, raw, query, headers, rec, accepted)
        elif platform == "tiktok":
            answer = self._handle_tiktok(h, raw, headers, rec, accepted)
        elif module is not None:
            answer = module.handle(self, incoming, rec, accepted, dropped)
        else:
            answer = self._unknown_path(rec.path)

        if answer is not None:
            rec.status = answer.status
            rec.response = answer.body
            rec.response_headers = dict(answer.headers)
        if platform in PLATFORMS:
            key = (platform, str(rec.pixel_id or _tiktok_pixel_of(rec.body) or ""))
            rec.early_retry = self.retry_clock.check(key, received_at)
            if answer is not None:
                retry_after = next(
                    (v for k, v in answer.headers.items() if k.lower() == "retry-after"), None
                )
                self.retry_clock.note(key, self.clock(), retry_after)
        with self._lock:
            index = len(self._requests)
            self._requests.append(rec)
            if answer is not None and accepted:
                rec.events_accepted = len(accepted)
                for ev in accepted:
                    self._accepted.append(
                        AcceptedEvent(
                            platform=platform,
                            pixel_id=str(rec.pixel_id),
                            event=ev,
                            test_event_code=rec.test_event_code,
                            request_index=index,
                            received_at=received_at,
                        )
                    )
            if answer is not None:
                for item in dropped:
                    scope = item.get("scope")
                    rec.events_dropped += 1 if scope == "event" else item.get("events", 0)
                    self._dropped.append(
                        Dropped(
                            platform=platform,
                            pixel_id=str(rec.pixel_id or ""),
                            request_index=index,
                            received_at=received_at,
                            **item,
                        )
                    )
        self._log_request(rec)
        if answer is None:
            h.drop()
        else:
            try:
                h.answer(answer)
            except (BrokenPipeError, ConnectionResetError):
                h.close_connection = True

    def _parse_only(
        self,
        platform: str,
        h: _Handler,
        raw: bytes,
        query: str,
        headers: Headers,
        rec: RecordedRequest,
    ) -> None:
        try:
            if platform == "meta":
                parsed, body = _meta_parse_body(
                    raw, h.headers.get("Content-Type") or "", query, headers
                )
                rec.body = body
                rec.token_sources = tuple(parsed.token_sources)
            else:
                rec.body = _loads(raw) if raw else None
                rec.token_sources = self._tiktok_token_sources(query, headers)
        except (_Problem, ValueError):
            rec.body = raw.decode("utf-8", errors="replace")

    @staticmethod
    def _tiktok_token_sources(query: str, headers: Headers) -> tuple[str, ...]:
        sources = []
        if "Access-Token" in headers:
            sources.append("header")
        if any(k in ("access_token", "Access-Token") for k, _ in parse_qsl(query)):
            sources.append("query")
        return tuple(sources)

    def _unknown_path(self, path: str) -> _Answer:
        for name in PLATFORMS:
            module = platform_module(name)
            if module is not None and module.claims(path):
                return module.not_found(path)
        if path.startswith("/open_api/"):
            return _tiktok_answer(40400, f"Not found: {path}", 404)
        return _graph_error(404, f"Unknown path components: {path}", 2500, is_transient=False)

    def _handle_meta(
        self,
        h: _Handler,
        raw: bytes,
        query: str,
        headers: Headers,
        rec: RecordedRequest,
        accepted: list[dict[str, Any]],
    ) -> _Answer:
        try:
            parsed, body = _meta_parse_body(
                raw, h.headers.get("Content-Type") or "", query, headers
            )
        except _Problem as problem:
            rec.body = raw.decode("utf-8", errors="replace")
            # Graph still checks the token first when it can find one in the URL.
            return problem.answer
        rec.body = body
        rec.token_sources = tuple(parsed.token_sources)

        lo, hi = self.meta_api_versions
        assert rec.api_version is not None
        major = int(rec.api_version[1:].split(".")[0])
        if not rec.api_version.endswith(".0") or major > hi:
            return _graph_error(
                400, f"Unknown path components: /{rec.api_version}", 2500, is_transient=False
            )
        if major < lo:
            return _graph_error(
                400,
                f"(#2635) You are calling a deprecated version of the Ads API. Please update to "
                f"the latest version: v{hi}.0.",
                2635,
                is_transient=False,
            )
        if h.command != "POST":
            return _graph_error(
                405,
                f"Unsupported {h.command.lower()} request. The events edge only accepts POST.",
                100,
                is_transient=False,
                headers={"Allow": "POST"},
            )

        tokens = [t for t in parsed.tokens if t]
        if not tokens:
            return _graph_error(400, "An access token is required to request this resource.", 104)
        token = tokens[0]
        if any(t != token for t in tokens) or (
            self.meta_tokens is not None and token not in self.meta_tokens
        ):
            return _graph_error(
                401,
                "Invalid OAuth access token - Cannot parse access token",
                190,
                headers={"WWW-Authenticate": 'OAuth "Facebook Platform" "invalid_token"'},
            )

        pixel = rec.pixel_id or ""
        if not pixel.isdigit() or (self.meta_pixels is not None and pixel not in self.meta_pixels):
            return _graph_error(
                400,
                f"Unsupported post request. Object with ID '{pixel}' does not exist, cannot be "
                "loaded due to missing permissions, or does not support this operation. Please "
                "read the Graph API documentation at https://developers.facebook.com/docs/graph-api",
                100,
                subcode=33,
                is_transient=False,
            )

        wait = self._rate_limited("meta", token)
        if wait is not None:
            return _graph_error(
                429,
                "(#80004) There have been too many calls to this ad-account. Wait a bit and try "
                "again.",
                80004,
                subcode=2446079,
                is_transient=True,
                headers={"Retry-After": str(max(1, math.ceil(wait)))},
            )

        tec = parsed.params.get("test_event_code")
        if tec is not None and not (isinstance(tec, str) and tec.strip()):
            return _graph_param_error("param test_event_code must be a non-empty string.").answer
        rec.test_event_code = tec
        try:
            data = _meta_decode_data(parsed.params)
            now = self.clock()
            events = [
                _validate_meta_event(ev, i, now, self.future_skew) for i, ev in enumerate(data)
            ]
        except _Problem as problem:
            return problem.answer
        accepted.extend(copy.deepcopy(events))
        trace = _new_fbtrace_id()
        return _Answer(
            200,
            {"events_received": len(events), "messages": [], "fbtrace_id": trace},
            {"x-fb-trace-id": trace},
        )

    def _handle_tiktok(
        self,
        h: _Handler,
        raw: bytes,
        headers: Headers,
        rec: RecordedRequest,
        accepted: list[dict[str, Any]],
    ) -> _Answer:
        rec.token_sources = self._tiktok_token_sources(rec.query, headers)
        if rec.path != TIKTOK_PATH:
            return _tiktok_answer(40400, f"Not found: {rec.path}", 404)
        if h.command != "POST":
            return _tiktok_answer(
                40002, f"Method {h.command} not allowed; use POST.", 405, Allow="POST"
            )
        body: JSON = None
        if raw:
            try:
                body = _loads(raw)
            except (ValueError, UnicodeDecodeError) as exc:
                rec.body = raw.decode("utf-8", errors="replace")
                return _tiktok_answer(40002, f"Request body is not valid JSON: {exc}", 400)
        rec.body = body

        token = headers.get("Access-Token")
        if not token:
            return _tiktok_answer(
                40105,
                "Access token is null, you should set it in http header with key Access-Token.",
            )
        if self.tiktok_tokens is not None and token not in self.tiktok_tokens:
            return _tiktok_answer(40105, "The access token is invalid or has been revoked.")

        wait = self._rate_limited("tiktok", token)
        if wait is not None:
            return _tiktok_answer(
                40100,
                "Too many requests. Please retry in some time.",
                429,
                **{"Retry-After": str(max(1, math.ceil(wait)))},
            )

        ctype = (headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return _tiktok_answer(
                40002, f"Content-Type must be application/json, got {ctype or 'none'!r}."
            )
        if not isinstance(body, dict):
            return _tiktok_answer(40002, "Request body must be a JSON object.")
        try:
            events = self._validate_tiktok(body, rec)
        except _Problem as problem:
            return problem.answer
        accepted.extend(copy.deepcopy(events))
        return _tiktok_answer(0, "OK")

    def _validate_tiktok(self, body: dict[str, Any], rec: RecordedRequest) -> list[dict[str, Any]]:
        source = body.get("event_source")
        if source is None:
            raise _tiktok_missing("event_source")
        if source not in TIKTOK_EVENT_SOURCES:
            raise _Problem(
                _tiktok_answer(
                    40002, f"event_source: Must be one of: {', '.join(TIKTOK_EVENT_SOURCES)}."
                )
            )
        source_id = body.get("event_source_id")
        if source_id is None:
            raise _tiktok_missing("event_source_id")
        if not isinstance(source_id, str) or not source_id.strip():
            raise _tiktok_invalid("event_source_id", "not a valid string.")
        if self.tiktok_pixels is not None and source_id not in self.tiktok_pixels:
            raise _Problem(
                _tiktok_answer(40001, f"No permission to operate pixel code: {source_id}")
            )
        rec.pixel_id = source_id
        tec = body.get("test_event_code")
        if tec is not None and not isinstance(tec, str):
            raise _tiktok_invalid("test_event_code", "not a valid string.")
        rec.test_event_code = tec
        if "partner_name" in body and not isinstance(body["partner_name"], str):
            raise _tiktok_invalid("partner_name", "not a valid string.")
        data = body.get("data")
        if data is None:
            raise _tiktok_missing("data")
        if not isinstance(data, list):
            raise _tiktok_invalid("data", "not a valid list.")
        if not 1 <= len(data) <= TIKTOK_MAX_EVENTS:
            raise _Problem(
                _tiktok_answer(
                    40002,
                    f"data: Length must be between 1 and {TIKTOK_MAX_EVENTS} (got {len(data)}).",
                )
            )
        return [_validate_tiktok_event(ev, i, source) for i, ev in enumerate(data)]

    # ---- logging ---------------------------------------------------------------------------

    def _log_request(self, rec: RecordedRequest) -> None:
        if self.log is None:
            return
        token: str | None = None
        module = platform_module(rec.platform)
        if module is not None:
            credential = module.log_credential(rec)
        elif rec.platform == "tiktok":
            token = rec.headers.get("Access-Token")
        else:
            token = None
            for key, qvalue in parse_qsl(rec.query):
                if key == "access_token":
                    token = qvalue
            if token is None and isinstance(rec.body, dict):
                bvalue = rec.body.get("access_token")
                token = bvalue if isinstance(bvalue, str) else None
            auth = rec.headers.get("Authorization")
            if token is None and isinstance(auth, str) and " " in auth:
                token = auth.split(" ", 1)[1]
        if module is None:
            credential = mask_token(token)
        outcome = "dropped" if rec.status == 0 else str(rec.status)
        code = rec.error_code
        detail = f" code={code}" if code is not None else ""
        if rec.events_accepted:
            detail += f" accepted={rec.events_accepted}"
        if rec.events_dropped:
            detail += f" dropped_events={rec.events_dropped}"
        if rec.test_mode:
            detail += " [test]"
        if rec.fault:
            detail += f" fault={rec.fault}"
        if rec.platform == "meta" and rec.token_in_url:
            detail += " [token in URL]"
        stamp = datetime.fromtimestamp(rec.received_at, timezone.utc).strftime("%H:%M:%S")
        self.log(
            f"{stamp} {rec.platform:<7} {rec.method} {rec.path}{_mask_query(rec.query)} -> "
            f"{outcome}{detail} token={credential}"
        )


def _stderr_log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


def run_fake_server(
    host: str = "127.0.0.1",
    port: int = 8765,
    *,
    log: Callable[[str], None] | None = _stderr_log,
    **options: Any,
) -> None:
    """Serve the fake in the foreground until interrupted, logging one line per request."""
    fake = FakeAdServer(host, port, log=log, **options)
    fake.start()
    previous: Any = None
    if threading.current_thread() is threading.main_thread():
        # SIGTERM (e.g. from a process manager) stops as cleanly as Ctrl-C.
        previous = signal.signal(signal.SIGTERM, _raise_keyboard_interrupt)
    try:
        if log is not None:
            log(
                f"convapi fake ad API listening on {fake.base_url}\n"
                f"  Meta:   POST {fake.base_url}/v25.0/{{pixel_id}}/events"
                "   (access_token in the body)\n"
                f"  TikTok: POST {fake.tiktok_url}   (Access-Token header)\n"
                f"  Pinterest: POST {fake.base_url}/v5/ad_accounts/{{ad_account_id}}/events"
                "   (Authorization: Bearer)\n"
                f"  GA4:    POST {fake.ga4_url()}?measurement_id=G-...&api_secret=...   "
                f"(validation server: {fake.ga4_debug_url()})\n"
                "  Ctrl-C to stop."
            )
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        if log is not None:
            log("stopping")
    finally:
        fake.stop()
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


def _raise_keyboard_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt
