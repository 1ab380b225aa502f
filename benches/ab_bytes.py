"""A/B of two builds of the extension on the bytes path, in one process.

This VM's speed drifts by more than the effect of most changes, so two builds are compared in
the same process: both extension files are loaded side by side (under different package names)
and timed in alternating rounds on the same 1,000-event batch; the paired ratio of each round is
the figure to read. Build each variant with ``maturin develop --release`` and copy
``python/convapi/_convapi.abi3.so`` aside first.

    python benches/ab_bytes.py A.so B.so [--batches 5] [--rounds 41]

Prints, per build: the median µs per event, the minimum, and the median of the per-round ratios
against the first build (below 1: faster). Both builds must write the same bytes.
"""

from __future__ import annotations

import argparse
import importlib.machinery
import importlib.util
import os
import statistics
import sys
import time
from types import ModuleType

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import shoppers  # noqa: E402


def load(path: str, i: int) -> ModuleType:
    # The init function is found by the last part of the name: `_convapi` for both.
    name = f"convapi_build_{i}._convapi"
    loader = importlib.machinery.ExtensionFileLoader(name, path)
    spec = importlib.util.spec_from_file_location(name, path, loader=loader)
    if spec is None:
        raise SystemExit(f"cannot load {path}")
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return module


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("builds", nargs="+", help="extension files (.so) to compare")
    parser.add_argument("--batches", type=int, default=5, help="batches timed per round")
    parser.add_argument("--rounds", type=int, default=41)
    args = parser.parse_args()
    builds = {path: load(path, i) for i, path in enumerate(args.builds)}
    now = int(time.time())
    events = [shoppers.convapi_event(s, now) for s in shoppers.shoppers(1000)]
    bodies = {path: m.encode_payload("meta", events) for path, m in builds.items()}
    if len(set(bodies.values())) != 1:
        print("the builds write different bytes", file=sys.stderr)
        return 1
    samples: dict[str, list[float]] = {path: [] for path in builds}
    for r in range(args.rounds):
        order = list(builds.items())
        if r % 2:
            order.reverse()
        for path, module in order:
            start = time.perf_counter()
            for _ in range(args.batches):
                module.encode_payload("meta", events)
            samples[path].append((time.perf_counter() - start) / args.batches / 1000 * 1e6)
    first = samples[args.builds[0]]
    for path, values in samples.items():
        ratio = statistics.median(v / f for v, f in zip(values, first, strict=True))
        print(f"{path}: median {statistics.median(values):.3f} µs/event, "
              f"min {min(values):.3f}, paired ratio {ratio:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
