"""The stack config schema: every `bank:` key of Pulumi.<stack>.yaml, typed, described, validated.

Read once in __main__.py; components take this model and read no config of their own.
Keys are camelCase in the stack files, as Pulumi's own keys are.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, field_validator
from pydantic.alias_generators import to_camel
from pydantic.fields import FieldInfo

from model.errors import ConfigurationError, describe_validation_error
from model.yaml_source import parse_yaml

Environment = Literal["local", "dev", "uat", "prod"]
InstitutionType = Literal["bank", "credit_union", "building_society"]
Jurisdiction = Literal["NZ", "AU"]
AwsRegion = Annotated[str, StringConstraints(pattern=r"^[a-z]{2}(-gov)?-[a-z]+-[0-9]$")]
AwsAccountId = Annotated[str, StringConstraints(pattern=r"^[0-9]{12}$")]
Email = Annotated[str, StringConstraints(pattern=r"^[^@\s]+@[^@\s]+\.[a-z]{2,}$")]
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy).
LogRetentionDays = Literal[
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653
]

NAMESPACE = "bank"
STATEFUL_PROTECTED_ENVIRONMENTS = frozenset({"uat", "prod"})


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, alias_generator=to_camel, populate_by_name=True)


class Toggle(_Section):
    enabled: bool = Field(False, description="deploy the modules behind this flag")


class PaymentsConfig(_Section):
    swift: Toggle = Field(Toggle(), description="SWIFT / correspondent banking (deployment sequence, Phase 4 step 4)")


class ObservabilityConfig(_Section):
    datadog: Toggle = Field(Toggle(), description="Datadog agent beside CloudWatch (MOD-076)")


SnowflakeWarehouseSize = Literal["XSMALL", "SMALL", "MEDIUM", "LARGE", "XLARGE"]


class SnowflakeConfig(Toggle):
    enabled: bool = Field(True, description="deploy MOD-102 and the data-platform pipelines (off only in local)")
    account: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_]+-[A-Za-z0-9_]+$")] | None = Field(
        None, description="the Snowflake account as ORGNAME-ACCOUNTNAME (required where Snowflake is on)"
    )
    admin_user: Annotated[str, StringConstraints(pattern=r"^[A-Za-z][A-Za-z0-9_]*$")] = Field(
        "PULUMI_ADMIN", description="the administrator the Snowflake provider signs in as (key-pair auth)"
    )
    warehouse_size: SnowflakeWarehouseSize = Field("XSMALL", description="the analytics warehouse's size")
    auto_suspend_seconds: int = Field(60, ge=60, le=3600, description="idle seconds before the warehouse suspends")


class AnalyticsConfig(_Section):
    snowflake: SnowflakeConfig = Field(
        SnowflakeConfig(), description="MOD-102 Snowflake and the data-platform pipelines (off in local, DESIGN G10)"
    )


class NeonConfig(_Section):
    """MOD-103's Neon project (deployment sequence, step 0.2)."""

    # Neon's Australian region is Sydney; the data stays in the bank's jurisdiction.
    region_id: Literal["aws-ap-southeast-2"] = Field("aws-ap-southeast-2", description="the Neon region")
    pg_version: Literal[15, 16, 17] = Field(16, description="the PostgreSQL major version")
    history_retention_seconds: int = Field(
        86400, ge=0, le=2592000, description="point-in-time recovery window of the project's history"
    )
    protect_branch: bool = Field(
        False,
        description="make the project's branch a Neon protected branch: it, its compute and the project cannot be "
        "deleted or reset (a Neon paid plan; prod requires true)",
    )


class GithubConfig(_Section):
    repository: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$")] = Field(
        "totara-bank/bank-platform",
        description="OWNER/NAME of the repository whose workflows may assume the CI/CD roles (GitHub OIDC)",
    )


class RetentionConfig(_Section):
    log_retention_days: LogRetentionDays = Field(90, description="CloudWatch log group retention")
    audit_archive_years: int = Field(7, ge=1, le=10, description="S3 audit-log archive object lock period")
    event_archive_days: int = Field(
        365, ge=0, le=3653, description="EventBridge archive retention for replay (DESIGN G9); 0 keeps forever"
    )


