"""The module catalogue: catalogue/modules.yaml, modelled and validated.

The catalogue is the single source of truth for what a module is and what it
must follow. Only six IDs are named by the deployment sequence (MOD-104,
MOD-103, MOD-102, MOD-045, MOD-076, MOD-046); every other ID is provisional
(DESIGN G12), so code refers to modules by slug or by role, never by a
provisional ID.
"""

from __future__ import annotations

import graphlib
import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, StringConstraints, ValidationError, ValidationInfo, field_validator

from model.errors import ConfigurationError, describe_validation_error
from model.phases import DOMAINS, PHASES, DatabaseName, DomainId, Phase, phases_by_key, prerequisite_closure
from model.stack_config import FEATURE_FLAGS, InstitutionType, Jurisdiction
from model.steps import DOMAIN_STEPS, Step, step_table_problems, steps_by_number
from model.yaml_source import parse_yaml

ModuleId = Annotated[str, StringConstraints(pattern=r"^MOD-[0-9]{3}$")]
Slug = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=48)]
# An event a module publishes: `<detail-type>` on its own domain's bus, e.g. `account.created`.
EventName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9-]+(\.[a-z0-9-]+)+$")]
# An event a module consumes: `<domain>:<detail-type>`, e.g. `SD01:account.created`.
EventSubscription = Annotated[str, StringConstraints(pattern=r"^SD0[1-8]:[a-z0-9-]+(\.[a-z0-9-]+)+$")]
SecretName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$")]
TeamName = Annotated[str, StringConstraints(pattern=r"^[a-z0-9]+(-[a-z0-9]+)*$", max_length=48)]
# How sensitive the data a module holds is; customer PII and payment data are `restricted`.
DataClassification = Literal["public", "internal", "confidential", "restricted"]
# A module's own feature flag (its AppConfig profile, components/service_module.py): kebab-case, and within the
# 64 characters AppConfig allows a flag's name.
FlagName = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9]*(-[a-z0-9]+)*$", max_length=64)]

# The domains whose service modules are called over their domain's HTTP API (issue 8, "an API Gateway HTTP API per
# application domain"): all but SD07, the data platform, whose modules are Phase 0 infrastructure and pipelines.
APPLICATION_DOMAINS: tuple[str, ...] = ("SD01", "SD02", "SD03", "SD04", "SD05", "SD06", "SD08")
# The methods an API Gateway HTTP API route may name (ANY matches every method).
ROUTE_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE", "ANY")
# An HTTP API route path: literal segments and `{parameter}`s, a greedy `{proxy+}` only as the last segment
# (API Gateway, "Working with routes for HTTP APIs").
ROUTE_PATH = re.compile(r"^(/([A-Za-z0-9._~-]+|\{[A-Za-z][A-Za-z0-9_]*\}))*(/\{[A-Za-z][A-Za-z0-9_]*\+\})?$")
HEALTH_PATH = "/health"
LAMBDA_MEMORY_MB = (128, 10240)  # Lambda's memory range (MB)


def default_routes(slug: str, domain: str) -> tuple[str, ...]:
    """A module of an application domain answers everything under its own path unless the catalogue says otherwise."""
    return (f"ANY /{slug}/{{proxy+}}",) if domain in APPLICATION_DOMAINS else ()


def route_problem(route: str, slug: str) -> str | None:
    """Why `route` cannot be one of `slug`'s routes, or None: `METHOD /path`, the path under `/{slug}` (so no two
    modules of a domain's API can claim the same path) or the domain API's `/health`."""
    method, _, path = route.partition(" ")
    if method not in ROUTE_METHODS:
        return f"`{route}`: the method must be one of {', '.join(ROUTE_METHODS)}"
    if not path or " " in path or not ROUTE_PATH.match(path) or path == "/":
        return f"`{route}`: `{path}` is not an HTTP API route path (`/segment/{{parameter}}`, `{{proxy+}}` last)"
    if path != HEALTH_PATH and path != f"/{slug}" and not path.startswith(f"/{slug}/"):
        return f"`{route}`: a module's paths start with `/{slug}` (or are `{HEALTH_PATH}`)"
    return None


