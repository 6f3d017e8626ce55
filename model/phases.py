"""The eight system domains and the deployment phases, as data.

Source: deployment sequence, "Phases overview" (gate column) and each phase's
"Phase completion signal"; DESIGN G1 (MOD-102 is outside the foundation gate),
G2 (the data-platform track), G3 (the gate column wins over the loose
"can run concurrently" sentence) and G4 (the eight databases).
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict

DomainId = Literal["SD01", "SD02", "SD03", "SD04", "SD05", "SD06", "SD07", "SD08"]
DatabaseName = Literal[
    "bank_core",
    "bank_kyc",
    "bank_aml",
    "bank_payments",
    "bank_credit",
    "bank_risk_platform",
    "bank_reporting",
    "bank_app",
]

# The key of the track that DESIGN G2 adds for the SD07 data-platform pipelines.
DATA_PLATFORM_TRACK = "data-platform"


class Domain(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    id: DomainId
    name: str
    repo: str
    # The domain's own database (DESIGN G4); SD07 owns the reporting one.
    database: DatabaseName


class Phase(BaseModel):
    """One row of the phases table; `after` is the gate column."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    number: int | None
    name: str
    domains: tuple[DomainId, ...]
    after: tuple[str, ...]
    gate_rule: str
    completion_signal: str

    @property
    def gate_name(self) -> str:
        """The PhaseGate component's name, e.g. `phase-3-gate`."""
        return f"phase-{self.key}-gate" if self.number is not None else f"{self.key}-gate"

    @property
    def title(self) -> str:
        return f"Phase {self.number} — {self.name}" if self.number is not None else f"Track — {self.name}"


DOMAINS: dict[str, Domain] = {
    d.id: d
    for d in (
        Domain(id="SD01", name="Core Banking", repo="bank-core", database="bank_core"),
        Domain(id="SD02", name="KYC Platform", repo="bank-kyc", database="bank_kyc"),
        Domain(id="SD03", name="AML Monitoring", repo="bank-aml", database="bank_aml"),
        Domain(id="SD04", name="Payments", repo="bank-payments", database="bank_payments"),
        Domain(id="SD05", name="Credit", repo="bank-credit", database="bank_credit"),
        Domain(id="SD06", name="Risk Platform", repo="bank-risk-platform", database="bank_risk_platform"),
        Domain(id="SD07", name="Data Platform", repo="bank-platform", database="bank_reporting"),
        Domain(id="SD08", name="App", repo="bank-app", database="bank_app"),
    )
}

PHASES: tuple[Phase, ...] = (
    Phase(
        key="0",
        number=0,
        name="Foundation",
        domains=("SD07",),
        after=(),
        gate_rule="Must complete before any other phase (MOD-102 excepted, DESIGN G1)",
        completion_signal="MOD-104, MOD-103, MOD-045, MOD-076 and MOD-046 are deployed; "
        "secrets populated and baseline migrations run",
    ),
    Phase(
        key="1",
        number=1,
        name="Core banking",
        domains=("SD01",),
        after=("0",),
        gate_rule="Phase 0 complete; all secrets populated; schema migrations run on bank_core",
        completion_signal="The bank_core health endpoint returns 200 and the account.created "
        "EventBridge event fires on a smoke-test account creation",
    ),
    Phase(
        key="2",
        number=2,
        name="Identity & KYC",
        domains=("SD02",),
        after=("0",),
        gate_rule="Phase 0 complete; bank_kyc migrations run",
        completion_signal="A test customer can be created, verified via eIDV, and a KYC-passed token is issued",
    ),
    Phase(
        key="3",
        number=3,
        name="AML monitoring",
        domains=("SD03",),
        after=("1", "2"),
        gate_rule="Phase 1 AND Phase 2 complete; EventBridge subscriptions from SD01 and SD02 are active",
        completion_signal="A synthetic high-value transaction fires the expected AML alert",
    ),
    Phase(
        key="4",
        number=4,
        name="Payments",
        domains=("SD04",),
        after=("1",),
        gate_rule="Phase 1 complete (needs account ledger); payment rail credentials in Secrets Manager",
        completion_signal="A test payment completes the full rail round-trip in the dev environment (sandbox mode)",
    ),
    Phase(
        key="5",
        number=5,
        name="Credit",
        domains=("SD05",),
        after=("1", "2"),
        gate_rule="Phase 1 (account ledger) AND Phase 2 (KYC) complete",
        completion_signal="A test credit application reaches a decision state and the disclosure documents are generated",
    ),
    Phase(
        key="6",
        number=6,
        name="Risk platform",
        domains=("SD06",),
        after=("1",),
        gate_rule="Phase 1 complete; bank_risk_platform migrations run",
        completion_signal="The related party exposure dashboard shows correct values for a test account set",
    ),
    Phase(
        key="7",
        number=7,
        name="App layer",
        domains=("SD08",),
        after=("0", "1", "2", "3", "4", "5", "6"),
        gate_rule="All phases 0–6 complete",
        completion_signal="End-to-end smoke test passes: a test customer can log in, view a balance, "
        "and initiate a payment",
    ),
    Phase(
        key=DATA_PLATFORM_TRACK,
        number=None,
        name="Data platform pipelines",
        domains=("SD07",),
        after=("0",),
        gate_rule="Foundation gate passed and MOD-102 (Snowflake) deployed (DESIGN G1, G2)",
        completion_signal="Every data-platform pipeline module has its module record with the expected release",
    ),
)

PHASE_KEYS: tuple[str, ...] = tuple(p.key for p in PHASES)


def phases_by_key(phases: tuple[Phase, ...] = PHASES) -> dict[str, Phase]:
    return {p.key: p for p in phases}


def prerequisite_closure(phase_key: str, phases: tuple[Phase, ...] = PHASES) -> frozenset[str]:
    """Every phase that `phase_key` waits for, directly or through another gate."""
    by_key = phases_by_key(phases)
    seen: set[str] = set()
    stack = list(by_key[phase_key].after)
    while stack:
        key = stack.pop()
        if key in seen or key not in by_key:
            continue
        seen.add(key)
        stack.extend(by_key[key].after)
    return frozenset(seen)