class SizingConfig(_Section):
    kinesis_shard_count: int = Field(1, ge=1, le=64, description="shards per domain Kinesis stream")
    lambda_memory_mb: int = Field(512, ge=128, le=10240, description="default memory of a service module's function")
    max_reserved_concurrency: int | None = Field(
        None,
        ge=1,
        le=1000,
        description="cap on any one service function's reserved concurrency (the catalogue's reservedConcurrency); "
        "unset: as the catalogue says. Lambda keeps 100 of the account's concurrency unreserved, so small accounts "
        "(dev) cap it",
    )


class ReleaseConfig(_Section):
    """How a service module's new version reaches traffic (issue 8): everywhere only after its health check; in prod
    then as a CodeDeploy canary that rolls back by itself when the module's alarms fire (components/blue_green.py)."""

    canary_percent: int | None = Field(
        None, ge=1, le=99, description="prod: the share of traffic a new version gets first (CodeDeploy canary)"
    )
    # The release command waits for the whole canary inside `pulumi up` (gates/canary_release.py, WAIT_SECONDS).
    canary_minutes: int = Field(5, ge=1, le=60, description="prod: how long the canary runs before the rest shifts")

    @property
    def canary(self) -> bool:
        return self.canary_percent is not None


class LocalConfig(_Section):
    aws_endpoint: Annotated[str, StringConstraints(pattern=r"^http://(localhost|127\.0\.0\.1)(:[0-9]+)?/?$")] = Field(
        description="the AWS emulator the local stack deploys to (DESIGN G10), e.g. http://localhost:4566"
    )
    postgres_host: Annotated[str, StringConstraints(pattern=r"^(localhost|127\.0\.0\.1)$")] = Field(
        "localhost", description="the local PostgreSQL server that stands in for Neon (DESIGN G10)"
    )
    postgres_port: int = Field(5432, ge=1, le=65535, description="its port")


TenantId = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=40)]


class Tenant(_Section):
    """One client institution the stack serves (operations index: "single-stack, multi-tenant"; DESIGN G13)."""

    id: TenantId = Field(description="kebab-case tenant id, carried in its users' tokens and its AppConfig profile")
    name: str = Field(min_length=2, description="the institution's name")
    institution_type: InstitutionType = Field(description="bank, credit_union or building_society")
    jurisdictions: tuple[Jurisdiction, ...] = Field(min_length=1, description="NZ, AU or both")

    @field_validator("jurisdictions")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists a jurisdiction twice")
        return value


class StackConfig(_Section):
    """Everything a stack may set under `bank:`."""

    environment: Environment = Field(description="local, dev, uat or prod; must match the stack name")
    region: AwsRegion = Field("ap-southeast-2", description="the AWS region of every resource")
    aws_account_id: AwsAccountId = Field(description="the only AWS account this stack may touch (12 digits)")
    tenants: tuple[Tenant, ...] = Field(
        description="the client institutions this stack serves; the stack deploys every module some tenant "
        "activates (module activation matrix, DESIGN G8, G13)",
    )
    alert_email: Email = Field(description="where alarms are sent", examples=["platform-alerts@totarabank.co.nz"])
    payments: PaymentsConfig = Field(PaymentsConfig(), description="optional payment rails")
    cards: Toggle = Field(Toggle(), description="card management (deployment sequence, Phase 7 step 5)")
    observability: ObservabilityConfig = Field(ObservabilityConfig(), description="optional observability agents")
    analytics: AnalyticsConfig = Field(AnalyticsConfig(), description="the analytics layer")
    retention: RetentionConfig = Field(
        RetentionConfig(), description="how long logs, audit records and events are kept"
    )
    sizing: SizingConfig = Field(SizingConfig(), description="capacity that differs by environment")
    release: ReleaseConfig = Field(ReleaseConfig(), description="how new versions reach traffic (canary in prod)")
    local: LocalConfig | None = Field(None, description="only for the local stack")
    github: GithubConfig = Field(GithubConfig(), description="the CI/CD repository (MOD-104's OIDC trust)")
    neon: NeonConfig = Field(NeonConfig(), description="MOD-103's Neon project (not used by local)")
    # Provider credentials: a person sets them with `pulumi config set --secret` before the first run.
    neon_api_key: str | None = Field(
        None,
        min_length=8,
        description="Neon API key for MOD-103 (a credential: set with --secret; not used by local)",
        json_schema_extra={"credential": True},
    )
    snowflake_private_key: str | None = Field(
        None,
        min_length=8,
        description="PEM private key of the Snowflake administrator (a credential: set with --secret)",
        json_schema_extra={"credential": True},
    )

    @field_validator("tenants")
    @classmethod
    def _unique_tenants(cls, value: tuple[Tenant, ...]) -> tuple[Tenant, ...]:
        if not value:
            raise ValueError("a stack serves at least one tenant; list its client institutions")
        ids = [t.id for t in value]
        twice = sorted({i for i in ids if ids.count(i) > 1})
        if twice:
            raise ValueError(f"tenant id {', '.join(twice)} is used twice; each tenant needs its own id")
        return value

    @property
    def jurisdictions(self) -> tuple[str, ...]:
        """Every jurisdiction some tenant is in (derived: the tenants are the one source)."""
        return tuple(sorted({j for t in self.tenants for j in t.jurisdictions}))

    @property
    def protect_stateful(self) -> bool:
        """Stateful resources are protected (and retained on delete) in uat and prod."""
        return self.environment in STATEFUL_PROTECTED_ENVIRONMENTS


