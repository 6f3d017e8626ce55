"""The plan, field by field against the engine's own format, and the one reader for plans and real exports.

The engine's format: pulumi/pulumi sdk/go/common/apitype/core.go (`ResourceV3`, `ManifestV1`) and the
JSON Schemas and engine-written export in ../shared/contracts/pulumi-state/ (read-only, beside the repo).
"""

from __future__ import annotations

import hashlib
import json
import re
import uuid
from importlib import metadata

import pulumi
import pulumi_aws as aws
import pulumi_command as command
import pytest

from bankctl.deployment_file import (
    OFFLINE_ONLY_FIELDS,
    RESOURCE_V3_ALWAYS,
    RESOURCE_V3_FIELDS,
    SCHEMA_LAGS,
    DeploymentFileError,
    load_deployment,
    schema_errors,
)
from bankctl.plan_export import ZERO_TIME, deployment_section, manifest_magic, render
from bankctl.plan_graph import PlanGraph
from bankctl.recording import (
    OFFLINE_INVENTED,
    REDACTED,
    SECRET_SIG,
    SIG_KEY,
    UNKNOWN,
    PlanMocks,
    RecordingMonitor,
    duration_seconds,
    provider_id,
    record_program,
)
from tests.conftest import PROJECT_DIR, offline_plan

CONTRACTS = PROJECT_DIR.parent / "shared" / "contracts" / "pulumi-state"
ENGINE_EXAMPLE = CONTRACTS / "engine-export-v3-example.json"
STACKS = ("dev", "uat", "prod")
UUID_SHAPE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
MARKER = {SIG_KEY: SECRET_SIG, "ciphertext": REDACTED}


@pytest.fixture(scope="module", autouse=True)
def contracts_are_beside_the_repo():
    assert (CONTRACTS / "deployments.json").is_file(), f"the engine's schemas belong in {CONTRACTS} (shared/ copy)"


def plan_of(program, stack: str = "dev", mocks: PlanMocks | None = None) -> dict:
    """A small program's recording, written as the plan's `deployment` section."""
    recording = record_program(program, "bank", stack, {}, mocks=mocks or PlanMocks("123456789012", "ap-southeast-2"))
    return {"version": 3, "deployment": deployment_section(recording)}


def by_name(document: dict, name: str) -> dict:
    (resource,) = [r for r in document["deployment"]["resources"] if r["urn"].endswith("::" + name)]
    return resource


# --- against the engine's schemas ---------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_plan_validates_against_the_engine_schemas(stack):
    assert schema_errors(offline_plan(stack).document, CONTRACTS) == []


def test_the_engine_written_example_validates_once_the_schema_lags_are_applied():
    example = json.loads(ENGINE_EXAMPLE.read_text())
    assert schema_errors(example, CONTRACTS) == []


def test_the_schema_lags_are_real():
    # Each lag patched is a field of the Go struct that the schema file lacks (or, for propertyDependencies, gets
    # wrong): without the patch the engine's own example fails on exactly that.
    resources_schema = json.loads((CONTRACTS / "resources.json").read_text())
    listed = set(resources_schema["$defs"]["resourceV3"]["properties"])
    assert set(SCHEMA_LAGS) <= RESOURCE_V3_FIELDS
    assert set(SCHEMA_LAGS) - {"propertyDependencies"} <= RESOURCE_V3_FIELDS - listed
    example = json.loads(ENGINE_EXAMPLE.read_text())
    errors = schema_errors(example, CONTRACTS, lags={})
    assert errors and all("propertyDependencies" in e and "None is not of type 'array'" in e for e in errors)
    plan = offline_plan("dev").document
    assert any("'replaceOnChanges' was unexpected" in e for e in schema_errors(plan, CONTRACTS, lags={}))


def test_schema_validation_can_fail():
    doc = json.loads(json.dumps(offline_plan("dev").document))
    doc["deployment"]["resources"][1]["protect"] = "yes"
    doc["deployment"]["resources"][2]["colour"] = "blue"
    del doc["deployment"]["manifest"]["magic"]
    errors = "\n".join(schema_errors(doc, CONTRACTS))
    assert "'yes' is not of type 'boolean'" in errors
    assert "'colour' was unexpected" in errors
    assert "'magic' is a required property" in errors


