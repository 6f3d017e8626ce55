"""`bankctl plan STACK`: the real __main__.py under Pulumi's mock runtime, written as a stack export."""

from __future__ import annotations

import json
import runpy
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bankctl.plan_export import export_document, render
from bankctl.plan_graph import PlanGraph
from bankctl.recording import PlanMocks, Recording, record_program
from model.platform import PlatformSpec
from model.stack_config import read_stack_file, required_credentials, stand_in_missing_credentials
from model.yaml_source import parse_yaml

PROJECT_DIR = Path(__file__).resolve().parent.parent


@dataclass
class OfflinePlan:
    recording: Recording
    platform: PlatformSpec
    document: dict[str, Any]
    text: str
    stood_in: list[str]  # credentials the stack file does not set yet, planned with an offline stand-in


def project_name(project_dir: Path) -> str:
    return parse_yaml((project_dir / "Pulumi.yaml").read_text(encoding="utf-8"))["name"]


def engine_config_values(values: dict[str, Any]) -> dict[str, str]:
    """Config as the engine hands it to a program: text, with objects and lists as JSON."""
    out = {}
    for key, value in values.items():
        if isinstance(value, (dict, list)):
            out[key] = json.dumps(value, sort_keys=True)
        elif isinstance(value, bool):
            out[key] = "true" if value else "false"
        else:
            out[key] = str(value)
    return out


def plan_stack(stack: str, project_dir: Path = PROJECT_DIR, secret_values: dict[str, str] | None = None) -> OfflinePlan:
    """Run the stack's real program (__main__.py) offline. Raises pulumi.RunError on invalid input.

    `secret_values` are passed as the engine passes a decrypted `--secret` key: plaintext, with the key
    in the list of secret keys (tests use it to prove no plaintext escapes into a plan)."""
    if str(project_dir) not in sys.path:
        sys.path.insert(0, str(project_dir))
    program_globals: dict[str, Any] = {}

    def program() -> None:
        program_globals.update(runpy.run_path(str(project_dir / "__main__.py"), run_name="__main__"))

    return record_plan(stack, program, lambda: program_globals["platform"], project_dir, secret_values)


def record_plan(
    stack: str,
    program: Callable[[], Any],
    platform_of: Callable[[], PlatformSpec],
    project_dir: Path = PROJECT_DIR,
    secret_values: dict[str, str] | None = None,
) -> OfflinePlan:
    """Record `program` with the stack's config, and write what it registered as a plan."""
    values, secret_keys = read_stack_file(project_dir, stack)
    values = {**values, **(secret_values or {})}
    secret_keys = secret_keys | frozenset(secret_values or ())
    # Offline, a credential a person has not set yet is stood in (marked secret), as if it were set.
    values, secret_keys, stood_in = stand_in_missing_credentials(values, secret_keys)
    mocks = PlanMocks(
        account_id=str(values.get("bank:awsAccountId", "000000000000")),
        region=str(values.get("bank:region", "ap-southeast-2")),
    )
    recording = record_program(
        program, project_name(project_dir), stack, engine_config_values(values), secret_keys, mocks
    )
    platform = platform_of()
    stood_in = [key for key in required_credentials(platform.config) if key in stood_in]
    document = export_document(recording, platform)
    return OfflinePlan(
        recording=recording, platform=platform, document=document, text=render(document), stood_in=stood_in
    )


def _phase_list(keys: tuple[str, ...]) -> str:
    """`1 + 2`, or `0–6` for a run of phases."""
    numbers = [int(k) for k in keys if k.isdigit()]
    if len(numbers) > 2 and len(numbers) == len(keys) and numbers == list(range(numbers[0], numbers[-1] + 1)):
        return f"{numbers[0]}–{numbers[-1]}"
    return " + ".join(keys) or "—"


def phase_summary(plan: OfflinePlan) -> list[dict[str, Any]]:
    """Per phase: modules, resources, gate, and the deployment waves its modules fall in."""
    graph = PlanGraph(plan.document)
    waves = graph.waves()
    rows = []
    for phase in plan.platform.phases:
        modules = graph.modules(phase=phase.key)
        disabled = graph.modules(phase=phase.key, enabled=False)
        gate = graph.gate(phase.key)
        resources = sum(len(graph.subtree(m["urn"])) for m in modules) + len(graph.subtree(gate))
        module_waves = sorted({waves[m["urn"]] for m in modules})
        rows.append(
            {
                "phase": f"{phase.key} {phase.name}" if phase.number is not None else phase.name,
                "after": _phase_list(phase.after),
                "modules": len(modules),
                "disabled": len(disabled),
                "resources": resources,
                "gate": phase.gate_name,
                "gateWave": waves[gate],
                "waves": f"{module_waves[0]}–{module_waves[-1]}" if module_waves else "—",
                "modulesByWave": {
                    str(w): sorted(m["slug"] for m in modules if waves[m["urn"]] == w) for w in module_waves
                },
            }
        )
    return rows


def critical_path_summary(plan: OfflinePlan) -> dict[str, Any]:
    """The longest chain of modules and gates: its length in waves and its names, in order."""
    graph = PlanGraph(plan.document)
    path = graph.critical_path()
    return {"waves": len(path), "path": [graph.label(u) for u in path]}
