"""The GA4 Measurement Protocol (web streams) for ``FakeAdServer``.

Behaviour follows ``docs/specs/ga4_mp.md``:

* ``POST /mp/collect?measurement_id=G-...&api_secret=...`` answers **204 with an empty body**
  whenever the request reaches it, valid or not (spec §8): GA drops bad data silently. The
  fake records what GA would drop and why (``FakeAdServer.ga4_dropped()``: a whole request, one
  event, the request's ``user_data`` or ``user_properties``, or an event's timestamp) and the
  events it takes (``ga4_events()``: each event with the request's identity fields copied in).
  An unknown ``measurement_id`` or a wrong ``api_secret`` (``ga4_secrets``: measurement_id ->
  api_secret, a set of them, or None for any; None = any ``G-`` id and any non-empty secret) is
  also answered 204 and the whole request dropped, with the reason (never the secret).
* ``POST /debug/mp/collect``, the validation server: HTTP 200 ``{"validationMessages":
  [{"fieldPath", "description", "validationCode"}]}`` (``[]`` when valid). It does not check the
  measurement_id or the api_secret (spec §8) and records no event (``test_mode``).
* The rules (both endpoints; on ``/mp/collect`` each drops what it concerns):

  - the request: at most 130,000 bytes (exclusive); JSON whose fields are the protocol's
    (unknown fields and wrong types: "Unable to parse Measurement Protocol JSON payload.",
    without fieldPath); ``client_id`` required and two positive numbers joined by a period;
    ``user_id`` at most 256 characters; 1..25 ``events``;
  - each event: a ``name`` of at most 40 letters, digits and underscores starting with a
    letter (NAME_INVALID), not reserved (``session_start``, ``first_visit``..., app-only names,
    ``ga_``/``google_``/``firebase_`` prefixes: NAME_RESERVED); at most 25 ``params``; names of
    at most 40 characters of the same alphabet, not reserved (``firebase_conversion``, prefixes
    ``_``, ``firebase_``, ``ga_``, ``google_``, ``gtag.``); string values at most 100 characters
    (``page_title`` 300, ``page_referrer`` 420, ``page_location`` 1,000; ``session_id`` and
    ``session_number`` exempt); ``items`` a list of at most 200 objects, each with a non-empty
    ``item_id`` or ``item_name``, at most 10 custom item parameters; ``currency`` 3 uppercase
    letters, required when ``value`` is sent;
  - with ``validation_behavior: ENFORCE_RECOMMENDATIONS`` only: ``purchase`` needs a
    ``transaction_id``; ``value`` must be a number; the event's time (its ``timestamp_micros``,
    else the request's) within the last 72 hours (and at most ``future_skew`` ahead). Without it
    (RELAXED), GA keeps an older event and moves it to 72 hours ago (a "timestamp_micros"
    entry in ``ga4_dropped()``);
  - ``user_data``: at most 3 ``sha256_email_address``, 3 ``sha256_phone_number``, 2
    ``address``; hashed fields 64 hex characters; ``address.country`` 2 letters;
  - ``user_properties``: at most 25, names at most 24 characters and not reserved, string
    values at most 36 characters.

* Faults answer Google's JSON error body ``{"error": {"code", "message", "status"}}``:
  ``http_500``, ``http_503``, ``rate_limit`` (429 + Retry-After), ``ga4_status`` (``status``,
  ``message``, ``retry_after``: any HTTP status); ``delay``, ``drop`` and ``hang`` as everywhere.
* The ``api_secret`` travels in the URL by the protocol's design: log lines and reprs show
  ``api_secret=***``.
"""

from __future__ import annotations

import copy
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from ._fake_server import (
    FakeAdServer,
    Incoming,
    RecordedRequest,
    _Answer,
    _is_int,
    _is_number,
    _loads,
)

NAME = "ga4"
COLLECT_PATH = "/mp/collect"
DEBUG_PATH = "/debug/mp/collect"

MEASUREMENT_ID_RE = re.compile(r"^G-[A-Z0-9]+$")
CLIENT_ID_RE = re.compile(r"^(\d+)\.(\d+)$")
NAME_RE = re.compile(r"^[A-Za-z][A-Za-z0-9_]*$")
HEX64_RE = re.compile(r"^[0-9a-fA-F]{64}$")
CURRENCY_RE = re.compile(r"^[A-Z]{3}$")
NUMBER_RE = re.compile(r"^[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?$")

