"""Foundation module snowflake_configuration (to be built)."""

from __future__ import annotations

from foundation.modules import FoundationModule


class SnowflakeConfiguration(FoundationModule):
    def _build_footprint(self) -> None:
        return None
