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

from model.alerts import DEFAULT_ALERTS_FILE, AlertCatalogue, load_alerts
from model.catalogue import DEFAULT_CATALOGUE_FILE, Catalogue, ModuleSpec, load_catalogue
from model.errors import ConfigurationError
from model.phases import PHASES, Phase
from model.releases import (
    REPOSITORY_RELEASE,
    LayerPin,
    MigrationPin,
    ReleaseManifest,
    ReleasePin,
    load_release_manifest,
    migration_problems,
    pin_problems,
)
from model.secrets_manifest import load_secrets_manifest
from model.stack_config import (
    FEATURE_FLAGS,
    NAMESPACE,
    StackConfig,
    Tenant,
    config_from_values,
    read_stack_file,
    required_credentials,
    stand_in_missing_credentials,
)
from model.steps import steps_by_number

# A node of the deployment graph: ("module", module ID) or ("gate", phase key).
Node = tuple[str, str]


@dataclass(frozen=True)
class ModuleDeployment:
    """One catalogue module as this stack deploys it."""

    spec: ModuleSpec
    disabled_because: str | None
    release: ReleasePin | None  # None: released with this repository (foundation modules)
    gate_keys: tuple[str, ...]  # the phase gates it waits for
    # Module IDs: the deployed modules of the steps its step depends on, its needs, and its deployed `after`s.
    depends_on: tuple[str, ...]
    tenants: tuple[str, ...] = ()  # the tenants that activate it (module activation matrix, DESIGN G13)

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
    # Top-level `bank:` keys (without the namespace) the user set with --secret: resource inputs taken
    # from them must be Pulumi secrets (components/stack_inputs.py).
    secret_keys: frozenset[str] = frozenset()
    # Database → the pinned build of its migrations (releases/<stack>.yaml `migrations`): exactly the databases
    # the deployed modules use; each runs as a FlywayMigration before them.
    migrations: dict[str, MigrationPin] = field(default_factory=dict)
    # Layer name → the pinned build of a Lambda layer this repository's own functions need (releases/<stack>.yaml
    # `layers`; MOD-046's JIT database access functions).
    layers: dict[str, LayerPin] = field(default_factory=dict)
    # catalogue/alerts.yaml, validated with the other files (MOD-076 and MOD-046 build their alarms from it).
    alerts: AlertCatalogue = field(default_factory=lambda: load_alerts())
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

    def tenant_activation(self) -> list[tuple[Tenant, list[str]]]:
        """Each tenant and the IDs of the deployed modules active for it: the runtime's activation matrix
        (published to AppConfig for the services; DESIGN G13)."""
        return [
            (
                tenant,
                [m.spec.id for m in sorted(self.enabled_modules(), key=lambda m: m.spec.id) if tenant.id in m.tenants],
            )
            for tenant in self.config.tenants
        ]

    def gate_members(self, phase_key: str) -> list[ModuleDeployment]:
        """The modules a phase gate waits for (all of the phase but MOD-102, DESIGN G1)."""
        return [m for m in self.phase_modules(phase_key) if m.spec.holds_phase_gate]

    def prerequisite_graph(self) -> dict[Node, frozenset[Node]]:
        """Every module and gate with everything the document makes it wait for: a module its gates (the gate
        column) and its `depends_on`; a gate every member of its phase."""
        graph: dict[Node, frozenset[Node]] = {}
        for m in self.enabled_modules():
            graph[("module", m.spec.id)] = frozenset(
                {("module", d) for d in m.depends_on} | {("gate", g) for g in m.gate_keys}
            )
        for phase in self.phases:
            graph[("gate", phase.key)] = frozenset(("module", m.spec.id) for m in self.gate_members(phase.key))
        return graph

    def build_order(self) -> list[Node]:
        """Modules and gates, each after everything it depends on: ("module", id) or ("gate", key).

        Components must be created in this order because `depends_on` a component
        only reaches the children it has when the dependency is recorded.
        """
        graph = self.prerequisite_graph()
        sorter = graphlib.TopologicalSorter({node: sorted(deps) for node, deps in sorted(graph.items())})
        return list(sorter.static_order())

    def direct_prerequisites(self) -> dict[Node, tuple[Node, ...]]:
        """The transitive reduction of prerequisite_graph: each node's prerequisites that no other prerequisite
        of it already waits for. The order is the same (a wait through a prerequisite is still a wait: `depends_on`
        a component reaches its children, which wait for their parent, which waits for its own dependencies), but
        every `depends_on` edge costs the Pulumi SDK a walk of everything upstream of it
        (pulumi/runtime/resource_cycle_breaker.py, on every registration, `pulumi up` as much as offline), so
        redundant edges make every deployment's program slower for nothing."""
        graph = self.prerequisite_graph()
        upstream: dict[Node, frozenset[Node]] = {}
        for node in self.build_order():  # prerequisites first
            upstream[node] = frozenset().union(*({p} | upstream[p] for p in graph[node]))
        return {
            node: tuple(sorted(p for p in prereqs if not any(p in upstream[q] for q in prereqs if q != p)))
            for node, prereqs in graph.items()
        }


