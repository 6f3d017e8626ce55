"""`bankctl affected` on a real git history built here, and `bankctl targets` on the dev plan.

The history: this project's files (tracked and not ignored, as the working tree has them) committed as `base`;
then `pin`, a new build of one module in releases/dev.yaml; then `bus`, a Phase 0 change — SD08's event bus gets
another name — whose users are whatever takes that bus's outputs as inputs; then `broken`, a pin no plan accepts.
Each ref is planned in its own process from its own tree (bankctl.affected_command.plan_trees). Plans are slow
(seconds each), so `base`, `pin` and `bus` are planned once, side by side, for every test here; `targets` reads the
session's offline plan of dev (tests/conftest.py).
"""

from __future__ import annotations

import hashlib
import json
import shlex
import shutil
import subprocess
from pathlib import Path
from types import SimpleNamespace

import pytest
import yaml
from typer.testing import CliRunner

from bankctl import affected_command
from bankctl.affected_command import module_targets, plan_trees, resolve_ref
from bankctl.cli import app
from tests.conftest import PROJECT_DIR, module_id, offline_plan

PINNED = module_id("balance-service")  # Phase 1
NEW_BUILD = hashlib.sha1(b"balance-service, the next build").hexdigest()
BUS_CALL = '            f"{name}-bus",\n            name=bus_name(environment, domain),\n'
STACK = "pulumi:pulumi:Stack"


def git(repo: Path, *args: str) -> str:
    done = subprocess.run(
        ["git", "-c", "user.name=test", "-c", "user.email=test@example.invalid", *args],
        cwd=repo,
        capture_output=True,
        text=True,
        check=True,
    )
    return done.stdout.strip()


def copy_project(into: Path) -> None:
    """The project's files as `git ls-files` lists them (tracked, and new files not ignored), not .venv or build."""
    listed = subprocess.run(
        ["git", "ls-files", "-z", "--cached", "--others", "--exclude-standard"],
        cwd=PROJECT_DIR,
        capture_output=True,
        check=True,
    ).stdout.decode()
    for name in filter(None, listed.split("\0")):
        source = PROJECT_DIR / name
        if source.is_file():
            (into / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, into / name)


def commit_edit(repo: Path, path: str, old: str, new: str, message: str) -> None:
    text = (repo / path).read_text()
    assert text.count(old) == 1, f"{path} no longer has the text this test edits: {old!r}"
    (repo / path).write_text(text.replace(old, new))
    git(repo, "commit", "-qam", message)


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    repo = tmp_path_factory.mktemp("history")
    copy_project(repo)
    git(repo, "init", "-q")
    git(repo, "add", "-A")
    git(repo, "commit", "-qm", "base")
    pin = yaml.safe_load((repo / "releases" / "dev.yaml").read_text())["modules"][PINNED]
    line = f"{PINNED}: {{sha: {pin['sha']}, artifact: {pin['artifact']}}}"
    commit_edit(repo, "releases/dev.yaml", line, line.replace(pin["sha"], NEW_BUILD), "pin")
    commit_edit(
        repo,
        "foundation/aws_bootstrap/encryption_events.py",
        BUS_CALL,
        BUS_CALL.replace(
            "name=bus_name(environment, domain)",
            'name=bus_name(environment, domain) + ("-v2" if domain == "SD08" else "")',
        ),
        "bus",
    )
    commit_edit(repo, "releases/dev.yaml", f"sha: {NEW_BUILD},", f"sha: {'0' * 40},", "broken")
    refs = [(ref, *resolve_ref(repo, ref)) for ref in ("HEAD~3", "HEAD~2", "HEAD~1")]
    # The three plans side by side, once; the tests' `affected` runs find them in the command's cache of plans by
    # tree. Each is its own process from its own tree — no plan of this checkout stands in for one, since other
    # files may change while a test runs.
    plans = plan_trees(repo, refs, "dev")
    base_plan = plans[refs[0][2]]
    return SimpleNamespace(repo=repo, base="HEAD~3", pin="HEAD~2", bus="HEAD~1", broken="HEAD", base_plan=base_plan)


