"""The offline plan file: `pulumi stack export` version 3, plus a `bank` section.

Deterministic by construction: resources in dependency order with ties broken
by URN, keys sorted, no timestamps, no machine paths.
"""

from __future__ import annotations

import graphlib
import json
from importlib import metadata
from typing import Any

from bankctl.recording import Recording, Registration
from model.phases import Phase
from model.platform import PlatformSpec


def _resource_entry(reg: Registration) -> dict[str, Any]:
    entry: dict[str, Any] = {
        "urn": reg.urn,
        "type": reg.type,
        "custom": reg.custom,
        "parent": reg.parent,
        "dependencies": sorted(reg.dependencies),
        "propertyDependencies": {k: sorted(v) for k, v in sorted(reg.property_dependencies.items())},
        "inputs": reg.inputs,
        "outputs": reg.outputs,
        "protect": reg.protect,
        "retainOnDelete": reg.retain_on_delete,
    }
    if reg.custom:
        entry["id"] = reg.id
    if reg.provider:
        entry["provider"] = reg.provider
    return entry


def dependency_order(registrations: dict[str, Registration]) -> list[Registration]:
    """Parents, providers and dependencies before the resources that use them (as in a real export)."""
    graph: dict[str, list[str]] = {}
    for urn, reg in registrations.items():
        # A provider reference is `<provider urn>::<provider id>`.
        before = set(reg.dependencies) | {reg.parent, reg.provider.rsplit("::", 1)[0]}
        graph[urn] = sorted(b for b in before if b in registrations)
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered += ready
        sorter.done(*ready)
    return [registrations[u] for u in ordered]


def _phase_entry(phase: Phase, gate_urn: str) -> dict[str, Any]:
    return {
        "key": phase.key,
        "number": phase.number,
        "name": phase.name,
        "after": list(phase.after),
        "gate": gate_urn,
        "gateRule": phase.gate_rule,
        "completionSignal": phase.completion_signal,
    }


def bank_section(recording: Recording, platform: PlatformSpec) -> dict[str, Any]:
    component_urns = {r.name: r.urn for r in recording.registrations.values() if not r.custom}
    return {
        "stack": recording.stack,
        "project": recording.project,
        "environment": platform.config.environment,
        "phases": [_phase_entry(p, component_urns.get(p.gate_name, "")) for p in platform.phases],
        "modules": [
            {
                "id": m.spec.id,
                "slug": m.spec.slug,
                "name": m.spec.name,
                "domain": m.spec.domain,
                "phase": int(m.spec.phase) if m.spec.phase.isdigit() else m.spec.phase,
                "enabled": m.enabled,
                **({"disabledBecause": m.disabled_because} if not m.enabled else {}),
                "release": m.release_label,
                "urn": component_urns.get(m.spec.resource_name, ""),
            }
            for m in sorted(platform.modules, key=lambda m: m.spec.id)
        ],
    }


def export_document(recording: Recording, platform: PlatformSpec) -> dict[str, Any]:
    stack_entry = {
        "urn": recording.stack_urn,
        "type": "pulumi:pulumi:Stack",
        "custom": False,
        "parent": "",
        "dependencies": [],
        "propertyDependencies": {},
        "inputs": {},
        "outputs": recording.stack_outputs,
        "protect": False,
        "retainOnDelete": False,
    }
    return {
        "version": 3,
        "deployment": {
            "manifest": {
                "magic": "",
                "version": f"offline plan (pulumi SDK {metadata.version('pulumi')})",
                "plugins": [
                    {"name": name, "kind": "resource", "version": metadata.version(f"pulumi_{name}")}
                    for name in ("aws", "command")
                ],
            },
            "resources": [stack_entry] + [_resource_entry(r) for r in dependency_order(recording.registrations)],
        },
        "bank": bank_section(recording, platform),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
