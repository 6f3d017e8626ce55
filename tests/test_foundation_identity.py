"""MOD-104 part B: Cognito, GitHub OIDC and the CI/CD roles, the permissions boundary, the per-service roles, the SSM
baseline and AppConfig tenant activation — on MOD-104 recorded alone for dev, uat and prod (fast), and on the whole
dev plan where the rest of the platform matters. Expectations are written out here, from the source documents and
the raw catalogue, not read back from the code under test."""

from __future__ import annotations

import hashlib
import inspect
import json
import re
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema
import pulumi_aws as aws
import pytest
import yaml
from google.protobuf import json_format
from parliament import analyze_policy_string

from bankctl.plan_export import deployment_section, tenant_entries
from bankctl.recording import (
    MOCKED_RESOURCES,
    OFFLINE_INVENTED,
    SECRET_SIG,
    SIG_KEY,
    MockContext,
    PlanMocks,
    RecordingMonitor,
    record_program,
)
from components.build_context import BuildContext
from components.stack_inputs import StackInputs
from foundation.aws_bootstrap import AwsBootstrap
from model.platform import PlatformSpec, load_stack_platform
from tests.conftest import PROJECT_DIR, offline_plan

STACKS = ("dev", "uat", "prod")
ACCOUNTS = {"dev": "381492650173", "uat": "529406318847", "prod": "647215093382"}  # Pulumi.<stack>.yaml
REGION = "ap-southeast-2"
REPOSITORY = "totara-bank/bank-platform"  # bank:github.repository's default; no stack file overrides it
GITHUB = "token.actions.githubusercontent.com"
SECRET = {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
HOSTED_VERSION = "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion"
RAW_MODULES = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
BOOTSTRAP_TAGS = {
    "bank:module": "aws-bootstrap",
    "bank:module-id": "MOD-104",
    "bank:domain": "SD07",
    "bank:phase": "0",
}
# The types this part registers (the events and storage parts have their own tests).
OUR_TYPES = {
    "aws:cognito/userPool:UserPool",
    "aws:cognito/userPoolClient:UserPoolClient",
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider",
    "aws:iam/policy:Policy",
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment",
    "aws:appconfig/application:Application",
    "aws:appconfig/environment:Environment",
    "aws:appconfig/configurationProfile:ConfigurationProfile",
    HOSTED_VERSION,
    "aws:appconfig/deploymentStrategy:DeploymentStrategy",
    "aws:appconfig/deployment:Deployment",
}


class ContentCapturingMonitor(RecordingMonitor):
    """Keeps the plaintext of hosted AppConfig content, which pulumi-aws always marks secret (so the plan shows only
    `[secret]`), to compare it with what the runtime must read. Test-only: the plan itself never holds it."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.hosted_content: dict[str, str] = {}

    def RegisterResource(self, request):
        if request.type == HOSTED_VERSION:
            content = json_format.MessageToDict(request.object)["content"]
            self.hosted_content[request.name] = content["value"] if isinstance(content, dict) else content
        return super().RegisterResource(request)


@dataclass
class Bootstrap:
    stack: str
    platform: PlatformSpec
    resources: dict[str, dict[str, Any]]  # by logical name
    hosted_content: dict[str, str]

    def __getitem__(self, name: str) -> dict[str, Any]:
        return self.resources[name]

    def of_type(self, type_: str) -> list[dict[str, Any]]:
        return [r for r in self.resources.values() if r["type"] == type_]

    def policy(self, name: str) -> dict[str, Any]:
        return json.loads(self[name]["inputs"]["policy"])


@cache
def bootstrap(stack: str) -> Bootstrap:
    """MOD-104 alone, as the stack's platform builds it, recorded as the plan records it."""
    platform = load_stack_platform(PROJECT_DIR, stack)
    deployment = next(m for m in platform.modules if m.spec.slug == "aws-bootstrap")
    monitor = ContentCapturingMonitor(PlanMocks(platform.config.aws_account_id, platform.config.region))

    def program():
        AwsBootstrap(deployment, BuildContext(platform, StackInputs(platform.config, platform.secret_keys)))

    recording = record_program(program, "bank", stack, {}, monitor=monitor)
    resources = {r["urn"].split("::")[-1]: r for r in deployment_section(recording)["resources"][1:]}
    return Bootstrap(stack, platform, resources, dict(monitor.hosted_content))


def statements(document: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["Sid"]: s for s in document["Statement"]}


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def enabled_services(stack: str) -> set[str]:
    """Enabled (the stack's platform decides) service modules (the raw catalogue says which are services)."""
    enabled = {m.spec.slug for m in bootstrap(stack).platform.enabled_modules()}
    return {m["slug"] for m in RAW_MODULES if m.get("kind", "service") == "service" and m["slug"] in enabled}


# --- Cognito -----------------------------------------------------------------------------------------------------------
def test_user_pools_enforce_threat_protection_mfa_and_strong_passwords():
    boot = bootstrap("dev")
    customer, internal = boot["aws-bootstrap-customer-pool"]["inputs"], boot["aws-bootstrap-internal-pool"]["inputs"]
    for pool, minimum in ((customer, 12), (internal, 14)):
        # Threat protection ENFORCED exists only on the Plus feature plan.
        assert pool["userPoolTier"] == "PLUS"
        assert pool["userPoolAddOns"] == {"advancedSecurityMode": "ENFORCED"}
        policy = pool["passwordPolicy"]
        assert policy["minimumLength"] >= minimum
        assert all(policy[k] for k in ("requireLowercase", "requireUppercase", "requireNumbers", "requireSymbols"))
        assert pool["softwareTokenMfaConfiguration"] == {"enabled": True}
        assert pool["adminCreateUserConfig"]["allowAdminCreateUserOnly"] is True  # no self sign-up
    assert internal["mfaConfiguration"] == "ON"  # staff: MFA required
    assert customer["mfaConfiguration"] == "OPTIONAL"
    assert internal["accountRecoverySetting"]["recoveryMechanisms"] == [{"name": "admin_only", "priority": 1}]
    assert (customer["name"], internal["name"]) == ("bank-dev-customers", "bank-dev-internal")


@pytest.mark.parametrize("stack, protected", [("dev", False), ("uat", True), ("prod", True)])
def test_user_pools_are_protected_in_uat_and_prod(stack, protected):
    for name in ("aws-bootstrap-customer-pool", "aws-bootstrap-internal-pool"):
        pool = bootstrap(stack)[name]
        assert pool["inputs"]["deletionProtection"] == ("ACTIVE" if protected else "INACTIVE")
        assert pool.get("protect", False) is protected and pool.get("retainOnDelete", False) is protected


def test_users_carry_tenant_and_jurisdiction_claims_no_app_can_rewrite():
    boot = bootstrap("dev")
    for which in ("customer", "internal"):
        schemas = {s["name"]: s for s in boot[f"aws-bootstrap-{which}-pool"]["inputs"]["schemas"]}
        assert schemas["tenant"]["attributeDataType"] == "String" and schemas["tenant"]["mutable"] is False
        assert schemas["jurisdiction"]["attributeDataType"] == "String" and schemas["jurisdiction"]["mutable"] is True
        assert schemas["tenant"]["stringAttributeConstraints"] == {"minLength": "1", "maxLength": "40"}
        client = boot[f"aws-bootstrap-{which}-client"]["inputs"]
        # The ID token carries what the client may read (DESIGN G7: Cognito JWT claims) ...
        assert {"custom:tenant", "custom:jurisdiction"} <= set(client["readAttributes"])
        # ... and an explicit, non-empty write list keeps both out of the user's reach (none = all writable).
        assert client["writeAttributes"] and not {a for a in client["writeAttributes"] if a.startswith("custom:")}
        assert client["preventUserExistenceErrors"] == "ENABLED" and client["enableTokenRevocation"] is True


def test_no_client_secret_reaches_the_plan():
    doc = offline_plan("dev").document
    text = json.dumps(doc)
    clients = {
        r["urn"].split("::")[-1]: r for r in doc["deployment"]["resources"] if r["type"].endswith("UserPoolClient")
    }
    internal, customer = clients["aws-bootstrap-internal-client"], clients["aws-bootstrap-customer-client"]
    assert internal["inputs"]["generateSecret"] is True and customer["inputs"]["generateSecret"] is False
    # The value the (mocked) provider returned is in no field of the plan; the plan holds the marker only.
    row = MOCKED_RESOURCES["aws:cognito/userPoolClient:UserPoolClient"]
    _, computed = row(MockContext(internal["urn"], internal["type"], "x", {"generateSecret": True}, REGION, "0"))
    leaked = computed["clientSecret"] in text  # (a bare `in` assertion would print the value when it fails)
    assert len(computed["clientSecret"]) == 51 and not leaked, "the staff tools' client secret is in the plan"
    assert internal["outputs"]["clientSecret"] == SECRET and "clientSecret" in internal["additionalSecretOutputs"]
    assert "clientSecret" not in customer["outputs"]


# --- GitHub OIDC and the CI/CD roles ---------------------------------------------------------------------------------
def test_github_oidc_provider_trusts_github_for_sts_only():
    provider = bootstrap("dev")["aws-bootstrap-github-oidc"]
    assert provider["inputs"]["url"] == f"https://{GITHUB}"
    assert provider["inputs"]["clientIdLists"] == ["sts.amazonaws.com"]
    assert "thumbprintLists" not in provider["inputs"]  # IAM validates GitHub against its own trusted CAs
    assert provider["id"] == f"arn:aws:iam::{ACCOUNTS['dev']}:oidc-provider/{GITHUB}"


@pytest.mark.parametrize("stack", STACKS)
def test_ci_roles_trust_exactly_this_repository_its_pull_requests_and_its_environment(stack):
    boot = bootstrap(stack)
    provider_arn = f"arn:aws:iam::{ACCOUNTS[stack]}:oidc-provider/{GITHUB}"
    subjects = {
        "aws-bootstrap-ci-preview": f"repo:{REPOSITORY}:pull_request",
        "aws-bootstrap-ci-deploy": f"repo:{REPOSITORY}:environment:{stack}",
    }
    for name, subject in subjects.items():
        role = boot[name]["inputs"]
        (statement,) = json.loads(role["assumeRolePolicy"])["Statement"]
        assert statement["Effect"] == "Allow" and statement["Action"] == "sts:AssumeRoleWithWebIdentity"
        assert statement["Principal"] == {"Federated": provider_arn}
        # Exact matches only: no StringLike, no wildcard, audience and subject both pinned.
        assert statement["Condition"] == {
            "StringEquals": {f"{GITHUB}:aud": "sts.amazonaws.com", f"{GITHUB}:sub": subject}
        }
        assert role["path"] == f"/bank/{stack}/ci/"
    assert boot["aws-bootstrap-ci-preview"]["inputs"]["name"] == f"bank-{stack}-ci-preview"
    assert boot["aws-bootstrap-ci-deploy"]["inputs"]["name"] == f"bank-{stack}-ci-deploy"


def test_preview_role_is_read_only_and_cannot_read_the_banks_data():
    boot = bootstrap("dev")
    read_only = "arn:aws:iam::aws:policy/ReadOnlyAccess"
    assert boot["aws-bootstrap-ci-preview"]["inputs"]["permissionsBoundary"] == read_only
    (attachment,) = boot.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert attachment["inputs"] == {"role": "bank-dev-ci-preview", "policyArn": read_only}
    denials = statements(boot.policy("aws-bootstrap-ci-preview-no-data"))
    assert {s["Effect"] for s in denials.values()} == {"Deny"}
    buckets = {
        boot[f"aws-bootstrap-{b}-bucket"]["outputs"]["arn"] + "/*"
        for b in ("documents", "audit-archive", "landing-zone")
    }
    objects = denials["DenyReadingCustomerAndAuditObjects"]
    assert set(objects["Action"]) == {"s3:GetObject", "s3:GetObjectVersion"} and set(objects["Resource"]) == buckets
    assert {"secretsmanager:GetSecretValue", "kms:Decrypt", "cognito-idp:ListUsers", "logs:GetLogEvents"} <= set(
        denials["DenyReadingSecretsAndRecords"]["Action"]
    )


def test_deploy_role_is_capped_by_a_boundary_it_cannot_change():
    boot = bootstrap("dev")
    account = ACCOUNTS["dev"]
    boundary_arn = boot["aws-bootstrap-ci-deploy-boundary"]["outputs"]["arn"]
    service_boundary_arn = boot["aws-bootstrap-service-boundary"]["outputs"]["arn"]
    assert boundary_arn == f"arn:aws:iam::{account}:policy/bank/dev/boundary/bank-dev-ci-deploy-boundary"
    assert boot["aws-bootstrap-ci-deploy"]["inputs"]["permissionsBoundary"] == boundary_arn
    cap = statements(boot.policy("aws-bootstrap-ci-deploy-boundary"))
    region = cap["DenyOutsideTheRegion"]
    assert region["Effect"] == "Deny" and set(region["NotAction"]) == {"iam:*", "sts:*"}
    assert region["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": [REGION]}}
    assert {"iam:CreateUser", "iam:CreateAccessKey", "organizations:*"} <= set(
        cap["DenyUsersKeysAndAccountChanges"]["Action"]
    )
    anchors = cap["DenyChangingTrustAnchors"]
    assert set(anchors["NotAction"]) == {"iam:Get*", "iam:List*"}
    assert set(anchors["Resource"]) == {
        f"arn:aws:iam::{account}:role/bank/dev/ci/*",
        f"arn:aws:iam::{account}:policy/bank/dev/boundary/*",
        f"arn:aws:iam::{account}:oidc-provider/{GITHUB}",
    }
    unbounded = cap["DenyServiceRolesWithoutTheBoundary"]
    assert unbounded["Condition"] == {"ArnNotEquals": {"iam:PermissionsBoundary": service_boundary_arn}}
    assert unbounded["Resource"] == [f"arn:aws:iam::{account}:role/bank/dev/service/*"]
    assert set(cap["DenyStoppingTheTrail"]["Action"]) == {"cloudtrail:StopLogging", "cloudtrail:DeleteTrail"}
    # Its own permissions: IAM on the platform's roles and policies only; PassRole never on "*".
    own = statements(boot.policy("aws-bootstrap-ci-deploy-permissions"))
    assert own["PassPlatformRoles"]["Resource"] == [
        f"arn:aws:iam::{account}:role/bank-dev-*",
        f"arn:aws:iam::{account}:role/bank/dev/*",
    ]
    for statement in own.values():
        if any(a.startswith("iam:") for a in as_list(statement["Action"])):
            assert statement["Resource"] != "*" and "*" not in as_list(statement["Resource"]), statement["Sid"]
    assert own["DeployPlatformServices"]["Condition"] == {"StringEquals": {"aws:RequestedRegion": [REGION]}}


