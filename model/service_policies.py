"""The policy model of the per-service least-privilege roles (deployment sequence, step 0.1: "IAM roles (per-service
least-privilege roles, ...)"; DESIGN §3 "Per-service roles live in MOD-104").

Pure data, no Pulumi: for a service module of the catalogue and an environment, the statements its role needs,
each as actions plus *references* to resources by what they are (`ResourceRef("kms-key", "SD01")`), never by ARN.
MOD-104's identity part resolves the references to ARNs and writes the role's policy; the permissions boundary
allows exactly the actions this model can grant (`ACTIONS_BY_KIND`). So a service module that needs more extends
this model, never the role.

What a service module's footprint uses, and so what its role may do:
- write its own log group `/bank/{env}/{slug}`;
- decrypt and generate data keys with its domain's KMS key (and the key of any domain whose secrets it reads);
- read exactly its secrets: the catalogue's `secrets` (`/bank/{env}/{domain}/{name}`, operations index) and, if
  it has a database, that database's service credentials (MOD-103, model/database_privileges.py);
- put events on its own domain bus, if it publishes any;
- read its SSM path `/bank/{env}/{slug}/` (operations index: /bank/{env}/{service}/{parameter});
- send to its dead-letter queue `bank-{env}-{slug}-dlq`;
- consume its subscription queue `bank-{env}-{slug}-events`, if it subscribes to anything (DESIGN §3, subscriptions
  are buffered in the subscriber's own queue);
- write X-Ray traces;
- read the tenant activation profile (DESIGN G13: which modules are active for which tenant) and, once the module
  has one, its own AppConfig profile;
- `execute-api:Invoke` the APIs of the modules it calls: its cross-domain `needs` that are service modules.

Statements whose resources get an id only when they are created by a service module (the callees' APIs, the
module's own AppConfig profile) are `granted_by="service-module"`: MOD-104 runs before any of them exists, so
its role policy leaves them out, and the service-module issue attaches them (resolved from this same model) once
the resource exists. Everything else is named by convention and granted by MOD-104 ahead of time.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Literal

from model.catalogue import ModuleSpec
from model.database_privileges import DatabaseRole, database_domain, role_secret_name

ResourceKind = Literal[
    "log-group",
    "kms-key",
    "secret",
    "event-bus",
    "ssm-path",
    "sqs-queue",
    "xray",
    "appconfig-profile",
    "execute-api",
]
GrantedBy = Literal["aws-bootstrap", "service-module"]

# Every action the model can grant, by the kind of resource it acts on. The permissions boundary allows exactly
# these (identity.py), so a statement outside them would be capped by the boundary; a test holds the two together.
ACTIONS_BY_KIND: dict[ResourceKind, tuple[str, ...]] = {
    "log-group": ("logs:CreateLogStream", "logs:PutLogEvents"),
    "kms-key": ("kms:Decrypt", "kms:GenerateDataKey"),
    "secret": ("secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"),
    "event-bus": ("events:PutEvents",),
    "ssm-path": ("ssm:GetParameter", "ssm:GetParameters", "ssm:GetParametersByPath"),
    "sqs-queue": (
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",
    ),
    # X-Ray's write and sampling actions support no resource-level permissions: their only resource is "*".
    "xray": ("xray:GetSamplingRules", "xray:GetSamplingTargets", "xray:PutTelemetryRecords", "xray:PutTraceSegments"),
    "appconfig-profile": ("appconfig:GetLatestConfiguration", "appconfig:StartConfigurationSession"),
    "execute-api": ("execute-api:Invoke",),
}

# The one profile every service reads: tenant activation, in the SD07 platform application (DESIGN G13).
PLATFORM_APPCONFIG_DOMAIN = "SD07"
TENANT_ACTIVATION_PROFILE = "tenant-activation"


@dataclass(frozen=True, order=True)
class ResourceRef:
    """A resource by what it is: `kind` and a name in that kind's own terms (a path, a domain, a slug)."""

    kind: ResourceKind
    name: str


