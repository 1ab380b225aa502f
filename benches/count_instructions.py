"""Instructions per event under valgrind's callgrind: a load-independent companion to bench_core.

Runs the same work as `bench_core.py` (one fully matched Purchase: convapi's `build_meta_payload`
and the facebook-business SDK's `Event.normalize`) in a child interpreter under
`valgrind --tool=callgrind`, once with N calls and once with none (both after the same warm-up),
and reports (total(N) - total(0)) / N. Instruction counts do not move with machine load, so this
is the number to compare between commits. Caveat: valgrind's CPU has no SHA-NI, so convapi's
SHA-256 runs its software fallback here (about 3.4k instructions per digest, 11 digests per
event) while real runs use the SHA-NI instructions.

    python benches/count_instructions.py [--calls 2000]
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile

CHILD = r"""
import sys
sys.path.insert(0, {benches!r})
import bench_core
import convapi
# The floor for any implementation with this API: build the input dict and a result of the same
# shape as the payload from a literal (fresh dicts and lists, constant strings: no normalising,
# no hashing, no string building at all).
build_result = eval("lambda: " + repr(convapi.build_meta_payload([bench_core.convapi_event()])))


def floor():
    bench_core.convapi_event()
    return build_result()


import json


def bytes_path():
    return convapi.encode_meta_payload([bench_core.convapi_event()])


def dict_dumps():
    return json.dumps(convapi.build_meta_payload([bench_core.convapi_event()]))


def sdk_dumps():
    return json.dumps({{"data": [bench_core.sdk_event().normalize()]}})


fn = {{"convapi": bench_core.bench_convapi, "sdk": bench_core.bench_sdk,
       "convapi bytes": bytes_path, "convapi dict+dumps": dict_dumps, "sdk+dumps": sdk_dumps,
       "input dict only": bench_core.convapi_event, "floor": floor}}[sys.argv[1]]
for _ in range(200):
    fn()
for _ in range(int(sys.argv[2])):
    fn()
"""


def instructions(script: str, which: str, calls: int) -> int:
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "callgrind.out")
        proc = subprocess.run(
            ["valgrind", "--tool=callgrind", f"--callgrind-out-file={out}",
             sys.executable, "-c", script, which, str(calls)],
            capture_output=True, text=True, check=True,
        )
    match = re.search(r"Collected : (\d+)", proc.stderr)
    if not match:
        raise RuntimeError(f"no instruction count in valgrind's output:\n{proc.stderr[-2000:]}")
    return int(match.group(1))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=2000)
    args = parser.parse_args()
    if not shutil.which("valgrind"):
        print("valgrind is not installed (apt-get install valgrind)", file=sys.stderr)
        return 2
    script = CHILD.format(benches=os.path.dirname(os.path.abspath(__file__)))
    rows = []
    for which in ("convapi bytes", "convapi dict+dumps", "sdk+dumps", "convapi", "sdk",
                  "input dict only", "floor"):
        per_event = (instructions(script, which, args.calls)
                     - instructions(script, which, 0)) / args.calls
        rows.append((which, per_event))
        print(f"{which:<18} {per_event:>12,.0f} instructions/event", flush=True)
    counts = dict(rows)
    print(f"ratio (SDK+dumps / convapi bytes): "
          f"{counts['sdk+dumps'] / counts['convapi bytes']:.1f}x fewer instructions")
    ours, sdk = counts["convapi"], counts["sdk"]
    print(f"ratio (SDK / convapi dict): {sdk / ours:.1f}x fewer instructions")
    print("floor = building the input dict and the result's dicts and lists from literals")
    print(f"(no normalising, no hashing); 25x the SDK would need <= {sdk / 25:,.0f}/event")
    return 0


if __name__ == "__main__":
    sys.exit(main())
