"""The Pinterest Conversions API (v5 ``ad_accounts/{ad_account_id}/events``) for ``FakeAdServer``.

Behaviour follows ``docs/specs/pinterest_capi.md``; the schema is OAS 5.23's
``ConversionEvents`` (pinterest/api-description ``v5/openapi.json``):

* ``POST /v5/ad_accounts/{ad_account_id}/events[?test=true]``; ``ad_account_id`` matches
  ``^\\d+$`` and has at most 18 characters (else 400 code 4196); not in
  ``pinterest_ad_accounts`` (when given) -> 404. Another method -> 405 code 5.
* ``Authorization: Bearer <token>``: missing, another scheme, or not in ``pinterest_tokens``
  (when given) -> 401 code 2 "Authentication failed.". A token in the query string is recorded
  (``token_sources``) and not accepted.
* The schema (whole request refused, 400 ``{"code": 4196, "message": "Invalid request: ..."}``,
  the message in the words of a JSON-schema validator, as Pinterest answers, e.g.
  "Additional properties are not allowed ('category_name' was unexpected)", then where):
  ``additionalProperties: false`` on the body, each event, ``custom_data``, ``contents[]``,
  ``app_info`` and ``device_info``; ``data`` 1..1,000 events; ``event_name``,
  ``action_source``, ``event_time``, ``event_id`` and ``user_data`` required; every field's type
  (``event_time``, ``quantity``, ``num_items`` integers, not floats or booleans; ``value``,
  ``item_price``, ``predicted_ltv`` strings; hashed keys lists of strings; nullable fields may
  be null); ``user_data`` needs ``em``, ``hashed_maids`` or ``client_ip_address`` with
  ``client_user_agent``; the body must be JSON sent as ``application/json``.
* Rules the schema cannot express fail only their event: HTTP 200 and ``events[i]`` is
  ``{"status": "failed", "error_message": ...}`` (``num_events_processed`` counts the others,
  ``events[]`` in request order): an unknown ``event_name`` or ``action_source``; an
  ``event_time`` older than 7 days or more than ``future_skew`` ahead (convapi's rule, spec
  §6); a hashed value that is not 64 lowercase hex characters; ``value``/``item_price``/
  ``predicted_ltv`` that do not parse as a number; a ``currency`` that is not 3 letters; an
  invalid ``client_ip_address``. Unknown ``user_data`` keys (the schema allows them) and a
  ``language`` that is not two letters are processed with a ``warning_message``.
* ``?test=true``: the same answer; the request is recorded (``test_mode``), no event is
  accepted. ``test`` must be ``true`` or ``false``.
* Faults answer Pinterest's error body ``{"code", "message"}``: ``http_500`` (code 500),
  ``http_503`` (code 4197), ``rate_limit`` (429 code 8 + Retry-After), ``pinterest_error``
  (``code``, ``status``, ``message``, ``details`` for a 422 DetailedError, ``retry_after``).
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from typing import Any

from ._fake_server import (
    SHA256_RE,
    FakeAdServer,
    Incoming,
    RecordedRequest,
    _Answer,
    _is_int,
    _is_ip,
    _loads,
    mask_token,
)

NAME = "pinterest"
PATH_RE = re.compile(r"^/v5/ad_accounts/(?P<account>[^/]*)/events$")
AD_ACCOUNT_RE = re.compile(r"^\d+$")
AD_ACCOUNT_MAX_LEN = 18
MAX_EVENTS = 1000
SEVEN_DAYS = 7 * 24 * 3600

#: OAS 5.23 ``event_name`` list, plus ``contact`` and ``app_open`` from the developer page's
#: event table (spec §5: convapi sends ``contact`` for Contact).
EVENT_NAMES = frozenset(
    {
        "add_payment_info",
        "add_to_cart",
        "add_to_wishlist",
        "app_install",
        "checkout",
        "custom",
        "initiate_checkout",
        "lead",
        "page_visit",
        "search",
        "signup",
        "subscribe",
        "view_category",
        "view_content",
        "watch_video",
        "contact",
        "app_open",
    }
)
ACTION_SOURCES = ("app_android", "app_ios", "web", "offline")
HASHED_KEYS = (
    "em",
    "ph",
    "ge",
    "db",
    "ln",
    "fn",
    "ct",
    "st",
    "zp",
    "country",
    "external_id",
    "hashed_maids",
)
#: number strings as Pinterest parses them into a double (no spaces, no thousands separators)
NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")
CURRENCY_RE = re.compile(r"^[A-Za-z]{3}$")
LANGUAGE_RE = re.compile(r"^[A-Za-z]{2}$")

INVALID = 4196
RATE_LIMIT_MESSAGE = (
    "This request exceeded a rate limit. This can happen if the client exceeds one of the "
    "published rate limits within a short time window."
)
RAMPED_DOWN_MESSAGE = (
    "The endpoint has been ramped down and is currently not accepting any traffic."
)

# --------------------------------------------------------------------------------------------
# The schema (OAS 5.23, descriptions and examples left out)
# --------------------------------------------------------------------------------------------

_STR: dict[str, Any] = {"type": "string"}
_NSTR: dict[str, Any] = {"type": "string", "nullable": True}
_INT: dict[str, Any] = {"type": "integer"}
_NINT: dict[str, Any] = {"type": "integer", "nullable": True}
_BOOL: dict[str, Any] = {"type": "boolean"}
_STRINGS: dict[str, Any] = {"type": "array", "items": _STR}


def _str_max(n: int) -> dict[str, Any]:
    return {"type": "string", "maxLength": n}


def _int_range(lo: int, hi: int | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {"type": "integer", "minimum": lo}
    if hi is not None:
        out["maximum"] = hi
    return out


CONTENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "id": _STR,
        "item_brand": _STR,
        "item_category": _STR,
        "item_name": _STR,
        "item_price": _STR,
        "quantity": _INT,
    },
}
CUSTOM_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "content_brand": _NSTR,
        "content_category": _NSTR,
        "content_ids": _STRINGS,
        "content_name": _NSTR,
        "contents": {"type": "array", "items": CONTENT_SCHEMA},
        "currency": _NSTR,
        "external_measurement_id": _NSTR,
        "external_measurement_vendor_id": _NINT,
        "np": _NSTR,
        "num_items": _INT,
        "opt_out_type": _NSTR,
        "order_id": _NSTR,
        "predicted_ltv": _NSTR,
        "search_string": _NSTR,
        "value": _NSTR,
    },
}
APP_INFO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "app_id": _str_max(200),
        "app_name": _str_max(200),
        "app_package_name": _str_max(200),
        "app_store": _str_max(100),
        "app_version": _str_max(100),
        "install_time": _int_range(0),
        "user_agent": _str_max(16384),
        "window_height": _int_range(0, 30720),
        "window_width": _int_range(0, 30720),
    },
}
DEVICE_INFO_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "battery_level": _int_range(0, 100),
        "brand": _str_max(100),
        "carrier": _str_max(100),
        "cpu_cores": _int_range(0, 1152),
        "external_storage_free_space": _int_range(0, 1048576),
        "external_storage_size": _int_range(0, 1048576),
        "form_factor": {
            "type": "string",
            "enum": [
                "desktop",
                "laptop",
                "cellphone",
                "tablet",
                "smartwatch",
                "tv",
                "vr",
                "console",
                "other",
            ],
        },
        "kernel_version": _str_max(100),
        "languages": {"type": "array", "items": _STR, "maxItems": 100},
        "locale": _str_max(35),
        "model": _str_max(100),
        "network_type": {
            "type": "string",
            "enum": [
                "wifi",
                "cellular_2g",
                "cellular_3g",
                "cellular_4g",
                "cellular_5g",
                "cellular_6g",
                "ethernet",
                "unknown",
            ],
        },
        "os_family": {
            "type": "string",
            "enum": ["ios", "android", "macos", "windows", "linux", "bsd", "other"],
        },
        "os_name": _str_max(100),
        "os_release_name": _str_max(100),
        "os_version": _str_max(100),
        "screen_density": _int_range(0, 100000),
        "screen_height": _int_range(0, 30720),
        "screen_width": _int_range(0, 30720),
        "storage_free_space": _int_range(0, 1048576),
        "storage_size": _int_range(0, 1048576),
        "timezone": _str_max(40),
        "timezone_abbr": _str_max(5),
        "type": _str_max(100),
    },
}
USER_DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    # No additionalProperties: false here (OAS ``ConversionEventsUserDataProperties``).
    "properties": {
        **{key: _STRINGS for key in HASHED_KEYS},
        "client_ip_address": _STR,
        "client_user_agent": _STR,
        "click_id": _NSTR,
        "partner_id": _NSTR,
    },
    # anyOf: em / hashed_maids / client_ip_address + client_user_agent
    "any_of_required": (("em",), ("hashed_maids",), ("client_ip_address", "client_user_agent")),
}
EVENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["event_name", "action_source", "event_time", "user_data", "event_id"],
    "properties": {
        "action_source": _STR,
        "app_id": _NSTR,
        "app_info": APP_INFO_SCHEMA,
        "app_name": _NSTR,
        "app_version": _NSTR,
        "custom_data": CUSTOM_DATA_SCHEMA,
        "device_brand": _NSTR,
        "device_carrier": _NSTR,
        "device_info": DEVICE_INFO_SCHEMA,
        "device_model": _NSTR,
        "device_type": _NSTR,
        "event_id": _STR,
        "event_name": _STR,
        "event_source_url": _NSTR,
        "event_time": _INT,
        "language": _NSTR,
        "opt_out": _BOOL,
        "os_version": _NSTR,
        "partner_name": _NSTR,
        "user_data": USER_DATA_SCHEMA,
        "wifi": _BOOL,
    },
}
BODY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": ["data"],
    "properties": {
        "data": {
            "type": "array",
            "minItems": 1,
            "maxItems": MAX_EVENTS,
            "items": EVENT_SCHEMA,
        }
    },
}

_TYPES = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    # JSON Schema integers: not booleans; floats are refused too (convapi's strictness).
    "integer": _is_int,
    "boolean": lambda v: isinstance(v, bool),
}


class SchemaError(Exception):
    """The first schema violation: a JSON-schema validator's message and where."""

    def __init__(self, message: str, path: str) -> None:
        super().__init__(message)
        self.message = message
        self.path = path

    def text(self) -> str:
        where = f" at '{self.path}'" if self.path else ""
        return f"Invalid request: {self.message}{where}"