#: "must be smaller than 130kB" (spec §2); 130,000 bytes as Google's Event Builder counts.
MAX_BODY_BYTES = 130_000
MAX_EVENTS = 25
MAX_PARAMS = 25
MAX_NAME = 40
MAX_VALUE = 100
#: the exceptions of "Event collection limits" (support.google.com/analytics/answer/9267744)
VALUE_LIMITS = {"page_title": 300, "page_referrer": 420, "page_location": 1000}
VALUE_LIMIT_EXEMPT = frozenset({"session_id", "session_number"})
MAX_ITEMS = 200
MAX_CUSTOM_ITEM_PARAMS = 10
MAX_USER_ID = 256
MAX_USER_PROPERTIES = 25
MAX_USER_PROPERTY_NAME = 24
MAX_USER_PROPERTY_VALUE = 36
MAX_EMAILS = 3
MAX_PHONES = 3
MAX_ADDRESSES = 2
BACKDATE_SECONDS = 72 * 3600

RESERVED_EVENT_NAMES = frozenset(
    {
        "ad_activeview",
        "ad_click",
        "ad_exposure",
        "ad_query",
        "ad_reward",
        "adunit_exposure",
        "app_clear_data",
        "app_exception",
        "app_install",
        "app_remove",
        "app_store_refund",
        "app_update",
        "app_upgrade",
        "dynamic_link_app_open",
        "dynamic_link_app_update",
        "dynamic_link_first_open",
        "error",
        "firebase_campaign",
        "firebase_in_app_message_action",
        "firebase_in_app_message_dismiss",
        "firebase_in_app_message_impression",
        "first_open",
        "first_visit",
        "notification_dismiss",
        "notification_foreground",
        "notification_open",
        "notification_receive",
        "notification_send",
        "os_update",
        "session_start",
        "user_engagement",
        # allowed for app streams only; this fake serves web streams
        "ad_impression",
        "in_app_purchase",
        "screen_view",
    }
)
RESERVED_EVENT_PREFIXES = ("ga_", "google_", "firebase_")
RESERVED_PARAM_NAMES = frozenset({"firebase_conversion"})
RESERVED_PARAM_PREFIXES = ("_", "firebase_", "ga_", "google_", "gtag.")
RESERVED_USER_PROPERTY_NAMES = frozenset(
    {
        "first_open_time",
        "first_visit_time",
        "last_deep_link_referrer",
        "user_id",
        "first_open_after_install",
    }
)
RESERVED_USER_PROPERTY_PREFIXES = ("_", "firebase_", "ga_", "google_")
#: item parameters GA4 defines; any other item key is a custom item parameter
STANDARD_ITEM_PARAMS = frozenset(
    {
        "item_id",
        "item_name",
        "affiliation",
        "coupon",
        "discount",
        "index",
        "item_brand",
        "item_category",
        "item_category2",
        "item_category3",
        "item_category4",
        "item_category5",
        "item_list_id",
        "item_list_name",
        "item_variant",
        "location_id",
        "price",
        "quantity",
        "promotion_id",
        "promotion_name",
        "creative_name",
        "creative_slot",
    }
)

# --------------------------------------------------------------------------------------------
# The payload's fields (protobuf messages parsed from JSON: unknown fields refuse the request)
# --------------------------------------------------------------------------------------------

_S = ("string",)
_I = ("int64",)
_B = ("bool",)
_STRUCT = ("struct",)
_SCALAR = ("scalar",)


def _message(**fields: tuple[Any, ...]) -> tuple[Any, ...]:
    return ("message", fields)


def _enum(*values: str) -> tuple[Any, ...]:
    return ("enum", values)


def _repeated(kind: tuple[Any, ...], *, single_ok: bool = False) -> tuple[Any, ...]:
    return ("repeated", kind, single_ok)


def _map(kind: tuple[Any, ...]) -> tuple[Any, ...]:
    return ("map", kind)


