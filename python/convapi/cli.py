"""``python -m convapi``: send events, normalise a match key, run the local fake, run the demo.

Four platforms (``convapi.PLATFORMS``): Meta CAPI, TikTok Events API, Pinterest Conversions API
and the GA4 Measurement Protocol.

Exit codes: 0 success, 1 the send or the API failed, 2 bad usage or bad input.
Tokens and GA4's api_secret come from environment variables and are never printed (GA4 puts its
secret in the request URL by the protocol's design: only the masked ``sender.url`` is shown).
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, TextIO

import convapi
from convapi.testing import FakeAdServer, mask_token, run_fake_server

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

DEFAULT_TOKEN_ENV = {
    "meta": "CONVAPI_META_TOKEN",
    "tiktok": "CONVAPI_TIKTOK_TOKEN",
    "pinterest": "CONVAPI_PINTEREST_TOKEN",
    "ga4": "CONVAPI_GA4_API_SECRET",
}

#: Platform-specific spellings of ``--pixel`` (the destination id): flag -> the one platform.
DESTINATION_ALIASES = {"ad_account": "pinterest", "measurement_id": "ga4"}

# Every name `normalize` accepts: the neutral names, then the Meta keys (from the Rust table).
NORMALIZE_FIELDS = convapi.FIELDS

#: ``--flag`` name -> key of the neutral ``user`` dict.
USER_FLAGS = (
    ("email", "email", "raw or hashed email; repeat for several", True),
    ("phone", "phone", "raw (with country code or --country) or hashed phone; repeatable", True),
    ("first_name", "first-name", "first name", False),
    ("last_name", "last-name", "last name", False),
    ("gender", "gender", "f or m", False),
    ("date_of_birth", "date-of-birth", "date of birth, e.g. 1990-04-12", False),
    ("city", "city", "city", False),
    ("state", "state", "state or region", False),
    ("zip", "zip", "postal code", False),
    ("country", "country", "ISO 3166-1 alpha-2 country, e.g. FR", False),
    ("external_id", "external-id", "your customer id (GA4: user_id)", False),
    ("client_ip_address", "ip", "client IP address (IPv4 or IPv6)", False),
    ("client_user_agent", "user-agent", "client User-Agent", False),
    ("fbc", "fbc", "Meta click id cookie _fbc", False),
    ("fbp", "fbp", "Meta browser id cookie _fbp", False),
    ("ttclid", "ttclid", "TikTok click id", False),
    ("ttp", "ttp", "TikTok cookie _ttp", False),
    ("click_id", "epik", "Pinterest click id: the _epik cookie or the epik URL parameter", False),
    (
        "client_id",
        "client-id",
        "GA4 client id: the _ga cookie value (GA1.1.N.T) or N.T (required for GA4)",
        False,
    ),
    (
        "session_id",
        "session-id",
        "GA4 session: the _ga_<stream> cookie value (GS1/GS2) or the session id",
        False,
    ),
)


class CliError(Exception):
    """A problem reported to the user: message to stderr and an exit code."""

    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> NoReturn:
        self.print_usage(sys.stderr)
        self.exit(EXIT_USAGE, f"{self.prog}: error: {message}\n")


def _label(platform: str) -> str:
    return str(convapi.PLATFORM_INFO[platform]["label"])


def _takes(platform: str, option: str) -> bool:
    return option in convapi.PLATFORM_INFO[platform]["options"]


def _platforms_taking(option: str) -> str:
    names = [_label(p).split()[0] for p in convapi.PLATFORMS if _takes(p, option)]
    return " and ".join(names)


# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def _scrub(text: str, secrets: Sequence[str]) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, mask_token(secret))
    return text


def _result_dict(result: Any) -> dict[str, Any]:
    keys = (
        "platform",
        "events_received",
        "code",
        "messages",
        "trace_id",
        "trace_ids",
        "http_status",
        "attempts",
        "requests",
        "duration_ms",
        "response",
    )
    out: dict[str, Any] = {}
    for key in keys:
        if hasattr(result, key):
            value = getattr(result, key)
            out[key] = round(value, 3) if key == "duration_ms" and value is not None else value
    return out


def _describe_send_error(exc: BaseException) -> str:
    parts = []
    if isinstance(exc, convapi.PartialSendError):
        refused = "; ".join(f"events[{i}]: {message}" for i, message in exc.failed)
        parts.append(f"refused {len(exc.failed)} event(s): {refused}")
        parts.append(f"accepted events {exc.sent}")
    elif isinstance(exc, convapi.ApiError):
        parts.append(f"code={exc.code}")
        if exc.subcode is not None:
            parts.append(f"subcode={exc.subcode}")
    if isinstance(exc, convapi.ApiError):
        if exc.http_status:
            parts.append(f"http={exc.http_status}")
        if exc.trace_id:
            parts.append(f"trace_id={exc.trace_id}")
    if isinstance(exc, convapi.SendError):
        parts.append(f"attempts={exc.attempts}")
        parts.append("retryable" if exc.retryable else "not retryable")
        if exc.retry_after is not None:
            parts.append(f"retry_after={exc.retry_after}s")
        if exc.events_sent and not isinstance(exc, convapi.PartialSendError):
            parts.append(f"events already sent {exc.sent}")
    detail = f" ({', '.join(parts)})" if parts else ""
    return f"{exc}{detail}"


def _invalid_event(exc: BaseException) -> str:
    field = getattr(exc, "field", "")
    text = str(exc)
    return (
        f"invalid event: {text}"
        if not field or field in text
        else f"invalid event: {field}: {text}"
    )


def _load_events(path: str) -> list[dict[str, Any]]:
    try:
        if path == "-":
            text = sys.stdin.read()
        else:
            with open(path, encoding="utf-8") as handle:
                text = handle.read()
    except OSError as exc:
        raise CliError(f"cannot read event file {path!r}: {exc.strerror or exc}") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise CliError(f"event file {path!r} is not valid JSON: {exc}") from None
    if isinstance(data, dict) and isinstance(data.get("events"), list):
        data = data["events"]
    if isinstance(data, dict):
        data = [data]
    if not isinstance(data, list) or not data or not all(isinstance(e, dict) for e in data):
        raise CliError(
            f"event file {path!r} must hold an event object or a non-empty list of event objects"
        )
    return data


def _event_from_args(args: argparse.Namespace) -> dict[str, Any]:
    event: dict[str, Any] = {"event_name": args.event_name}
    for key in ("event_id", "event_time", "action_source"):
        value = getattr(args, key)
        if value is not None:
            event[key] = value
    if args.url is not None:
        event["event_source_url"] = args.url
    if args.referrer is not None:
        event["referrer_url"] = args.referrer
    if args.limited_data_use:
        event["limited_data_use"] = True
    if args.opt_out:
        event["opt_out"] = True
    user: dict[str, Any] = {}
    for key, _flag, _help, repeatable in USER_FLAGS:
        value = getattr(args, key)
        if value is None:
            continue
        user[key] = (value[0] if len(value) == 1 else value) if repeatable else value
    if user:
        event["user"] = user
    custom: dict[str, Any] = {}
    for key in ("value", "currency", "content_type", "content_name", "order_id", "num_items"):
        value = getattr(args, key)
        if value is not None:
            custom[key] = value
    if args.content_id:
        custom["content_ids"] = list(args.content_id)
    if custom:
        event["custom"] = custom
    return event


def _read_token(platform: str, env_var: str) -> str:
    token = os.environ.get(env_var, "").strip()
    if not token:
        what = "API secret" if convapi.PLATFORM_INFO[platform]["secret_in_url"] else "access token"
        raise CliError(
            f"no {what}: set the environment variable {env_var} "
            "(or choose another one with --token-env)"
        )
    return token


def _destination(args: argparse.Namespace) -> str:
    """The destination id: ``--pixel`` for every platform, or its platform's own alias."""
    given = [("pixel", args.pixel)] + [
        (dest, getattr(args, dest)) for dest in DESTINATION_ALIASES if getattr(args, dest)
    ]
    given = [(dest, value) for dest, value in given if value]
    for dest, _value in given:
        owner = DESTINATION_ALIASES.get(dest)
        if owner is not None and owner != args.platform:
            flag = "--" + dest.replace("_", "-")
            raise CliError(
                f"{flag} is {_label(owner)}'s destination id; for --platform {args.platform} "
                "use --pixel"
            )
    if len(given) > 1:
        raise CliError("give the destination id once (--pixel or its alias), not twice")
    if not given:
        hint = {
            "meta": "the pixel (dataset) id",
            "tiktok": "the pixel code",
            "pinterest": "the ad account id (or --ad-account)",
            "ga4": "the measurement id G-... (or --measurement-id)",
        }[args.platform]
        raise CliError(f"a destination is needed: --pixel with {hint}")
    return str(given[0][1])


