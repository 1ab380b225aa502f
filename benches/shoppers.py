"""Deterministic fully matched Purchases of distinct shoppers, shared by the benchmarks.

Every shopper has every match key; phones are written in the usual national or international
spellings of four countries (FR, US, DE, GB), emails, names, ids and click ids differ from one
shopper to the next, cities and user agents repeat as they do in a real shop. The same shopper
data feeds convapi (an event dict) and the facebook-business SDK (its objects), so both sides do
the same work on the same values.
"""

from __future__ import annotations

import random
import time
from typing import Any

FIRST = ["Jane", "John", "Émilie", "Lukas", "María", "Oliver", "Chloé", "Noah", "Sofia", "Liam",
         "Hannah", "Mateo"]
LAST = ["Doe", "Smith", "Müller", "García", "Martin", "Brown", "Dubois", "Rossi", "O'Neil",
        "Nowak", "Jensen", "Silva"]
AGENTS = [
    "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0 "
    "Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like "
    "Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0",
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0 Mobile Safari/537.36",
]


def _digits(rng: random.Random, n: int) -> str:
    return "".join(rng.choice("0123456789") for _ in range(n))


def shopper(i: int, rng: random.Random) -> dict[str, Any]:
    """The raw (unnormalised) data of shopper ``i``."""
    first, last = rng.choice(FIRST), rng.choice(LAST)
    kind = i % 4
    if kind == 0:
        country, city, state, zip_code = "FR", "Paris", "Île-de-France", f"750{i % 20 + 1:02d}"
        phone = " ".join(["06"] + [_digits(rng, 2) for _ in range(4)])
    elif kind == 1:
        country, city, state = "US", "San Francisco", "California"
        zip_code = f"941{i % 60 + 2:02d}-{_digits(rng, 4)}"
        phone = f"(650) 555-{_digits(rng, 4)}"
    elif kind == 2:
        country, city, state, zip_code = "DE", "Berlin", "BE", f"10{_digits(rng, 3)}"
        phone = f"+49 151 {_digits(rng, 8)}"
    else:
        country, city, state, zip_code = "GB", "London", "England", f"SW1A {i % 9 + 1}AA"
        phone = f"07400 {_digits(rng, 6)}"
    return {
        "i": i,
        "email": f" {first}.{last}{i}@Example.com ",
        "phone": phone,
        "first_name": first,
        "last_name": last,
        "gender": "f" if i % 2 == 0 else "m",
        "date_of_birth": f"19{50 + i % 50}-0{1 + i % 9}-1{i % 10}",
        "city": city,
        "state": state,
        "zip": zip_code,
        "country": country,
        "external_id": str(1000 + i),
        "client_ip_address": f"203.0.113.{i % 250 + 1}",
        "client_user_agent": AGENTS[i % len(AGENTS)],
        "fbc": f"fb.1.1732000000000.IwAR{_digits(rng, 12)}",
        "fbp": f"fb.1.1732000000000.{_digits(rng, 10)}",
    }


def shoppers(n: int, seed: int = 42) -> list[dict[str, Any]]:
    rng = random.Random(seed)
    return [shopper(i, rng) for i in range(n)]


CONTENTS = [("SKU-{}", 2, 19.9, "Mug"), ("SKU-TEE", 1, 20.0, "T-shirt")]


def convapi_event(s: dict[str, Any], now: int | None = None) -> dict[str, Any]:
    """The neutral event convapi takes for shopper ``s``."""
    i = s["i"]
    now = int(time.time()) if now is None else now
    return {
        "event_name": "Purchase",
        "event_id": f"order-S{i:06d}",
        "event_time": now - i % 3600,
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "user": {
            "email": s["email"], "phone": s["phone"], "first_name": s["first_name"],
            "last_name": s["last_name"], "gender": s["gender"],
            "date_of_birth": s["date_of_birth"], "city": s["city"], "state": s["state"],
            "zip": s["zip"], "country": s["country"], "external_id": s["external_id"],
            "client_ip_address": s["client_ip_address"],
            "client_user_agent": s["client_user_agent"], "fbc": s["fbc"], "fbp": s["fbp"],
        },
        "custom": {
            "value": 59.8,
            "currency": "EUR",
            "contents": [
                {"id": cid.format(i % 50), "quantity": q, "item_price": p, "title": t}
                for cid, q, p, t in CONTENTS
            ],
            "content_type": "product",
            "order_id": f"S{i:06d}",
            "num_items": 3,
        },
    }


def sdk_event(s: dict[str, Any], now: int | None = None) -> Any:
    """The facebook-business SDK's Event for shopper ``s`` (the same raw values)."""
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.content import Content
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.gender import Gender
    from facebook_business.adobjects.serverside.user_data import UserData

    i = s["i"]
    now = int(time.time()) if now is None else now
    user = UserData(
        emails=[s["email"]],
        phones=[s["phone"]],
        first_names=[s["first_name"]],
        last_names=[s["last_name"]],
        genders=[Gender.FEMALE if s["gender"] == "f" else Gender.MALE],
        dates_of_birth=[s["date_of_birth"].replace("-", "")],
        cities=[s["city"]],
        states=[s["state"]],
        zip_codes=[s["zip"]],
        country_codes=[s["country"]],
        external_ids=[s["external_id"]],
        client_ip_address=s["client_ip_address"],
        client_user_agent=s["client_user_agent"],
        fbc=s["fbc"],
        fbp=s["fbp"],
    )
    custom = CustomData(
        value=59.8,
        currency="EUR",
        contents=[Content(product_id=cid.format(i % 50), quantity=q, item_price=p, title=t)
                  for cid, q, p, t in CONTENTS],
        content_type="product",
        order_id=f"S{i:06d}",
        num_items=3,
    )
    return Event(
        event_name="Purchase",
        event_time=now - i % 3600,
        event_id=f"order-S{i:06d}",
        event_source_url="https://shop.example.com/shop/confirmation",
        action_source=ActionSource.WEBSITE,
        user_data=user,
        custom_data=custom,
    )