# Which IAM service prefix deploys each pulumi-aws module (cloudwatch spans three services).
DEPLOYING_PREFIX = {
    "apigateway": "apigateway",
    "apigatewayv2": "apigateway",
    "appconfig": "appconfig",
    "cloudtrail": "cloudtrail",
    "codedeploy": "codedeploy",
    "cognito": "cognito-idp",
    "iam": "iam",
    "kinesis": "kinesis",
    "kms": "kms",
    "lambda": "lambda",
    "pipes": "pipes",
    "s3": "s3",
    "secretsmanager": "secretsmanager",
    "sns": "sns",
    "sqs": "sqs",
    "ssm": "ssm",
    "xray": "xray",
}
CLOUDWATCH_PREFIX = {"Log": "logs", "Event": "events", "Metric": "cloudwatch", "Dashboard": "cloudwatch"}


@pytest.mark.parametrize("stack", ["dev", "prod"])  # prod has what dev lacks (the canary's CodeDeploy)
def test_the_deploy_role_may_deploy_every_aws_type_in_the_plan(stack):
    """A type the deploy role cannot create fails on the first CI deploy after bootstrap, not here — unless this
    test names it: add its service to identity.DEPLOYED_SERVICES and to the table above."""
    doc = offline_plan(stack).document
    own = statements(bootstrap(stack).policy("aws-bootstrap-ci-deploy-permissions"))
    granted = {a.split(":")[0] for a in own["DeployPlatformServices"]["Action"] if a.endswith(":*")} | {"iam"}
    cap = statements(bootstrap(stack).policy("aws-bootstrap-ci-deploy-boundary"))["PlatformServicesOnly"]["Action"]
    capped = {a.split(":")[0] for a in cap}
    missing = set()
    for type_ in {r["type"] for r in doc["deployment"]["resources"] if r["type"].startswith("aws:")}:
        module, resource = type_.split(":")[1].split("/")[0], type_.split(":")[2]
        if module == "cloudwatch":
            prefix = next((p for start, p in CLOUDWATCH_PREFIX.items() if resource.startswith(start)), None)
        elif module == "kinesis" and resource.startswith("Firehose"):
            prefix = "firehose"
        else:
            prefix = DEPLOYING_PREFIX.get(module)
        if prefix is None or prefix not in granted or prefix not in capped:
            missing.add(f"{type_} ({prefix or 'no IAM prefix known'})")
    assert not missing, sorted(missing)


