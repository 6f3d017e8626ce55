"""The deployment sequence, checked on the real dev, uat and prod plans — and shown failing on broken data.

Expectations come from tests/data/deployment_sequence.yaml (the document, written out), never from
model/. Ordering semantics are the engine's: a resource waits for its dependencies and for its parent's
registration, and a component registers after its own dependencies, so "waits for" is reachability.
"""

from __future__ import annotations

import pytest
import yaml

from bankctl.plan_command import record_plan
from bankctl.plan_graph import PlanGraph
from domains.platform import build_platform
from model.catalogue import DEFAULT_CATALOGUE_FILE, parse_catalogue
from model.phases import PHASES
from model.platform import resolve_platform
from model.releases import load_release_manifest
from model.stack_config import load_stack_config
from model.steps import DOMAIN_STEPS
from tests import sequence_rules as rules
from tests.conftest import PROJECT_DIR, offline_plan

STACKS = ("dev", "uat", "prod")
STEPPED_DOMAINS = ("SD01", "SD02", "SD03", "SD04", "SD05", "SD06", "SD08")


@pytest.fixture(scope="module", params=STACKS)
def plan(request) -> PlanGraph:
    return PlanGraph(offline_plan(request.param).document)


# --- Phases overview: the gate column --------------------------------------------------------------


def test_every_module_waits_for_exactly_its_gate_column(plan):
    rules.assert_gate_column(plan)


def test_every_gate_closes_its_phase(plan):
    rules.assert_gates_close_their_phase(plan)


def test_aml_waits_for_core_banking_and_kyc(plan):
    first = plan.module("transaction-monitoring-rules")
    assert plan.waits_for(first, plan.gate(1)) and plan.waits_for(first, plan.gate(2))


def test_app_layer_waits_for_every_prior_phase(plan):
    for m in plan.modules(domain="SD08"):
        for phase in range(7):
            assert plan.waits_for(m["urn"], plan.gate(phase)), (m["slug"], phase)


# --- Parallelism ("Modules that can run in parallel within a phase") ------------------------------


def test_phases_1_and_2_run_beside_each_other(plan):
    rules.assert_never_waits_for_phase(plan, 2, 1)
    rules.assert_never_waits_for_phase(plan, 1, 2)


def test_phases_2_4_and_6_run_beside_each_other(plan):
    # "Phase 4 gate is Phase 1, not Phase 2"; "Phase 6 gate is Phase 1 only".
    for a, b in ((2, 4), (4, 2), (2, 6), (6, 2), (4, 6), (6, 4)):
        rules.assert_never_waits_for_phase(plan, a, b)


def test_no_application_module_waits_for_snowflake(plan):
    snowflake = plan.module("MOD-102")
    for m in plan.bank["modules"]:
        if m["enabled"] and isinstance(m["phase"], int) and m["phase"] >= 1:
            assert not rules.touches(plan, m["urn"], snowflake), f"{m['slug']} waits for MOD-102"
    for m in plan.modules(phase="data-platform"):
        assert plan.waits_for(m["urn"], snowflake), f"{m['slug']} does not wait for MOD-102"  # DESIGN G1


# --- Phase 0 ---------------------------------------------------------------------------------------


def test_phase_0_order(plan):
    rules.assert_phase0_order(plan)


# --- Deploy order within each domain: the document's steps, exactly ------------------------------


@pytest.mark.parametrize("domain", STEPPED_DOMAINS)
def test_in_domain_order_is_the_documents_steps(plan, domain):
    rules.assert_in_domain_order_is_the_steps(plan, domain)


@pytest.mark.parametrize("domain", STEPPED_DOMAINS)
def test_each_domain_is_as_deep_as_its_steps(plan, domain):
    rules.assert_domain_depth_is_its_step_depth(plan, domain)


def test_the_critical_path_is_the_shortest_the_document_allows(plan):
    rules.assert_critical_path_is_the_shortest(plan)


def test_the_shortest_schedule_is_twenty_waves():
    # Written out by hand from the document, so the schedule computation itself is checked:
    # MOD-104, MOD-103, MOD-046, gate 0 (4); SD02 steps 1–5 (9), gate 2 (10); SD05 steps 2, 3, 5, 6, 7 (15),
    # gate 5 (16); SD08 steps 1, 2, 8 (19), gate 7 (20).
    assert rules.shortest_schedule(PlanGraph(offline_plan("dev").document)) == 20


# --- What the document says of particular steps ---------------------------------------------------


def test_sd01_account_lifecycle_modules_deploy_first_in_parallel(plan):
    # "No SD01 cross-dependencies; deploy first or in parallel."
    lifecycle = ("account-creation", "account-status-management", "account-closure")
    for slug in lifecycle:
        for other in plan.modules(domain="SD01"):
            if other["slug"] != slug:
                assert not rules.touches(plan, plan.module(slug), other["urn"]), f"{slug} waits for {other['slug']}"


