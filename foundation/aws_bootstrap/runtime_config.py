"""MOD-104 part: runtime_config (deployment sequence, step 0.1: "SSM Parameter Store baseline (environment-level
non-secret config)"; operations index: AppConfig "JSON profiles ..., one profile per application"; DESIGN G7, G13).

- AWS AppConfig: an application per system domain (`bank-{env}-sd01` …) with the stack's environment, and in the
  SD07 platform application the one tenant activation profile: which modules are active for which tenant, the
  single runtime source of activation (DESIGN G13), deployed with a linear strategy that bakes before it completes
  (slower in uat and prod). Module profiles added later hold each module's own flags, never activation.
- The SSM baseline under /bank/{env}/platform/: the non-secret facts other modules read (buses, streams, keys,
  buckets, user pools, AppConfig ids, the domain APIs' ids and URLs, tenants and jurisdictions).
- Last, the service roles' policies (identity.attach_service_policies): they name the activation profile.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, get_args

import pulumi
import pulumi_aws as aws

from bankctl.plan_export import tenant_entries
from foundation.aws_bootstrap.identity import StackArns, attach_service_policies
from model.phases import DOMAINS
from model.platform import PlatformSpec
from model.service_policies import PLATFORM_APPCONFIG_DOMAIN, TENANT_ACTIVATION_PROFILE, profile_name
from model.stack_config import Environment, InstitutionType, Jurisdiction

if TYPE_CHECKING:
    from foundation.aws_bootstrap import AwsBootstrap

# How fast a new tenant activation reaches the runtime: linear steps, then a bake during which AppConfig rolls back
# on an alarm; production moves slowest (environment promotion: prove it in dev and uat first).
DEPLOYMENT_PACE: dict[str, dict[str, float]] = {
    "local": {"duration": 0, "growth": 100, "bake": 0},
    "dev": {"duration": 2, "growth": 50, "bake": 2},
    "uat": {"duration": 10, "growth": 20, "bake": 10},
    "prod": {"duration": 30, "growth": 10, "bake": 30},
}

# AppConfig's JSON Schema validators understand draft-04 only.
TENANT_ACTIVATION_SCHEMA: dict[str, Any] = {
    "$schema": "http://json-schema.org/draft-04/schema#",
    "title": "Tenant activation (DESIGN G13): the modules active for each tenant of the stack",
    "type": "object",
    "additionalProperties": False,
    "required": ["environment", "tenants"],
    "properties": {
        "environment": {"enum": list(get_args(Environment))},
        "tenants": {
            "type": "array",
            "minItems": 1,
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["id", "name", "institutionType", "jurisdictions", "activeModules"],
                "properties": {
                    "id": {"type": "string", "pattern": "^[a-z0-9]+(-[a-z0-9]+)*$", "maxLength": 40},
                    "name": {"type": "string", "minLength": 2},
                    "institutionType": {"enum": list(get_args(InstitutionType))},
                    "jurisdictions": {
                        "type": "array",
                        "minItems": 1,
                        "uniqueItems": True,
                        "items": {"enum": list(get_args(Jurisdiction))},
                    },
                    "activeModules": {
                        "type": "array",
                        "uniqueItems": True,
                        "items": {"type": "string", "pattern": "^MOD-[0-9]{3}$"},
                    },
                },
            },
        },
    },
}


@dataclass(frozen=True)
class RuntimeConfig:
    parameters: dict[str, aws.ssm.Parameter]  # by SSM path
    applications: dict[str, aws.appconfig.Application]  # by domain "SD01"…
    tenant_activation: aws.appconfig.HostedConfigurationVersion
    tenant_activation_profile: aws.appconfig.ConfigurationProfile
    tenant_activation_deployment: aws.appconfig.Deployment
    environments: dict[str, aws.appconfig.Environment]  # by domain
    deployment_strategy: aws.appconfig.DeploymentStrategy
    # The ARN a service reads a profile by (appconfig:GetLatestConfiguration), by model name "SD07/tenant-activation".
    profile_arns: dict[str, pulumi.Output[str]]


def tenant_activation_document(platform: PlatformSpec) -> str:
    """The activation profile's content: stable text (sorted keys, no spaces), so only a real change deploys."""
    document = {"environment": platform.config.environment, "tenants": tenant_entries(platform)}
    return json.dumps(document, sort_keys=True, separators=(",", ":"))


