"""Benchmark: one fully matched Purchase per platform, convapi against plain Python.

For each platform of ``convapi.PLATFORMS`` (Meta CAPI, TikTok Events API, Pinterest Conversions
API, GA4 Measurement Protocol), the body of one request carrying one fully matched Purchase
(``benches/shoppers.py``: distinct shoppers, every match key, phones of FR, US, DE and GB in
their usual spellings; a GA4 ``client_id`` added from a ``_ga`` cookie value), built and
serialised three ways in the same run:

* ``python``         a plain-Python implementation of the same rules, written below (hashlib +
                     json): the same normalisation (email trimmed and lowercased, GA4's gmail dot
                     rule; phone; first/last name; city; state with the US and Canadian tables;
                     zip, US first 5 digits; country; gender; date of birth; external id), a
                     64-hex value passed through, the same checks of the event (name, age,
                     website URL, Meta's user agent, value and currency, GA4's client_id and
                     transaction id, Pinterest's event_id and identity), the same body shape and
                     names per platform, then ``json.dumps`` to compact UTF-8 bytes;
* ``convapi dict``   the same ``json.dumps`` of ``convapi.build_<platform>_payload([event])``;
* ``convapi bytes``  ``convapi.encode_<platform>_payload([event])`` (what the senders post).

The baseline does less than convapi in places, so it is if anything flattered:
its phone rule is "strip everything but digits; a ``+``/``00`` number keeps its country code,
a national one loses its leading zeros and gets the shopper's country calling code (a small
table)": no validation against each country's numbering plan as convapi's E.164 parser does
(an impossible number is sent, not dropped); countries must be given as alpha-2 codes (no
alpha-3 or English names); dates of birth only as YYYY-MM-DD or YYYYMMDD; and it keeps no cache,
where convapi reuses the digests of repeated values (country, city, state, zip, gender).

Every call builds its input from the shopper's raw values (the neutral event dict convapi takes,
the same dict for the baseline), cycling through 256 shoppers. Before timing, the script checks
for every one of those shoppers and every platform that the baseline's body equals convapi's as
JSON (and that ``encode_`` and ``build_`` agree), so both sides do the same job; it stops if
they differ. Rounds are interleaved, the order rotating, so machine load hits all alike; the
table gives the median µs per event, events/s and the ratio to the baseline. The process is
pinned to one CPU (``--cpu``), so events/s is per core.

    python benches/bench_platforms.py [--rounds 21] [--quick] [--cpu N]
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import json
import os
import re
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import convapi  # noqa: E402
import shoppers as shop  # noqa: E402

TIKTOK_PIXEL = "CBENCH0123456789ABCD"
MAX_AGE = 7 * 86400

# ---- the plain-Python baseline: shared normalisers ---------------------------------------------

_HEX64 = re.compile(r"[0-9a-fA-F]{64}").fullmatch
_EMAIL = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+").fullmatch

#: Country calling codes for national numbers (the baseline's whole phone knowledge).
CALLING_CODES = {
    "us": "1", "ca": "1", "gb": "44", "fr": "33", "de": "49", "es": "34", "it": "39",
    "nl": "31", "be": "32", "ch": "41", "at": "43", "pt": "351", "ie": "353", "se": "46",
    "dk": "45", "no": "47", "fi": "358", "pl": "48", "au": "61", "br": "55", "mx": "52",
}  # fmt: skip

US_STATES = {
    "alabama": "al", "alaska": "ak", "arizona": "az", "arkansas": "ar", "california": "ca",
    "colorado": "co", "connecticut": "ct", "delaware": "de", "districtofcolumbia": "dc",
    "florida": "fl", "georgia": "ga", "hawaii": "hi", "idaho": "id", "illinois": "il",
    "indiana": "in", "iowa": "ia", "kansas": "ks", "kentucky": "ky", "louisiana": "la",
    "maine": "me", "maryland": "md", "massachusetts": "ma", "michigan": "mi", "minnesota": "mn",
    "mississippi": "ms", "missouri": "mo", "montana": "mt", "nebraska": "ne", "nevada": "nv",
    "newhampshire": "nh", "newjersey": "nj", "newmexico": "nm", "newyork": "ny",
    "northcarolina": "nc", "northdakota": "nd", "ohio": "oh", "oklahoma": "ok", "oregon": "or",
    "pennsylvania": "pa", "rhodeisland": "ri", "southcarolina": "sc", "southdakota": "sd",
    "tennessee": "tn", "texas": "tx", "utah": "ut", "vermont": "vt", "virginia": "va",
    "washington": "wa", "westvirginia": "wv", "wisconsin": "wi", "wyoming": "wy",
}  # fmt: skip
CA_PROVINCES = {
    "alberta": "ab", "britishcolumbia": "bc", "manitoba": "mb", "newbrunswick": "nb",
    "newfoundlandandlabrador": "nl", "novascotia": "ns", "ontario": "on",
    "princeedwardisland": "pe", "quebec": "qc", "saskatchewan": "sk",
    "northwestterritories": "nt", "nunavut": "nu", "yukon": "yt",
}  # fmt: skip
STATE_TABLES = {
    country: {**table, **{code: code for code in table.values()}}
    for country, table in (("us", US_STATES), ("ca", CA_PROVINCES))
}
GENDERS = {"f": "f", "female": "f", "w": "f", "woman": "f", "m": "m", "male": "m", "man": "m"}


def sha256(value: str) -> str:
    """The platforms' digest: SHA-256 hex of the UTF-8 value; a 64-hex value passes through."""
    if _HEX64(value):
        return value.lower()
    return hashlib.sha256(value.encode()).hexdigest()


