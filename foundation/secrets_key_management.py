"""Foundation module secrets_key_management (to be built)."""

from __future__ import annotations

from foundation.modules import FoundationModule


class SecretsKeyManagement(FoundationModule):
    def _build_footprint(self) -> None:
        return None
