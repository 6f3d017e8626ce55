"""MOD-104 part: encryption_events (to be built)."""

from __future__ import annotations


def build_encryption_and_events(bootstrap) -> None:
    return None