ADDRESS = _message(
    sha256_first_name=_S,
    sha256_last_name=_S,
    sha256_street=_S,
    city=_S,
    region=_S,
    postal_code=_S,
    country=_S,
)
EVENT = _message(name=_S, params=_STRUCT, timestamp_micros=_I)
PAYLOAD = _message(
    client_id=_S,
    app_instance_id=_S,
    user_id=_S,
    timestamp_micros=_I,
    user_properties=_map(_message(value=_SCALAR, timestamp_micros=_I)),
    user_data=_message(
        sha256_email_address=_repeated(_S, single_ok=True),
        sha256_phone_number=_repeated(_S, single_ok=True),
        address=_repeated(ADDRESS, single_ok=True),
    ),
    consent=_message(
        ad_user_data=_enum("GRANTED", "DENIED"), ad_personalization=_enum("GRANTED", "DENIED")
    ),
    non_personalized_ads=_B,
    user_location=_message(
        city=_S, region_id=_S, country_id=_S, subcontinent_id=_S, continent_id=_S
    ),
    ip_override=_S,
    device=_message(
        category=_S,
        language=_S,
        screen_resolution=_S,
        operating_system=_S,
        operating_system_version=_S,
        model=_S,
        brand=_S,
        browser=_S,
        browser_version=_S,
    ),
    user_agent=_S,
    validation_behavior=_enum("RELAXED", "ENFORCE_RECOMMENDATIONS"),
    events=_repeated(EVENT),
)

PARSE_PREFIX = "Unable to parse Measurement Protocol JSON payload."


class ParseError(Exception):
    pass


def _parse_fail(parent: str, key: str, what: str) -> ParseError:
    """Google's wording: "(events[0]) names: Cannot find field." (a field ``names`` in
    ``events[0]``)."""
    if not key:
        where = parent
    else:
        where = f"({parent}) {key}" if parent else key
    return ParseError(f"{PARSE_PREFIX} {where}: {what}")


def _check_kind(kind: tuple[Any, ...], value: Any, parent: str, key: str) -> None:
    """Raise ParseError where ``value`` cannot be read as ``kind`` (null reads as unset)."""
    if value is None:
        return
    tag = kind[0]
    here = f"{parent}.{key}" if parent and key else (key or parent)
    if tag == "string":
        if not isinstance(value, str):
            raise _parse_fail(parent, key, "Expected a string.")
    elif tag == "int64":
        if not (_is_int(value) or (isinstance(value, str) and value.lstrip("-").isdigit())):
            raise _parse_fail(parent, key, "Expected an integer.")
    elif tag == "bool":
        if not isinstance(value, bool):
            raise _parse_fail(parent, key, "Expected a boolean.")
    elif tag == "scalar":
        if isinstance(value, (dict, list)):
            raise _parse_fail(parent, key, "Expected a string, number or boolean.")
    elif tag == "struct":
        if not isinstance(value, dict):
            raise _parse_fail(parent, key, "Expected an object.")
    elif tag == "enum":
        if value not in kind[1]:
            raise _parse_fail(parent, key, f"Invalid enum value: {value!r}.")
    elif tag == "message":
        if not isinstance(value, dict):
            raise _parse_fail(parent, key, "Expected an object.")
        fields: Mapping[str, tuple[Any, ...]] = kind[1]
        for name, item in value.items():
            if name not in fields:
                raise _parse_fail(here, name, "Cannot find field.")
            _check_kind(fields[name], item, here, name)
    elif tag == "repeated":
        items = value if isinstance(value, list) else None
        if items is None:
            if not kind[2]:
                raise _parse_fail(parent, key, "Expected an array.")
            items = [value]
        for index, item in enumerate(items):
            _check_kind(kind[1], item, f"{here}[{index}]", "")
    elif tag == "map":
        if not isinstance(value, dict):
            raise _parse_fail(parent, key, "Expected an object.")
        for name, item in value.items():
            _check_kind(kind[1], item, here, name)
    else:  # pragma: no cover
        raise AssertionError(tag)


# --------------------------------------------------------------------------------------------
# Validation
# --------------------------------------------------------------------------------------------


@dataclass
class Issue:
    """One problem. ``scope`` says what GA drops for it on /mp/collect: ``request``,
    ``event`` (``event_index``), ``user_data``, ``user_properties`` or ``timestamp_micros``
    (the event is kept, moved to 72 h ago). ``reported``: the validation server lists it."""

    code: str
    description: str
    field_path: str | None
    scope: str
    event_index: int | None = None
    reported: bool = True

    def message(self) -> dict[str, str]:
        out = {"fieldPath": self.field_path} if self.field_path is not None else {}
        out.update({"description": self.description, "validationCode": self.code})
        return out


def _as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def _reserved(name: str, names: frozenset[str], prefixes: tuple[str, ...]) -> bool:
    return name in names or name.startswith(prefixes)


