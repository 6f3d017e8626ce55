"""Reads a plan (or a real `pulumi stack export`) and answers ordering questions the way the engine orders.

The engine starts a resource after its dependencies and after its parent has
registered; a component registers after its own dependencies. So "X waits for
Y" is reachability over dependencies + parent + provider, transitively.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from functools import cached_property
from typing import Any

from bankctl.deployment_file import load_deployment


class PlanGraph:
    @classmethod
    def load(cls, source: str | os.PathLike[str] | Mapping[str, Any]) -> PlanGraph:
        """A plan or a real `pulumi stack export` (file, JSON text or parsed), read by bankctl.deployment_file."""
        return cls(load_deployment(source))

    def __init__(self, document: dict[str, Any]):
        self.document = document
        self.resources: dict[str, dict[str, Any]] = {r["urn"]: r for r in document["deployment"]["resources"]}
        self.bank: dict[str, Any] = document.get("bank", {})
        self._closure: dict[str, frozenset[str]] = {}

    # --- structure -------------------------------------------------------------------------
    def _direct(self, urn: str) -> set[str]:
        r = self.resources[urn]
        before = set(r.get("dependencies", ())) | {r.get("parent", "")}
        if r.get("provider"):
            before.add(r["provider"].rsplit("::", 1)[0])
        return {b for b in before if b in self.resources}

    def waits_on(self, urn: str) -> frozenset[str]:
        """Every resource that must be done (or registered) before `urn` starts."""
        if urn not in self._closure:
            seen: set[str] = set()
            stack = [urn]
            while stack:
                for dep in self._direct(stack.pop()):
                    if dep not in seen:
                        seen.add(dep)
                        stack.append(dep)
            self._closure[urn] = frozenset(seen)
        return self._closure[urn]

    @cached_property
    def children(self) -> dict[str, list[str]]:
        out: dict[str, list[str]] = {u: [] for u in self.resources}
        for urn, r in self.resources.items():
            if r.get("parent") in out:
                out[r["parent"]].append(urn)
        return out

    def subtree(self, urn: str) -> list[str]:
        """A resource and all its descendants."""
        out, stack = [], [urn]
        while stack:
            u = stack.pop()
            out.append(u)
            stack.extend(self.children[u])
        return out

    def custom_resources(self, urn: str) -> list[str]:
        return [u for u in self.subtree(urn) if self.resources[u]["custom"]]

    # --- the questions -------------------------------------------------------------------------
    def waits_for(self, a: str, b: str) -> bool:
        """All of A (its component and so every child) starts only after all of B is done."""
        targets = self.custom_resources(b)
        return bool(targets) and set(targets) <= self.waits_on(a)

    def touches(self, a: str, b: str) -> bool:
        """Some resource of A waits for some resource of B (the negation of 'never waits')."""
        targets = set(self.custom_resources(b))
        return any(self.waits_on(u) & targets for u in self.subtree(a))

    # --- names ---------------------------------------------------------------------------------
    def modules(self, *, domain: str | None = None, phase: Any = None, enabled: bool = True) -> list[dict[str, Any]]:
        """The plan's modules, filtered; `phase` is a number or key (`3`, "3", "data-platform")."""
        return [
            m
            for m in self.bank["modules"]
            if m["enabled"] == enabled
            and (domain is None or m["domain"] == domain)
            and (phase is None or str(m["phase"]) == str(phase))
        ]

    def is_enabled(self, slug: str) -> bool:
        return any(m["slug"] == slug and m["enabled"] for m in self.bank["modules"])

    def module(self, slug_or_id: str) -> str:
        """The URN of a module's component, by slug (or by one of the six named IDs)."""
        for m in self.bank["modules"]:
            if slug_or_id in (m["slug"], m["id"]):
                if not m["enabled"]:
                    raise KeyError(f"module {slug_or_id} is disabled in stack {self.bank['stack']}")
                return m["urn"]
        raise KeyError(f"no module {slug_or_id} in the plan")

    def gate(self, phase_key: Any) -> str:
        for p in self.bank["phases"]:
            if str(p["key"]) == str(phase_key):
                return p["gate"]
        raise KeyError(f"no phase {phase_key}")

    def component_of(self, urn: str) -> str:
        """The top-level component (module or gate) a resource belongs to, or "" for the provider."""
        while urn:
            parent = self.resources[urn].get("parent", "")
            if self.resources.get(parent, {}).get("type") == "pulumi:pulumi:Stack":
                return urn
            urn = parent
        return ""

    def _component_dependencies(self) -> dict[str, set[str]]:
        """Each module and gate component, and the other modules and gates it waits for directly."""
        top = {m["urn"] for m in self.bank["modules"] if m["enabled"]} | {p["gate"] for p in self.bank["phases"]}
        owner = {u: self.component_of(u) for u in self.resources}
        direct: dict[str, set[str]] = {t: set() for t in top}
        for t in top:
            for u in self.subtree(t):
                for dep in self._direct(u):
                    o = owner.get(dep, "")
                    if o in top and o != t:
                        direct[t].add(o)
        return direct

    def waves(self) -> dict[str, int]:
        """Deployment wave of each module and gate component: 1 + the latest wave it waits for."""
        direct = self._component_dependencies()
        wave: dict[str, int] = {}

        def depth(t: str) -> int:
            if t not in wave:
                wave[t] = 1 + max((depth(d) for d in direct[t]), default=0)
            return wave[t]

        for t in sorted(direct):
            depth(t)
        return wave

    def critical_path(self) -> list[str]:
        """The longest chain of modules and gates, first to last: what bounds the deployment's length.
        Ties go to the first URN in sort order, so the same plan always names the same path."""
        direct = self._component_dependencies()
        wave = self.waves()
        if not wave:
            return []
        last = min(wave, key=lambda u: (-wave[u], u))
        path = [last]
        while direct[path[-1]]:
            path.append(min(direct[path[-1]], key=lambda u: (-wave[u], u)))
        return list(reversed(path))

    def label(self, urn: str) -> str:
        """A component's name for people: the module slug or the gate name."""
        return urn.rsplit("::", 1)[-1]
