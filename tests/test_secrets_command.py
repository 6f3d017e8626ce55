"""`bankctl secrets status|set|docs` and the foundation gate's secrets check, against moto in server mode on loopback.

The account is made as `pulumi up` would make it: every secret of the dev plan, MOD-045's as empty containers,
the generated ones (MOD-103, MOD-102) with their values. Every value a test writes is a sentinel that must never
appear in any output.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request
from types import SimpleNamespace

import boto3
import pytest
import typer

from gates.phase_checks import GateContext
from gates.secrets_populated import secrets_populated
from model.platform import load_stack_platform
from tests.conftest import PROJECT_DIR, offline_plan

DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml
REGION = "ap-southeast-2"
MOD_045 = "bank:foundation:SecretsKeyManagement"
SMOKE_VALUE_FIELDS = ("userPoolId", "clientId", "username", "password")


def sentinel(path: str) -> str:
    return f"sentinel-value-{path.rsplit('/', 1)[-1]}-7f3a9c"


@pytest.fixture
def dev(moto_endpoint):
    """Credentials inside the dev account (moto keeps accounts apart), and its Secrets Manager and SSM."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    role = f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="secrets-test")["Credentials"]
    env = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
    }
    session = boto3.Session(
        region_name=REGION,
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )

    class EndpointSession:
        """A boto3 session whose clients go to moto (what AWS_ENDPOINT_URL does for the CLI)."""

        def client(self, service):
            return session.client(service, endpoint_url=moto_endpoint)

    return SimpleNamespace(
        env=env,
        endpoint=moto_endpoint,
        session=EndpointSession(),
        sm=session.client("secretsmanager", endpoint_url=moto_endpoint),
        ssm=session.client("ssm", endpoint_url=moto_endpoint),
    )


def plan_secrets() -> tuple[list[str], list[str]]:
    """Secrets the dev plan creates: (MOD-045's containers, the generated ones)."""
    resources = offline_plan("dev").document["deployment"]["resources"]
    component = next(r["urn"] for r in resources if r["type"] == MOD_045)
    secrets = [r for r in resources if r["type"] == "aws:secretsmanager/secret:Secret"]
    provided = sorted(r["inputs"]["name"] for r in secrets if r["parent"] == component)
    generated = sorted(r["inputs"]["name"] for r in secrets if r["parent"] != component)
    return provided, generated


def deploy_secrets(sm) -> tuple[list[str], list[str]]:
    """What `pulumi up` leaves in the account: empty containers (MOD-045) and generated secrets with their values."""
    provided, generated = plan_secrets()
    for name in provided:
        sm.create_secret(Name=name)
    for name in generated:
        sm.create_secret(Name=name, SecretString=sentinel(name))
    return provided, generated


def populate(sm, names) -> None:
    for name in names:
        value = sentinel(name)
        if name.endswith(("/smoke-test-customer", "/smoke-test-staff")):
            value = json.dumps({field: sentinel(name) for field in SMOKE_VALUE_FIELDS})
        sm.put_secret_value(SecretId=name, SecretString=value)


def gate_findings(dev) -> dict[str, str]:
    platform = load_stack_platform(PROJECT_DIR, "dev")
    return {f.subject: f.problem for f in secrets_populated(GateContext(platform, "0", dev.session))}


def bankctl(dev, *args: str, stdin: str | None = None, env: dict | None = None):
    run_env = {**os.environ, "AWS_ENDPOINT_URL": dev.endpoint, **(dev.env if env is None else env)}
    return subprocess.run(
        [sys.executable, "-m", "bankctl", *args],
        cwd=PROJECT_DIR,
        env=run_env,
        input=stdin if stdin is not None else "",
        capture_output=True,
        text=True,
        timeout=120,
    )


def assert_no_value_shown(result, *names: str) -> None:
    shown = result.stdout + result.stderr
    for name in names:
        assert sentinel(name) not in shown


def versions(sm, name: str) -> list:
    return sm.list_secret_version_ids(SecretId=name)["Versions"]


