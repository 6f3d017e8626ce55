"""The program declares only the dependency edges no other edge implies (model/platform.py,
direct_prerequisites), and loses no wait the document asks for."""

from __future__ import annotations

import pytest

from model.platform import load_stack_platform
from tests.conftest import PROJECT_DIR


def closure(graph: dict, node) -> set:
    seen, todo = set(), list(graph[node])
    while todo:
        n = todo.pop()
        if n not in seen:
            seen.add(n)
            todo.extend(graph[n])
    return seen


@pytest.mark.parametrize("stack", ["local", "dev", "uat", "prod"])
def test_reduced_edges_keep_every_wait_and_nothing_redundant(stack):
    platform = load_stack_platform(PROJECT_DIR, stack)
    full = platform.prerequisite_graph()
    reduced = platform.direct_prerequisites()
    for node in full:
        assert closure(reduced, node) == closure(full, node), f"{node}: a wait was lost or added"
        for p in reduced[node]:
            others = [q for q in reduced[node] if q != p]
            assert not any(p in closure(reduced, q) for q in others), f"{node} → {p} is implied by another edge"


def test_a_later_step_waits_for_its_gate_through_the_earlier_step():
    platform = load_stack_platform(PROJECT_DIR, "dev")
    reduced = platform.direct_prerequisites()
    # A module after an earlier step of its domain waits for its phase gates through that step, not directly.
    chained = [
        m
        for m in platform.phase_modules("2")
        if ("module", m.spec.id) in reduced
        and any(
            p[0] == "module" and platform.module(p[1]).spec.domain == m.spec.domain
            for p in reduced[("module", m.spec.id)]
        )
    ]
    assert chained, "no in-domain step chain in phase 2"
    for m in chained:
        assert not any(p[0] == "gate" for p in reduced[("module", m.spec.id)]), m.spec.id