def test_sd03_realtime_sanctions_screening_needs_only_phase_0(plan):
    screening = plan.module("realtime-sanctions-screening")
    assert plan.waits_for(screening, plan.gate(0))
    for phase in (1, 2):
        assert not rules.touches(plan, screening, plan.gate(phase)), f"real-time screening waits for gate {phase}"
    for other in plan.modules(domain="SD03"):
        if other["urn"] != screening:
            assert not rules.touches(plan, screening, other["urn"]), f"real-time screening waits for {other['slug']}"


# "Scam detection ... can deploy in parallel with rail modules" — the rails each stack deploys.
RAILS = {
    "dev": ("bpay-rail", "nz-faster-payments-rail", "npp-realtime-payments", "confirmation-of-payee"),
    "uat": ("bpay-rail", "nz-faster-payments-rail", "npp-realtime-payments", "confirmation-of-payee",
            "swift-correspondent-banking"),
    "prod": ("bpay-rail", "nz-faster-payments-rail", "npp-realtime-payments", "confirmation-of-payee",
             "swift-correspondent-banking"),
}  # fmt: skip


def test_sd04_scam_detection_deploys_beside_the_rails(plan):
    for rail in RAILS[plan.bank["stack"]]:
        rules.assert_independent(plan, "scam-detection-friction", rail)


def test_sd05_responsible_lending_has_no_runtime_dependency(plan):
    disclosure = plan.module("responsible-lending-disclosure")
    for other in plan.modules(domain="SD05"):
        if other["slug"] != "responsible-lending-disclosure":
            assert not rules.touches(plan, disclosure, other["urn"]), f"responsible lending waits for {other['slug']}"


def test_sd08_authentication_before_onboarding_and_open_banking_last(plan):
    rules.assert_waits(plan, "onboarding-flows", "session-authentication")
    open_banking = {"open-banking-cdr-au", "open-banking-nz"}
    for m in plan.modules(domain="SD08"):
        if m["slug"] not in open_banking and m["slug"] != "consent-dashboard":
            for ob in open_banking:
                rules.assert_waits(plan, ob, m["slug"])
    # Only onboarding waits for authentication: the dashboard, payments, cards, loans and notifications
    # depend on other domains, which the Phase 7 gate already covers.
    for slug in ("account-dashboard", "payment-initiation-flows", "card-management", "loan-application-flows",
                 "notifications-alerts", "banker-console"):  # fmt: skip
        rules.assert_independent(plan, slug, "session-authentication")


def test_optional_modules_follow_their_flags():
    dev = PlanGraph(offline_plan("dev").document)
    prod = PlanGraph(offline_plan("prod").document)
    assert not dev.is_enabled("swift-correspondent-banking")  # payments.swift.enabled: false in dev
    assert prod.is_enabled("swift-correspondent-banking")
    assert prod.waits_for(prod.module("swift-correspondent-banking"), prod.module("payment-instruction-core"))
    with pytest.raises(KeyError, match="disabled in stack dev"):
        rules.assert_waits(dev, "swift-correspondent-banking", "payment-instruction-core")


# --- Each kind of assertion fails on deliberately broken data --------------------------------------
# The validator accepts each of these: only the graph rules can tell they break the sequence document.


def broken_plan(mutate_modules=None, phases=PHASES, steps=DOMAIN_STEPS, stack: str = "dev") -> PlanGraph:
    entries = yaml.safe_load(DEFAULT_CATALOGUE_FILE.read_text())["modules"]
    by_slug = {e["slug"]: e for e in entries}
    if mutate_modules:
        mutate_modules(by_slug)
    catalogue = parse_catalogue(entries, phases=phases, steps=steps)
    platform = resolve_platform(
        stack, load_stack_config(PROJECT_DIR, stack), catalogue, load_release_manifest(PROJECT_DIR, stack)
    )
    # Service modules are built from Phase 0's outputs (components/service_module.py), so even a phase table that
    # forgets the foundation gate builds Phase 0's components first (still an order of the broken graph: they wait
    # for Phase 0 modules only); what the table gets wrong stays in the recorded dependencies, for the rules to catch.
    order = platform.build_order()
    foundation = [n for n in order if n[0] == "module" and platform.module(n[1]).spec.kind == "foundation"]
    object.__setattr__(platform, "build_order", lambda: foundation + [n for n in order if n not in foundation])
    return PlanGraph(record_plan(stack, lambda: build_platform(platform), lambda: platform).document)


def _set(slug, **fields):
    def mutate(by_slug):
        by_slug[slug].update(fields)

    return mutate


def _phases(key: str, after: tuple[str, ...]):
    return tuple(p.model_copy(update={"after": after}) if p.key == key else p for p in PHASES)


def _steps(domain: str, number: int, after: tuple[int, ...]):
    return {
        **DOMAIN_STEPS,
        domain: tuple(s.model_copy(update={"after": after}) if s.number == number else s for s in DOMAIN_STEPS[domain]),
    }


def test_a_module_moved_to_another_step_is_caught():
    broken = broken_plan(_set("str-generation", step=2))
    with pytest.raises(AssertionError, match=r"str-generation \(step 3\) does not wait for suspicious-activity"):
        rules.assert_in_domain_order_is_the_steps(broken, "SD03")


