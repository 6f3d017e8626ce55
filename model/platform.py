"""The whole deployment of one stack, resolved: config + catalogue + release manifest → what to build.

This is the last step before resources: every input is validated here, every
problem in every file is collected, and only a valid PlatformSpec reaches the
builders (nothing is half-deployed).
"""

from __future__ import annotations

import graphlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from model.catalogue import DEFAULT_CATALOGUE_FILE, Catalogue, ModuleSpec, load_catalogue
from model.errors import ConfigurationError
from model.phases import PHASES, Phase
from model.releases import REPOSITORY_RELEASE, ReleaseManifest, ReleasePin, load_release_manifest, pin_problems
from model.stack_config import FEATURE_FLAGS, StackConfig, config_from_values, read_stack_file


@dataclass(frozen=True)
class ModuleDeployment:
    """One catalogue module as this stack deploys it."""

    spec: ModuleSpec
    disabled_because: str | None
    release: ReleasePin | None  # None: released with this repository (foundation modules)
    gate_keys: tuple[str, ...]  # the phase gates it waits for
    depends_on: tuple[str, ...]  # module IDs: its needs, plus its `after` modules that are deployed

    @property
    def enabled(self) -> bool:
        return self.disabled_because is None

    @property
    def release_label(self) -> str:
        return REPOSITORY_RELEASE if self.release is None else self.release.sha

    def record(self, environment: str) -> dict[str, Any]:
        """What the module record in SSM holds; the phase gate checks it (bankctl gate run)."""
        return {
            "id": self.spec.id,
            "slug": self.spec.slug,
            "domain": self.spec.domain,
            "phase": self.spec.phase,
            "environment": environment,
            "release": REPOSITORY_RELEASE if self.release is None else self.release.model_dump(),
        }


@dataclass(frozen=True)
class PlatformSpec:
    stack: str
    config: StackConfig
    catalogue: Catalogue
    modules: tuple[ModuleDeployment, ...]
    _by_id: dict[str, ModuleDeployment] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({m.spec.id: m for m in self.modules})

    @property
    def phases(self) -> tuple[Phase, ...]:
        return self.catalogue.phases

    def module(self, module_id: str) -> ModuleDeployment:
        return self._by_id[module_id]

    def enabled_modules(self) -> list[ModuleDeployment]:
        return [m for m in self.modules if m.enabled]

    def phase_modules(self, phase_key: str) -> list[ModuleDeployment]:
        return [m for m in self.modules if m.enabled and m.spec.phase == phase_key]

    def gate_members(self, phase_key: str) -> list[ModuleDeployment]:
        """The modules a phase gate waits for (all of the phase but MOD-102, DESIGN G1)."""
        return [m for m in self.phase_modules(phase_key) if m.spec.holds_phase_gate]

    def build_order(self) -> list[tuple[str, str]]:
        """Modules and gates, each after everything it depends on: ("module", id) or ("gate", key).

        Components must be created in this order because `depends_on` a component
        only reaches the children it has when the dependency is recorded.
        """
        graph: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for m in self.enabled_modules():
            graph[("module", m.spec.id)] = {("module", d) for d in m.depends_on} | {("gate", g) for g in m.gate_keys}
        for phase in self.phases:
            graph[("gate", phase.key)] = {("module", m.spec.id) for m in self.gate_members(phase.key)}
        sorter = graphlib.TopologicalSorter({node: sorted(deps) for node, deps in sorted(graph.items())})
        return list(sorter.static_order())


def why_disabled(spec: ModuleSpec, config: StackConfig) -> str | None:
    """The activation matrix (DESIGN G6, G8): flag, institution type, jurisdiction."""
    if spec.optional is not None and not FEATURE_FLAGS[spec.optional](config):
        return f"bank:{spec.optional} is false"
    if config.institution_type not in spec.institution_types:
        return f"not offered to institution type {config.institution_type}"
    if not set(spec.jurisdictions) & set(config.jurisdictions):
        return f"only for {'/'.join(spec.jurisdictions)}"
    return None


