"""The release manifest of a stack (releases/<stack>.yaml): which build of each service module runs.

Unchanged pins give no diff, which is how "only changed modules need to re-run"
works (deployment sequence, "Re-deployment"). Foundation modules are released
with this repository and have no pin.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError

from model.errors import ConfigurationError, describe_validation_error
from model.yaml_source import parse_yaml

GIT_SHA = re.compile(r"^[0-9a-f]{40}$")
# Refs that float: a pin must name one build, so prod refuses these (and all-zero SHAs).
FLOATING_REFS = re.compile(r"^(latest|head|main|master|develop|dev|trunk|release|stable|snapshot)$|/", re.I)
REPOSITORY_RELEASE = "this-repository"


class ReleasePin(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sha: Annotated[str, StringConstraints(min_length=1)] = Field(description="git SHA of the module's source")
    artifact: Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._/-]+\.zip$")] = Field(
        description="build artifact key in the artifacts bucket, e.g. bank-core/mod-001-account-creation/<sha>.zip"
    )


class ReleaseManifest(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    stack: str
    modules: dict[Annotated[str, StringConstraints(pattern=r"^MOD-[0-9]{3}$")], ReleasePin]


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
        return ReleaseManifest.model_validate(raw)
    except ValidationError as exc:
        raise ConfigurationError(shown, describe_validation_error(exc)) from None


def pin_problems(module_id: str, pin: ReleasePin, environment: str) -> list[str]:
    """A pin must name one build; uat and prod accept nothing else."""
    problems = []
    floating = bool(FLOATING_REFS.search(pin.sha)) or "latest" in pin.artifact.lower()
    zeros = set(pin.sha) == {"0"}
    if environment in ("uat", "prod"):
        if floating or zeros or not GIT_SHA.match(pin.sha):
            problems.append(
                f"modules.{module_id}.sha: `{pin.sha}` is not a pinned build; {environment} needs the full "
                "40-character git SHA of a real commit"
            )
    elif zeros:
        problems.append(f"modules.{module_id}.sha: all zeros is not a commit")
    if GIT_SHA.match(pin.sha) and pin.sha not in pin.artifact:
        problems.append(f"modules.{module_id}.artifact: `{pin.artifact}` is not the build of {pin.sha[:12]}")
    return problems