def test_a_changed_step_dependency_is_caught():
    # model/steps.py saying disclosure depends on intake: an ordering the document does not state.
    broken = broken_plan(steps=_steps("SD05", 4, (1,)))
    with pytest.raises(
        AssertionError,
        match=r"(responsible-lending-disclosure|credit-product-config) \(step 4\) waits for credit-application-intake",
    ):
        rules.assert_in_domain_order_is_the_steps(broken, "SD05")


def test_a_deeper_step_table_is_caught_by_depth_and_critical_path():
    broken = broken_plan(steps=_steps("SD08", 3, (2,)))  # the dashboard after onboarding
    with pytest.raises(AssertionError, match="SD08 deploys in 4 tiers; the document's steps need 3"):
        rules.assert_domain_depth_is_its_step_depth(broken, "SD08")
    with pytest.raises(AssertionError, match="the plan deploys in 21 waves; the document allows 20"):
        rules.assert_critical_path_is_the_shortest(broken)


def test_a_dropped_step_dependency_is_caught():
    broken = broken_plan(steps=_steps("SD02", 5, ()))  # KYC lifecycle no longer after screening
    with pytest.raises(AssertionError, match=r"kyc-(lifecycle-management|token-issuance) \(step 5\) does not wait for"):
        rules.assert_in_domain_order_is_the_steps(broken, "SD02")


@pytest.mark.parametrize("phase", ["1", "2"])
def test_a_phase_waiting_for_nothing_is_caught(phase):
    broken = broken_plan(phases=_phases(phase, ()))
    with pytest.raises(AssertionError, match=rf"\(Phase {phase}\) does not wait for gate 0"):
        rules.assert_gate_column(broken)


@pytest.mark.parametrize(("phase", "after", "extra"), [("3", ("1", "2", "4"), "4"), ("5", ("1", "2", "3"), "3")])
def test_a_phase_waiting_for_more_than_its_gate_column_is_caught(phase, after, extra):
    broken = broken_plan(phases=_phases(phase, after))
    with pytest.raises(AssertionError, match=rf"\(Phase {phase}\) waits for the gate of Phase {extra}"):
        rules.assert_gate_column(broken)


def test_phase_2_waiting_for_phase_1_is_caught():
    broken = broken_plan(phases=_phases("2", ("0", "1")))
    with pytest.raises(AssertionError, match="Phase 2: .* waits for the Phase 1 gate"):
        rules.assert_never_waits_for_phase(broken, 2, 1)


def test_broken_gate_membership_is_caught():
    broken = broken_plan(_set("risk-reporting", holdsPhaseGate=False))
    with pytest.raises(AssertionError, match="gate 6 does not wait for risk-reporting"):
        rules.assert_gates_close_their_phase(broken)


def test_snowflake_in_the_foundation_gate_is_caught():
    broken = broken_plan(_set("snowflake-configuration", holdsPhaseGate=True))
    with pytest.raises(AssertionError, match="the Phase 0 gate waits for snowflake-configuration"):
        rules.assert_gates_close_their_phase(broken)
    with pytest.raises(AssertionError, match="waits for MOD-102"):
        test_no_application_module_waits_for_snowflake(broken)


def test_an_early_starter_made_to_wait_is_caught():
    broken = broken_plan(_set("realtime-sanctions-screening", gates=None))
    with pytest.raises(AssertionError, match="realtime-sanctions-screening .Phase 3. waits for the gate of Phase 1"):
        rules.assert_gate_column(broken)


def test_broken_phase_0_parallelism_is_caught():
    # MOD-045 made to wait for MOD-103, which step 0.3 says it need not.
    broken = broken_plan(_set("secrets-key-management", needs=["MOD-104", "MOD-103"]))
    with pytest.raises(AssertionError, match="secrets-key-management waits for neon-database-bootstrap"):
        rules.assert_phase0_order(broken)


def test_scam_detection_after_a_rail_is_caught():
    broken = broken_plan(_set("scam-detection-friction", step=7))  # now after NPP, like confirmation of payee
    with pytest.raises(AssertionError, match="scam-detection-friction waits for npp-realtime-payments"):
        test_sd04_scam_detection_deploys_beside_the_rails(broken)


def test_open_banking_not_last_is_caught():
    broken = broken_plan(_set("open-banking-cdr-au", step=3))
    with pytest.raises(AssertionError, match="open-banking-cdr-au does not wait for"):
        test_sd08_authentication_before_onboarding_and_open_banking_last(broken)


def test_a_rule_fails_when_its_subject_is_missing():
    # A stack that no longer deploys a module a rule names fails the rule instead of passing silently.
    broken = broken_plan(_set("confirmation-of-payee", institutionTypes=["credit_union"]))  # dev's credit union is NZ
    with pytest.raises(KeyError, match="confirmation-of-payee is disabled in stack dev"):
        test_sd04_scam_detection_deploys_beside_the_rails(broken)
