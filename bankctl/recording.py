"""Runs a Pulumi program under Pulumi's own mock runtime and records every registration.

No engine, no provider plugins, no credentials: `pulumi.runtime.set_mocks` with a
recording monitor (the public `monitor=` argument). The program is the real one;
the pulumi-aws and pulumi-command SDKs still check every argument it passes.

What is recorded is what the engine would store for a fresh deployment (pulumi/pulumi,
pkg/resource/deploy/source_eval.go `RegisterResource`, step_generator.go, step_executor.go):
type, name, parent, custom, dependencies (components already expanded to their children by
the SDK), property dependencies, inputs, the resource options the engine keeps in state
(protect, retainOnDelete, deletedWith, ignoreChanges, replaceOnChanges,
additionalSecretOutputs, customTimeouts in seconds, aliases as URNs), the provider
reference, and the default providers the engine itself registers for resources that name
no provider. Ids and cloud-computed outputs are mocked (`MOCKED_RESOURCES`), deterministically.
"""

from __future__ import annotations

import base64
import hashlib
import re
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.proto import resource_pb2
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

# Pulumi's wire markers (sdk/go/common/resource/sig): a map holding SECRET_SIG under SIG_KEY is a secret.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
REDACTED = "[secret]"
# The engine's placeholder for a value known only after deployment (pkg/resource/stack, computedValuePlaceholder).
UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9"
# Marks every id or ARN the mock had to invent for a type it has no row for: nothing invented passes as real.
OFFLINE_INVENTED = "offline-invented"

PROVIDER_TYPE_PREFIX = "pulumi:providers:"
STACK_TYPE = "pulumi:pulumi:Stack"
# uuid5 namespace of every id the plan derives from a URN (provider ids, subscription suffixes).
_PLAN_NAMESPACE = uuid.uuid5(uuid.NAMESPACE_URL, "https://github.com/pulumi/pulumi#offline-plan")


def provider_id(urn: str) -> str:
    """A provider's id: UUID-shaped as the engine's (a uuid4 drawn at create), but stable: uuid5 of its URN."""
    return str(uuid.uuid5(_PLAN_NAMESPACE, urn))


def secret_marker() -> dict[str, str]:
    return {SIG_KEY: SECRET_SIG, "ciphertext": REDACTED}


@dataclass
class Registration:
    urn: str
    type: str
    name: str
    custom: bool
    parent: str
    dependencies: list[str]
    property_dependencies: dict[str, list[str]]
    protect: bool
    retain_on_delete: bool
    provider: str
    id: str
    inputs: dict[str, Any]
    outputs: dict[str, Any] = field(default_factory=dict)
    additional_secret_outputs: list[str] = field(default_factory=list)
    aliases: list[str] = field(default_factory=list)
    custom_timeouts: dict[str, float | int] = field(default_factory=dict)
    deleted_with: str = ""
    ignore_changes: list[str] = field(default_factory=list)
    replace_on_changes: list[str] = field(default_factory=list)


def scrub(value: Any) -> Any:
    """JSON from the wire: secrets become markers without their value; whole floats become ints
    (protobuf Structs carry every number as a double)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return secret_marker()
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


# --- URNs, as the engine forms them (sdk/go/common/resource/urn.go NewURN) ------------------------------------
def new_urn(stack: str, project: str, parent_type: str, type_: str, name: str) -> str:
    if parent_type and parent_type != STACK_TYPE:
        type_ = parent_type + "$" + type_
    return f"urn:pulumi:{stack}::{project}::{type_}::{name}"


def urn_qualified_type(urn: str) -> str:
    return urn.split("::")[2]


def urn_type(urn: str) -> str:
    return urn_qualified_type(urn).split("$")[-1]


def urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


# --- customTimeouts: the engine stores seconds (source_eval.go generateTimeoutInSeconds: Go time.ParseDuration) -
_DURATION_UNITS = {"ns": 1e-9, "us": 1e-6, "µs": 1e-6, "μs": 1e-6, "ms": 1e-3, "s": 1.0, "m": 60.0, "h": 3600.0}
_DURATION_PART = re.compile(r"(\d+(?:\.\d*)?|\.\d+)(ns|us|µs|μs|ms|s|m|h)")


def duration_seconds(text: str) -> float | int:
    """Go's time.ParseDuration, in seconds: "5m" → 300, "1h30m" → 5400, "1.5s" → 1.5."""
    body = text[1:] if text[:1] in "+-" else text
    parts = _DURATION_PART.findall(body)
    if body == "0":
        return 0
    if not parts or "".join(n + u for n, u in parts) != body:
        raise ValueError(f"unable to parse customTimeout Value {text}")
    seconds = sum(float(n) * _DURATION_UNITS[u] for n, u in parts) * (-1 if text.startswith("-") else 1)
    return int(seconds) if float(seconds).is_integer() else seconds


class OfflineCallError(RuntimeError):
    """The program asked a provider something only a real cloud account can answer."""


# --- Mocked ids and outputs -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class MockContext:
    """What the mock knows of a resource being created: enough to form its id and ARN as the real provider would."""

    urn: str
    type: str
    name: str
    inputs: dict[str, Any]
    region: str
    account_id: str

    def arn(self, service: str, resource: str, *, region: str | None = None, account: str | None = None) -> str:
        region = self.region if region is None else region
        account = self.account_id if account is None else account
        return f"arn:aws:{service}:{region}:{account}:{resource}"

    def hex(self, length: int) -> str:
        """Stands in for the random hex a provider appends: derived from the URN, so the same every run."""
        return hashlib.sha256(self.urn.encode()).hexdigest()[:length]

    def uuid(self) -> str:
        return str(uuid.uuid5(_PLAN_NAMESPACE, self.urn))

    def physical_name(self, key: str = "name") -> str:
        """The input name, or an autoname as Pulumi forms it: the logical name, "-", 7 hex characters."""
        given = self.inputs.get(key)
        return given if isinstance(given, str) and given else f"{self.name}-{self.hex(7)}"


# A row returns (id, outputs the provider computes). Recorded outputs are the inputs plus these.
MockIdentity = Callable[[MockContext], tuple[str, dict[str, Any]]]


def _ssm_parameter(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the parameter name; ARN drops the name's leading "/": arn:aws:ssm:R:A:parameter/bank/dev/...
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("ssm", "parameter/" + name.lstrip("/"))}