def activates(tenant: Tenant, spec: ModuleSpec) -> bool:
    """The module activation matrix (DESIGN G8): one tenant, one module, ignoring deploy-time flags."""
    return tenant.institution_type in spec.institution_types and bool(
        set(tenant.jurisdictions) & set(spec.jurisdictions)
    )


_TYPE_NAMES = {"bank": "a bank", "credit_union": "a credit union", "building_society": "a building society"}


def why_disabled(spec: ModuleSpec, config: StackConfig) -> str | None:
    """Why a stack does not deploy a module: a deploy-time flag is off, or no tenant activates it."""
    if spec.optional is not None and not FEATURE_FLAGS[spec.optional](config):
        return f"bank:{spec.optional} is false"
    if any(activates(t, spec) for t in config.tenants):
        return None
    types = " or ".join(_TYPE_NAMES[t] for t in spec.institution_types)
    places = " or ".join(spec.jurisdictions)
    if not any(t.institution_type in spec.institution_types for t in config.tenants):
        return f"no tenant is {types}"
    if not any(set(t.jurisdictions) & set(spec.jurisdictions) for t in config.tenants):
        return f"no tenant is in {places}"
    return f"no tenant is both {types} and in {places}"


def step_predecessors(spec: ModuleSpec, catalogue: Catalogue, deployed: set[str]) -> tuple[str, ...]:
    """The deployed modules of the steps this module's step depends on (deployment sequence,
    "Deploy order within SDxx"). A step with no deployed module passes its own prerequisites on,
    so order survives a stack that deploys nothing of an intermediate step."""
    if spec.step is None:
        return ()
    steps = steps_by_number(spec.domain, catalogue.steps)
    members: dict[int, list[str]] = {}
    for m in catalogue.modules:
        if m.domain == spec.domain and m.id in deployed and m.step is not None:
            members.setdefault(m.step, []).append(m.id)
    found: list[str] = []
    seen: set[int] = set()
    pending = list(steps[spec.step].after)
    while pending:
        number = pending.pop(0)
        if number in seen:
            continue
        seen.add(number)
        if members.get(number):
            found += members[number]
        else:
            pending += list(steps[number].after)
    return tuple(sorted(found))


def tenant_problems(catalogue: Catalogue, config: StackConfig, deployed: set[str]) -> list[str]:
    """A module a tenant activates needs modules that tenant activates too (or it fails at run time)."""
    by_id = catalogue.by_id()
    problems = []
    for tenant in config.tenants:
        for spec in catalogue.modules:
            if spec.id not in deployed or not activates(tenant, spec):
                continue
            for need in spec.needs:
                target = by_id.get(need)
                if target is not None and target.id in deployed and not activates(tenant, target):
                    problems.append(
                        f"{spec.id} ({spec.slug}) is active for tenant {tenant.id} but needs {need} ({target.slug}), "
                        f"which is not: widen {target.slug}'s institutionTypes/jurisdictions or narrow {spec.slug}'s"
                    )
    return problems


