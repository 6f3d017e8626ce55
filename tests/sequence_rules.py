"""The deployment sequence document, as checks on a plan graph.

Each function states one kind of rule from seeds/000 (the deployment sequence)
and raises AssertionError naming what breaks it. The expectations come from
tests/data/deployment_sequence.yaml — the tests' own reading of the document —
never from model/ (STYLE.md, 12). test_sequence_graph runs them on the real
dev, uat and prod plans and shows each failing on deliberately broken data.

Ordering is the engine's: "X waits for Y" is reachability over dependencies,
parents and providers (bankctl/plan_graph.py). Modules are named by slug: only
the six foundation IDs are fixed (DESIGN G12). A rule about a named module
fails when that module is missing from a stack it applies to (plan.module
raises), so no rule passes silently on a stack that disabled its subject.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml

from bankctl.plan_graph import PlanGraph

SEQUENCE_FILE = Path(__file__).parent / "data" / "deployment_sequence.yaml"


def reachable(start: Iterable, edges: Callable[[Any], Iterable]) -> set:
    """Everything reachable from `start` by following `edges`, transitively."""
    seen: set = set()
    pending = list(start)
    while pending:
        item = pending.pop()
        if item not in seen:
            seen.add(item)
            pending += edges(item)
    return seen


@dataclass(frozen=True)
class Document:
    """The sequence document as the tests read it."""

    gate_column: dict[str, tuple[str, ...]]
    domain_of_phase: dict[str, str]
    early_starters: dict[str, tuple[str, ...]]
    phase0: dict[str, tuple[str, ...]]
    outside_foundation_gate: frozenset[str]
    steps: dict[str, dict[int, tuple[tuple[int, ...], tuple[str, ...]]]]  # domain → step → (after, modules)

    @staticmethod
    def from_data(data: dict) -> Document:
        return Document(
            gate_column={k: tuple(v) for k, v in data["gateColumn"].items()},
            domain_of_phase=dict(data["domainOfPhase"]),
            early_starters={k: tuple(v) for k, v in data["earlyStarters"].items()},
            phase0={k: tuple(v) for k, v in data["phase0"].items()},
            outside_foundation_gate=frozenset(data["outsideFoundationGate"]),
            steps={
                domain: {int(n): (tuple(s["after"]), tuple(s["modules"])) for n, s in steps.items()}
                for domain, steps in data["steps"].items()
            },
        )

    def phase_closure(self, phases: tuple[str, ...]) -> set[str]:
        """The given phases and every phase they wait for."""
        return set(phases) | reachable(phases, self.gate_column.__getitem__)

    def gates_of(self, slug: str, phase: str) -> tuple[str, ...]:
        return self.early_starters.get(slug, self.gate_column[phase])

    def step_of(self, slug: str) -> tuple[str, int] | None:
        for domain, steps in self.steps.items():
            for number, (_after, modules) in steps.items():
                if slug in modules:
                    return domain, number
        return None

    def step_closure(self, domain: str, number: int) -> set[int]:
        """The steps that step `number` waits for, directly or through another step."""
        return reachable(self.steps[domain][number][0], lambda n: self.steps[domain][n][0])


@cache
def document() -> Document:
    return Document.from_data(yaml.safe_load(SEQUENCE_FILE.read_text(encoding="utf-8")))


# --- reachability helpers (built on the plan reader's engine ordering) -----------------------------


def _before(plan: PlanGraph, urn: str) -> frozenset[str]:
    """Everything any resource of component `urn` waits for."""
    cache_ = plan.__dict__.setdefault("_before_cache", {})
    if urn not in cache_:
        found: set[str] = set()
        for u in plan.subtree(urn):
            found |= plan.waits_on(u)
        cache_[urn] = frozenset(found)
    return cache_[urn]


def touches(plan: PlanGraph, a: str, b: str) -> bool:
    """Some resource of A waits for some resource of B."""
    return bool(_before(plan, a) & set(plan.custom_resources(b)))


def assert_waits(plan: PlanGraph, later: str, *earlier: str) -> None:
    """`later` starts only after each of `earlier` is done. Both must be deployed by the stack."""
    for e in earlier:
        assert plan.waits_for(plan.module(later), plan.module(e)), f"{later} does not wait for {e}"


def assert_independent(plan: PlanGraph, a: str, b: str) -> None:
    """Neither waits for any part of the other: they can deploy in parallel. Both must be deployed."""
    assert not touches(plan, plan.module(a), plan.module(b)), f"{a} waits for {b}"
    assert not touches(plan, plan.module(b), plan.module(a)), f"{b} waits for {a}"


# --- the gate column (deployment sequence, "Phases overview") -----------------------------------


def assert_gate_column(plan: PlanGraph, doc: Document | None = None) -> None:
    """Every module waits for the gates of its phase's gate column, and for nothing of a phase that
    column does not reach (directly or through another gate): no less and no more than the document says."""
    doc = doc or document()
    all_phases = set(doc.gate_column)
    for phase in sorted(all_phases):
        for m in plan.modules(phase=phase):
            required = doc.gates_of(m["slug"], phase)
            for g in required:
                assert plan.waits_for(m["urn"], plan.gate(g)), f"{m['slug']} (Phase {phase}) does not wait for gate {g}"
            for other in sorted(all_phases - doc.phase_closure(required) - {phase}):
                assert not touches(plan, m["urn"], plan.gate(other)), (
                    f"{m['slug']} (Phase {phase}) waits for the gate of Phase {other}, which it must not"
                )
                for o in plan.modules(phase=other):
                    assert not touches(plan, m["urn"], o["urn"]), (
                        f"{m['slug']} (Phase {phase}) waits for {o['slug']} of Phase {other}, which it must not"
                    )


def assert_never_waits_for_phase(plan: PlanGraph, phase, other) -> None:
    """No module of `phase` waits for `other`'s gate or for any module of `other`."""
    gate = plan.gate(other)
    others = plan.modules(phase=other)
    for m in plan.modules(phase=phase):
        assert not touches(plan, m["urn"], gate), f"Phase {phase}: {m['slug']} waits for the Phase {other} gate"
        for o in others:
            assert not touches(plan, m["urn"], o["urn"]), f"Phase {phase}: {m['slug']} waits for {o['slug']}"


