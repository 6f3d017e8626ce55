"""`bankctl gate run`: the module-record check, against moto in server mode on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import urllib.request

import boto3
import pytest
import yaml

from gates.module_records import check_module_records
from model.platform import load_stack_platform
from tests.conftest import PROJECT_DIR, offline_plan

DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml


def expected_records(stack: str) -> dict[str, dict]:
    """What each module's record must hold, built from the raw catalogue and release files — not from the
    code that writes records — by the operations index's convention /bank/{env}/{service}/{parameter}."""
    catalogue = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
    pins = yaml.safe_load((PROJECT_DIR / "releases" / f"{stack}.yaml").read_text())["modules"]
    return {
        f"/bank/{stack}/{m['slug']}/release": {
            "id": m["id"],
            "slug": m["slug"],
            "domain": m["domain"],
            "phase": str(m["phase"]),
            "environment": stack,
            "release": pins[m["id"]] if m.get("kind", "service") == "service" else "this-repository",
        }
        for m in catalogue
    }


def record_name(stack: str, slug: str) -> str:
    return f"/bank/{stack}/{slug}/release"


@pytest.fixture
def dev_credentials(moto_endpoint) -> dict[str, str]:
    """Credentials inside the dev account, as the deployment role gives them (moto keeps accounts apart)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name="ap-southeast-2")
    role = f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="gate-test")["Credentials"]
    return {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }


@pytest.fixture
def ssm(moto_endpoint, dev_credentials):
    return boto3.client(
        "ssm",
        endpoint_url=moto_endpoint,
        region_name="ap-southeast-2",
        aws_access_key_id=dev_credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=dev_credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=dev_credentials["AWS_SESSION_TOKEN"],
    )


@pytest.fixture(scope="module")
def dev_platform():
    return load_stack_platform(PROJECT_DIR, "dev")


def deploy_records_from_plan(ssm, stack: str, phase) -> int:
    """Write the module records exactly as the plan says `pulumi up` would, for one phase."""
    doc = offline_plan(stack).document
    parents = {m["urn"] for m in doc["bank"]["modules"] if m["enabled"] and str(m["phase"]) == str(phase)}
    count = 0
    for r in doc["deployment"]["resources"]:
        if r["type"] == "aws:ssm/parameter:Parameter" and r["parent"] in parents:
            ssm.put_parameter(Name=r["inputs"]["name"], Value=r["inputs"]["insecureValue"], Type="String")
            count += 1
    return count


def test_gate_passes_when_the_program_has_deployed_the_phase(ssm, dev_platform):
    assert deploy_records_from_plan(ssm, "dev", 1) == len(dev_platform.phase_modules("1"))
    assert check_module_records(dev_platform, "1", ssm) == []


def test_the_plan_writes_exactly_the_expected_records():
    expected = expected_records("dev")
    doc = offline_plan("dev").document
    written = {
        r["inputs"]["name"]: json.loads(r["inputs"]["insecureValue"])
        for r in doc["deployment"]["resources"]
        if r["type"] == "aws:ssm/parameter:Parameter" and r["inputs"]["name"].endswith("/release")
    }
    enabled = {record_name("dev", m["slug"]) for m in doc["bank"]["modules"] if m["enabled"]}
    assert written == {name: record for name, record in expected.items() if name in enabled}


def put_expected_records(ssm, stack: str, phase: str) -> None:
    for name, record in expected_records(stack).items():
        if record["phase"] == phase:
            ssm.put_parameter(Name=name, Value=json.dumps(record), Type="String", Overwrite=True)


def test_gate_passes_on_records_built_independently_of_the_program(ssm, dev_platform):
    put_expected_records(ssm, "dev", "5")
    assert check_module_records(dev_platform, "5", ssm) == []


@pytest.mark.parametrize(
    ("field", "wrong"), [("domain", "SD02"), ("phase", "2"), ("environment", "prod"), ("id", "MOD-999")]
)
def test_gate_fails_on_a_record_of_another_module_phase_or_stack(ssm, dev_platform, field, wrong):
    # The right release is not enough: a record of another domain, phase or environment was not written
    # by this module for this stack.
    put_expected_records(ssm, "dev", "1")
    name = record_name("dev", "account-ledger")
    record = expected_records("dev")[name] | {field: wrong}
    ssm.put_parameter(Name=name, Value=json.dumps(record), Type="String", Overwrite=True)
    findings = check_module_records(dev_platform, "1", ssm)
    assert [f.slug for f in findings] == ["account-ledger"]
    assert f"{field} is {wrong!r}" in findings[0].problem


def test_gate_fails_on_a_missing_record(ssm, dev_platform):
    deploy_records_from_plan(ssm, "dev", 1)
    ssm.delete_parameter(Name=record_name("dev", "balance-service"))
    findings = check_module_records(dev_platform, "1", ssm)
    assert [(f.slug, f.problem) for f in findings] == [
        ("balance-service", "no module record at /bank/dev/balance-service/release")
    ]


def test_gate_fails_on_a_module_running_another_release(ssm, dev_platform):
    deploy_records_from_plan(ssm, "dev", 2)
    name = record_name("dev", "kyc-risk-scoring")
    expected = expected_records("dev")[name]
    stale = expected | {"release": {"sha": "a" * 40, "artifact": f"x/{'a' * 40}.zip"}}
    ssm.put_parameter(Name=name, Value=json.dumps(stale), Type="String", Overwrite=True)
    findings = check_module_records(dev_platform, "2", ssm)
    assert [(f.slug, f.problem) for f in findings] == [
        ("kyc-risk-scoring", f"runs release aaaaaaaaaaaa, expected {expected['release']['sha'][:12]}")
    ]


def test_gate_fails_on_a_record_that_is_not_json(ssm, dev_platform):
    deploy_records_from_plan(ssm, "dev", 6)
    ssm.put_parameter(Name=record_name("dev", "risk-reporting"), Value="deployed", Type="String", Overwrite=True)
    assert [f.slug for f in check_module_records(dev_platform, "6", ssm)] == ["risk-reporting"]


def test_foundation_gate_does_not_wait_for_snowflake(ssm, dev_platform):
    # DESIGN G1: MOD-102 may still be deploying when the foundation gate runs.
    deploy_records_from_plan(ssm, "dev", 0)
    ssm.delete_parameter(Name=record_name("dev", "snowflake-configuration"))
    assert check_module_records(dev_platform, "0", ssm) == []


def run_gate(moto_endpoint, phase: str, credentials: dict[str, str], stack: str = "dev"):
    env = {**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, **credentials}
    return subprocess.run(
        [sys.executable, "-m", "bankctl", "gate", "run", phase, "--stack", stack],
        cwd=PROJECT_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_gate_command_exit_codes(ssm, moto_endpoint, dev_credentials, dev_platform):
    failed = run_gate(moto_endpoint, "4", dev_credentials)
    assert failed.returncode == 1, failed.stderr
    members = len(dev_platform.gate_members("4"))
    assert f"Phase 4 — Payments gate: module records: {members} problem(s)" in failed.stderr
    assert "Phase 4 — Payments gate FAILED in dev" in failed.stderr
    deploy_records_from_plan(ssm, "dev", 4)
    passed = run_gate(moto_endpoint, "4", dev_credentials)
    assert passed.returncode == 0, passed.stderr
    assert "gate passed" in passed.stdout


def test_gate_refuses_credentials_of_another_account(ssm, moto_endpoint):
    deploy_records_from_plan(ssm, "dev", 4)
    other_account = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": ""}
    result = run_gate(moto_endpoint, "4", other_account)
    assert result.returncode == 1
    assert (
        f"the AWS credentials in use are for account 123456789012, but stack dev deploys to {DEV_ACCOUNT}"
        in " ".join(result.stderr.split())
    )


def test_gate_command_rejects_an_unknown_phase(moto_endpoint, dev_credentials):
    result = run_gate(moto_endpoint, "9", dev_credentials)
    assert result.returncode == 2 and "unknown phase `9`" in result.stderr


def test_gate_reports_an_unreachable_aws_without_a_traceback(dev_credentials):
    closed_port = "http://127.0.0.1:9"  # discard: nothing listens here
    result = run_gate(closed_port, "1", {**dev_credentials, "AWS_MAX_ATTEMPTS": "1"})
    assert result.returncode == 1
    assert "gate 1 cannot run: AWS did not answer as expected" in result.stderr
    assert "Traceback" not in result.stderr


def gate_triggers(document: dict) -> dict[str, list]:
    gates = {p["gate"]: p["key"] for p in document["bank"]["phases"]}
    return {
        gates[r["parent"]]: r["inputs"]["triggers"]
        for r in document["deployment"]["resources"]
        if r["type"] == "command:local:Command" and r["parent"] in gates  # not the databases' Flyway commands
    }


def test_a_gate_re_runs_exactly_when_a_record_of_its_phase_changes(tmp_path):
    from bankctl.plan_command import plan_stack

    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    shutil.copytree(PROJECT_DIR / "releases", tmp_path / "releases")
    manifest = tmp_path / "releases" / "dev.yaml"
    pins = expected_records("dev")
    text = manifest.read_text()
    # A new build of one Phase 1 module and one Phase 4 module.
    for slug in ("interest-engine", "payment-tracking"):
        old = pins[record_name("dev", slug)]["release"]["sha"]
        text = text.replace(old, "f" * 40)
    manifest.write_text(text)

    before = gate_triggers(offline_plan("dev").document)
    after = gate_triggers(plan_stack("dev", tmp_path).document)
    assert {phase for phase in before if before[phase] != after[phase]} == {"1", "4"}
