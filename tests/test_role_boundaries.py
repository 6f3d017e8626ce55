"""Every IAM role of the platform carries a permissions boundary (the issue: the platform's own helper roles did not),
and the boundary of the helper roles allows everything their policies grant — else the role breaks on the first
delivery — and nothing they do not use. Read from the offline plans (Pulumi's mock runtime, the real __main__.py).

The helper roles and their trust are written out here from what each does (the brief and the source modules'
docstrings), not read back from the code: EventBridge → Kinesis and CloudTrail → CloudWatch Logs (MOD-104), the secret
rotation functions (MOD-045), CloudWatch Logs → Kinesis and Firehose → the archive and Datadog (MOD-076), Firehose →
Snowflake (MOD-102)."""

from __future__ import annotations

import json
import re
from fnmatch import fnmatchcase
from functools import cache
from typing import Any

import pytest

from foundation.iam_documents import service_trust
from tests.conftest import offline_plan

ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
ACCOUNTS = {"dev": "381492650173", "uat": "529406318847", "prod": "647215093382"}  # Pulumi.<stack>.yaml
REGION = "ap-southeast-2"
READ_ONLY_ACCESS = "arn:aws:iam::aws:policy/ReadOnlyAccess"
HELPER_MODULES = (
    "aws-bootstrap",
    "secrets-key-management",
    "observability-platform",
    "snowflake-configuration",
    "dba-access-control",
)
DOMAINS = [f"sd0{n}" for n in range(1, 9)]


def boundary_arn(stack: str, name: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[stack]}:policy/bank/{stack}/boundary/bank-{stack}-{name}"


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


@cache
def roles(stack: str) -> dict[str, dict[str, Any]]:
    """Every role of the stack's plan, by its IAM name, with the module (component) it belongs to."""
    found = {}
    for r in offline_plan(stack).document["deployment"]["resources"]:
        if r["type"] == ROLE:
            found[r["inputs"]["name"]] = {**r, "module": r["parent"].split("::")[-1]}
    return found


@cache
def inline_policies(stack: str) -> dict[str, list[dict[str, Any]]]:
    """Each role's inline policy documents, by role name (RolePolicy.role is the role's name or id: the same)."""
    found: dict[str, list[dict[str, Any]]] = {}
    for r in offline_plan(stack).document["deployment"]["resources"]:
        if r["type"] == ROLE_POLICY:
            found.setdefault(r["inputs"]["role"], []).append(json.loads(r["inputs"]["policy"]))
    return found


def resource(stack: str, urn_name: str) -> dict[str, Any]:
    (found,) = [
        r for r in offline_plan(stack).document["deployment"]["resources"] if r["urn"].endswith("::" + urn_name)
    ]
    return found


def policy_of(stack: str, urn_name: str) -> dict[str, Any]:
    return json.loads(resource(stack, urn_name)["inputs"]["policy"])


def helper_roles(stack: str) -> dict[str, dict[str, Any]]:
    """The platform's own helper roles: every role of those modules but the per-service and CI/CD roles."""
    return {
        name: role
        for name, role in roles(stack).items()
        # The platform's shared roles (the prod canary's CodeDeploy role) sit at the top of the stack.
        if (role["module"] in HELPER_MODULES or "::pulumi:pulumi:Stack::" in role["parent"])
        and role["inputs"].get("path") not in (f"/bank/{stack}/service/", f"/bank/{stack}/ci/")
    }


def expected_helper_roles(stack: str) -> set[str]:
    names = {f"bank-{stack}-{d}-events-to-stream" for d in DOMAINS}
    names |= {f"bank-{stack}-{d}-snowflake-firehose" for d in DOMAINS}
    names |= {
        f"bank-{stack}-cloudtrail-to-logs",
        f"bank-{stack}-logs-to-log-router",
        f"bank-{stack}-log-archive-delivery",
    }
    names |= {f"bank-{stack}-secret-rotation-cognito-user-password"}
    # MOD-046: the two DBA roles a person assumes, and the just-in-time access functions' own roles.
    names |= {f"bank-{stack}-dba-jit", f"bank-{stack}-dba-break-glass"}
    names |= {f"bank-{stack}-{f}" for f in ("jit-db-access", "break-glass-db-access", "jit-db-access-expiry")}
    if stack == "prod":  # the canary's CodeDeploy role (bank:release, prod only; components/blue_green.py)
        names |= {f"bank-{stack}-codedeploy"}
    if stack != "dev":  # Datadog is on in uat and prod (bank:observability.datadog.enabled)
        names |= {f"bank-{stack}-datadog-delivery", f"bank-{stack}-secret-rotation-datadog-api-key"}
    return names