def _request_options(args: argparse.Namespace) -> dict[str, Any]:
    """The per-request options of ``args.platform`` (``test_event_code`` or ``test``)."""
    platform = args.platform
    if args.test_event_code is not None and not _takes(platform, "test_event_code"):
        raise CliError(
            f"--test-event-code applies to {_platforms_taking('test_event_code')}; "
            f"for --platform {platform} use --test"
        )
    if args.test and not _takes(platform, "test"):
        raise CliError(
            f"--test applies to {_platforms_taking('test')}; for --platform {platform} use "
            "--test-event-code CODE"
        )
    if args.api_version and platform != "meta":
        raise CliError("--api-version applies to --platform meta only")
    if _takes(platform, "test"):
        return {"test": args.test}
    return {"test_event_code": args.test_event_code}


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def cmd_send(args: argparse.Namespace, out: TextIO) -> int:
    platform = args.platform
    destination = _destination(args)
    if args.event_file is not None and args.event_name is not None:
        raise CliError("use either --event-file or --event-name, not both")
    if args.event_file is None and args.event_name is None:
        raise CliError("an event is needed: --event-file FILE.json or --event-name NAME")
    options = _request_options(args)
    events = _load_events(args.event_file) if args.event_file else [_event_from_args(args)]
    # GA4 masks its measurement id too; nothing the CLI prints shows it.
    shown_never = [destination] if platform == "ga4" else []

    if args.dry_run:
        build_options = dict(options)
        if platform == "tiktok":
            build_options["pixel_code"] = destination
        try:
            payload = convapi.build_payload(platform, events, strict=args.strict, **build_options)
        except convapi.ValidationError as exc:
            hint = ""
            if platform == "ga4" and "one user" in str(exc):
                hint = " (--dry-run shows one request: give the events of one user)"
            raise CliError(_scrub(_invalid_event(exc), shown_never) + hint) from None
        text = json.dumps(payload, indent=2, ensure_ascii=False)
        out.write(_scrub(text, shown_never) + "\n")
        return EXIT_OK

    env_var = args.token_env or DEFAULT_TOKEN_ENV[platform]
    token = _read_token(platform, env_var)
    secrets = [token, *shown_never]
    sender_options: dict[str, Any] = {"timeout": args.timeout, "max_retries": args.max_retries}
    if args.base_url:
        sender_options["base_url"] = args.base_url
    if args.api_version:
        sender_options["api_version"] = args.api_version
    try:
        sender = convapi.SENDERS[platform](destination, token, **sender_options)
    except ValueError as exc:  # ValidationError included: an id the platform cannot take
        raise CliError(_scrub(f"invalid destination for {platform}: {exc}", secrets)) from None
    try:
        result = sender.send(events, strict=args.strict, **options)
    except convapi.ValidationError as exc:
        raise CliError(_scrub(_invalid_event(exc), secrets)) from None
    except convapi.SendError as exc:
        raise CliError(
            _scrub(f"{platform} send failed: {_describe_send_error(exc)}", secrets),
            EXIT_FAILURE,
        ) from None
    except convapi.ConvapiError as exc:
        raise CliError(_scrub(f"{platform} send failed: {exc}", secrets), EXIT_FAILURE) from None
    # The sender's URL, secrets masked (GA4's are in it); a test send goes where --test says.
    shown = {"url": sender.url, **({"test": True} if options.get("test") else {})}
    shown.update(_result_dict(result))
    text = json.dumps(shown, indent=2, ensure_ascii=False)
    out.write(_scrub(text, secrets) + "\n")
    if platform == "ga4" and not args.test:
        sys.stderr.write(
            "note: GA4's /mp/collect answers 2xx whatever it does with the events (it drops "
            "what it cannot use silently); --test sends to the validation server, which says "
            "what is wrong\n"
        )
    return EXIT_OK


