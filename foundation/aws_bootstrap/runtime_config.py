"""MOD-104 part: runtime_config (to be built)."""

from __future__ import annotations


def build_runtime_config(bootstrap) -> None:
    return None