def email(value: str) -> str | None:
    out = value.strip().lower()
    return out if _EMAIL(out) else None


def phone_e164(value: str, country: str | None) -> str | None:
    """``+`` and digits: the simple rule (see the module docstring), no numbering-plan check."""
    text = value.strip()
    digits = "".join(c for c in text if "0" <= c <= "9")
    if text.startswith("+"):
        pass
    elif text.startswith("00"):
        digits = digits[2:]
    elif country in CALLING_CODES:
        digits = CALLING_CODES[country] + digits.lstrip("0")
    else:
        return None
    return "+" + digits if 8 <= len(digits) <= 15 else None


def name(value: str) -> str | None:
    """Lowercase, letters and digits kept, punctuation dropped, whitespace runs one space."""
    words = ("".join(c for c in w if c.isalnum()) for w in value.lower().split())
    return " ".join(w for w in words if w) or None


def letters(value: str) -> str | None:
    return "".join(c for c in value.lower() if c.isalpha()) or None


def letters_digits(value: str) -> str | None:
    return "".join(c for c in value.lower() if c.isalnum()) or None


def state(value: str, country: str | None) -> str | None:
    if country in STATE_TABLES:
        return STATE_TABLES[country].get(letters(value) or "")
    return letters_digits(value)


def zip_code(value: str, country: str | None) -> str | None:
    text = value.strip()
    if country == "us":
        head = re.match(r"\d{5}", text)
        return head.group(0) if head else None
    return letters_digits(text)


def country_code(value: str) -> str | None:
    out = value.strip().lower()
    return out if len(out) == 2 and out.isalpha() and out.isascii() else None


def gender(value: str) -> str | None:
    return GENDERS.get(value.strip().lower())


def date_of_birth(value: str) -> str | None:
    text = value.strip()
    try:
        day = (
            dt.date(int(text[:4]), int(text[4:6]), int(text[6:]))
            if len(text) == 8 and text.isdigit()
            else dt.date.fromisoformat(text)
        )
    except ValueError:
        return None
    return f"{day:%Y%m%d}" if 1900 <= day.year <= dt.date.today().year else None


def external_id(value: Any) -> str | None:
    return str(value).strip() or None