def _name_problem(name: str, limit: int = MAX_NAME) -> str | None:
    if not name[:1].isalpha() or not name[:1].isascii():
        return "Names must start with an alphabetic character."
    if not NAME_RE.match(name):
        return "Names may only contain alphanumeric characters and underscores."
    if len(name) > limit:
        return f"Names must be {limit} characters or fewer."
    return None


def _micros(value: Any) -> int | None:
    if value is None:
        return None
    return int(value)


def _check_user_data(user_data: Mapping[str, Any], issues: list[Issue]) -> None:
    def add(code: str, path: str, text: str) -> None:
        issues.append(Issue(code, text, path, "user_data"))

    for key, limit, what in (
        ("sha256_email_address", MAX_EMAILS, "email addresses"),
        ("sha256_phone_number", MAX_PHONES, "phone numbers"),
    ):
        values = _as_list(user_data.get(key))
        path = f"user_data.{key}"
        if len(values) > limit:
            add(
                "EXCEEDED_MAX_ENTITIES",
                path,
                f"user_data has [{len(values)}] {what}; at most {limit} can be sent.",
            )
        for j, value in enumerate(values):
            if not HEX64_RE.match(value):
                add(
                    "VALUE_INVALID",
                    f"{path}[{j}]",
                    f"{path}[{j}] must be a SHA-256 hash encoded as 64 hex characters.",
                )
    addresses = _as_list(user_data.get("address"))
    if len(addresses) > MAX_ADDRESSES:
        add(
            "EXCEEDED_MAX_ENTITIES",
            "user_data.address",
            f"user_data has [{len(addresses)}] addresses; at most {MAX_ADDRESSES} can be sent.",
        )
    for j, address in enumerate(addresses):
        base = f"user_data.address[{j}]"
        for key in ("sha256_first_name", "sha256_last_name", "sha256_street"):
            value = address.get(key)
            if value is not None and not HEX64_RE.match(value):
                add(
                    "VALUE_INVALID",
                    f"{base}.{key}",
                    f"{base}.{key} must be a SHA-256 hash encoded as 64 hex characters.",
                )
        country = address.get("country")
        if country is not None and not re.match(r"^[A-Za-z]{2}$", country):
            add(
                "VALUE_INVALID",
                f"{base}.country",
                f"{base}.country [{country}] must be an ISO 3166-1 alpha-2 country code.",
            )


def _check_user_properties(props: Mapping[str, Any], issues: list[Issue]) -> None:
    def add(code: str, path: str, text: str) -> None:
        issues.append(Issue(code, text, path, "user_properties"))

    if len(props) > MAX_USER_PROPERTIES:
        add(
            "EXCEEDED_MAX_ENTITIES",
            "user_properties",
            f"Measurement has [{len(props)}] user properties; a maximum of "
            f"{MAX_USER_PROPERTIES} can be specified per request.",
        )
    for name, prop in props.items():
        path = f"user_properties.{name}"
        if _reserved(name, RESERVED_USER_PROPERTY_NAMES, RESERVED_USER_PROPERTY_PREFIXES):
            add("NAME_RESERVED", path, f"User property [{name}] has a reserved name.")
            continue
        problem = _name_problem(name, MAX_USER_PROPERTY_NAME)
        if problem:
            add("NAME_INVALID", path, f"User property has invalid name [{name}]. {problem}")
        value = (prop or {}).get("value")
        if isinstance(value, str) and len(value) > MAX_USER_PROPERTY_VALUE:
            add(
                "VALUE_OUT_OF_BOUNDS",
                f"{path}.value",
                f"User property [{name}] has a value of {len(value)} characters; at most "
                f"{MAX_USER_PROPERTY_VALUE} are allowed.",
            )


