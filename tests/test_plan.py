"""The offline plan: the real program under Pulumi's mock runtime, written as a stack export."""

from __future__ import annotations

import json
import re
import runpy
import shutil
from importlib import metadata

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from bankctl.plan_command import plan_stack
from bankctl.plan_export import dependency_order, deployment_section, render
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
            assert m["urn"] in urns and m["urn"].endswith(f"::{m['slug']}")
        else:
            assert m["urn"] == "" and m["disabledBecause"]
    # URNs carry slugs, never IDs: all but six IDs are provisional (DESIGN G12), and a URN is permanent.
    assert not [u for u in urns if re.search(r"(?i)mod-\d{3}", u)]


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
    seen = set()
    for r in resources:
        # ResourceV3 always writes urn, custom and type; the rest only when not empty (omitempty).
        assert {"urn", "type", "custom"} <= set(r), r["urn"]
        assert "parent" not in r or r["parent"], r["urn"]
        # Like a real export (deploy.Snapshot.VerifyIntegrity): what a resource refers to comes before it.
        before = set(r.get("dependencies", [])) | {r.get("parent", ""), r.get("provider", "").rsplit("::", 1)[0]}
        assert before - {""} <= seen, r["urn"]
        if r["custom"]:
            assert r["id"], r["urn"]  # providers too: the engine gives every provider an id
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
        assert record["inputs"]["name"] == f"/bank/{stack}/{m['slug']}/release"
        assert record["inputs"]["tags"]["bank:module-id"] == m["id"]
        assert record["inputs"]["tags"]["bank:owner"] == m["owner"]
        value = json.loads(record["inputs"]["insecureValue"])
        assert value["id"] == m["id"] and value["domain"] == m["domain"]
        if m["id"] in pins:
            assert value["release"] == pins[m["id"]].model_dump()
        else:
            assert value["release"] == "this-repository"


@pytest.mark.parametrize("stack", STACKS)
def test_gate_commands_run_bankctl_with_relative_paths(stack):
    doc = offline_plan(stack).document
    gates = {p["gate"] for p in doc["bank"]["phases"]}
    every = [r for r in doc["deployment"]["resources"] if r["type"] == "command:local:Command"]
    commands = [c for c in every if c["parent"] in gates]
    assert len(commands) == len(doc["bank"]["phases"])
    # The only other commands are the databases' Flyway migrations (tests/test_flyway_migration.py) and each service
    # module's release steps (health check; in prod the canary's start), with the same relative interpreter.
    for other in (c for c in every if c not in commands):
        if "::bank:components:FlywayMigration::" in other["parent"]:
            continue
        assert "::bank:domains:ServiceModule::" in other["parent"], other["urn"]
        assert other["inputs"]["create"].startswith(".venv/bin/python -m bankctl "), other["urn"]
        assert other["urn"].endswith(("-health-check", "-release")), other["urn"]
        assert not any(str(v).startswith("/") for v in other["inputs"].get("environment", {}).values())
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
    assert provider["inputs"]["version"] == metadata.version("pulumi_aws")  # the plugin the engine will load
    aws_resources = [r for r in doc["deployment"]["resources"] if r["type"].startswith("aws:")]
    assert aws_resources and all(r["provider"] == f"{provider['urn']}::{provider['id']}" for r in aws_resources)