# --- the per-service roles ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_one_role_per_enabled_service_module(stack):
    boot = bootstrap(stack)
    service_roles = {
        r["inputs"]["name"]
        for r in boot.of_type("aws:iam/role:Role")
        if r["inputs"].get("path") == f"/bank/{stack}/service/"
    }
    assert service_roles == {f"bank-{stack}-{slug}" for slug in enabled_services(stack)}
    assert len(service_roles) == len([m for m in boot.platform.enabled_modules() if m.spec.kind == "service"])
    policies = {r["inputs"]["role"] for r in boot.of_type("aws:iam/rolePolicy:RolePolicy") if "-role-" in r["urn"]}
    assert policies == service_roles  # every role has its policy


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_service_roles_are_assumed_by_lambda_only_and_carry_the_boundary(stack):
    boot = bootstrap(stack)
    boundary_arn = boot["aws-bootstrap-service-boundary"]["outputs"]["arn"]
    assert boundary_arn == f"arn:aws:iam::{ACCOUNTS[stack]}:policy/bank/{stack}/boundary/bank-{stack}-service-boundary"
    for slug in enabled_services(stack):
        role = boot[f"aws-bootstrap-role-{slug}"]["inputs"]
        assert role["permissionsBoundary"] == boundary_arn, slug
        assert json.loads(role["assumeRolePolicy"])["Statement"] == [
            {
                "Sid": "LambdaOnly",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
            }
        ], slug