def _short(value: Any, limit: int = 80) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _join(path: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def check_schema(schema: Mapping[str, Any], value: Any, path: str = "") -> None:
    """Raise :class:`SchemaError` for the first violation of ``schema`` (a small subset of
    OpenAPI 3.0 JSON schema: the keywords the ConversionEvents schema uses)."""
    kind = schema["type"]
    if value is None:
        if schema.get("nullable"):
            return
        raise SchemaError(f"None is not of type {kind!r}", path)
    if not _TYPES[kind](value):
        raise SchemaError(f"{_short(value)} is not of type {kind!r}", path)
    if kind == "object":
        props: Mapping[str, Any] = schema.get("properties", {})
        if schema.get("additionalProperties") is False:
            extra = [key for key in value if key not in props]
            if extra:
                names = ", ".join(repr(key) for key in extra)
                verb = "was" if len(extra) == 1 else "were"
                raise SchemaError(
                    f"Additional properties are not allowed ({names} {verb} unexpected)", path
                )
        for key in schema.get("required", ()):
            if key not in value:
                raise SchemaError(f"{key!r} is a required property", path)
        for key, item in value.items():
            if key in props:
                check_schema(props[key], item, _join(path, key))
        alternatives = schema.get("any_of_required")
        if alternatives and not any(all(k in value for k in alt) for alt in alternatives):
            raise SchemaError(
                f"{_short(value)} is not valid under any of the given schemas (it needs em, "
                "hashed_maids, or client_ip_address with client_user_agent)",
                path,
            )
    elif kind == "array":
        if "minItems" in schema and len(value) < schema["minItems"]:
            raise SchemaError(f"{_short(value)} is too short", path)
        if "maxItems" in schema and len(value) > schema["maxItems"]:
            raise SchemaError(
                f"{_short(value, 40)} is too long ({len(value)} items, at most "
                f"{schema['maxItems']})",
                path,
            )
        for index, item in enumerate(value):
            check_schema(schema["items"], item, _join(path, index))
    elif kind == "string":
        if "maxLength" in schema and len(value) > schema["maxLength"]:
            raise SchemaError(f"{_short(value)} is too long", path)
        if "enum" in schema and value not in schema["enum"]:
            raise SchemaError(f"{value!r} is not one of {schema['enum']!r}", path)
    elif kind == "integer":
        if "minimum" in schema and value < schema["minimum"]:
            raise SchemaError(f"{value!r} is less than the minimum of {schema['minimum']!r}", path)
        if "maximum" in schema and value > schema["maximum"]:
            raise SchemaError(
                f"{value!r} is greater than the maximum of {schema['maximum']!r}", path
            )


# --------------------------------------------------------------------------------------------
# Per-event rules (HTTP 200, the event "failed")
# --------------------------------------------------------------------------------------------


def _is_number_string(value: str) -> bool:
    return bool(NUMBER_RE.match(value)) and math.isfinite(float(value))


def event_problems(
    event: Mapping[str, Any], index: int, now: float, future_skew: float
) -> tuple[list[str], list[str]]:
    """(errors, warnings) of one schema-valid event; any error fails the event."""
    base = f"data[{index}]"
    errors: list[str] = []
    warnings: list[str] = []
    name = event["event_name"]
    if name not in EVENT_NAMES:
        errors.append(
            f"{base}.event_name {name!r} is not a supported event name; use one of "
            f"{', '.join(sorted(EVENT_NAMES))} (custom events are sent as 'custom')."
        )
    source = event["action_source"]
    if source not in ACTION_SOURCES:
        errors.append(f"{base}.action_source {source!r} is not one of {', '.join(ACTION_SOURCES)}.")
    event_time = event["event_time"]
    if event_time < now - SEVEN_DAYS:
        errors.append(
            f"{base}.event_time {event_time} is more than 7 days in the past; only events that "
            "occurred within the previous seven days are accepted."
        )
    elif event_time > now + future_skew:
        errors.append(
            f"{base}.event_time {event_time} is {int(event_time - now)} s in the future; "
            "event_time is a Unix timestamp in seconds (not milliseconds)."
        )

    user_data = event["user_data"]
    for key, value in user_data.items():
        path = f"{base}.user_data.{key}"
        if key in HASHED_KEYS:
            for j, item in enumerate(value):
                if not SHA256_RE.match(item):
                    errors.append(
                        f"{path}[{j}] is not a SHA-256 hash (64 lowercase hex characters); "
                        "hash the normalised value before sending it."
                    )
                    break
        elif key == "client_ip_address":
            if not _is_ip(value):
                errors.append(f"{path} {value!r} is not a valid IPv4 or IPv6 address.")
        elif key not in USER_DATA_SCHEMA["properties"]:
            warnings.append(f"{path} is not a standard field and was ignored.")

    language = event.get("language")
    if isinstance(language, str) and not LANGUAGE_RE.match(language):
        warnings.append(
            f"{base}.language {language!r} is not a two-character ISO-639-1 code and was ignored."
        )

    custom = event.get("custom_data") or {}
    cd = f"{base}.custom_data"
    for key in ("value", "predicted_ltv"):
        value = custom.get(key)
        if isinstance(value, str) and not _is_number_string(value):
            errors.append(
                f"{cd}.{key} {value!r} cannot be parsed as a number; send a decimal string "
                'such as "72.39".'
            )
    currency = custom.get("currency")
    if isinstance(currency, str) and not CURRENCY_RE.match(currency):
        errors.append(f"{cd}.currency {currency!r} is not an ISO-4217 currency code.")
    for j, item in enumerate(custom.get("contents") or ()):
        price = item.get("item_price")
        if isinstance(price, str) and not _is_number_string(price):
            errors.append(
                f"{cd}.contents[{j}].item_price {price!r} cannot be parsed as a number; send a "
                'decimal string such as "14.99".'
            )
    return errors, warnings


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------


def error_answer(
    status: int, code: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> _Answer:
    return _Answer(status, {"code": code, "message": message, **extra}, dict(headers or {}))


def _token_sources(req: Incoming) -> tuple[str, ...]:
    sources = []
    auth = req.headers.get("Authorization")
    if isinstance(auth, str) and auth.strip():
        sources.append("bearer_header")
    if any(key == "access_token" for key, _ in req.query_pairs):
        sources.append("query")
    return tuple(sources)


def _bearer(req: Incoming) -> str | None:
    auth = req.headers.get("Authorization")
    if not isinstance(auth, str):
        return None
    scheme, _, cred = auth.strip().partition(" ")
    if scheme.lower() != "bearer" or not cred.strip():
        return None
    return cred.strip()


class PinterestPlatform:
    """The ``PLATFORM`` object (see ``_platforms.PlatformModule``)."""

    name = NAME
    dedup_key = "event_id"
    own_faults: Mapping[str, frozenset[str]] = {
        "pinterest_error": frozenset({"code", "status", "message", "details", "retry_after"})
    }

    # ---- routing -----------------------------------------------------------------------

    def route(self, path: str, query: str) -> str | None:
        match = PATH_RE.match(path)
        return None if match is None else match.group("account")

    def claims(self, path: str) -> bool:
        return path == "/v5" or path.startswith("/v5/")

    def not_found(self, path: str) -> _Answer:
        return error_answer(404, 404, "The requested resource could not be found on this server.")

    # ---- faults ------------------------------------------------------------------------

    def check_fault(self, fault: str, params: Mapping[str, Any]) -> None:
        if fault == "pinterest_error" and "code" not in params:
            raise ValueError("pinterest_error needs code=")

    def fault_answer(self, fault: str, params: Mapping[str, Any]) -> _Answer:
        p = params
        headers: dict[str, str] = {}
        if "retry_after" in p:
            headers["Retry-After"] = str(max(0, math.ceil(float(p["retry_after"]))))
        if fault == "http_500":
            return error_answer(
                500,
                int(p.get("code", 500)),
                p.get("message", "Internal server error. Please retry your request later."),
            )
        if fault == "http_503":
            return error_answer(
                503, int(p.get("code", 4197)), p.get("message", RAMPED_DOWN_MESSAGE)
            )
        if fault == "rate_limit":
            headers.setdefault("Retry-After", "1")
            return error_answer(
                int(p.get("status", 429)),
                int(p.get("code", 8)),
                p.get("message", RATE_LIMIT_MESSAGE),
                headers,
            )
        if fault == "pinterest_error":
            extra = {"details": p["details"]} if "details" in p else {}
            return error_answer(
                int(p.get("status", 400)),
                int(p["code"]),
                p.get("message", "Injected error"),
                headers,
                **extra,
            )
        raise AssertionError(fault)  # pragma: no cover

    # ---- requests ----------------------------------------------------------------------

    def parse_only(self, req: Incoming, rec: RecordedRequest) -> bool:
        """Record the body (its text when it is not JSON) and the credential sources; False
        when the body is not JSON."""
        rec.token_sources = _token_sources(req)
        try:
            rec.body = _loads(req.raw) if req.raw else None
        except (ValueError, UnicodeDecodeError):
            rec.body = req.raw.decode("utf-8", errors="replace")
            return False
        return True

    def handle(
        self,
        fake: FakeAdServer,
        req: Incoming,
        rec: RecordedRequest,
        accepted: list[dict[str, Any]],
        dropped: list[dict[str, Any]],
    ) -> _Answer:
        is_json = self.parse_only(req, rec)
        if req.method != "POST":
            return _Answer(
                405,
                {
                    "status": "failure",
                    "code": 5,
                    "data": "405 Method Not Allowed: The method is not allowed for the "
                    "requested URL.",
                    "message": "Method not allowed",
                    "endpoint_name": None,
                },
                {"Allow": "POST"},
            )

        token = _bearer(req)
        if token is None or (
            fake.pinterest_tokens is not None and token not in fake.pinterest_tokens
        ):
            return error_answer(401, 2, "Authentication failed.")

        account = rec.pixel_id or ""
        if not AD_ACCOUNT_RE.match(account):
            return error_answer(
                400,
                INVALID,
                SchemaError(
                    f"{account!r} does not match {AD_ACCOUNT_RE.pattern!r}", "ad_account_id"
                ).text(),
            )
        if len(account) > AD_ACCOUNT_MAX_LEN:
            return error_answer(
                400, INVALID, SchemaError(f"{account!r} is too long", "ad_account_id").text()
            )
        if fake.pinterest_ad_accounts is not None and account not in fake.pinterest_ad_accounts:
            return error_answer(404, 404, f"Ad account {account} not found.")

        wait = fake._rate_limited(NAME, token)
        if wait is not None:
            return error_answer(
                429, 8, RATE_LIMIT_MESSAGE, {"Retry-After": str(max(1, math.ceil(wait)))}
            )

        test = False
        for key, value in req.query_pairs:
            if key == "test":
                if value.lower() not in ("true", "false"):
                    return error_answer(
                        400,
                        INVALID,
                        SchemaError(f"{value!r} is not of type 'boolean'", "test").text(),
                    )
                test = value.lower() == "true"
        rec.test_mode = test

        ctype = (req.headers.get("Content-Type") or "").split(";", 1)[0].strip().lower()
        if ctype != "application/json":
            return error_answer(
                400,
                INVALID,
                f"Invalid request: the body must be sent as application/json, not "
                f"{ctype or 'no Content-Type'!r}.",
            )
        if not is_json:
            return error_answer(400, INVALID, "Invalid request: the body is not valid JSON.")
        try:
            check_schema(BODY_SCHEMA, rec.body)
        except SchemaError as problem:
            return error_answer(400, INVALID, problem.text())

        statuses = []
        now = fake.clock()
        for index, event in enumerate(rec.body["data"]):
            errors, warnings = event_problems(event, index, now, fake.future_skew)
            statuses.append(
                {
                    "status": "failed" if errors else "processed",
                    "error_message": "; ".join(errors) if errors else None,
                    "warning_message": "; ".join(warnings) if warnings else None,
                }
            )
            if test:
                continue
            if errors:
                dropped.append(
                    {
                        "scope": "event",
                        "event_index": index,
                        "event_name": event["event_name"],
                        "reason": errors[0],
                        "event": copy.deepcopy(event),
                    }
                )
            else:
                accepted.append(copy.deepcopy(event))
        processed = sum(1 for s in statuses if s["status"] == "processed")
        return _Answer(
            200,
            {
                "num_events_received": len(statuses),
                "num_events_processed": processed,
                "events": statuses,
            },
        )

    # ---- reporting ---------------------------------------------------------------------

    def log_credential(self, rec: RecordedRequest) -> str:
        auth = rec.headers.get("Authorization")
        token = auth.strip().partition(" ")[2].strip() if isinstance(auth, str) else None
        return mask_token(token or None)

    def count_key(self, event: Mapping[str, Any]) -> tuple[str, str]:
        return str(event.get("event_name")), str(event.get("event_id", ""))


PLATFORM = PinterestPlatform()
