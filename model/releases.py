"""The release manifest of a stack (releases/<stack>.yaml): which build of each service module runs, and which
build's migrations each database runs.

Unchanged pins give no diff, which is how "only changed modules need to re-run"
works (deployment sequence, "Re-deployment"). Foundation modules are released
with this repository and have no pin.

Migration pins (deployment sequence, step 0.2 and "Re-deployment": "If a module update includes a schema
migration, Flyway applies it before the module deploys"): per database, the domain repository, the commit, and
where that build published its `db/migrations` — a prefix in the stack's artifacts bucket, which Flyway reads
directly (`s3:` location). The pin is the migration's trigger: a new pin re-runs Flyway, nothing else does.

Layer pins: the Lambda layers this repository's own functions need (MOD-046's JIT database access functions import
psycopg and certifi, which the Lambda runtime lacks). `functions/build_layers.py` builds each reproducibly and prints
its sha256; the pin names the zip in the stack's artifacts bucket (a key that contains that sha256, so one key is
one build) and the sha256 itself, from which the layer version's `source_code_hash` comes.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, model_serializer

from model.errors import ConfigurationError, describe_validation_error
from model.phases import DOMAINS, DatabaseName
from model.yaml_source import parse_yaml

GIT_SHA = re.compile(r"^[0-9a-f]{40}$")
# Refs that float: a pin must name one build, so prod refuses these (and all-zero SHAs).
FLOATING_REFS = re.compile(r"^(latest|head|main|master|develop|dev|trunk|release|stable|snapshot)$|/", re.I)
REPOSITORY_RELEASE = "this-repository"
SHA256 = re.compile(r"^[0-9a-f]{64}$")
# The layers this repository's functions need, by name: who needs each. Every stack deploys them (MOD-046 is a
# foundation module), so every release manifest pins each one.
REQUIRED_LAYERS: dict[str, str] = {
    "jit-db-access": "MOD-046's just-in-time database access functions (psycopg, certifi)",
}
BUILD_LAYER_COMMAND = ".venv/bin/python functions/build_layers.py"


class ReleasePin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha: Annotated[str, StringConstraints(min_length=1)] = Field(description="git SHA of the module's source")
    artifact: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]+\.zip$")] = Field(
        description="build artifact key in the artifacts bucket, e.g. bank-core/mod-001-account-creation/<sha>.zip"
    )
    # Optional: when CI pins it, `bankctl artifacts check` compares it with the object's S3 SHA-256 checksum.
    sha256: Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{64}$")] | None = Field(
        None, description="SHA-256 of the artifact zip, 64 lower-case hex characters (checked against S3)"
    )

    @model_serializer(mode="wrap")
    def _without_unset_checksum(self, handler):
        # A pin without sha256 dumps exactly as before the field existed, so module records (and plans) stay
        # byte-identical; a pin with one records it.
        dumped = handler(self)
        if self.sha256 is None and isinstance(dumped, dict):
            dumped.pop("sha256", None)
        return dumped


class MigrationPin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    repository: Annotated[str, StringConstraints(pattern=r"^[a-z0-9][a-z0-9-]*$")] = Field(
        description="the domain repository whose db/migrations these are, e.g. bank-core"
    )
    sha: Annotated[str, StringConstraints(min_length=1)] = Field(description="git SHA of the build")
    # A key prefix, not a URL: the bucket is the stack's own artifacts bucket (MOD-104), never one a pin names.
    location: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9_-][A-Za-z0-9._-]*(/[A-Za-z0-9._-]+)*$")] = Field(
        description="where that build published db/migrations in the artifacts bucket, e.g. bank-core/db-migrations/<sha>"
    )


class LayerPin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    # A key, not a URL: the bucket is the stack's own artifacts bucket (MOD-104), never one a pin names.
    artifact: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]+\.zip$")] = Field(
        description="the layer zip's key in the artifacts bucket: layers/<layer>/<sha256>.zip"
    )
    # Checked by `layer_problems` rather than a pattern here, so a wrong digest gets a message that says what to do.
    sha256: Annotated[str, StringConstraints(min_length=1)] = Field(
        description="SHA-256 of the zip, 64 lower-case hex characters, as functions/build_layers.py prints it"
    )


class ReleaseManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stack: str
    modules: dict[Annotated[str, StringConstraints(pattern=r"^MOD-[0-9]{3}$")], ReleasePin]
    # Per database (DESIGN G4's eight names): the migrations it runs. Validated against the stack's modules by
    # `migration_problems`: every database a deployed module uses has a pin, and no other database has one.
    migrations: dict[DatabaseName, MigrationPin] = {}
    # Per layer of REQUIRED_LAYERS (`layer_problems`): the build its functions run with.
    layers: dict[str, LayerPin] = {}


def release_file(project_dir: Path, stack: str) -> Path:
    return project_dir / "releases" / f"{stack}.yaml"


def load_release_manifest(project_dir: Path, stack: str) -> ReleaseManifest:
    path = release_file(project_dir, stack)
    shown = f"releases/{stack}.yaml"
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigurationError(shown, ["no release manifest for this stack"], fix=f"create {shown}") from None
    except yaml.YAMLError as exc:
        raise ConfigurationError(shown, [f"is not valid YAML: {exc}"]) from None
    try:
        manifest = ReleaseManifest.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(shown, describe_validation_error(exc)) from None
    problems = layer_problems(manifest.layers)
    if problems:
        raise ConfigurationError(
            shown,
            problems,
            fix=f"build the layer with `{BUILD_LAYER_COMMAND} <layer>`, publish the zip to the stack's artifacts "
            "bucket under the key it prints, and pin that key and sha256 (docs/databases.md, JIT access)",
        )
    return manifest


def pin_problems(module_id: str, pin: ReleasePin, environment: str) -> list[str]:
    """A pin must name one build; uat and prod accept nothing else."""
    problems = sha_problems(f"modules.{module_id}.sha", pin.sha, environment, floating="latest" in pin.artifact.lower())
    if GIT_SHA.match(pin.sha) and pin.sha not in pin.artifact:
        problems.append(f"modules.{module_id}.artifact: `{pin.artifact}` is not the build of {pin.sha[:12]}")
    return problems


def sha_problems(key: str, sha: str, environment: str, floating: bool = False) -> list[str]:
    """A SHA names one commit: uat and prod need the full 40 characters; all zeros is never one."""
    floating = floating or bool(FLOATING_REFS.search(sha))
    zeros = set(sha) == {"0"}
    if environment in ("uat", "prod"):
        if floating or zeros or not GIT_SHA.match(sha):
            return [
                f"{key}: `{sha}` is not a pinned build; {environment} needs the full 40-character git SHA of a "
                "real commit"
            ]
    elif zeros:
        return [f"{key}: all zeros is not a commit"]
    return []


def migration_problems(used: dict[str, list[str]], migrations: dict[str, MigrationPin], environment: str) -> list[str]:
    """A used database (name → slugs of the deployed modules that use it) without a pin, a pin for a database
    no deployed module uses, and pins that do not name one build of the database's own repository."""
    problems = []
    for database in sorted(set(used) - set(migrations)):
        users = used[database]
        shown = ", ".join(users[:3]) + (f" and {len(users) - 3} more" if len(users) > 3 else "")
        problems.append(
            f"migrations.{database}: no migration pin, but {shown} use {database}; pin its repository, sha and "
            "location (the build's published db/migrations)"
        )
    for database in sorted(set(migrations) - set(used)):
        problems.append(
            f"migrations.{database}: no module this stack deploys uses {database}; remove the pin (migrations run "
            "only for databases in use)"
        )
    for database, pin in sorted(migrations.items()):
        repository = next(d.repo for d in DOMAINS.values() if d.database == database)
        if pin.repository != repository:
            problems.append(
                f"migrations.{database}.repository: is `{pin.repository}`, but {database}'s migrations live in "
                f"{repository}"
            )
        floating = "latest" in pin.location.lower()
        problems += sha_problems(f"migrations.{database}.sha", pin.sha, environment, floating=floating)
        if floating or ".." in pin.location.split("/"):
            problems.append(f"migrations.{database}.location: `{pin.location}` does not name one build")
        elif GIT_SHA.match(pin.sha) and pin.sha not in pin.location:
            problems.append(f"migrations.{database}.location: `{pin.location}` is not the build of {pin.sha[:12]}")
    return problems