def _check_items(items: Any, i: int, issues: list[Issue]) -> None:
    base = f"events[{i}].params.items"

    def add(code: str, path: str, text: str) -> None:
        issues.append(Issue(code, text, path, "event", i))

    if not isinstance(items, list):
        add("VALUE_INVALID", base, f"Event at index: [{i}] has items that are not a list.")
        return
    if len(items) > MAX_ITEMS:
        add(
            "EXCEEDED_MAX_ENTITIES",
            base,
            f"Event at index: [{i}] has [{len(items)}] items; at most {MAX_ITEMS} are allowed.",
        )
    for j, item in enumerate(items):
        path = f"{base}[{j}]"
        if not isinstance(item, dict):
            add("VALUE_INVALID", path, f"Item at index: [{j}] of event [{i}] is not an object.")
            continue
        if not (item.get("item_id") or item.get("item_name")):
            add(
                "VALUE_REQUIRED",
                path,
                f"Item at index: [{j}] of event [{i}] must have one of the following keys: "
                "item_id or item_name.",
            )
        custom = [key for key in item if key not in STANDARD_ITEM_PARAMS]
        if len(custom) > MAX_CUSTOM_ITEM_PARAMS:
            add(
                "EXCEEDED_MAX_ENTITIES",
                path,
                f"Item at index: [{j}] of event [{i}] has [{len(custom)}] custom parameters; "
                f"at most {MAX_CUSTOM_ITEM_PARAMS} are allowed.",
            )
        for key, value in item.items():
            problem = _name_problem(key)
            if problem:
                add(
                    "NAME_INVALID",
                    f"{path}.{key}",
                    f"Item at index: [{j}] of event [{i}] has parameter with invalid name "
                    f"[{key}]. {problem}",
                )
            if isinstance(value, str) and len(value) > MAX_VALUE:
                add(
                    "VALUE_OUT_OF_BOUNDS",
                    f"{path}.{key}",
                    f"Item at index: [{j}] of event [{i}] has parameter [{key}] with a value of "
                    f"{len(value)} characters; at most {MAX_VALUE} are allowed.",
                )


def _check_event(
    event: Mapping[str, Any],
    i: int,
    request_micros: int | None,
    enforce: bool,
    now: float,
    future_skew: float,
    issues: list[Issue],
) -> None:
    def add(code: str, path: str, text: str, scope: str = "event", reported: bool = True) -> None:
        issues.append(Issue(code, text, path, scope, i, reported))

    name = event.get("name")
    if not name:
        add("VALUE_REQUIRED", "events", f"Event at index: [{i}] has no name.")
    elif _reserved(name, RESERVED_EVENT_NAMES, RESERVED_EVENT_PREFIXES):
        add("NAME_RESERVED", "events", f"Event at index: [{i}] has reserved name [{name}].")
    else:
        problem = _name_problem(name)
        if problem:
            add(
                "NAME_INVALID",
                "events",
                f"Event at index: [{i}] has invalid name [{name}]. {problem}",
            )

    params: Mapping[str, Any] = event.get("params") or {}
    pbase = f"events[{i}].params"
    if len(params) > MAX_PARAMS:
        add(
            "EXCEEDED_MAX_ENTITIES",
            pbase,
            f"Event at index: [{i}] has [{len(params)}] parameters; a maximum of {MAX_PARAMS} "
            "parameters can be specified per event.",
        )
    for key, value in params.items():
        path = f"{pbase}.{key}"
        if _reserved(key, RESERVED_PARAM_NAMES, RESERVED_PARAM_PREFIXES):
            add(
                "NAME_RESERVED",
                path,
                f"Event at index: [{i}] has parameter with reserved name [{key}].",
            )
            continue
        problem = _name_problem(key)
        if problem:
            add(
                "NAME_INVALID",
                path,
                f"Event at index: [{i}] has parameter with invalid name [{key}]. {problem}",
            )
        limit = VALUE_LIMITS.get(key, MAX_VALUE)
        if isinstance(value, str) and key not in VALUE_LIMIT_EXEMPT and len(value) > limit:
            add(
                "VALUE_OUT_OF_BOUNDS",
                path,
                f"Event at index: [{i}] has parameter [{key}] with a value of {len(value)} "
                f"characters; at most {limit} are allowed.",
            )
    if "items" in params:
        _check_items(params["items"], i, issues)

    currency = params.get("currency")
    if currency is not None and not (isinstance(currency, str) and CURRENCY_RE.match(currency)):
        add(
            "VALUE_INVALID",
            f"{pbase}.currency",
            f"Event at index: [{i}] has invalid currency [{currency}]. It must be a valid "
            "uppercase 3-letter ISO 4217 code.",
        )
    if "value" in params and currency is None:
        add(
            "VALUE_REQUIRED",
            f"{pbase}.currency",
            f"Event at index: [{i}] has a value but no currency; currency is required when "
            "value is set.",
        )
    if enforce:
        value = params.get("value")
        if value is not None and not (
            _is_number(value) or (isinstance(value, str) and NUMBER_RE.match(value))
        ):
            add(
                "VALUE_INVALID",
                f"{pbase}.value",
                f"Event at index: [{i}] has invalid value [{value}]. It must be a number.",
            )
        if name == "purchase" and not params.get("transaction_id"):
            add(
                "VALUE_REQUIRED",
                f"{pbase}.transaction_id",
                f"Event at index: [{i}] (purchase) requires a transaction_id.",
            )

    own = _micros(event.get("timestamp_micros"))
    micros = own if own is not None else request_micros
    if micros is not None:
        path = f"events[{i}].timestamp_micros" if own is not None else "timestamp_micros"
        seconds = micros / 1_000_000
        hint = (
            " (timestamp_micros is in microseconds, not milliseconds)"
            if 0 < micros < 100_000_000_000_000
            else ""
        )
        text = None
        if seconds < now - BACKDATE_SECONDS:
            text = (
                f"Event at index: [{i}] has timestamp_micros [{micros}] that is more than 72 "
                f"hours in the past{hint}."
            )
        elif seconds > now + future_skew:
            text = f"Event at index: [{i}] has timestamp_micros [{micros}] in the future."
        if text is not None:
            if enforce:
                add("VALUE_INVALID", path, text)
            else:
                add("VALUE_INVALID", path, text, "timestamp_micros", reported=False)


