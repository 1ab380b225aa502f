"""Benchmark: build, normalise and hash one fully matched Purchase from Python.

convapi (`build_meta_payload`) against the official `facebook-business` SDK
(`Event(...).normalize()`), in the same run, on the same shopper data. Prints the median time
per event for each and the ratio. Run: `python benches/bench_core.py` (needs the `bench` extra).
"""

from __future__ import annotations

import statistics
import sys
import time
import timeit

import convapi

ROUNDS = 31
NOW = int(time.time())

RAW_USER = {
    "email": " Jane.Doe@Example.com ",
    "phone": "+33 6 12 34 56 78",
    "first_name": "Jane",
    "last_name": "Doe",
    "gender": "f",
    "date_of_birth": "19850714",
    "city": "Paris",
    "state": "idf",
    "zip": "75001",
    "country": "FR",
    "external_id": "7",
    "client_ip_address": "203.0.113.5",
    "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
    "fbc": "fb.1.1732000000000.IwAR0abc",
    "fbp": "fb.1.1732000000000.1234567890",
}


def convapi_event() -> dict:
    return {
        "event_name": "Purchase",
        "event_id": "S00042",
        "event_time": NOW,
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "user": dict(RAW_USER),
        "custom": {
            "value": 59.8,
            "currency": "EUR",
            "contents": [{"id": "SKU-1", "quantity": 2, "item_price": 29.9}],
            "content_type": "product",
            "order_id": "S00042",
        },
    }


def bench_convapi() -> None:
    convapi.build_meta_payload([convapi_event()])


def bench_sdk() -> None:
    sdk_event().normalize()


def sdk_event():  # noqa: ANN201 - the SDK's Event (an optional dependency)
    from facebook_business.adobjects.serverside.action_source import ActionSource
    from facebook_business.adobjects.serverside.content import Content
    from facebook_business.adobjects.serverside.custom_data import CustomData
    from facebook_business.adobjects.serverside.event import Event
    from facebook_business.adobjects.serverside.gender import Gender
    from facebook_business.adobjects.serverside.user_data import UserData

    u = RAW_USER
    user = UserData(
        emails=[u["email"]],
        phones=[u["phone"]],
        first_names=[u["first_name"]],
        last_names=[u["last_name"]],
        genders=[Gender.FEMALE],
        dates_of_birth=[u["date_of_birth"]],
        cities=[u["city"]],
        states=[u["state"]],
        zip_codes=[u["zip"]],
        country_codes=[u["country"]],
        external_ids=[u["external_id"]],
        client_ip_address=u["client_ip_address"],
        client_user_agent=u["client_user_agent"],
        fbc=u["fbc"],
        fbp=u["fbp"],
    )
    custom = CustomData(
        value=59.8,
        currency="EUR",
        contents=[Content(product_id="SKU-1", quantity=2, item_price=29.9)],
        content_type="product",
        order_id="S00042",
    )
    return Event(
        event_name="Purchase",
        event_time=NOW,
        event_id="S00042",
        event_source_url="https://shop.example.com/shop/confirmation",
        action_source=ActionSource.WEBSITE,
        user_data=user,
        custom_data=custom,
    )


def interleaved_medians(fns: list, numbers: list[int]) -> list[float]:
    """Median µs per call of each function, rounds interleaved so machine load hits all alike."""
    for fn in fns:
        fn()  # warm-up (imports, lazy tables)
    samples: list[list[float]] = [[] for _ in fns]
    for _ in range(ROUNDS):
        for i, (fn, number) in enumerate(zip(fns, numbers, strict=True)):
            samples[i].append(timeit.timeit(fn, number=number) / number * 1e6)
    return [statistics.median(s) for s in samples]


def main() -> int:
    try:
        import facebook_business
    except ImportError:
        print("facebook-business is not installed: pip install 'convapi[bench]'", file=sys.stderr)
        return 2
    ours, sdk = interleaved_medians([bench_convapi, bench_sdk], [1000, 100])
    print(f"build+normalise+hash one fully matched Purchase, median of {ROUNDS} interleaved rounds")
    print(f"{'implementation':<42} {'median µs/event':>16}")
    print(f"{'convapi ' + convapi.__version__ + ' build_meta_payload':<42} {ours:>16.2f}")
    sdk_name = f"facebook-business {facebook_business.__version__} Event.normalize"
    print(f"{sdk_name:<42} {sdk:>16.2f}")
    print(f"ratio (SDK / convapi): {sdk / ours:.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
