"""Benchmark: sending Meta CAPI events over loopback, convapi against plain `requests` + `json`.

Contenders, all hitting the SAME local server (a separate process, so that the server never
competes with the client for this interpreter's GIL):

* ``convapi``            ``MetaSender.send(events)``: normalise + hash + build in Rust, one
                         pooled keep-alive connection, response parsed and checked.
* ``requests+hashlib``   the baseline: the same normalisation and SHA-256 hashing done in
                         Python (hashlib), the same payload built as dicts (checked identical
                         to convapi's at start-up), ``json.dumps``, ``Session.post`` (keep-alive),
                         ``resp.json()`` and the same ``events_received`` check.
* ``requests prebuilt``  ``Session.post`` of the prebuilt, identical, already serialised body:
                         transport only, the floor for any Python client.

(a) round trip of one fully matched Purchase; (b) events/s with 1,000-event batches.
Rounds are interleaved (each round times every contender once, in rotating order) so that
background load hits them alike; medians are reported.

Servers:
* ``fast``  a minimal asyncio HTTP/1.1 server: reads the body, counts the events with
            ``bytes.count`` and answers a Graph-shaped success in one write. Used for the
            headline numbers because the fake's per-event Python validation dominates batches.
* ``fake``  ``convapi.testing.FakeAdServer`` (full validation), shown for comparison only:
            it writes each answer in two send() calls without TCP_NODELAY, which costs Python
            clients a ~40 ms Nagle/delayed-ACK stall per request (reqwest is not affected).

A third batch table drops the phone numbers from both sides: convapi validates phones with
libphonenumber metadata (the ``phonenumber`` crate), the Python baseline only strips non-digits
(as the official SDK does), so that table isolates the rest of the pipeline.

Run: ``python benches/bench_send.py [--quick]`` (needs ``requests``: the ``bench`` extra).
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import os
import platform
import re
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

PIXEL = "1234567890"
TOKEN = "EAAB-bench-token-0123456789"
API_VERSION = "v25.0"
NOW = int(time.time())


# --------------------------------------------------------------------------------------------
# Servers (run in a child process: `bench_send.py --serve fast|fake`)
# --------------------------------------------------------------------------------------------


async def _fast_handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    sock = writer.get_extra_info("socket")
    if sock is not None:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            match = re.search(rb"(?i)\r\ncontent-length:\s*(\d+)", head)
            body = await reader.readexactly(int(match.group(1))) if match else b""
            received = body.count(b'"event_name"')
            if received:
                payload = (
                    b'{"events_received":%d,"messages":[],"fbtrace_id":"AbenchTraceId0123456789"}'
                    % received
                )
                status = b"200 OK"
            else:
                payload = b'{"error":{"message":"no events","type":"OAuthException","code":100}}'
                status = b"400 Bad Request"
            writer.write(
                b"HTTP/1.1 %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n"
                b"Connection: keep-alive\r\n\r\n%s" % (status, len(payload), payload)
            )
            await writer.drain()
    except (asyncio.IncompleteReadError, ConnectionError, asyncio.LimitOverrunError):
        pass
    finally:
        writer.close()


async def _serve_fast() -> None:
    server = await asyncio.start_server(_fast_handle, "127.0.0.1", 0, limit=1 << 20)
    port = server.sockets[0].getsockname()[1]
    print(port, flush=True)
    async with server:
        await server.serve_forever()


def _serve(kind: str) -> None:
    if kind == "fast":
        asyncio.run(_serve_fast())
        return
    from convapi.testing import FakeAdServer

    fake = FakeAdServer(meta_tokens={TOKEN})
    fake.start()
    print(fake.port, flush=True)
    try:
        sys.stdin.read()  # until the parent closes our stdin
    finally:
        fake.stop()


class Server:
    """A server child process; ``base_url`` once started."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.proc = subprocess.Popen(
            [sys.executable, os.path.abspath(__file__), "--serve", kind],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert self.proc.stdout is not None
        port = int(self.proc.stdout.readline())
        self.base_url = f"http://127.0.0.1:{port}"

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.terminate()
        self.proc.wait(timeout=10)


# --------------------------------------------------------------------------------------------
# Events and the Python baseline (normalise + hash like the Meta spec, same output as convapi)
# --------------------------------------------------------------------------------------------