def test_a_secret_reaches_the_plan_only_as_a_marker():
    def program():
        aws.ssm.Parameter("p", type="SecureString", value=pulumi.Output.secret("s3cr3t-value"))

    recording = record_program(program, "bank", "dev", {})
    text = json.dumps([r.__dict__ for r in recording.registrations.values()])
    assert "s3cr3t-value" not in text
    (param,) = [r for r in recording.registrations.values() if r.type == "aws:ssm/parameter:Parameter"]
    assert param.inputs["value"] == {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
    assert param.outputs["value"] == {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
    written = render({"version": 3, "deployment": deployment_section(recording)})
    assert "s3cr3t-value" not in written and written.count('"ciphertext": "[secret]"') == 2


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


def test_dependency_order_puts_dependencies_first():
    doc = offline_plan("dev")
    ordered = [r.urn for r in dependency_order(doc.recording.registrations)]
    position = {u: i for i, u in enumerate(ordered)}
    for reg in doc.recording.registrations.values():
        before = [*reg.dependencies, reg.parent, reg.provider.rsplit("::", 1)[0], reg.deleted_with]
        for dep in before:
            if dep in position:
                assert position[dep] < position[reg.urn], (dep, reg.urn)
    assert any(reg.provider for reg in doc.recording.registrations.values())


def test_program_reads_config_the_way_the_language_host_passes_it(monkeypatch):
    # `pulumi up` hands config to the program in PULUMI_CONFIG; the offline plan uses the runtime map.
    from bankctl.plan_command import engine_config_values
    from tests.conftest import engine_config

    values, secret_keys = engine_config("dev")
    monkeypatch.setenv("PULUMI_CONFIG", json.dumps(engine_config_values(values)))
    monkeypatch.setenv("PULUMI_CONFIG_SECRET_KEYS", json.dumps(sorted(secret_keys)))
    recording = record_program(lambda: runpy.run_path(str(PROJECT_DIR / "__main__.py")), "bank", "dev", {})
    assert sorted(recording.registrations) == sorted(offline_plan("dev").recording.registrations)


@pytest.mark.parametrize("stack", STACKS)
def test_every_component_owns_a_real_resource(stack):
    # `depends_on` a component with no children is ignored (pulumi/pulumi#8721): every module and
    # gate must own a custom resource, or the phase ordering would silently vanish.
    plan = offline_plan(stack).document
    resources = plan["deployment"]["resources"]
    parents_of_custom = {r.get("parent") for r in resources if r["custom"]}
    components = [r for r in resources if not r["custom"] and r["type"] != "pulumi:pulumi:Stack"]
    top_level = [r for r in components if "::pulumi:pulumi:Stack::" in r["parent"]]
    # Top level: each enabled module, each phase gate, and each pinned database's FlywayMigration (top-level so
    # that MOD-046, which follows MOD-103, does not wait for the migrations); components inside a module count
    # with it, but must own a custom resource too.
    migrations = yaml.safe_load((PROJECT_DIR / "releases" / f"{stack}.yaml").read_text())["migrations"]
    assert len(top_level) == len([m for m in plan["bank"]["modules"] if m["enabled"]]) + len(
        plan["bank"]["phases"]
    ) + len(migrations)
    for component in components:
        assert component["urn"] in parents_of_custom, component["urn"]


def test_a_renamed_module_keeps_its_resources_through_aliases():
    # A slug rename lists the old slug in `formerSlugs`: the component and its children carry the old URNs as
    # aliases, so `pulumi up` renames them instead of deleting and re-creating them.
    from tests.test_sequence_graph import _set, broken_plan

    plan = broken_plan(_set("account-ledger", formerSlugs=["general-ledger"]))
    component = plan.resources[plan.module("account-ledger")]
    assert component["aliases"] == ["urn:pulumi:dev::bank::bank:domains:ServiceModule::general-ledger"]
    (record,) = [r for r in plan.resources.values() if r["urn"].endswith("::account-ledger-record")]
    assert (
        "urn:pulumi:dev::bank::bank:domains:ServiceModule$aws:ssm/parameter:Parameter::general-ledger-record"
        in (record["aliases"])
    )

    # Every resource under the module keeps its old URN as an alias, however deep: a missing one would be deleted
    # and re-created by the rename (its function, its queues and their messages).
    def descendants(urn):
        children = [r for r in plan.resources.values() if r.get("parent") == urn]
        return children + [d for c in children for d in descendants(c["urn"])]

    under = descendants(component["urn"])
    assert len(under) > 5
    assert [r["urn"] for r in under if not any("general-ledger" in a for a in r.get("aliases", []))] == []
    untouched = plan.resources[plan.module("account-creation")]
    assert "aliases" not in untouched


def test_the_plan_carries_each_tenants_activation():
    bank = offline_plan("dev").document["bank"]
    tenants = {t["id"]: t for t in bank["tenants"]}
    assert tenants["test-kowhai-credit-union"]["institutionType"] == "credit_union"
    modules = {m["slug"]: m for m in bank["modules"]}
    assert modules["member-shares"]["id"] in tenants["test-kowhai-credit-union"]["activeModules"]
    assert modules["member-shares"]["id"] not in tenants["totara-bank"]["activeModules"]
    assert modules["account-ledger"]["step"] == 2 and modules["account-ledger"]["dataClassification"] == "restricted"
