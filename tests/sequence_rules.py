"""The deployment sequence document, as checks on a plan graph.

Each function states one kind of rule from seeds/000 (the deployment
sequence) and raises AssertionError naming what breaks it. test_sequence_graph
runs them on the real dev, uat and prod plans and shows each failing on a
deliberately broken catalogue. Modules are named by slug: only the six
foundation IDs are fixed (DESIGN G12).
"""

from __future__ import annotations

from bankctl.plan_graph import PlanGraph

FOUNDATION_GATE_MEMBERS = ("MOD-104", "MOD-103", "MOD-045", "MOD-076", "MOD-046")


def assert_waits(plan: PlanGraph, later: str, *earlier: str) -> None:
    """`later` starts only after each of `earlier` is done (skipping modules the stack disables)."""
    if not plan.is_enabled(later):
        return
    for e in earlier:
        if plan.is_enabled(e):
            assert plan.waits_for(plan.module(later), plan.module(e)), f"{later} does not wait for {e}"


def assert_independent(plan: PlanGraph, a: str, b: str) -> None:
    """Neither waits for any part of the other: they can deploy in parallel."""
    if plan.is_enabled(a) and plan.is_enabled(b):
        assert not plan.touches(plan.module(a), plan.module(b)), f"{a} waits for {b}"
        assert not plan.touches(plan.module(b), plan.module(a)), f"{b} waits for {a}"


def assert_never_waits_for_phase(plan: PlanGraph, phase, other) -> None:
    """No module of `phase` waits for `other`'s gate or for any module of `other`."""
    gate = plan.gate(other)
    others = plan.modules(phase=other)
    for m in plan.modules(phase=phase):
        assert not plan.touches(m["urn"], gate), f"Phase {phase}: {m['slug']} waits for the Phase {other} gate"
        for o in others:
            assert not plan.touches(m["urn"], o["urn"]), f"Phase {phase}: {m['slug']} waits for {o['slug']}"


# --- the gate column (deployment sequence, "Phases overview") -----------------------------------

# Modules the document lets start before their phase's whole gate column.
EARLY_STARTERS = {"realtime-sanctions-screening": ("0",)}


def assert_gate_column(plan: PlanGraph) -> None:
    """Every module waits for the gates its phase's gate column names; every gate for its phase."""
    for phase in plan.bank["phases"]:
        for m in plan.modules(phase=phase["key"]):
            required = EARLY_STARTERS.get(m["slug"], phase["after"])
            for g in required:
                assert plan.waits_for(m["urn"], plan.gate(g)), (
                    f"{m['slug']} (Phase {phase['key']}) does not wait for gate {g}"
                )
            for g in phase["after"]:
                if g not in required:
                    assert not plan.touches(m["urn"], plan.gate(g)), (
                        f"{m['slug']} waits for gate {g}, which it must not"
                    )


def assert_gates_wait_for_their_phase(plan: PlanGraph) -> None:
    for phase in plan.bank["phases"]:
        for m in plan.modules(phase=phase["key"]):
            if m["id"] == "MOD-102":
                continue  # DESIGN G1
            assert plan.waits_for(phase["gate"], m["urn"]), f"gate {phase['key']} does not wait for {m['slug']}"


def assert_foundation_gate_excludes_snowflake(plan: PlanGraph) -> None:
    """DESIGN G1: the foundation gate waits for Phase 0 without MOD-102; pipelines wait for MOD-102."""
    for mid in FOUNDATION_GATE_MEMBERS:
        assert plan.waits_for(plan.gate(0), plan.module(mid)), f"the foundation gate does not wait for {mid}"
    if plan.is_enabled("snowflake-configuration"):
        assert not plan.touches(plan.gate(0), plan.module("MOD-102")), "the foundation gate waits for MOD-102"
        for m in plan.modules(phase="data-platform"):
            assert plan.waits_for(m["urn"], plan.module("MOD-102")), f"{m['slug']} does not wait for MOD-102"


def assert_no_application_module_waits_for_snowflake(plan: PlanGraph) -> None:
    if not plan.is_enabled("snowflake-configuration"):
        return
    snowflake = plan.module("MOD-102")
    for m in plan.bank["modules"]:
        if m["enabled"] and isinstance(m["phase"], int) and m["phase"] >= 1:
            assert not plan.touches(m["urn"], snowflake), f"{m['slug']} waits for MOD-102"


# --- Phase 0 internal order ----------------------------------------------------------------------


def assert_phase0_order(plan: PlanGraph) -> None:
    for mid in ("MOD-103", "MOD-102", "MOD-045", "MOD-076", "MOD-046"):
        if any(m["id"] == mid and m["enabled"] for m in plan.bank["modules"]):
            assert plan.waits_for(plan.module(mid), plan.module("MOD-104")), f"{mid} does not follow MOD-104"
    assert_waits(plan, "dba-access-control", "neon-database-bootstrap", "secrets-key-management")
    for a, b in (
        ("neon-database-bootstrap", "snowflake-configuration"),
        ("secrets-key-management", "observability-platform"),
        # Step 0.3: "MOD-103 does not need to be finished".
        ("secrets-key-management", "neon-database-bootstrap"),
        ("observability-platform", "neon-database-bootstrap"),
    ):
        assert_independent(plan, a, b)


# --- in-domain order ("Deploy order within SDxx") ------------------------------------------------