class ModuleSpec(BaseModel):
    """One module of the catalogue (catalogue/modules.yaml)."""

    model_config = ConfigDict(extra="forbid", frozen=True, populate_by_name=True)

    id: ModuleId = Field(description="MOD-NNN, numbered 1 to 149; only the six foundation IDs are fixed (DESIGN G12)")
    slug: Slug = Field(
        description="kebab-case name, permanent: the component and every resource of the module are named by it"
    )
    former_slugs: tuple[Slug, ...] = Field(
        (),
        alias="formerSlugs",
        description="slugs it had before a rename; they become Pulumi aliases, so a rename keeps its resources",
    )
    name: str = Field(min_length=3, description="human name")
    domain: DomainId
    phase: str = Field(description="phase number 0–7, or `data-platform` for the SD07 pipelines track")
    step: int | None = Field(
        None, ge=1, description="its step in the domain's deploy order (model/steps.py); SD01–SD06 and SD08 only"
    )
    owner: TeamName = Field(description="the team that runs the module (tagged on every resource)")
    data_classification: DataClassification = Field(
        alias="dataClassification", description="public, internal, confidential or restricted (tagged)"
    )
    user_pool: Literal["customer", "internal"] | None = Field(
        None,
        alias="userPool",
        description="the Cognito user pool its users sign in with: customers, or the bank's staff",
    )
    kind: Literal["foundation", "service"] = Field(
        "service", description="foundation modules are released with this repository; services are pinned"
    )
    needs: tuple[ModuleId, ...] = Field(
        (), description="modules of other domains that must be deployed first, always (in-domain order is steps)"
    )
    after: tuple[ModuleId, ...] = Field(
        (), description="modules of other domains to follow only when the stack deploys them"
    )
    gates: tuple[str, ...] | None = Field(
        None,
        description="phase gates this module waits for, when narrower than its phase's gate column "
        "(e.g. real-time sanctions screening needs only Phase 0)",
    )
    holds_phase_gate: bool = Field(
        True,
        alias="holdsPhaseGate",
        description="false: its phase gate does not wait for it (MOD-102, DESIGN G1)",
    )
    database: DatabaseName | None = Field(None, description="the database it reads and writes")
    publishes: tuple[EventName, ...] = Field((), description="events it puts on its domain bus")
    subscribes: tuple[EventSubscription, ...] = Field((), description="`SDxx:event` it consumes")
    secrets: tuple[SecretName, ...] = Field(
        (), description="secrets it reads, as /bank/{env}/{domain}/{name} in Secrets Manager"
    )
    optional: str | None = Field(None, description="the stack feature flag that switches it on, e.g. cards.enabled")
    institution_types: tuple[InstitutionType, ...] = Field(
        ("bank", "credit_union", "building_society"), alias="institutionTypes"
    )
    jurisdictions: tuple[Jurisdiction, ...] = Field(("NZ", "AU"), min_length=1)
    memory_mb: int | None = Field(
        None,
        alias="memoryMb",
        ge=LAMBDA_MEMORY_MB[0],
        le=LAMBDA_MEMORY_MB[1],
        description="its function's memory (MB); default: the stack's bank:sizing.lambdaMemoryMb (512 unless set)",
    )
    reserved_concurrency: int | None = Field(
        None,
        alias="reservedConcurrency",
        ge=1,
        le=1000,
        description="concurrent executions reserved for its function (capped by bank:sizing.maxReservedConcurrency)",
    )
    routes: tuple[str, ...] | None = Field(
        None,
        validate_default=True,
        description="`METHOD /path` routes of its domain's HTTP API, under `/{slug}` or `/health`; default "
        "`ANY /{slug}/{proxy+}` in an application domain, none elsewhere; `[]` for no route",
    )
    flags: dict[FlagName, bool] = Field(
        default_factory=dict, description="its own feature flags and their defaults (its AppConfig profile)"
    )
    source: str = Field("", description="where the rule for this module comes from in the source documents")

    @field_validator("routes")
    @classmethod
    def _routes(cls, routes: tuple[str, ...] | None, info: ValidationInfo) -> tuple[str, ...]:
        slug, domain = info.data.get("slug"), info.data.get("domain")
        if slug is None or domain is None:  # reported on their own fields
            return routes or ()
        if routes is None:
            return default_routes(slug, domain) if info.data.get("kind", "service") == "service" else ()
        problems = [p for p in (route_problem(r, slug) for r in routes) if p is not None]
        problems += [f"`{r}` is listed twice" for r in sorted(set(routes)) if routes.count(r) > 1]
        if problems:
            raise ValueError("; ".join(problems))
        return routes

    @property
    def tags(self) -> dict[str, str]:
        """Tags on every resource of the module: who runs it and how sensitive its data is."""
        return {
            "bank:module": self.slug,
            "bank:module-id": self.id,
            "bank:domain": self.domain,
            "bank:phase": self.phase,
            "bank:owner": self.owner,
            "bank:data-classification": self.data_classification,
        }

    @property
    def resource_name(self) -> str:
        """The component's name: the slug only, since all but six IDs are provisional (DESIGN G12)
        and a changed URN would replace every resource of the module."""
        return self.slug