def resolve_platform(stack: str, config: StackConfig, catalogue: Catalogue, releases: ReleaseManifest) -> PlatformSpec:
    """Combine the three inputs; raise one ConfigurationError listing every cross-file problem."""
    catalogue_problems: list[str] = []
    release_problems: list[str] = []
    disabled = {m.id: why_disabled(m, config) for m in catalogue.modules}
    by_id = catalogue.by_id()
    deployments = []
    if releases.stack != stack:
        release_problems.append(f"stack: is `{releases.stack}` but the file is for stack `{stack}`")
    for spec in catalogue.modules:
        if disabled[spec.id] is None:
            catalogue_problems += [
                f"{spec.id} ({spec.slug}) needs {n} ({by_id[n].slug}), which stack {stack} disables "
                f"({disabled[n]}); enable it, or disable {spec.slug} too"
                for n in spec.needs
                if disabled.get(n) is not None
            ]
        pin = releases.modules.get(spec.id)
        if spec.kind == "foundation":
            if pin is not None:
                release_problems.append(
                    f"modules.{spec.id}: foundation modules are released with this repository; remove the pin"
                )
        elif disabled[spec.id] is None:
            if pin is None:
                release_problems.append(f"modules.{spec.id}: no release pin for {spec.slug}; add its sha and artifact")
            else:
                release_problems += pin_problems(spec.id, pin, config.environment)
        deployments.append(
            ModuleDeployment(
                spec=spec,
                disabled_because=disabled[spec.id],
                release=pin if spec.kind == "service" else None,
                gate_keys=catalogue.gates_of(spec),
                depends_on=tuple(spec.needs) + tuple(a for a in spec.after if disabled.get(a) is None),
            )
        )
    release_problems += [
        f"modules.{mid}: not a module of the catalogue; remove it"
        for mid in sorted(releases.modules)
        if mid not in by_id
    ]
    errors = []
    if catalogue_problems:
        errors.append(ConfigurationError("catalogue/modules.yaml", catalogue_problems))
    if release_problems:
        errors.append(
            ConfigurationError(
                f"releases/{stack}.yaml",
                release_problems,
                fix="pin each enabled service module to the build CI published",
            )
        )
    if errors:
        raise ConfigurationError.combine(errors)
    return PlatformSpec(stack=stack, config=config, catalogue=catalogue, modules=tuple(deployments))


def load_platform(
    project_dir: Path,
    stack: str,
    config_values: dict[str, Any],
    secret_keys: frozenset[str] = frozenset(),
    catalogue_file: Path = DEFAULT_CATALOGUE_FILE,
    phases: tuple[Phase, ...] = PHASES,
) -> PlatformSpec:
    """Validate everything a stack deploys, reporting the problems of every file together."""
    errors: list[ConfigurationError] = []
    results: dict[str, Any] = {}
    for name, load in (
        ("config", lambda: config_from_values(config_values, stack, secret_keys)),
        ("catalogue", lambda: load_catalogue(catalogue_file, phases)),
        ("releases", lambda: load_release_manifest(project_dir, stack)),
    ):
        try:
            results[name] = load()
        except ConfigurationError as exc:
            errors.append(exc)
    if errors:
        raise ConfigurationError.combine(errors)
    return resolve_platform(stack, results["config"], results["catalogue"], results["releases"])


def load_stack_platform(project_dir: Path, stack: str) -> PlatformSpec:
    """A stack's deployment as its files describe it (outside Pulumi: gates, `config check`).
    `secure:` values are passed on as their ciphertext, never decrypted."""
    values, secret_keys = read_stack_file(project_dir, stack)
    return load_platform(project_dir, stack, values, secret_keys)


def module_record_name(environment: str, module_id: str) -> str:
    # Operations index, "Conventions": SSM paths are /bank/{env}/{service}/{parameter}.
    return f"/bank/{environment}/modules/{module_id}"


def record_json(record: dict[str, Any]) -> str:
    """Stable text for an SSM value: same inputs, same bytes."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))
