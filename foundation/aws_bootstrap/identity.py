"""MOD-104 part: identity (deployment sequence, step 0.1: "Cognito user pools (customer identity, internal identity)"
and "IAM roles (per-service least-privilege roles, CI/CD deployment roles)"; DESIGN G7, G11, G13).

- Two Cognito user pools, customers and the bank's staff, on the Plus tier so threat protection can be ENFORCED;
  MFA required for staff, optional (software token) for customers; custom attributes `tenant` and `jurisdiction`
  that the ID token carries as `custom:tenant` / `custom:jurisdiction` (operations index: jurisdiction is chosen
  "at runtime via Cognito JWT claims"). Users are created by the platform's back ends (AdminCreateUser), never by
  self sign-up, and no app client may write either attribute: a user cannot move themselves to another tenant.
- The GitHub OIDC provider and the CI/CD roles every run after the first uses (DESIGN G11): a read-only preview
  role for pull requests and a deploy role pinned to the stack's GitHub environment, capped by its own boundary.
- The permissions boundary every service role carries, and one role per enabled service module, trusted by Lambda
  only. The roles' policies come from the policy model (model/service_policies.py); they are attached by
  `attach_service_policies` once the AppConfig profiles they read exist (runtime_config.py).
- The platform boundary every helper role of the platform carries (`build_platform_boundary`, built before MOD-104's
  other parts, whose delivery roles carry it too).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from foundation.iam_documents import LAMBDA_TRUST, policy_document
from model.service_policies import (
    ACTIONS_BY_KIND,
    PolicyStatement,
    ResourceRef,
    model_problems,
    role_name,
    service_statements,
)

if TYPE_CHECKING:
    from foundation.aws_bootstrap import AwsBootstrap
    from foundation.aws_bootstrap.runtime_config import RuntimeConfig

GITHUB_OIDC_HOST = "token.actions.githubusercontent.com"
GITHUB_OIDC_URL = f"https://{GITHUB_OIDC_HOST}"
STS_AUDIENCE = "sts.amazonaws.com"
# AWS managed: read-only access to every service's configuration (used by `pulumi preview`), and its cap.
READ_ONLY_ACCESS_ARN = "arn:aws:iam::aws:policy/ReadOnlyAccess"

# The IAM services `pulumi up` deploys with (IAM prefixes). A test maps every AWS type in the plan to one of these,
# so a new kind of resource fails the test until the deploy role may create it.
DEPLOYED_SERVICES = (
    "apigateway",
    "appconfig",
    "cloudtrail",
    "cloudwatch",
    "codedeploy",
    "cognito-idp",
    "events",
    "firehose",
    "kinesis",
    "kms",
    "lambda",
    "logs",
    "pipes",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "xray",
)
# IAM and STS are global: they are the only actions a regional condition must not deny.
GLOBAL_SERVICES = ("iam", "sts")

# Custom attributes: written once by the back end that creates the user (AdminCreateUser). `tenant` is immutable,
# so no later update can move a user to another tenant; a customer may move country, so `jurisdiction` is mutable
# (by the back end only: no app client may write either, see CLIENT_WRITE_ATTRIBUTES). Cognito never lets a custom
# attribute be changed or removed once the pool exists (DESIGN G7, G13).
TENANT_ATTRIBUTE = "tenant"
JURISDICTION_ATTRIBUTE = "jurisdiction"
CLIENT_READ_ATTRIBUTES = (
    "custom:jurisdiction",
    "custom:tenant",
    "email",
    "email_verified",
    "locale",
    "name",
    "zoneinfo",
)
# Explicit and non-empty: a client without write attributes may write every mutable attribute.
CLIENT_WRITE_ATTRIBUTES = ("locale", "name", "zoneinfo")


@dataclass(frozen=True)
class Identity:
    customer_pool: aws.cognito.UserPool
    internal_pool: aws.cognito.UserPool
    customer_client: aws.cognito.UserPoolClient
    internal_client: aws.cognito.UserPoolClient
    github_oidc: aws.iam.OpenIdConnectProvider
    preview_role: aws.iam.Role
    deploy_role: aws.iam.Role
    permissions_boundary: aws.iam.Policy
    service_roles: dict[str, aws.iam.Role]  # by module slug, one per enabled service module
    deploy_boundary: aws.iam.Policy
    # Each service role's policy, by slug: attached by attach_service_policies once AppConfig exists.
    service_policies: dict[str, aws.iam.RolePolicy] = field(default_factory=dict)


def join(*parts: Any) -> Any:
    """Text from parts that may be Outputs: a plain string when none is (fewer Outputs keep the plan fast)."""
    if any(isinstance(p, pulumi.Output) for p in parts):
        return pulumi.Output.concat(*parts)
    return "".join(parts)


class StackArns:
    """ARNs in this stack's account and region; both come through StackInputs, so they may be Outputs."""

    def __init__(self, region: Any, account: Any):
        self.region = region
        self.account = account

    def regional(self, service: str, resource: Any) -> Any:
        return join("arn:aws:", service, ":", self.region, ":", self.account, ":", resource)

    def iam(self, resource: str) -> Any:
        return join("arn:aws:iam::", self.account, ":", resource)