# --- The foundation gate's check ---------------------------------------------------------------------------------
def test_the_gate_names_every_empty_secret_and_the_command_that_sets_it(dev):
    provided, generated = deploy_secrets(dev.sm)
    findings = gate_findings(dev)
    assert sorted(findings) == provided  # generated ones are populated by their owners
    for name in provided:
        assert findings[name].startswith("has no value: set it with ")
        assert f"`.venv/bin/python -m bankctl secrets set dev {name}`" in findings[name]
    assert (
        "value from: identity-kyc team, from the GreenID account" in findings["/bank/dev/sd02/greenid-api-credentials"]
    )


def test_the_gate_passes_on_a_populated_account(dev):
    provided, _ = deploy_secrets(dev.sm)
    populate(dev.sm, provided)
    assert gate_findings(dev) == {}


def test_the_gate_fails_with_a_clear_message_on_each_missing_piece(dev):
    provided, generated = deploy_secrets(dev.sm)
    populate(dev.sm, provided)
    gone, empty, deleted = (
        "/bank/dev/sd05/equifax-api-credentials",
        "/bank/dev/sd04/npp-fii-credentials",
        "/bank/dev/sd02/frankieone-api-credentials",
    )
    dev.sm.delete_secret(SecretId=gone, ForceDeleteWithoutRecovery=True)
    dev.sm.delete_secret(SecretId=empty, ForceDeleteWithoutRecovery=True)
    dev.sm.create_secret(Name=empty)  # re-created by `pulumi up`, still empty
    dev.sm.delete_secret(SecretId=deleted, RecoveryWindowInDays=30)
    dev.sm.delete_secret(SecretId="/bank/dev/sd03/db-service", ForceDeleteWithoutRecovery=True)
    # DESIGN G1: the foundation gate does not wait for MOD-102, so its loader key is not required there.
    dev.sm.delete_secret(SecretId="/bank/dev/sd07/snowflake-loader-key", ForceDeleteWithoutRecovery=True)
    findings = gate_findings(dev)
    assert sorted(findings) == sorted([gone, empty, deleted, "/bank/dev/sd03/db-service"])
    assert findings[gone].startswith("does not exist: MOD-045 (secrets-key-management) creates it; run `pulumi up`")
    assert findings[empty].startswith("has no value: set it with `.venv/bin/python -m bankctl secrets set dev")
    assert findings[deleted].startswith(
        f"is scheduled for deletion: restore it (`aws secretsmanager restore-secret --secret-id {deleted}`)"
    )
    assert findings["/bank/dev/sd03/db-service"] == (
        "is missing but is generated by neon-database-bootstrap, which stores it when it deploys: check that "
        "module's deployment (`pulumi up` again); never set it by hand"
    )
    assert not [p for p in findings.values() if "sentinel" in p]


def put_phase_0_records(dev) -> None:
    doc = offline_plan("dev").document
    parents = {m["urn"] for m in doc["bank"]["modules"] if m["enabled"] and str(m["phase"]) == "0"}
    for r in doc["deployment"]["resources"]:
        if r["type"] == "aws:ssm/parameter:Parameter" and r["parent"] in parents:
            dev.ssm.put_parameter(Name=r["inputs"]["name"], Value=r["inputs"]["insecureValue"], Type="String")


def test_the_first_run_stops_at_the_foundation_gate_and_the_second_passes(dev):
    provided, _ = deploy_secrets(dev.sm)
    put_phase_0_records(dev)
    first = bankctl(dev, "gate", "run", "0", "--stack", "dev")
    assert first.returncode == 1, first.stderr
    text = " ".join(first.stderr.split())
    assert f"Phase 0 — Foundation gate: secrets populated: {len(provided)} problem(s)" in text
    assert "/bank/dev/sd05/centrix-api-credentials: has no value: set it with " in text
    # Between the runs a person sets the values: two through the command, the rest as fast as moto allows.
    for name in provided[:2]:
        result = bankctl(dev, "secrets", "set", "dev", name, stdin=sentinel(name) + "\n")
        assert result.returncode == 0, result.stderr
    populate(dev.sm, provided[2:])
    second = bankctl(dev, "gate", "run", "0", "--stack", "dev")
    # The gate's other checks (buses, trail, topics, databases, …) are other modules' and find nothing of theirs in
    # this account; this check now passes.
    assert "Phase 0 — Foundation gate: secrets populated: passed" in second.stdout, second.stderr
    assert "secrets populated" not in second.stderr
    for result in (first, second):
        assert_no_value_shown(result, *provided)