def cmd_normalize(args: argparse.Namespace, out: TextIO) -> int:
    try:
        normalized = convapi.normalize(args.field, args.value, args.country)
    except convapi.ValidationError as exc:
        field = getattr(exc, "field", "") or args.field
        raise CliError(f"cannot normalise {field}: {exc}") from None
    digest = convapi.hash_value(normalized)
    if args.json:
        json.dump(
            {"field": args.field, "normalized": normalized, "sha256": digest},
            out,
            ensure_ascii=False,
        )
        out.write("\n")
    else:
        out.write(f"field:      {args.field}\n")
        out.write(f"normalized: {normalized}\n")
        out.write(f"sha256:     {digest}\n")
    return EXIT_OK


def _ga4_secrets(pairs: Sequence[str]) -> dict[str, set[str]]:
    """``MEASUREMENT_ID=SECRET`` pairs (repeatable, several secrets per id allowed)."""
    secrets: dict[str, set[str]] = {}
    for pair in pairs:
        measurement_id, sep, secret = pair.partition("=")
        measurement_id, secret = measurement_id.strip(), secret.strip()
        if not sep or not measurement_id or not secret:
            raise CliError("--ga4-secret takes MEASUREMENT_ID=SECRET, e.g. G-ABC123=...")
        if not measurement_id.startswith("G-"):
            raise CliError(
                "--ga4-secret: the measurement id of a web stream starts with G- "
                f"(got {measurement_id[:12]!r})"
            )
        secrets.setdefault(measurement_id, set()).add(secret)
    return secrets


def cmd_fake_server(args: argparse.Namespace, out: TextIO) -> int:
    options: dict[str, Any] = {}
    if args.meta_token:
        options["meta_tokens"] = args.meta_token
    if args.tiktok_token:
        options["tiktok_tokens"] = args.tiktok_token
    if args.pinterest_token:
        options["pinterest_tokens"] = args.pinterest_token
    if args.ga4_secret:
        options["ga4_secrets"] = _ga4_secrets(args.ga4_secret)
    if args.rate_limit_per_minute is not None:
        options["rate_limit_per_minute"] = args.rate_limit_per_minute
    try:
        run_fake_server(args.host, args.port, **options)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}", EXIT_FAILURE
        ) from None
    return EXIT_OK


# ---- demo -----------------------------------------------------------------------------------

DEMO_META_PIXEL = "1234567890123456"
DEMO_TIKTOK_PIXEL = "CDEMO0123456789ABCDE"
DEMO_PINTEREST_AD_ACCOUNT = "549755885175"
DEMO_GA4_MEASUREMENT_ID = "G-DEMO2026CV"
DEMO_SHOP = "https://shop.example"
DEMO_UA = (
    "Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Safari/537.36"
)