def keys(user: dict[str, Any]) -> dict[str, str]:
    """The normalised match keys of a neutral ``user`` (phone in E.164 with its ``+``)."""
    country = country_code(user["country"]) if user.get("country") else None
    rules: list[tuple[str, Callable[[Any], str | None]]] = [
        ("email", email),
        ("phone", lambda v: phone_e164(v, country)),
        ("first_name", name),
        ("last_name", name),
        ("gender", gender),
        ("date_of_birth", date_of_birth),
        ("city", letters),
        ("state", lambda v: state(v, country)),
        ("zip", lambda v: zip_code(v, country)),
        ("country", lambda _v: country),
        ("external_id", external_id),
    ]
    out = {}
    for field, rule in rules:
        raw = user.get(field)
        if raw is None or raw == "":
            continue
        value = raw.strip().lower() if isinstance(raw, str) and _HEX64(raw.strip()) else rule(raw)
        if value:
            out[field] = value
    return out


def check_event(event: dict[str, Any], now: int) -> None:
    if not event.get("event_name"):
        raise ValueError("event_name is required")
    if event["event_time"] < now - MAX_AGE:
        raise ValueError("event_time is older than 7 days")
    if event.get("action_source", "website") == "website" and not event.get("event_source_url"):
        raise ValueError("event_source_url is required for website events")
    custom = event.get("custom", {})
    if event["event_name"] == "Purchase":
        if not isinstance(custom.get("value"), int | float):
            raise ValueError("custom.value must be a number")
        if not re.fullmatch(r"[A-Z]{3}", custom.get("currency", "")):
            raise ValueError("custom.currency must be ISO 4217")


def event_time(event: dict[str, Any], now: int) -> int:
    return min(int(event["event_time"]), now)


def decimal(value: float) -> str:
    """Money as Pinterest takes it: a decimal string (``20.0`` -> ``"20"``)."""
    text = repr(float(value))
    return text[:-2] if text.endswith(".0") else text


def dumps(body: Any) -> bytes:
    return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode()


# ---- the plain-Python baseline: one body per platform -----------------------------------------

META_KEYS = (
    ("email", "em"), ("phone", "ph"), ("first_name", "fn"), ("last_name", "ln"),
    ("gender", "ge"), ("date_of_birth", "db"), ("city", "ct"), ("state", "st"), ("zip", "zp"),
    ("country", "country"), ("external_id", "external_id"),
)  # fmt: skip


def meta_user_data(user: dict[str, Any], k: dict[str, str]) -> dict[str, Any]:
    """Meta's and Pinterest's hashed keys, lists of digests; phones as digits without ``+``."""
    out: dict[str, Any] = {}
    for field, key in META_KEYS:
        if field in k:
            value = k[field].removeprefix("+")  # a given digest has no '+' to drop
            out[key] = [sha256(value)]
    return out


def python_meta(event: dict[str, Any], now: int) -> bytes:
    check_event(event, now)
    user, custom = event["user"], event["custom"]
    if not user.get("client_user_agent"):
        raise ValueError("user.client_user_agent is required for website events")
    user_data = meta_user_data(user, keys(user))
    for key in ("client_ip_address", "client_user_agent", "fbc", "fbp"):
        if user.get(key):
            user_data[key] = user[key]
    body = {"data": [{
        "event_name": event["event_name"],
        "event_time": event_time(event, now),
        "event_id": event["event_id"],
        "event_source_url": event["event_source_url"],
        "action_source": event.get("action_source", "website"),
        "user_data": user_data,
        "custom_data": {
            "value": custom["value"],
            "currency": custom["currency"],
            "contents": [
                {"id": c["id"], "quantity": c["quantity"], "item_price": c["item_price"],
                 "title": c["title"]}
                for c in custom["contents"]
            ],
            "content_type": custom["content_type"],
            "num_items": custom["num_items"],
            "order_id": custom["order_id"],
        },
    }]}  # fmt: skip
    return dumps(body)