# --- bankctl secrets status ------------------------------------------------------------------------------------------
def test_status_lists_each_secret_and_exits_1_until_the_required_ones_are_populated(dev):
    provided, generated = deploy_secrets(dev.sm)
    before = bankctl(dev, "secrets", "status", "dev", "--json")
    assert before.returncode == 1
    rows = {row["name"]: row for row in json.loads(before.stdout)["secrets"]}
    assert sorted(rows) == sorted(provided + generated)
    assert {rows[n]["state"] for n in provided} == {"empty"} and {rows[n]["state"] for n in generated} == {"populated"}
    assert rows["/bank/dev/sd07/snowflake-loader-key"]["required"] is False
    assert rows["/bank/dev/sd08/smoke-test-customer"]["readBy"] == ["phase-7-gate"]
    assert f"{len(provided)} required secret(s) of dev not populated" in before.stderr
    populate(dev.sm, provided)
    after = bankctl(dev, "secrets", "status", "dev")
    assert after.returncode == 0, after.stderr
    assert (
        f"Secrets of dev: {len(provided) + len(generated)} of {len(provided) + len(generated)} populated"
        in after.stdout
    )
    for result in (before, after):
        assert_no_value_shown(result, *provided, *generated)


def test_status_refuses_credentials_of_another_account(dev):
    deploy_secrets(dev.sm)
    other = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": ""}
    result = bankctl(dev, "secrets", "status", "dev", env=other)
    assert result.returncode == 1
    assert "the AWS credentials in use are for account 123456789012, but stack dev deploys to" in " ".join(
        result.stderr.split()
    )


# --- bankctl secrets set -------------------------------------------------------------------------------------------------
def test_set_writes_the_value_from_standard_input_and_prints_only_the_name_and_version(dev):
    deploy_secrets(dev.sm)
    name = "/bank/dev/sd01/finance-gl-sftp-credentials"
    value = "-----BEGIN KEY-----\n" + sentinel(name) + "\n-----END KEY-----"
    result = bankctl(dev, "secrets", "set", "dev", "sd01/finance-gl-sftp-credentials", stdin=value + "\n")
    assert result.returncode == 0, result.stderr
    stored = dev.sm.get_secret_value(SecretId=name)
    assert stored["SecretString"] == value  # the one trailing newline of the input is not part of the value
    assert result.stdout.strip() == f"set {name} (version {stored['VersionId']})"
    assert result.stderr == ""
    assert_no_value_shown(result, name)


def test_a_smoke_test_user_must_be_json_its_rotation_function_can_read(dev):
    deploy_secrets(dev.sm)
    name = "/bank/dev/sd08/smoke-test-customer"
    partial = json.dumps({"username": sentinel(name), "password": sentinel(name)})
    refused = bankctl(dev, "secrets", "set", "dev", name, stdin=partial)
    assert refused.returncode == 2
    assert "the value's JSON lacks userPoolId, clientId (its rotation function reads them)" in refused.stderr
    complete = json.dumps({field: sentinel(name) for field in SMOKE_VALUE_FIELDS})
    accepted = bankctl(dev, "secrets", "set", "dev", name, stdin=complete)
    assert accepted.returncode == 0, accepted.stderr
    assert len(versions(dev.sm, name)) == 1
    assert_no_value_shown(refused, name)
    assert_no_value_shown(accepted, name)


def test_set_refuses_a_value_on_the_command_line(dev):
    deploy_secrets(dev.sm)
    name = "/bank/dev/sd02/nzbn-api-key"
    result = bankctl(dev, "secrets", "set", "dev", name, sentinel(name))
    assert result.returncode == 2
    assert "A value on the command line stays in shell history and the process list" in " ".join(result.stderr.split())
    assert versions(dev.sm, name) == []
    assert_no_value_shown(result, name)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("sd01/db-service", "/bank/dev/sd01/db-service is generated by neon-database-bootstrap"),
        ("sd04/swift-alliance-credentials", "stack dev does not have /bank/dev/sd04/swift-alliance-credentials"),
        ("sd02/greenid-api-credential", "did you mean /bank/dev/sd02/greenid-api-credentials?"),
        ("db-service", "`db-service` is a secret of several domains"),
        ("sd08/smoke-test-staff", "the value must be a JSON object with userPoolId, clientId, username, password"),
    ],
)
def test_set_refuses_what_it_must_not_write(dev, name, message):
    deploy_secrets(dev.sm)
    result = bankctl(dev, "secrets", "set", "dev", name, stdin=sentinel(name))
    assert result.returncode == 2
    assert message in " ".join(result.stderr.split())
    assert_no_value_shown(result, name)
    assert_nothing_written(dev.sm)


