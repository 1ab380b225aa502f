"""``python -m convapi``: send events, normalise a match key, run the local fake, run the demo.

Exit codes: 0 success, 1 the send or the API failed, 2 bad usage or bad input.
Tokens come from environment variables and are never printed.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn, TextIO

import convapi
from convapi.testing import FakeAdServer, mask_token, run_fake_server

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2

DEFAULT_TOKEN_ENV = {"meta": "CONVAPI_META_TOKEN", "tiktok": "CONVAPI_TIKTOK_TOKEN"}

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
    ("external_id", "external-id", "your customer id", False),
    ("client_ip_address", "ip", "client IP address (IPv4 or IPv6)", False),
    ("client_user_agent", "user-agent", "client User-Agent", False),
    ("fbc", "fbc", "Meta click id cookie _fbc", False),
    ("fbp", "fbp", "Meta browser id cookie _fbp", False),
    ("ttclid", "ttclid", "TikTok click id", False),
    ("ttp", "ttp", "TikTok cookie _ttp", False),
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


def _error_dict(exc: BaseException) -> dict[str, Any]:
    out: dict[str, Any] = {"error": type(exc).__name__, "message": str(exc)}
    for key in (
        "platform",
        "code",
        "subcode",
        "http_status",
        "trace_id",
        "retryable",
        "attempts",
        "events_sent",
        "retry_after",
        "field",
    ):
        if hasattr(exc, key):
            out[key] = getattr(exc, key)
    return out


def _describe_send_error(exc: BaseException) -> str:
    parts = []
    if isinstance(exc, convapi.ApiError):
        parts.append(f"code={exc.code}")
        if exc.subcode is not None:
            parts.append(f"subcode={exc.subcode}")
        if exc.http_status:
            parts.append(f"http={exc.http_status}")
        if exc.trace_id:
            parts.append(f"trace_id={exc.trace_id}")
    if isinstance(exc, convapi.SendError):
        parts.append(f"attempts={exc.attempts}")
        parts.append("retryable" if exc.retryable else "not retryable")
        if exc.retry_after is not None:
            parts.append(f"retry_after={exc.retry_after}s")
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


def _read_token(env_var: str) -> str:
    token = os.environ.get(env_var, "").strip()
    if not token:
        raise CliError(
            f"no access token: set the environment variable {env_var} "
            "(or choose another one with --token-env)"
        )
    return token


# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------


def cmd_send(args: argparse.Namespace, out: TextIO) -> int:
    if args.event_file is not None and args.event_name is not None:
        raise CliError("use either --event-file or --event-name, not both")
    if args.event_file is None and args.event_name is None:
        raise CliError("an event is needed: --event-file FILE.json or --event-name NAME")
    events = _load_events(args.event_file) if args.event_file else [_event_from_args(args)]

    if args.dry_run:
        try:
            if args.platform == "meta":
                payload = convapi.build_meta_payload(
                    events, test_event_code=args.test_event_code, strict=args.strict
                )
            else:
                payload = convapi.build_tiktok_payload(
                    events,
                    pixel_code=args.pixel,
                    test_event_code=args.test_event_code,
                    strict=args.strict,
                )
        except convapi.ValidationError as exc:
            raise CliError(_invalid_event(exc)) from None
        json.dump(payload, out, indent=2, ensure_ascii=False)
        out.write("\n")
        return EXIT_OK

    env_var = args.token_env or DEFAULT_TOKEN_ENV[args.platform]
    token = _read_token(env_var)
    options: dict[str, Any] = {"timeout": args.timeout, "max_retries": args.max_retries}
    if args.base_url:
        options["base_url"] = args.base_url
    try:
        sender: Any
        if args.platform == "meta":
            if args.api_version:
                options["api_version"] = args.api_version
            sender = convapi.MetaSender(args.pixel, token, **options)
        else:
            if args.api_version:
                raise CliError("--api-version applies to --platform meta only")
            sender = convapi.TikTokSender(args.pixel, token, **options)
        result = sender.send(events, test_event_code=args.test_event_code, strict=args.strict)
    except convapi.ValidationError as exc:
        raise CliError(_scrub(_invalid_event(exc), [token])) from None
    except convapi.SendError as exc:
        raise CliError(
            _scrub(f"{args.platform} send failed: {_describe_send_error(exc)}", [token]),
            EXIT_FAILURE,
        ) from None
    except convapi.ConvapiError as exc:
        raise CliError(
            _scrub(f"{args.platform} send failed: {exc}", [token]), EXIT_FAILURE
        ) from None
    text = json.dumps(_result_dict(result), indent=2, ensure_ascii=False)
    out.write(_scrub(text, [token]) + "\n")
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


def cmd_fake_server(args: argparse.Namespace, out: TextIO) -> int:
    options: dict[str, Any] = {}
    if args.meta_token:
        options["meta_tokens"] = args.meta_token
    if args.tiktok_token:
        options["tiktok_tokens"] = args.tiktok_token
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


def demo_funnel(now: int | None = None) -> list[dict[str, Any]]:
    """A realistic five-step funnel for one shopper who came from a Meta and a TikTok ad."""
    t = int(time.time()) if now is None else now
    first_visit_ms = (t - 3 * 86400) * 1000
    click_ms = (t - 600) * 1000
    browser = {
        "client_ip_address": "2001:db8:85a3::8a2e:370:7334",
        "client_user_agent": DEMO_UA,
        "fbc": f"fb.1.{click_ms}.IwAR2F4nDemoClickId_9xQ",
        "fbp": f"fb.1.{first_visit_ms}.1098765432",
        "ttclid": "E.C.P.CsUBDemoTikTokClickId",
        "ttp": "2ZbDemoTtpCookie4x8",
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


def _print_meta_event(ev: dict[str, Any], out: TextIO) -> None:
    user = ev.get("user_data", {})
    keys = " ".join(f"{k}={_short(v)}" for k, v in user.items() if k != "client_user_agent")
    custom = ev.get("custom_data", {})
    money = f" value={custom['value']} {custom['currency']}" if "value" in custom else ""
    out.write(f"    {ev['event_name']:<17} event_id={ev.get('event_id')}{money}\n")
    out.write(f"      user_data: {keys}\n")


def _print_tiktok_event(ev: dict[str, Any], out: TextIO) -> None:
    user = ev.get("user", {})
    keys = " ".join(f"{k}={_short(v)}" for k, v in user.items() if k != "user_agent")
    props = ev.get("properties", {})
    money = f" value={props['value']} {props['currency']}" if "value" in props else ""
    out.write(f"    {ev['event']:<17} event_id={ev.get('event_id')}{money}\n")
    out.write(f"      user: {keys}\n")


def _demo_send(
    label: str,
    sender: Any,
    events: list[dict[str, Any]],
    out: TextIO,
    describe: Callable[[Any], str],
) -> Any:
    try:
        result = sender.send(events)
    except convapi.ConvapiError as exc:
        out.write(f"  answer: FAILED: {_describe_send_error(exc)}\n")
        return None
    out.write(f"  answer: {describe(result)}\n")
    return result


class _NullOut(io.StringIO):
    def write(self, text: str) -> int:
        return len(text)


def cmd_demo(args: argparse.Namespace, out: TextIO) -> int:
    meta_token = "demo-meta-token-not-a-secret-0001"
    tiktok_token = "demo-tiktok-token-not-a-secret-01"
    events = demo_funnel()
    n = len(events)
    verbose = not args.events_only
    with FakeAdServer(meta_tokens={meta_token}, tiktok_tokens={tiktok_token}) as fake:
        if args.faults:
            fake.inject("meta", "http_503")
            fake.inject("tiktok", "rate_limit", retry_after=1)
        meta = convapi.MetaSender(DEMO_META_PIXEL, meta_token, base_url=fake.base_url)
        tiktok = convapi.TikTokSender(DEMO_TIKTOK_PIXEL, tiktok_token, base_url=fake.base_url)
        if verbose:
            out.write(
                f"convapi demo: local fake of Meta CAPI and TikTok Events API at {fake.base_url}\n"
                "(in-process, no network; the fake validates like the real endpoints)\n\n"
                "Shopper as the shop knows it (raw, never sent as is):\n"
            )
            for key, value in DEMO_SHOPPER.items():
                out.write(f"    {key:<14} {value!r}\n")
            out.write(
                f"\nFunnel: {', '.join(e['event_name'] for e in events)} "
                f"(PageView..AddToCart anonymous, checkout and purchase identified)\n"
            )
            if args.faults:
                out.write("Faults injected: Meta HTTP 503 once, TikTok 429 + Retry-After once.\n")

        if verbose:
            out.write(
                f"\nMeta Conversions API: POST /{meta.api_version}/{DEMO_META_PIXEL}/events\n"
            )
        meta_result = _demo_send(
            "meta",
            meta,
            events,
            out if verbose else _NullOut(),
            lambda r: (
                f"HTTP {r.http_status}, events_received={r.events_received}, "
                f"fbtrace_id={r.trace_id}, attempts={r.attempts}, requests={r.requests}, "
                f"{r.duration_ms:.1f} ms"
            ),
        )
        if verbose:
            out.write(
                f"\nTikTok Events API: POST /open_api/v1.3/event/track/ "
                f"(event_source_id={DEMO_TIKTOK_PIXEL})\n"
            )
        tiktok_result = _demo_send(
            "tiktok",
            tiktok,
            events,
            out if verbose else _NullOut(),
            lambda r: (
                f"HTTP {r.http_status}, code={r.code}, events_received={r.events_received}, "
                f"request_id={r.trace_id}, attempts={r.attempts}, requests={r.requests}, "
                f"{r.duration_ms:.1f} ms"
            ),
        )
        meta_events = fake.meta_events(DEMO_META_PIXEL)
        tiktok_events = fake.tiktok_events(DEMO_TIKTOK_PIXEL)
        requests = fake.requests

    if args.events_only:
        json.dump({"meta": meta_events, "tiktok": tiktok_events}, out, indent=2)
        out.write("\n")
    else:
        out.write(f"\nWhat Meta received ({len(meta_events)} events, match keys hashed):\n")
        for ev in meta_events:
            _print_meta_event(ev, out)
        out.write(f"\nWhat TikTok received ({len(tiktok_events)} events, match keys hashed):\n")
        for ev in tiktok_events:
            _print_tiktok_event(ev, out)
        if meta_events:
            out.write("\nThe Meta Purchase event exactly as the fake received it:\n")
            out.write(json.dumps(meta_events[-1], indent=2, ensure_ascii=False) + "\n")
        if tiktok_events:
            out.write("\nThe TikTok Purchase event exactly as the fake received it:\n")
            out.write(json.dumps(tiktok_events[-1], indent=2, ensure_ascii=False) + "\n")
        out.write(f"\nRequests seen by the fake: {len(requests)}\n")
        for req in requests:
            code = f" code={req.error_code}" if req.error_code is not None else ""
            fault = f" (injected {req.fault})" if req.fault else ""
            status = req.status or "dropped"
            out.write(
                f"    {req.platform:<6} {req.method} {req.path} -> {status}{code}{fault}, "
                f"token via {', '.join(req.token_sources) or 'none'}\n"
            )

    ok_meta = meta_result is not None and len(meta_events) == n
    ok_tiktok = tiktok_result is not None and len(tiktok_events) == n
    leaked = any(
        meta_token in req.path + req.query or tiktok_token in req.path + req.query
        for req in requests
    )
    verdict_out = out if verbose else sys.stderr
    if ok_meta and ok_tiktok and not leaked:
        verdict_out.write(f"\nOK: Meta and TikTok both accepted all {n} events.\n")
        return EXIT_OK
    problems = []
    if not ok_meta:
        problems.append(f"Meta accepted {len(meta_events)}/{n} events")
    if not ok_tiktok:
        problems.append(f"TikTok accepted {len(tiktok_events)}/{n} events")
    if leaked:
        problems.append("an access token appeared in a URL")
    sys.stderr.write(f"convapi demo: FAILED: {'; '.join(problems)}\n")
    return EXIT_FAILURE


# ---------------------------------------------------------------------------------------------
# Parser
# ---------------------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="python -m convapi",
        description=(
            "Server-side conversion tracking for Meta's Conversions API and TikTok's Events "
            "API. Exit codes: 0 ok, 1 send/API failure, 2 usage or invalid input."
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
            "Normalise, hash and send events with convapi.MetaSender / TikTokSender and print "
            "the SendResult as JSON. The access token is read from an environment variable "
            "and never printed."
        ),
    )
    send.add_argument("--platform", required=True, choices=("meta", "tiktok"))
    send.add_argument("--pixel", required=True, help="Meta pixel (dataset) id or TikTok pixel code")
    send.add_argument(
        "--token-env",
        metavar="VAR",
        help="environment variable holding the token "
        "(default CONVAPI_META_TOKEN or CONVAPI_TIKTOK_TOKEN)",
    )
    send.add_argument("--base-url", metavar="URL", help="API base URL, e.g. a local fake server")
    send.add_argument("--api-version", metavar="vNN.0", help="Graph API version (Meta only)")
    send.add_argument("--test-event-code", metavar="CODE", help="send as test events")
    send.add_argument("--timeout", type=float, default=10.0, help="seconds per request")
    send.add_argument("--max-retries", type=int, default=3, help="retries on transient errors")
    send.add_argument(
        "--strict", action="store_true", help="fail on a bad match key instead of dropping it"
    )
    send.add_argument(
        "--dry-run",
        action="store_true",
        help="print the payload that would be sent, send nothing (no token needed)",
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
    ev.add_argument("--url", help="event_source_url / page.url (required for website events)")
    ev.add_argument("--referrer", help="referrer URL")
    ev.add_argument("--action-source", help="Meta action_source (default website)")
    ev.add_argument("--limited-data-use", action="store_true", help="Meta LDU / TikTok LDU flag")
    ev.add_argument("--opt-out", action="store_true", help="Meta opt_out")
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
    ev.add_argument("--order-id")
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
        help="run the local fake of both ad APIs (127.0.0.1 only)",
        description=(
            "Serve the faithful local fake of Meta CAPI (POST /vNN.0/{pixel}/events) and TikTok "
            "EAPI (POST /open_api/v1.3/event/track/) until Ctrl-C, one log line per request."
        ),
    )
    fake.add_argument("--host", default="127.0.0.1", help="loopback address (default 127.0.0.1)")
    fake.add_argument("--port", type=int, default=8765, help="default 8765; 0 = any free port")
    fake.add_argument("--meta-token", action="append", help="accepted Meta token (default: any)")
    fake.add_argument(
        "--tiktok-token", action="append", help="accepted TikTok token (default: any)"
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
        help="send a sample funnel to both platforms through the local fake",
        description=(
            "Start the local fake in-process, send a five-event funnel (PageView, ViewContent, "
            "AddToCart, InitiateCheckout, Purchase) for a realistic shopper to Meta and TikTok "
            "with the real senders, and show what was sent (hashed) and what came back. Exits 0 "
            "only if both platforms accepted every event."
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
        help="inject a Meta 503 and a TikTok 429 to show the retries",
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