#: What the shop knows about the shopper, raw, as a checkout form would give it.
DEMO_SHOPPER: dict[str, Any] = {
    "email": "  Elodie.Martin@Example.COM ",
    "phone": "+33 6 12 34 56 78",
    "first_name": "Élodie",
    "last_name": "Martin",
    "gender": "female",
    "date_of_birth": "1990-04-12",
    "city": "Paris",
    "state": "Île-de-France",
    "zip": "75011",
    "country": "FR",
    "external_id": "customer-1042",
}

#: The browser's identifiers in the demo events: what each one is read from.
DEMO_BROWSER_KEYS = (
    ("client_ip_address", "request"),
    ("client_user_agent", "User-Agent header"),
    ("fbc", "Meta _fbc cookie"),
    ("fbp", "Meta _fbp cookie"),
    ("ttclid", "TikTok click id"),
    ("ttp", "TikTok _ttp cookie"),
    ("epik", "Pinterest _epik cookie"),
    ("client_id", "GA4 _ga cookie"),
    ("session_id", "GA4 _ga_<stream> cookie"),
)


def demo_funnel(now: int | None = None) -> list[dict[str, Any]]:
    """A realistic five-step funnel for one shopper who came from a Meta and a TikTok ad, and
    had visited from Pinterest and been measured by GA4 (its cookies)."""
    t = int(time.time()) if now is None else now
    first_visit = t - 3 * 86400
    click_ms = (t - 600) * 1000
    session_start = t - 600
    browser = {
        "client_ip_address": "2001:db8:85a3::8a2e:370:7334",
        "client_user_agent": DEMO_UA,
        "fbc": f"fb.1.{click_ms}.IwAR2F4nDemoClickId_9xQ",
        "fbp": f"fb.1.{first_visit * 1000}.1098765432",
        "ttclid": "E.C.P.CsUBDemoTikTokClickId",
        "ttp": "2ZbDemoTtpCookie4x8",
        "epik": "dj0yJnU9RGVtb1BpbnRlcmVzdENsaWNrSWQ",
        # _ga: GA1.<domain level>.<random>.<first visit>; _ga_<stream>: GS2 with s<session>.
        "client_id": f"GA1.1.1827394650.{first_visit}",
        "session_id": f"GS2.1.s{session_start}$o3$g1$t{t - 60}$j0$l0$h0",
        "locale": "fr-FR",
    }
    anonymous = dict(browser)
    known = {**browser, **DEMO_SHOPPER}
    item = {
        "id": "SKU-TRAIL-42",
        "quantity": 2,
        "item_price": 64.95,
        "title": "Trail running shoes",
        "category": "Shoes",
        "brand": "Montagne",
    }
    base_custom = {
        "content_ids": [item["id"]],
        "content_type": "product",
        "currency": "EUR",
    }
    order = "SO-2026-00042"
    return [
        {
            "event_name": "PageView",
            "event_id": "demo-42-pageview",
            "event_time": t - 540,
            "event_source_url": f"{DEMO_SHOP}/?utm_source=meta&fbclid=IwAR2F4nDemoClickId_9xQ",
            "action_source": "website",
            "user": anonymous,
        },
        {
            "event_name": "ViewContent",
            "event_id": "demo-42-viewcontent",
            "event_time": t - 480,
            "event_source_url": f"{DEMO_SHOP}/shop/trail-running-shoes-42",
            "referrer_url": f"{DEMO_SHOP}/",
            "action_source": "website",
            "user": anonymous,
            "custom": {**base_custom, "value": 64.95, "content_name": item["title"]},
        },
        {
            "event_name": "AddToCart",
            "event_id": "demo-42-addtocart",
            "event_time": t - 420,
            "event_source_url": f"{DEMO_SHOP}/shop/trail-running-shoes-42",
            "action_source": "website",
            "user": anonymous,
            "custom": {**base_custom, "value": 129.9, "contents": [item], "num_items": 2},
        },
        {
            "event_name": "InitiateCheckout",
            "event_id": "demo-42-checkout",
            "event_time": t - 300,
            "event_source_url": f"{DEMO_SHOP}/shop/checkout",
            "action_source": "website",
            "user": known,
            "custom": {**base_custom, "value": 129.9, "contents": [item], "num_items": 2},
        },
        {
            "event_name": "Purchase",
            "event_id": order,
            "event_time": t - 60,
            "event_source_url": f"{DEMO_SHOP}/shop/confirmation",
            "action_source": "website",
            "user": known,
            "custom": {
                **base_custom,
                "value": 129.9,
                "contents": [item],
                "num_items": 2,
                "order_id": order,
            },
        },
    ]


def _short(value: Any) -> str:
    if isinstance(value, list):
        return "[" + ", ".join(_short(v) for v in value) + "]"
    text = str(value)
    if len(text) == 64 and all(c in "0123456789abcdef" for c in text):
        return text[:10] + "…"
    return text if len(text) <= 40 else text[:37] + "…"


