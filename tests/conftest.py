"""Shared fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from convapi.testing import FakeAdServer


@pytest.fixture
def fake_api() -> Iterator[FakeAdServer]:
    """A started FakeAdServer on 127.0.0.1 (ephemeral port), stopped after the test."""
    from convapi.testing import FakeAdServer

    with FakeAdServer() as fake:
        yield fake
