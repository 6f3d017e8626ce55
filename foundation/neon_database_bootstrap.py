"""Foundation module neon_database_bootstrap (to be built)."""

from __future__ import annotations

from foundation.modules import FoundationModule


class NeonDatabaseBootstrap(FoundationModule):
    def _build_footprint(self) -> None:
        return None
