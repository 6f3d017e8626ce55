"""Stack config as resource inputs: a value the user set with `--secret` stays a secret.

`pulumi config set --secret bank:<key>` gives the program the plaintext and the key's
name in the list of secret keys. A value taken from such a key and passed on as a
plain string would be stored in plain text in the state, the plan and every diff; as a
`pulumi.Output.secret` it is encrypted in state and shown as `[secret]`, and so is
everything computed from it. So every resource input that comes from stack config is
read here, once, where the config is resolved — never from `platform.config` directly.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pulumi

from model.stack_config import StackConfig, config_value


@dataclass(frozen=True)
class StackInputs:
    config: StackConfig
    # Top-level `bank:` keys (no namespace) that are secret: `--path` secrets make the whole key secret.
    secret_keys: frozenset[str]

    def is_secret(self, key: str) -> bool:
        return key.split(".", 1)[0] in self.secret_keys

    def __getitem__(self, key: str) -> Any:
        """The value at a camelCase key path (`alertEmail`, `retention.logRetentionDays`), as an input."""
        return self.derived(key, lambda value: value)

    def derived(self, key: str, compute: Callable[[Any], Any]) -> Any:
        """An input computed from the value at `key`: as secret as the key is."""
        value = compute(config_value(self.config, key))
        return pulumi.Output.secret(value) if self.is_secret(key) else value