def validate(
    raw: bytes, now: float, future_skew: float
) -> tuple[list[Issue], dict[str, Any] | None]:
    """The issues of one request body, and the body when it could be read."""
    if len(raw) >= MAX_BODY_BYTES:
        return [
            Issue(
                "VALUE_OUT_OF_BOUNDS",
                f"Post body is {len(raw)} bytes; it must be smaller than 130kB "
                f"({MAX_BODY_BYTES} bytes).",
                None,
                "request",
            )
        ], None
    try:
        body = _loads(raw) if raw else None
    except (ValueError, UnicodeDecodeError) as exc:
        return [Issue("VALUE_INVALID", f"{PARSE_PREFIX} {exc}", None, "request")], None
    if not isinstance(body, dict):
        return [
            Issue("VALUE_INVALID", f"{PARSE_PREFIX} Expected a JSON object.", None, "request")
        ], None
    try:
        _check_kind(PAYLOAD, body, "", "")
    except ParseError as exc:
        return [Issue("VALUE_INVALID", str(exc), None, "request")], body

    issues: list[Issue] = []
    enforce = body.get("validation_behavior") == "ENFORCE_RECOMMENDATIONS"
    client_id = body.get("client_id")
    if not client_id:
        issues.append(
            Issue("VALUE_REQUIRED", "Measurement requires a client_id.", "client_id", "request")
        )
    else:
        match = CLIENT_ID_RE.match(client_id)
        if not match or int(match.group(1)) == 0 or int(match.group(2)) == 0:
            issues.append(
                Issue(
                    "VALUE_INVALID",
                    f"client_id [{client_id}] has invalid format. It should be two positive "
                    "numbers joined by a period (<number>.<number>).",
                    "client_id",
                    "request",
                )
            )
    user_id = body.get("user_id")
    if user_id is not None and len(user_id) > MAX_USER_ID:
        issues.append(
            Issue(
                "VALUE_OUT_OF_BOUNDS",
                f"user_id has {len(user_id)} characters; at most {MAX_USER_ID} are allowed.",
                "user_id",
                "request",
            )
        )
    if body.get("user_data") is not None:
        _check_user_data(body["user_data"], issues)
    if body.get("user_properties") is not None:
        _check_user_properties(body["user_properties"], issues)

    events = body.get("events") or []
    if not events:
        issues.append(
            Issue("VALUE_REQUIRED", "Measurement requires at least one event.", "events", "request")
        )
    elif len(events) > MAX_EVENTS:
        issues.append(
            Issue(
                "EXCEEDED_MAX_ENTITIES",
                f"Measurement has [{len(events)}] events; a maximum of {MAX_EVENTS} events can "
                "be specified per request.",
                "events",
                "request",
            )
        )
    request_micros = _micros(body.get("timestamp_micros"))
    for i, event in enumerate(events):
        _check_event(event or {}, i, request_micros, enforce, now, future_skew, issues)
    return issues, body


# --------------------------------------------------------------------------------------------
# Answers
# --------------------------------------------------------------------------------------------

