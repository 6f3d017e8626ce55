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


# How each real provider forms ids and ARNs, by type token. Add a row when the program registers a new type;
# a type without a row gets an id and ARN that say `offline-invented`.
MOCKED_RESOURCES: dict[str, MockIdentity] = {
    "aws:ssm/parameter:Parameter": _ssm_parameter,
    "aws:sns/topic:Topic": _sns_topic,
    "aws:sns/topicSubscription:TopicSubscription": _sns_topic_subscription,
    "command:local:Command": _local_command,
}


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
            raise NotImplementedError(
                f"offline plan: {request.type} asks for a plugin download URL; default provider names with a URL "
                "are not modelled"
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