# Every action a service role may hold, and the resources each kind may name (source: the policy model's brief).
ALLOWED_ACTIONS = {
    "logs:CreateLogStream",
    "logs:PutLogEvents",
    "kms:Decrypt",
    "kms:GenerateDataKey",
    "secretsmanager:GetSecretValue",
    "secretsmanager:DescribeSecret",
    "events:PutEvents",
    "ssm:GetParameter",
    "ssm:GetParameters",
    "ssm:GetParametersByPath",
    "sqs:SendMessage",
    "sqs:ReceiveMessage",
    "sqs:DeleteMessage",
    "sqs:GetQueueAttributes",
    "sqs:ChangeMessageVisibility",
    "xray:PutTraceSegments",
    "xray:PutTelemetryRecords",
    "xray:GetSamplingRules",
    "xray:GetSamplingTargets",
    "appconfig:StartConfigurationSession",
    "appconfig:GetLatestConfiguration",
}
XRAY = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_service_policies_grant_least_privilege(stack):
    boot = bootstrap(stack)
    arn_of_this_stack = re.compile(rf"^arn:aws:[a-z-]+:{REGION}:{ACCOUNTS[stack]}:\S+$")
    for slug in enabled_services(stack):
        document = boot.policy(f"aws-bootstrap-role-{slug}-policy")
        for s in document["Statement"]:
            actions = as_list(s["Action"])
            assert s["Effect"] == "Allow" and set(actions) <= ALLOWED_ACTIONS, (slug, s["Sid"])
            if s["Resource"] == "*":
                # X-Ray's write and sampling actions offer no resource-level permission: the one exception.
                assert s["Sid"] == "WriteTraces" and set(actions) == XRAY, (slug, s["Sid"])
            else:
                assert all(arn_of_this_stack.match(r) for r in s["Resource"]), (slug, s["Sid"], s["Resource"])
                assert not any(r.endswith(":*") and r.count(":") < 6 for r in s["Resource"]), (slug, s["Sid"])


