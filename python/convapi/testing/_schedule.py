"""Time-based faults for the fake APIs, the Retry-After clock, and counts of what was received.

Pure standard library, like ``_fake_server``. A :class:`FaultSchedule` says which fault each
platform answers with during which window of seconds after ``start()``: the soak scenarios run a
store through "5xx, then timeouts, then 429 with Retry-After, then TikTok 40100, then healthy"
without anybody injecting faults request by request. Faults queued with ``FakeAdServer.inject``
still come first.

:class:`RetryAfterClock` remembers, per platform and pixel, until when the fake asked a client
to wait (``Retry-After``), so the fake can count the requests that came back earlier.

:func:`event_counts` and :func:`request_timeline` summarise what the fake recorded: how many
times each event (platform, pixel, event name, ``event_id``) was accepted, and requests per
minute.
"""

from __future__ import annotations

import json
import math
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from ._platforms import PLATFORMS, platform_module

__all__ = [
    "EventKey",
    "FaultSchedule",
    "Phase",
    "RetryAfterClock",
    "event_counts",
    "request_timeline",
]

ALL_PLATFORMS = PLATFORMS
#: always named in a label; the later platforms only when a phase of the schedule names them,
#: so schedules written for Meta and TikTok keep their labels
_LABEL_PLATFORMS = ("meta", "tiktok")

#: ``retry_after`` value meaning "the seconds left until this phase ends" (at least 1).
UNTIL_PHASE_END = "phase_end"


