"""The deployment sequence, checked on the real dev, uat and prod plans — and shown failing on broken data.

Ordering semantics are the engine's: a resource waits for its dependencies and
for its parent's registration, and a component registers after its own
dependencies, so "waits for" is reachability over dependencies + parents.
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
from tests import sequence_rules as rules
from tests.conftest import PROJECT_DIR, offline_plan

STACKS = ("dev", "uat", "prod")


@pytest.fixture(scope="module", params=STACKS)
def plan(request) -> PlanGraph:
    return PlanGraph(offline_plan(request.param).document)


# --- Phases overview: the gate column --------------------------------------------------------------


def test_every_module_waits_for_the_gates_of_its_phase(plan):
    rules.assert_gate_column(plan)


def test_every_gate_waits_for_every_module_of_its_phase(plan):
    rules.assert_gates_wait_for_their_phase(plan)


def test_aml_waits_for_core_banking_and_kyc(plan):
    first = plan.module("transaction-monitoring-rules")
    assert plan.waits_for(first, plan.gate(1)) and plan.waits_for(first, plan.gate(2))


def test_app_layer_waits_for_every_prior_phase(plan):
    for m in plan.modules(domain="SD08"):
        for phase in range(7):
            assert plan.waits_for(m["urn"], plan.gate(phase))


# --- Parallelism ("Modules that can run in parallel within a phase") ------------------------------


def test_phase_2_never_waits_for_phase_1(plan):
    rules.assert_never_waits_for_phase(plan, 2, 1)
    rules.assert_never_waits_for_phase(plan, 1, 2)


def test_phase_4_never_waits_for_phase_2(plan):
    # Phase 4's gate is Phase 1, not Phase 2.
    rules.assert_never_waits_for_phase(plan, 4, 2)


def test_phase_6_waits_only_for_phase_1(plan):
    for other in (2, 3, 4, 5, 7):
        rules.assert_never_waits_for_phase(plan, 6, other)


def test_phases_2_4_and_6_run_beside_each_other(plan):
    for a, b in ((2, 4), (4, 2), (2, 6), (6, 2), (4, 6), (6, 4)):
        rules.assert_never_waits_for_phase(plan, a, b)


def test_no_application_module_waits_for_snowflake(plan):
    rules.assert_no_application_module_waits_for_snowflake(plan)


def test_foundation_gate_is_phase_0_without_mod_102(plan):
    rules.assert_foundation_gate_excludes_snowflake(plan)


# --- Phase 0 ---------------------------------------------------------------------------------------


def test_phase_0_internal_order(plan):
    rules.assert_phase0_order(plan)


# --- Deploy order within each domain ---------------------------------------------------------------


@pytest.mark.parametrize("domain", sorted(rules.IN_DOMAIN_ORDER))
def test_in_domain_order(plan, domain):
    rules.assert_in_domain_order(plan, domain)


def test_sd01_account_lifecycle_modules_deploy_first_in_parallel(plan):
    rules.assert_sd01_account_lifecycle_first(plan)


def test_sd03_realtime_sanctions_screening_needs_only_phase_0(plan):
    rules.assert_sd03_sanctions_screening_needs_only_phase0(plan)


def test_sd04_scam_detection_deploys_beside_the_rails(plan):
    rules.assert_sd04_scam_detection_beside_rails(plan)


def test_sd05_responsible_lending_has_no_runtime_dependency(plan):
    rules.assert_sd05_responsible_lending_has_no_runtime_dependency(plan)


def test_sd08_authentication_first_open_banking_last(plan):
    rules.assert_sd08_authentication_first_and_open_banking_last(plan)


def test_optional_modules_follow_their_flags():
    dev = PlanGraph(offline_plan("dev").document)
    prod = PlanGraph(offline_plan("prod").document)
    assert not dev.is_enabled("swift-correspondent-banking")  # payments.swift.enabled: false in dev
    assert prod.is_enabled("swift-correspondent-banking")
    assert prod.waits_for(prod.module("swift-correspondent-banking"), prod.module("payment-instruction-core"))


# --- Each kind of assertion fails on a deliberately broken catalogue ----------------------------
# The validator accepts each of these catalogues: only the graph rules can tell they break the
# sequence document.


def broken_plan(mutate_modules=None, phases=PHASES, stack: str = "dev") -> PlanGraph:
    entries = yaml.safe_load(DEFAULT_CATALOGUE_FILE.read_text())["modules"]
    by_slug = {e["slug"]: e for e in entries}
    if mutate_modules:
        mutate_modules(by_slug)
    catalogue = parse_catalogue(entries, phases=phases)
    platform = resolve_platform(
        stack, load_stack_config(PROJECT_DIR, stack), catalogue, load_release_manifest(PROJECT_DIR, stack)
    )
    return PlanGraph(record_plan(stack, lambda: build_platform(platform), lambda: platform).document)


def _set(slug, **fields):
    def mutate(by_slug):
        by_slug[slug].update(fields)

    return mutate


def test_broken_in_domain_order_is_caught():
    # STR generation no longer waits for suspicious activity detection.
    broken = broken_plan(_set("str-generation", needs=[]))
    with pytest.raises(AssertionError, match="str-generation does not wait for suspicious-activity-detection"):
        rules.assert_in_domain_order(broken, "SD03")


def test_broken_gate_column_is_caught():
    # AML's rules engine would start with only Phase 1 done (a narrower gate list is valid catalogue data).
    broken = broken_plan(_set("transaction-monitoring-rules", gates=["1"], needs=[]))
    with pytest.raises(AssertionError, match="transaction-monitoring-rules .Phase 3. does not wait for gate 2"):
        rules.assert_gate_column(broken)


def test_broken_gate_membership_is_caught():
    broken = broken_plan(_set("risk-reporting", holdsPhaseGate=False))
    with pytest.raises(AssertionError, match="gate 6 does not wait for risk-reporting"):
        rules.assert_gates_wait_for_their_phase(broken)


def test_broken_parallelism_is_caught():
    # A phases table where Phase 2 waits for Phase 1 (the loose reading DESIGN G3 rejects the other way).
    phases = tuple(p.model_copy(update={"after": ("0", "1")}) if p.key == "2" else p for p in PHASES)
    broken = broken_plan(phases=phases)
    with pytest.raises(AssertionError, match="Phase 2: .* waits for the Phase 1 gate"):
        rules.assert_never_waits_for_phase(broken, 2, 1)


def test_snowflake_in_the_foundation_gate_is_caught():
    broken = broken_plan(_set("snowflake-configuration", holdsPhaseGate=True))
    with pytest.raises(AssertionError, match="waits for MOD-102"):
        rules.assert_no_application_module_waits_for_snowflake(broken)
    with pytest.raises(AssertionError, match="the foundation gate waits for MOD-102"):
        rules.assert_foundation_gate_excludes_snowflake(broken)


def test_broken_exception_is_caught():
    # Real-time sanctions screening made to wait for the whole Phase 3 gate column.
    broken = broken_plan(_set("realtime-sanctions-screening", gates=None))
    with pytest.raises(AssertionError, match="real-time sanctions screening waits for gate 1"):
        rules.assert_sd03_sanctions_screening_needs_only_phase0(broken)


def test_broken_phase_0_parallelism_is_caught():
    # MOD-045 made to wait for MOD-103, which step 0.3 says it need not.
    broken = broken_plan(_set("secrets-key-management", needs=["MOD-104", "MOD-103"]))
    with pytest.raises(AssertionError, match="secrets-key-management waits for neon-database-bootstrap"):
        rules.assert_phase0_order(broken)


def test_broken_independence_is_caught():
    # Scam detection made to wait for a rail, which the document says it deploys beside.
    def scam_after_npp(by_slug):
        scam = by_slug["scam-detection-friction"]
        scam["needs"] = [*scam["needs"], by_slug["npp-realtime-payments"]["id"]]

    broken = broken_plan(scam_after_npp)
    with pytest.raises(AssertionError, match="scam-detection-friction waits for npp-realtime-payments"):
        rules.assert_sd04_scam_detection_beside_rails(broken)


def test_open_banking_not_last_is_caught():
    def open_banking_early(by_slug):
        for slug in ("open-banking-cdr-au", "open-banking-nz"):
            by_slug[slug]["needs"] = [by_slug["session-authentication"]["id"]]
            by_slug[slug]["after"] = []

    broken = broken_plan(open_banking_early)
    with pytest.raises(AssertionError, match="open-banking-.* does not wait for"):
        rules.assert_sd08_authentication_first_and_open_banking_last(broken)


def test_responsible_lending_with_a_runtime_dependency_is_caught():
    def disclosure_after_intake(by_slug):
        by_slug["responsible-lending-disclosure"]["needs"] = [by_slug["credit-application-intake"]["id"]]

    broken = broken_plan(disclosure_after_intake)
    with pytest.raises(
        AssertionError, match="responsible lending waits for (credit-application-intake|credit-product-config)"
    ):
        rules.assert_sd05_responsible_lending_has_no_runtime_dependency(broken)
