"""The real catalogue: 149 modules, the six named foundation modules, and no provisional ID in code."""

from __future__ import annotations

import re
from collections import Counter

import pytest

from model.catalogue import load_catalogue, parse_catalogue
from model.errors import ConfigurationError
from tests.conftest import PROJECT_DIR

NAMED = {
    "MOD-104": "aws-bootstrap",
    "MOD-103": "neon-database-bootstrap",
    "MOD-102": "snowflake-configuration",
    "MOD-045": "secrets-key-management",
    "MOD-076": "observability-platform",
    "MOD-046": "dba-access-control",
}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def test_all_149_modules_in_eight_domains(catalogue):
    assert sorted(m.id for m in catalogue.modules) == [f"MOD-{n:03d}" for n in range(1, 150)]
    counts = Counter(m.domain for m in catalogue.modules)
    assert counts == {"SD01": 22, "SD02": 16, "SD03": 18, "SD04": 22, "SD05": 20, "SD06": 12, "SD07": 17, "SD08": 22}


def test_the_six_named_foundation_modules_keep_their_numbers(catalogue):
    by_id = catalogue.by_id()
    for mid, slug in NAMED.items():
        m = by_id[mid]
        assert (m.slug, m.domain, m.phase, m.kind) == (slug, "SD07", "0", "foundation")
    assert {m.id for m in catalogue.modules if m.kind == "foundation"} == set(NAMED)


def test_phase_0_internal_order_comes_from_needs(catalogue):
    # Deployment sequence, Phase 0 steps 0.1–0.4.
    needs = {mid: set(catalogue.by_id()[mid].needs) for mid in NAMED}
    assert needs == {
        "MOD-104": set(),
        "MOD-103": {"MOD-104"},
        "MOD-102": {"MOD-104"},
        "MOD-045": {"MOD-104"},
        "MOD-076": {"MOD-104"},
        "MOD-046": {"MOD-103", "MOD-045"},
    }
    assert not catalogue.by_id()["MOD-102"].holds_phase_gate  # DESIGN G1


def test_other_sd07_modules_are_the_data_platform_track(catalogue):
    pipelines = [m for m in catalogue.modules if m.domain == "SD07" and m.id not in NAMED]
    assert len(pipelines) == 11
    assert all(m.phase == "data-platform" and m.optional == "analytics.snowflake.enabled" for m in pipelines)


def test_every_subscription_names_an_event_some_module_publishes(catalogue):
    published = {f"{m.domain}:{e}" for m in catalogue.modules for e in m.publishes}
    for m in catalogue.modules:
        for sub in m.subscribes:
            assert sub in published, f"{m.slug} subscribes to {sub}, which nobody publishes"


def test_no_code_mentions_a_provisional_id(catalogue):
    # DESIGN G12: only the six named IDs are stable; code refers to every other module by slug.
    provisional = {m.id for m in catalogue.modules} - set(NAMED)
    offenders = []
    for path in sorted(PROJECT_DIR.rglob("*.py")):
        if ".venv" in path.parts:
            continue
        for module_id in re.findall(r"MOD-\d{3}(?!\d)", path.read_text(encoding="utf-8")):
            if module_id in provisional:
                offenders.append(f"{path.relative_to(PROJECT_DIR)}: {module_id}")
    assert offenders == []


def test_a_broken_catalogue_reports_every_problem_with_its_file():
    entries = [
        {
            "id": "MOD-104",
            "slug": "aws-bootstrap",
            "name": "AWS bootstrap",
            "domain": "SD07",
            "phase": 0,
            "kind": "foundation",
        },
        {"id": "MOD-104", "slug": "twice", "name": "Twice", "domain": "SD07", "phase": 0, "kind": "foundation"},
        {"id": "MOD-7", "slug": "bad-id", "name": "Bad id", "domain": "SD01", "phase": 1},
        {
            "id": "MOD-200",
            "slug": "wrong-domain",
            "name": "Wrong domain",
            "domain": "SD04",
            "phase": 2,
            "needs": ["MOD-404"],
        },
    ]
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(entries)
    text = str(caught.value)
    assert text.startswith("catalogue/modules.yaml has 4 problem(s):")
    assert "MOD-104: duplicate module ID (2 entries)" in text
    assert "MOD-7: id: String should match pattern" in text
    assert "MOD-200: domain SD04 is not deployed in Phase 2" in text
    assert "MOD-200: needs unknown module MOD-404" in text