def python_tiktok(event: dict[str, Any], now: int) -> bytes:
    check_event(event, now)
    user, custom = event["user"], event["custom"]
    k = keys(user)
    tt_user: dict[str, Any] = {}
    for field in ("email", "phone", "external_id"):
        if field in k:
            tt_user[field] = [sha256(k[field])]  # TikTok hashes the phone with its '+'
    tt_user["ip"] = user["client_ip_address"]
    tt_user["user_agent"] = user["client_user_agent"]
    body = {
        "event_source": "web",
        "event_source_id": TIKTOK_PIXEL,
        "data": [{
            "event": event["event_name"],
            "event_time": event_time(event, now),
            "event_id": event["event_id"],
            "user": tt_user,
            "properties": {
                "contents": [
                    {"content_id": c["id"], "content_name": c["title"], "price": c["item_price"],
                     "quantity": c["quantity"]}
                    for c in custom["contents"]
                ],
                "content_type": custom["content_type"],
                "currency": custom["currency"],
                "value": custom["value"],
                "num_items": custom["num_items"],
                "order_id": custom["order_id"],
            },
            "page": {"url": event["event_source_url"]},
        }],
    }  # fmt: skip
    return dumps(body)


PINTEREST_NAMES = {"Purchase": "checkout", "AddToCart": "add_to_cart", "PageView": "page_visit"}


def python_pinterest(event: dict[str, Any], now: int) -> bytes:
    check_event(event, now)
    user, custom = event["user"], event["custom"]
    if not event.get("event_id"):
        raise ValueError("Pinterest needs event_id")
    k = keys(user)
    if "email" not in k and not (user.get("client_ip_address") and user.get("client_user_agent")):
        raise ValueError("Pinterest needs an email, or the IP address and the user agent")
    user_data = meta_user_data(user, k)
    user_data["client_ip_address"] = user["client_ip_address"]
    user_data["client_user_agent"] = user["client_user_agent"]
    body = {"data": [{
        "event_name": PINTEREST_NAMES.get(event["event_name"], "custom"),
        "action_source": "web",
        "event_time": event_time(event, now),
        "event_id": event["event_id"],
        "event_source_url": event["event_source_url"],
        "user_data": user_data,
        "custom_data": {
            "currency": custom["currency"],
            "value": decimal(custom["value"]),
            "content_ids": [c["id"] for c in custom["contents"]],
            "contents": [
                {"id": c["id"], "item_price": decimal(c["item_price"]),
                 "quantity": c["quantity"], "item_name": c["title"]}
                for c in custom["contents"]
            ],
            "num_items": custom["num_items"],
            "order_id": custom["order_id"],
        },
    }]}  # fmt: skip
    return dumps(body)


def ga4_client_id(value: str) -> str | None:
    """``GA1.1.N.T`` (the ``_ga`` cookie) or ``N.T`` -> ``N.T``."""
    parts = value.strip().split(".")
    if len(parts) == 2 or (len(parts) >= 4 and re.fullmatch(r"GA\d+", parts[0])):
        a, b = parts[-2:]
        if a.isdigit() and b.isdigit():
            return f"{a}.{b}"
    return None


def ga4_email(value: str) -> str:
    local, _, domain = value.rpartition("@")
    if domain in ("gmail.com", "googlemail.com"):
        return local.replace(".", "") + "@" + domain
    return value


def ga4_name(value: str) -> str | None:
    """Google's name rule on top of the shared one: digits go too."""
    shared = name(value) or ""
    return " ".join("".join(c for c in shared if not c.isnumeric()).split()) or None


def ga4_place(value: str) -> str | None:
    """Google's city and region rule: letters and inner spaces, lowercase."""
    return " ".join("".join(c for c in value.lower() if c.isalpha() or c.isspace()).split()) or None


def ga4_postal(value: str) -> str | None:
    return value.replace(".", "").replace("~", "").strip() or None


