"""In-domain order: each domain's "Deploy order within SDxx" list, as numbered steps (data).

Source: deployment sequence, Phases 1–7, "Deploy order within SDxx". The document
orders *steps* (capabilities), and "within each tier, modules with no dependency
on each other can deploy in parallel". So every module of SD01–SD06 and SD08
names its step in the catalogue, and a module waits for every module of the steps
its step depends on — and for no other module of its own domain. Where the
document states no dependency for a step, it has none: an ordering the document
does not state lengthens every deployment.

SD07 has no such list: Phase 0's order is the document's steps 0.1–0.4, kept as
`needs` between the six foundation modules (MOD-046 needs two of the four
modules of steps 0.2–0.3, not the steps), and the data-platform track (DESIGN
G2) keeps the short chains its pipelines need.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field


class Step(BaseModel):
    """One numbered entry of a domain's deploy-order list."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    number: int = Field(ge=1)
    name: str
    after: tuple[int, ...] = Field((), description="the steps it depends on, as the document states them")


def _steps(*rows: tuple[int, str, tuple[int, ...]]) -> tuple[Step, ...]:
    return tuple(Step(number=n, name=name, after=after) for n, name, after in rows)


DOMAIN_STEPS: dict[str, tuple[Step, ...]] = {
    # Phase 1: "Deploy SD01 modules in internal dependency order".
    "SD01": _steps(
        (1, "Account lifecycle", ()),
        (2, "Balance and ledger", (1,)),
        (3, "Interest and fee engine", (2,)),
        (4, "Statement generation", (2,)),  # "balance and transaction history": both are step 2
        (5, "Overdraft and limit management", (1, 2)),
        (6, "Direct debit and recurring payment setup", (1,)),
    ),
    "SD02": _steps(
        (1, "Customer identity core", ()),
        (2, "eIDV and document verification", (1,)),
        (3, "KYC risk scoring", (2,)),
        (4, "Sanctions and PEP screening", (3,)),
        (5, "KYC lifecycle management and token issuance", (4,)),
    ),
    "SD03": _steps(
        (1, "Transaction monitoring rules engine", ()),
        (2, "Suspicious activity detection", (1,)),
        (3, "STR generation", (2,)),
        # "can deploy in parallel with the above once Phase 0 is done": its modules narrow their gates to 0.
        (4, "Real-time sanctions screening", ()),
        (5, "AML case management", (3,)),
        (6, "Regulatory reporting pipelines", (1, 2, 3, 4, 5)),
    ),
    "SD04": _steps(
        (1, "Payment instruction core", ()),
        (2, "Domestic payment rails", (1,)),
        (3, "NPP / real-time payments", (1,)),
        (4, "SWIFT / correspondent banking", (1,)),
        (5, "Payment scheduling and recurring payments", (1,)),
        (6, "Scam detection and friction layer", (1,)),
        (7, "Confirmation of payee", (3,)),
    ),
    "SD05": _steps(
        (1, "Credit application intake", ()),  # its KYC-token need is cross-domain (the Phase 5 gate)
        (2, "Credit bureau integration", ()),
        (3, "Credit decision engine", (2,)),
        (4, "Responsible lending disclosure", ()),  # "no runtime dependency"
        (5, "Loan origination and drawdown", (3, 4)),
        (6, "Loan servicing and repayment", (5,)),
        (7, "Collections and arrears management", (6,)),
    ),
    "SD06": _steps(
        (1, "Risk data ingestion", ()),
        (2, "Related party exposure monitoring", (1,)),
        (3, "Concentration risk", (1,)),
        (4, "Prudential threshold monitoring", (1,)),
        (5, "Risk reporting", (2, 3, 4)),
    ),
    # Steps 3–7 depend on other domains (covered by the Phase 7 gate), not on step 1:
    # the document says only "authentication must come before onboarding", and open banking last.
    "SD08": _steps(
        (1, "Session management and authentication", ()),
        (2, "Onboarding flows", (1,)),
        (3, "Account dashboard", ()),
        (4, "Payment initiation flows", ()),
        (5, "Card management", ()),
        (6, "Loan application flows", ()),
        (7, "Notifications and alerts", ()),
        (8, "Open banking APIs", (1, 2, 3, 4, 5, 6, 7)),
    ),
}


def steps_by_number(domain: str, table: dict[str, tuple[Step, ...]] = DOMAIN_STEPS) -> dict[int, Step]:
    return {s.number: s for s in table.get(domain, ())}


def step_table_problems(table: dict[str, tuple[Step, ...]] = DOMAIN_STEPS) -> list[str]:
    """A step table that cannot be right: duplicate numbers, unknown or cyclic prerequisites."""
    problems = []
    for domain, steps in sorted(table.items()):
        numbers = [s.number for s in steps]
        if len(set(numbers)) != len(numbers):
            problems.append(f"{domain}: a step number is used twice")
        known = set(numbers)
        for step in steps:
            for before in step.after:
                if before not in known:
                    problems.append(f"{domain} step {step.number}: depends on unknown step {before}")
                elif before >= step.number:
                    # The document numbers its lists in deploy order: a step can only follow earlier ones.
                    problems.append(f"{domain} step {step.number}: depends on step {before}, which is not earlier")
    return problems