def test_a_service_policy_names_its_own_log_group_key_bus_queue_path_and_the_activation_profile():
    boot = bootstrap("dev")
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNTS['dev']}:{{}}"
    granted = statements(boot.policy("aws-bootstrap-role-account-creation-policy"))
    assert granted["WriteOwnLogs"]["Resource"] == [
        arn.format("logs", "log-group:/bank/dev/account-creation"),
        arn.format("logs", "log-group:/bank/dev/account-creation:log-stream:*"),
    ]
    assert granted["UseDomainKeys"]["Resource"] == [boot["aws-bootstrap-sd01-key"]["outputs"]["arn"]]
    assert granted["PublishOnOwnDomainBus"]["Resource"] == [boot["aws-bootstrap-sd01-bus"]["outputs"]["arn"]]
    assert granted["ReadOwnParameters"]["Resource"] == [
        arn.format("ssm", "parameter/bank/dev/account-creation"),
        arn.format("ssm", "parameter/bank/dev/account-creation/*"),
    ]
    assert granted["SendToDeadLetterQueue"]["Resource"] == [arn.format("sqs", "bank-dev-account-creation-dlq")]
    app = boot["aws-bootstrap-appconfig-sd07"]["id"]
    env = boot["aws-bootstrap-appconfig-sd07-dev"]["outputs"]["environmentId"]
    profile = boot["aws-bootstrap-tenant-activation"]["outputs"]["configurationProfileId"]
    assert granted["ReadTenantActivation"]["Resource"] == [
        arn.format("appconfig", f"application/{app}/environment/{env}/configuration/{profile}")
    ]
    # Granted by the service module once its resource exists, so not here (model/service_policies.py).
    assert "ReadOwnProfile" not in granted and "InvokeCalleeApis" not in granted


def test_a_module_with_secrets_is_granted_exactly_those_secrets():
    granted = statements(bootstrap("dev").policy("aws-bootstrap-role-eidv-document-verification-policy"))
    prefix = f"arn:aws:secretsmanager:{REGION}:{ACCOUNTS['dev']}:secret:/bank/dev/sd02/"
    # Secrets Manager ARNs end in "-" and six random characters: exactly six "?" match exactly those.
    assert granted["ReadOwnSecrets"]["Resource"] == [
        prefix + "db-service-??????",
        prefix + "frankieone-api-credentials-??????",
        prefix + "greenid-api-credentials-??????",
    ]
    assert granted["ReadOwnSecrets"]["Action"] == ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]


def test_the_service_boundary_caps_every_role_at_the_models_actions_in_this_region():
    cap = statements(bootstrap("dev").policy("aws-bootstrap-service-boundary"))
    allowed = {a for s in cap.values() if s["Effect"] == "Allow" for a in as_list(s["Action"])}
    assert allowed == ALLOWED_ACTIONS | {"execute-api:Invoke"}
    assert all(s["Resource"] != "*" for s in cap.values() if s["Effect"] == "Allow" and s["Sid"] != "ModelXray")
    assert {"iam:*", "organizations:*", "account:*"} <= set(cap["DenyIdentityAndAccountAdministration"]["Action"])
    assert {"kms:ScheduleKeyDeletion", "kms:Put*", "kms:Create*", "kms:Disable*"} <= set(
        cap["DenyKeyAdministration"]["Action"]
    )
    region = cap["DenyOutsideTheRegion"]
    assert (region["Action"], region["Resource"]) == (["*"], "*")
    assert region["Condition"] == {"StringNotEquals": {"aws:RequestedRegion": [REGION]}}
    secrets = cap["ModelSecret"]["Resource"]
    assert secrets == [f"arn:aws:secretsmanager:{REGION}:{ACCOUNTS['dev']}:secret:/bank/dev/*"]


