"""Where the bytes path's time goes, by stage, for one event of a 1,000-event batch.

Three subcommands, all over the benchmark's shoppers (``benches/shoppers.py``):

* ``loop N``: encode the 1,000-event batch N times (the target for ``perf record``), then print
  the median µs per event of 15 timed rounds of 20 encodes;
* ``perf PERF_DATA US_PER_EVENT``: group ``perf report``'s per-function samples of such a run by
  stage, and turn the shares into ns per event;
* ``callgrind``: run the loop 3 and 0 times under valgrind's callgrind and print the difference
  per event, grouped the same way (valgrind's CPU has no SHA-NI: digests run in software there).

    perf record -o perf.data python benches/profile_bytes.py loop 600
    python benches/profile_bytes.py perf perf.data 3.2
    python benches/profile_bytes.py callgrind
"""

from __future__ import annotations

import os
import re
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

STAGES = [
    ("SHA-256 digests (compression, padding, hex)", r"sha2::|sha256|Hashed::digest|to_hex"),
    ("reading the Python input (dict walk, str/dict C API, first touch of string bytes)",
     r"python::Walk|PyDict_Next|PyUnicode_AsUTF8|PyLong_As|PyFloat_As|"
     r"drop_in_place<convapi::input|drop_in_place<alloc::vec::Vec<\(alloc::borrow::Cow|"
     r"push_entry|push_item|KnownKeys|Input::is_empty"),
    ("phone numbers (E.164 parser, region patterns)", r"phone::|regex"),
    ("other normalisers", r"normalize::|geo::|unicode|to_lower|to_lowercase|trim_matches|"
     r"alphabetic"),
    ("event model (validation, key dispatch, match-key lists)",
     r"event::|smallvec|canonical_event_name|eq_by|net::parser"),
    ("writing the JSON", r"out::|zmij|itoa|JsonWriter|ObjList|write_number|meta::|serde"),
    ("allocator (mimalloc)", r"mi_|_mi_"),
    ("copies (the body into the bytes object, its fresh pages)",
     r"memcpy|memmove|memcmp|memset|PyBytes|bytes|clear_page|\[k\]"),
]


def stage_of(name: str) -> str:
    for stage, pattern in STAGES:
        if re.search(pattern, name):
            return stage
    return "other (the interpreter, setup)"


def loop(n: int) -> None:
    import convapi
    import shoppers

    now = int(time.time())
    events = [shoppers.convapi_event(s, now) for s in shoppers.shoppers(1000)]
    convapi.encode_meta_payload(events)
    for _ in range(n):
        convapi.encode_meta_payload(events)
    if os.environ.get("PROFILE_BYTES_QUIET"):
        return
    rounds = []
    for _ in range(15):
        start = time.perf_counter()
        for _ in range(20):
            convapi.encode_meta_payload(events)
        rounds.append((time.perf_counter() - start) / 20 / 1000 * 1e6)
    print(f"{statistics.median(rounds):.2f} µs/event (median of 15 rounds of 20 batches)")


def report(shares: dict[str, float], unit: str, scale: float) -> None:
    for stage, _ in STAGES + [("other (the interpreter, setup)", "")]:
        value = shares.get(stage, 0.0)
        print(f"{value * scale:10.1f} {unit}  {stage}")


def perf(data: str, us: float) -> None:
    out = subprocess.run(["perf", "report", "-i", data, "--no-children", "--stdio",
                          "--sort", "sym"], capture_output=True, text=True, check=True).stdout
    shares: dict[str, float] = {}
    for line in out.splitlines():
        m = re.match(r"\s+([\d.]+)%\s+(\[.\])\s+(.*)$", line)
        if m:
            stage = stage_of(f"{m.group(2)} {m.group(3)}")
            shares[stage] = shares.get(stage, 0.0) + float(m.group(1))
    print("share of samples, and ns per event at", us, "µs/event:")
    for stage, _ in STAGES + [("other (the interpreter, setup)", "")]:
        pct = shares.get(stage, 0.0)
        print(f"{pct:5.1f}%  {pct / 100 * us * 1000:6.0f} ns  {stage}")


def callgrind() -> None:
    def functions(path: str) -> dict[str, int]:
        out = subprocess.run(["callgrind_annotate", "--inclusive=no", "--threshold=100", path],
                             capture_output=True, text=True, check=True).stdout
        counts: dict[str, int] = {}
        for line in out.splitlines():
            m = re.match(r"\s*([\d,]+) \([^)]*\)\s+(.*)$", line)
            if m:
                name = re.sub(r"\s*\[.*\]$", "", m.group(2))
                counts[name] = counts.get(name, 0) + int(m.group(1).replace(",", ""))
        return counts

    runs = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in (3, 0):
            out = os.path.join(tmp, f"cg.{n}")
            subprocess.run(["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
                            sys.executable, os.path.abspath(__file__), "loop", str(n)],
                           env={**os.environ, "PROFILE_BYTES_QUIET": "1"}, check=True,
                           capture_output=True)
            runs[n] = functions(out)
    total = (runs[3]["PROGRAM TOTALS"] - runs[0]["PROGRAM TOTALS"]) / 3000
    shares: dict[str, float] = {}
    for name, count in runs[3].items():
        if name != "PROGRAM TOTALS":
            stage = stage_of(name)
            shares[stage] = shares.get(stage, 0.0) + (count - runs[0].get(name, 0)) / 3000
    print(f"{total:,.0f} instructions per event; by stage (thousands):")
    report(shares, "k", 1 / 1000)


def main() -> int:
    if len(sys.argv) >= 3 and sys.argv[1] == "loop":
        loop(int(sys.argv[2]))
    elif len(sys.argv) == 4 and sys.argv[1] == "perf":
        perf(sys.argv[2], float(sys.argv[3]))
    elif len(sys.argv) == 2 and sys.argv[1] == "callgrind":
        callgrind()
    else:
        print(__doc__, file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