def python_ga4(event: dict[str, Any], now: int) -> bytes:
    check_event(event, now)
    user, custom = event["user"], event["custom"]
    client_id = ga4_client_id(user.get("client_id") or "")
    if client_id is None:
        raise ValueError("user.client_id is required by GA4")
    if not custom.get("order_id"):
        raise ValueError("custom.order_id is required for a GA4 purchase")
    k = keys(user)
    user_data: dict[str, Any] = {}
    if "email" in k:
        user_data["sha256_email_address"] = [sha256(ga4_email(k["email"]))]
    if "phone" in k:
        user_data["sha256_phone_number"] = [sha256(k["phone"])]
    address: dict[str, str] = {}
    for field in ("first_name", "last_name"):
        normalised = ga4_name(user[field]) if user.get(field) else None
        if normalised:
            address[f"sha256_{field}"] = sha256(normalised)
    for key, raw, rule in (("city", user.get("city"), ga4_place),
                           ("region", user.get("state"), ga4_place),
                           ("postal_code", user.get("zip"), ga4_postal)):
        value = rule(raw) if raw else None
        if value:
            address[key] = value
    if "country" in k:
        address["country"] = k["country"].upper()
    if address:
        user_data["address"] = [address]
    body: dict[str, Any] = {"client_id": client_id}
    if user.get("external_id"):
        body["user_id"] = str(user["external_id"])
    if user_data:
        body["user_data"] = user_data
    body["events"] = [{
        "name": "purchase",
        "timestamp_micros": event_time(event, now) * 1_000_000,
        "params": {
            "transaction_id": custom["order_id"],
            "currency": custom["currency"],
            "value": custom["value"],
            "items": [
                {"item_id": c["id"], "item_name": c["title"], "price": c["item_price"],
                 "quantity": c["quantity"]}
                for c in custom["contents"]
            ],
            "page_location": event["event_source_url"],
        },
    }]  # fmt: skip
    return dumps(body)


BASELINES: dict[str, Callable[[dict[str, Any], int], bytes]] = {
    "meta": python_meta,
    "tiktok": python_tiktok,
    "pinterest": python_pinterest,
    "ga4": python_ga4,
}

# ---- the run ----------------------------------------------------------------------------------


def platform_options(platform: str) -> dict[str, Any]:
    return {"pixel_code": TIKTOK_PIXEL} if platform == "tiktok" else {}


def neutral_event(s: dict[str, Any], now: int) -> dict[str, Any]:
    """shoppers.py's Purchase of shopper ``s``, with the GA4 client id of a ``_ga`` cookie."""
    event = shop.convapi_event(s, now)
    event["user"]["client_id"] = f"GA1.1.{1_000_000_000 + s['i'] * 7919}.{1_700_000_000 + s['i']}"
    return event


def first_difference(a: Any, b: Any, path: str = "") -> str:
    if isinstance(a, dict) and isinstance(b, dict):
        for key in sorted(set(a) | set(b)):
            if key not in a or key not in b:
                return f"{path}.{key}: only in {'convapi' if key in a else 'the baseline'}"
            if a[key] != b[key]:
                return first_difference(a[key], b[key], f"{path}.{key}")
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            if x != y:
                return first_difference(x, y, f"{path}[{i}]")
    return f"{path}: convapi {a!r}, baseline {b!r}"


def check_same_job(pool: list[dict[str, Any]], now: int) -> str | None:
    """None if, for every shopper and platform, the three bodies are equal as JSON."""
    for platform in convapi.PLATFORMS:
        options = platform_options(platform)
        for s in pool:
            event = neutral_event(s, now)
            built = convapi.build_payload(platform, [event], **options)
            encoded = json.loads(convapi.encode_payload(platform, [event], **options))
            if encoded != built:
                return f"{platform}, shopper {s['i']}: encode_ and build_ differ"
            ours = json.loads(BASELINES[platform](event, now))
            if ours != built:
                return (f"{platform}, shopper {s['i']}: the baseline differs from convapi at "
                        f"{first_difference(built, ours)}")
    return None