# --- ResourceV3 field by field ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_resources_carry_only_resource_v3_fields_and_omit_empty_ones_as_go_does(stack):
    for r in offline_plan(stack).document["deployment"]["resources"]:
        assert set(r) <= RESOURCE_V3_FIELDS, r["urn"]
        assert set(r) >= RESOURCE_V3_ALWAYS, r["urn"]
        for key, value in r.items():
            if key not in RESOURCE_V3_ALWAYS:
                # `omitempty`: no "parent": "", "dependencies": [], "protect": false, "inputs": {} ...
                assert value not in ("", [], {}, None) and value is not False, (r["urn"], key)


def test_the_root_stack_is_written_as_the_engine_writes_it():
    stack, *_ = offline_plan("dev").document["deployment"]["resources"]
    assert stack["urn"] == "urn:pulumi:dev::bank::pulumi:pulumi:Stack::bank-dev"
    assert stack["custom"] is False and "parent" not in stack and "id" not in stack
    assert stack["outputs"]["environment"] == "dev"


def test_the_manifest_has_a_fixed_time_and_the_engines_magic():
    deployment = offline_plan("dev").document["deployment"]
    manifest = deployment["manifest"]
    assert manifest["time"] == ZERO_TIME == "0001-01-01T00:00:00Z"
    # deploy.Manifest.NewMagic: hex sha256 of the version string.
    assert manifest["magic"] == hashlib.sha256(manifest["version"].encode()).hexdigest()
    assert manifest_magic("") == ""
    assert "offline plan" in manifest["version"] and not manifest["version"].startswith("v")
    assert "plugins" not in manifest  # today's engine drops the plugin list (pkg/backend/snapshot.go)
    assert deployment["metadata"] == {}  # a Go struct: omitempty never drops it
    assert "secrets_providers" not in deployment


# --- providers ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_command_resources_use_the_default_provider_the_engine_registers(stack):
    resources = offline_plan(stack).document["deployment"]["resources"]
    version = metadata.version("pulumi_command")
    default_urn = f"urn:pulumi:{stack}::bank::pulumi:providers:command::default_{version.replace('.', '_')}"
    (provider,) = [r for r in resources if r["type"] == "pulumi:providers:command"]
    assert provider["urn"] == default_urn == f"urn:pulumi:{stack}::bank::pulumi:providers:command::default_1_2_1"
    assert provider["inputs"] == {"__internal": {}, "version": version}
    assert provider["outputs"] == {"version": version}
    assert "parent" not in provider  # the engine registers it with no parent
    commands = [r for r in resources if r["type"] == "command:local:Command"]
    assert commands and all(c["provider"] == f"{default_urn}::{provider['id']}" for c in commands)
    position = {r["urn"]: i for i, r in enumerate(resources)}
    assert all(position[default_urn] < position[c["urn"]] for c in commands)


@pytest.mark.parametrize("stack", STACKS)
def test_every_provider_has_a_stable_uuid_id_and_stores_its_version(stack):
    resources = offline_plan(stack).document["deployment"]["resources"]
    providers = [r for r in resources if r["type"].startswith("pulumi:providers:")]
    # aws (explicit), command (gates, Flyway), postgresql and random (MOD-103's roles), and where Neon and
    # Snowflake are used: pulumi-python (MOD-103's dynamic provider), snowflake and tls (MOD-102).
    expected = {"aws", "command", "postgresql", "random"}
    if stack != "local":
        expected |= {"pulumi-python", "snowflake", "tls"}
    assert {p["type"] for p in providers} == {f"pulumi:providers:{name}" for name in expected}
    for p in providers:
        assert UUID_SHAPE.match(p["id"]) and p["id"] == provider_id(p["urn"])
        assert uuid.UUID(p["id"]).version == 5
        package = p["type"].split(":")[-1]
        if package == "pulumi-python":
            # A dynamic provider ships inside the program itself: there is no plugin, so no version to store.
            assert "version" not in p.get("inputs", {}), p["urn"]
            continue
        assert p["inputs"]["version"] == metadata.version(f"pulumi_{package}"), p["urn"]
        assert p["inputs"]["__internal"] == {}
        assert "__internal" not in p["outputs"] and p["outputs"]["version"] == p["inputs"]["version"]
    references = {r["provider"] for r in resources if "provider" in r}
    assert references == {f"{p['urn']}::{p['id']}" for p in providers}


def test_a_default_provider_is_registered_once_per_package_and_version():
    def program():
        command.local.Command("a", create="true")
        command.local.Command("b", create="true")
        aws.ssm.Parameter("p", type="String", value="v")

    doc = plan_of(program)
    providers = [r for r in doc["deployment"]["resources"] if r["type"].startswith("pulumi:providers:")]
    aws_version = metadata.version("pulumi_aws")
    assert sorted(p["urn"] for p in providers) == [
        f"urn:pulumi:dev::bank::pulumi:providers:aws::default_{aws_version.replace('.', '_')}",
        "urn:pulumi:dev::bank::pulumi:providers:command::default_1_2_1",
    ]
    assert by_name(doc, "p")["provider"].startswith(providers[0]["urn"] + "::")