def test_set_refuses_an_empty_value(dev):
    deploy_secrets(dev.sm)
    result = bankctl(dev, "secrets", "set", "dev", "sd02/greenid-api-credentials", stdin="\n")
    assert result.returncode == 2
    assert "/bank/dev/sd02/greenid-api-credentials: the value is empty; nothing was written" in result.stderr
    assert_nothing_written(dev.sm)


def assert_nothing_written(sm) -> None:
    """Only the generated secrets (written by their owners when deployed) have a value."""
    for listed in sm.list_secrets()["SecretList"]:
        if not listed["Name"].endswith(
            ("/db-service", "/db-reporting", "/db-migration", "/db-admin", "/snowflake-loader-key")
        ):
            assert "VersionIdsToStages" not in sm.describe_secret(SecretId=listed["Name"]), listed["Name"]


def test_set_refuses_credentials_of_another_account(dev):
    deploy_secrets(dev.sm)
    name = "/bank/dev/sd02/nzbn-api-key"
    other = {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": ""}
    result = bankctl(dev, "secrets", "set", "dev", name, stdin=sentinel(name), env=other)
    assert (
        result.returncode == 1 and "refused: the AWS credentials in use are for account 123456789012" in result.stderr
    )
    assert versions(dev.sm, name) == []


def test_set_before_the_container_exists_says_to_run_pulumi_up(dev):
    name = "/bank/dev/sd02/nzbn-api-key"
    result = bankctl(dev, "secrets", "set", "dev", name, stdin=sentinel(name))
    assert result.returncode == 1
    assert f"{name} does not exist in the account yet: MOD-045 creates it; run `pulumi up` first" in result.stderr
    assert_no_value_shown(result, name)


def test_at_a_terminal_the_value_is_asked_twice_without_echo(monkeypatch):
    from bankctl import secrets_command

    answers = iter(["s3cret-value", "s3cret-value", "first", "second"])
    prompts: list[str] = []

    def fake_getpass(prompt):
        prompts.append(prompt)
        return next(answers)

    monkeypatch.setattr(secrets_command.sys, "stdin", SimpleNamespace(isatty=lambda: True))
    monkeypatch.setattr(secrets_command.getpass, "getpass", fake_getpass)
    assert secrets_command.read_value("/bank/dev/sd02/nzbn-api-key") == "s3cret-value"
    assert prompts == ["Value of /bank/dev/sd02/nzbn-api-key (not shown): ", "Once more, to confirm: "]
    with pytest.raises(typer.Exit) as caught:
        secrets_command.read_value("/bank/dev/sd02/nzbn-api-key")
    assert caught.value.exit_code == 2


# --- docs/secrets.md ---------------------------------------------------------------------------------------------
def test_docs_secrets_md_is_generated_from_the_manifest():
    from bankctl.secrets_command import render_docs
    from model.catalogue import load_catalogue
    from model.secrets_manifest import load_secrets_manifest

    page = (PROJECT_DIR / "docs" / "secrets.md").read_text(encoding="utf-8")
    assert page == render_docs(load_secrets_manifest(load_catalogue())), (
        "docs/secrets.md is out of date: run `.venv/bin/python -m bankctl secrets docs > docs/secrets.md`"
    )
    printed = subprocess.run(
        [sys.executable, "-m", "bankctl", "secrets", "docs"],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert printed.returncode == 0 and printed.stdout == page
    for entry in ("`/bank/{env}/sd02/greenid-api-credentials`", "`/bank/{env}/sd08/smoke-test-customer`"):
        assert entry in page