@dataclass(frozen=True)
class PolicyStatement:
    sid: str
    actions: tuple[str, ...]
    resources: tuple[ResourceRef, ...]
    granted_by: GrantedBy = "aws-bootstrap"

    @property
    def kind(self) -> ResourceKind:
        (kind,) = {r.kind for r in self.resources}
        return kind


# --- names the service modules' footprints use (operations index conventions; DESIGN §3) ----------------------------
def role_name(environment: str, slug: str) -> str:
    # IAM role names are at most 64 characters; slugs at most 48 (catalogue), so `bank-local-` + 48 = 59 fits.
    return f"bank-{environment}-{slug}"


def log_group_name(environment: str, slug: str) -> str:
    return f"/bank/{environment}/{slug}"


def dead_letter_queue_name(environment: str, slug: str) -> str:
    return f"bank-{environment}-{slug}-dlq"


def subscription_queue_name(environment: str, slug: str) -> str:
    return f"bank-{environment}-{slug}-events"


def function_name(environment: str, slug: str) -> str:
    # Lambda function names are at most 64 characters: `bank-local-` + a 48-character slug is 59.
    return f"bank-{environment}-{slug}"


# The alias every caller and event source mapping invokes; blue-green moves it to a version once that version is
# healthy (DESIGN §3 "Blue-green").
LIVE_ALIAS = "live"
# EventBridge rule names are at most 64 characters (EventBridge API reference, PutRule `Name`).
RULE_NAME_MAX = 64


def subscription_rule_name(environment: str, slug: str, subscription: str) -> str:
    """The rule on the source domain's bus that feeds one subscription (`SD01:account.created`) into the module's
    queue: readable where it fits in 64 characters, else cut and ended by 8 hex of the subscription, so it stays
    unique and the same on every run."""
    domain, _, event = subscription.partition(":")
    readable = f"bank-{environment}-{slug}-{domain.lower()}-{event.replace('.', '-')}"
    if len(readable) <= RULE_NAME_MAX:
        return readable
    digest = hashlib.sha256(subscription.encode()).hexdigest()[:8]
    return readable[: RULE_NAME_MAX - 9].rstrip("-") + "-" + digest


def appconfig_environment_name(environment: str, slug: str) -> str:
    """The module's own AppConfig environment in its domain's application. Own, not the domain's shared one:
    AppConfig runs one deployment at a time per environment (a second StartDeployment is a ConflictException), so
    twenty modules of a step deploying their flags side by side into one environment would fail."""
    return f"{environment}-{slug}"


def parameter_path(environment: str, slug: str) -> str:
    """The module's own SSM path (operations index: /bank/{env}/{service}/{parameter})."""
    return f"/bank/{environment}/{slug}/"


def secret_name(environment: str, domain: str, name: str) -> str:
    """A secret's name in Secrets Manager (operations index: /bank/{env}/{domain}/{secret-name})."""
    return f"/bank/{environment}/{domain.lower()}/{name}"


def profile_name(domain: str, profile: str) -> str:
    """An AppConfig profile by its application's domain and its own name: `SD07/tenant-activation`."""
    return f"{domain}/{profile}"


# --- what a module uses ----------------------------------------------------------------------------------------------
def secret_names(spec: ModuleSpec, environment: str) -> tuple[str, ...]:
    """Exactly the secrets the module reads: its catalogue secrets, and its database's service credentials."""
    names = [secret_name(environment, spec.domain, name) for name in spec.secrets]
    if spec.database is not None:
        names.append(role_secret_name(environment, DatabaseRole(spec.database, "service")))
    return tuple(sorted(set(names)))


def key_domains(spec: ModuleSpec) -> tuple[str, ...]:
    """The domains whose KMS key the module uses: its own, and the owner of its database's credentials."""
    domains = {spec.domain}
    if spec.database is not None:
        domains.add(database_domain(spec.database))
    return tuple(sorted(domains))


def callees(spec: ModuleSpec, modules_by_id: Mapping[str, ModuleSpec]) -> tuple[str, ...]:
    """The slugs of the service modules it calls over their APIs: its cross-domain `needs` (foundation modules and
    its own domain's modules are not called over execute-api)."""
    found = {
        modules_by_id[n].slug
        for n in spec.needs
        if n in modules_by_id and modules_by_id[n].kind == "service" and modules_by_id[n].domain != spec.domain
    }
    return tuple(sorted(found))