def _keys(mapping: dict[str, Any], skip: Sequence[str] = ()) -> str:
    return " ".join(f"{k}={_short(v)}" for k, v in mapping.items() if k not in skip)


def _money(block: dict[str, Any]) -> str:
    return f" value={block['value']} {block['currency']}" if "value" in block else ""


def _print_meta_event(ev: dict[str, Any], out: TextIO) -> None:
    out.write(f"    {ev['event_name']:<17} event_id={ev.get('event_id')}"
              f"{_money(ev.get('custom_data', {}))}\n")
    out.write(f"      user_data: {_keys(ev.get('user_data', {}), ['client_user_agent'])}\n")


def _print_tiktok_event(ev: dict[str, Any], out: TextIO) -> None:
    out.write(f"    {ev['event']:<17} event_id={ev.get('event_id')}"
              f"{_money(ev.get('properties', {}))}\n")
    out.write(f"      user: {_keys(ev.get('user', {}), ['user_agent'])}\n")


def _print_pinterest_event(ev: dict[str, Any], out: TextIO) -> None:
    custom = ev.get("custom_data", {})
    note = " (a string, as Pinterest takes money)" if "value" in custom else ""
    out.write(f"    {ev['event_name']:<17} event_id={ev.get('event_id')}{_money(custom)}{note}\n")
    out.write(f"      user_data: {_keys(ev.get('user_data', {}), ['client_user_agent'])}\n")


def _print_ga4_event(ev: dict[str, Any], out: TextIO) -> None:
    params = ev.get("params", {})
    txn = f" transaction_id={params['transaction_id']}" if "transaction_id" in params else ""
    out.write(f"    {ev['name']:<17} client_id={ev.get('client_id')} "
              f"session_id={params.get('session_id')}{txn}{_money(params)}\n")
    user_data = ev.get("user_data")
    if ev.get("user_id") or user_data:
        parts = [f"user_id={ev['user_id']}"] if ev.get("user_id") else []
        for key, value in (user_data or {}).items():
            if key == "address":
                for address in value:
                    parts.append(f"address: {_keys(address)}")
            else:
                parts.append(f"{key}={_short(value)}")
        out.write(f"      {' '.join(parts)}\n")
    else:
        out.write("      (anonymous: no user_id, no user_data)\n")


def _attempts(r: Any) -> str:
    retries = r.attempts - r.requests
    if retries <= 0:
        return f"attempts={r.attempts}"
    return f"attempts={r.attempts} ({retries} {'retry' if retries == 1 else 'retries'})"


def _describe_meta(r: Any) -> str:
    return (
        f"HTTP {r.http_status}, events_received={r.events_received}, fbtrace_id={r.trace_id}, "
        f"{_attempts(r)}, requests={r.requests}, {r.duration_ms:.1f} ms"
    )


def _describe_tiktok(r: Any) -> str:
    return (
        f"HTTP {r.http_status}, code={r.code}, events_received={r.events_received}, "
        f"request_id={r.trace_id}, {_attempts(r)}, requests={r.requests}, "
        f"{r.duration_ms:.1f} ms"
    )


def _describe_pinterest(r: Any) -> str:
    body = r.response if isinstance(r.response, dict) else {}
    statuses = Counter(e.get("status") for e in body.get("events", []) if isinstance(e, dict))
    per_event = ", ".join(f"{status} x{n}" for status, n in statuses.items()) or "none"
    return (
        f"HTTP {r.http_status}, num_events_received={body.get('num_events_received')}, "
        f"num_events_processed={body.get('num_events_processed')}, per-event status: "
        f"{per_event}; {_attempts(r)}, requests={r.requests}, {r.duration_ms:.1f} ms"
    )


def _describe_ga4(r: Any) -> str:
    return (
        f"HTTP {r.http_status} with no body (GA4 never says what it kept), "
        f"{r.events_received} events in requests={r.requests} (one user's events per request: "
        f"the anonymous and the identified events differ in user_id and user_data), "
        f"{_attempts(r)}, {r.duration_ms:.1f} ms"
    )


@dataclass
class _Lane:
    """One platform of the demo: its sender, how to show its answer and what it received."""

    platform: str
    secret: str
    sender: Any
    endpoint: str
    describe: Callable[[Any], str]
    received: Callable[[], list[dict[str, Any]]]
    show_event: Callable[[dict[str, Any], TextIO], None]
    fault: str
    result: Any = None
    error: str | None = None

    @property
    def label(self) -> str:
        return _label(self.platform)

    @property
    def name(self) -> str:
        return self.label.split()[0]


GA4_NOTE = (
    "  Note: the Odoo addon sends only Purchase to GA4 by default. GA4 has no browser/server\n"
    "  dedup (only purchases, by transaction_id), so a server copy of an event gtag also sends\n"
    "  would count twice. This demo sends GA4 the whole funnel to show each event's GA4 shape.\n"
)