def allow(sid: str, actions: Sequence[str], resources: Any, condition: dict | None = None) -> dict[str, Any]:
    statement = {"Sid": sid, "Effect": "Allow", "Action": list(actions), "Resource": resources}
    return statement | ({"Condition": condition} if condition else {})


def deny(sid: str, actions: Sequence[str], resources: Any, condition: dict | None = None, *, not_action=False):
    statement = {"Sid": sid, "Effect": "Deny", "NotAction" if not_action else "Action": list(actions)}
    statement["Resource"] = resources
    return statement | ({"Condition": condition} if condition else {})


def build_identity(bootstrap: AwsBootstrap) -> Identity:
    spec = bootstrap.deployment.spec
    env = bootstrap.context.environment
    arns = StackArns(bootstrap.inputs["region"], bootstrap.inputs["awsAccountId"])

    customer_pool = _user_pool(bootstrap, "customer", f"bank-{env}-customers", staff=False)
    internal_pool = _user_pool(bootstrap, "internal", f"bank-{env}-internal", staff=True)
    # Customers sign in from the mobile and web apps, which cannot keep a secret: a public client (SRP, no secret).
    customer_client = _app_client(bootstrap, "customer", f"bank-{env}-customer-apps", customer_pool, confidential=False)
    # Staff tools sign in through their server-side back end: a confidential client. Its secret is a secret output
    # of the provider (additionalSecretOutputs: clientSecret), so state and plans hold only the secret marker.
    internal_client = _app_client(bootstrap, "internal", f"bank-{env}-staff-tools", internal_pool, confidential=True)

    github_oidc = aws.iam.OpenIdConnectProvider(
        f"{spec.resource_name}-github-oidc",
        url=GITHUB_OIDC_URL,
        client_id_lists=[STS_AUDIENCE],
        # No thumbprints: for GitHub, IAM validates the certificate against its own trusted CAs and ignores any
        # thumbprint (pulumi-aws v7 makes thumbprint_lists optional for exactly this case).
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )

    permissions_boundary = aws.iam.Policy(
        f"{spec.resource_name}-service-boundary",
        name=f"bank-{env}-service-boundary",
        path=f"/bank/{env}/boundary/",
        description="Caps every per-service role at what the policy model can grant (model/service_policies.py)",
        policy=policy_document(service_boundary_statements(env, arns, bootstrap.inputs["region"])),
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    deploy_boundary = aws.iam.Policy(
        f"{spec.resource_name}-ci-deploy-boundary",
        name=f"bank-{env}-ci-deploy-boundary",
        path=f"/bank/{env}/boundary/",
        description="Caps the CI deploy role: platform services in this region, no account or identity takeover",
        policy=policy_document(
            deploy_boundary_statements(env, arns, bootstrap.inputs["region"], permissions_boundary.arn)
        ),
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )

    repository = bootstrap.inputs["github.repository"]
    preview_role = aws.iam.Role(
        f"{spec.resource_name}-ci-preview",
        name=f"bank-{env}-ci-preview",
        path=f"/bank/{env}/ci/",
        description="pulumi preview on pull requests (GitHub OIDC): read-only, no data",
        assume_role_policy=github_trust(github_oidc.arn, join("repo:", repository, ":pull_request")),
        # ReadOnlyAccess is both its permissions and its cap: nothing attached later can make it write.
        permissions_boundary=READ_ONLY_ACCESS_ARN,
        max_session_duration=3600,
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    aws.iam.RolePolicyAttachment(
        f"{spec.resource_name}-ci-preview-read-only",
        role=preview_role.name,
        policy_arn=READ_ONLY_ACCESS_ARN,
        opts=bootstrap.child_options(),
    )
    aws.iam.RolePolicy(
        f"{spec.resource_name}-ci-preview-no-data",
        name=f"bank-{env}-ci-preview-no-data",
        role=preview_role.name,
        policy=policy_document(preview_data_denials(bootstrap)),
        opts=bootstrap.child_options(),
    )

    deploy_role = aws.iam.Role(
        f"{spec.resource_name}-ci-deploy",
        name=f"bank-{env}-ci-deploy",
        path=f"/bank/{env}/ci/",
        description=f"pulumi up -s {env} from the GitHub environment {env} (GitHub OIDC)",
        assume_role_policy=github_trust(github_oidc.arn, join("repo:", repository, ":environment:", env)),
        permissions_boundary=deploy_boundary.arn,
        # A whole-platform `pulumi up` can outlast the default hour.
        max_session_duration=7200,
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    aws.iam.RolePolicy(
        f"{spec.resource_name}-ci-deploy-permissions",
        name=f"bank-{env}-ci-deploy",
        role=deploy_role.name,
        policy=policy_document(deploy_statements(env, arns, bootstrap.inputs["region"])),
        opts=bootstrap.child_options(),
    )

    service_roles = {}
    for deployment in bootstrap.context.platform.enabled_modules():
        service = deployment.spec
        if service.kind != "service":
            continue
        service_roles[service.slug] = aws.iam.Role(
            # Named by the service's slug only (DESIGN G12); the role belongs to MOD-104 (deployment sequence 0.1).
            f"{spec.resource_name}-role-{service.slug}",
            name=role_name(env, service.slug),
            path=f"/bank/{env}/service/",
            description=f"{service.name}: least-privilege role of its function (model/service_policies.py)",
            assume_role_policy=LAMBDA_TRUST,
            permissions_boundary=permissions_boundary.arn,
            # MOD-104's tags (it owns the role), plus the service the role is for.
            tags={**spec.tags, "bank:service": service.slug},
            opts=bootstrap.child_options(),
        )

    return Identity(
        customer_pool=customer_pool,
        internal_pool=internal_pool,
        customer_client=customer_client,
        internal_client=internal_client,
        github_oidc=github_oidc,
        preview_role=preview_role,
        deploy_role=deploy_role,
        permissions_boundary=permissions_boundary,
        service_roles=service_roles,
        deploy_boundary=deploy_boundary,
    )


# --- Cognito -----------------------------------------------------------------------------------------------------------
def _user_pool(bootstrap: AwsBootstrap, which: str, name: str, *, staff: bool) -> aws.cognito.UserPool:
    spec = bootstrap.deployment.spec
    return aws.cognito.UserPool(
        f"{spec.resource_name}-{which}-pool",
        name=name,
        # Threat protection (compromised credentials, adaptive authentication) exists only on the Plus tier.
        user_pool_tier="PLUS",
        user_pool_add_ons=aws.cognito.UserPoolUserPoolAddOnsArgs(advanced_security_mode="ENFORCED"),
        mfa_configuration="ON" if staff else "OPTIONAL",
        software_token_mfa_configuration=aws.cognito.UserPoolSoftwareTokenMfaConfigurationArgs(enabled=True),
        password_policy=aws.cognito.UserPoolPasswordPolicyArgs(
            minimum_length=14 if staff else 12,
            require_lowercase=True,
            require_uppercase=True,
            require_numbers=True,
            require_symbols=True,
            password_history_size=24 if staff else 5,
            temporary_password_validity_days=1 if staff else 3,
        ),
        username_attributes=["email"],
        username_configuration=aws.cognito.UserPoolUsernameConfigurationArgs(case_sensitive=False),
        auto_verified_attributes=["email"],
        # Users are created by the onboarding and staff back ends, which set tenant and jurisdiction (DESIGN G13).
        admin_create_user_config=aws.cognito.UserPoolAdminCreateUserConfigArgs(allow_admin_create_user_only=True),
        account_recovery_setting=aws.cognito.UserPoolAccountRecoverySettingArgs(
            recovery_mechanisms=[
                aws.cognito.UserPoolAccountRecoverySettingRecoveryMechanismArgs(
                    # Staff recover through the service desk, never by email alone.
                    name="admin_only" if staff else "verified_email",
                    priority=1,
                )
            ]
        ),
        schemas=[
            aws.cognito.UserPoolSchemaArgs(
                name=TENANT_ATTRIBUTE,
                attribute_data_type="String",
                mutable=False,
                required=False,  # custom attributes cannot be required
                # Tenant ids are kebab-case, at most 40 characters (model/stack_config.py TenantId).
                string_attribute_constraints=aws.cognito.UserPoolSchemaStringAttributeConstraintsArgs(
                    min_length="1", max_length="40"
                ),
            ),
            aws.cognito.UserPoolSchemaArgs(
                name=JURISDICTION_ATTRIBUTE,
                attribute_data_type="String",
                mutable=True,
                required=False,
                # "NZ", "AU" or "NZ,AU" (DESIGN G7).
                string_attribute_constraints=aws.cognito.UserPoolSchemaStringAttributeConstraintsArgs(
                    min_length="2", max_length="5"
                ),
            ),
        ],
        deletion_protection="ACTIVE" if bootstrap.context.protect_stateful else "INACTIVE",
        tags=spec.tags,
        opts=bootstrap.stateful_options(),
    )


def _app_client(
    bootstrap: AwsBootstrap, which: str, name: str, pool: aws.cognito.UserPool, *, confidential: bool
) -> aws.cognito.UserPoolClient:
    spec = bootstrap.deployment.spec
    return aws.cognito.UserPoolClient(
        f"{spec.resource_name}-{which}-client",
        name=name,
        user_pool_id=pool.id,
        generate_secret=confidential,
        explicit_auth_flows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        prevent_user_existence_errors="ENABLED",
        enable_token_revocation=True,
        access_token_validity=15,
        id_token_validity=15,
        # Staff sessions last a working day; customers re-authenticate daily.
        refresh_token_validity=8 if confidential else 24,
        token_validity_units=aws.cognito.UserPoolClientTokenValidityUnitsArgs(
            access_token="minutes", id_token="minutes", refresh_token="hours"
        ),
        read_attributes=list(CLIENT_READ_ATTRIBUTES),
        write_attributes=list(CLIENT_WRITE_ATTRIBUTES),
        opts=bootstrap.child_options(),
    )


# --- trust policies ----------------------------------------------------------------------------------------------------
def github_trust(provider_arn: pulumi.Input[str], subject: pulumi.Input[str]) -> pulumi.Output[str]:
    """Web identity from GitHub Actions, pinned to our audience and to one exact subject (repository + event or
    environment): no other repository, branch workflow or environment can assume the role."""
    return policy_document(
        [
            {
                "Sid": "GitHubActions",
                "Effect": "Allow",
                "Principal": {"Federated": provider_arn},
                "Action": "sts:AssumeRoleWithWebIdentity",
                "Condition": {
                    "StringEquals": {f"{GITHUB_OIDC_HOST}:aud": STS_AUDIENCE, f"{GITHUB_OIDC_HOST}:sub": subject}
                },
            }
        ]
    )


# --- the service boundary and the service roles' policies -------------------------------------------------------------
def service_boundary_statements(env: str, arns: StackArns, region: Any) -> list[dict[str, Any]]:
    """What any service role can ever do: the policy model's actions, each on the environment's resources of its
    kind; never IAM, Organizations or KMS key administration; never outside the stack's region."""
    scope = {
        "log-group": [arns.regional("logs", f"log-group:/bank/{env}/*")],
        "kms-key": [arns.regional("kms", "key/*")],
        "secret": [arns.regional("secretsmanager", f"secret:/bank/{env}/*")],
        "event-bus": [arns.regional("events", "event-bus/*")],
        "ssm-path": [arns.regional("ssm", f"parameter/bank/{env}/*")],
        "sqs-queue": [arns.regional("sqs", f"bank-{env}-*")],
        # X-Ray's write and sampling actions have no resource-level permissions: "*" is the only resource.
        "xray": "*",
        "appconfig-profile": [arns.regional("appconfig", "application/*")],
        "execute-api": [arns.regional("execute-api", "*")],
    }
    statements = [allow(f"Model{_pascal(kind)}", actions, scope[kind]) for kind, actions in ACTIONS_BY_KIND.items()]
    return statements + boundary_denials(region)


def boundary_denials(region: Any) -> list[dict[str, Any]]:
    """What no role under the service or the platform boundary may ever do, whatever its policies say: IAM,
    Organizations or the account; assume another role; administer KMS keys; act outside the stack's region."""
    return [
        deny(
            "DenyIdentityAndAccountAdministration",
            ["account:*", "iam:*", "organizations:*", "sts:AssumeRole"],
            "*",
        ),
        deny(
            "DenyKeyAdministration",
            [
                "kms:CancelKeyDeletion",
                "kms:Create*",
                "kms:Delete*",
                "kms:Disable*",
                "kms:Enable*",
                "kms:ImportKeyMaterial",
                "kms:Put*",
                "kms:ReplicateKey",
                "kms:RetireGrant",
                "kms:RevokeGrant",
                "kms:ScheduleKeyDeletion",
                "kms:TagResource",
                "kms:UntagResource",
                "kms:Update*",
            ],
            "*",
        ),
        deny("DenyOutsideTheRegion", ["*"], "*", {"StringNotEquals": {"aws:RequestedRegion": [region]}}),
    ]


# --- the platform boundary: the platform's own helper roles -------------------------------------------------------------
# Roles AWS services assume to do the platform's plumbing: EventBridge → Kinesis (MOD-104), CloudTrail → CloudWatch
# Logs (MOD-104), the secret rotation functions (MOD-045), CloudWatch Logs → Kinesis and Firehose → the audit archive
# and Datadog (MOD-076), Firehose → Snowflake (MOD-102).
PLATFORM_BOUNDARY_ACTIONS = {
    "stream": (
        "kinesis:DescribeStream",
        "kinesis:GetRecords",
        "kinesis:GetShardIterator",
        "kinesis:ListShards",
        "kinesis:PutRecord",
        "kinesis:PutRecords",
    ),
    "key": ("kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"),
    "log-group": ("logs:CreateLogStream", "logs:PutLogEvents"),
    "bucket": ("s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"),
    "object": ("s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"),
    "secret": (
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "secretsmanager:PutSecretValue",
        "secretsmanager:UpdateSecretVersionStage",
    ),
    # GetRandomPassword acts on no resource: "*" is the only form IAM accepts for it.
    "random-password": ("secretsmanager:GetRandomPassword",),
    "user-pool": ("cognito-idp:AdminInitiateAuth", "cognito-idp:AdminSetUserPassword"),
    # MOD-046: the DBA roles invoke the just-in-time access functions; the break-glass function pages.
    "access-function": ("lambda:InvokeFunction",),
    "alert-topic": ("sns:Publish",),
    # X-Ray's write actions support no resource-level permissions: "*" is their only resource.
    "traces": ("xray:PutTelemetryRecords", "xray:PutTraceSegments"),
    # The prod canary (components/blue_green.py): CodeDeploy moves a service's `live` alias and watches its alarms.
    "live-alias": ("lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"),
    "rollback-alarm": ("cloudwatch:DescribeAlarms",),
}


def platform_boundary_statements(env: str, arns: StackArns, region: Any) -> list[dict[str, Any]]:
    """What any of the platform's helper roles can ever do: the actions those roles' policies grant, each on the
    environment's resources of its kind, under the same denials as the service boundary.

    A boundary of its own rather than the service boundary: the helpers need what no service module may have
    (reading and writing the platform's streams, writing the archive buckets, writing secret values during rotation,
    setting user pool passwords), and widening the service boundary for them would widen the cap on every service
    role. A boundary caps, it grants nothing: each helper still holds only its own least-privilege policy."""
    scope = {
        "stream": [arns.regional("kinesis", f"stream/bank-{env}-*")],
        "key": [arns.regional("kms", "key/*")],
        # The platform's log groups, and Firehose's for the Snowflake delivery streams (MOD-102, under the prefix
        # Firehose's console uses).
        "log-group": [
            arns.regional("logs", f"log-group:/bank/{env}/*"),
            arns.regional("logs", f"log-group:/aws/kinesisfirehose/bank-{env}-*"),
        ],
        # Bucket names are global: bank-{env}-{purpose}-{account} (storage.bucket_name).
        "bucket": [f"arn:aws:s3:::bank-{env}-*"],
        "object": [f"arn:aws:s3:::bank-{env}-*/*"],
        "secret": [arns.regional("secretsmanager", f"secret:/bank/{env}/*")],
        "random-password": "*",
        "user-pool": [arns.regional("cognito-idp", "userpool/*")],
        # Only the database access functions (dba_access_control.py names them bank-{env}-…-db-access).
        "access-function": [
            arns.regional("lambda", f"function:bank-{env}-*-db-access"),
            arns.regional("lambda", f"function:bank-{env}-*-db-access:*"),
        ],
        "alert-topic": [arns.regional("sns", f"bank-{env}-alerts-*")],
        "traces": "*",
        "live-alias": [arns.regional("lambda", f"function:bank-{env}-*")],
        "rollback-alarm": [arns.regional("cloudwatch", f"alarm:bank-{env}-*")],
    }
    statements = [
        allow(f"Platform{_pascal(kind)}", actions, scope[kind]) for kind, actions in PLATFORM_BOUNDARY_ACTIONS.items()
    ]
    return statements + boundary_denials(region)


def build_platform_boundary(bootstrap: AwsBootstrap) -> aws.iam.Policy:
    """Built first of MOD-104's parts: the encryption-and-events and storage parts create helper roles with it. Under
    /bank/{env}/boundary/ with the other boundaries, so only the bootstrap role can change it (deploy boundary,
    DenyChangingTrustAnchors): the deploy role cannot widen the cap of roles it manages."""
    spec = bootstrap.deployment.spec
    env = bootstrap.context.environment
    arns = StackArns(bootstrap.inputs["region"], bootstrap.inputs["awsAccountId"])
    return aws.iam.Policy(
        f"{spec.resource_name}-platform-boundary",
        name=f"bank-{env}-platform-boundary",
        path=f"/bank/{env}/boundary/",
        description="Caps the platform's own helper roles (delivery, streaming, rotation) at the services they use",
        policy=policy_document(platform_boundary_statements(env, arns, bootstrap.inputs["region"])),
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )


def service_policy_statements(statements: Sequence[PolicyStatement], resolve: dict[str, Any]) -> list[dict[str, Any]]:
    """The model's MOD-104-granted statements with their references resolved to ARNs (`resolve` by kind)."""
    problems = model_problems(tuple(statements))
    if problems:
        raise ValueError("model/service_policies.py: " + "; ".join(problems))
    out = []
    for statement in statements:
        if statement.granted_by != "aws-bootstrap":
            continue  # the resource gets its id when a service module creates it; that module grants it
        resources: list[Any] = []
        for ref in statement.resources:
            resources += resolve[ref.kind](ref)
        out.append(allow(statement.sid, statement.actions, "*" if resources == ["*"] else resources))
    return out


def attach_service_policies(bootstrap: AwsBootstrap, runtime: RuntimeConfig) -> dict[str, aws.iam.RolePolicy]:
    """Each service role's inline policy, from the policy model; after runtime_config, whose tenant activation
    profile every service reads."""
    spec = bootstrap.deployment.spec
    env = bootstrap.context.environment
    identity: Identity = bootstrap.identity
    arns = StackArns(bootstrap.inputs["region"], bootstrap.inputs["awsAccountId"])
    domains = bootstrap.events.domains
    by_id = bootstrap.context.platform.catalogue.by_id()
    by_slug = bootstrap.context.platform.catalogue.by_slug()

    def profile(ref: ResourceRef) -> list[Any]:
        return [runtime.profile_arns[ref.name]]

    resolve = {
        # CreateLogStream acts on the group, PutLogEvents on its streams.
        "log-group": lambda ref: [
            arns.regional("logs", f"log-group:{ref.name}"),
            arns.regional("logs", f"log-group:{ref.name}:log-stream:*"),
        ],
        "kms-key": lambda ref: [domains[ref.name].key.arn],
        # Secrets Manager appends a random 6-character suffix to every secret's ARN.
        "secret": lambda ref: [arns.regional("secretsmanager", f"secret:{ref.name}-??????")],
        "event-bus": lambda ref: [domains[ref.name].bus.arn],
        # GetParametersByPath is authorised on the path itself, GetParameter(s) on the parameters under it.
        "ssm-path": lambda ref: [
            arns.regional("ssm", "parameter" + ref.name.rstrip("/")),
            arns.regional("ssm", "parameter" + ref.name + "*"),
        ],
        "sqs-queue": lambda ref: [arns.regional("sqs", ref.name)],
        "xray": lambda ref: ["*"],
        "appconfig-profile": profile,
    }
    policies = {}
    for slug, role in identity.service_roles.items():
        statements = service_statements(by_slug[slug], env, by_id)
        policies[slug] = aws.iam.RolePolicy(
            f"{spec.resource_name}-role-{slug}-policy",
            name=role_name(env, slug),
            role=role.name,
            policy=policy_document(service_policy_statements(statements, resolve)),
            opts=bootstrap.child_options(),
        )
    identity.service_policies.update(policies)
    return policies


# --- the CI roles' policies --------------------------------------------------------------------------------------------
def deploy_statements(env: str, arns: StackArns, region: Any) -> list[dict[str, Any]]:
    """What `pulumi up` needs: the platform's services in the stack's region, and IAM only on the platform's own
    roles and policies (named `bank-{env}-…`, or under the path /bank/{env}/)."""
    roles = [arns.iam(f"role/bank-{env}-*"), arns.iam(f"role/bank/{env}/*")]
    return [
        # Creating most resources (keys, pools, applications, log groups) has no resource-level permission: "*",
        # held to the stack's region.
        allow(
            "DeployPlatformServices",
            [f"{service}:*" for service in DEPLOYED_SERVICES],
            "*",
            {"StringEquals": {"aws:RequestedRegion": [region]}},
        ),
        allow(
            "ManagePlatformRolesAndPolicies",
            IAM_MANAGEMENT_ACTIONS,
            [
                *roles,
                arns.iam(f"policy/bank-{env}-*"),
                arns.iam(f"policy/bank/{env}/*"),
                arns.iam(f"oidc-provider/{GITHUB_OIDC_HOST}"),
            ],
        ),
        allow("ReadAwsManagedPolicies", ["iam:GetPolicy", "iam:GetPolicyVersion"], ["arn:aws:iam::aws:policy/*"]),
        # Functions run as the service roles: the deploy role may hand those (and only platform roles) to services.
        allow("PassPlatformRoles", ["iam:PassRole"], roles),
        allow("WhoAmI", ["sts:GetCallerIdentity"], "*"),
    ]


IAM_MANAGEMENT_ACTIONS = (
    "iam:AddClientIDToOpenIDConnectProvider",
    "iam:AttachRolePolicy",
    "iam:CreateOpenIDConnectProvider",
    "iam:CreatePolicy",
    "iam:CreatePolicyVersion",
    "iam:CreateRole",
    "iam:DeleteOpenIDConnectProvider",
    "iam:DeletePolicy",
    "iam:DeletePolicyVersion",
    "iam:DeleteRole",
    "iam:DeleteRolePermissionsBoundary",
    "iam:DeleteRolePolicy",
    "iam:DetachRolePolicy",
    "iam:GetOpenIDConnectProvider",
    "iam:GetPolicy",
    "iam:GetPolicyVersion",
    "iam:GetRole",
    "iam:GetRolePolicy",
    "iam:ListAttachedRolePolicies",
    "iam:ListInstanceProfilesForRole",
    "iam:ListPolicyVersions",
    "iam:ListRolePolicies",
    "iam:ListRoleTags",
    "iam:PutRolePermissionsBoundary",
    "iam:PutRolePolicy",
    "iam:RemoveClientIDFromOpenIDConnectProvider",
    "iam:SetDefaultPolicyVersion",
    "iam:TagOpenIDConnectProvider",
    "iam:TagPolicy",
    "iam:TagRole",
    "iam:UntagOpenIDConnectProvider",
    "iam:UntagPolicy",
    "iam:UntagRole",
    "iam:UpdateAssumeRolePolicy",
    "iam:UpdateOpenIDConnectProviderThumbprint",
    "iam:UpdateRole",
    "iam:UpdateRoleDescription",
)


def deploy_boundary_statements(
    env: str, arns: StackArns, region: Any, service_boundary_arn: pulumi.Input[str]
) -> list[dict[str, Any]]:
    """The deploy role's cap. Its trust anchors (the CI roles, the OIDC provider, the boundaries) change only with
    the bootstrap role, as on the first run (DESIGN G11): otherwise the role could widen itself."""
    trust_anchors = [
        arns.iam(f"role/bank/{env}/ci/*"),
        arns.iam(f"policy/bank/{env}/boundary/*"),
        arns.iam(f"oidc-provider/{GITHUB_OIDC_HOST}"),
    ]
    service_roles = arns.iam(f"role/bank/{env}/service/*")
    return [
        allow(
            "PlatformServicesOnly",
            [f"{s}:*" for s in DEPLOYED_SERVICES] + [f"{s}:*" for s in GLOBAL_SERVICES],
            "*",
        ),
        deny(
            "DenyOutsideTheRegion",
            [f"{s}:*" for s in GLOBAL_SERVICES],
            "*",
            {"StringNotEquals": {"aws:RequestedRegion": [region]}},
            not_action=True,
        ),
        deny(
            "DenyUsersKeysAndAccountChanges",
            [
                "account:*",
                "iam:AddUserToGroup",
                "iam:AttachUserPolicy",
                "iam:CreateAccessKey",
                "iam:CreateLoginProfile",
                "iam:CreateUser",
                "iam:PutUserPolicy",
                "iam:UpdateLoginProfile",
                "organizations:*",
            ],
            "*",
        ),
        # The audit trail is active from the first deploy and stays so (deployment sequence, step 0.1).
        deny("DenyStoppingTheTrail", ["cloudtrail:DeleteTrail", "cloudtrail:StopLogging"], "*"),
        deny("DenyChangingTrustAnchors", ["iam:Get*", "iam:List*"], trust_anchors, not_action=True),
        # A service role without the service boundary would be an uncapped role the deploy role could hand to Lambda.
        deny(
            "DenyServiceRolesWithoutTheBoundary",
            ["iam:CreateRole", "iam:PutRolePermissionsBoundary"],
            [service_roles],
            {"ArnNotEquals": {"iam:PermissionsBoundary": service_boundary_arn}},
        ),
        deny("DenyRemovingTheBoundary", ["iam:DeleteRolePermissionsBoundary"], [service_roles]),
    ]


def preview_data_denials(bootstrap: AwsBootstrap) -> list[dict[str, Any]]:
    """ReadOnlyAccess reads configuration; a pull request's preview must not read the bank's data with it."""
    storage = bootstrap.storage
    data_buckets = [storage.documents, storage.audit_archive, storage.landing_zone]
    return [
        deny(
            "DenyReadingCustomerAndAuditObjects",
            ["s3:GetObject", "s3:GetObjectVersion"],
            [join(b.bucket.arn, "/*") for b in data_buckets],
        ),
        deny(
            "DenyReadingSecretsAndRecords",
            [
                "cognito-idp:AdminGetUser",
                "cognito-idp:ListUsers",
                "cognito-idp:ListUsersInGroup",
                "kinesis:GetRecords",
                "kinesis:GetShardIterator",
                "kms:Decrypt",
                "logs:FilterLogEvents",
                "logs:GetLogEvents",
                "logs:StartQuery",
                "secretsmanager:GetSecretValue",
                "sqs:ReceiveMessage",
            ],
            "*",
        ),
    ]


def _pascal(kind: str) -> str:
    return "".join(part.capitalize() for part in kind.split("-"))