# --- every role carries a boundary --------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_role_in_the_plan_carries_a_permissions_boundary(stack):
    unbounded = sorted(name for name, role in roles(stack).items() if not role["inputs"].get("permissionsBoundary"))
    assert unbounded == []


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_kind_of_role_carries_its_own_boundary(stack):
    by_name = roles(stack)
    # The CI/CD roles keep theirs: the preview role is capped at read-only, the deploy role at its own boundary.
    assert by_name[f"bank-{stack}-ci-preview"]["inputs"]["permissionsBoundary"] == READ_ONLY_ACCESS
    assert by_name[f"bank-{stack}-ci-deploy"]["inputs"]["permissionsBoundary"] == boundary_arn(
        stack, "ci-deploy-boundary"
    )
    service = [r for r in by_name.values() if r["inputs"].get("path") == f"/bank/{stack}/service/"]
    assert service and all(
        r["inputs"]["permissionsBoundary"] == boundary_arn(stack, "service-boundary") for r in service
    )
    # The helper roles: all of them, each with the platform boundary.
    helpers = helper_roles(stack)
    assert set(helpers) == expected_helper_roles(stack)
    wrong = {n: r["inputs"].get("permissionsBoundary") for n, r in helpers.items()}
    assert {n: b for n, b in wrong.items() if b != boundary_arn(stack, "platform-boundary")} == {}


# --- the platform boundary allows what the helpers do, and only that ---------------------------------------------
def allowed_by(statement: dict[str, Any], action: str, resource: str) -> bool:
    """Does this statement's Action and Resource cover (action, resource)? IAM matches actions case-insensitively
    and resources case-sensitively; `*` and `?` are its only wildcards, as in fnmatch."""
    actions = as_list(statement["Action"]) if "Action" in statement else None
    if actions is not None and not any(fnmatchcase(action.lower(), a.lower()) for a in actions):
        return False
    if actions is None and any(fnmatchcase(action.lower(), a.lower()) for a in as_list(statement["NotAction"])):
        return False
    return any(fnmatchcase(resource, pattern) for pattern in as_list(statement["Resource"]))


