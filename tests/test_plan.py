"""The offline plan: the real program under Pulumi's mock runtime, written as a stack export."""

from __future__ import annotations

import json
import runpy
import shutil

import pulumi
import pulumi_aws as aws
import pytest

from bankctl.plan_command import plan_stack
from bankctl.plan_export import dependency_order
from bankctl.recording import SECRET_SIG, SIG_KEY, PlanMocks, RecordingMonitor, record_program
from model.releases import load_release_manifest
from tests.conftest import PROJECT_DIR, offline_plan

STACKS = ("dev", "uat", "prod")


@pytest.mark.parametrize("stack", STACKS)
def test_plan_has_every_module_and_a_gate_per_phase(stack):
    doc = offline_plan(stack).document
    urns = {r["urn"] for r in doc["deployment"]["resources"]}
    bank = doc["bank"]
    assert (bank["stack"], bank["project"]) == (stack, "bank")
    assert len(bank["modules"]) == 149
    assert [m["id"] for m in bank["modules"]] == sorted(f"MOD-{n:03d}" for n in range(1, 150))
    assert [p["key"] for p in bank["phases"]] == ["0", "1", "2", "3", "4", "5", "6", "7", "data-platform"]
    for phase in bank["phases"]:
        assert phase["gate"] in urns and "bank:gates:PhaseGate" in phase["gate"]
    for m in bank["modules"]:
        if m["enabled"]:
            assert m["urn"] in urns and m["urn"].endswith(f"::{m['id'].lower()}-{m['slug']}")
        else:
            assert m["urn"] == "" and m["disabledBecause"]


def test_disabled_modules_are_not_deployed_at_all():
    dev = offline_plan("dev").document
    swift = next(m for m in dev["bank"]["modules"] if m["slug"] == "swift-correspondent-banking")
    assert not swift["enabled"] and swift["disabledBecause"] == "bank:payments.swift.enabled is false"
    assert not any("swift-correspondent-banking" in r["urn"] for r in dev["deployment"]["resources"])


def test_plan_is_in_stack_export_v3_format():
    doc = offline_plan("dev").document
    assert doc["version"] == 3
    resources = doc["deployment"]["resources"]
    assert resources[0]["type"] == "pulumi:pulumi:Stack"
    assert resources[0]["urn"] == "urn:pulumi:dev::bank::pulumi:pulumi:Stack::bank-dev"
    required = {
        "urn",
        "type",
        "custom",
        "parent",
        "dependencies",
        "propertyDependencies",
        "inputs",
        "outputs",
        "protect",
        "retainOnDelete",
    }
    seen = set()
    for r in resources:
        assert required <= set(r), r["urn"]
        # Like a real export: everything a resource refers to comes before it.
        before = set(r["dependencies"]) | ({r["parent"]} if r["parent"] else set())
        assert before <= seen, r["urn"]
        if r["custom"] and not r["type"].startswith("pulumi:providers:"):
            assert r["id"]
        seen.add(r["urn"])


def test_two_runs_are_byte_identical_and_hold_no_machine_paths():
    first = plan_stack("dev").text
    second = plan_stack("dev").text
    assert first == second
    assert str(PROJECT_DIR) not in first
    for prefix in ('"/root', '"/home', '"/tmp', '"/work'):
        assert prefix not in first


@pytest.mark.parametrize("stack", STACKS)
def test_every_module_owns_its_record_with_the_pinned_release(stack):
    doc = offline_plan(stack).document
    pins = load_release_manifest(PROJECT_DIR, stack).modules
    params = {r["parent"]: r for r in doc["deployment"]["resources"] if r["type"] == "aws:ssm/parameter:Parameter"}
    for m in doc["bank"]["modules"]:
        if not m["enabled"]:
            continue
        record = params[m["urn"]]
        assert record["inputs"]["name"] == f"/bank/{stack}/modules/{m['id']}"
        value = json.loads(record["inputs"]["insecureValue"])
        assert value["id"] == m["id"] and value["domain"] == m["domain"]
        if m["id"] in pins:
            assert value["release"] == pins[m["id"]].model_dump()
        else:
            assert value["release"] == "this-repository"


@pytest.mark.parametrize("stack", STACKS)
def test_gate_commands_run_bankctl_with_relative_paths(stack):
    doc = offline_plan(stack).document
    commands = [r for r in doc["deployment"]["resources"] if r["type"] == "command:local:Command"]
    assert len(commands) == len(doc["bank"]["phases"])
    for phase in doc["bank"]["phases"]:
        command = next(c for c in commands if c["parent"] == phase["gate"])
        assert command["inputs"]["create"] == f".venv/bin/python -m bankctl gate run {phase['key']} --stack {stack}"
        assert len(command["inputs"]["triggers"]) == 1 and len(command["inputs"]["triggers"][0]) == 64
        assert not any(str(v).startswith("/") for v in command["inputs"].get("environment", {}).values())


