"""The secrets manifest: catalogue/secrets.yaml, modelled and validated (operations index, "Secrets manifest";
DESIGN G8). No Pulumi here: the MOD-045 component, the foundation gate and `bankctl secrets` all read this model.

Every secret the platform needs is one entry, at /bank/{env}/{domain}/{name} in Secrets Manager (operations index,
"Conventions"). An entry says who reads it (consumers), who provides its value (a person, `providedBy`, or the
module that generates it, `generatedBy`) and how it is rotated. MOD-045 creates the containers of the externally
provided ones; generated ones belong to the module that generates them, which therefore never waits for MOD-045
(deployment sequence, step 0.2 runs MOD-103 and MOD-102 beside MOD-045).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_validator

from model.catalogue import Catalogue, SecretName, Slug
from model.errors import ConfigurationError, describe_validation_error
from model.phases import PHASE_KEYS, DatabaseName, DomainId
from model.stack_config import FEATURE_FLAGS
from model.yaml_source import parse_yaml

if TYPE_CHECKING:
    from model.platform import PlatformSpec

DEFAULT_SECRETS_FILE = Path(__file__).resolve().parent.parent / "catalogue" / "secrets.yaml"
SHOWN_FILE = "catalogue/secrets.yaml"

# The module that creates the containers of externally provided secrets (deployment sequence, step 0.3).
SECRETS_MODULE = "secrets-key-management"
# Secrets Manager's AutomaticallyAfterDays accepts 1–1000 (RotationRulesType).
MAX_ROTATION_DAYS = 1000


@dataclass(frozen=True)
class RotationFunction:
    """A kind of secret MOD-045 rotates automatically: one Lambda function per kind (deployment sequence, step 0.3:
    "secret rotation lambdas"), its code in functions/secret_rotation/<module>.py."""

    kind: str
    module: str
    # The JSON keys the secret's value holds; `bankctl secrets set` refuses a value without them.
    fields: tuple[str, ...]
    summary: str


ROTATION_FUNCTIONS: dict[str, RotationFunction] = {
    f.kind: f
    for f in (
        RotationFunction(
            kind="cognito-user-password",
            module="cognito_user_password",
            fields=("userPoolId", "clientId", "username", "password"),
            summary="sets a newly generated password on the Cognito user (AdminSetUserPassword), then signs in with it",
        ),
        RotationFunction(
            kind="datadog-api-key",
            module="datadog_api_key",
            fields=("api_key", "api_key_id", "site"),
            summary="creates a new Datadog API key and validates it; revokes the key it replaced one rotation "
            "earlier (Firehose re-reads the secret every 10 minutes, so the previous key stays valid meanwhile)",
        ),
    )
}
RotationKind = Literal["cognito-user-password", "datadog-api-key"]


class Consumers(BaseModel):
    """Who reads a secret. The resource policy of a secret MOD-045 creates admits exactly their roles."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modules: tuple[Slug, ...] = Field((), description="module slugs")
    gates: tuple[str, ...] = Field((), description="phase gate keys whose checks read it (as the CI/CD deploy role)")
    database: DatabaseName | None = Field(None, description="every module whose catalogue `database` is this one")

    @property
    def empty(self) -> bool:
        return not (self.modules or self.gates or self.database)


