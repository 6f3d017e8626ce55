"""The policy model of the per-service roles (model/service_policies.py): pure data, checked against the raw catalogue
and secrets manifest files, not against the code that reads them."""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from model.catalogue import load_catalogue
from model.service_policies import (
    ACTIONS_BY_KIND,
    PolicyStatement,
    ResourceRef,
    appconfig_environment_name,
    callees,
    function_name,
    model_problems,
    role_name,
    service_statements,
    subscription_rule_name,
)
from tests.conftest import DATABASE_DOMAINS, PROJECT_DIR

RAW_MODULES = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
RAW_BY_ID = {m["id"]: m for m in RAW_MODULES}
RAW_SERVICES = [m for m in RAW_MODULES if m.get("kind", "service") == "service"]
# What each kind of resource may be asked for (the boundary allows exactly these).
EXPECTED_ACTIONS = {
    "log-group": {"logs:CreateLogStream", "logs:PutLogEvents"},
    "kms-key": {"kms:Decrypt", "kms:GenerateDataKey"},
    "secret": {"secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"},
    "event-bus": {"events:PutEvents"},
    "ssm-path": {"ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"},
    "sqs-queue": {
        "sqs:SendMessage",
        "sqs:ReceiveMessage",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ChangeMessageVisibility",
    },
    "xray": {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"},
    "appconfig-profile": {"appconfig:StartConfigurationSession", "appconfig:GetLatestConfiguration"},
    "execute-api": {"execute-api:Invoke"},
}


@pytest.fixture(scope="module")
def catalogue():
    return load_catalogue()


def statements_of(catalogue, slug: str, env: str = "dev") -> dict[str, PolicyStatement]:
    return {s.sid: s for s in service_statements(catalogue.by_slug()[slug], env, catalogue.by_id())}


def expected_secrets(raw: dict, env: str) -> set[str]:
    """Catalogue `secrets` (in the module's own domain) plus its database's service credentials (MOD-103)."""
    names = {f"/bank/{env}/{raw['domain'].lower()}/{s}" for s in raw.get("secrets", [])}
    if raw.get("database"):
        names.add(f"/bank/{env}/{DATABASE_DOMAINS[raw['database']]}/db-service")
    return names


def test_the_action_table_is_the_expected_one():
    assert {k: set(v) for k, v in ACTIONS_BY_KIND.items()} == EXPECTED_ACTIONS


@pytest.mark.parametrize("env", ["dev", "prod"])
def test_every_module_reads_exactly_its_secrets(catalogue, env):
    for raw in RAW_SERVICES:
        statements = statements_of(catalogue, raw["slug"], env)
        read = {r.name for r in statements["ReadOwnSecrets"].resources} if "ReadOwnSecrets" in statements else set()
        assert read == expected_secrets(raw, env), raw["slug"]


def test_the_secrets_a_module_reads_are_the_ones_the_manifest_says_it_consumes(catalogue):
    """MOD-045's resource policies admit a secret's consumers (catalogue/secrets.yaml); the role must ask for the
    same secrets, or one side refuses the other."""
    manifest = yaml.safe_load((PROJECT_DIR / "catalogue" / "secrets.yaml").read_text())["secrets"]
    for raw in RAW_SERVICES:
        consumed = {
            f"/bank/dev/{entry['domain'].lower()}/{entry['name']}"
            for entry in manifest
            if raw["slug"] in entry["consumers"].get("modules", [])
            or (raw.get("database") and entry["consumers"].get("database") == raw["database"])
        }
        statements = statements_of(catalogue, raw["slug"])
        read = {r.name for r in statements["ReadOwnSecrets"].resources} if "ReadOwnSecrets" in statements else set()
        assert read == consumed, raw["slug"]


def test_a_module_with_two_vendor_secrets_names_both_and_its_database_credentials(catalogue):
    statements = statements_of(catalogue, "eidv-document-verification")
    assert [r.name for r in statements["ReadOwnSecrets"].resources] == [
        "/bank/dev/sd02/db-service",
        "/bank/dev/sd02/frankieone-api-credentials",
        "/bank/dev/sd02/greenid-api-credentials",
    ]


def test_names_follow_the_operations_index_conventions(catalogue):
    statements = statements_of(catalogue, "account-creation", "uat")
    assert role_name("uat", "account-creation") == "bank-uat-account-creation"
    assert statements["WriteOwnLogs"].resources == (ResourceRef("log-group", "/bank/uat/account-creation"),)
    assert statements["ReadOwnParameters"].resources == (ResourceRef("ssm-path", "/bank/uat/account-creation/"),)
    assert statements["SendToDeadLetterQueue"].resources == (ResourceRef("sqs-queue", "bank-uat-account-creation-dlq"),)
    assert statements["SendToDeadLetterQueue"].actions == ("sqs:SendMessage",)
    assert statements["UseDomainKeys"].resources == (ResourceRef("kms-key", "SD01"),)
    assert statements["PublishOnOwnDomainBus"].resources == (ResourceRef("event-bus", "SD01"),)
    assert statements["ReadTenantActivation"].resources == (ResourceRef("appconfig-profile", "SD07/tenant-activation"),)


def test_every_role_name_fits_iam():
    # IAM role names are at most 64 characters; the longest environment is `local`.
    longest = max(RAW_SERVICES, key=lambda m: len(m["slug"]))
    assert len(role_name("local", longest["slug"])) <= 64
    assert len(role_name("local", "x" * 48)) <= 64  # the catalogue allows slugs of 48 characters


def test_only_publishers_may_put_events_and_only_subscribers_consume_a_queue(catalogue):
    for raw in RAW_SERVICES:
        statements = statements_of(catalogue, raw["slug"])
        assert ("PublishOnOwnDomainBus" in statements) == bool(raw.get("publishes")), raw["slug"]
        assert ("ConsumeSubscriptionQueue" in statements) == bool(raw.get("subscribes")), raw["slug"]
        if raw.get("subscribes"):
            assert statements["ConsumeSubscriptionQueue"].resources == (
                ResourceRef("sqs-queue", f"bank-dev-{raw['slug']}-events"),
            )


def test_callees_are_the_cross_domain_service_needs_and_are_granted_by_the_service_module(catalogue):
    for raw in RAW_SERVICES:
        expected = sorted(
            {
                RAW_BY_ID[n]["slug"]
                for n in raw.get("needs", [])
                if RAW_BY_ID[n].get("kind", "service") == "service" and RAW_BY_ID[n]["domain"] != raw["domain"]
            }
        )
        spec = catalogue.by_slug()[raw["slug"]]
        assert list(callees(spec, catalogue.by_id())) == expected, raw["slug"]
        statements = statements_of(catalogue, raw["slug"])
        if expected:
            invoke = statements["InvokeCalleeApis"]
            assert [r.name for r in invoke.resources] == expected and invoke.granted_by == "service-module"
        else:
            assert "InvokeCalleeApis" not in statements
    # The model lists callees today: some module calls another domain's service.
    assert any(callees(s, catalogue.by_id()) for s in catalogue.modules if s.kind == "service")


def test_a_modules_own_profile_is_granted_once_it_exists(catalogue):
    own = statements_of(catalogue, "account-creation")["ReadOwnProfile"]
    assert own.granted_by == "service-module"
    assert own.resources == (ResourceRef("appconfig-profile", "SD01/account-creation"),)


def test_only_xray_is_unscoped_and_every_statement_stays_inside_its_kind(catalogue):
    for raw in RAW_SERVICES:
        statements = service_statements(catalogue.by_slug()[raw["slug"]], "dev", catalogue.by_id())
        assert model_problems(statements) == [], raw["slug"]
        for s in statements:
            assert set(s.actions) <= EXPECTED_ACTIONS[s.kind], (raw["slug"], s.sid)
            assert not any(a.endswith("*") for a in s.actions), (raw["slug"], s.sid)
            assert all(r.name != "*" for r in s.resources) or s.kind == "xray", (raw["slug"], s.sid)


def test_model_problems_name_an_action_the_boundary_would_cap():
    bad = PolicyStatement("Sneaky", ("kms:Decrypt", "kms:ScheduleKeyDeletion"), (ResourceRef("kms-key", "SD01"),))
    mixed = PolicyStatement("Mixed", ("kms:Decrypt",), (ResourceRef("kms-key", "SD01"), ResourceRef("xray", "*")))
    assert model_problems((bad, mixed)) == [
        "Sneaky: kms:ScheduleKeyDeletion not allowed on kms-key by the permissions boundary",
        "Mixed: one statement acts on one kind of resource, not ['kms-key', 'xray']",
    ]


def test_foundation_modules_get_no_service_role(catalogue):
    with pytest.raises(ValueError, match="aws-bootstrap is a foundation module"):
        service_statements(catalogue.by_slug()["aws-bootstrap"], "dev", catalogue.by_id())


def test_the_model_imports_no_pulumi():
    code = "import sys, model.service_policies; print('pulumi' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], cwd=PROJECT_DIR, capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"


# --- names of what the service module's footprint creates (components/service_module.py) ----------------------------
def test_footprint_names_fit_what_aws_allows():
    longest = max(RAW_SERVICES, key=lambda m: len(m["slug"]))["slug"]
    for slug in (longest, "x" * 48):  # the catalogue allows slugs of 48 characters
        assert len(function_name("local", slug)) <= 64  # Lambda function names
        assert len(appconfig_environment_name("local", slug)) <= 64  # AppConfig environment names
    assert function_name("uat", "account-creation") == "bank-uat-account-creation"
    assert appconfig_environment_name("uat", "account-creation") == "uat-account-creation"


def test_a_subscription_rule_name_is_readable_where_it_fits_and_unique_where_it_is_cut():
    assert (
        subscription_rule_name("dev", "account-ledger", "SD01:transaction.posted")
        == "bank-dev-account-ledger-sd01-transaction-posted"
    )
    # Every real subscription of every stack fits EventBridge's 64 characters and names one rule.
    for env in ("local", "dev", "uat", "prod"):
        names = [subscription_rule_name(env, m["slug"], s) for m in RAW_SERVICES for s in m.get("subscribes", [])]
        assert all(len(n) <= 64 and re.fullmatch(r"[A-Za-z0-9._-]+", n) for n in names), env
        assert len(set(names)) == len(names), env
    # Two long subscriptions that share their first 55 characters still get different names.
    slug = "x" * 48
    first = subscription_rule_name("local", slug, "SD03:aml.suspicious-activity-detected")
    second = subscription_rule_name("local", slug, "SD03:aml.suspicious-activity-escalated")
    assert len(first) == len(second) == 64 and first != second and first[:55] == second[:55]
