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


class RiskConfig(_Section):
    nz_prudential: Toggle = Field(
        Toggle(), description="NZ prudential modules: OBR and DCS (deployment sequence, Phase 6 step 4)"
    )


class AnalyticsConfig(_Section):
    snowflake: Toggle = Field(
        Toggle(enabled=True), description="MOD-102 Snowflake and the data-platform pipelines (off in local, DESIGN G10)"
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


class LocalConfig(_Section):
    aws_endpoint: Annotated[str, StringConstraints(pattern=r"^http://(localhost|127\.0\.0\.1)(:[0-9]+)?/?$")] = Field(
        description="the AWS emulator the local stack deploys to (DESIGN G10), e.g. http://localhost:4566"
    )


class StackConfig(_Section):
    """Everything a stack may set under `bank:`."""

    environment: Environment = Field(description="local, dev, uat or prod; must match the stack name")
    region: AwsRegion = Field("ap-southeast-2", description="the AWS region of every resource")
    aws_account_id: AwsAccountId = Field(description="the only AWS account this stack may touch (12 digits)")
    institution_type: InstitutionType = Field("bank", description="selects modules by the activation matrix")
    jurisdictions: tuple[Jurisdiction, ...] = Field(
        min_length=1, description="NZ, AU or both; modules for neither are not deployed"
    )
    alert_email: Email = Field(description="where alarms are sent")
    payments: PaymentsConfig = Field(PaymentsConfig(), description="optional payment rails")
    cards: Toggle = Field(Toggle(), description="card management (deployment sequence, Phase 7 step 5)")
    observability: ObservabilityConfig = Field(ObservabilityConfig(), description="optional observability agents")
    risk: RiskConfig = Field(RiskConfig(), description="optional risk modules")
    analytics: AnalyticsConfig = Field(AnalyticsConfig(), description="the analytics layer")
    retention: RetentionConfig = Field(
        RetentionConfig(), description="how long logs, audit records and events are kept"
    )
    sizing: SizingConfig = Field(SizingConfig(), description="capacity that differs by environment")
    local: LocalConfig | None = Field(None, description="only for the local stack")

    @field_validator("jurisdictions")
    @classmethod
    def _unique(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if len(set(value)) != len(value):
            raise ValueError("lists a jurisdiction twice")
        return value

    @property
    def protect_stateful(self) -> bool:
        """Stateful resources are protected (and retained on delete) in uat and prod."""
        return self.environment in STATEFUL_PROTECTED_ENVIRONMENTS


# The flags a catalogue module may name in `optional:` (DESIGN G6), and how to read each.
FEATURE_FLAGS: dict[str, Callable[[StackConfig], bool]] = {
    "payments.swift.enabled": lambda c: c.payments.swift.enabled,
    "cards.enabled": lambda c: c.cards.enabled,
    "observability.datadog.enabled": lambda c: c.observability.datadog.enabled,
    "risk.nzPrudential.enabled": lambda c: c.risk.nz_prudential.enabled,
    "analytics.snowflake.enabled": lambda c: c.analytics.snowflake.enabled,
}

_PLACEHOLDER_WORDS = re.compile(r"(changeme|placeholder|todo|tbd|xxx|example\.(com|org|net)|@test\.)", re.I)


def is_placeholder_account(account_id: str) -> bool:
    """All one digit, or the IDs AWS's documentation uses as examples."""
    return len(set(account_id)) == 1 or account_id in {"123456789012", "012345678901", "210987654321"}


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
    if config.risk.nz_prudential.enabled and "NZ" not in config.jurisdictions:
        problems.append("bank:risk.nzPrudential.enabled: NZ prudential modules need NZ in bank:jurisdictions")
    if config.environment in ("uat", "prod"):
        if is_placeholder_account(config.aws_account_id):
            problems.append(f"bank:awsAccountId: `{config.aws_account_id}` is a placeholder; set the real account")
        if _PLACEHOLDER_WORDS.search(config.alert_email):
            problems.append(f"bank:alertEmail: `{config.alert_email}` is a placeholder; set a monitored mailbox")
    if config.environment == "prod" and config.retention.audit_archive_years < 7:
        problems.append(
            "bank:retention.auditArchiveYears: prod keeps audit records at least 7 years "
            "(AML/CTF record keeping); set 7 or more"
        )
    return problems


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
    problems = environment_rule_problems(config, stack)
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
            yield from config_fields(section, key + ".")


def _keys_beside(location: tuple) -> list[str]:
    """The keys that may stand where an unknown key was written (for "did you mean")."""
    model: type[BaseModel] | None = StackConfig
    for part in location[:-1]:
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
    """The `config:` of Pulumi.<stack>.yaml, and which keys are `secure:` (their ciphertext is never decrypted here)."""
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
        if isinstance(value, dict) and set(value) == {"secure"}:
            secret_keys.add(key)
            values[key] = value["secure"]
        else:
            values[key] = value
    return values, frozenset(secret_keys)


def load_stack_config(project_dir: Path, stack: str) -> StackConfig:
    values, secret_keys = read_stack_file(project_dir, stack)
    return config_from_values(values, stack, secret_keys)