# --- resource options the engine stores ------------------------------------------------------------------------------
class Module(pulumi.ComponentResource):
    """A component with a child named after it (`<name>-x`) and one that is not (`y-<name>`)."""

    def __init__(self, name, opts=None, child_opts=None):
        super().__init__("bank:test:Module", name, None, opts)
        child = pulumi.ResourceOptions(parent=self, **(child_opts or {}))
        aws.ssm.Parameter(f"{name}-x", type="String", value="v", opts=child)
        aws.ssm.Parameter(f"y-{name}", type="String", value="w", opts=pulumi.ResourceOptions(parent=self))
        self.register_outputs({})


def test_every_resource_option_the_engine_stores_is_recorded():
    def program():
        anchor = aws.ssm.Parameter("anchor", type="String", value="a")
        aws.ssm.Parameter(
            "opts",
            type="SecureString",
            value="v",
            opts=pulumi.ResourceOptions(
                protect=True,
                retain_on_delete=True,
                deleted_with=anchor,
                ignore_changes=["value"],
                replace_on_changes=["type"],
                additional_secret_outputs=["arn"],
                custom_timeouts=pulumi.CustomTimeouts(create="5m", update="1h30m", delete="90s"),
            ),
        )

    doc = plan_of(program)
    r = by_name(doc, "opts")
    assert r["protect"] is True and r["retainOnDelete"] is True
    assert r["deletedWith"] == by_name(doc, "anchor")["urn"]
    assert r["ignoreChanges"] == ["value"]
    assert r["replaceOnChanges"] == ["type"]
    assert "arn" in r["additionalSecretOutputs"]
    assert r["customTimeouts"] == {"create": 300, "update": 5400, "delete": 90}  # seconds, as the engine stores them
    assert r["outputs"]["arn"] == MARKER  # step_executor.go: additionalSecretOutputs are stored as secrets
    assert schema_errors(doc, CONTRACTS) == []
    plain = by_name(doc, "anchor")
    assert not {"protect", "retainOnDelete", "deletedWith", "ignoreChanges", "customTimeouts", "aliases"} & set(plain)


def test_protect_retain_and_deleted_with_are_inherited_from_the_parent_as_the_engine_does():
    def program():
        anchor = aws.ssm.Parameter("anchor", type="String", value="a")
        Module("kept", opts=pulumi.ResourceOptions(retain_on_delete=True, deleted_with=anchor, protect=True))
        Module("own", opts=pulumi.ResourceOptions(retain_on_delete=True), child_opts={"retain_on_delete": False})

    doc = plan_of(program)
    child = by_name(doc, "kept-x")
    assert child["retainOnDelete"] is True and child["protect"] is True
    assert child["deletedWith"] == by_name(doc, "anchor")["urn"]
    assert "retainOnDelete" not in by_name(doc, "own-x")  # set on the child itself: not inherited


def test_custom_timeouts_are_go_durations_in_seconds():
    assert duration_seconds("5m") == 300
    assert duration_seconds("1h30m") == 5400
    assert duration_seconds("1.5s") == 1.5
    assert duration_seconds("250ms") == 0.25
    assert duration_seconds("0") == 0
    with pytest.raises(ValueError):
        duration_seconds("5 minutes")


def test_aliases_are_recorded_as_the_urns_the_engine_derives_from_them():
    def program():
        Module("new-name", opts=pulumi.ResourceOptions(aliases=[pulumi.Alias(name="old-name")]))
        plain = Module("plain")
        aws.ssm.Parameter(
            "renamed",
            type="String",
            value="v",
            opts=pulumi.ResourceOptions(aliases=["urn:pulumi:dev::bank::aws:ssm/parameter:Parameter::before"]),
        )
        aws.ssm.Parameter(  # moved into a component from the top level
            "moved",
            type="String",
            value="v",
            opts=pulumi.ResourceOptions(parent=plain, aliases=[pulumi.Alias(parent=None)]),
        )

    doc = plan_of(program)
    parameter = "aws:ssm/parameter:Parameter"
    assert by_name(doc, "new-name")["aliases"] == ["urn:pulumi:dev::bank::bank:test:Module::old-name"]
    # The child named after its parent carries the parent's old name (step_generator.go inheritedChildAlias) ...
    assert by_name(doc, "new-name-x")["aliases"] == [f"urn:pulumi:dev::bank::bank:test:Module${parameter}::old-name-x"]
    # ... and a child with a name of its own keeps it, under the parent's old URN.
    assert by_name(doc, "y-new-name")["aliases"] == [f"urn:pulumi:dev::bank::bank:test:Module${parameter}::y-new-name"]
    assert by_name(doc, "moved")["aliases"] == [f"urn:pulumi:dev::bank::{parameter}::moved"]
    assert by_name(doc, "renamed")["aliases"] == ["urn:pulumi:dev::bank::aws:ssm/parameter:Parameter::before"]
    assert "aliases" not in by_name(doc, "plain-x")
    assert schema_errors(doc, CONTRACTS) == []


