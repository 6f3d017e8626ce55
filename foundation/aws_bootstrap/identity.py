"""MOD-104 part: identity (to be built)."""

from __future__ import annotations


def build_identity(bootstrap) -> None:
    return None