def neutral_event(i: int, phone: bool = True) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event_name": "Purchase",
        "event_id": f"order-{i}",
        "event_time": NOW,
        "event_source_url": "https://shop.example.com/shop/confirmation",
        "user": {
            "email": f"  John.Doe{i}@Example.COM ",
            "phone": f"+1 (650) 555-{1000 + i % 9000}",
            "first_name": "John",
            "last_name": "Doe",
            "gender": "m",
            "date_of_birth": "1990-02-14",
            "city": "Menlo Park",
            "state": "CA",
            "zip": "94025",
            "country": "US",
            "external_id": f"cust-{i}",
            "client_ip_address": "203.0.113.7",
            "client_user_agent": "Mozilla/5.0 (X11; Linux x86_64)",
            "fbc": "fb.1.1700000000000.AbCdEf",
            "fbp": "fb.1.1700000000000.123456789",
        },
        "custom": {
            "value": "19.99",
            "currency": "usd",
            "content_ids": ["sku-1"],
            "contents": [{"id": "sku-1", "quantity": 1, "item_price": 19.99}],
            "content_type": "product",
            "order_id": f"SO{i:05d}",
        },
    }
    if not phone:
        del event["user"]["phone"]
    return event


def _h(value: str) -> list[str]:
    return [hashlib.sha256(value.encode()).hexdigest()]


_NOT_LETTERS = re.compile(r"[^a-z]")
_NOT_DIGITS = re.compile(r"\D")


def py_meta_event(ev: dict[str, Any]) -> dict[str, Any]:
    """What a careful pure-Python integration does for the same event (Meta's rules)."""
    u = ev["user"]
    c = ev["custom"]
    user_data = {"em": _h(u["email"].strip().lower())}
    if "phone" in u:
        user_data["ph"] = _h(_NOT_DIGITS.sub("", u["phone"]).lstrip("0"))
    user_data |= {
        "fn": _h(u["first_name"].strip().lower()),
        "ln": _h(u["last_name"].strip().lower()),
        "ge": _h(u["gender"].strip().lower()[:1]),
        "db": _h(_NOT_DIGITS.sub("", u["date_of_birth"])),
        "ct": _h(_NOT_LETTERS.sub("", u["city"].lower())),
        "st": _h(_NOT_LETTERS.sub("", u["state"].lower())),
        "zp": _h(u["zip"].strip().lower().replace(" ", "")[:5]),
        "country": _h(u["country"].strip().lower()),
        "external_id": _h(u["external_id"].strip()),
        "client_ip_address": u["client_ip_address"],
        "client_user_agent": u["client_user_agent"],
        "fbc": u["fbc"],
        "fbp": u["fbp"],
    }
    return {
        "event_name": ev["event_name"],
        "event_time": ev["event_time"],
        "event_id": ev["event_id"],
        "event_source_url": ev["event_source_url"],
        "action_source": ev.get("action_source", "website"),
        "user_data": user_data,
        "custom_data": {
            "value": float(c["value"]),
            "currency": c["currency"].upper(),
            "content_ids": list(c["content_ids"]),
            "contents": [dict(x) for x in c["contents"]],
            "content_type": c["content_type"],
            "order_id": c["order_id"],
        },
    }


class RequestsClient:
    def __init__(self, base_url: str) -> None:
        import requests

        self.session = requests.Session()
        self.url = f"{base_url}/{API_VERSION}/{PIXEL}/events"
        self.headers = {"Content-Type": "application/json", "Accept": "application/json"}

    def post(self, body: bytes, expected: int) -> None:
        resp = self.session.post(self.url, data=body, headers=self.headers, timeout=10)
        answer = resp.json()
        if resp.status_code != 200 or answer.get("events_received") != expected:
            raise RuntimeError(f"unexpected answer {resp.status_code}: {answer}")

    def send(self, events: list[dict[str, Any]]) -> None:
        payload = {"data": [py_meta_event(ev) for ev in events], "access_token": TOKEN}
        self.post(json.dumps(payload, separators=(",", ":")).encode(), len(events))


def check_same_payload(events: list[dict[str, Any]]) -> None:
    import convapi

    ours = convapi.build_meta_payload(events)
    theirs = {"data": [py_meta_event(ev) for ev in events]}
    if ours != theirs:
        raise SystemExit(f"payloads differ:\nconvapi: {ours}\npython:  {theirs}")


# --------------------------------------------------------------------------------------------
# Timing
# --------------------------------------------------------------------------------------------


def interleaved(
    contenders: dict[str, Callable[[], None]], rounds: int, warmup: int
) -> dict[str, tuple[list[float], list[float]]]:
    """Wall and client-process CPU seconds per call, for each contender."""
    names = list(contenders)
    for _ in range(warmup):
        for name in names:
            contenders[name]()
    times: dict[str, tuple[list[float], list[float]]] = {name: ([], []) for name in names}
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            c0 = time.process_time()
            t0 = time.perf_counter()
            contenders[name]()
            wall = time.perf_counter() - t0
            times[name][1].append(time.process_time() - c0)
            times[name][0].append(wall)
    return times