# The flags a catalogue module may name in `optional:` (DESIGN G6), and how to read each.
FEATURE_FLAGS: dict[str, Callable[[StackConfig], bool]] = {
    "payments.swift.enabled": lambda c: c.payments.swift.enabled,
    "cards.enabled": lambda c: c.cards.enabled,
    "observability.datadog.enabled": lambda c: c.observability.datadog.enabled,
    "analytics.snowflake.enabled": lambda c: c.analytics.snowflake.enabled,
}

_PLACEHOLDER_WORDS = re.compile(r"(changeme|placeholder|todo|tbd|xxx|example\.(com|org|net)|@test\.)", re.I)


def is_placeholder_account(account_id: str) -> bool:
    """All one digit, or the IDs AWS's documentation uses as examples."""
    return len(set(account_id)) == 1 or account_id in {"123456789012", "012345678901", "210987654321"}


def credential_keys() -> list[str]:
    """The `bank:` keys that hold provider credentials: they must be set with `--secret`."""
    return [
        key
        for key, field, _section in config_fields()
        if isinstance(field.json_schema_extra, dict) and field.json_schema_extra.get("credential")
    ]


def required_credentials(config: StackConfig) -> list[str]:
    """The credentials this stack's providers need: Neon everywhere but local (a local PostgreSQL stands in,
    DESIGN G10), Snowflake wherever it is on."""
    needed = []
    if config.environment != "local":
        needed.append("bank:neonApiKey")
    if config.analytics.snowflake.enabled:
        needed.append("bank:snowflakePrivateKey")
    return needed


def credential_problems(config: StackConfig, secret_keys: frozenset[str]) -> list[str]:
    """Provider credentials are set, where they are needed, and only as secrets (else the state and every
    plan would hold them in clear text)."""
    problems = []
    for key in credential_keys():
        short = key.partition(":")[2]
        if config_value(config, short) is not None and key not in secret_keys:
            problems.append(
                f"{key}: is a credential but is not a secret; remove it and set it with "
                f"`pulumi config set --secret {key} <value>`"
            )
    for key in required_credentials(config):
        if config_value(config, key.partition(":")[2]) is None:
            problems.append(f"{key}: required, but not set; a person sets it with `pulumi config set --secret {key}`")
    return problems