class _NullOut(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


def _demo_lanes(fake: FakeAdServer, secrets: dict[str, str]) -> list[_Lane]:
    base = fake.base_url
    meta = convapi.MetaSender(DEMO_META_PIXEL, secrets["meta"], base_url=base)
    tiktok = convapi.TikTokSender(DEMO_TIKTOK_PIXEL, secrets["tiktok"], base_url=base)
    pinterest = convapi.PinterestSender(
        DEMO_PINTEREST_AD_ACCOUNT, secrets["pinterest"], base_url=base
    )
    ga4 = convapi.GA4Sender(DEMO_GA4_MEASUREMENT_ID, secrets["ga4"], base_url=base)
    return [
        _Lane(
            "meta", secrets["meta"], meta,
            f"POST /{meta.api_version}/{DEMO_META_PIXEL}/events (token in the body)",
            _describe_meta, lambda: fake.meta_events(DEMO_META_PIXEL), _print_meta_event,
            "HTTP 503 once",
        ),
        _Lane(
            "tiktok", secrets["tiktok"], tiktok,
            f"POST /open_api/v1.3/event/track/ (event_source_id={DEMO_TIKTOK_PIXEL}, "
            "Access-Token header)",
            _describe_tiktok, lambda: fake.tiktok_events(DEMO_TIKTOK_PIXEL), _print_tiktok_event,
            "429 + Retry-After once",
        ),
        _Lane(
            "pinterest", secrets["pinterest"], pinterest,
            f"POST /v5/ad_accounts/{DEMO_PINTEREST_AD_ACCOUNT}/events "
            "(Authorization: Bearer)",
            _describe_pinterest, lambda: fake.pinterest_events(DEMO_PINTEREST_AD_ACCOUNT),
            _print_pinterest_event, "429 + Retry-After once",
        ),
        _Lane(
            "ga4", secrets["ga4"], ga4,
            f"POST {ga4.url.removeprefix(base)}\n  (measurement id and api_secret travel in "
            "the URL by the protocol's design; convapi never shows them)",
            _describe_ga4, lambda: fake.ga4_events(DEMO_GA4_MEASUREMENT_ID), _print_ga4_event,
            "HTTP 503 once",
        ),
    ]  # fmt: skip


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    secrets = {
        "meta": "demo-meta-token-not-a-secret-0001",
        "tiktok": "demo-tiktok-token-not-a-secret-01",
        "pinterest": "demo-pinterest-token-not-a-secret-1",
        "ga4": "demo-ga4-api-secret-not-a-secret-1",
    }
    events = demo_funnel()
    n = len(events)
    verbose = not args.events_only
    # Everything is written here first and checked for secrets before it is shown.
    buf = io.StringIO()
    with FakeAdServer(
        meta_tokens={secrets["meta"]},
        tiktok_tokens={secrets["tiktok"]},
        pinterest_tokens={secrets["pinterest"]},
        ga4_secrets={DEMO_GA4_MEASUREMENT_ID: secrets["ga4"]},
    ) as fake:
        lanes = _demo_lanes(fake, secrets)
        if args.faults:
            fake.inject("meta", "http_503")
            fake.inject("tiktok", "rate_limit", retry_after=1)
            fake.inject("pinterest", "rate_limit", retry_after=1)
            fake.inject("ga4", "http_503")
        text: TextIO = buf if verbose else _NullOut()
        names = ", ".join(lane.label for lane in lanes)
        text.write(
            f"convapi demo: local fakes of {names} at {fake.base_url}\n"
            "(in-process, no network; the fakes validate like the real endpoints)\n\n"
            "Shopper as the shop knows it (raw, never sent as is):\n"
        )
        for key, value in DEMO_SHOPPER.items():
            text.write(f"    {key:<17} {value!r}\n")
        text.write("\nBrowser identifiers the storefront read (sent as they are, not hashed):\n")
        for key, source in DEMO_BROWSER_KEYS:
            text.write(f"    {key:<17} {_short(events[0]['user'][key]):<42} {source}\n")
        text.write(
            f"\nFunnel: {', '.join(e['event_name'] for e in events)} "
            "(PageView..AddToCart anonymous, checkout and purchase identified)\n"
        )
        if args.faults:
            faults = ", ".join(f"{lane.name} {lane.fault}" for lane in lanes)
            text.write(f"Faults injected: {faults}.\n")

        for lane in lanes:
            text.write(f"\n{lane.label}: {lane.endpoint}\n")
            if lane.platform == "ga4":
                text.write(GA4_NOTE)
            try:
                lane.result = lane.sender.send(events)
            except convapi.ConvapiError as exc:
                lane.error = _describe_send_error(exc)
                text.write(f"  answer: FAILED: {lane.error}\n")
            else:
                text.write(f"  answer: {lane.describe(lane.result)}\n")
            if lane.platform == "ga4":
                dropped = fake.ga4_dropped()
                reasons = "; ".join(
                    f"{d.scope} {d.event_name or ''}: {d.reason}".replace("  ", " ")
                    for d in dropped
                )
                text.write(
                    "  what GA would have dropped silently (the fake records it): "
                    f"{reasons or 'nothing'}\n"
                )
        received = {lane.platform: lane.received() for lane in lanes}
        requests = fake.requests
        dropped_all = {p: fake.dropped(p) for p in received}

    for lane in lanes:
        got = received[lane.platform]
        text.write(f"\nWhat {lane.name} received ({len(got)} events, match keys hashed):\n")
        for ev in got:
            lane.show_event(ev, text)
    for lane in lanes:
        got = received[lane.platform]
        if got:
            extra = (
                " (the request's client_id, user_id and user_data copied in, as GA attributes "
                "them)"
                if lane.platform == "ga4"
                else ""
            )
            text.write(
                f"\nThe {lane.name} Purchase event exactly as the fake received it{extra}:\n"
            )
            text.write(json.dumps(got[-1], indent=2, ensure_ascii=False) + "\n")
    text.write(f"\nRequests seen by the fakes: {len(requests)}\n")
    for req in requests:
        code = f" code={req.error_code}" if req.error_code is not None else ""
        fault = f" (injected {req.fault})" if req.fault else ""
        status = req.status or "dropped"
        if req.platform == "ga4":
            where = "measurement id and api_secret in the query (not shown)"
        else:
            where = f"token via {', '.join(req.token_sources) or 'none'}"
        text.write(f"    {req.platform:<9} {req.method} {req.path} -> {status}{code}{fault}, "
                   f"{where}\n")

    problems = []
    for lane in lanes:
        got = len(received[lane.platform])
        if lane.result is None or got != n or dropped_all[lane.platform]:
            problems.append(f"{lane.name} accepted {got}/{n} events")
    # A token must never be in a URL; GA4's api_secret is, by the protocol's design, and only
    # in the query of GA4's own requests.
    tokens = [secret for platform, secret in secrets.items() if platform != "ga4"]
    if any(token in req.path + req.query for req in requests for token in tokens) or any(
        secrets["ga4"] in req.path or (req.platform != "ga4" and secrets["ga4"] in req.query)
        for req in requests
    ):
        problems.append("an access token appeared in a URL")
    if args.events_only:
        buf.write(json.dumps(received, indent=2, ensure_ascii=False) + "\n")
    shown = buf.getvalue()
    if any(s in shown for s in [*secrets.values(), DEMO_GA4_MEASUREMENT_ID]):
        problems.append("a secret appeared in the output (not shown)")
        shown = ""
    out.write(shown)
    if not problems:
        verdict = (
            f"\nOK: {', '.join(lane.name for lane in lanes[:-1])} and {lanes[-1].name} all "
            f"accepted all {n} events.\n"
        )
        (out if verbose else sys.stderr).write(verdict)
        return EXIT_OK
    sys.stderr.write(f"convapi demo: FAILED: {'; '.join(problems)}\n")
    return EXIT_FAILURE


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    labels = ", ".join(_label(p) for p in convapi.PLATFORMS)
    parser = _Parser(
        prog="python -m convapi",
        description=(
            f"Server-side conversion tracking for {labels}. "
            "Exit codes: 0 ok, 1 send/API failure, 2 usage or invalid input."
        ),
    )
    parser.add_argument("--version", action="version", version=_version())
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True

    # send
    send = sub.add_parser(
        "send",
        help="send one event (from flags) or events from a JSON file",
        description=(
            "Normalise, hash and send events with the platform's sender (convapi.MetaSender, "
            "TikTokSender, PinterestSender, GA4Sender) and print the endpoint (secrets masked) "
            "and the SendResult as JSON. The access token (GA4: the api_secret) is read from "
            "an environment variable and never printed."
        ),
    )
    send.add_argument("--platform", required=True, choices=convapi.PLATFORMS)
    send.add_argument(
        "--pixel",
        metavar="ID",
        help="the destination id: Meta pixel (dataset) id, TikTok pixel code, Pinterest ad "
        "account id or GA4 measurement id (G-...)",
    )
    send.add_argument("--ad-account", metavar="ID", help="Pinterest ad account id (= --pixel)")
    send.add_argument(
        "--measurement-id", metavar="G-ID", help="GA4 measurement id, G-... (= --pixel)"
    )
    send.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the access token or GA4 api_secret (default "
        + ", ".join(f"{v} ({p})" for p, v in DEFAULT_TOKEN_ENV.items())
        + ")",
    )
    send.add_argument("--base-url", metavar="URL", help="API base URL, e.g. a local fake server")
    send.add_argument("--api-version", metavar="vNN.0", help="Graph API version (Meta only)")
    send.add_argument(
        "--test-event-code", metavar="CODE", help="send as test events (Meta, TikTok)"
    )
    send.add_argument(
        "--test",
        action="store_true",
        help="test mode (Pinterest: ?test=true, validated and not recorded; GA4: the "
        "validation server /debug/mp/collect, whose messages fail the send)",
    )
    send.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    send.add_argument("--max-retries", type=int, default=3, help="retries on transient errors")
    send.add_argument(
        "--strict", action="store_true", help="fail on a bad match key instead of dropping it"
    )
    send.add_argument(
        "--dry-run",
        action="store_true",
        help="print the body of the request that would be sent, send nothing (no token "
        "needed; GA4: the events of one user)",
    )
    source = send.add_argument_group("event source (one of)")
    source.add_argument(
        "--event-file",
        metavar="FILE.json",
        help="a JSON event object or list of events in convapi's neutral format ('-' = stdin)",
    )
    source.add_argument("--event-name", metavar="NAME", help="build one event from the flags below")
    ev = send.add_argument_group("event fields (with --event-name)")
    ev.add_argument("--event-id", help="deduplication id shared with the browser pixel")
    ev.add_argument("--event-time", type=int, metavar="UNIX_SECONDS", help="default: now")
    ev.add_argument("--url", help="event_source_url / page URL (required for website events)")
    ev.add_argument("--referrer", help="referrer URL")
    ev.add_argument(
        "--action-source", help="action_source (default website; mapped for each platform)"
    )
    ev.add_argument(
        "--limited-data-use", action="store_true", help="Meta/TikTok LDU, Pinterest LDP flag"
    )
    ev.add_argument("--opt-out", action="store_true", help="Meta / Pinterest opt_out")
    for key, flag, help_text, repeatable in USER_FLAGS:
        if repeatable:
            ev.add_argument(f"--{flag}", dest=key, action="append", help=help_text)
        else:
            ev.add_argument(f"--{flag}", dest=key, help=help_text)
    ev.add_argument("--value", type=float, help="order or item value")
    ev.add_argument("--currency", help="ISO 4217 code, e.g. EUR")
    ev.add_argument("--content-id", action="append", help="product id; repeatable")
    ev.add_argument("--content-type", choices=("product", "product_group"))
    ev.add_argument("--content-name")
    ev.add_argument("--order-id", help="order number (GA4: transaction_id, required for Purchase)")
    ev.add_argument("--num-items", type=int)
    send.set_defaults(func=cmd_send)

    # normalize
    norm = sub.add_parser(
        "normalize",
        help="normalise one match key and show its SHA-256",
        description="Normalise one field exactly as convapi does before hashing, to debug a key.",
    )
    norm.add_argument(
        "field", choices=NORMALIZE_FIELDS, metavar="FIELD", help=", ".join(NORMALIZE_FIELDS)
    )
    norm.add_argument("value", metavar="VALUE")
    norm.add_argument("--country", metavar="CC", help="default country for national phone numbers")
    norm.add_argument("--json", action="store_true", help="print JSON")
    norm.set_defaults(func=cmd_normalize)

    # fake-server
    fake = sub.add_parser(
        "fake-server",
        help="run the local fake of the four ad APIs (127.0.0.1 only)",
        description=(
            "Serve the faithful local fake of Meta CAPI (POST /vNN.0/{pixel}/events), TikTok "
            "EAPI (POST /open_api/v1.3/event/track/), the Pinterest Conversions API (POST "
            "/v5/ad_accounts/{id}/events) and the GA4 Measurement Protocol (POST /mp/collect, "
            "/debug/mp/collect) until Ctrl-C, one log line per request, secrets masked."
        ),
    )
    fake.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    fake.add_argument("--port", type=int, default=8765, help="default 8765; 0 = any free port")
    fake.add_argument("--meta-token", action="append", help="accepted Meta token (default: any)")
    fake.add_argument(
        "--tiktok-token", action="append", help="accepted TikTok token (default: any)"
    )
    fake.add_argument(
        "--pinterest-token", action="append", help="accepted Pinterest token (default: any)"
    )
    fake.add_argument(
        "--ga4-secret",
        action="append",
        metavar="MEASUREMENT_ID=SECRET",
        help="a GA4 stream and its api_secret; repeatable (default: any G- id, any secret). "
        "GA4 answers 204 either way and drops a request with a wrong secret silently",
    )
    fake.add_argument(
        "--rate-limit-per-minute",
        type=int,
        metavar="N",
        help="answer 429 past N requests/min/token",
    )
    fake.set_defaults(func=cmd_fake_server)

    # demo
    demo = sub.add_parser(
        "demo",
        help="send a sample funnel to the four platforms through the local fakes",
        description=(
            "Start the local fakes in-process, send a five-event funnel (PageView, ViewContent, "
            "AddToCart, InitiateCheckout, Purchase) for a realistic shopper to Meta, TikTok, "
            "Pinterest and GA4 with the real senders, and show what was sent (hashed) and what "
            "came back. Exits 0 only if every platform accepted every event."
        ),
    )
    demo.add_argument(
        "--events-only",
        action="store_true",
        help="print only the events each platform received, as JSON",
    )
    demo.add_argument(
        "--faults",
        action="store_true",
        help="inject a Meta 503, a TikTok 429, a Pinterest 429 and a GA4 503 to show the "
        "retries",
    )
    demo.set_defaults(func=cmd_demo)
    return parser


def _version() -> str:
    return f"convapi {getattr(convapi, '__version__', 'unknown')}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return int(args.func(args, sys.stdout))
    except CliError as exc:
        sys.stderr.write(f"convapi {args.command}: error: {exc}\n")
        return exc.exit_code
    except KeyboardInterrupt:
        return 130
