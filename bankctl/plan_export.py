"""The offline plan file: `pulumi stack export` version 3, plus a `bank` section.

Field for field the engine's own format (pulumi/pulumi sdk/go/common/apitype/core.go `DeploymentV3`,
`ResourceV3`, `ManifestV1`): empty and false fields are left out as Go's `omitempty` leaves them
out; `custom`, the manifest's `time`, `magic` and `version`, and the deployment's `metadata` struct
are always written. What differs only because nothing ran is listed in
`bankctl.deployment_file.OFFLINE_ONLY_FIELDS`.

Deterministic by construction: resources in dependency order with ties broken by URN, keys
sorted, the zero time, no machine paths.
"""

from __future__ import annotations

import graphlib
import hashlib
import json
from importlib import metadata
from typing import Any

from bankctl.recording import STACK_TYPE, Recording, Registration
from model.phases import Phase
from model.platform import PlatformSpec

# Go's zero time.Time, as `encoding/json` writes it: a plan has no update time.
ZERO_TIME = "0001-01-01T00:00:00Z"
PLAN_VERSION = 3


def manifest_magic(version: str) -> str:
    """pkg/resource/deploy Manifest.NewMagic: "" for an empty version, else hex sha256 of the version."""
    return hashlib.sha256(version.encode()).hexdigest() if version else ""


def omit_empty(entry: dict[str, Any], always: tuple[str, ...] = ()) -> dict[str, Any]:
    """Go's `omitempty`: drop false, "", empty lists and maps, except the fields the struct always writes."""
    return {k: v for k, v in entry.items() if k in always or not _is_empty(v)}


def _is_empty(value: Any) -> bool:
    return value is None or value is False or value == "" or (isinstance(value, (list, dict)) and not value)


def _resource_entry(reg: Registration) -> dict[str, Any]:
    return omit_empty(
        {
            "urn": reg.urn,
            "custom": reg.custom,
            "id": reg.id if reg.custom else "",
            "type": reg.type,
            "inputs": reg.inputs,
            "outputs": reg.outputs,
            "parent": reg.parent,
            "protect": reg.protect,
            "dependencies": sorted(reg.dependencies),
            "provider": reg.provider,
            "propertyDependencies": {k: sorted(v) for k, v in sorted(reg.property_dependencies.items())},
            "additionalSecretOutputs": reg.additional_secret_outputs,
            "aliases": reg.aliases,
            "customTimeouts": reg.custom_timeouts,
            "retainOnDelete": reg.retain_on_delete,
            "deletedWith": reg.deleted_with,
            "ignoreChanges": reg.ignore_changes,
            "replaceOnChanges": reg.replace_on_changes,
        },
        always=("urn", "custom", "type"),
    )


def dependency_order(registrations: dict[str, Registration]) -> list[Registration]:
    """Parents, providers and dependencies before the resources that use them (as in a real export)."""
    graph: dict[str, list[str]] = {}
    for urn, reg in registrations.items():
        # A provider reference is `<provider urn>::<provider id>`.
        before = set(reg.dependencies) | {reg.parent, reg.provider.rsplit("::", 1)[0]}
        if reg.deleted_with:
            before.add(reg.deleted_with)
        graph[urn] = sorted(b for b in before if b in registrations)
    sorter = graphlib.TopologicalSorter(graph)
    sorter.prepare()
    ordered: list[str] = []
    while sorter.is_active():
        ready = sorted(sorter.get_ready())
        ordered += ready
        sorter.done(*ready)
    return [registrations[u] for u in ordered]


def manifest() -> dict[str, Any]:
    """ManifestV1 as today's engine writes it (pkg/backend/snapshot.go: time, version, magic = NewMagic(); the plugin
    list "explicitly dropped"). `version` says what wrote the plan, never an engine version; `magic` follows from it
    exactly as the engine computes it."""
    version = f"bankctl offline plan (pulumi SDK {metadata.version('pulumi')})"
    return {"time": ZERO_TIME, "magic": manifest_magic(version), "version": version}


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


def tenant_entries(platform: PlatformSpec) -> list[dict[str, Any]]:
    """Each tenant and the modules active for it: the activation matrix the runtime reads (DESIGN G13)."""
    return [
        {
            "id": tenant.id,
            "name": tenant.name,
            "institutionType": tenant.institution_type,
            "jurisdictions": list(tenant.jurisdictions),
            "activeModules": active,
        }
        for tenant, active in platform.tenant_activation()
    ]


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
                **({"step": m.spec.step} if m.spec.step is not None else {}),
                "owner": m.spec.owner,
                "dataClassification": m.spec.data_classification,
                "enabled": m.enabled,
                **({"disabledBecause": m.disabled_because} if not m.enabled else {}),
                "release": m.release_label,
                "urn": component_urns.get(m.spec.resource_name, ""),
            }
            for m in sorted(platform.modules, key=lambda m: m.spec.id)
        ],
        "tenants": tenant_entries(platform),
    }


def deployment_section(recording: Recording) -> dict[str, Any]:
    """DeploymentV3: the manifest and every resource, the root stack first."""
    stack_entry = omit_empty(
        {"urn": recording.stack_urn, "custom": False, "type": STACK_TYPE, "outputs": recording.stack_outputs},
        always=("urn", "custom", "type"),
    )
    return {
        "manifest": manifest(),
        # SnapshotMetadataV1 is a struct: Go's omitempty never drops it, so the engine always writes it.
        "metadata": {},
        "resources": [stack_entry] + [_resource_entry(r) for r in dependency_order(recording.registrations)],
    }


def export_document(recording: Recording, platform: PlatformSpec) -> dict[str, Any]:
    return {
        "version": PLAN_VERSION,
        "deployment": deployment_section(recording),
        "bank": bank_section(recording, platform),
    }


def render(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False) + "\n"
