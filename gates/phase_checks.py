"""What each phase gate checks, phase by phase (DESIGN §3: the completion signal and the preconditions).

A check is a plain function of a GateContext that returns findings: an empty list means it passed. Each
finding names its subject and what is wrong, and says how to fix it; a finding never holds a secret value.
`bankctl gate run PHASE` runs every check of the phase and fails if any finds anything. Add a check by
writing it in its own module under gates/ and listing it here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from gates.database_checks import migrations_gate_check, privileges_gate_check
from gates.foundation_infrastructure import FOUNDATION_INFRASTRUCTURE_CHECKS
from gates.module_records import check_module_records
from gates.secrets_populated import secrets_populated
from model.phases import PHASE_KEYS
from model.platform import PlatformSpec


@dataclass(frozen=True)
class GateContext:
    platform: PlatformSpec
    phase: str
    session: Any  # a boto3.Session for the stack's account and region

    def client(self, service: str):
        return self.session.client(service)


@dataclass(frozen=True)
class Finding:
    subject: str  # what is wrong: a module slug, a secret name, a bus, …
    problem: str  # what is wrong with it, and the fix


Check = Callable[[GateContext], list[Finding]]


def module_records(context: GateContext) -> list[Finding]:
    """Every module of the phase has its record with the release this stack pins."""
    return [
        Finding(f.slug, f.problem) for f in check_module_records(context.platform, context.phase, context.client("ssm"))
    ]


# Phase key → (name, check), run in this order.
CHECKS: dict[str, list[tuple[str, Check]]] = {key: [("module records", module_records)] for key in PHASE_KEYS}
CHECKS["0"].append(("secrets populated", secrets_populated))  # step 0.3: populate all required secrets
CHECKS["0"] += FOUNDATION_INFRASTRUCTURE_CHECKS  # buses and archives, the trail, the alert topics
CHECKS["0"].append(("database privileges", privileges_gate_check))  # DESIGN G14: `bankctl db verify`, every database
CHECKS["0"].append(("migrations applied", migrations_gate_check))  # step 0.2: each database's baseline migrations ran