@dataclass(frozen=True)
class Phase:
    """One window of a schedule: from ``start`` to ``end`` seconds after the schedule starts,
    requests of ``platforms`` are answered with ``fault`` (a ``FakeAdServer.inject`` fault name,
    with its ``params``); ``fault`` None is a healthy window (the default outside every phase).
    ``label`` names the phase in reports."""

    start: float
    end: float
    fault: str | None
    platforms: tuple[str, ...] = ALL_PLATFORMS
    params: Mapping[str, Any] = field(default_factory=dict)
    label: str = ""

    def __post_init__(self) -> None:
        if not (math.isfinite(self.start) and math.isfinite(self.end)):
            raise ValueError("phase start and end must be finite")
        if self.end <= self.start or self.start < 0:
            raise ValueError(f"phase must have 0 <= start < end, got {self.start}..{self.end}")
        unknown = set(self.platforms) - set(ALL_PLATFORMS)
        if unknown or not self.platforms:
            raise ValueError(f"phase platforms must be among {ALL_PLATFORMS}")
        retry_after = self.params.get("retry_after")
        if isinstance(retry_after, str) and retry_after != UNTIL_PHASE_END:
            raise ValueError(f"retry_after must be a number or {UNTIL_PHASE_END!r}")

    @property
    def name(self) -> str:
        return self.label or (self.fault or "healthy")

    def to_json(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "fault": self.fault,
            "platforms": list(self.platforms),
            "params": dict(self.params),
            "label": self.label,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Phase:
        return cls(
            start=float(data["start"]),
            end=float(data["end"]),
            fault=data.get("fault"),
            platforms=tuple(data.get("platforms") or ALL_PLATFORMS),
            params=dict(data.get("params") or {}),
            label=str(data.get("label") or ""),
        )


class FaultSchedule:
    """Phases on a clock (``time.monotonic`` unless given). Not started, it answers no fault.

    Phases may not overlap for one platform (the first match would win silently otherwise).
    """

    def __init__(
        self, phases: Iterable[Phase], *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.phases = tuple(sorted(phases, key=lambda p: p.start))
        for platform in ALL_PLATFORMS:
            mine = [p for p in self.phases if platform in p.platforms]
            for before, after in zip(mine, mine[1:], strict=False):
                if after.start < before.end:
                    raise ValueError(
                        f"phases {before.name!r} and {after.name!r} overlap for {platform}"
                    )
        self.clock = clock
        self._started: float | None = None
        self._lock = threading.Lock()

    @classmethod
    def sequence(
        cls,
        steps: Sequence[Mapping[str, Any]],
        *,
        offset: float = 0.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> FaultSchedule:
        """Consecutive windows, the first ``offset`` seconds after start. Each step is a dict:
        ``duration`` (seconds), ``label``, and either ``fault`` and ``params`` (every platform)
        or ``faults``, ``{platform: [fault, params]}`` (a platform left out is healthy then).

            FaultSchedule.sequence([
                {"duration": 120, "label": "5xx", "fault": "http_503"},
                {"duration": 120, "label": "throttled", "faults": {
                    "meta": ["meta_error", {"code": 17, "is_transient": True}],
                    "tiktok": ["tiktok_code", {"code": 40100}]}},
            ])
        """
        phases = []
        at = offset
        for step in steps:
            duration = float(step["duration"])
            label = str(step.get("label") or "")
            if "faults" in step:
                for platform, (fault, params) in step["faults"].items():
                    phases.append(
                        Phase(at, at + duration, fault, (platform,), dict(params or {}), label)
                    )
            else:
                phases.append(
                    Phase(
                        at,
                        at + duration,
                        step.get("fault"),
                        ALL_PLATFORMS,
                        dict(step.get("params") or {}),
                        label,
                    )
                )
            at += duration
        return cls(phases, clock=clock)

    def to_json(self) -> str:
        return json.dumps([p.to_json() for p in self.phases])

    @classmethod
    def from_json(
        cls, text: str | bytes, *, clock: Callable[[], float] = time.monotonic
    ) -> FaultSchedule:
        return cls((Phase.from_json(p) for p in json.loads(text)), clock=clock)

    # ---- time --------------------------------------------------------------------------

    def start(self, at: float | None = None) -> FaultSchedule:
        """Start (or restart) the schedule now, or at clock value ``at``."""
        with self._lock:
            self._started = self.clock() if at is None else at
        return self

    @property
    def started(self) -> bool:
        return self._started is not None

    def elapsed(self) -> float | None:
        """Seconds since start (None before)."""
        started = self._started
        return None if started is None else self.clock() - started

    @property
    def duration(self) -> float:
        """When the last phase ends (seconds after start)."""
        return max((p.end for p in self.phases), default=0.0)

    def phase_at(self, platform: str, elapsed: float | None = None) -> Phase | None:
        """The phase ``platform`` is in at ``elapsed`` seconds (now if None); None = healthy."""
        if elapsed is None:
            elapsed = self.elapsed()
            if elapsed is None:
                return None
        for phase in self.phases:
            if platform in phase.platforms and phase.start <= elapsed < phase.end:
                return phase
        return None

    def label_at(self, elapsed: float | None = None) -> str:
        """One label for every platform at that time (``meta:x tiktok:y`` when they differ;
        Pinterest and GA4 only when a phase names them)."""
        named = {p for phase in self.phases for p in phase.platforms}
        names = {
            p: (ph.name if ph else "healthy")
            for p in ALL_PLATFORMS
            if p in _LABEL_PLATFORMS or p in named
            for ph in [self.phase_at(p, elapsed)]
        }
        if len(set(names.values())) == 1:
            return next(iter(names.values()))
        return " ".join(f"{p}:{n}" for p, n in names.items())

    def fault_for(self, platform: str) -> tuple[str, dict[str, Any]] | None:
        """The fault (name, params) to answer ``platform``'s request with now, or None.

        ``retry_after="phase_end"`` becomes the whole seconds left in the phase (at least 1).
        """
        elapsed = self.elapsed()
        if elapsed is None:
            return None
        phase = self.phase_at(platform, elapsed)
        if phase is None or phase.fault is None:
            return None
        params = dict(phase.params)
        if params.get("retry_after") == UNTIL_PHASE_END:
            params["retry_after"] = max(1, math.ceil(phase.end - elapsed))
        return phase.fault, params


class RetryAfterClock:
    """When each (platform, pixel) was told to wait (``Retry-After``), and how many requests
    came back before the wait was over.

    ``note`` records a ``Retry-After`` answered at ``now``; ``check`` says whether a request
    that arrived at ``arrived`` came inside one of those waits (given before it arrived, not
    over yet), and counts it. The last ``keep`` waits per key are remembered.
    """

    def __init__(self, keep: int = 32) -> None:
        self.keep = keep
        self._waits: dict[tuple[str, str], list[tuple[float, float]]] = {}
        self._early: Counter[tuple[str, str]] = Counter()
        self._lock = threading.Lock()

    def note(self, key: tuple[str, str], now: float, retry_after: str | float | None) -> None:
        try:
            seconds = float(retry_after) if retry_after is not None else None
        except ValueError:
            seconds = None  # an HTTP date: the fake never sends one
        if seconds is None or not math.isfinite(seconds) or seconds <= 0:
            return
        with self._lock:
            waits = self._waits.setdefault(key, [])
            waits.append((now, now + seconds))
            del waits[: -self.keep]

    def check(self, key: tuple[str, str], arrived: float) -> bool:
        with self._lock:
            early = any(given <= arrived < until for given, until in self._waits.get(key, ()))
            if early:
                self._early[key] += 1
            return early

    def early_counts(self) -> dict[tuple[str, str], int]:
        with self._lock:
            return dict(self._early)

    def reset(self) -> None:
        with self._lock:
            self._waits.clear()
            self._early.clear()


# --------------------------------------------------------------------------------------------
# Counts
# --------------------------------------------------------------------------------------------

#: (platform, pixel id, event name as the platform received it, event_id; GA4: the
#: transaction_id of a purchase, "" otherwise)
EventKey = tuple[str, str, str, str]


def event_key(platform: str, pixel_id: str, event: Mapping[str, Any]) -> EventKey:
    module = platform_module(platform)
    if module is not None:  # Pinterest: event_name, event_id; GA4: name, transaction_id
        name, dedup_id = module.count_key(event)
        return (platform, str(pixel_id), name, dedup_id)
    name = event.get("event_name") if platform == "meta" else event.get("event")
    return (platform, str(pixel_id), str(name), str(event.get("event_id", "")))


def event_counts(accepted: Iterable[Any]) -> Counter[EventKey]:
    """How many times each event was accepted, from ``FakeAdServer.accepted_events()``."""
    counts: Counter[EventKey] = Counter()
    for item in accepted:
        counts[event_key(item.platform, item.pixel_id, item.event)] += 1
    return counts


def request_timeline(
    requests: Iterable[Any], *, start: float, bucket: float = 60.0
) -> list[dict[str, Any]]:
    """Requests per ``bucket`` seconds from ``start`` (the fake's clock): per bucket and
    platform, the number of requests, how many were answered 2xx (TikTok answers most errors
    with HTTP 200), how many were accepted (events recorded) and their events, and how many
    came before a Retry-After they had been given was over."""
    rows: dict[int, dict[str, Any]] = {}
    for rec in requests:
        if rec.platform not in ALL_PLATFORMS or rec.received_at < start:
            continue
        index = int((rec.received_at - start) // bucket)
        row = rows.setdefault(
            index,
            {
                "bucket": index,
                "from_s": index * bucket,
                "requests": Counter(),
                "ok": Counter(),
                "accepted": Counter(),
                "early": Counter(),
                "events": Counter(),
            },
        )
        row["requests"][rec.platform] += 1
        if 200 <= rec.status < 300:
            row["ok"][rec.platform] += 1
        if rec.events_accepted:
            row["accepted"][rec.platform] += 1
            row["events"][rec.platform] += rec.events_accepted
        if getattr(rec, "early_retry", False):
            row["early"][rec.platform] += 1
    return [
        {k: (dict(v) if isinstance(v, Counter) else v) for k, v in rows[i].items()}
        for i in sorted(rows)
    ]
