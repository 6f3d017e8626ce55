"""The Totara Bank platform: one Pulumi program for all 149 modules of SD01–SD08.

Data flows one way: stack config + catalogue + release manifest → validated
models (model/) → components (foundation/, domains/) → resources. Everything is
validated before the first resource is registered.
"""

from pathlib import Path

import pulumi
from pulumi.runtime import config as runtime_config

from domains.platform import build_platform
from model.errors import ConfigurationError
from model.platform import load_platform
from model.stack_config import NAMESPACE

PROJECT_DIR = Path(__file__).resolve().parent


def bank_config_values() -> tuple[dict, frozenset[str]]:
    """Every `bank:` key the engine handed over. pulumi.Config cannot list keys, and the
    schema must see unknown ones to reject typos, so read the runtime's config map."""
    # The language host passes config in PULUMI_CONFIG (and its secret keys beside it); the
    # mock runtime and newer hosts set it in the runtime's map. Take both, the map winning.
    values = {**runtime_config.get_config_env(), **runtime_config.CONFIG.get()}
    ours = {k: v for k, v in values.items() if k.startswith(NAMESPACE + ":")}
    secret_keys = set(runtime_config.get_config_secret_keys_env())
    secret_keys |= {k for k in ours if runtime_config.is_config_secret(k)}
    return ours, frozenset(secret_keys & set(ours))


values, secret_keys = bank_config_values()
try:
    platform = load_platform(PROJECT_DIR, pulumi.get_stack(), values, secret_keys)
except ConfigurationError as exc:
    # RunError: a clean message for the person, not a traceback; no resource was registered.
    raise pulumi.RunError(str(exc)) from None

built = build_platform(platform)
pulumi.export("environment", platform.config.environment)
pulumi.export("phaseGates", {key: gate.urn for key, gate in sorted(built.gates.items())})
pulumi.export("moduleCount", len(built.modules))
# Each domain's HTTP API (MOD-104, foundation/aws_bootstrap/apis.py): where callers and the phase gates reach it.
bootstrap = next(m for m in built.modules.values() if m.deployment.spec.slug == "aws-bootstrap")
pulumi.export("domainApiUrls", {domain: api.url for domain, api in sorted(bootstrap.apis.domains.items())})