class Catalogue(BaseModel):
    """All modules plus the phases they are deployed in."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    modules: tuple[ModuleSpec, ...]
    phases: tuple[Phase, ...] = PHASES
    steps: dict[str, tuple[Step, ...]] = DOMAIN_STEPS

    def by_id(self) -> dict[str, ModuleSpec]:
        return {m.id: m for m in self.modules}

    def by_slug(self) -> dict[str, ModuleSpec]:
        return {m.slug: m for m in self.modules}

    def phase(self, key: str) -> Phase:
        return phases_by_key(self.phases)[key]

    def gates_of(self, module: ModuleSpec) -> tuple[str, ...]:
        """The phase gates a module waits for: its own narrower list, or its phase's gate column."""
        if module.gates is not None:
            return module.gates
        return self.phase(module.phase).after


DEFAULT_CATALOGUE_FILE = Path(__file__).resolve().parent.parent / "catalogue" / "modules.yaml"


def load_catalogue(
    path: Path = DEFAULT_CATALOGUE_FILE,
    phases: tuple[Phase, ...] = PHASES,
    steps: dict[str, tuple[Step, ...]] = DOMAIN_STEPS,
) -> Catalogue:
    """Read, model and validate a catalogue file; every problem is reported at once."""
    shown = "catalogue/modules.yaml" if path == DEFAULT_CATALOGUE_FILE else str(path)
    try:
        raw = parse_yaml(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError) as exc:
        raise ConfigurationError(shown, [f"cannot be read: {exc}"]) from None
    if not isinstance(raw, dict) or not isinstance(raw.get("modules"), list):
        raise ConfigurationError(shown, ["must be a mapping with a `modules:` list"])
    return parse_catalogue(raw["modules"], shown, phases, steps)


def parse_catalogue(
    entries: list,
    shown: str = "catalogue/modules.yaml",
    phases: tuple[Phase, ...] = PHASES,
    steps: dict[str, tuple[Step, ...]] = DOMAIN_STEPS,
) -> Catalogue:
    problems: list[str] = []
    modules: list[ModuleSpec] = []
    for index, entry in enumerate(entries):
        if isinstance(entry, dict) and isinstance(entry.get("phase"), int):
            entry = {**entry, "phase": str(entry["phase"])}
        try:
            modules.append(ModuleSpec.model_validate(entry))
        except ValidationError as exc:
            label = entry.get("id", f"entry {index + 1}") if isinstance(entry, dict) else f"entry {index + 1}"
            problems += [f"{label}: {line}" for line in describe_validation_error(exc)]
    catalogue = Catalogue(modules=tuple(modules), phases=phases, steps=steps)
    problems += catalogue_problems(catalogue)
    if problems:
        raise ConfigurationError(shown, problems)
    return catalogue


def catalogue_problems(catalogue: Catalogue) -> list[str]:
    """Every structural problem of a catalogue, independent of any stack."""
    problems: list[str] = []
    phases = phases_by_key(catalogue.phases)
    seen_ids: dict[str, int] = {}
    seen_slugs: dict[str, str] = {}
    for module in catalogue.modules:
        seen_ids[module.id] = seen_ids.get(module.id, 0) + 1
        # A former slug is an alias of the module's URNs: it may not name another module, now or before.
        for slug in (module.slug, *module.former_slugs):
            if slug in seen_slugs and seen_slugs[slug] != module.id:
                problems.append(f"{module.id}: slug `{slug}` is already used by {seen_slugs[slug]}")
            seen_slugs.setdefault(slug, module.id)
    problems += [
        f"{mid}: duplicate module ID ({count} entries)" for mid, count in sorted(seen_ids.items()) if count > 1
    ]

    problems += [f"model/steps.py: {p}" for p in step_table_problems(catalogue.steps)]
    problems += step_problems(catalogue)
    problems += subscription_problems(catalogue)
    problems += route_collisions(catalogue)
    by_id = catalogue.by_id()
    for module in catalogue.modules:
        phase = phases.get(module.phase)
        if phase is None:
            problems.append(f"{module.id}: unknown phase `{module.phase}` (expected one of {', '.join(phases)})")
            continue
        if module.domain not in phase.domains:
            problems.append(
                f"{module.id}: domain {module.domain} is not deployed in {phase.title} "
                f"(that phase deploys {', '.join(phase.domains)})"
            )
        if module.kind == "foundation" and phase.key != "0":
            problems.append(f"{module.id}: foundation modules belong to Phase 0, not {phase.title}")
        if module.optional is not None and module.optional not in FEATURE_FLAGS:
            problems.append(
                f"{module.id}: optional flag `{module.optional}` is not a stack feature flag "
                f"(known: {', '.join(sorted(FEATURE_FLAGS))})"
            )
        if module.database is not None and module.database not in {d.database for d in DOMAINS.values()}:
            problems.append(f"{module.id}: unknown database {module.database}")
        own_gates = catalogue.gates_of(module)
        for gate in own_gates:
            if gate not in phases:
                problems.append(f"{module.id}: waits for unknown phase gate `{gate}`")
        if module.gates is not None:
            allowed = prerequisite_closure(phase.key, catalogue.phases)
            for gate in module.gates:
                if gate in phases and gate not in allowed:
                    problems.append(
                        f"{module.id}: may only narrow its phase's gates; {phases[gate].title} is not "
                        f"a prerequisite of {phase.title}"
                    )
        # What this module may follow: its own phase, and every phase its gates wait for.
        reachable = {phase.key}
        for gate in own_gates:
            if gate in phases:
                reachable |= {gate} | prerequisite_closure(gate, catalogue.phases)
        for field, targets in (("needs", module.needs), ("after", module.after)):
            for target_id in targets:
                target = by_id.get(target_id)
                if target is None:
                    problems.append(f"{module.id}: {field} unknown module {target_id}")
                elif target_id == module.id:
                    problems.append(f"{module.id}: {field} itself")
                elif target.phase in phases and target.phase not in reachable:
                    problems.append(
                        f"{module.id}: {field} {target_id} in {phases[target.phase].title}, which "
                        f"{phase.title} does not wait for (a later or parallel phase)"
                    )
    problems += [f"dependency cycle: {cycle}" for cycle in dependency_cycles(catalogue)]
    return problems