def test_the_aws_provider_may_touch_only_the_stack_account():
    doc = offline_plan("prod").document
    provider = next(r for r in doc["deployment"]["resources"] if r["type"] == "pulumi:providers:aws")
    assert json.loads(provider["inputs"]["allowedAccountIds"]) == ["647215093382"]
    assert provider["inputs"]["region"] == "ap-southeast-2"
    aws_resources = [r for r in doc["deployment"]["resources"] if r["type"].startswith("aws:")]
    assert aws_resources and all(r["provider"].startswith(provider["urn"] + "::") for r in aws_resources)


def test_a_secret_reaches_the_plan_only_as_a_marker():
    def program():
        aws.ssm.Parameter("p", type="SecureString", value=pulumi.Output.secret("s3cr3t-value"))

    recording = record_program(program, "bank", "dev", {})
    text = json.dumps([r.__dict__ for r in recording.registrations.values()])
    assert "s3cr3t-value" not in text
    (param,) = recording.registrations.values()
    assert param.inputs["value"] == {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
    assert param.outputs["value"] == {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}


def project_copy(tmp_path, stack_file_edit) -> None:
    """The program and its inputs in another folder, with one stack file edited."""
    for name in ("Pulumi.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    shutil.copytree(PROJECT_DIR / "releases", tmp_path / "releases")
    text = stack_file_edit((PROJECT_DIR / "Pulumi.dev.yaml").read_text())
    (tmp_path / "Pulumi.dev.yaml").write_text(text)


def test_invalid_input_registers_no_resource(tmp_path):
    project_copy(tmp_path, lambda text: text.replace("bank:region:", "bank:regoin:"))
    with pytest.raises(pulumi.RunError) as caught:
        plan_stack("dev", tmp_path)
    assert "bank:regoin: unknown key" in str(caught.value)

    monitor = RecordingMonitor(PlanMocks())
    with pytest.raises(pulumi.RunError):
        record_program(
            lambda: runpy.run_path(str(tmp_path / "__main__.py")), "bank", "dev", {"bank:regoin": "x"}, monitor=monitor
        )
    assert monitor.registrations == {}


def test_a_secure_config_value_is_never_shown(tmp_path):
    # `pulumi config set --secret` writes `secure:` ciphertext; the offline plan never decrypts or prints it.
    ciphertext = "v1:QUJDREVGR0hJSktMTU5PUA==:c2VjcmV0LWFsZXJ0LWVtYWlsLXZhbHVl"
    project_copy(
        tmp_path,
        lambda text: text.replace(
            "bank:alertEmail: platform-alerts-dev@totarabank.co.nz", f"bank:alertEmail:\n    secure: {ciphertext}"
        ),
    )
    with pytest.raises(pulumi.RunError) as caught:
        plan_stack("dev", tmp_path)
    assert "bank:alertEmail" in str(caught.value) and "[secret]" in str(caught.value)
    assert ciphertext not in str(caught.value) and "QUJD" not in str(caught.value)


def test_dependency_order_puts_dependencies_first():
    doc = offline_plan("dev")
    ordered = [r.urn for r in dependency_order(doc.recording.registrations)]
    position = {u: i for i, u in enumerate(ordered)}
    for reg in doc.recording.registrations.values():
        for dep in reg.dependencies:
            assert position[dep] < position[reg.urn]


def test_program_reads_config_the_way_the_language_host_passes_it(monkeypatch):
    # `pulumi up` hands config to the program in PULUMI_CONFIG; the offline plan uses the runtime map.
    from bankctl.plan_command import engine_config_values
    from model.stack_config import read_stack_file

    values, _ = read_stack_file(PROJECT_DIR, "dev")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config_values(values)))
    recording = record_program(lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")), "bank", "dev", {})
    assert sorted(recording.registrations) == sorted(offline_plan("dev").recording.registrations)


@pytest.mark.parametrize("stack", STACKS)
def test_every_component_owns_a_real_resource(stack):
    # `depends_on` a component with no children is ignored (pulumi/pulumi#8721): every module and
    # gate must own a custom resource, or the phase ordering would silently vanish.
    plan = offline_plan(stack).document
    resources = plan["deployment"]["resources"]
    parents_of_custom = {r["parent"] for r in resources if r["custom"]}
    components = [r for r in resources if not r["custom"] and r["type"] != "pulumi:pulumi:Stack"]
    assert len(components) == len([m for m in plan["bank"]["modules"] if m["enabled"]]) + len(plan["bank"]["phases"])
    for component in components:
        assert component["urn"] in parents_of_custom, component["urn"]
