"""Turns a validated PlatformSpec into the resource graph.

Every module is one component; every phase one PhaseGate. A module depends on
the gates its phase waits for (the gate column) and on the modules it needs;
a gate depends on every module of its phase. The gates therefore live in the
resource graph itself, and `pulumi up` deploys in the sequence document's order
with every independent module in parallel.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import pulumi
import pulumi_aws as aws

from components.build_context import BuildContext
from components.flyway_migration import FlywayMigration
from components.module_component import ModuleComponent
from components.phase_gate import PhaseGate, gate_environment
from components.service_module import ServiceModule
from components.stack_inputs import StackInputs
from foundation.aws_bootstrap import AwsBootstrap
from foundation.dba_access_control import DbaAccessControl
from foundation.modules import FoundationModule
from foundation.neon_database_bootstrap import POSTGRES_PORT, NeonDatabaseBootstrap
from foundation.observability_platform import ObservabilityPlatform
from foundation.secrets_key_management import SecretsKeyManagement
from foundation.snowflake_configuration import SnowflakeConfiguration
from model.platform import PlatformSpec, record_json

# Each foundation module's footprint has its own class, in its own file under foundation/ (by slug).
FOUNDATION_COMPONENTS: dict[str, type[FoundationModule]] = {
    "aws-bootstrap": AwsBootstrap,
    "neon-database-bootstrap": NeonDatabaseBootstrap,
    "snowflake-configuration": SnowflakeConfiguration,
    "secrets-key-management": SecretsKeyManagement,
    "observability-platform": ObservabilityPlatform,
    "dba-access-control": DbaAccessControl,
}

# Services the local stack's provider sends to the AWS emulator (DESIGN G10): every service the program calls, so
# that nothing the local stack does can reach a real AWS account (tests/test_local_stack.py holds the list to the
# local plan's resource types). SQS is the service modules' queues.
EMULATED_SERVICES = (
    "apigatewayv2",
    "appconfig",
    "cloudtrail",
    "cloudwatch",
    "cognitoidp",
    "events",
    "firehose",
    "iam",
    "kinesis",
    "kms",
    "lambda_",
    "logs",
    "s3",
    "secretsmanager",
    "sns",
    "sqs",
    "ssm",
    "sts",
    "xray",
)


@dataclass
class BuiltPlatform:
    provider: aws.Provider
    modules: dict[str, ModuleComponent]
    gates: dict[str, PhaseGate]


def aws_provider(inputs: StackInputs) -> aws.Provider:
    """One explicit provider: the stack may touch only its own account (allowed_account_ids)."""
    config = inputs.config
    args: dict = {
        "region": inputs["region"],
        "allowed_account_ids": [inputs["awsAccountId"]],
        "default_tags": aws.ProviderDefaultTagsArgs(
            tags={"bank:environment": config.environment, "bank:managed-by": "pulumi", "bank:project": "bank"}
        ),
    }
    if config.local is not None:
        endpoint = inputs.derived("local.awsEndpoint", lambda url: url.rstrip("/"))
        args |= {
            "endpoints": [aws.ProviderEndpointArgs(**{service: endpoint for service in EMULATED_SERVICES})],
            "skip_credentials_validation": True,
            # The account ID is still requested (the emulator answers STS): allowed_account_ids needs it.
            "s3_use_path_style": True,
        }
    return aws.Provider(f"aws-{config.environment}", **args)


def gate_api_urls(platform: PlatformSpec, context: BuildContext, phase_key: str) -> dict[str, pulumi.Output[str]]:
    """The URLs of the domain APIs a phase's modules serve, as the gate's inputs (`BANK_API_URL_SD01`, …): the gate
    checks the phase through them (e.g. Phase 1's core-banking health endpoint). URLs, never credentials."""
    apis = context.foundation["aws-bootstrap"].apis.domains
    domains = sorted({m.spec.domain for m in platform.gate_members(phase_key)} & set(apis))
    return {f"BANK_API_URL_{domain}": apis[domain].url for domain in domains}


def phase_fingerprint(platform: PlatformSpec, phase_key: str) -> str:
    """Changes when anything the gate checks changes, so the gate re-runs exactly then."""
    records = [m.record(platform.config.environment) for m in platform.gate_members(phase_key)]
    checked = {"phase": phase_key, "records": records}
    if phase_key == FOUNDATION_PHASE:  # the foundation gate also checks every database's migrations
        checked["migrations"] = {db: pin.model_dump() for db, pin in sorted(platform.migrations.items())}
    return hashlib.sha256(record_json(checked).encode()).hexdigest()


# --- schema migrations (deployment sequence, step 0.2; DESIGN §3 "Migrations") --------------------------------
FOUNDATION_PHASE = "0"


def build_migrations(platform: PlatformSpec, context: BuildContext) -> dict[str, FlywayMigration]:
    """Each pinned database's FlywayMigration, built right after MOD-103. Top-level components, not MOD-103's
    children: `depends_on` a component waits for all its children, and MOD-046 (which follows MOD-103) must not
    wait for migrations. Each runs after all of MOD-103 (Flyway's tables get the default privileges only if those
    exist first), reads its build from MOD-104's artifacts bucket, and connects to the direct endpoint."""
    inputs = context.inputs
    databases = context.foundation["neon-database-bootstrap"]
    bucket = context.foundation["aws-bootstrap"].storage.artifacts.bucket.bucket
    if inputs.config.local is None:
        host, port, sslmode = databases.endpoint.host, POSTGRES_PORT, "require"
    else:  # DESIGN G10: the local PostgreSQL, on loopback
        host, port, sslmode = inputs["local.postgresHost"], inputs["local.postgresPort"], "disable"
    return {
        name: FlywayMigration(
            f"{name.replace('_', '-')}-migrations",
            database=name,
            host=host,
            port=port,
            sslmode=sslmode,
            user=databases.databases[name].roles["migration"].name,
            password=databases.databases[name].passwords["migration"].result,
            bucket=bucket,
            pin=pin.model_dump(),
            environment=gate_environment(inputs),
            opts=pulumi.ResourceOptions(depends_on=[databases]),
        )
        for name, pin in sorted(platform.migrations.items())
    }


def build_platform(platform: PlatformSpec) -> BuiltPlatform:
    inputs = StackInputs(platform.config, platform.secret_keys)
    context = BuildContext(platform, inputs)
    provider = aws_provider(inputs)
    modules: dict[str, ModuleComponent] = {}
    gates: dict[str, PhaseGate] = {}
    phases = {p.key: p for p in platform.phases}
    migrations: dict[str, FlywayMigration] = {}
    # What a node's dependants wait for: a module component (all its children), or a gate's check command.
    built: dict[tuple[str, str], pulumi.Resource] = {}
    # Only the edges that are not implied by others (model/platform.py, direct_prerequisites): the same order.
    prerequisites = platform.direct_prerequisites()
    for node in platform.build_order():
        kind, key = node
        depends_on = [built[p] for p in prerequisites[node]]
        if kind == "module":
            deployment = platform.module(key)
            if deployment.spec.database in migrations:
                # Directly too, so a later migration (a new pin) runs before the module update that needs it. (Every
                # service phase follows Phase 0, so its modules are built after the migrations; a phase table that
                # breaks that is what tests/test_sequence_graph.py catches.)
                depends_on.append(migrations[deployment.spec.database].command)
            opts = pulumi.ResourceOptions(providers={"aws": provider}, depends_on=depends_on)
            if deployment.spec.kind == "foundation":
                foundation = FOUNDATION_COMPONENTS[deployment.spec.slug](deployment, context, opts)
                context.foundation[deployment.spec.slug] = modules[key] = foundation
                if deployment.spec.slug == "neon-database-bootstrap":
                    migrations = build_migrations(platform, context)
            else:
                modules[key] = ServiceModule(deployment, context, opts)
            built[node] = modules[key]
        else:
            members = depends_on + (list(migrations.values()) if key == FOUNDATION_PHASE else [])
            gates[key] = PhaseGate(
                phases[key],
                platform.stack,
                phase_fingerprint(platform, key),
                gate_environment(inputs) | gate_api_urls(platform, context, key),
                pulumi.ResourceOptions(depends_on=members),
            )
            # The same wait as `depends_on` the gate (the SDK expands a component to its children, and the check is
            # the gate's only child), but the SDK's cycle check (resource_cycle_breaker, run on every dependency)
            # walks everything upstream of a dependency it is given: from the gate component that is the whole
            # platform before it, from its check command nothing, as the check declares no dependencies of its own
            # and reaches its phase through its parent. The same holds for a migration's command below.
            built[node] = gates[key].check
    return BuiltPlatform(provider=provider, modules=modules, gates=gates)
