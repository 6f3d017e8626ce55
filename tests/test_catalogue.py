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


def entry(mid: str, slug: str, domain: str, phase, **fields) -> dict:
    return {
        "id": mid,
        "slug": slug,
        "name": slug.replace("-", " "),
        "domain": domain,
        "phase": phase,
        "owner": "core-banking",
        "dataClassification": "restricted",
        **fields,
    }


def test_a_broken_catalogue_reports_every_problem_with_its_file():
    entries = [
        entry("MOD-104", "aws-bootstrap", "SD07", 0, kind="foundation"),
        entry("MOD-104", "twice", "SD07", 0, kind="foundation"),
        entry("MOD-7", "bad-id", "SD01", 1, step=1),
        entry("MOD-200", "wrong-domain", "SD04", 2, needs=["MOD-404"], step=1),
    ]
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(entries)
    text = str(caught.value)
    assert text.startswith("catalogue/modules.yaml has 4 problem(s):")
    assert "MOD-104: duplicate module ID (2 entries)" in text
    assert "MOD-7: id: String should match pattern" in text
    assert "MOD-200: domain SD04 is not deployed in Phase 2" in text
    assert "MOD-200: needs unknown module MOD-404" in text


def test_in_domain_order_comes_from_steps_only():
    entries = [
        entry("MOD-901", "account-creation", "SD01", 1, step=1),
        entry("MOD-907", "balance-service", "SD01", 1, step=2, needs=["MOD-901"]),  # in-domain need
        entry("MOD-909", "transaction-history", "SD01", 1),  # no step
        entry("MOD-910", "holds", "SD01", 1, step=9),  # no such step
        entry("MOD-104", "aws-bootstrap", "SD07", 0, kind="foundation", step=1),  # SD07 has no steps
    ]
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(entries)
    problems = caught.value.problems
    assert any(p.startswith("MOD-907: needs MOD-901 (account-creation) of its own domain") for p in problems)
    assert any(p.startswith("MOD-909 (transaction-history): needs a `step` of SD01's deploy order") for p in problems)
    assert "MOD-910: SD01 has no step 9" in problems
    assert "MOD-104: SD07 has no deploy-order steps; remove `step`" in problems
    assert len(problems) == 4, problems


def test_a_step_table_that_cannot_be_right_is_reported():
    from model.steps import DOMAIN_STEPS, Step

    broken = {**DOMAIN_STEPS, "SD01": (*DOMAIN_STEPS["SD01"][:-1], Step(number=6, name="Direct debit", after=(7,)))}
    with pytest.raises(ConfigurationError, match=r"model/steps.py: SD01 step 6: depends on unknown step 7"):
        load_catalogue(steps=broken)
    later = {**DOMAIN_STEPS, "SD02": (*DOMAIN_STEPS["SD02"][:-1], Step(number=5, name="Lifecycle", after=(4, 5)))}
    with pytest.raises(ConfigurationError, match=r"SD02 step 5: depends on step 5, which is not earlier"):
        load_catalogue(steps=later)


def test_a_subscription_nobody_publishes_is_reported():
    entries = [
        entry("MOD-901", "account-creation", "SD01", 1, step=1, publishes=["account.created"]),
        entry("MOD-907", "balance-service", "SD01", 1, step=2, subscribes=["SD01:account.opened"]),
    ]
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(entries)
    assert caught.value.problems == [
        "MOD-907 (balance-service): subscribes to SD01:account.opened, which no SD01 module publishes"
    ]


def test_a_former_slug_may_not_name_another_module():
    entries = [
        entry("MOD-901", "account-creation", "SD01", 1, step=1),
        entry("MOD-908", "account-ledger", "SD01", 1, step=2, formerSlugs=["account-creation"]),
    ]
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(entries)
    assert caught.value.problems == ["MOD-908: slug `account-creation` is already used by MOD-901"]


def test_every_module_has_an_owner_and_a_classification(catalogue):
    # Customer PII and payment data are restricted: every module of KYC, AML and payments holds them.
    for m in catalogue.modules:
        if m.domain in ("SD02", "SD03", "SD04"):
            assert m.data_classification == "restricted" or m.slug in {
                "aml-model-tuning",
                "aml-mi-dashboard",
                "settlement-liquidity-monitoring",
            }, m.slug
    assert catalogue.by_slug()["account-ledger"].tags == {
        "bank:module": "account-ledger",
        "bank:module-id": catalogue.by_slug()["account-ledger"].id,
        "bank:domain": "SD01",
        "bank:phase": "1",
        "bank:owner": "core-banking",
        "bank:data-classification": "restricted",
    }