def contenders_for(
    base_url: str, n_events: int, phone: bool = True
) -> dict[str, Callable[[], None]]:
    import convapi

    events = [neutral_event(i, phone) for i in range(n_events)]
    check_same_payload(events)
    sender = convapi.MetaSender(PIXEL, TOKEN, base_url=base_url, max_retries=0)
    client = RequestsClient(base_url)
    prebuilt = json.dumps(
        {"data": [py_meta_event(ev) for ev in events], "access_token": TOKEN},
        separators=(",", ":"),
    ).encode()

    def run_convapi() -> None:
        result = sender.send(events)
        if result.events_received != n_events:
            raise RuntimeError(result)

    return {
        "convapi": run_convapi,
        "requests+hashlib": lambda: client.send(events),
        "requests prebuilt": lambda: client.post(prebuilt, n_events),
    }


BASELINE = "requests+hashlib"


def _fmt(seconds: float) -> str:
    return f"{seconds * 1e6:.0f}us" if seconds < 0.01 else f"{seconds * 1e3:.1f}ms"


def table(
    title: str, times: dict[str, tuple[list[float], list[float]]], n_events: int
) -> list[str]:
    base = statistics.median(times[BASELINE][0])
    base_cpu = statistics.median(times[BASELINE][1])
    rows = [
        title,
        f"  {'client':<19}{'median':>10}{'p10':>10}{'p90':>10}{'events/s':>10}"
        f"{'vs requests':>13}{'client CPU':>12}{'CPU vs req':>12}",
    ]
    for name, (wall, cpu) in times.items():
        med = statistics.median(wall)
        med_cpu = statistics.median(cpu)
        q = statistics.quantiles(wall, n=10)
        rows.append(
            f"  {name:<19}{_fmt(med):>10}{_fmt(q[0]):>10}{_fmt(q[-1]):>10}"
            f"{n_events / med:>10,.0f}{base / med:>12.2f}x{_fmt(med_cpu):>12}"
            f"{base_cpu / med_cpu:>11.2f}x"
        )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--serve", choices=("fast", "fake"), help=argparse.SUPPRESS)
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    args = parser.parse_args()
    if args.serve:
        _serve(args.serve)
        return

    import convapi
    import requests

    k = 4 if args.quick else 1
    plan = [  # (server, events per send, with phone, rounds, warm-up)
        ("fast", 1, True, 1000 // k, 100),
        ("fast", 1000, True, 60 // k, 5),
        ("fast", 1000, False, 40 // k, 3),
        ("fake", 1, True, 300 // k, 30),
        ("fake", 1000, True, 12 // k, 2),
    ]
    print(
        "convapi send benchmark (Meta CAPI, loopback, server in a separate process)\n"
        f"  python {platform.python_version()}, convapi {convapi.__version__}, "
        f"requests {requests.__version__}, {os.cpu_count()} CPUs, "
        f"load avg {os.getloadavg()[0]:.2f} at start\n"
        "  payloads: convapi.build_meta_payload(events) == the Python baseline's, checked\n"
        "  'vs requests' = median(requests+hashlib) / median(client); > 1 = faster than it\n"
        "  'client CPU' = CPU time of this process (all threads) per send, median\n",
        flush=True,
    )
    for kind in ("fast", "fake"):
        server = Server(kind)
        try:
            for srv, n_events, phone, rounds, warmup in plan:
                if srv != kind:
                    continue
                contenders = contenders_for(server.base_url, n_events, phone)
                times = interleaved(contenders, rounds, warmup)
                what = "one Purchase per send" if n_events == 1 else f"{n_events}-event batches"
                if not phone:
                    what += " WITHOUT phone numbers"
                name = "minimal asyncio server" if kind == "fast" else "FakeAdServer"
                rows = table(f"[{name}] {what}, {rounds} rounds", times, n_events)
                print("\n".join(rows) + "\n", flush=True)
        finally:
            server.close()
    print(f"load avg {os.getloadavg()[0]:.2f} at end")
    print(
        "note: FakeAdServer answers with two send() calls (headers, then body) and no\n"
        "TCP_NODELAY, so Python clients (http.client/urllib3) stall ~40 ms per request on\n"
        "Nagle + delayed ACK and reqwest does not; compare clients on the minimal server."
    )

if __name__ == "__main__":
    main()
