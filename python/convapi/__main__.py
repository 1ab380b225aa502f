"""``python -m convapi``: see ``convapi.cli``."""

from __future__ import annotations

from convapi.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    raise SystemExit(main())