def resolve_platform(
    stack: str,
    config: StackConfig,
    catalogue: Catalogue,
    releases: ReleaseManifest,
    secret_keys: frozenset[str] = frozenset(),
    alerts: AlertCatalogue | None = None,
) -> PlatformSpec:
    """Combine the three inputs; raise one ConfigurationError listing every cross-file problem."""
    catalogue_problems: list[str] = []
    release_problems: list[str] = []
    disabled = {m.id: why_disabled(m, config) for m in catalogue.modules}
    deployed = {mid for mid, why in disabled.items() if why is None}
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
                depends_on=step_predecessors(spec, catalogue, deployed)
                + tuple(spec.needs)
                + tuple(a for a in spec.after if disabled.get(a) is None),
                tenants=tuple(t.id for t in config.tenants if disabled[spec.id] is None and activates(t, spec)),
            )
        )
    catalogue_problems += tenant_problems(catalogue, config, deployed)
    release_problems += [
        f"modules.{mid}: not a module of the catalogue; remove it"
        for mid in sorted(releases.modules)
        if mid not in by_id
    ]
    used: dict[str, list[str]] = {}
    for spec in catalogue.modules:
        if spec.id in deployed and spec.database is not None:
            used.setdefault(spec.database, []).append(spec.slug)
    release_problems += migration_problems(used, dict(releases.migrations), config.environment)
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
    return PlatformSpec(
        stack=stack,
        config=config,
        catalogue=catalogue,
        modules=tuple(deployments),
        secret_keys=secret_keys,
        migrations=dict(releases.migrations),
        layers=dict(releases.layers),
        alerts=alerts if alerts is not None else load_alerts(),
    )


def bank_secret_keys(secret_keys: frozenset[str]) -> frozenset[str]:
    """`bank:alertEmail` → `alertEmail`: the top-level keys of our namespace that hold secrets."""
    return frozenset(k.partition(":")[2] for k in secret_keys if k.startswith(NAMESPACE + ":"))


def load_platform(
    project_dir: Path,
    stack: str,
    config_values: dict[str, Any],
    secret_keys: frozenset[str] = frozenset(),
    catalogue_file: Path = DEFAULT_CATALOGUE_FILE,
    phases: tuple[Phase, ...] = PHASES,
    alerts_file: Path = DEFAULT_ALERTS_FILE,
) -> PlatformSpec:
    """Validate everything a stack deploys, reporting the problems of every file together."""
    errors: list[ConfigurationError] = []
    results: dict[str, Any] = {}
    for name, load in (
        ("config", lambda: config_from_values(config_values, stack, secret_keys)),
        ("catalogue", lambda: load_catalogue(catalogue_file, phases)),
        ("releases", lambda: load_release_manifest(project_dir, stack)),
        ("secrets", lambda: load_secrets_manifest(results.get("catalogue"))),  # catalogue/secrets.yaml (DESIGN G8)
        (
            "alerts",
            lambda: load_alerts(alerts_file),
        ),  # catalogue/alerts.yaml: read here, before any resource, not when MOD-076 builds
    ):
        try:
            results[name] = load()
        except ConfigurationError as exc:
            errors.append(exc)
    if errors:
        raise ConfigurationError.combine(errors)
    return resolve_platform(
        stack,
        results["config"],
        results["catalogue"],
        results["releases"],
        bank_secret_keys(secret_keys),
        alerts=results["alerts"],
    )


def load_stack_platform(project_dir: Path, stack: str) -> PlatformSpec:
    """A stack's deployment as its files describe it (outside Pulumi: gates, `config check`).
    `secure:` values are passed on as stand-ins, never decrypted; credentials not set yet are stood in too
    (`stack_credentials_to_set` says which)."""
    values, secret_keys = read_stack_file(project_dir, stack)
    values, secret_keys, _ = stand_in_missing_credentials(values, secret_keys)
    return load_platform(project_dir, stack, values, secret_keys)


def stack_credentials_to_set(project_dir: Path, stack: str) -> list[str]:
    """The provider credentials Pulumi.<stack>.yaml does not set yet but its providers need (before the first
    `pulumi up`)."""
    values, secret_keys = read_stack_file(project_dir, stack)
    values, secret_keys, stood_in = stand_in_missing_credentials(values, secret_keys)
    config = config_from_values(values, stack, secret_keys)
    return [key for key in required_credentials(config) if key in stood_in]


def module_record_name(environment: str, slug: str) -> str:
    # Operations index, "Conventions": SSM paths are /bank/{env}/{service}/{parameter}; the service is the slug.
    return f"/bank/{environment}/{slug}/release"


def record_json(record: dict[str, Any]) -> str:
    """Stable text for an SSM value: same inputs, same bytes."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"))
