"""`bankctl gate run`: the module-record check, against moto in server mode on loopback."""

from __future__ import annotations

import os
import subprocess
import sys
import urllib.request

import boto3
import pytest

from gates.module_records import check_module_records
from model.platform import load_stack_platform, module_record_name, record_json
from tests.conftest import PROJECT_DIR, offline_plan

DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml


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


def test_gate_fails_on_a_missing_record(ssm, dev_platform):
    deploy_records_from_plan(ssm, "dev", 1)
    victim = dev_platform.gate_members("1")[3]
    ssm.delete_parameter(Name=module_record_name("dev", victim.spec.id))
    findings = check_module_records(dev_platform, "1", ssm)
    assert [(f.module_id, f.problem) for f in findings] == [
        (victim.spec.id, f"no module record at /bank/dev/modules/{victim.spec.id}")
    ]


def test_gate_fails_on_a_module_running_another_release(ssm, dev_platform):
    deploy_records_from_plan(ssm, "dev", 2)
    victim = dev_platform.gate_members("2")[0]
    stale = victim.record("dev") | {"release": {"sha": "a" * 40, "artifact": f"x/{'a' * 40}.zip"}}
    ssm.put_parameter(
        Name=module_record_name("dev", victim.spec.id), Value=record_json(stale), Type="String", Overwrite=True
    )
    findings = check_module_records(dev_platform, "2", ssm)
    assert len(findings) == 1
    assert findings[0].module_id == victim.spec.id
    assert findings[0].problem == f"runs release aaaaaaaaaaaa, expected {victim.release.sha[:12]}"


def test_gate_fails_on_a_record_that_is_not_json(ssm, dev_platform):
    deploy_records_from_plan(ssm, "dev", 6)
    victim = dev_platform.gate_members("6")[-1]
    ssm.put_parameter(Name=module_record_name("dev", victim.spec.id), Value="deployed", Type="String", Overwrite=True)
    assert [f.module_id for f in check_module_records(dev_platform, "6", ssm)] == [victim.spec.id]


def test_foundation_gate_does_not_wait_for_snowflake(ssm, dev_platform):
    # DESIGN G1: MOD-102 may still be deploying when the foundation gate runs.
    deploy_records_from_plan(ssm, "dev", 0)
    ssm.delete_parameter(Name=module_record_name("dev", "MOD-102"))
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
    assert f"Phase 4 — Payments gate FAILED in dev: {members} of {members} module(s)" in failed.stderr
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