#: Google's front-end error statuses (google.rpc.Code names and their usual messages)
GOOGLE_ERRORS = {
    400: ("INVALID_ARGUMENT", "Request contains an invalid argument."),
    401: ("UNAUTHENTICATED", "Request is missing required authentication credential."),
    403: ("PERMISSION_DENIED", "The caller does not have permission."),
    404: ("NOT_FOUND", "Requested entity was not found."),
    413: ("INVALID_ARGUMENT", "Request payload size exceeds the limit."),
    429: ("RESOURCE_EXHAUSTED", "Resource has been exhausted (e.g. check quota)."),
    500: ("INTERNAL", "Internal error encountered."),
    502: ("UNAVAILABLE", "Bad gateway."),
    503: ("UNAVAILABLE", "The service is currently unavailable."),
    504: ("DEADLINE_EXCEEDED", "The request timed out."),
}


def google_error(
    status: int, message: str | None = None, headers: Mapping[str, str] | None = None
) -> _Answer:
    name, default = GOOGLE_ERRORS.get(status, ("UNKNOWN", "Unknown error."))
    body = {"error": {"code": status, "message": message or default, "status": name}}
    return _Answer(status, body, dict(headers or {}))


def _query_value(pairs: list[tuple[str, str]], key: str) -> str | None:
    return next((value for k, value in pairs if k == key), None)


_ID_PREFIX_RE = re.compile(r"^[A-Za-z0-9_-]*")


def shown_id(measurement_id: str) -> str:
    """A measurement_id as records and messages may show it: its id-shaped prefix only, so a
    client that glues parameters together (``G-X;api_secret=...``) does not leak the secret."""
    prefix = _ID_PREFIX_RE.match(measurement_id)
    head = prefix.group(0) if prefix else ""
    return head if head == measurement_id else f"{head}…"