# --- mocked ids and outputs -----------------------------------------------------------------------------------------
def test_mocked_ids_and_arns_are_in_each_services_real_format():
    def program():
        aws.ssm.Parameter("record", name="/bank/dev/modules/MOD-104", type="String", value="v")
        topic = aws.sns.Topic("alerts", name="bank-dev-alerts")
        aws.sns.TopicSubscription("mail", topic=topic.arn, protocol="email", endpoint="ops@example.com")
        command.local.Command("check", create="true")

    doc = plan_of(program)
    record = by_name(doc, "record")
    assert record["id"] == "/bank/dev/modules/MOD-104"
    assert record["outputs"]["arn"] == "arn:aws:ssm:ap-southeast-2:123456789012:parameter/bank/dev/modules/MOD-104"
    topic = by_name(doc, "alerts")
    assert topic["id"] == topic["outputs"]["arn"] == "arn:aws:sns:ap-southeast-2:123456789012:bank-dev-alerts"
    mail = by_name(doc, "mail")
    assert mail["inputs"]["topic"] == topic["outputs"]["arn"]  # the program saw the mocked ARN
    prefix, suffix = mail["id"].rsplit(":", 1)
    assert prefix == topic["outputs"]["arn"] and UUID_SHAPE.match(suffix) and mail["outputs"]["arn"] == mail["id"]
    assert mail["outputs"]["pendingConfirmation"] is True
    check = by_name(doc, "check")
    assert re.fullmatch(r"check[0-9a-f]{8}", check["id"])
    assert check["outputs"]["stdout"] == check["outputs"]["stderr"] == UNKNOWN  # known only after it has run
    assert render(doc) == render(plan_of(program))  # the same every run


def test_a_type_without_a_row_is_marked_as_invented():
    def program():
        aws.glacier.Vault("key")  # a type the program never registers, so no row forms its id
        aws.ssm.Parameter("auto", type="String", value="v")  # no name: Pulumi autonames it

    doc = plan_of(program)
    key = by_name(doc, "key")
    assert key["id"] == "key-offline-invented" and OFFLINE_INVENTED == "offline-invented"
    assert key["outputs"]["arn"] == "arn:aws:glacier:ap-southeast-2:123456789012:offline-invented/key"
    auto = by_name(doc, "auto")
    assert re.fullmatch(r"auto-[0-9a-f]{7}", auto["id"])
    assert auto["outputs"]["arn"].endswith(f":parameter/{auto['id']}")


def test_plan_ids_are_not_the_old_name_dash_id_guess():
    for r in offline_plan("dev").document["deployment"]["resources"]:
        # The old mock answered `<logical name>-id`; a physical name may end in "-id" (…/user-pool-id).
        assert r.get("id", "") != r["urn"].rsplit("::", 1)[-1] + "-id", r["urn"]
        assert OFFLINE_INVENTED not in json.dumps(r), r["urn"]  # every type the program uses has a row


# --- the one reader -------------------------------------------------------------------------------------------------
def test_the_reader_loads_the_engine_written_example(tmp_path):
    doc = load_deployment(ENGINE_EXAMPLE)
    assert doc["version"] == 3 and len(doc["deployment"]["resources"]) == 30
    graph = PlanGraph.load(ENGINE_EXAMPLE)
    role = "urn:pulumi:foo::countdown::aws:iam/role:Role::countDown_watcher-iamrole"
    function = "urn:pulumi:foo::countdown::aws:serverless:Function::countDown_watcher"
    assert role in graph.children[function] and function in graph.waits_on(role)
    for r in doc["deployment"]["resources"]:
        assert set(r) <= RESOURCE_V3_FIELDS


