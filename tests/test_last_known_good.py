"""Last known-good: a passing phase gate records what passed, per module; a failing one records nothing.
Against moto in server mode on loopback, with `bankctl gate run` as the PhaseGate runs it (a fresh process)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from datetime import UTC, datetime, timedelta

import boto3
import pytest
import yaml

from gates.last_known_good import read_last_known_good, record_last_known_good
from model.platform import load_stack_platform
from tests.conftest import PROJECT_DIR

DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml
REGION = "ap-southeast-2"
PHASE = "4"  # Payments: its gate runs the module-records check only


def dev_pins() -> dict[str, dict]:
    """The dev release pins, read from the file itself (not through the model under test)."""
    return yaml.safe_load((PROJECT_DIR / "releases" / "dev.yaml").read_text())["modules"]


@pytest.fixture(scope="module")
def dev_platform():
    return load_stack_platform(PROJECT_DIR, "dev")


@pytest.fixture
def dev_credentials(moto_endpoint) -> dict[str, str]:
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole", RoleSessionName="lkg-test")[
        "Credentials"
    ]
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
        region_name=REGION,
        aws_access_key_id=dev_credentials["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=dev_credentials["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=dev_credentials["AWS_SESSION_TOKEN"],
    )


def last_known_good_parameters(ssm) -> dict[str, dict]:
    found = {}
    for page in ssm.get_paginator("get_parameters_by_path").paginate(Path="/bank/dev/", Recursive=True):
        found.update(
            {p["Name"]: json.loads(p["Value"]) for p in page["Parameters"] if p["Name"].endswith("/last-known-good")}
        )
    return found


def put_records(ssm, platform, phase: str, **overrides) -> None:
    """Each module record of the phase as the module writes it, the release taken from the raw pins."""
    pins = dev_pins()
    for m in platform.gate_members(phase):
        record = {
            "id": m.spec.id,
            "slug": m.spec.slug,
            "domain": m.spec.domain,
            "phase": phase,
            "environment": "dev",
            "release": overrides.get(m.spec.slug, pins[m.spec.id]),
        }
        ssm.put_parameter(
            Name=f"/bank/dev/{m.spec.slug}/release", Value=json.dumps(record), Type="String", Overwrite=True
        )


def run_gate(moto_endpoint, credentials, phase: str = PHASE):
    return subprocess.run(
        [sys.executable, "-m", "bankctl", "gate", "run", phase, "--stack", "dev"],
        cwd=PROJECT_DIR,
        env={**os.environ, "AWS_ENDPOINT_URL": moto_endpoint, **credentials},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_passing_gate_records_each_module_s_pinned_release(ssm, moto_endpoint, dev_credentials, dev_platform):
    put_records(ssm, dev_platform, PHASE)
    started = datetime.now(UTC).replace(microsecond=0)
    result = run_gate(moto_endpoint, dev_credentials)
    assert result.returncode == 0, result.stderr
    members = dev_platform.gate_members(PHASE)
    assert f"Recorded the last known-good release of {len(members)} module(s)" in result.stdout
    pins = dev_pins()
    records = last_known_good_parameters(ssm)
    assert set(records) == {f"/bank/dev/{m.spec.slug}/last-known-good" for m in members}
    for m in members:
        record = records[f"/bank/dev/{m.spec.slug}/last-known-good"]
        assert {k: record[k] for k in ("sha", "artifact")} == pins[m.spec.id]
        assert (record["id"], record["slug"], record["phase"]) == (m.spec.id, m.spec.slug, PHASE)
        when = datetime.strptime(record["when"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        assert started <= when <= datetime.now(UTC) + timedelta(seconds=1)


def test_a_failing_gate_records_nothing(ssm, moto_endpoint, dev_credentials, dev_platform):
    put_records(ssm, dev_platform, PHASE)
    ssm.delete_parameter(Name=f"/bank/dev/{dev_platform.gate_members(PHASE)[0].spec.slug}/release")
    result = run_gate(moto_endpoint, dev_credentials)
    assert result.returncode == 1
    assert "Recorded the last known-good" not in result.stdout
    assert last_known_good_parameters(ssm) == {}


def test_a_later_failure_keeps_what_last_passed(ssm, moto_endpoint, dev_credentials, dev_platform):
    # What passed, not merely what is pinned: a module now running another build fails the gate, and the record
    # still names the build that passed.
    put_records(ssm, dev_platform, PHASE)
    assert run_gate(moto_endpoint, dev_credentials).returncode == 0
    passed = last_known_good_parameters(ssm)
    assert len(passed) == len(dev_platform.gate_members(PHASE))
    slug = dev_platform.gate_members(PHASE)[0].spec.slug
    put_records(ssm, dev_platform, PHASE, **{slug: {"sha": "b" * 40, "artifact": f"x/{'b' * 40}.zip"}})
    failed = run_gate(moto_endpoint, dev_credentials)
    assert failed.returncode == 1, failed.stdout
    assert last_known_good_parameters(ssm) == passed


def test_foundation_modules_record_this_repository_s_commit(ssm, dev_platform):
    written = record_last_known_good(dev_platform, "0", ssm, PROJECT_DIR, when="2025-01-02T03:04:05Z")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_DIR, capture_output=True, text=True).stdout.strip()
    # DESIGN G1: the foundation gate does not wait for MOD-102, so it records no release for it either.
    assert sorted(written) == sorted(
        f"/bank/dev/{m.spec.slug}/last-known-good" for m in dev_platform.phase_modules("0") if m.spec.id != "MOD-102"
    )
    record = read_last_known_good(ssm, "dev", "aws-bootstrap")
    assert (record["sha"], record["artifact"], record["release"]) == (head, None, "this-repository")
    assert (record["phase"], record["when"]) == ("0", "2025-01-02T03:04:05Z")
    modified = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"], cwd=PROJECT_DIR, capture_output=True, text=True
    ).stdout.strip()
    assert record.get("uncommittedChanges", False) == bool(modified)


def test_no_record_before_any_gate_passed(ssm):
    assert read_last_known_good(ssm, "dev", "balance-service") is None