class GA4Platform:
    """The ``PLATFORM`` object (see ``_platforms.PlatformModule``)."""

    name = NAME
    dedup_key = "transaction_id"
    own_faults: Mapping[str, frozenset[str]] = {
        "ga4_status": frozenset({"status", "message", "retry_after"})
    }

    # ---- routing -----------------------------------------------------------------------

    def route(self, path: str, query: str) -> str | None:
        if path not in (COLLECT_PATH, DEBUG_PATH):
            return None
        found = _query_value(parse_qsl(query, keep_blank_values=True), "measurement_id")
        return shown_id(found or "")

    def claims(self, path: str) -> bool:
        return path.startswith(("/mp/", "/debug/mp/")) or path in ("/mp", "/debug/mp")

    def not_found(self, path: str) -> _Answer:
        return _Answer(404, None)

    # ---- faults ------------------------------------------------------------------------

    def check_fault(self, fault: str, params: Mapping[str, Any]) -> None:
        if fault == "ga4_status" and "status" not in params:
            raise ValueError("ga4_status needs status=")

    def fault_answer(self, fault: str, params: Mapping[str, Any]) -> _Answer:
        p = params
        headers: dict[str, str] = {}
        if "retry_after" in p:
            headers["Retry-After"] = str(max(0, math.ceil(float(p["retry_after"]))))
        if fault in ("http_500", "http_503"):
            return google_error(500 if fault == "http_500" else 503, p.get("message"), headers)
        if fault == "rate_limit":
            headers.setdefault("Retry-After", "1")
            return google_error(int(p.get("status", 429)), p.get("message"), headers)
        if fault == "ga4_status":
            status = int(p["status"])
            if status == 204 or (200 <= status < 300 and "message" not in p):
                return _Answer(status, None, headers)
            return google_error(status, p.get("message"), headers)
        raise AssertionError(fault)  # pragma: no cover

    # ---- requests ----------------------------------------------------------------------

    def parse_only(self, req: Incoming, rec: RecordedRequest) -> None:
        rec.test_mode = req.path == DEBUG_PATH
        rec.token_sources = ("query",) if _query_value(req.query_pairs, "api_secret") else ()
        try:
            rec.body = _loads(req.raw) if req.raw else None
        except (ValueError, UnicodeDecodeError):
            rec.body = req.raw.decode("utf-8", errors="replace")

    @staticmethod
    def credential_problem(fake: FakeAdServer, pairs: list[tuple[str, str]]) -> str | None:
        """Why GA would drop every event of the request for its credentials (no secret in
        the text), or None."""
        measurement_id = _query_value(pairs, "measurement_id")
        if not measurement_id:
            if _query_value(pairs, "firebase_app_id"):
                return (
                    "firebase_app_id (an app stream) is not served: web streams send measurement_id"
                )
            return "measurement_id is missing from the query string"
        if not MEASUREMENT_ID_RE.match(measurement_id):
            return (
                f"measurement_id {shown_id(measurement_id)!r} is not a web stream's Measurement "
                "ID (G-...)"
            )
        secret = _query_value(pairs, "api_secret")
        if not secret:
            return "api_secret is missing from the query string"
        secrets = fake.ga4_secrets
        if secrets is None:
            return None
        if measurement_id not in secrets:
            return f"measurement_id {measurement_id} is unknown (not in ga4_secrets)"
        allowed = secrets[measurement_id]
        if allowed is not None and secret not in allowed:
            return f"api_secret is not a valid secret of measurement_id {measurement_id}"
        return None

    def handle(
        self,
        fake: FakeAdServer,
        req: Incoming,
        rec: RecordedRequest,
        accepted: list[dict[str, Any]],
        dropped: list[dict[str, Any]],
    ) -> _Answer:
        self.parse_only(req, rec)
        if req.method != "POST":
            return _Answer(405, None, {"Allow": "POST"})
        wait = fake._rate_limited(NAME, rec.pixel_id or "")
        if wait is not None:
            return google_error(429, None, {"Retry-After": str(max(1, math.ceil(wait)))})
        now = fake.clock()
        if rec.test_mode:
            issues, _ = validate(req.raw, now, fake.future_skew)
            return _Answer(200, {"validationMessages": [i.message() for i in issues if i.reported]})

        events = rec.body.get("events") if isinstance(rec.body, dict) else None
        count = len(events) if isinstance(events, list) else 0
        problem = self.credential_problem(fake, req.query_pairs)
        if problem is not None:
            dropped.append({"scope": "request", "reason": problem, "events": count})
            return _Answer(204, None)
        issues, body = validate(req.raw, now, fake.future_skew)
        first_request_issue = next((i for i in issues if i.scope == "request"), None)
        if first_request_issue is not None or body is None:
            assert first_request_issue is not None  # validate() returns no body only with one
            dropped.append(
                {
                    "scope": "request",
                    "reason": first_request_issue.description,
                    "validation_code": first_request_issue.code,
                    "field_path": first_request_issue.field_path,
                    "events": count,
                }
            )
            return _Answer(204, None)

        context = {k: v for k, v in body.items() if k not in ("events", "validation_behavior")}
        for field in ("user_data", "user_properties"):
            issue = next((i for i in issues if i.scope == field), None)
            if issue is not None:
                context.pop(field, None)
                dropped.append(
                    {
                        "scope": field,
                        "reason": issue.description,
                        "validation_code": issue.code,
                        "field_path": issue.field_path,
                    }
                )
        retimed = int((now - BACKDATE_SECONDS) * 1_000_000)
        for i, event in enumerate(body["events"]):
            event = event or {}
            mine = [issue for issue in issues if issue.event_index == i]
            fatal = next((issue for issue in mine if issue.scope == "event"), None)
            entry = {
                "event_index": i,
                "event_name": event.get("name"),
                "event": copy.deepcopy(event),
            }
            if fatal is not None:
                dropped.append(
                    {
                        "scope": "event",
                        "reason": fatal.description,
                        "validation_code": fatal.code,
                        "field_path": fatal.field_path,
                        **entry,
                    }
                )
                continue
            merged = copy.deepcopy({**context, **event})
            moved = next((issue for issue in mine if issue.scope == "timestamp_micros"), None)
            if moved is not None:
                merged["timestamp_micros"] = retimed
                dropped.append(
                    {
                        "scope": "timestamp_micros",
                        "reason": f"{moved.description} GA keeps the event and moves it to 72 "
                        "hours ago.",
                        "validation_code": moved.code,
                        "field_path": moved.field_path,
                        **entry,
                    }
                )
            accepted.append(merged)
        return _Answer(204, None)

    # ---- reporting ---------------------------------------------------------------------

    def log_credential(self, rec: RecordedRequest) -> str:
        pairs = parse_qsl(rec.query, keep_blank_values=True)
        return "***" if _query_value(pairs, "api_secret") else "<none>"

    def count_key(self, event: Mapping[str, Any]) -> tuple[str, str]:
        name = str(event.get("name"))
        params = event.get("params") or {}
        txn = params.get("transaction_id") if name == "purchase" else None
        return name, "" if txn is None else str(txn)


PLATFORM = GA4Platform()