def test_the_reader_loads_version_4_with_its_features(tmp_path):
    example = json.loads(ENGINE_EXAMPLE.read_text())
    v4 = {"version": 4, "features": ["refreshBeforeUpdate"], "deployment": example["deployment"]}
    path = tmp_path / "v4.json"
    path.write_text(json.dumps(v4))
    doc = load_deployment(path)
    assert doc["version"] == 4 and doc["features"] == ["refreshBeforeUpdate"]
    assert len(PlanGraph(doc).resources) == 30
    assert schema_errors(doc, CONTRACTS) == []


def test_the_reader_loads_a_plan_with_its_bank_section(tmp_path):
    plan = offline_plan("dev")
    path = tmp_path / "plan-dev.json"
    path.write_text(plan.text)
    doc = load_deployment(path)
    assert doc == load_deployment(plan.text) == json.loads(plan.text)  # a plan is already normal
    graph, direct = PlanGraph.load(path), PlanGraph(plan.document)
    gate = graph.gate("1")
    assert graph.waits_on(gate) == direct.waits_on(gate) and graph.bank == direct.bank


@pytest.mark.parametrize("version", [1, 2, 5, "3", True])
def test_the_reader_refuses_other_versions_naming_the_file(tmp_path, version):
    path = tmp_path / "old-export.json"
    path.write_text(json.dumps({"version": version, "deployment": {"resources": []}}))
    with pytest.raises(DeploymentFileError, match=r"old-export\.json: deployment version .* is not supported"):
        load_deployment(path)


@pytest.mark.parametrize(
    "text, problem",
    [
        ('{"checkpoint": {}}', "not a `pulumi stack export` document"),
        ("[1, 2]", "not a `pulumi stack export` document"),
        ("{not json", "not JSON"),
        ('{"version": 3, "deployment": {"resources": [{"urn": "u"}]}}', "resource 0 has no type"),
    ],
)
def test_the_reader_says_what_is_wrong(tmp_path, text, problem):
    path = tmp_path / "broken.json"
    path.write_text(text)
    with pytest.raises(DeploymentFileError, match=re.escape(f"{path}: {problem}")):
        load_deployment(path)


def test_an_empty_stack_has_no_resources_key_and_still_loads():
    doc = load_deployment({"version": 3, "deployment": {"manifest": {"time": ZERO_TIME, "magic": "", "version": ""}}})
    assert doc["deployment"]["resources"] == [] and PlanGraph(doc).resources == {}


def test_the_reader_never_keeps_a_secret_value():
    real = {SIG_KEY: SECRET_SIG, "ciphertext": "v1:c2VjcmV0LWNpcGhlcnRleHQ=:AAAA"}
    shown = {SIG_KEY: SECRET_SIG, "plaintext": '"hunter2"'}
    export = {
        "version": 3,
        "deployment": {
            "manifest": {"time": ZERO_TIME, "magic": "", "version": ""},
            "resources": [
                {"urn": "urn:pulumi:s::p::pulumi:pulumi:Stack::p-s", "type": "pulumi:pulumi:Stack", "custom": False},
                {
                    "urn": "urn:pulumi:s::p::aws:ssm/parameter:Parameter::x",
                    "type": "aws:ssm/parameter:Parameter",
                    "custom": True,
                    "id": "x",
                    "inputs": {"value": real, "nested": [{"deep": shown}]},
                    "outputs": {"value": shown},
                },
            ],
        },
    }
    doc = load_deployment(json.dumps(export))
    text = json.dumps(doc)
    assert "hunter2" not in text and "c2VjcmV0" not in text
    x = doc["deployment"]["resources"][1]
    assert x["inputs"]["value"] == x["outputs"]["value"] == x["inputs"]["nested"][0]["deep"] == MARKER
    assert export["deployment"]["resources"][1]["inputs"]["value"] is real  # the caller's document is untouched


def test_the_offline_only_fields_are_listed_once_and_named_in_the_readme():
    readme = (PROJECT_DIR / "README.md").read_text()
    section = readme.split("## The offline plan", 1)[1].split("\n## ", 1)[0]
    assert "OFFLINE_ONLY_FIELDS" in section and "bankctl/deployment_file.py" in section
    for field in ("deployment.manifest.time", "resources[].id", "resources[].aliases", "secret ciphertext"):
        assert field in OFFLINE_ONLY_FIELDS


def test_the_recording_monitor_keeps_its_registrations_for_direct_use():
    # Tests and tools may record with their own monitor and read the registrations directly.
    monitor = RecordingMonitor(PlanMocks())
    record_program(lambda: command.local.Command("c", create="true"), "bank", "dev", {}, monitor=monitor)
    assert sorted(r.type for r in monitor.registrations.values()) == [
        "command:local:Command",
        "pulumi:providers:command",
    ]