def refusals(boundary: dict[str, Any], grants: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    """The grants the boundary would cut: not allowed by any Allow, or denied by an unconditional Deny."""
    allows = [s for s in boundary["Statement"] if s["Effect"] == "Allow"]
    denies = [s for s in boundary["Statement"] if s["Effect"] == "Deny" and "Condition" not in s]
    cut = []
    for action, resource in grants:
        if not any(allowed_by(s, action, resource) for s in allows):
            cut.append((action, resource, "no Allow"))
        elif any(allowed_by(s, action, resource) for s in denies):
            cut.append((action, resource, "denied"))
    return cut


def grants_of(stack: str, role_name: str) -> list[tuple[str, str]]:
    documents = inline_policies(stack).get(role_name)
    assert documents, f"{role_name} has no inline policy"
    return [
        (action, resource)
        for document in documents
        for s in document["Statement"]
        if s["Effect"] == "Allow"
        for action in as_list(s["Action"])
        for resource in as_list(s["Resource"])
    ]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_platform_boundary_allows_every_action_each_helper_role_is_granted(stack):
    boundary = policy_of(stack, "aws-bootstrap-platform-boundary")
    cut = {name: refusals(boundary, grants_of(stack, name)) for name in sorted(helper_roles(stack))}
    assert {name: c for name, c in cut.items() if c} == {}


def test_the_platform_boundary_allows_nothing_the_helpers_do_not_use():
    # uat and prod have every helper (Datadog too); dev has the rest: together, every action a helper is granted.
    used = {a.lower() for stack in ("dev", "prod") for n in helper_roles(stack) for a, _ in grants_of(stack, n)}
    boundary = policy_of("prod", "aws-bootstrap-platform-boundary")
    allowed = {a.lower() for s in boundary["Statement"] if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert allowed == used
    assert not any(a == "*" or a.endswith(":*") for a in allowed)


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_platform_boundary_is_scoped_to_the_stack_and_denies_what_the_service_boundary_denies(stack):
    platform = policy_of(stack, "aws-bootstrap-platform-boundary")
    service = policy_of(stack, "aws-bootstrap-service-boundary")
    account = ACCOUNTS[stack]
    this_stack = re.compile(rf"^arn:aws:([a-z-]+:{REGION}:{account}:|s3:::bank-{stack}-)\S+$")
    for s in platform["Statement"]:
        if s["Effect"] == "Allow" and s["Resource"] != "*":
            assert all(this_stack.match(r) for r in as_list(s["Resource"])), s["Sid"]
        elif s["Effect"] == "Allow":
            # GetRandomPassword acts on no resource, and X-Ray's writes support no resource-level permissions:
            # the only "*"s.
            assert as_list(s["Action"]) in (
                ["secretsmanager:GetRandomPassword"],
                ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            ), s["Sid"]
    assert [s for s in platform["Statement"] if s["Effect"] == "Deny"] == [
        s for s in service["Statement"] if s["Effect"] == "Deny"
    ]
    assert {"iam:*", "organizations:*", "account:*", "sts:AssumeRole"} <= {
        a for s in platform["Statement"] if s["Effect"] == "Deny" for a in as_list(s.get("Action", []))
    }


def test_the_platform_boundary_is_a_trust_anchor_the_deploy_role_cannot_change():
    # The deploy boundary refuses every IAM write on /bank/{env}/boundary/*: only the bootstrap role changes a cap.
    cap = {s["Sid"]: s for s in policy_of("dev", "aws-bootstrap-ci-deploy-boundary")["Statement"]}
    anchors = cap["DenyChangingTrustAnchors"]
    platform_boundary = resource("dev", "aws-bootstrap-platform-boundary")["outputs"]["arn"]
    assert any(fnmatchcase(platform_boundary, r) for r in as_list(anchors["Resource"]))
    assert not any(fnmatchcase(a, "iam:CreatePolicyVersion") for a in anchors["NotAction"])


def test_the_check_itself_sees_a_grant_the_boundary_would_cut():
    boundary = policy_of("dev", "aws-bootstrap-platform-boundary")
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNTS['dev']}:stream/bank-dev-sd01-events"
    assert refusals(boundary, [("kinesis:PutRecord", stream)]) == []
    assert refusals(boundary, [("kinesis:DeleteStream", stream)]) == [("kinesis:DeleteStream", stream, "no Allow")]
    elsewhere = stream.replace("bank-dev-", "bank-prod-")
    assert refusals(boundary, [("kinesis:PutRecord", elsewhere)]) == [("kinesis:PutRecord", elsewhere, "no Allow")]
    assert refusals(boundary, [("iam:PassRole", "*")]) == [("iam:PassRole", "*", "no Allow")]


# --- the trust of each helper role: as before, in one place (foundation/iam_documents.py) --------------------------
def trust_statement(role: dict[str, Any]) -> dict[str, Any]:
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    return statement


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_helper_role_keeps_its_confused_deputy_guard(stack):
    account = ACCOUNTS[stack]
    by_name = roles(stack)

    def trust(name: str) -> tuple[str, dict[str, Any] | None]:
        statement = trust_statement(by_name[name])
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRole", name
        return statement["Principal"]["Service"], statement.get("Condition")

    for d in DOMAINS:
        rule = f"arn:aws:events:{REGION}:{account}:rule/bank-{stack}-{d}/bank-{stack}-{d}-to-stream"
        assert trust(f"bank-{stack}-{d}-events-to-stream") == (
            "events.amazonaws.com",
            {"StringEquals": {"aws:SourceAccount": account, "aws:SourceArn": rule}},
        )
        # Firehose's documented guard: the account ID as external ID.
        assert trust(f"bank-{stack}-{d}-snowflake-firehose") == (
            "firehose.amazonaws.com",
            {"StringEquals": {"sts:ExternalId": account}},
        )
    this_account = {"StringEquals": {"aws:SourceAccount": account}}
    assert trust(f"bank-{stack}-cloudtrail-to-logs") == ("cloudtrail.amazonaws.com", this_account)
    assert trust(f"bank-{stack}-logs-to-log-router") == (
        "logs.amazonaws.com",
        {**this_account, "ArnLike": {"aws:SourceArn": f"arn:aws:logs:{REGION}:{account}:*"}},
    )
    assert trust(f"bank-{stack}-log-archive-delivery") == ("firehose.amazonaws.com", this_account)
    # A function's role: Lambda only; who gets it is iam:PassRole (the deploy role's alone).
    assert trust(f"bank-{stack}-secret-rotation-cognito-user-password") == ("lambda.amazonaws.com", None)


def test_service_trust_compares_an_exact_arn_exactly_and_a_pattern_with_arnlike():
    exact = service_trust("events.amazonaws.com", "111122223333", "arn:aws:events:r:111122223333:rule/b/x")
    assert exact["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333", "aws:SourceArn": "arn:aws:events:r:111122223333:rule/b/x"}
    }
    pattern = service_trust("logs.amazonaws.com", "111122223333", "arn:aws:logs:r:111122223333:*")
    assert pattern["Statement"][0]["Condition"] == {
        "StringEquals": {"aws:SourceAccount": "111122223333"},
        "ArnLike": {"aws:SourceArn": "arn:aws:logs:r:111122223333:*"},
    }
    external = service_trust("firehose.amazonaws.com", None, external_id="111122223333")
    assert external["Statement"][0]["Condition"] == {"StringEquals": {"sts:ExternalId": "111122223333"}}
    assert "Condition" not in service_trust("lambda.amazonaws.com", None)["Statement"][0]