def step_problems(catalogue: Catalogue) -> list[str]:
    """Every module of a domain with a deploy-order list is in one of its steps, and orders itself
    against its own domain only through steps (deployment sequence, "Deploy order within SDxx")."""
    problems = []
    by_id = catalogue.by_id()
    for module in catalogue.modules:
        steps = steps_by_number(module.domain, catalogue.steps)
        if not steps:
            if module.step is not None:
                problems.append(f"{module.id}: {module.domain} has no deploy-order steps; remove `step`")
            continue
        if module.step is None:
            problems.append(
                f"{module.id} ({module.slug}): needs a `step` of {module.domain}'s deploy order "
                f"({', '.join(f'{s.number} {s.name}' for s in steps.values())})"
            )
        elif module.step not in steps:
            problems.append(f"{module.id}: {module.domain} has no step {module.step}")
        for field, targets in (("needs", module.needs), ("after", module.after)):
            for target_id in targets:
                target = by_id.get(target_id)
                if target is not None and target.domain == module.domain:
                    problems.append(
                        f"{module.id}: {field} {target_id} ({target.slug}) of its own domain; in-domain order "
                        "comes from the steps only (move one of them to another step, or remove it)"
                    )
    return problems


def subscription_problems(catalogue: Catalogue) -> list[str]:
    """A subscription names an event that some module of that domain publishes on its bus."""
    published = {(m.domain, event) for m in catalogue.modules for event in m.publishes}
    return [
        f"{m.id} ({m.slug}): subscribes to {sub}, which no {sub.split(':')[0]} module publishes"
        for m in catalogue.modules
        for sub in m.subscribes
        if tuple(sub.split(":", 1)) not in published
    ]


def route_collisions(catalogue: Catalogue) -> list[str]:
    """One route, one module: a domain's API cannot send `GET /health` to two of its modules."""
    owners: dict[tuple[str, str], list[str]] = {}
    for m in catalogue.modules:
        for route in m.routes or ():
            owners.setdefault((m.domain, route), []).append(m.id)
    return [
        f"{', '.join(ids)}: {domain}'s API can route `{route}` to only one module"
        for (domain, route), ids in sorted(owners.items())
        if len(ids) > 1
    ]


def dependency_cycles(catalogue: Catalogue) -> list[str]:
    """The cycles in needs/after, printed as `MOD-A -> MOD-B -> MOD-A`."""
    by_id = catalogue.by_id()
    graph = {m.id: {n for n in (*m.needs, *m.after) if n in by_id and n != m.id} for m in catalogue.modules}
    cycles: list[str] = []
    while True:
        try:
            graphlib.TopologicalSorter(graph).prepare()
            return cycles
        except graphlib.CycleError as exc:
            cycle = exc.args[1]
            # graphlib lists the cycle from a dependent to its dependency; print it as "needs" arrows.
            cycles.append(" -> ".join(reversed(cycle)))
            # Break this cycle and look for the next one, so that every cycle is reported.
            graph[cycle[1]].discard(cycle[0])
