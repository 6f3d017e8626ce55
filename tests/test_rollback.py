"""`bankctl rollback`: one module back on its last known-good release — in a copy of this project (it rewrites
releases/dev.yaml), as engineers run it (a fresh process), the record read from moto in server mode on loopback."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import shlex
import subprocess
import sys
import urllib.request

import boto3
import pytest
import yaml

from bankctl.affected_command import module_targets
from bankctl.rollback_command import rewrite_pin
from model.releases import ReleasePin, load_release_manifest
from tests.conftest import module_id, offline_plan
from tests.test_affected_targets import copy_project

DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml
REGION = "ap-southeast-2"
MODULE, SLUG = module_id("balance-service"), "balance-service"  # Phase 1, uses bank_core
OLD_BUILD = hashlib.sha1(b"balance-service, the build before").hexdigest()
FAKE_PULUMI = '#!/bin/sh\nprintf "%s\\n" "$@" > "$PULUMI_ARGS_FILE"\nexit "${FAKE_PULUMI_EXIT:-0}"\n'


@pytest.fixture(scope="module")
def copy(tmp_path_factory):
    root = tmp_path_factory.mktemp("project")
    copy_project(root)
    plan = root / "build" / "plan-dev.json"
    plan.parent.mkdir(exist_ok=True)
    plan.write_text(offline_plan("dev").text)
    return root


@pytest.fixture
def project(copy):
    """The copy, with its release file as this project has it again after each test."""
    manifest = copy / "releases" / "dev.yaml"
    original = manifest.read_text()
    yield copy
    manifest.write_text(original)


@pytest.fixture
def dev(moto_endpoint):
    """Credentials inside the dev account, and its SSM."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole", RoleSessionName="rollback")[
        "Credentials"
    ]
    env = {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    ssm = boto3.client(
        "ssm",
        endpoint_url=moto_endpoint,
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    return env, ssm


def put_last_known_good(ssm, slug: str, **release) -> None:
    record = {"id": MODULE, "slug": slug, "phase": "1", "when": "2025-01-02T03:04:05Z", **release}
    ssm.put_parameter(Name=f"/bank/dev/{slug}/last-known-good", Value=json.dumps(record), Type="String")


def rollback(project, env: dict, *args: str, path: str | None = None) -> subprocess.CompletedProcess:
    environment = {**os.environ, **env}
    if path is not None:
        environment["PATH"] = path
    return subprocess.run(
        [sys.executable, "-m", "bankctl", "rollback", *args, "--stack", "dev"],
        cwd=project,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def pins(project) -> dict:
    return yaml.safe_load((project / "releases" / "dev.yaml").read_text())["modules"]


def changed_lines(before: str, after: str) -> list[str]:
    return [line for line in difflib.ndiff(before.splitlines(), after.splitlines()) if line[:1] in "+-"]


def the_command(output: str) -> list[str]:
    [line] = [line for line in output.splitlines() if line.startswith("pulumi up ")]
    return shlex.split(line)


def test_rollback_restores_the_last_known_good_release(project, dev):
    env, ssm = dev
    current = pins(project)[MODULE]
    old = {"sha": OLD_BUILD, "artifact": f"bank-core/{SLUG}/{OLD_BUILD}.zip"}
    put_last_known_good(ssm, SLUG, **old)
    before = (project / "releases" / "dev.yaml").read_text()
    result = rollback(project, env, MODULE, "--plan", "build/plan-dev.json")
    assert result.returncode == 0, result.stderr
    after = (project / "releases" / "dev.yaml").read_text()
    # Only the module's one line changed; its comment, and every other line, comment and blank line, stayed.
    assert changed_lines(before, after) == [
        f"-   {MODULE}: {{sha: {current['sha']}, artifact: {current['artifact']}}}  # {SLUG}",
        f"+   {MODULE}: {{sha: {OLD_BUILD}, artifact: {old['artifact']}}}  # {SLUG}",
    ]
    assert load_release_manifest(project, "dev").modules[MODULE] == ReleasePin(**old)
    assert "--- a/releases/dev.yaml" in result.stdout and f"+  {MODULE}: {{sha: {OLD_BUILD}" in result.stdout
    assert f"/bank/dev/{SLUG}/" in result.stdout and "roll back with it" in result.stdout
    assert "Database migrations are never rolled back: bank_core" in result.stdout
    assert "compensating forward migration" in result.stdout
    targets = module_targets("dev", offline_plan("dev").document["deployment"]["resources"], [(MODULE, SLUG)])
    assert the_command(result.stdout) == shlex.split(targets.command())


def test_rollback_to_a_named_build(project, dev):
    env, _ = dev
    result = rollback(project, env, SLUG, "--to", OLD_BUILD, "--plan", "build/plan-dev.json")
    assert result.returncode == 0, result.stderr
    assert pins(project)[MODULE] == {"sha": OLD_BUILD, "artifact": f"bank-core/{SLUG}/{OLD_BUILD}.zip"}


def test_without_a_record_nothing_changes(project, dev):
    env, _ = dev
    before = (project / "releases" / "dev.yaml").read_text()
    result = rollback(project, env, MODULE, "--plan", "build/plan-dev.json")
    assert result.returncode == 1
    assert f"no last-known-good record for {MODULE} {SLUG} in dev" in result.stderr
    assert (project / "releases" / "dev.yaml").read_text() == before


def test_a_record_that_is_no_valid_pin_changes_nothing(project, dev):
    env, ssm = dev
    put_last_known_good(ssm, SLUG, sha="0" * 40, artifact=f"bank-core/{SLUG}/{'0' * 40}.zip")
    before = (project / "releases" / "dev.yaml").read_text()
    result = rollback(project, env, MODULE, "--plan", "build/plan-dev.json")
    assert result.returncode == 2
    assert "is not a valid pin; nothing was changed" in result.stderr and "all zeros is not a commit" in result.stderr
    assert (project / "releases" / "dev.yaml").read_text() == before


def test_already_on_its_last_known_good(project, dev):
    env, ssm = dev
    put_last_known_good(ssm, SLUG, **pins(project)[MODULE])
    before = (project / "releases" / "dev.yaml").read_text()
    result = rollback(project, env, MODULE, "--plan", "build/plan-dev.json")
    assert result.returncode == 0, result.stderr
    assert "nothing to roll back" in result.stdout
    assert (project / "releases" / "dev.yaml").read_text() == before


def test_a_phase_0_module_needs_a_maintenance_window(project, dev):
    env, _ = dev
    before = (project / "releases" / "dev.yaml").read_text()
    refused = rollback(project, env, "MOD-104", "--to", OLD_BUILD, "--plan", "build/plan-dev.json")
    assert refused.returncode == 2
    assert "refused: MOD-104 aws-bootstrap is a Phase 0 module" in refused.stderr
    assert "maintenance window" in refused.stderr
    allowed = rollback(
        project, env, "MOD-104", "--to", OLD_BUILD, "--maintenance-window", "--plan", "build/plan-dev.json"
    )
    assert allowed.returncode == 0, allowed.stderr
    assert f"git worktree add --detach ../bank-{OLD_BUILD[:12]} {OLD_BUILD}" in allowed.stdout
    assert (
        "pulumi up -s dev --target urn:pulumi:dev::bank::bank:foundation:AwsBootstrap::aws-bootstrap" in allowed.stdout
    )
    applied = rollback(
        project, env, "MOD-104", "--to", OLD_BUILD, "--maintenance-window", "--apply", "--plan", "build/plan-dev.json"
    )
    assert applied.returncode == 2 and "not applied" in applied.stderr
    not_a_commit = rollback(project, env, "MOD-104", "--to", "main; rm -rf .", "--maintenance-window")
    assert not_a_commit.returncode == 2 and "is not a commit of this repository" in not_a_commit.stderr
    assert (project / "releases" / "dev.yaml").read_text() == before


def test_apply_needs_the_pulumi_cli(project, dev, tmp_path):
    env, _ = dev
    before = (project / "releases" / "dev.yaml").read_text()
    result = rollback(
        project, env, MODULE, "--to", OLD_BUILD, "--apply", "--plan", "build/plan-dev.json", path=str(tmp_path)
    )
    assert result.returncode == 2
    assert "pulumi is not on PATH" in result.stderr
    assert (project / "releases" / "dev.yaml").read_text() == before


@pytest.mark.parametrize(("pulumi_exit", "expected"), [(0, 0), (3, 1)])
def test_apply_runs_the_targeted_up(project, dev, tmp_path, pulumi_exit, expected):
    env, _ = dev
    fake = tmp_path / "bin" / "pulumi"
    fake.parent.mkdir()
    fake.write_text(FAKE_PULUMI)
    fake.chmod(0o755)
    arguments = tmp_path / "arguments"
    env = {**env, "PULUMI_ARGS_FILE": str(arguments), "FAKE_PULUMI_EXIT": str(pulumi_exit)}
    result = rollback(
        project, env, MODULE, "--to", OLD_BUILD, "--apply", "--plan", "build/plan-dev.json", path=str(fake.parent)
    )
    assert result.returncode == expected, result.stderr
    assert arguments.read_text().splitlines() == the_command(result.stdout)[1:]
    # Either way the pin stays rolled back: a failed `up` is re-run, not silently undone.
    assert pins(project)[MODULE]["sha"] == OLD_BUILD


# --- the one-line edit ------------------------------------------------------------------------------------------
MANIFEST = """# comment kept
stack: dev
modules:
  MOD-201: {sha: aaa, artifact: x/aaa.zip}  # first
  MOD-202: {sha: bbb, artifact: y/bbb.zip}

# migrations follow
"""


def test_rewrite_pin_changes_one_line_only():
    after = rewrite_pin(MANIFEST, "MOD-201", {"sha": "ccc", "artifact": "x/ccc.zip", "sha256": "d" * 64})
    assert changed_lines(MANIFEST, after) == [
        "-   MOD-201: {sha: aaa, artifact: x/aaa.zip}  # first",
        f"+   MOD-201: {{sha: ccc, artifact: x/ccc.zip, sha256: {'d' * 64}}}  # first",
    ]
    assert changed_lines(MANIFEST, rewrite_pin(MANIFEST, "MOD-202", {"sha": "c", "artifact": "c.zip"})) == [
        "-   MOD-202: {sha: bbb, artifact: y/bbb.zip}",
        "+   MOD-202: {sha: c, artifact: c.zip}",
    ]


@pytest.mark.parametrize(
    "text",
    [
        MANIFEST.replace("MOD-201: {sha: aaa, artifact: x/aaa.zip}", "MOD-201:\n    sha: aaa\n    artifact: x/aaa.zip"),
        MANIFEST.replace("MOD-201", "MOD-203"),
    ],
)
def test_rewrite_pin_refuses_a_pin_it_cannot_edit_by_its_line(text):
    with pytest.raises(ValueError, match="is not one"):
        rewrite_pin(text, "MOD-201", {"sha": "c", "artifact": "c.zip"})


def test_a_module_without_a_database_says_so(project, dev):
    env, _ = dev
    result = rollback(
        project, env, module_id("card-scheme-integration"), "--to", OLD_BUILD, "--plan", "build/plan-dev.json"
    )
    assert result.returncode == 0, result.stderr
    assert "Database migrations are never rolled back; card-scheme-integration uses no database." in result.stdout


def test_rewrite_pin_keeps_an_all_digit_sha_a_string():
    # YAML reads 40 plain digits as an integer; the rewritten pin must still say the SHA.
    after = rewrite_pin(MANIFEST, "MOD-201", {"sha": "1" * 40, "artifact": f"x/{'1' * 40}.zip"})
    assert yaml.safe_load(after)["modules"]["MOD-201"] == {"sha": "1" * 40, "artifact": f"x/{'1' * 40}.zip"}
