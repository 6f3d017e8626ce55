"""MOD-104 part: storage (to be built)."""

from __future__ import annotations


def build_storage(bootstrap) -> None:
    return None