# Findings parliament reports on the deploy role and its cap, each accepted for a reason.
ACCEPTED_DEPLOY_FINDINGS = {
    # Creating keys, pools, applications and log groups has no resource-level permission (deploy_statements).
    "RESOURCE_STAR": "create actions of the platform's services take Resource '*', held to the region",
    # The cap must allow IAM so the role can manage the platform's roles; the denies make it safe.
    "PRIVILEGE_ESCALATION": "iam:* in the cap; users, keys, trust anchors and unbounded service roles are denied",
    "CREDENTIALS_EXPOSURE": "iam:* in the cap; iam:CreateAccessKey and login profiles are denied",
    "PERMISSIONS_MANAGEMENT_ACTIONS": "the deploy role manages the platform's roles and policies",
}


def test_iam_policies_pass_parliament():
    boot = bootstrap("prod")
    policies = {
        name: r["inputs"]["policy"]
        for name, r in boot.resources.items()
        if r["type"] in ("aws:iam/policy:Policy", "aws:iam/rolePolicy:RolePolicy")
        and (name.startswith("aws-bootstrap-role-") or name.startswith("aws-bootstrap-ci-") or "boundary" in name)
    }
    # The service roles' policies, the CI roles' two, the service, deploy and platform boundaries.
    assert len(policies) == len(enabled_services("prod")) + 5
    for name, text in policies.items():
        findings = analyze_policy_string(text, include_community_auditors=True).findings
        issues = [(f.issue, f.detail) for f in findings]
        if name.startswith("aws-bootstrap-ci-deploy"):
            issues = [
                (issue, detail)
                for issue, detail in issues
                if issue not in ACCEPTED_DEPLOY_FINDINGS
                # parliament reads only 12-digit accounts; AWS managed policies live in the account "aws".
                and not (issue == "INVALID_ARN" and "Account expected" in str(detail))
            ]
        assert issues == [], name


# --- the SSM baseline -------------------------------------------------------------------------------------------------
EXPECTED_BASELINE = (
    ["region", "tenants", "jurisdictions", "iam/permissions-boundary-arn", "appconfig/tenant-activation-profile-id"]
    + [f"cognito/{p}-{f}" for p in ("customer", "internal") for f in ("user-pool-id", "user-pool-arn", "client-id")]
    + [f"storage/{b}-bucket-name" for b in ("documents", "audit-archive", "landing-zone", "artifacts", "access-logs")]
    + [
        f"sd0{n}/{f}"
        for n in range(1, 9)
        for f in (
            "event-bus-name",
            "event-bus-arn",
            "stream-arn",
            "kms-key-arn",
            "appconfig-application-id",
            "appconfig-environment-id",
        )
    ]
    # The domain APIs (every domain but SD07, whose modules nothing calls over HTTP): id and URL.
    + [f"sd0{n}/{f}" for n in range(1, 9) if n != 7 for f in ("api-id", "api-url")]
)


def test_the_platform_baseline_holds_the_facts_other_modules_read():
    boot = bootstrap("dev")
    parameters = {
        r["inputs"]["name"]: r
        for r in boot.of_type("aws:ssm/parameter:Parameter")
        if r["inputs"]["name"].startswith("/bank/dev/platform/")
    }
    assert sorted(parameters) == sorted(f"/bank/dev/platform/{p}" for p in EXPECTED_BASELINE)
    value = {name.removeprefix("/bank/dev/platform/"): r["inputs"]["insecureValue"] for name, r in parameters.items()}
    for name, r in parameters.items():
        assert "value" not in r["inputs"] and r["inputs"]["tags"] == {**r["inputs"]["tags"], **BOOTSTRAP_TAGS}, name
    assert value["tenants"] == "totara-bank,test-kowhai-credit-union,test-wattle-building-society"
    assert parameters["/bank/dev/platform/tenants"]["inputs"]["type"] == "StringList"
    assert value["jurisdictions"] == "AU,NZ" and value["region"] == REGION
    assert value["cognito/customer-user-pool-id"] == boot["aws-bootstrap-customer-pool"]["id"]
    assert value["cognito/internal-client-id"] == boot["aws-bootstrap-internal-client"]["id"]
    assert value["sd03/event-bus-arn"] == boot["aws-bootstrap-sd03-bus"]["outputs"]["arn"]
    assert value["sd03/event-bus-name"] == "bank-dev-sd03"
    assert value["sd05/kms-key-arn"] == boot["aws-bootstrap-sd05-key"]["outputs"]["arn"]
    assert value["storage/documents-bucket-name"] == boot["aws-bootstrap-documents-bucket"]["outputs"]["bucket"]
    assert value["iam/permissions-boundary-arn"] == boot["aws-bootstrap-service-boundary"]["outputs"]["arn"]


