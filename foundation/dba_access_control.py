"""Foundation module dba_access_control (to be built)."""

from __future__ import annotations

from foundation.modules import FoundationModule


class DbaAccessControl(FoundationModule):
    def _build_footprint(self) -> None:
        return None
