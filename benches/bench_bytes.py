"""Benchmark: request bodies as bytes, against the facebook-business SDK and convapi's dict path.

Three ways to get the body of Meta's ``POST /{version}/{pixel}/events`` for fully matched
Purchases (``benches/shoppers.py``: distinct shoppers, every match key, phones of FR, US, DE and
GB in their usual spellings), in one run, rounds interleaved so machine load hits all alike:

* ``sdk``            ``json.dumps({"data": [Event(...).normalize(), ...]})`` (facebook-business)
* ``convapi dict``   ``json.dumps(convapi.build_meta_payload(events))``
* ``convapi bytes``  ``convapi.encode_meta_payload(events)`` (what the senders post)

Two cases: one event per call, its input built in the call from the shopper's raw values (the
SDK's objects, convapi's dict), cycling through 256 shoppers, with the time of building that
input dict alone as the floor of any implementation taking one; and 1,000-event batches of
prebuilt inputs (a queue's worth: the outbox holds the events already). Prints the median per
event of each, events/s, and the ratios. The process is pinned to one CPU (``--cpu``), so
events/s is per core.

    python benches/bench_bytes.py [--rounds 21] [--quick]    (needs the ``bench`` extra)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import convapi  # noqa: E402
import shoppers as shop  # noqa: E402


def timed(fn: Callable[[], Any], calls: int) -> float:
    """Seconds per call of ``fn`` over ``calls`` calls."""
    start = time.perf_counter()
    for _ in range(calls):
        fn()
    return (time.perf_counter() - start) / calls


def run(contenders: list[tuple[str, Callable[[], Any], int]], rounds: int,
        events_per_call: int) -> dict[str, float]:
    """Median µs per event of each contender, rounds interleaved, order rotating."""
    for _, fn, _ in contenders:
        fn()  # warm-up: imports, lazy tables, each region's phone patterns
    samples: dict[str, list[float]] = {name: [] for name, _, _ in contenders}
    for r in range(rounds):
        order = contenders[r % len(contenders):] + contenders[:r % len(contenders)]
        for name, fn, calls in order:
            samples[name].append(timed(fn, calls) / events_per_call * 1e6)
    return {name: statistics.median(s) for name, s in samples.items()}


def report(title: str, medians: dict[str, float]) -> None:
    sdk = medians["sdk"]
    dict_path = medians["convapi dict"]
    print(title)
    print(f"  {'implementation':<16} {'µs/event':>10} {'events/s':>12} {'vs sdk':>8} "
          f"{'vs dict':>8}")
    for name, us in medians.items():
        print(f"  {name:<16} {us:>10.2f} {1e6 / us:>12,.0f} {sdk / us:>7.1f}x "
              f"{dict_path / us:>7.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=21)
    parser.add_argument("--quick", action="store_true", help="fewer calls per round")
    parser.add_argument("--cpu", type=int, default=(os.cpu_count() or 1) - 1,
                        help="CPU to pin the process to (default: the last)")
    args = parser.parse_args()
    try:
        import facebook_business
    except ImportError:
        print("facebook-business is not installed: pip install 'convapi[bench]'", file=sys.stderr)
        return 2
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    scale = 10 if args.quick else 1
    now = int(time.time())
    people = shop.shoppers(1000)

    # The three give the same body (the SDK differs in what it normalises, not in shape).
    events = [shop.convapi_event(s, now) for s in people]
    if json.loads(convapi.encode_meta_payload(events)) != convapi.build_meta_payload(events):
        print("encode_meta_payload and build_meta_payload disagree", file=sys.stderr)
        return 1

    pool = people[:256]
    cursor = {"sdk": 0, "dict": 0, "bytes": 0}

    def next_shopper(key: str) -> dict[str, Any]:
        cursor[key] = (cursor[key] + 1) % len(pool)
        return pool[cursor[key]]

    def one_sdk() -> str:
        return json.dumps({"data": [shop.sdk_event(next_shopper("sdk"), now).normalize()]})

    def one_dict() -> str:
        return json.dumps(convapi.build_meta_payload([shop.convapi_event(next_shopper("dict"),
                                                                          now)]))

    def one_bytes() -> bytes:
        return convapi.encode_meta_payload([shop.convapi_event(next_shopper("bytes"), now)])

    def input_alone() -> dict[str, Any]:
        # The floor of the one-event case for any implementation taking a dict: building it.
        return shop.convapi_event(next_shopper("input"), now)

    cursor["input"] = 0
    single = run([("sdk", one_sdk, 400 // scale), ("convapi dict", one_dict, 4000 // scale),
                  ("convapi bytes", one_bytes, 4000 // scale),
                  ("input dict only", input_alone, 4000 // scale)], args.rounds, 1)

    sdk_events = [shop.sdk_event(s, now) for s in people]

    def batch_sdk() -> str:
        return json.dumps({"data": [e.normalize() for e in sdk_events]})

    def batch_dict() -> str:
        return json.dumps(convapi.build_meta_payload(events))

    def batch_bytes() -> bytes:
        return convapi.encode_meta_payload(events)

    batches = run([("sdk", batch_sdk, 2), ("convapi dict", batch_dict, 20 // scale or 1),
                   ("convapi bytes", batch_bytes, 40 // scale or 1)], args.rounds, len(events))

    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"convapi {convapi.__version__}, facebook-business {facebook_business.__version__}, "
          f"Python {sys.version.split()[0]}, pinned to CPU {args.cpu}, "
          f"median of {args.rounds} interleaved rounds, load average {load:.1f}")
    report("one fully matched Purchase per call (input built in the call)", single)
    print(f"  15x the SDK leaves {single['sdk'] / 15:.2f} µs for the whole call; building the "
          f"input dict alone takes {single['input dict only']:.2f} µs of it")
    report("1,000-event batches (prebuilt inputs)", batches)
    return 0


if __name__ == "__main__":
    sys.exit(main())