def service_statements(
    spec: ModuleSpec, environment: str, modules_by_id: Mapping[str, ModuleSpec]
) -> tuple[PolicyStatement, ...]:
    """Every statement the module's role needs, in a fixed order (the policy text is deterministic)."""
    if spec.kind != "service":
        raise ValueError(f"{spec.slug} is a {spec.kind} module; only service modules get a per-service role")
    slug = spec.slug
    statements = [
        PolicyStatement(
            "WriteOwnLogs", ACTIONS_BY_KIND["log-group"], (ResourceRef("log-group", log_group_name(environment, slug)),)
        ),
        PolicyStatement(
            "UseDomainKeys", ACTIONS_BY_KIND["kms-key"], tuple(ResourceRef("kms-key", d) for d in key_domains(spec))
        ),
    ]
    secrets = secret_names(spec, environment)
    if secrets:
        statements.append(
            PolicyStatement(
                "ReadOwnSecrets", ACTIONS_BY_KIND["secret"], tuple(ResourceRef("secret", s) for s in secrets)
            )
        )
    if spec.publishes:
        statements.append(
            PolicyStatement(
                "PublishOnOwnDomainBus", ACTIONS_BY_KIND["event-bus"], (ResourceRef("event-bus", spec.domain),)
            )
        )
    statements.append(
        PolicyStatement(
            "ReadOwnParameters",
            ACTIONS_BY_KIND["ssm-path"],
            (ResourceRef("ssm-path", parameter_path(environment, slug)),),
        )
    )
    statements.append(
        PolicyStatement(
            "SendToDeadLetterQueue",
            ("sqs:SendMessage",),
            (ResourceRef("sqs-queue", dead_letter_queue_name(environment, slug)),),
        )
    )
    if spec.subscribes:
        statements.append(
            PolicyStatement(
                "ConsumeSubscriptionQueue",
                (
                    "sqs:ChangeMessageVisibility",
                    "sqs:DeleteMessage",
                    "sqs:GetQueueAttributes",
                    "sqs:ReceiveMessage",
                ),
                (ResourceRef("sqs-queue", subscription_queue_name(environment, slug)),),
            )
        )
    statements.append(PolicyStatement("WriteTraces", ACTIONS_BY_KIND["xray"], (ResourceRef("xray", "*"),)))
    statements.append(
        PolicyStatement(
            "ReadTenantActivation",
            ACTIONS_BY_KIND["appconfig-profile"],
            (ResourceRef("appconfig-profile", profile_name(PLATFORM_APPCONFIG_DOMAIN, TENANT_ACTIVATION_PROFILE)),),
        )
    )
    statements.append(
        PolicyStatement(
            "ReadOwnProfile",
            ACTIONS_BY_KIND["appconfig-profile"],
            (ResourceRef("appconfig-profile", profile_name(spec.domain, slug)),),
            granted_by="service-module",
        )
    )
    called = callees(spec, modules_by_id)
    if called:
        statements.append(
            PolicyStatement(
                "InvokeCalleeApis",
                ACTIONS_BY_KIND["execute-api"],
                tuple(ResourceRef("execute-api", c) for c in called),
                granted_by="service-module",
            )
        )
    return tuple(statements)


def model_problems(statements: tuple[PolicyStatement, ...]) -> list[str]:
    """What would make a statement unusable: mixed kinds, or an action its kind's boundary does not allow."""
    problems = []
    for s in statements:
        kinds = {r.kind for r in s.resources}
        if len(kinds) != 1:
            problems.append(f"{s.sid}: one statement acts on one kind of resource, not {sorted(kinds)}")
            continue
        outside = sorted(set(s.actions) - set(ACTIONS_BY_KIND[s.kind]))
        if outside:
            problems.append(f"{s.sid}: {', '.join(outside)} not allowed on {s.kind} by the permissions boundary")
    return problems