def build_runtime_config(bootstrap: AwsBootstrap) -> RuntimeConfig:
    spec = bootstrap.deployment.spec
    env = bootstrap.context.environment
    arns = StackArns(bootstrap.inputs["region"], bootstrap.inputs["awsAccountId"])

    applications: dict[str, aws.appconfig.Application] = {}
    environments: dict[str, aws.appconfig.Environment] = {}
    for domain in DOMAINS.values():
        key = domain.id.lower()
        applications[domain.id] = aws.appconfig.Application(
            f"{spec.resource_name}-appconfig-{key}",
            name=f"bank-{env}-{key}",
            description=f"{domain.id} {domain.name}: runtime configuration of its modules",
            tags=spec.tags,
            opts=bootstrap.child_options(),
        )
        environments[domain.id] = aws.appconfig.Environment(
            f"{spec.resource_name}-appconfig-{key}-{env}",
            name=env,
            application_id=applications[domain.id].id,
            description=f"the {env} stack",
            tags=spec.tags,
            opts=bootstrap.child_options(),
        )

    pace = DEPLOYMENT_PACE[env]
    strategy = aws.appconfig.DeploymentStrategy(
        f"{spec.resource_name}-appconfig-strategy",
        name=f"bank-{env}-linear",
        description=f"linear, {pace['growth']:g}% steps over {pace['duration']:g} min, then {pace['bake']:g} min bake",
        deployment_duration_in_minutes=int(pace["duration"]),
        growth_type="LINEAR",
        growth_factor=pace["growth"],
        final_bake_time_in_minutes=int(pace["bake"]),
        replicate_to="NONE",
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )

    platform_app = applications[PLATFORM_APPCONFIG_DOMAIN]
    platform_env = environments[PLATFORM_APPCONFIG_DOMAIN]
    profile = aws.appconfig.ConfigurationProfile(
        f"{spec.resource_name}-tenant-activation",
        name=TENANT_ACTIVATION_PROFILE,
        application_id=platform_app.id,
        description="which modules are active for which tenant (DESIGN G13); the only runtime source of activation",
        location_uri="hosted",
        # Free-form JSON with a JSON Schema: AppConfig refuses a version that does not match before it deploys.
        type="AWS.Freeform",
        validators=[
            aws.appconfig.ConfigurationProfileValidatorArgs(
                type="JSON_SCHEMA", content=json.dumps(TENANT_ACTIVATION_SCHEMA, sort_keys=True)
            )
        ],
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    version = aws.appconfig.HostedConfigurationVersion(
        f"{spec.resource_name}-tenant-activation-version",
        application_id=platform_app.id,
        configuration_profile_id=profile.configuration_profile_id,
        content_type="application/json",
        # Tenants are stack config: read through StackInputs, so a --secret tenants list would stay secret.
        content=bootstrap.inputs.derived("tenants", lambda _: tenant_activation_document(bootstrap.context.platform)),
        description="from bank:tenants and the catalogue's module activation matrix (bankctl tenants)",
        opts=bootstrap.child_options(),
    )
    deployment = aws.appconfig.Deployment(
        f"{spec.resource_name}-tenant-activation-deployment",
        application_id=platform_app.id,
        environment_id=platform_env.environment_id,
        configuration_profile_id=profile.configuration_profile_id,
        configuration_version=version.version_number.apply(str),
        deployment_strategy_id=strategy.id,
        description="tenant activation",
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    profile_arns = {
        profile_name(PLATFORM_APPCONFIG_DOMAIN, TENANT_ACTIVATION_PROFILE): pulumi.Output.concat(
            arns.regional("appconfig", "application/"),
            platform_app.id,
            "/environment/",
            platform_env.environment_id,
            "/configuration/",
            profile.configuration_profile_id,
        )
    }

    parameters = _ssm_baseline(bootstrap, applications, environments, profile)
    runtime = RuntimeConfig(
        parameters=parameters,
        applications=applications,
        tenant_activation=version,
        tenant_activation_profile=profile,
        tenant_activation_deployment=deployment,
        environments=environments,
        deployment_strategy=strategy,
        profile_arns=profile_arns,
    )
    attach_service_policies(bootstrap, runtime)
    return runtime


def _ssm_baseline(
    bootstrap: AwsBootstrap,
    applications: dict[str, aws.appconfig.Application],
    environments: dict[str, aws.appconfig.Environment],
    profile: aws.appconfig.ConfigurationProfile,
) -> dict[str, aws.ssm.Parameter]:
    """/bank/{env}/platform/…: the facts other modules read, none of them secret."""
    spec = bootstrap.deployment.spec
    env = bootstrap.context.environment
    inputs = bootstrap.inputs
    identity = bootstrap.identity
    events = bootstrap.events
    storage = bootstrap.storage
    facts: list[tuple[str, Any, str]] = [
        ("region", inputs["region"], "the stack's AWS region"),
        ("tenants", inputs.derived("tenants", lambda ts: ",".join(t.id for t in ts)), "the tenants (bank:tenants)"),
        ("jurisdictions", inputs.derived("tenants", _jurisdictions), "the jurisdictions of its tenants"),
        ("cognito/customer-user-pool-id", identity.customer_pool.id, "customer user pool"),
        ("cognito/customer-user-pool-arn", identity.customer_pool.arn, "customer user pool"),
        ("cognito/customer-client-id", identity.customer_client.id, "customer apps' app client"),
        ("cognito/internal-user-pool-id", identity.internal_pool.id, "staff user pool"),
        ("cognito/internal-user-pool-arn", identity.internal_pool.arn, "staff user pool"),
        ("cognito/internal-client-id", identity.internal_client.id, "staff tools' app client (its secret is not here)"),
        ("iam/permissions-boundary-arn", identity.permissions_boundary.arn, "boundary every service role carries"),
        ("appconfig/tenant-activation-profile-id", profile.configuration_profile_id, "in the SD07 application"),
    ]
    for bucket in ("documents", "audit_archive", "landing_zone", "artifacts", "access_logs"):
        name = bucket.replace("_", "-")
        facts.append((f"storage/{name}-bucket-name", getattr(storage, bucket).bucket.bucket, f"the {name} bucket"))
    for domain in DOMAINS.values():
        key = domain.id.lower()
        parts = events.domains[domain.id]
        facts += [
            (f"{key}/event-bus-name", parts.bus.name, f"{domain.id} event bus"),
            (f"{key}/event-bus-arn", parts.bus.arn, f"{domain.id} event bus"),
            (f"{key}/stream-arn", parts.stream.arn, f"{domain.id} Kinesis stream"),
            (f"{key}/kms-key-arn", parts.key.arn, f"{domain.id} envelope encryption key"),
            (f"{key}/appconfig-application-id", applications[domain.id].id, f"{domain.id} AppConfig application"),
            (f"{key}/appconfig-environment-id", environments[domain.id].environment_id, f"its {env} environment"),
        ]
        api = bootstrap.apis.domains.get(domain.id)
        if api is not None:  # the domains with an HTTP API (model/domain_apis.py)
            facts += [
                (f"{key}/api-id", api.api.id, f"{domain.id} HTTP API"),
                (f"{key}/api-url", api.url, f"{domain.id} HTTP API's URL ($default stage)"),
            ]
    baseline = PlatformBaseline(f"{spec.resource_name}-platform", bootstrap.child_options())
    parameters = {}
    for path, value, description in facts:
        name = f"/bank/{env}/platform/{path}"
        parameters[name] = aws.ssm.Parameter(
            f"{spec.resource_name}-platform-{path.replace('/', '-')}",
            name=name,
            type="StringList" if path in ("tenants", "jurisdictions") else "String",
            # Not secret: pulumi-aws always marks `value` secret; `insecure_value` keeps these facts reviewable.
            insecure_value=value,
            description=description,
            tags=spec.tags,
            opts=pulumi.ResourceOptions(parent=baseline),
        )
    baseline.register_outputs({"path": f"/bank/{env}/platform/", "count": len(parameters)})
    return parameters


class PlatformBaseline(pulumi.ComponentResource):
    """The /bank/{env}/platform/ parameters as one unit of MOD-104: apart from the module's own record, which is
    the one SSM parameter directly under a module's component (the phase gate's `/bank/{env}/{slug}/release`)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions):
        super().__init__("bank:foundation:PlatformBaseline", name, None, opts)


def _jurisdictions(tenants) -> str:
    return ",".join(sorted({j for t in tenants for j in t.jurisdictions}))