def _sns_topic(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:sns:R:A:NAME (FIFO topics end in .fifo; autonaming adds it).
    name = ctx.physical_name()
    if ctx.inputs.get("fifoTopic") and not name.endswith(".fifo"):
        name += ".fifo"
    arn = ctx.arn("sns", name)
    return arn, {"name": name, "arn": arn}


def _sns_topic_subscription(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = the topic's ARN + ":" + a subscription UUID (the provider asks SNS to return the ARN even
    # before confirmation); email and http(s) endpoints stay pending until someone confirms.
    topic = ctx.inputs.get("topic")
    if not isinstance(topic, str) or not topic.startswith("arn:aws:sns:"):
        topic = ctx.arn("sns", f"{OFFLINE_INVENTED}-topic")
    arn = f"{topic}:{ctx.uuid()}"
    pending = ctx.inputs.get("protocol") in ("email", "email-json", "http", "https")
    return arn, {"arn": arn, "ownerId": ctx.account_id, "pendingConfirmation": pending}


def _local_command(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # pulumi-command: id = name + 8 random hex (resource.NewUniqueHex(name, 8, 0)); stdout and stderr exist only
    # once the command has run, so they stay unknown, as in a preview.
    return ctx.name + ctx.hex(8), {"stdout": UNKNOWN, "stderr": UNKNOWN}


def _snowflake_name(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # Snowflake account objects (warehouse, database, role, user): id = the quoted name, `"NAME"`, as the provider's
    # import format (helpers.EncodeResourceIdentifier); fullyQualifiedName is the same.
    name = f'"{ctx.physical_name()}"'
    return name, {"fullyQualifiedName": name}


def _snowflake_schema(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `"DATABASE"."SCHEMA"` (import format of snowflake_schema).
    name = f'"{ctx.inputs.get("database")}"."{ctx.physical_name()}"'
    return name, {"fullyQualifiedName": name}


def _snowflake_table(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `database|schema|table` (import format of snowflake_table); fullyQualifiedName quotes each part.
    parts = (str(ctx.inputs.get("database")), str(ctx.inputs.get("schema")), ctx.physical_name())
    return "|".join(parts), {"fullyQualifiedName": ".".join(f'"{p}"' for p in parts)}


def _snowflake_grant_account_role(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `"ROLE"|ROLE|"PARENT_ROLE"` or `"ROLE"|USER|"USER"` (import format of snowflake_grant_account_role).
    grantee = (
        ("ROLE", ctx.inputs["parentRoleName"])
        if ctx.inputs.get("parentRoleName")
        else ("USER", ctx.inputs.get("userName"))
    )
    return f'"{ctx.inputs.get("roleName")}"|{grantee[0]}|"{grantee[1]}"', {}


def _snowflake_grant_privileges(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `"ROLE"|withGrantOption|alwaysApply|PRIVILEGES|<kind>|<target>` (import format of
    # snowflake_grant_privileges_to_account_role), e.g. `"R"|false|false|SELECT|OnSchemaObject|OnAll|TABLES|InSchema|"D"."S"`.
    i = ctx.inputs
    privileges = "ALL" if i.get("allPrivileges") else ",".join(i.get("privileges") or [])
    head = f'"{i.get("accountRoleName")}"|{str(bool(i.get("withGrantOption"))).lower()}|'
    head += f"{str(bool(i.get('alwaysApply'))).lower()}|{privileges}"
    if i.get("onAccount"):
        return f"{head}|OnAccount", {}
    if "onAccountObject" in i:
        target = i["onAccountObject"]
        return f"{head}|OnAccountObject|{target.get('objectType')}|{target.get('objectName')}", {}
    if "onSchema" in i:
        target = i["onSchema"]
        for key, kind in (
            ("schemaName", "OnSchema"),
            ("allSchemasInDatabase", "OnAllSchemasInDatabase"),
            ("futureSchemasInDatabase", "OnFutureSchemasInDatabase"),
        ):
            if target.get(key):
                return f"{head}|OnSchema|{kind}|{target[key]}", {}
    target = i.get("onSchemaObject") or {}
    for key, kind in (("all", "OnAll"), ("future", "OnFuture")):
        if key in target:
            scope = target[key]
            where = (
                ("InSchema", scope["inSchema"]) if scope.get("inSchema") else ("InDatabase", scope.get("inDatabase"))
            )
            return f"{head}|OnSchemaObject|{kind}|{scope.get('objectTypePlural')}|{where[0]}|{where[1]}", {}
    return f"{head}|OnSchemaObject|OnObject|{target.get('objectType')}|{target.get('objectName')}", {}


def _tls_private_key(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # pulumi-tls generates the key at create: the mock invents PEM-shaped stand-ins whose bodies say what they are
    # (`OfflinePlan…`, letters of the base64 alphabet), the same every run. id = sha1 hex of the public key PEM
    # (terraform-provider-tls hashForState). The SDK lists the private forms in additionalSecretOutputs, so the
    # plan stores them as secrets only.
    def pem(label: str, body: str) -> str:
        lines = [body[i : i + 64] for i in range(0, len(body), 64)]
        return "\n".join([f"-----BEGIN {label}-----", *lines, f"-----END {label}-----"]) + "\n"

    digest = ctx.hex(64)
    public_pem = pem("PUBLIC KEY", f"OfflinePlanPublicKey{digest}")
    return hashlib.sha1(public_pem.strip().encode()).hexdigest(), {
        "publicKeyPem": public_pem,
        "publicKeyOpenssh": f"ssh-rsa OfflinePlanPublicKey{digest}\n",
        "publicKeyFingerprintMd5": ":".join(digest[i : i + 2] for i in range(0, 32, 2)),
        "publicKeyFingerprintSha256": f"SHA256:OfflinePlan{digest[:32]}",
        # Private forms share nothing with the public ones, so a leak of either is told apart in a plan.
        **{
            output: pem(label, f"OfflinePlanPrivateKey{hashlib.sha256((ctx.urn + output).encode()).hexdigest()}")
            for output, label in (
                ("privateKeyPem", "RSA PRIVATE KEY"),
                ("privateKeyPemPkcs8", "PRIVATE KEY"),
                ("privateKeyOpenssh", "OPENSSH PRIVATE KEY"),
            )
        },
    }


def _firehose_delivery_stream(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:firehose:R:A:deliverystream/NAME.
    name = ctx.physical_name()
    arn = ctx.arn("firehose", f"deliverystream/{name}")
    return arn, {"arn": arn, "name": name, "destinationId": "destinationId-000000000001", "versionId": "1"}


def _secretsmanager_secret(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:secretsmanager:R:A:secret:NAME-XXXXXX (Secrets Manager appends six random characters).
    name = ctx.physical_name()
    arn = ctx.arn("secretsmanager", f"secret:{name}-{ctx.hex(6)}")
    return arn, {"arn": arn, "name": name}


def _secretsmanager_secret_version(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `SECRET_ARN|VERSION_ID`; the version id is a UUID; a new version is labelled AWSCURRENT.
    secret, version = str(ctx.inputs.get("secretId")), ctx.uuid()
    return f"{secret}|{version}", {"arn": secret, "versionId": version, "versionStages": ["AWSCURRENT"]}


def _iam_role(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the role name; arn = arn:aws:iam::A:role/PATH/NAME (IAM is global: no region); uniqueId starts AROA.
    name, path = ctx.physical_name(), ctx.inputs.get("path") or "/"
    arn = ctx.arn("iam", f"role{path}{name}", region="")
    return name, {"arn": arn, "name": name, "path": path, "uniqueId": "AROA" + ctx.hex(17).upper()}


def _iam_role_policy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `ROLE_NAME:POLICY_NAME`.
    name = ctx.physical_name()
    return f"{ctx.inputs.get('role')}:{name}", {"name": name}


def _log_group(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the log group name; arn = arn:aws:logs:R:A:log-group:NAME (the provider drops the trailing ":*").
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("logs", f"log-group:{name}")}


def _log_stream(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the log stream name; arn = arn:aws:logs:R:A:log-group:GROUP:log-stream:NAME.
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("logs", f"log-group:{ctx.inputs.get('logGroupName')}:log-stream:{name}")}


# --- MOD-104 part A: keys, buses, archives, streams, buckets, the trail (pulumi-aws 7 / terraform-provider-aws 6) --
def _kms_key(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the KeyId, a UUID; arn = arn:aws:kms:R:A:key/KEYID.
    key_id = ctx.uuid()
    return key_id, {"keyId": key_id, "arn": ctx.arn("kms", f"key/{key_id}")}


def _kms_alias(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the alias name ("alias/..."); arn = arn:aws:kms:R:A:alias/...; targetKeyArn = the target key's ARN.
    name = ctx.physical_name()
    name = name if name.startswith("alias/") else f"alias/{name}"
    target = str(ctx.inputs.get("targetKeyId", ""))
    target_arn = target if target.startswith("arn:") else ctx.arn("kms", f"key/{target}")
    return name, {"name": name, "arn": ctx.arn("kms", name), "targetKeyArn": target_arn}


def _event_bus(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the bus name; arn = arn:aws:events:R:A:event-bus/NAME.
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("events", f"event-bus/{name}")}


def _event_bus_policy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the bus name (the default bus when none is given).
    return str(ctx.inputs.get("eventBusName") or "default"), {}


def _event_archive(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the archive name; arn = arn:aws:events:R:A:archive/NAME.
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("events", f"archive/{name}")}


def _event_bus_of(ctx: MockContext) -> str:
    bus = str(ctx.inputs.get("eventBusName") or "default")
    return bus.rsplit("event-bus/", 1)[-1]


def _event_rule(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = BUS/RULE, or RULE on the default bus (ruleCreateResourceID); arn = arn:aws:events:R:A:rule/BUS/RULE
    # (rule/RULE on the default bus).
    name, bus = ctx.physical_name(), _event_bus_of(ctx)
    qualified = name if bus == "default" else f"{bus}/{name}"
    return qualified, {"name": name, "arn": ctx.arn("events", f"rule/{qualified}")}


def _event_target(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = BUS-RULE-TARGETID, or RULE-TARGETID on the default bus (targetCreateResourceID joins with "-"); a
    # missing target id is generated ("terraform-" + 26 digits, id.UniqueId).
    target_id = ctx.inputs.get("targetId") or f"terraform-{int(ctx.hex(24), 16) % 10**26:026d}"
    bus = _event_bus_of(ctx)
    parts = ([] if bus == "default" else [bus]) + [str(ctx.inputs.get("rule", "")), str(target_id)]
    return "-".join(parts), {"targetId": target_id}


def _kinesis_stream(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:kinesis:R:A:stream/NAME (the provider sets the id to the StreamARN).
    name = ctx.physical_name()
    arn = ctx.arn("kinesis", f"stream/{name}")
    return arn, {"name": name, "arn": arn}


def _cloudtrail_trail(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:cloudtrail:R:A:trail/NAME (the provider sets the id to the TrailARN).
    name = ctx.physical_name()
    arn = ctx.arn("cloudtrail", f"trail/{name}")
    return arn, {"name": name, "arn": arn, "homeRegion": ctx.region}


def _s3_bucket(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the bucket name; arn = arn:aws:s3:::NAME (S3 ARNs carry neither region nor account).
    name = ctx.physical_name("bucket")
    return name, {
        "bucket": name,
        "arn": ctx.arn("s3", name, region="", account=""),
        "bucketDomainName": f"{name}.s3.amazonaws.com",
        "bucketRegionalDomainName": f"{name}.s3.{ctx.region}.amazonaws.com",
    }


def _s3_bucket_setting(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # A bucket's policy, versioning, encryption, ... : id = the bucket name (BUCKET,OWNER with expectedBucketOwner).
    owner = ctx.inputs.get("expectedBucketOwner")
    bucket = str(ctx.inputs.get("bucket", ""))
    return (f"{bucket},{owner}" if owner else bucket), {}


# --- MOD-103: Neon (dynamic provider, components/neon.py), pulumi-random, pulumi-postgresql ---------------------
def _wire_secret(value: Any) -> dict[str, Any]:
    # An output the real provider returns as a secret: secret on the wire too, so what is computed from it stays
    # secret in the SDK as it would under the engine (the recorder then stores only the marker).
    return {SIG_KEY: SECRET_SIG, "value": value}


_NEON_WORDS = (
    ("ancient", "bold", "calm", "damp", "eager", "fancy", "gentle", "hidden", "icy", "jolly", "keen", "lucky"),
    ("bird", "cloud", "dawn", "field", "forest", "grass", "hill", "lake", "leaf", "moon", "river", "snow"),
)


def _neon_id(ctx: MockContext, prefix: str = "", salt: str = "") -> str:
    # Neon ids: `adjective-noun-12345678`; branches `br-…`, computes `ep-…` (contract: Branch.id, Endpoint.id).
    digest = hashlib.sha256((ctx.urn + salt).encode()).digest()
    adjective, noun = _NEON_WORDS[0][digest[0] % 12], _NEON_WORDS[1][digest[1] % 12]
    return f"{prefix}{adjective}-{noun}-{int.from_bytes(digest[2:8], 'big') % 10**8:08d}"


def _neon_project(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the project id; the default branch `br-…` and the admin role's password come back with it (the
    # password only once, a secret).
    project = _neon_id(ctx)
    return project, {
        "projectId": project,
        "branchId": _neon_id(ctx, "br-", "branch"),
        "adminPassword": _wire_secret(f"OfflinePlanNeonPassword{ctx.hex(24)}"),
    }


def _neon_endpoint(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `ep-…`; host = `ep-….<region>.aws.neon.tech` (regionId `aws-ap-southeast-2`), the PgBouncer host adds
    # `-pooler` to the first label (Neon, Connection pooling).
    endpoint = _neon_id(ctx, "ep-")
    region = str(ctx.inputs.get("regionId", "")).removeprefix("aws-")
    return endpoint, {
        "endpointId": endpoint,
        "host": f"{endpoint}.{region}.aws.neon.tech",
        "poolerHost": f"{endpoint}-pooler.{region}.aws.neon.tech",
    }


def _neon_database(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the database's numeric id (contract: Database.id, int64), as text.
    database_id = int(ctx.hex(12), 16) % 10**7
    return str(database_id), {"databaseId": database_id}


def _random_password(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # terraform-provider-random: id = "none"; `result` and `bcryptHash` are secrets (the SDK lists them in
    # additionalSecretOutputs). The stand-in has the asked length and is the same every run.
    length = int(ctx.inputs.get("length", 16))
    result = ("OfflinePlanPassword" + ctx.hex(64) * 2)[:length]
    return "none", {"result": _wire_secret(result), "bcryptHash": _wire_secret(f"$2a$10$OfflinePlan{ctx.hex(43)}")}


def _postgresql_name(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # postgresql_role and postgresql_database: id = the name.
    return ctx.physical_name(), {}


def _postgresql_schema(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = `DATABASE.SCHEMA` (generateSchemaID).
    return f"{ctx.inputs.get('database')}.{ctx.physical_name()}", {}


def _postgresql_grant(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = role_database[_schema]_objecttype[_objects…][_columns…] (generateGrantID; no schema for database,
    # foreign_data_wrapper and foreign_server grants).
    i = ctx.inputs
    parts = [str(i.get("role")), str(i.get("database"))]
    if i.get("objectType") not in ("database", "foreign_data_wrapper", "foreign_server"):
        parts.append(str(i.get("schema", "")))
    parts += [str(i.get("objectType")), *map(str, i.get("objects") or []), *map(str, i.get("columns") or [])]
    return "_".join(parts), {}


def _postgresql_default_privileges(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = role_database_schema_owner_objecttype, `noschema` without a schema (generateDefaultPrivilegesID).
    i = ctx.inputs
    parts = (i.get("role"), i.get("database"), i.get("schema") or "noschema", i.get("owner"), i.get("objectType"))
    return "_".join(map(str, parts)), {}


# --- MOD-076 / MOD-046: alarms, metric filters, dashboards, X-Ray, topic and log policies ------------------------
def _metric_alarm(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the alarm name; arn = arn:aws:cloudwatch:R:A:alarm:NAME.
    name = ctx.physical_name()
    return name, {"name": name, "arn": ctx.arn("cloudwatch", f"alarm:{name}")}


def _named_without_arn(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the name: metric filters (imported as GROUP:NAME), log account policies (imported as NAME:TYPE) and
    # account-scoped log resource policies; none of them has an ARN.
    key = next((k for k in ("name", "policyName") if ctx.inputs.get(k)), "name")
    return ctx.physical_name(key), {}


def _dashboard(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the dashboard name; dashboardArn = arn:aws:cloudwatch::A:dashboard/NAME (dashboards are global).
    name = ctx.physical_name("dashboardName")
    return name, {"dashboardArn": ctx.arn("cloudwatch", f"dashboard/{name}", region="")}


def _xray_group(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:xray:R:A:group/NAME/ID, ID being 52 base32 characters X-Ray draws.
    name = ctx.physical_name("groupName")
    group_id = base64.b32encode(hashlib.sha256(ctx.urn.encode()).digest()).decode()[:52]
    arn = ctx.arn("xray", f"group/{name}/{group_id}")
    return arn, {"arn": arn}


def _xray_sampling_rule(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the rule name; arn = arn:aws:xray:R:A:sampling-rule/NAME.
    name = ctx.physical_name("ruleName")
    return name, {"arn": ctx.arn("xray", f"sampling-rule/{name}")}


def _sns_topic_policy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the topic's ARN; owner = the account.
    return str(ctx.inputs.get("arn", "")), {"owner": ctx.account_id}


def _lambda_function(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the function name; arn = arn:aws:lambda:R:A:function:NAME; an unpublished function's version is $LATEST,
    # a new function created with publish = true has version 1 (qualified ARN = ARN:VERSION); invokeArn is API
    # Gateway's path to the function.
    name = ctx.physical_name()
    arn = ctx.arn("lambda", f"function:{name}")
    invoke = f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    version = "1" if ctx.inputs.get("publish") else "$LATEST"
    return name, {
        "arn": arn,
        "invokeArn": invoke,
        "qualifiedArn": f"{arn}:{version}",
        "qualifiedInvokeArn": invoke.replace(arn, f"{arn}:{version}"),
        "version": version,
    }


def _lambda_alias(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = the function's ARN + ":" + the alias name (the provider takes the function name or ARN);
    # invokeArn is API Gateway's path to the alias.
    function = str(ctx.inputs.get("functionName", ""))
    function_arn = function if function.startswith("arn:") else ctx.arn("lambda", f"function:{function}")
    arn = f"{function_arn}:{ctx.physical_name()}"
    invoke = f"arn:aws:apigateway:{ctx.region}:lambda:path/2015-03-31/functions/{arn}/invocations"
    return arn, {"arn": arn, "invokeArn": invoke}


def _lambda_event_source_mapping(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = uuid = the mapping's UUID; arn = arn:aws:lambda:R:A:event-source-mapping:UUID; functionArn = the
    # (qualified) function ARN it invokes; a new mapping is Enabled.
    mapping = ctx.uuid()
    function = str(ctx.inputs.get("functionName", ""))
    function_arn = function if function.startswith("arn:") else ctx.arn("lambda", f"function:{function}")
    return mapping, {
        "uuid": mapping,
        "arn": ctx.arn("lambda", f"event-source-mapping:{mapping}"),
        "functionArn": function_arn,
        "state": "Enabled",
    }


def _sqs_queue(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = url = https://sqs.R.amazonaws.com/A/NAME; arn = arn:aws:sqs:R:A:NAME (FIFO queues end in .fifo).
    name = ctx.physical_name()
    if ctx.inputs.get("fifoQueue") and not name.endswith(".fifo"):
        name += ".fifo"
    url = f"https://sqs.{ctx.region}.amazonaws.com/{ctx.account_id}/{name}"
    return url, {"name": name, "arn": ctx.arn("sqs", name), "url": url}


def _sqs_queue_policy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the queue's URL.
    return str(ctx.inputs.get("queueUrl", "")), {}


def _lambda_permission(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the statement id: the one given, else the provider's `terraform-` + 26 digits (PrefixedUniqueId).
    statement = ctx.inputs.get("statementId") or "terraform-" + str(int(ctx.hex(22), 16)).zfill(26)[:26]
    return str(statement), {"statementId": statement}


def _lambda_layer_version(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = the version's ARN, arn:aws:lambda:R:A:layer:NAME:VERSION (a new layer's first version is 1);
    # layerArn is the layer's, without the version; codeSha256 is Lambda's base64 SHA-256 of the zip, which a
    # correct source_code_hash equals.
    layer = ctx.arn("lambda", f"layer:{ctx.physical_name('layerName')}")
    arn = f"{layer}:1"
    computed = {"arn": arn, "layerArn": layer, "version": "1", "codeSha256": ctx.inputs.get("sourceCodeHash", "")}
    return arn, computed


def _secretsmanager_secret_policy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the secret's ARN (import by secret ARN).
    return str(ctx.inputs.get("secretArn", "")), {}


def _secretsmanager_secret_rotation(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the secret id it was given (the secret's ARN); rotation is then enabled.
    return str(ctx.inputs.get("secretId", "")), {"rotationEnabled": True}


# How each real provider forms ids and ARNs, by type token. Add a row when the program registers a new type;
# a type without a row gets an id and ARN that say `offline-invented`.
MOCKED_RESOURCES: dict[str, MockIdentity] = {
    "aws:lambda/function:Function": _lambda_function,
    "aws:lambda/permission:Permission": _lambda_permission,
    "aws:lambda/layerVersion:LayerVersion": _lambda_layer_version,
    "aws:lambda/alias:Alias": _lambda_alias,
    "aws:lambda/eventSourceMapping:EventSourceMapping": _lambda_event_source_mapping,
    "aws:sqs/queue:Queue": _sqs_queue,
    "aws:sqs/queuePolicy:QueuePolicy": _sqs_queue_policy,
    "aws:secretsmanager/secretPolicy:SecretPolicy": _secretsmanager_secret_policy,
    "aws:secretsmanager/secretRotation:SecretRotation": _secretsmanager_secret_rotation,
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicSubscription:TopicSubscription": _sns_topic_subscription,
    "command:local:Command": _local_command,
    "snowflake:index/warehouse:Warehouse": _snowflake_name,
    "snowflake:index/database:Database": _snowflake_name,
    "snowflake:index/accountRole:AccountRole": _snowflake_name,
    "snowflake:index/serviceUser:ServiceUser": _snowflake_name,
    "snowflake:index/schema:Schema": _snowflake_schema,
    "snowflake:index/table:Table": _snowflake_table,
    "snowflake:index/grantAccountRole:GrantAccountRole": _snowflake_grant_account_role,
    "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole": _snowflake_grant_privileges,
    "tls:index/privateKey:PrivateKey": _tls_private_key,
    "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream": _firehose_delivery_stream,
    "aws:secretsmanager/secret:Secret": _secretsmanager_secret,
    "aws:secretsmanager/secretVersion:SecretVersion": _secretsmanager_secret_version,
    "aws:iam/role:Role": _iam_role,
    "aws:iam/rolePolicy:RolePolicy": _iam_role_policy,
    "aws:cloudwatch/logGroup:LogGroup": _log_group,
    "aws:cloudwatch/logStream:LogStream": _log_stream,
    "aws:kms/key:Key": _kms_key,
    "aws:kms/alias:Alias": _kms_alias,
    "aws:cloudwatch/eventBus:EventBus": _event_bus,
    "aws:cloudwatch/eventBusPolicy:EventBusPolicy": _event_bus_policy,
    "aws:cloudwatch/eventArchive:EventArchive": _event_archive,
    "aws:cloudwatch/eventRule:EventRule": _event_rule,
    "aws:cloudwatch/eventTarget:EventTarget": _event_target,
    "aws:kinesis/stream:Stream": _kinesis_stream,
    "aws:cloudtrail/trail:Trail": _cloudtrail_trail,
    "aws:s3/bucket:Bucket": _s3_bucket,
    "aws:s3/bucketPolicy:BucketPolicy": _s3_bucket_setting,
    "aws:s3/bucketVersioning:BucketVersioning": _s3_bucket_setting,
    "aws:s3/bucketServerSideEncryptionConfiguration:BucketServerSideEncryptionConfiguration": _s3_bucket_setting,
    "aws:s3/bucketPublicAccessBlock:BucketPublicAccessBlock": _s3_bucket_setting,
    "aws:s3/bucketOwnershipControls:BucketOwnershipControls": _s3_bucket_setting,
    "aws:s3/bucketLifecycleConfiguration:BucketLifecycleConfiguration": _s3_bucket_setting,
    "aws:s3/bucketLogging:BucketLogging": _s3_bucket_setting,
    "aws:s3/bucketObjectLockConfiguration:BucketObjectLockConfiguration": _s3_bucket_setting,
    "pulumi-python:dynamic/neon:Project": _neon_project,
    "pulumi-python:dynamic/neon:Endpoint": _neon_endpoint,
    "pulumi-python:dynamic/neon:Database": _neon_database,
    "random:index/randomPassword:RandomPassword": _random_password,
    "postgresql:index/role:Role": _postgresql_name,
    "postgresql:index/database:Database": _postgresql_name,
    "postgresql:index/schema:Schema": _postgresql_schema,
    "postgresql:index/grant:Grant": _postgresql_grant,
    "postgresql:index/defaultPrivileges:DefaultPrivileges": _postgresql_default_privileges,
    "aws:cloudwatch/metricAlarm:MetricAlarm": _metric_alarm,
    "aws:cloudwatch/logMetricFilter:LogMetricFilter": _named_without_arn,
    "aws:cloudwatch/logAccountPolicy:LogAccountPolicy": _named_without_arn,
    "aws:cloudwatch/logResourcePolicy:LogResourcePolicy": _named_without_arn,
    "aws:cloudwatch/dashboard:Dashboard": _dashboard,
    "aws:xray/group:Group": _xray_group,
    "aws:xray/samplingRule:SamplingRule": _xray_sampling_rule,
    "aws:sns/topicPolicy:TopicPolicy": _sns_topic_policy,
}


# --- MOD-104 part B: Cognito, IAM policies and OIDC, AppConfig (ARN formats: IAM service authorization reference) --
def _cognito_user_pool(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = REGION_ + 9 alphanumerics; arn = arn:aws:cognito-idp:R:A:userpool/ID; endpoint = cognito-idp.R.amazonaws.com/ID.
    pool_id = f"{ctx.region}_{ctx.hex(9)}"
    return pool_id, {
        "arn": ctx.arn("cognito-idp", f"userpool/{pool_id}"),
        "endpoint": f"cognito-idp.{ctx.region}.amazonaws.com/{pool_id}",
        "name": ctx.physical_name(),
    }


def _cognito_user_pool_client(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = 26 lower-case alphanumerics; a confidential client (generateSecret) also gets a 51-character secret, which
    # the SDK lists in additionalSecretOutputs: the plan stores only the secret marker.
    computed: dict[str, Any] = {"name": ctx.physical_name()}
    if ctx.inputs.get("generateSecret"):
        computed["clientSecret"] = hashlib.sha256(f"{ctx.urn}#clientSecret".encode()).hexdigest()[:51]
    return ctx.hex(26), computed


def _iam_oidc_provider(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:iam::A:oidc-provider/HOST (the URL without its scheme; IAM is global: no region).
    host = str(ctx.inputs.get("url", "")).removeprefix("https://")
    arn = ctx.arn("iam", f"oidc-provider/{host}", region="")
    return arn, {"arn": arn}


def _iam_policy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = arn = arn:aws:iam::A:policy/PATH/NAME; policyId starts ANPA.
    name, path = ctx.physical_name(), ctx.inputs.get("path") or "/"
    arn = ctx.arn("iam", f"policy{path}{name}", region="")
    return arn, {"arn": arn, "name": name, "path": path, "policyId": "ANPA" + ctx.hex(17).upper(), "attachmentCount": 0}


def _iam_role_policy_attachment(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = ROLE- + 26 characters (terraform-plugin-sdk id.PrefixedUniqueId: an 18-digit timestamp, 8 hex of a counter);
    # the timestamp digits are derived from the URN so the plan is the same every run.
    digits = str(int(ctx.hex(16), 16)).zfill(18)[:18]
    return f"{ctx.inputs.get('role')}-{digits}{ctx.hex(8)}", {}


def _appconfig_application(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = 7 lower-case alphanumerics; arn = arn:aws:appconfig:R:A:application/ID.
    app = ctx.hex(7)
    return app, {"arn": ctx.arn("appconfig", f"application/{app}")}


def _appconfig_environment(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = ENV:APP; arn = …:application/APP/environment/ENV.
    env, app = ctx.hex(7), ctx.inputs.get("applicationId")
    arn = ctx.arn("appconfig", f"application/{app}/environment/{env}")
    return f"{env}:{app}", {"environmentId": env, "arn": arn, "state": "ReadyForDeployment"}


def _appconfig_configuration_profile(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = PROFILE:APP; arn = …:application/APP/configurationprofile/PROFILE.
    profile, app = ctx.hex(7), ctx.inputs.get("applicationId")
    arn = ctx.arn("appconfig", f"application/{app}/configurationprofile/{profile}")
    return f"{profile}:{app}", {"configurationProfileId": profile, "arn": arn}


def _appconfig_hosted_configuration_version(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = APP/PROFILE/VERSION; a profile's first hosted version is 1.
    app, profile = ctx.inputs.get("applicationId"), ctx.inputs.get("configurationProfileId")
    arn = ctx.arn("appconfig", f"application/{app}/configurationprofile/{profile}/hostedconfigurationversion/1")
    return f"{app}/{profile}/1", {"versionNumber": 1, "arn": arn}


def _appconfig_deployment_strategy(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = 7 lower-case alphanumerics; arn = arn:aws:appconfig:R:A:deploymentstrategy/ID.
    strategy = ctx.hex(7)
    return strategy, {"arn": ctx.arn("appconfig", f"deploymentstrategy/{strategy}")}


def _appconfig_deployment(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = APP/ENV/NUMBER; an environment's first deployment is number 1.
    app, env = ctx.inputs.get("applicationId"), ctx.inputs.get("environmentId")
    arn = ctx.arn("appconfig", f"application/{app}/environment/{env}/deployment/1")
    return f"{app}/{env}/1", {"deploymentNumber": 1, "arn": arn}


MOCKED_RESOURCES.update(
    {
        "aws:cognito/userPool:UserPool": _cognito_user_pool,
        "aws:cognito/userPoolClient:UserPoolClient": _cognito_user_pool_client,
        "aws:iam/openIdConnectProvider:OpenIdConnectProvider": _iam_oidc_provider,
        "aws:iam/policy:Policy": _iam_policy,
        "aws:iam/rolePolicyAttachment:RolePolicyAttachment": _iam_role_policy_attachment,
        "aws:appconfig/application:Application": _appconfig_application,
        "aws:appconfig/environment:Environment": _appconfig_environment,
        "aws:appconfig/configurationProfile:ConfigurationProfile": _appconfig_configuration_profile,
        "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion": _appconfig_hosted_configuration_version,
        "aws:appconfig/deploymentStrategy:DeploymentStrategy": _appconfig_deployment_strategy,
        "aws:appconfig/deployment:Deployment": _appconfig_deployment,
    }
)


# --- Service modules' releases: CodeDeploy (terraform-provider-aws internal/service/deploy) ---------------------------
def _codedeploy_application(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = APPLICATION_ID:NAME (app.go: CodeDeploy's own id is a UUID, kept beside the name the API uses);
    # arn = arn:aws:codedeploy:R:A:application:NAME.
    name, application_id = ctx.physical_name(), ctx.uuid()
    arn = ctx.arn("codedeploy", f"application:{name}")
    return f"{application_id}:{name}", {"name": name, "applicationId": application_id, "arn": arn}


def _codedeploy_deployment_config(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the configuration's name; deploymentConfigId a UUID; arn = arn:aws:codedeploy:R:A:deploymentconfig:NAME.
    name = ctx.physical_name("deploymentConfigName")
    arn = ctx.arn("codedeploy", f"deploymentconfig:{name}")
    return name, {"deploymentConfigName": name, "deploymentConfigId": ctx.uuid(), "arn": arn}


def _codedeploy_deployment_group(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the group's DeploymentGroupId, a UUID (deployment_group.go); arn =
    # arn:aws:codedeploy:R:A:deploymentgroup:APPLICATION/GROUP.
    group_id = ctx.uuid()
    arn = ctx.arn("codedeploy", f"deploymentgroup:{ctx.inputs.get('appName')}/{ctx.inputs.get('deploymentGroupName')}")
    return group_id, {"deploymentGroupId": group_id, "arn": arn}


MOCKED_RESOURCES.update(
    {
        "aws:codedeploy/application:Application": _codedeploy_application,
        "aws:codedeploy/deploymentConfig:DeploymentConfig": _codedeploy_deployment_config,
        "aws:codedeploy/deploymentGroup:DeploymentGroup": _codedeploy_deployment_group,
    }
)


# --- MOD-104's domain APIs and the modules' routes: API Gateway v2 (terraform-provider-aws internal/service/apigatewayv2) --
def _apigatewayv2_api(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = 10 lower-case alphanumerics; arn = arn:aws:apigateway:R::/apis/ID (no account); apiEndpoint =
    # https://ID.execute-api.R.amazonaws.com; executionArn = arn:aws:execute-api:R:A:ID (what IAM and Lambda
    # permissions name); an HTTP API's route selection expression defaults to `$request.method $request.path`.
    api_id = ctx.hex(10)
    return api_id, {
        "arn": ctx.arn("apigateway", f"/apis/{api_id}", account=""),
        "apiEndpoint": f"https://{api_id}.execute-api.{ctx.region}.amazonaws.com",
        "executionArn": ctx.arn("execute-api", api_id),
        "apiKeySelectionExpression": "$request.header.x-api-key",
        "routeSelectionExpression": "$request.method $request.path",
    }


def _apigatewayv2_stage(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    # id = the stage name; arn = arn:aws:apigateway:R::/apis/API/stages/NAME; executionArn = the API's + "/NAME";
    # invokeUrl = https://API.execute-api.R.amazonaws.com/ plus the name, except for `$default`, served at the root.
    api_id, name = str(ctx.inputs.get("apiId", "")), ctx.physical_name()
    root = f"https://{api_id}.execute-api.{ctx.region}.amazonaws.com/"
    return name, {
        "arn": ctx.arn("apigateway", f"/apis/{api_id}/stages/{name}", account=""),
        "executionArn": ctx.arn("execute-api", f"{api_id}/{name}"),
        "invokeUrl": root if name == "$default" else root + name,
    }


def _apigatewayv2_child(length: int) -> MockIdentity:
    # Authorizers (6), integrations and routes (7): id = that many lower-case alphanumerics, unique within the API.
    def identity(ctx: MockContext) -> tuple[str, dict[str, Any]]:
        return ctx.hex(length), {}

    return identity


MOCKED_RESOURCES.update(
    {
        "aws:apigatewayv2/api:Api": _apigatewayv2_api,
        "aws:apigatewayv2/stage:Stage": _apigatewayv2_stage,
        "aws:apigatewayv2/authorizer:Authorizer": _apigatewayv2_child(6),
        "aws:apigatewayv2/integration:Integration": _apigatewayv2_child(7),
        "aws:apigatewayv2/route:Route": _apigatewayv2_child(7),
    }
)


def _invented(ctx: MockContext) -> tuple[str, dict[str, Any]]:
    if ctx.type.startswith("aws:"):
        service = ctx.type.split(":")[1].split("/")[0]
        return f"{ctx.name}-{OFFLINE_INVENTED}", {"arn": ctx.arn(service, f"{OFFLINE_INVENTED}/{ctx.name}")}
    return f"{ctx.name}-{OFFLINE_INVENTED}", {}


class PlanMocks(pulumi_mocks.Mocks):
    """What a fresh deployment would answer, deterministically: ids and ARNs in each service's own format
    (`MOCKED_RESOURCES`), outputs = inputs + those; providers get their engine-style id from the monitor."""

    def __init__(self, account_id: str = "000000000000", region: str = "ap-southeast-2"):
        self.account_id = account_id
        self.region = region
        self._current = threading.local()  # the URN being registered on this thread (set by RecordingMonitor)

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        urn = getattr(self._current, "urn", "") or f"{args.typ}::{args.name}"
        if args.typ.startswith(PROVIDER_TYPE_PREFIX):
            return provider_id(urn), dict(args.inputs)
        ctx = MockContext(urn, args.typ, args.name, dict(args.inputs), self.region, self.account_id)
        resource_id, computed = MOCKED_RESOURCES.get(args.typ, _invented)(ctx)
        return resource_id, {**args.inputs, **computed}

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list | None]:
        # The program makes no provider function calls; one appearing here is a change to review.
        raise OfflineCallError(f"offline plan: provider function {args.token} has no offline answer")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}
        self.stack_urn = ""
        self.stack_outputs: dict[str, Any] = {}
        self._alias_candidates: dict[str, list[str]] = {}
        self._default_providers: dict[tuple[str, str], str] = {}  # (package, version) → provider reference
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine names resources: a child's type is qualified by its parent's whole type
        # chain, except under the root stack (the mock's own version keeps only the last link).
        return new_urn(
            pulumi.get_stack(), pulumi.get_project(), urn_qualified_type(parent) if parent else "", type_, name
        )

    def RegisterResource(self, request):
        urn = self.make_urn(request.parent, request.type, request.name)
        if isinstance(self.mocks, PlanMocks):
            self.mocks._current.urn = urn
        try:
            response = super().RegisterResource(request)
        finally:
            if isinstance(self.mocks, PlanMocks):
                self.mocks._current.urn = ""
        if request.type == STACK_TYPE:
            self.stack_urn = response.urn
            return response
        is_provider = request.type.startswith(PROVIDER_TYPE_PREFIX)
        if is_provider and response.id != provider_id(response.urn):
            # Whatever the mocks said, a provider's id is the engine-shaped one its references will carry.
            response = resource_pb2.RegisterResourceResponse(
                urn=response.urn, id=provider_id(response.urn), object=response.object
            )
            self.resources[response.urn] = self.resources[response.urn]._replace(id=response.id)

        inputs = scrub(json_format.MessageToDict(request.object))
        outputs = scrub(json_format.MessageToDict(response.object)) if request.custom else {}
        provider = request.provider
        if is_provider:
            # source_eval.go: the engine stores the provider's version in its inputs (SetProviderVersion, which also
            # adds the empty "__internal" map); the registry returns the inputs without "__internal" as outputs.
            if request.version:
                inputs = {**inputs, "__internal": {}, "version": request.version}
            outputs = {k: v for k, v in inputs.items() if k != "__internal"}
        elif request.custom and not provider:
            provider = self._default_provider(request)
        additional_secret_outputs = list(request.additionalSecretOutputs)
        for key in additional_secret_outputs:
            # step_executor.go: outputs named in additionalSecretOutputs are stored as secrets ("id" never is).
            if key != "id" and key in outputs:
                outputs[key] = secret_marker()

        with self._lock:
            parent = self.registrations.get(request.parent)
            registration = Registration(
                urn=response.urn,
                type=request.type,
                name=request.name,
                custom=bool(request.custom),
                parent=request.parent,
                dependencies=list(request.dependencies),
                property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
                # source_eval.go inheritFromParent: protect, retainOnDelete and deletedWith come from the parent
                # when the resource leaves them unset.
                protect=request.protect if request.HasField("protect") else bool(parent and parent.protect),
                retain_on_delete=(
                    request.retainOnDelete
                    if request.HasField("retainOnDelete")
                    else bool(parent and parent.retain_on_delete)
                ),
                provider=provider,
                id=response.id if request.custom else "",
                inputs=inputs,
                outputs=outputs,
                additional_secret_outputs=additional_secret_outputs,
                aliases=self._aliases(request, response.urn),
                custom_timeouts=self._timeouts(request),
                deleted_with=request.deletedWith or (parent.deleted_with if parent else ""),
                ignore_changes=list(request.ignoreChanges),
                replace_on_changes=list(request.replaceOnChanges),
            )
            self.registrations[response.urn] = registration
        return response

    def _default_provider(self, request) -> str:
        """The engine registers `pulumi:providers:<pkg>::default_<version>` for a custom resource that names no
        provider (deploy/default_providers.go, providers.ProviderRequest.DefaultName) and points it there."""
        package = request.type.split(":")[0]
        version = request.version
        if request.pluginDownloadURL:
            # The engine names such providers with the URL too; no package the program uses sets one, so a new one
            # is refused loudly here rather than recorded under a wrong name.
            raise OfflineCallError(
                f"offline plan: {request.type} asks for a plugin download URL; default provider names with a URL "
                "are not recorded offline"
            )
        with self._lock:
            key = (package, version)
            if key in self._default_providers:
                return self._default_providers[key]
            name = "default" + "".join("_" + part for part in re.split(r"[.+-]", version)) if version else "default"
            urn = new_urn(pulumi.get_stack(), pulumi.get_project(), "", PROVIDER_TYPE_PREFIX + package, name)
            inputs: dict[str, Any] = {"__internal": {}, "version": version} if version else {}
            self.registrations[urn] = Registration(
                urn=urn,
                type=PROVIDER_TYPE_PREFIX + package,
                name=name,
                custom=True,
                parent="",
                dependencies=[],
                property_dependencies={},
                protect=False,
                retain_on_delete=False,
                provider="",
                id=provider_id(urn),
                inputs=inputs,
                outputs={k: v for k, v in inputs.items() if k != "__internal"},
            )
            reference = f"{urn}::{provider_id(urn)}"
            self._default_providers[key] = reference
            return reference

    def _aliases(self, request, urn: str) -> list[str]:
        """Every alias URN the engine would look an old resource up by (step_generator.go generateAliases):
        the resource's own aliases collapsed to URNs, then each alias of its parent carried down to it."""
        stack, project = pulumi.get_stack(), pulumi.get_project()

        def collapse(spec) -> str:  # step_generator.go collapseAliasToUrn
            parent = spec.parentUrn or request.parent
            if spec.noParent or (parent and urn_type(parent) == STACK_TYPE):
                parent = ""
            return new_urn(
                spec.stack or stack,
                spec.project or project,
                urn_qualified_type(parent) if parent else "",
                spec.type or request.type,
                spec.name or request.name,
            )

        def inherited(child_type: str, child_name: str, parent_alias: str) -> str:  # inheritedChildAlias
            parent_name = urn_name(request.parent)
            if child_name.startswith(parent_name):
                child_name = urn_name(parent_alias) + child_name[len(parent_name) :]
            return new_urn(stack, project, urn_qualified_type(parent_alias), child_type, child_name)

        own = list(request.aliasURNs)
        for alias in request.aliases:
            own.append(collapse(alias.spec) if alias.WhichOneof("alias") == "spec" else alias.urn)
        result = list(own)
        for parent_alias in self._alias_candidates.get(request.parent, []):
            result.append(inherited(request.type, request.name, parent_alias))
            result += [inherited(urn_type(a), urn_name(a), parent_alias) for a in own]
        result = list(dict.fromkeys(result))  # addAlias: each URN once, in order
        self._alias_candidates[urn] = result
        return result

    @staticmethod
    def _timeouts(request) -> dict[str, float | int]:
        if not request.HasField("customTimeouts"):
            return {}
        # resource.CustomTimeouts has create/update/delete (omitempty); the SDK's `read` is not stored.
        seconds = {
            k: duration_seconds(getattr(request.customTimeouts, k))
            for k in ("create", "update", "delete")
            if getattr(request.customTimeouts, k)
        }
        return {k: v for k, v in seconds.items() if v}

    def RegisterResourceOutputs(self, request):
        outputs = scrub(json_format.MessageToDict(request.outputs))
        with self._lock:
            if request.urn == self.stack_urn:
                self.stack_outputs = outputs
            elif request.urn in self.registrations:
                self.registrations[request.urn].outputs = outputs
        return super().RegisterResourceOutputs(request)


@dataclass
class Recording:
    project: str
    stack: str
    stack_urn: str
    stack_outputs: dict[str, Any]
    registrations: dict[str, Registration]


def record_program(
    program: Callable[[], Any],
    project: str,
    stack: str,
    config: dict[str, str],
    secret_keys: frozenset[str] = frozenset(),
    mocks: pulumi_mocks.Mocks | None = None,
    monitor: RecordingMonitor | None = None,
) -> Recording:
    """Run `program` as the engine would run a stack's program, recording what it registers."""
    monitor = monitor or RecordingMonitor(mocks or PlanMocks())
    pulumi_settings.ROOT.set(None)  # a previous run's root stack must not be reused
    pulumi.runtime.set_mocks(monitor.mocks, project=project, stack=stack, preview=False, monitor=monitor)
    pulumi_settings.ROOT.set(None)  # run_in_stack makes the root stack, as the language host does
    pulumi.runtime.set_all_config(dict(config), sorted(secret_keys))
    _sync_await(run_in_stack(program))
    return Recording(
        project=project,
        stack=stack,
        stack_urn=monitor.stack_urn,
        stack_outputs=monitor.stack_outputs,
        registrations=dict(monitor.registrations),
    )