def assert_gates_close_their_phase(plan: PlanGraph, doc: Document | None = None) -> None:
    """Each gate waits for every module of its phase (the foundation gate without MOD-102, DESIGN G1)."""
    doc = doc or document()
    for phase in doc.gate_column:
        for m in plan.modules(phase=phase):
            if m["slug"] in doc.outside_foundation_gate:
                assert not touches(plan, plan.gate(phase), m["urn"]), f"the Phase {phase} gate waits for {m['slug']}"
            else:
                assert plan.waits_for(plan.gate(phase), m["urn"]), f"gate {phase} does not wait for {m['slug']}"


# --- Phase 0 (steps 0.1–0.4) ----------------------------------------------------------------------


def assert_phase0_order(plan: PlanGraph, doc: Document | None = None) -> None:
    """Each foundation module follows exactly the ones the document names, transitively; the rest run beside it."""
    doc = doc or document()

    def follows(slug: str) -> set:
        return reachable(doc.phase0[slug], doc.phase0.__getitem__)

    for slug in doc.phase0:
        if not plan.is_enabled(slug):
            continue  # only MOD-102 may be off, and only in local (tested with the stack config)
        for other in doc.phase0:
            if other == slug or not plan.is_enabled(other):
                continue
            if other in follows(slug):
                assert plan.waits_for(plan.module(slug), plan.module(other)), f"{slug} does not follow {other}"
            else:
                assert not touches(plan, plan.module(slug), plan.module(other)), f"{slug} waits for {other}"


# --- in-domain order ("Deploy order within SDxx") ------------------------------------------------


