"""Runs a Pulumi program under Pulumi's own mock runtime and records every registration.

No engine, no provider plugins, no credentials: `pulumi.runtime.set_mocks` with a
recording monitor (the public `monitor=` argument). The program is the real one;
the pulumi-aws and pulumi-command SDKs still check every argument it passes.
What is recorded is what the engine would receive: type, name, parent, custom,
dependencies (components already expanded to their children by the SDK),
property dependencies, protect, retainOnDelete, provider and the inputs.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pulumi
from google.protobuf import json_format
from pulumi.runtime import mocks as pulumi_mocks
from pulumi.runtime import settings as pulumi_settings
from pulumi.runtime.stack import run_in_stack
from pulumi.runtime.sync_await import _sync_await

# Pulumi's wire markers (sdk/go/common/resource/sig): a map holding SECRET_SIG under SIG_KEY is a secret.
SIG_KEY = "4dabf18193072939515e22adb298388d"
SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270"
REDACTED = "[secret]"


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


def scrub(value: Any) -> Any:
    """JSON from the wire: secrets become markers without their value; whole floats become ints
    (protobuf Structs carry every number as a double)."""
    if isinstance(value, dict):
        if value.get(SIG_KEY) == SECRET_SIG:
            return {SIG_KEY: SECRET_SIG, "ciphertext": REDACTED}
        return {k: scrub(v) for k, v in value.items()}
    if isinstance(value, list):
        return [scrub(v) for v in value]
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


class OfflineCallError(RuntimeError):
    """The program asked a provider something only a real cloud account can answer."""


class PlanMocks(pulumi_mocks.Mocks):
    """What a fresh deployment would answer, deterministically: ids from names, outputs = inputs."""

    def __init__(self, account_id: str = "000000000000", region: str = "ap-southeast-2"):
        self.account_id = account_id
        self.region = region

    def new_resource(self, args: pulumi_mocks.MockResourceArgs) -> tuple[str, dict]:
        outputs = dict(args.inputs)
        if args.typ.startswith("aws:"):
            service = args.typ.split(":")[1].split("/")[0]
            outputs.setdefault("arn", f"arn:aws:{service}:{self.region}:{self.account_id}:{args.name}")
        return f"{args.name}-id", outputs

    def call(self, args: pulumi_mocks.MockCallArgs) -> tuple[dict, list | None]:
        # The program makes no provider function calls; one appearing here is a change to review.
        raise OfflineCallError(f"offline plan: provider function {args.token} has no offline answer")


class RecordingMonitor(pulumi_mocks.MockMonitor):
    def __init__(self, mocks: pulumi_mocks.Mocks):
        super().__init__(mocks)
        self.registrations: dict[str, Registration] = {}
        self.stack_urn = ""
        self.stack_outputs: dict[str, Any] = {}
        self._lock = threading.Lock()

    def make_urn(self, parent: str, type_: str, name: str) -> str:
        # As the engine names resources: a child's type is qualified by its parent's whole type
        # chain, except under the root stack (the mock's own version keeps only the last link).
        if parent and parent.split("::")[2] != "pulumi:pulumi:Stack":
            type_ = parent.split("::")[2] + "$" + type_
        return "urn:pulumi:" + "::".join([pulumi.get_stack(), pulumi.get_project(), type_, name])

    def RegisterResource(self, request):
        response = super().RegisterResource(request)
        if request.type == "pulumi:pulumi:Stack":
            self.stack_urn = response.urn
            return response
        registration = Registration(
            urn=response.urn,
            type=request.type,
            name=request.name,
            custom=bool(request.custom),
            parent=request.parent,
            dependencies=list(request.dependencies),
            property_dependencies={k: list(v.urns) for k, v in request.propertyDependencies.items()},
            protect=bool(request.protect),
            retain_on_delete=bool(request.retainOnDelete),
            provider=request.provider,
            id=response.id if request.custom else "",
            inputs=scrub(json_format.MessageToDict(request.object)),
            outputs=scrub(json_format.MessageToDict(response.object)) if request.custom else {},
        )
        with self._lock:
            self.registrations[response.urn] = registration
        return response

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