# --- AppConfig tenant activation --------------------------------------------------------------------------------------
def test_an_appconfig_application_and_environment_per_domain():
    boot = bootstrap("dev")
    applications = {r["inputs"]["name"]: r for r in boot.of_type("aws:appconfig/application:Application")}
    assert sorted(applications) == [f"bank-dev-sd0{n}" for n in range(1, 9)]
    environments = boot.of_type("aws:appconfig/environment:Environment")
    assert sorted(e["inputs"]["applicationId"] for e in environments) == sorted(a["id"] for a in applications.values())
    assert {e["inputs"]["name"] for e in environments} == {"dev"}


def test_tenant_activation_is_one_validated_profile_in_the_platform_application_deployed_linearly():
    boot = bootstrap("dev")
    profiles = boot.of_type("aws:appconfig/configurationProfile:ConfigurationProfile")
    assert len(profiles) == 1  # module profiles come with their modules, and never hold activation
    profile = profiles[0]["inputs"]
    assert profile["applicationId"] == boot["aws-bootstrap-appconfig-sd07"]["id"]
    assert (profile["name"], profile["type"], profile["locationUri"]) == ("tenant-activation", "AWS.Freeform", "hosted")
    (validator,) = profile["validators"]
    assert validator["type"] == "JSON_SCHEMA"
    jsonschema.Draft4Validator.check_schema(json.loads(validator["content"]))  # AppConfig reads draft-04 only
    deployment = boot["aws-bootstrap-tenant-activation-deployment"]["inputs"]
    version = boot["aws-bootstrap-tenant-activation-version"]
    assert deployment["configurationProfileId"] == profiles[0]["outputs"]["configurationProfileId"]
    assert deployment["configurationVersion"] == str(version["outputs"]["versionNumber"])
    assert deployment["environmentId"] == boot["aws-bootstrap-appconfig-sd07-dev"]["outputs"]["environmentId"]
    assert deployment["deploymentStrategyId"] == boot["aws-bootstrap-appconfig-strategy"]["id"]
    assert version["inputs"]["contentType"] == "application/json"


def test_production_rolls_activation_out_slower_than_dev():
    dev = bootstrap("dev")["aws-bootstrap-appconfig-strategy"]["inputs"]
    prod = bootstrap("prod")["aws-bootstrap-appconfig-strategy"]["inputs"]
    for strategy in (dev, prod):
        assert strategy["growthType"] == "LINEAR" and strategy["finalBakeTimeInMinutes"] > 0
    assert prod["deploymentDurationInMinutes"] > dev["deploymentDurationInMinutes"]
    assert prod["finalBakeTimeInMinutes"] > dev["finalBakeTimeInMinutes"]
    assert prod["growthFactor"] < dev["growthFactor"]


@pytest.mark.parametrize("stack", ["dev", "uat"])
def test_the_activation_profile_holds_exactly_each_tenants_active_modules(stack):
    boot = bootstrap(stack)
    content = boot.hosted_content["aws-bootstrap-tenant-activation-version"]
    assert json.loads(content) == {"environment": stack, "tenants": tenant_entries(boot.platform)}
    assert content == json.dumps(json.loads(content), sort_keys=True, separators=(",", ":"))  # stable text
    schema = json.loads(boot["aws-bootstrap-tenant-activation"]["inputs"]["validators"][0]["content"])
    jsonschema.Draft4Validator(schema).validate(json.loads(content))
    # The plan shows the content as a secret only (pulumi-aws marks hosted content secret, inputs included).
    assert boot["aws-bootstrap-tenant-activation-version"]["inputs"]["content"] == SECRET


def test_the_activation_schema_refuses_what_the_runtime_could_misread():
    boot = bootstrap("dev")
    schema = json.loads(boot["aws-bootstrap-tenant-activation"]["inputs"]["validators"][0]["content"])
    good = json.loads(boot.hosted_content["aws-bootstrap-tenant-activation-version"])
    validator = jsonschema.Draft4Validator(schema)
    bad_cases = [
        {**good, "tenants": []},
        {**good, "tenants": [{**good["tenants"][0], "jurisdictions": ["UK"]}]},
        {**good, "tenants": [{**good["tenants"][0], "activeModules": ["account-creation"]}]},
        {k: v for k, v in good.items() if k != "environment"},
    ]
    for bad in bad_cases:
        assert not validator.is_valid(bad), bad