IN_DOMAIN_ORDER: dict[str, list[tuple[str, tuple[str, ...]]]] = {
    "SD01": [
        ("balance-service", ("account-creation",)),
        ("general-ledger", ("account-creation",)),
        ("interest-engine", ("balance-service",)),
        ("fee-engine", ("balance-service",)),
        ("statement-generation", ("balance-service", "transaction-history")),
        ("overdraft-management", ("account-creation", "balance-service")),
        ("limit-management", ("account-creation", "balance-service")),
        ("direct-debit-setup", ("account-creation",)),
        ("recurring-payment-setup", ("account-creation",)),
    ],
    "SD02": [
        ("eidv-document-verification", ("customer-identity-core",)),
        ("kyc-risk-scoring", ("eidv-document-verification",)),
        ("sanctions-pep-screening", ("kyc-risk-scoring",)),
        ("kyc-lifecycle-management", ("sanctions-pep-screening",)),
    ],
    "SD03": [
        ("suspicious-activity-detection", ("transaction-monitoring-rules",)),
        ("str-generation", ("suspicious-activity-detection",)),
        ("aml-case-management", ("str-generation",)),
        *[
            (
                report,
                (
                    "transaction-monitoring-rules",
                    "suspicious-activity-detection",
                    "str-generation",
                    "realtime-sanctions-screening",
                    "aml-case-management",
                ),
            )
            for report in ("austrac-reporting", "fma-reporting")
        ],
    ],
    "SD04": [
        *[
            (rail, ("payment-instruction-core",))
            for rail in (
                "bpay-rail",
                "nz-faster-payments-rail",
                "npp-realtime-payments",
                "swift-correspondent-banking",
                "payment-scheduling",
                "scam-detection-friction",
            )
        ],
        ("confirmation-of-payee", ("npp-realtime-payments",)),
    ],
    "SD05": [
        # Intake needs the KYC-passed token that SD02 issues.
        ("credit-application-intake", ("kyc-token-issuance",)),
        ("credit-bureau-gateway", ("credit-application-intake",)),
        ("credit-decision-engine", ("credit-bureau-gateway",)),
        ("credit-decision-engine", ("credit-application-intake", "internal-credit-risk-scoring")),
        ("credit-decision-engine", ("credit-bureau-equifax", "credit-bureau-centrix")),
        ("loan-origination", ("credit-decision-engine",)),
        ("loan-servicing", ("loan-origination", "general-ledger")),
        ("collections-arrears", ("loan-servicing",)),
    ],
    "SD06": [
        ("related-party-exposure", ("risk-data-ingestion",)),
        ("concentration-risk", ("risk-data-ingestion",)),
        ("capital-ratio-monitoring", ("risk-data-ingestion",)),
        ("nz-obr-monitoring", ("risk-data-ingestion",)),
        ("nz-dcs-monitoring", ("risk-data-ingestion",)),
        (
            "risk-reporting",
            (
                "related-party-exposure",
                "concentration-risk",
                "capital-ratio-monitoring",
                "nz-obr-monitoring",
                "nz-dcs-monitoring",
            ),
        ),
    ],
    "SD08": [
        ("onboarding-flows", ("session-authentication", "eidv-document-verification", "account-creation")),
        ("account-dashboard", ("balance-service", "statement-generation")),
        ("payment-initiation-flows", ("payment-instruction-core",)),
        ("card-management", ("card-scheme-integration",)),
        ("loan-application-flows", ("credit-application-intake", "responsible-lending-disclosure")),
    ],
}


def assert_in_domain_order(plan: PlanGraph, domain: str) -> None:
    for later, earlier in IN_DOMAIN_ORDER[domain]:
        assert_waits(plan, later, *earlier)


def assert_sd01_account_lifecycle_first(plan: PlanGraph) -> None:
    """Account lifecycle modules have no SD01 cross-dependencies."""
    lifecycle = ("account-creation", "account-status-management", "account-closure")
    for slug in lifecycle:
        for other in plan.modules(domain="SD01"):
            if other["slug"] != slug:
                assert not plan.touches(plan.module(slug), other["urn"]), f"{slug} waits for {other['slug']}"


def assert_sd03_sanctions_screening_needs_only_phase0(plan: PlanGraph) -> None:
    s = plan.module("realtime-sanctions-screening")
    assert plan.waits_for(s, plan.gate(0))
    for phase in (1, 2):
        assert not plan.touches(s, plan.gate(phase)), f"real-time sanctions screening waits for gate {phase}"
    for other in plan.modules(domain="SD03"):
        if other["slug"] != "realtime-sanctions-screening":
            assert not plan.touches(s, other["urn"]), f"real-time sanctions screening waits for {other['slug']}"


def assert_sd04_scam_detection_beside_rails(plan: PlanGraph) -> None:
    for rail in (
        "bpay-rail",
        "nz-faster-payments-rail",
        "npp-realtime-payments",
        "swift-correspondent-banking",
        "confirmation-of-payee",
    ):
        assert_independent(plan, "scam-detection-friction", rail)


def assert_sd05_responsible_lending_has_no_runtime_dependency(plan: PlanGraph) -> None:
    disclosure = plan.module("responsible-lending-disclosure")
    for other in plan.modules(domain="SD05"):
        if other["slug"] != "responsible-lending-disclosure":
            assert not plan.touches(disclosure, other["urn"]), f"responsible lending waits for {other['slug']}"


def assert_sd08_authentication_first_and_open_banking_last(plan: PlanGraph) -> None:
    auth = plan.module("session-authentication")
    open_banking = {"open-banking-cdr-au", "open-banking-nz"}
    for m in plan.modules(domain="SD08"):
        if m["slug"] == "session-authentication":
            continue
        assert plan.waits_for(m["urn"], auth), f"{m['slug']} does not wait for authentication"
        for ob in open_banking:
            if m["slug"] not in open_banking and plan.is_enabled(ob):
                assert plan.waits_for(plan.module(ob), m["urn"]), f"{ob} does not wait for {m['slug']}"