def environment_rule_problems(config: StackConfig, stack: str) -> list[str]:
    """Rules that span keys or depend on the environment; each line names its key."""
    problems = []
    if config.environment != stack:
        problems.append(f"bank:environment: is `{config.environment}` but the stack is `{stack}`; they must match")
    if config.environment == "local" and config.local is None:
        problems.append("bank:local.awsEndpoint: the local stack must name its AWS emulator (DESIGN G10)")
    if config.environment != "local" and config.local is not None:
        problems.append("bank:local: only the local stack may point at an emulator; remove it")
    if config.environment == "local" and config.analytics.snowflake.enabled:
        problems.append("bank:analytics.snowflake.enabled: Snowflake is off in the local stack (DESIGN G10); set false")
    if config.analytics.snowflake.enabled and config.analytics.snowflake.account is None:
        problems.append("bank:analytics.snowflake.account: required where Snowflake is on (ORGNAME-ACCOUNTNAME)")
    if config.environment != "local" and not config.analytics.snowflake.enabled:
        # Deployment sequence, step 0.2: MOD-102 is a Phase 0 module; only local has no Snowflake (DESIGN G10).
        problems.append(
            f"bank:analytics.snowflake.enabled: MOD-102 Snowflake is part of Phase 0 in {config.environment}; "
            "only the local stack may switch analytics off; set true"
        )
    if config.environment in ("uat", "prod"):
        if is_placeholder_account(config.aws_account_id):
            problems.append(f"bank:awsAccountId: `{config.aws_account_id}` is a placeholder; set the real account")
        if _PLACEHOLDER_WORDS.search(config.alert_email):
            problems.append(f"bank:alertEmail: `{config.alert_email}` is a placeholder; set a monitored mailbox")
    if config.environment == "prod" and not config.neon.protect_branch:
        # The issue: "Neon's protected-branch settings for the production branch". Prod's branch holds the bank's
        # data; protection is what keeps a mistaken API call or console click from deleting or resetting it.
        problems.append(
            "bank:neon.protectBranch: prod's Neon branch holds the bank's data and must be a protected branch; set true"
        )
    if config.environment == "prod" and not config.release.canary:
        problems.append(
            "bank:release.canaryPercent: prod shifts every new version as a canary with automatic rollback; set it, "
            "e.g. 10"
        )
    if config.environment != "prod" and config.release.model_fields_set:
        problems.append(f"bank:release: only prod releases through a CodeDeploy canary; remove it from {stack}")
    if config.environment == "prod" and config.retention.audit_archive_years < 7:
        problems.append(
            "bank:retention.auditArchiveYears: prod keeps audit records at least 7 years "
            "(AML/CTF record keeping); set 7 or more"
        )
    return problems


def config_value(config: BaseModel, key: str) -> Any:
    """The value at a camelCase key path as a stack file writes it, e.g. `retention.logRetentionDays`."""
    value: Any = config
    for part in key.split("."):
        fields = type(value).model_fields
        name = next((n for n, f in fields.items() if part in (n, f.alias)), None)
        if name is None:
            raise KeyError(f"bank:{key} is not a stack config key")
        value = getattr(value, name)
    return value


def stack_file_name(stack: str) -> str:
    return f"Pulumi.{stack}.yaml"


def config_from_values(values: dict[str, Any], stack: str, secret_keys: frozenset[str] = frozenset()) -> StackConfig:
    """Validate the `bank:` keys of one stack. `values` maps full keys (`bank:region`) to values,
    as the Pulumi engine hands them over (objects may arrive as JSON text)."""
    source = stack_file_name(stack)
    ours: dict[str, Any] = {}
    for full_key, value in sorted(values.items()):
        namespace, _, key = full_key.partition(":")
        if namespace != NAMESPACE:
            continue
        if isinstance(value, str) and value[:1] in "{[":
            with contextlib.suppress(json.JSONDecodeError):  # not JSON: let the schema say what is wrong
                value = json.loads(value)
        ours[key] = value
    bank_secrets = frozenset(k.partition(":")[2] for k in secret_keys if k.startswith(NAMESPACE + ":"))
    try:
        config = StackConfig.model_validate(ours)
    except ValidationError as exc:
        problems = describe_validation_error(
            exc, prefix="bank:", secret_keys=frozenset(f"bank:{k}" for k in bank_secrets), known_keys=_keys_beside
        )
        raise ConfigurationError(source, problems, fix=_fix(stack)) from None
    problems = environment_rule_problems(config, stack) + credential_problems(config, secret_keys)
    if problems:
        raise ConfigurationError(source, problems, fix=_fix(stack))
    return config


def section_model(field: FieldInfo) -> type[BaseModel] | None:
    """The nested section a field holds (`payments` → PaymentsConfig), or None for a leaf key."""
    candidates = (field.annotation, *getattr(field.annotation, "__args__", ()))
    return next((c for c in candidates if isinstance(c, type) and issubclass(c, BaseModel)), None)


