"""Last known-good: what a phase gate saw pass, per module, for `bankctl rollback` to restore.

The deployment sequence ("Rollback"): each module is rolled back to "the last-known-good deployment", restoring the
Lambda code version and the SSM parameters. DESIGN §3, "Last known-good is what passed": `bankctl gate run` calls
`record_last_known_good` only after every check of the phase passed — the module-records check has just proved
that each module's SSM record holds exactly the release its pin names, so the pin is what passed, not merely what
was pinned. A failed gate writes nothing, so the previous record stays the last one that passed.

One SSM parameter per module, `/bank/{env}/{slug}/last-known-good` (operations index: /bank/{env}/{service}/…),
a String holding JSON: the release (`sha`, `artifact`, and `sha256` when the pin has one), the gate's `phase`, and
`when` it passed (UTC, ISO-8601). Foundation modules ship with this repository: their `sha` is this checkout's
commit (null when it is not a git checkout), `artifact` is null.

Not a Pulumi resource: it is written at deploy time by the gate, so a `pulumi up` never fights over it.
"""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, datetime
from pathlib import Path

from model.platform import ModuleDeployment, PlatformSpec
from model.releases import REPOSITORY_RELEASE


def last_known_good_name(environment: str, slug: str) -> str:
    return f"/bank/{environment}/{slug}/last-known-good"


def utc_now() -> str:
    """ISO-8601 in UTC to the second, e.g. 2025-03-01T04:05:06Z."""
    return datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def repository_commit(project_dir: Path) -> tuple[str | None, bool]:
    """This checkout's commit and whether it has uncommitted changes (for the foundation modules, which ship with
    this repository); (None, False) when it is not a git checkout or git is missing."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--verify", "HEAD"], cwd=project_dir, capture_output=True, text=True, timeout=30
        )
        if head.returncode != 0:
            return None, False
        status = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=project_dir,
            capture_output=True,
            text=True,
            timeout=30,
        )
    except (OSError, subprocess.SubprocessError):
        return None, False
    return head.stdout.strip(), bool(status.stdout.strip())


def last_known_good_record(
    module: ModuleDeployment, phase_key: str, when: str, repository: tuple[str | None, bool]
) -> dict:
    if module.release is None:
        sha, modified = repository
        record = {"sha": sha, "artifact": None, "release": REPOSITORY_RELEASE}
        if modified:
            record["uncommittedChanges"] = True  # the checkout that passed differs from its commit
    else:
        record = module.release.model_dump()
    return {"id": module.spec.id, "slug": module.spec.slug, **record, "phase": phase_key, "when": when}


def record_last_known_good(
    platform: PlatformSpec, phase_key: str, ssm, project_dir: Path, when: str | None = None
) -> list[str]:
    """Write each gated module's last-known-good record; returns the parameter names written. Call only after the
    phase's checks all passed. The modules are the gate's members — those whose records the gate just checked."""
    when = when or utc_now()
    members = platform.gate_members(phase_key)
    repository = repository_commit(project_dir) if any(m.release is None for m in members) else (None, False)
    written = []
    for module in members:
        name = last_known_good_name(platform.config.environment, module.spec.slug)
        value = json.dumps(last_known_good_record(module, phase_key, when, repository), sort_keys=True)
        ssm.put_parameter(
            Name=name,
            Value=value,
            Type="String",
            Overwrite=True,
            Description=f"{module.spec.id} {module.spec.name}: the release its phase gate last saw pass",
        )
        written.append(name)
    return written


def read_last_known_good(ssm, environment: str, slug: str) -> dict | None:
    """The module's last-known-good record, or None when no gate has passed with it yet."""
    try:
        response = ssm.get_parameter(Name=last_known_good_name(environment, slug))
    except ssm.exceptions.ParameterNotFound:
        return None
    return json.loads(response["Parameter"]["Value"])