def test_the_catalogue_review_is_applied(catalogue):
    """Issue review of the catalogue (slugs are permanent from here on)."""
    slugs = set(catalogue.by_slug())
    # Duplicates, overlaps and libraries are gone; the account ledger is named for what it is.
    for gone in (
        "kinesis-event-replication",
        "customer-risk-rerating",
        "general-ledger",
        "feature-flags-client",
        "accessibility-preferences",
    ):
        assert gone not in slugs, gone
    assert {"account-ledger", "finance-gl-interface"} <= slugs
    by_slug = catalogue.by_slug()
    # The banker console signs in through the internal pool, not the customer session.
    assert by_slug["banker-console"].user_pool == "internal"
    assert by_slug["session-authentication"].id not in by_slug["banker-console"].needs
    # Exposure and concentration hear SD05's credit events; IFTI hears SD04's international payments.
    for slug in ("related-party-exposure", "concentration-risk"):
        assert any(s.startswith("SD05:") for s in by_slug[slug].subscribes), slug
    assert any(s.startswith("SD04:") for s in by_slug["ifti-reporting"].subscribes)
    # Card schemes are reached through AU-only providers (Cuscal, Monoova).
    assert by_slug["card-scheme-integration"].jurisdictions == ("AU",)


# --- the service footprint's fields (issue 8): memoryMb, reservedConcurrency, routes, flags ---------------------------
def test_service_fields_default_so_existing_entries_stay_valid(catalogue):
    by_slug = catalogue.by_slug()
    plain = by_slug["account-creation"]  # sets none of them
    assert (plain.memory_mb, plain.reserved_concurrency, plain.flags) == (None, None, {})
    # A module of an application domain answers under its own path by default; SD07 and foundation modules have none.
    assert plain.routes == ("ANY /account-creation/{proxy+}",)
    assert by_slug["landing-zone-ingestion"].routes == () and by_slug["aws-bootstrap"].routes == ()
    assert by_slug["end-of-day-batch"].routes == ()  # `routes: []`: nothing calls it over HTTP
    assert by_slug["scam-detection-friction"].flags == {
        "confirmation-of-payee-warning": True,
        "new-payee-cooling-off": False,
    }


def test_every_route_is_a_method_and_a_path_under_the_modules_slug(catalogue):
    for m in catalogue.modules:
        for route in m.routes:
            method, path = route.split(" ")
            assert method in ("GET", "POST", "PUT", "PATCH", "DELETE", "ANY"), route
            assert path == "/health" or path == f"/{m.slug}" or path.startswith(f"/{m.slug}/"), route


def test_bad_service_fields_are_reported_with_their_module():
    entries = [
        entry("MOD-901", "account-creation", "SD01", 1, step=1, memoryMb=64, reservedConcurrency=0),
        entry(
            "MOD-902",
            "account-closure",
            "SD01",
            1,
            step=1,
            routes=["FETCH /account-closure", "GET /account-creation/x", "GET /account-closure/{proxy+}/tail"],
        ),
        entry("MOD-903", "joint-ownership", "SD01", 1, step=1, flags={"Not_Kebab": True, "on": "maybe"}),
        entry("MOD-904", "dormant-accounts", "SD01", 1, step=1, routes=["GET /health"]),
        entry("MOD-905", "member-shares", "SD01", 1, step=1, routes=["GET /health"]),
    ]
    with pytest.raises(ConfigurationError) as caught:
        parse_catalogue(entries)
    problems = caught.value.problems
    assert any(p.startswith("MOD-901: memoryMb: Input should be greater than or equal to 128") for p in problems)
    assert any(
        p.startswith("MOD-901: reservedConcurrency: Input should be greater than or equal to 1") for p in problems
    )
    (routes,) = [p for p in problems if p.startswith("MOD-902: routes:")]
    assert "`FETCH /account-closure`: the method must be one of GET, POST, PUT, PATCH, DELETE, ANY" in routes
    assert "`GET /account-creation/x`: a module's paths start with `/account-closure`" in routes
    assert "`/account-closure/{proxy+}/tail` is not an HTTP API route path" in routes
    assert any(p.startswith("MOD-903: flags.Not_Kebab.[key]: String should match pattern") for p in problems)
    assert any(p.startswith("MOD-903: flags.on: Input should be a valid boolean") for p in problems)
    assert "MOD-904, MOD-905: SD01's API can route `GET /health` to only one module" in problems
    assert len(problems) == 6, problems