def config_fields(
    model: type[BaseModel] = StackConfig, prefix: str = f"{NAMESPACE}:"
) -> Iterator[tuple[str, FieldInfo, type[BaseModel] | None]]:
    """Every key a stack may set, sections included: (full key, field, its section model or None)."""
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        section = section_model(field)
        yield key, field, section
        if section is not None:
            # A list of sections (bank:tenants) documents its items' keys as `bank:tenants[].id`.
            is_list = getattr(field.annotation, "__origin__", None) in (tuple, list)
            yield from config_fields(section, key + ("[]." if is_list else "."))


def _keys_beside(location: tuple) -> list[str]:
    """The keys that may stand where an unknown key was written (for "did you mean")."""
    model: type[BaseModel] | None = StackConfig
    for part in location[:-1]:
        if isinstance(part, int):  # an item of a list of sections (bank:tenants)
            continue
        field = next((f for n, f in model.model_fields.items() if part in (n, f.alias)), None)
        model = None if field is None else section_model(field)
        if model is None:
            return []
    return [f.alias or n for n, f in model.model_fields.items()]


def _fix(stack: str) -> str:
    return (
        f"edit {stack_file_name(stack)} (or `pulumi config set --path bank:<key> <value> -s {stack}`); "
        "`python -m bankctl config docs` lists every key"
    )


def read_stack_file(project_dir: Path, stack: str) -> tuple[dict[str, Any], frozenset[str]]:
    """The `config:` of Pulumi.<stack>.yaml as the engine would hand it to the program, and its secret keys.

    A `secure:` value (`pulumi config set --secret`, also nested with `--path`) is never decrypted here:
    it is replaced by the key's offline stand-in (`offline_stand_in`) and its top-level key is marked
    secret, exactly as the engine marks the real plaintext, so the program treats both alike."""
    path = project_dir / stack_file_name(stack)
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise ConfigurationError(
            stack_file_name(stack), ["no such stack file"], fix=f"create it with `pulumi stack init {stack}`"
        ) from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(stack_file_name(stack), [f"is not valid YAML: {exc}"]) from None
    config = raw.get("config") or {}
    values: dict[str, Any] = {}
    secret_keys = set()
    for key, value in config.items():
        found: list[str] = []
        values[key] = _replace_secure_values(key, value, found)
        if found:
            secret_keys.add(key)
    return values, frozenset(secret_keys)


def _replace_secure_values(path: str, value: Any, found: list[str]) -> Any:
    if isinstance(value, dict) and set(value) == {"secure"}:
        found.append(path)
        return offline_stand_in(path)
    if isinstance(value, dict):
        return {k: _replace_secure_values(f"{path}.{k}", v, found) for k, v in value.items()}
    if isinstance(value, list):
        return [_replace_secure_values(f"{path}[{i}]", v, found) for i, v in enumerate(value)]
    return value


OFFLINE_STAND_IN = "offline-stand-in"


def offline_stand_in(full_key: str) -> Any:
    """What the offline plan passes for a `secure:` value it cannot decrypt: the key's documented example
    (so the schema accepts it), or `offline-stand-in`. It reaches the program marked secret, as the real
    value would, so a plan shows only a secret marker wherever it flows."""
    for key, field, section in config_fields():
        if key == full_key and section is None and field.examples:
            return field.examples[0]
    return OFFLINE_STAND_IN


def stand_in_missing_credentials(
    values: dict[str, Any], secret_keys: frozenset[str]
) -> tuple[dict[str, Any], frozenset[str], list[str]]:
    """For work outside `pulumi up` (the offline plan, `config check`, gates): a credential the stack file does
    not set yet gets the offline stand-in, marked secret, as if a person had set it. Returns the values, the
    secret keys and the keys stood in, so the caller can say which credentials are still to be set."""
    missing = [key for key in credential_keys() if key not in values]
    stood_in = {key: offline_stand_in(key) for key in missing}
    return {**values, **stood_in}, secret_keys | frozenset(missing), missing


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    values, secret_keys = read_stack_file(project_dir, stack)
    values, secret_keys, _ = stand_in_missing_credentials(values, secret_keys)
    return config_from_values(values, stack, secret_keys)
