"""Gate check: every module of the phase has its module record, with the release this stack pins.

Runs inside the PhaseGate's command during `pulumi up`, after every module of
the phase has been deployed (the gate depends on them in the resource graph).
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from model.platform import PlatformSpec, module_record_name

GET_PARAMETERS_BATCH = 10  # the SSM GetParameters limit


@dataclass(frozen=True)
class RecordFinding:
    module_id: str
    slug: str
    problem: str


def check_module_records(platform: PlatformSpec, phase_key: str, ssm) -> list[RecordFinding]:
    """Every problem with the phase's module records; an empty list means the check passed."""
    environment = platform.config.environment
    expected = {module_record_name(environment, m.spec.slug): m for m in platform.gate_members(phase_key)}
    found: dict[str, str] = {}
    names = sorted(expected)
    for start in range(0, len(names), GET_PARAMETERS_BATCH):
        response = ssm.get_parameters(Names=names[start : start + GET_PARAMETERS_BATCH])
        found.update({p["Name"]: p["Value"] for p in response["Parameters"]})
    findings = []
    for name in names:
        module = expected[name]
        want = module.record(environment)
        if name not in found:
            findings.append(RecordFinding(module.spec.id, module.spec.slug, f"no module record at {name}"))
            continue
        try:
            have = json.loads(found[name])
        except json.JSONDecodeError:
            findings.append(RecordFinding(module.spec.id, module.spec.slug, f"{name} is not a module record"))
            continue
        if have.get("release") != want["release"]:
            findings.append(
                RecordFinding(
                    module.spec.id,
                    module.spec.slug,
                    f"runs release {_label(have.get('release'))}, expected {_label(want['release'])}",
                )
            )
        elif have != want:
            # Name each field that differs: a record of another domain, phase or environment means the
            # parameter was written by something else (or for another stack), not by this module.
            differs = [
                f"{key} is {have.get(key)!r}, expected {want.get(key)!r}"
                for key in sorted(set(have) | set(want))
                if have.get(key) != want.get(key)
            ]
            findings.append(
                RecordFinding(module.spec.id, module.spec.slug, f"{name} does not match: {'; '.join(differs)}")
            )
    return findings


def _label(release) -> str:
    if isinstance(release, dict):
        return str(release.get("sha", "?"))[:12]
    return str(release)