def comparable_shoppers(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The first ``n`` shoppers whose phone convapi takes, and those skipped before them.

    shoppers.py draws random national digits, and a few of them are not possible numbers in
    their country (e.g. French mobiles 06 39 ..., 06 94 ...): convapi's E.164 parser drops
    them, the baseline's simple rule would send them, so their bodies differ by ``ph``. The
    benchmark compares where the simple rule gives the same result.
    """
    kept: list[dict[str, Any]] = []
    skipped: list[dict[str, Any]] = []
    for s in shop.shoppers(4 * n):
        try:
            convapi.normalize("phone", s["phone"], s["country"])
        except convapi.ValidationError:
            skipped.append(s)
        else:
            kept.append(s)
            if len(kept) == n:
                break
    return kept, skipped


def timed(fn: Callable[[], Any], calls: int) -> float:
    """Seconds per call of ``fn`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run(contenders: list[tuple[str, Callable[[], Any], int]], rounds: int) -> dict[str, float]:
    """Median µs per call of each contender, rounds interleaved, order rotating."""
    for _, fn, _ in contenders:
        fn()  # warm-up: lazy tables, each region's phone patterns
    samples: dict[str, list[float]] = {key: [] for key, _, _ in contenders}
    for r in range(rounds):
        shift = r % len(contenders)
        for key, fn, calls in contenders[shift:] + contenders[:shift]:
            samples[key].append(timed(fn, calls) * 1e6)
    return {key: statistics.median(s) for key, s in samples.items()}


IMPLEMENTATIONS = ("python", "convapi dict", "convapi bytes")


def contenders_for(
    platform: str, pool: list[dict[str, Any]], now: int, scale: int
) -> list[tuple[str, Callable[[], Any], int]]:
    options = platform_options(platform)
    baseline = BASELINES[platform]
    build = getattr(convapi, f"build_{platform}_payload")
    encode = getattr(convapi, f"encode_{platform}_payload")
    cursor = dict.fromkeys(IMPLEMENTATIONS, 0)

    def next_event(key: str) -> dict[str, Any]:
        cursor[key] = (cursor[key] + 1) % len(pool)
        return neutral_event(pool[cursor[key]], now)

    def one_python() -> bytes:
        return baseline(next_event("python"), now)

    def one_dict() -> bytes:
        return dumps(build([next_event("convapi dict")], **options))

    def one_bytes() -> bytes:
        return encode([next_event("convapi bytes")], **options)

    return [
        (f"{platform}/python", one_python, 800 // scale),
        (f"{platform}/convapi dict", one_dict, 2000 // scale),
        (f"{platform}/convapi bytes", one_bytes, 2000 // scale),
    ]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="a tenth of the calls per round")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1,
                        help="CPU to pin the process to (default: the last)")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    scale = 10 if args.quick else 1
    now = int(time.time())
    pool, skipped = comparable_shoppers(256)

    problem = check_same_job(pool, now)
    if problem is not None:
        print(f"not the same job, nothing timed: {problem}", file=sys.stderr)
        return 1

    contenders = [c for p in convapi.PLATFORMS for c in contenders_for(p, pool, now, scale)]
    medians = run(contenders, args.rounds)
    sizes = {p: len(convapi.encode_payload(p, [neutral_event(pool[0], now)],
                                           **platform_options(p)))
             for p in convapi.PLATFORMS}  # fmt: skip

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"convapi {convapi.__version__}, Python {sys.version.split()[0]}, pinned to CPU "
          f"{args.cpu}, median of {args.rounds} interleaved rounds"
          f"{' (--quick)' if args.quick else ''}, load average {load:.1f}")
    print(f"checked first: for {len(pool)} shoppers x {len(convapi.PLATFORMS)} platforms the "
          "baseline's body equals convapi's as JSON")
    if skipped:
        print(f"  ({len(skipped)} shoppers skipped: phones convapi refuses as impossible and "
              f"the baseline would send: {', '.join(s['phone'] for s in skipped)})")
    print("one fully matched Purchase per call, input built in the call, body serialised")
    print(f"  {'platform':<10} {'implementation':<15} {'µs/event':>10} {'events/s':>10} "
          f"{'vs python':>10} {'body bytes':>11}")
    for platform in convapi.PLATFORMS:
        base = medians[f"{platform}/python"]
        for impl in IMPLEMENTATIONS:
            us = medians[f"{platform}/{impl}"]
            print(f"  {platform:<10} {impl:<15} {us:>10.2f} {1e6 / us:>10,.0f} "
                  f"{base / us:>9.1f}x {sizes[platform]:>11,}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