def assert_in_domain_order_is_the_steps(plan: PlanGraph, domain: str, doc: Document | None = None) -> None:
    """Each module of `domain` waits for every module of the steps its step depends on, and for no
    other module of its domain: no more and no fewer."""
    doc = doc or document()
    modules = plan.modules(domain=domain)
    step = {}
    for m in modules:
        where = doc.step_of(m["slug"])
        assert where is not None and where[0] == domain, f"{m['slug']} is in no step of {domain} in the document"
        step[m["slug"]] = where[1]
    for m in modules:
        earlier = doc.step_closure(domain, step[m["slug"]])
        for o in modules:
            if o is m:
                continue
            if step[o["slug"]] in earlier:
                assert plan.waits_for(m["urn"], o["urn"]), (
                    f"{m['slug']} (step {step[m['slug']]}) does not wait for {o['slug']} (step {step[o['slug']]})"
                )
            else:
                assert not touches(plan, m["urn"], o["urn"]), (
                    f"{m['slug']} (step {step[m['slug']]}) waits for {o['slug']} (step {step[o['slug']]}), "
                    "an ordering the document does not state"
                )


def _longest_chain(nodes: list, waits: dict) -> int:
    depth: dict = {}

    def d(n) -> int:
        if n not in depth:
            depth[n] = 1 + max((d(x) for x in waits[n]), default=0)
        return depth[n]

    return max((d(n) for n in nodes), default=0)


def assert_domain_depth_is_its_step_depth(plan: PlanGraph, domain: str, doc: Document | None = None) -> None:
    """The longest chain of in-domain waits equals the longest chain of the document's steps that hold a
    deployed module."""
    doc = doc or document()
    modules = plan.modules(domain=domain)
    waits = {
        m["urn"]: [o["urn"] for o in modules if o is not m and plan.waits_for(m["urn"], o["urn"])] for m in modules
    }
    deployed_steps = {doc.step_of(m["slug"])[1] for m in modules}
    step_waits = {n: [s for s in doc.step_closure(domain, n) if s in deployed_steps] for n in deployed_steps}
    plan_depth, document_depth = _longest_chain(list(waits), waits), _longest_chain(list(step_waits), step_waits)
    assert plan_depth == document_depth, (
        f"{domain} deploys in {plan_depth} tiers; the document's steps need {document_depth}"
    )


# --- the critical path -----------------------------------------------------------------------------


def shortest_schedule(plan: PlanGraph, doc: Document | None = None) -> int:
    """The fewest deployment waves the document allows for the modules this stack deploys: Phase 0's
    order, the gate column, the early starters and the steps — computed from the document alone."""
    doc = doc or document()
    deployed = {m["slug"] for m in plan.bank["modules"] if m["enabled"]}
    phase_modules: dict[str, list[str]] = {"0": [s for s in doc.phase0 if s in deployed]}
    for phase, domain in doc.domain_of_phase.items():
        phase_modules[phase] = [s for _a, mods in doc.steps[domain].values() for s in mods if s in deployed]
    wave: dict[tuple[str, str], int] = {}

    def module_wave(slug: str, phase: str) -> int:
        key = ("module", slug)
        if key not in wave:
            before = [gate_wave(g) for g in ([] if phase == "0" else doc.gates_of(slug, phase))]
            if phase == "0":
                before += [module_wave(s, "0") for s in doc.phase0[slug] if s in deployed]
            else:
                domain, number = doc.step_of(slug)
                earlier = doc.step_closure(domain, number)
                before += [module_wave(s, phase) for n in earlier for s in doc.steps[domain][n][1] if s in deployed]
            wave[key] = 1 + max(before, default=0)
        return wave[key]

    def gate_wave(phase: str) -> int:
        key = ("gate", phase)
        if key not in wave:
            members = [s for s in phase_modules[phase] if s not in doc.outside_foundation_gate]
            wave[key] = 1 + max((module_wave(s, phase) for s in members), default=0)
        return wave[key]

    return max(gate_wave(p) for p in phase_modules)


def assert_critical_path_is_the_shortest(plan: PlanGraph, doc: Document | None = None) -> None:
    waves = plan.waves()
    longest, allowed = max(waves.values()), shortest_schedule(plan, doc)
    assert longest == allowed, f"the plan deploys in {longest} waves; the document allows {allowed}"