def layer_problems(layers: dict[str, LayerPin]) -> list[str]:
    """A layer a function needs without a pin, a pin no function needs, and pins that do not name one build."""
    problems = [
        f"layers.{name}: no pin, but {needed_by} need it; build it with `{BUILD_LAYER_COMMAND} {name}` and pin the "
        "artifact key and sha256 it prints"
        for name, needed_by in REQUIRED_LAYERS.items()
        if name not in layers
    ]
    for name in sorted(set(layers) - set(REQUIRED_LAYERS)):
        problems.append(
            f"layers.{name}: no function of this repository uses a layer `{name}` "
            f"(known: {', '.join(sorted(REQUIRED_LAYERS))}); remove the pin"
        )
    for name, pin in sorted(layers.items()):
        if not SHA256.match(pin.sha256):
            problems.append(
                f"layers.{name}.sha256: `{pin.sha256}` is not a SHA-256 digest (64 lower-case hex characters, as "
                f"`{BUILD_LAYER_COMMAND} {name}` prints it)"
            )
        elif ".." in pin.artifact.split("/") or pin.sha256 not in pin.artifact:
            problems.append(
                f"layers.{name}.artifact: `{pin.artifact}` is not the build {pin.sha256[:12]}: the key names the "
                f"zip by its content, layers/{name}/<sha256>.zip"
            )
    return problems