def bankctl(*args: str):
    return CliRunner().invoke(app, list(args))


def affected(history, base: str, head: str) -> dict:
    result = bankctl("affected", base, head, "--stack", "dev", "--repo", str(history.repo), "--json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def test_a_pin_change_touches_exactly_its_module_and_its_phase_gate(history):
    found = affected(history, history.base, history.pin)
    assert [(m["id"], m["slug"], m["phase"]) for m in found["modules"]] == [(PINNED, "balance-service", "1")]
    assert "record" in found["modules"][0]["why"]
    # The gate of its phase re-runs its check (its triggers carry the phase's records); no other gate does.
    assert [(g["name"], g["why"]) for g in found["gates"]] == [("phase-1-gate", "check triggers")]
    assert found["others"] == []
    assert found["targetsCommand"] == f"bankctl targets {PINNED} --stack dev"

    text = bankctl("affected", history.base, history.pin, "--stack", "dev", "--repo", str(history.repo))
    assert text.exit_code == 0, text.output
    assert f"phase 1  {PINNED} balance-service:" in text.output
    assert f"Deploy them: bankctl targets {PINNED} --stack dev" in text.output


def bus_users(plan: dict, bus_name: str) -> set[str]:
    """The module IDs whose resources take the bus's outputs as inputs (its propertyDependencies), and MOD-104,
    which owns the bus: read from the base plan, independently of the comparison under test."""
    resources = {r["urn"]: r for r in plan["deployment"]["resources"]}
    [bus] = [u for u, r in resources.items() if r["type"].endswith("EventBus") and r["inputs"].get("name") == bus_name]
    modules = {m["urn"]: m["id"] for m in plan["bank"]["modules"] if m["urn"]}

    def module_of(urn: str) -> str | None:
        while urn and urn not in modules:
            urn = resources[urn].get("parent", "")
        return modules.get(urn)

    users = {
        module_of(u)
        for u, r in resources.items()
        if any(bus in urns for urns in r.get("propertyDependencies", {}).values())
    }
    return (users | {module_of(bus)}) - {None}


def test_a_phase_0_output_change_touches_exactly_the_modules_that_use_it(history):
    found = affected(history, history.pin, history.bus)
    users = bus_users(history.base_plan, "bank-dev-sd08")
    assert {m["id"] for m in found["modules"]} == users
    # Its users are more than MOD-104 itself: SD08's services take the bus (the document's "any module that
    # depends on that alias must also be redeployed").
    assert len(users - {"MOD-104"}) >= 1
    # Deployment order: Phase 0 first.
    assert found["modules"][0]["id"] == "MOD-104"
    phases = [m["phase"] for m in found["modules"]]
    order = [p["key"] for p in history.base_plan["bank"]["phases"]]
    assert phases == sorted(phases, key=order.index)
    assert found["targetsCommand"] == "bankctl targets " + " ".join(m["id"] for m in found["modules"]) + " --stack dev"


def test_no_change_between_the_same_trees(history):
    result = bankctl("affected", history.bus, history.bus, "--stack", "dev", "--repo", str(history.repo))
    assert result.exit_code == 0, result.output
    assert "nothing to deploy" in result.output


def test_a_ref_that_is_not_a_commit(history):
    result = bankctl("affected", "no-such-branch", history.pin, "--stack", "dev", "--repo", str(history.repo))
    assert result.exit_code == 2
    assert "`no-such-branch` is not a commit" in result.output


def test_a_ref_whose_program_refuses_its_inputs(history):
    result = bankctl("affected", history.bus, history.broken, "--stack", "dev", "--repo", str(history.repo))
    assert result.exit_code == 2
    assert "the plan of dev at HEAD" in result.output
    assert f"modules.{PINNED}.sha" in result.output  # the program's own message, from that ref's process


# --- targets ----------------------------------------------------------------------------------------------------
def descendants(resources: list[dict], urn: str) -> set[str]:
    """Everything whose parent chain reaches `urn`, walked upwards from each resource."""
    parents = {r["urn"]: r.get("parent", "") for r in resources}
    found = set()
    for start in parents:
        current = start
        while current:
            if current == urn:
                found.add(start)
                break
            current = parents.get(current, "")
    return found


@pytest.fixture(scope="module")
def dev_plan_file(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("plan") / "plan-dev.json"
    path.write_text(offline_plan("dev").text)
    return path


def test_targets_are_the_component_and_every_descendant(dev_plan_file):
    document = offline_plan("dev").document
    resources = document["deployment"]["resources"]
    component = next(m["urn"] for m in document["bank"]["modules"] if m["id"] == PINNED)
    result = bankctl("targets", PINNED, "--stack", "dev", "--plan", str(dev_plan_file))
    assert result.exit_code == 0, result.output
    command = shlex.split(result.output.strip().splitlines()[-1])
    assert command[:4] == ["pulumi", "up", "-s", "dev"]
    targeted = [command[i + 1] for i, word in enumerate(command) if word == "--target"]
    assert targeted[0] == component
    assert set(targeted) == descendants(resources, component) and len(targeted) == len(set(targeted))
    assert len(targeted) > 1  # a component target alone would leave its children out


def test_target_dependents_when_something_outside_depends_on_the_module(dev_plan_file):
    resources = offline_plan("dev").document["deployment"]["resources"]
    found = module_targets("dev", resources, [(PINNED, "balance-service")])
    inside = set(found.urns)
    outside_users = {
        r["urn"]
        for r in resources
        if r["urn"] not in inside
        and inside
        & (set(r.get("dependencies", [])) | {u for us in r.get("propertyDependencies", {}).values() for u in us})
    }
    assert outside_users  # the next steps of SD01 wait for the balance service
    assert set().union(*found.dependents.values()) >= outside_users
    assert found.command().endswith("--target-dependents")
    result = bankctl("targets", PINNED, "--stack", "dev", "--plan", str(dev_plan_file))
    assert "--target-dependents: outside them, these depend on their resources" in result.output


def test_no_target_dependents_when_nothing_depends_on_the_module():
    stack = "urn:pulumi:dev::bank::pulumi:pulumi:Stack::bank-dev"
    component = "urn:pulumi:dev::bank::bank:domains:ServiceModule::leaf"
    child = "urn:pulumi:dev::bank::bank:domains:ServiceModule$aws:ssm/parameter:Parameter::leaf-record"
    other = "urn:pulumi:dev::bank::bank:domains:ServiceModule::other"
    resources = [
        {"urn": stack, "type": STACK, "custom": False},
        {"urn": component, "type": "bank:domains:ServiceModule", "custom": False, "parent": stack},
        {"urn": child, "type": "aws:ssm/parameter:Parameter", "custom": True, "parent": component},
        {"urn": other, "type": "bank:domains:ServiceModule", "custom": False, "parent": stack, "dependencies": []},
    ]
    found = module_targets("dev", resources, [("MOD-900", "leaf")])
    assert found.urns == [component, child] and found.dependents == {}
    assert "--target-dependents" not in found.command()
    resources[3]["dependencies"] = [child]
    assert module_targets("dev", resources, [("MOD-900", "leaf")]).dependents == {"other": [other]}


def test_targets_read_a_real_stack_export_without_the_plan_s_bank_section(tmp_path):
    document = json.loads(offline_plan("dev").text)
    del document["bank"]
    export = tmp_path / "export.json"
    export.write_text(json.dumps(document))
    with_bank = module_targets(
        "dev", offline_plan("dev").document["deployment"]["resources"], [(PINNED, "balance-service")]
    )
    result = bankctl("targets", "balance-service", "--stack", "dev", "--plan", str(export), "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["targets"] == with_bank.urns


def test_targets_refuse_unknown_and_disabled_modules(dev_plan_file):
    result = bankctl(
        "targets", "MOD-999", "swift-correspondent-banking", "--stack", "dev", "--plan", str(dev_plan_file)
    )
    assert result.exit_code == 2
    assert "MOD-999: no such module in the catalogue" in result.output
    assert "swift-correspondent-banking is not deployed in dev" in result.output


# --- the comparison, on small documents ------------------------------------------------------------------------
def small_plan(edit=None) -> dict:
    """A stack with one module (a parameter under a sub-component) on an explicit provider, and its gate."""
    stack = "urn:pulumi:dev::bank::pulumi:pulumi:Stack::bank-dev"
    provider = "urn:pulumi:dev::bank::pulumi:providers:aws::aws-dev"
    module = "urn:pulumi:dev::bank::bank:domains:ServiceModule::leaf"
    inner = "urn:pulumi:dev::bank::bank:domains:ServiceModule$bank:components:Part::leaf-part"
    parameter = (
        "urn:pulumi:dev::bank::bank:domains:ServiceModule$bank:components:Part$aws:ssm/parameter:Parameter::leaf-p"
    )
    gate = "urn:pulumi:dev::bank::bank:gates:PhaseGate::phase-1-gate"
    check = "urn:pulumi:dev::bank::bank:gates:PhaseGate$command:local:Command::phase-1-gate-check"
    resources = [
        {"urn": stack, "type": STACK, "custom": False},
        {"urn": provider, "type": "pulumi:providers:aws", "custom": True, "parent": stack, "inputs": {"region": "r"}},
        {"urn": module, "type": "bank:domains:ServiceModule", "custom": False, "parent": stack},
        {"urn": inner, "type": "bank:components:Part", "custom": False, "parent": module},
        {
            "urn": parameter,
            "type": "aws:ssm/parameter:Parameter",
            "custom": True,
            "parent": inner,
            "provider": f"{provider}::0000",
            "inputs": {"name": "/bank/dev/leaf/p", "insecureValue": "1"},
        },
        {"urn": gate, "type": "bank:gates:PhaseGate", "custom": False, "parent": stack},
        {"urn": check, "type": "command:local:Command", "custom": True, "parent": gate, "inputs": {"triggers": ["a"]}},
    ]
    by_urn = {r["urn"]: r for r in resources}
    if edit is not None:
        edit(by_urn)
    return {
        "deployment": {"resources": [r for r in resources if r["urn"] in by_urn]},
        "bank": {
            "phases": [{"key": "1", "gate": gate}],
            "modules": [{"id": "MOD-900", "slug": "leaf", "phase": 1, "urn": module}],
        },
    }


def parameter_of(by_urn: dict) -> dict:
    return next(r for u, r in by_urn.items() if u.endswith("::leaf-p"))


@pytest.mark.parametrize(
    ("edit", "why"),
    [
        (lambda b: parameter_of(b)["inputs"].update(insecureValue="2"), "Parameter leaf-p: insecureValue"),
        (lambda b: parameter_of(b).update(protect=True), "Parameter leaf-p: protect"),
        (lambda b: parameter_of(b).update(ignoreChanges=["insecureValue"]), "Parameter leaf-p: ignoreChanges"),
        (
            lambda b: b["urn:pulumi:dev::bank::pulumi:providers:aws::aws-dev"]["inputs"].update(region="s"),
            "Parameter leaf-p: provider configuration",
        ),
        (lambda b: b.pop(next(u for u in b if u.endswith("::leaf-p"))), "Parameter leaf-p (removed)"),
    ],
)
def test_a_module_is_affected_by_its_resources_inputs_options_and_provider(edit, why):
    base = small_plan()
    head = small_plan(edit)
    found = [c for c in affected_command.compare_plans(base, head) if c.kind == "module"]
    assert [(c.module_id, c.why()) for c in found] == [("MOD-900", why)]


def test_dependencies_alone_affect_nothing():
    base = small_plan()
    head = small_plan(lambda by_urn: parameter_of(by_urn).update(dependencies=["x"]))
    assert affected_command.compare_plans(base, head) == []
    assert affected_command.compare_plans(base, small_plan()) == []
