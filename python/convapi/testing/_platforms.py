"""The platforms the fake APIs serve, in one table.

Meta and TikTok are served by ``_fake_server`` itself. Every later platform is one module of
this package exposing ``PLATFORM``, an object with the hooks listed in :class:`PlatformModule`
(``_pinterest``, ``_ga4``). A fifth platform is its module, one line in ``MODULES`` and, if it
has credentials or ids to configure, one keyword of ``FakeAdServer``.

Pure standard library; imports nothing from the rest of the package at import time (the
platform modules import ``_fake_server``, which imports this table), so modules are loaded on
first use.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:  # pragma: no cover
    from ._fake_server import FakeAdServer, Incoming, RecordedRequest, _Answer

__all__ = ["MODULES", "PLATFORMS", "PlatformModule", "dedup_key", "platform_module"]

#: platform name -> module (relative to this package) serving it
MODULES: dict[str, str] = {"pinterest": "._pinterest", "ga4": "._ga4"}

#: every platform the fake serves, in the order reports list them
PLATFORMS: tuple[str, ...] = ("meta", "tiktok", *MODULES)


class PlatformModule(Protocol):
    """What ``_fake_server`` asks of a platform module's ``PLATFORM`` object."""

    name: str
    #: the field accepted events are counted by (``FakeAdServer.event_counts``' 4th element)
    dedup_key: str
    #: faults only this platform knows (fault name -> accepted parameters)
    own_faults: Mapping[str, frozenset[str]]

    def route(self, path: str, query: str) -> str | None:
        """None if ``path`` is not an endpoint of this platform, else its account / pixel /
        stream id as the request names it ("" when absent)."""

    def claims(self, path: str) -> bool:
        """Whether an unknown ``path`` lies in this platform's namespace (its 404 answers)."""

    def not_found(self, path: str) -> _Answer: ...

    def handle(
        self,
        fake: FakeAdServer,
        req: Incoming,
        rec: RecordedRequest,
        accepted: list[dict[str, Any]],
        dropped: list[dict[str, Any]],
    ) -> _Answer:
        """Validate and answer; append accepted events (as the accessors return them) to
        ``accepted`` and events the platform did not take to ``dropped`` (``Dropped``
        fields as keywords)."""

    def parse_only(self, req: Incoming, rec: RecordedRequest) -> None:
        """Record what was sent (body, credential sources) when a fault answers instead."""

    def check_fault(self, fault: str, params: Mapping[str, Any]) -> None:
        """Raise ValueError for impossible parameters of a fault on this platform."""

    def fault_answer(self, fault: str, params: Mapping[str, Any]) -> _Answer: ...

    def log_credential(self, rec: RecordedRequest) -> str:
        """The credential as a log line may show it (masked)."""

    def count_key(self, event: Mapping[str, Any]) -> tuple[str, str]:
        """(event name, dedup id) of an accepted event."""


def platform_module(name: str) -> PlatformModule | None:
    """The ``PLATFORM`` object of a platform served by its own module (None for Meta,
    TikTok and unknown names)."""
    target = MODULES.get(name)
    if target is None:
        return None
    return importlib.import_module(target, __package__).PLATFORM  # type: ignore[no-any-return]


def dedup_key(platform: str) -> str:
    """The field a platform's events are counted by: ``event_id`` everywhere but GA4, which
    has none and is counted by ``transaction_id`` (purchases only)."""
    module = platform_module(platform)
    return "event_id" if module is None else module.dedup_key