class Rotation(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    automatic: bool
    period_days: int = Field(alias="periodDays", ge=1, le=MAX_ROTATION_DAYS)
    function: RotationKind | None = Field(None, description="the rotation function, when automatic")
    rotated_by: str | None = Field(None, alias="rotatedBy", min_length=3, description="who rotates it, when manual")


class SecretEntry(BaseModel):
    """One secret of the manifest."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    name: SecretName
    domain: DomainId
    description: Annotated[str, StringConstraints(min_length=3)]
    provided_by: str | None = Field(None, alias="providedBy", min_length=3)
    generated_by: Slug | None = Field(None, alias="generatedBy")
    consumers: Consumers
    rotation: Rotation
    when: str | None = Field(None, description="a stack feature flag; the secret exists only where it is on")
    source: str = ""

    @model_validator(mode="after")
    def _one_provider(self) -> SecretEntry:
        if (self.provided_by is None) == (self.generated_by is None):
            raise ValueError("set exactly one of providedBy (a person provides the value) or generatedBy (a module)")
        return self

    @property
    def key(self) -> str:
        """`sd02/greenid-api-credentials`: the path without its environment, as the manifest names secrets."""
        return f"{self.domain.lower()}/{self.name}"

    def path(self, environment: str) -> str:
        """Where the secret lives: /bank/{env}/{domain}/{name}, the domain lower-case (operations index)."""
        return f"/bank/{environment}/{self.key}"

    @property
    def externally_provided(self) -> bool:
        """A person provides the value; MOD-045 creates the container."""
        return self.generated_by is None

    @property
    def owner(self) -> str:
        """The module that creates the secret."""
        return self.generated_by or SECRETS_MODULE


@dataclass(frozen=True)
class SecretsManifest:
    secrets: tuple[SecretEntry, ...]

    def by_key(self) -> dict[str, SecretEntry]:
        return {s.key: s for s in self.secrets}

    def lookup(self, reference: str, environment: str) -> tuple[SecretEntry | None, str]:
        """The entry a person means by `/bank/{env}/sd02/name`, `sd02/name` or a `name` unique in the manifest;
        else None and why."""
        text = reference.strip()
        prefix = f"/bank/{environment}/"
        if text.startswith("/bank/"):
            if not text.startswith(prefix):
                return None, f"`{text}` is not a secret of environment {environment} (expected {prefix}…)"
            text = text[len(prefix) :]
        by_key = self.by_key()
        if "/" in text:
            found = by_key.get(text.lower().partition("/")[0] + "/" + text.partition("/")[2])
            if found is None:
                close = difflib.get_close_matches(text, list(by_key), n=1)
                hint = f"; did you mean {prefix}{close[0]}?" if close else ""
                return None, f"the secrets manifest has no secret {prefix}{text}{hint}"
            return found, ""
        named = [s for s in self.secrets if s.name == text]
        if len(named) == 1:
            return named[0], ""
        if named:
            choices = ", ".join(prefix + s.key for s in named)
            return None, f"`{text}` is a secret of several domains; name one: {choices}"
        return None, f"the secrets manifest has no secret named `{text}`"


def load_secrets_manifest(catalogue: Catalogue | None = None, path: Path = DEFAULT_SECRETS_FILE) -> SecretsManifest:
    """Read, model and validate the manifest; with the catalogue, also check the two agree. Every problem is
    reported at once (ConfigurationError naming catalogue/secrets.yaml)."""
    shown = SHOWN_FILE if path == DEFAULT_SECRETS_FILE else str(path)
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(shown, [f"cannot be read: {exc}"]) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("secrets"), list):
        raise ConfigurationError(shown, ["must be a mapping with a `secrets:` list"])
    return parse_secrets_manifest(raw["secrets"], catalogue, shown)


def parse_secrets_manifest(
    entries: list, catalogue: Catalogue | None = None, shown: str = SHOWN_FILE
) -> SecretsManifest:
    problems: list[str] = []
    secrets: list[SecretEntry] = []
    for index, entry in enumerate(entries):
        try:
            secrets.append(SecretEntry.model_validate(entry))
        except ValidationError as exc:
            label = f"entry {index + 1}"
            if isinstance(entry, dict) and entry.get("name"):
                label = f"{str(entry.get('domain', '?')).lower()}/{entry['name']}"
            problems += [f"{label}: {line}" for line in describe_validation_error(exc)]
    manifest = SecretsManifest(secrets=tuple(secrets))
    problems += manifest_problems(manifest, catalogue)
    if problems:
        raise ConfigurationError(
            shown, problems, fix="edit catalogue/secrets.yaml (its header describes every field) or the catalogue"
        )
    return manifest


def manifest_problems(manifest: SecretsManifest, catalogue: Catalogue | None = None) -> list[str]:
    """Every problem of the manifest on its own, and (given the catalogue) every disagreement with it."""
    problems: list[str] = []
    seen: dict[str, int] = {}
    for s in manifest.secrets:
        seen[s.key] = seen.get(s.key, 0) + 1
    problems += [f"{key}: declared {count} times; keep one entry" for key, count in sorted(seen.items()) if count > 1]
    for s in manifest.secrets:
        if s.consumers.empty:
            problems.append(
                f"{s.key}: nobody reads it; list its consumers (modules, gates or database), or remove the entry"
            )
        problems += [
            f"{s.key}: consumer gate `{g}` is not a phase (expected one of {', '.join(PHASE_KEYS)})"
            for g in s.consumers.gates
            if g not in PHASE_KEYS
        ]
        if s.when is not None and s.when not in FEATURE_FLAGS:
            problems.append(
                f"{s.key}: `when: {s.when}` is not a stack feature flag (known: {', '.join(sorted(FEATURE_FLAGS))})"
            )
        rotation = s.rotation
        if rotation.automatic and rotation.function is None:
            problems.append(
                f"{s.key}: rotation is automatic but names no `function` (one of {', '.join(ROTATION_FUNCTIONS)})"
            )
        if rotation.automatic and rotation.rotated_by is not None:
            problems.append(f"{s.key}: an automatic rotation has no `rotatedBy`; remove it")
        if not rotation.automatic and rotation.function is not None:
            problems.append(f"{s.key}: `function` is only for automatic rotation; set automatic: true or remove it")
        if not rotation.automatic and rotation.rotated_by is None:
            problems.append(f"{s.key}: rotation is not automatic, so say who rotates it (`rotatedBy`)")
        if rotation.automatic and not s.externally_provided:
            problems.append(
                f"{s.key}: generated by {s.generated_by}, which rotates it itself; MOD-045's rotation functions only "
                "rotate externally provided secrets: set automatic: false and rotatedBy"
            )
    if catalogue is not None:
        problems += catalogue_agreement_problems(manifest, catalogue)
    return problems


def catalogue_agreement_problems(manifest: SecretsManifest, catalogue: Catalogue) -> list[str]:
    """The catalogue's per-module `secrets` refer to the manifest (the entry of that name in the module's domain),
    and the two say the same about who reads what."""
    problems: list[str] = []
    by_slug = catalogue.by_slug()
    by_key = manifest.by_key()

    def unknown(slug: str) -> str:
        close = difflib.get_close_matches(slug, list(by_slug), n=1)
        return f" (did you mean {close[0]}?)" if close else ""

    for s in manifest.secrets:
        if s.generated_by is not None and s.generated_by not in by_slug:
            problems.append(
                f"{s.key}: generatedBy `{s.generated_by}` is not a module of the catalogue{unknown(s.generated_by)}"
            )
        for slug in s.consumers.modules:
            module = by_slug.get(slug)
            if module is None:
                problems.append(f"{s.key}: consumer `{slug}` is not a module of the catalogue{unknown(slug)}")
            elif module.kind == "service" and not (module.domain == s.domain and s.name in module.secrets):
                # A service module's code ships from its domain repository, which declares what it reads in the
                # catalogue; MOD-104 derives the module's role from that (DESIGN §3, per-service roles).
                problems.append(
                    f"{s.key}: lists consumer {slug} ({module.id}), but catalogue/modules.yaml does not say "
                    f"{slug} reads it: add `{s.name}` to its `secrets` (it must be of {s.domain}), or remove the consumer"
                )
    for module in catalogue.modules:
        for name in module.secrets:
            key = f"{module.domain.lower()}/{name}"
            entry = by_key.get(key)
            if entry is None:
                problems.append(
                    f"catalogue/modules.yaml: {module.id} ({module.slug}) reads secret `{name}`, which "
                    f"catalogue/secrets.yaml does not declare in {module.domain}: add an entry "
                    f"{{name: {name}, domain: {module.domain}, consumers: {{modules: [{module.slug}]}}, …}}, "
                    "or remove it from the module's secrets"
                )
            elif module.slug not in entry.consumers.modules:
                problems.append(
                    f"{key}: {module.id} ({module.slug}) reads it (catalogue/modules.yaml) but is not among its "
                    f"consumers, so the secret's resource policy would refuse it: add {module.slug} to consumers.modules"
                )
    return problems


# --- One stack's secrets --------------------------------------------------------------------------------------
@dataclass(frozen=True)
class StackSecret:
    """A manifest entry as one stack has it."""

    entry: SecretEntry
    path: str  # /bank/{env}/{domain}/{name}
    consumer_modules: tuple[str, ...]  # deployed modules (slugs) that read it
    consumer_gates: tuple[str, ...]
    # Checked by the foundation gate: everything the stack has, except what a module outside that gate generates
    # (MOD-102's loader key; DESIGN G1: the foundation gate does not wait for MOD-102).
    required: bool

    @property
    def key(self) -> str:
        return self.entry.key


def stack_secrets(manifest: SecretsManifest, platform: PlatformSpec) -> list[StackSecret]:
    """The secrets this stack has, in manifest order: flag on, and a consumer deployed (generated ones: their
    owner deployed)."""
    deployed = {m.spec.slug: m for m in platform.enabled_modules()}
    gate_members = {m.spec.slug for m in platform.gate_members("0")}
    found: list[StackSecret] = []
    for entry in manifest.secrets:
        if entry.when is not None and not FEATURE_FLAGS[entry.when](platform.config):
            continue
        readers = [slug for slug in entry.consumers.modules if slug in deployed]
        if entry.consumers.database is not None:
            readers += sorted(s for s, m in deployed.items() if m.spec.database == entry.consumers.database)
        readers = list(dict.fromkeys(readers))
        if entry.externally_provided:
            if not readers and not entry.consumers.gates:
                continue
        elif entry.generated_by not in deployed:
            continue
        found.append(
            StackSecret(
                entry=entry,
                path=entry.path(platform.config.environment),
                consumer_modules=tuple(readers),
                consumer_gates=entry.consumers.gates,
                required=entry.externally_provided or entry.generated_by in gate_members,
            )
        )
    return found


def set_command(stack: str, secret: StackSecret) -> str:
    """The command a person runs to fill an empty secret (from the project directory, like the gates)."""
    return f".venv/bin/python -m bankctl secrets set {stack} {secret.path}"