def test_a_tenants_active_modules_follow_the_activation_matrix():
    """Independently of the code: a Kowhai credit union (NZ) has the NZ member-share modules and no AU-only ones."""
    boot = bootstrap("dev")
    tenants = {
        t["id"]: t for t in json.loads(boot.hosted_content["aws-bootstrap-tenant-activation-version"])["tenants"]
    }
    raw = {m["id"]: m for m in RAW_MODULES}
    enabled = {m.spec.id for m in boot.platform.enabled_modules()}
    for tenant_id, kind, places in (
        ("test-kowhai-credit-union", "credit_union", {"NZ"}),
        ("test-wattle-building-society", "building_society", {"AU"}),
    ):
        expected = sorted(
            mid
            for mid in enabled
            if kind in raw[mid].get("institutionTypes", ["bank", "credit_union", "building_society"])
            and places & set(raw[mid].get("jurisdictions", ["NZ", "AU"]))
        )
        assert tenants[tenant_id]["activeModules"] == expected, tenant_id


# --- tags, mocked ids -------------------------------------------------------------------------------------------------
SDK_CLASSES = {
    "aws:cognito/userPool:UserPool": aws.cognito.UserPool,
    "aws:cognito/userPoolClient:UserPoolClient": aws.cognito.UserPoolClient,
    "aws:iam/openIdConnectProvider:OpenIdConnectProvider": aws.iam.OpenIdConnectProvider,
    "aws:iam/policy:Policy": aws.iam.Policy,
    "aws:iam/role:Role": aws.iam.Role,
    "aws:iam/rolePolicy:RolePolicy": aws.iam.RolePolicy,
    "aws:iam/rolePolicyAttachment:RolePolicyAttachment": aws.iam.RolePolicyAttachment,
    "aws:ssm/parameter:Parameter": aws.ssm.Parameter,
    "aws:appconfig/application:Application": aws.appconfig.Application,
    "aws:appconfig/environment:Environment": aws.appconfig.Environment,
    "aws:appconfig/configurationProfile:ConfigurationProfile": aws.appconfig.ConfigurationProfile,
    HOSTED_VERSION: aws.appconfig.HostedConfigurationVersion,
    "aws:appconfig/deploymentStrategy:DeploymentStrategy": aws.appconfig.DeploymentStrategy,
    "aws:appconfig/deployment:Deployment": aws.appconfig.Deployment,
}


def test_every_taggable_resource_of_this_part_carries_the_modules_tags():
    boot = bootstrap("dev")
    checked = 0
    for name, r in boot.resources.items():
        cls = SDK_CLASSES.get(r["type"])
        if cls is None or (
            r["type"] in ("aws:iam/role:Role", "aws:iam/rolePolicy:RolePolicy") and "-to-stream" in name
        ):
            continue  # the events and storage parts' own roles are theirs to test
        if "tags" in inspect.signature(cls._internal_init).parameters:
            assert BOOTSTRAP_TAGS.items() <= r["inputs"].get("tags", {}).items(), name
            checked += 1
    assert checked > len(enabled_services("dev"))
    assert boot["aws-bootstrap-role-account-creation"]["inputs"]["tags"]["bank:service"] == "account-creation"


def test_this_parts_ids_and_arns_are_in_each_services_format():
    boot = bootstrap("dev")
    for r in boot.resources.values():
        if r["type"] in OUR_TYPES:
            assert OFFLINE_INVENTED not in json.dumps(r), r["urn"]
    account = ACCOUNTS["dev"]
    pool = boot["aws-bootstrap-customer-pool"]
    assert re.fullmatch(rf"{REGION}_[0-9A-Za-z]{{9}}", pool["id"])
    assert pool["outputs"]["arn"] == f"arn:aws:cognito-idp:{REGION}:{account}:userpool/{pool['id']}"
    assert re.fullmatch(r"[a-z0-9]{26}", boot["aws-bootstrap-customer-client"]["id"])
    app = boot["aws-bootstrap-appconfig-sd07"]
    assert re.fullmatch(r"[a-z0-9]{7}", app["id"])
    env = boot["aws-bootstrap-appconfig-sd07-dev"]
    assert re.fullmatch(r"[a-z0-9]{7}", env["outputs"]["environmentId"])
    assert env["id"] == f"{env['outputs']['environmentId']}:{app['id']}"
    assert re.fullmatch(r"[a-z0-9]{7}", boot["aws-bootstrap-tenant-activation"]["outputs"]["configurationProfileId"])
    assert re.fullmatch(r"[a-z0-9]{7}", boot["aws-bootstrap-appconfig-strategy"]["id"])
    version = boot["aws-bootstrap-tenant-activation-version"]
    profile_id = boot["aws-bootstrap-tenant-activation"]["outputs"]["configurationProfileId"]
    assert version["id"] == f"{app['id']}/{profile_id}/1"
    (attachment,) = boot.of_type("aws:iam/rolePolicyAttachment:RolePolicyAttachment")
    assert re.fullmatch(r"bank-dev-ci-preview-[0-9]{18}[0-9a-f]{8}", attachment["id"])
    # Deterministic: the mock derives every id from the URN.
    assert (
        hashlib.sha256(json.dumps(boot.resources, sort_keys=True).encode()).hexdigest()
        == hashlib.sha256(json.dumps(bootstrap.__wrapped__("dev").resources, sort_keys=True).encode()).hexdigest()
    )
