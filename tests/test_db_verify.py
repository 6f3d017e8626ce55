"""`bankctl db verify`: the privilege model proven against a real PostgreSQL server (DESIGN G14).

Each test builds bank_core's three roles in a fresh database by SQL, as the privilege model says (the migration
role owns schema `app` and its tables; its default privileges give the service role SELECT/INSERT/UPDATE/DELETE
and the reporting role SELECT on every future table), breaks one grant, and expects exactly the finding that
names it — and nothing on the correct setup.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.request

import boto3
import pytest

from gates.database_checks import RoleCredentials, endpoint_findings, privileges_gate_check, verify_database
from gates.phase_checks import GateContext
from model.database_privileges import DatabaseRole
from model.platform import load_stack_platform
from tests.conftest import PROJECT_DIR
from tests.postgres_server import PostgresServer, grant_privilege_model, postgres_server  # noqa: F401  (the fixture)

DATABASE = "bank_core"
DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml


def admin(server: PostgresServer, *statements: str, database: str = DATABASE) -> None:
    with server.connect(database) as conn:
        for statement in statements:
            conn.execute(statement)


def codes(findings) -> set[tuple[str, str]]:
    return {(f.subject, f.code) for f in findings}


@pytest.fixture
def granted(postgres_server):  # noqa: F811
    return grant_privilege_model(postgres_server, DATABASE)


def test_roles_granted_as_the_design_says_pass(granted):
    assert verify_database(DATABASE, granted) == []


def test_the_probe_table_is_gone_after_verify(postgres_server, granted):  # noqa: F811
    verify_database(DATABASE, granted)
    with postgres_server.connect(DATABASE) as conn:
        left = conn.execute("SELECT relname FROM pg_class WHERE relname LIKE 'bankctl_verify%'").fetchall()
    assert left == []


@pytest.mark.parametrize(
    ("wrong_grant", "expected"),
    [
        pytest.param(
            ["GRANT INSERT ON app.accounts TO bank_core_reporting"],
            {("bank_core_reporting", "can-write")},
            id="reporting-can-insert-an-existing-table",
        ),
        pytest.param(
            [
                "ALTER DEFAULT PRIVILEGES FOR ROLE bank_core_migration IN SCHEMA app "
                "GRANT INSERT ON TABLES TO bank_core_reporting"
            ],
            {("bank_core_reporting", "can-write")},
            id="reporting-can-insert-every-future-table",
        ),
        pytest.param(
            ["GRANT CREATE ON SCHEMA app TO bank_core_service"],
            {("bank_core_service", "can-create")},
            id="service-can-create-table",
        ),
        pytest.param(
            ["GRANT CREATE ON SCHEMA public TO bank_core_service"],
            {("bank_core_service", "can-create")},
            id="service-can-create-in-another-schema",
        ),
        pytest.param(
            ["ALTER TABLE app.accounts OWNER TO bank_core_service"],
            # The service role owns a table (it can alter and drop it), so the migration role no longer does.
            {("bank_core_service", "can-alter"), ("bank_core_migration", "not-owner")},
            id="service-can-alter",
        ),
        pytest.param(
            ["REVOKE CREATE ON SCHEMA app FROM bank_core_migration"],
            {("bank_core_migration", "cannot-create")},
            id="migration-cannot-create",
        ),
        pytest.param(
            [
                "ALTER DEFAULT PRIVILEGES FOR ROLE bank_core_migration IN SCHEMA app "
                "REVOKE SELECT ON TABLES FROM bank_core_reporting"
            ],
            {("bank_core_reporting", "cannot-read")},
            id="reporting-cannot-read-future-tables",
        ),
        pytest.param(
            ["REVOKE UPDATE ON app.accounts FROM bank_core_service"],
            {("bank_core_service", "cannot-write")},
            id="service-cannot-update",
        ),
        pytest.param(
            ["GRANT TRUNCATE ON app.accounts TO bank_core_service"],
            {("bank_core_service", "can-write")},
            id="service-can-truncate",
        ),
        pytest.param(
            ["GRANT bank_core_service TO bank_core_reporting"],
            # Membership gives the reporting role the service role's writes.
            {("bank_core_reporting", "extra-membership"), ("bank_core_reporting", "can-write")},
            id="reporting-member-of-service",
        ),
        pytest.param(
            [
                "DO $$ BEGIN IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'neon_superuser') THEN "
                "CREATE ROLE neon_superuser NOLOGIN CREATEDB CREATEROLE; END IF; END $$",
                "GRANT neon_superuser TO bank_core_service",
            ],
            {("bank_core_service", "superuser-like")},
            id="service-member-of-neon-superuser",
        ),
        pytest.param(
            ["GRANT pg_write_all_data TO bank_core_reporting"],
            {("bank_core_reporting", "superuser-like"), ("bank_core_reporting", "can-write")},
            id="reporting-member-of-pg-write-all-data",
        ),
    ],
)
def test_each_wrong_grant_is_a_named_finding(postgres_server, granted, wrong_grant, expected):  # noqa: F811
    admin(postgres_server, *wrong_grant)
    findings = verify_database(DATABASE, granted)
    assert codes(findings) == expected, findings


def test_a_superuser_role_is_named(postgres_server, granted):  # noqa: F811
    admin(postgres_server, "ALTER ROLE bank_core_reporting SUPERUSER")
    findings = verify_database(DATABASE, granted)
    (superuser,) = [f for f in findings if f.code == "superuser-like"]
    assert superuser.subject == "bank_core_reporting" and "SUPERUSER" in superuser.problem
    # A superuser can do everything: the behaviour checks say so too.
    assert {("bank_core_reporting", "can-write"), ("bank_core_reporting", "can-create")} <= codes(findings)
    assert {f.subject for f in findings} == {"bank_core_reporting"}


def test_an_application_role_on_the_direct_endpoint_is_named(granted):
    direct = granted | {"service": _replace(granted["service"], pooled=False)}
    assert codes(verify_database(DATABASE, direct)) == {("bank_core_service", "not-pooled")}


def test_the_migration_role_through_the_pooler_is_named(granted):
    pooled = granted | {"migration": _replace(granted["migration"], pooled=True)}
    assert codes(verify_database(DATABASE, pooled)) == {("bank_core_migration", "pooled-migration")}


def test_credentials_of_another_role_or_database_are_named(granted):
    swapped = granted | {"reporting": _replace(granted["reporting"], username="bank_core_service")}
    findings = verify_database(DATABASE, swapped)
    assert ("bank_core_reporting", "wrong-user") in codes(findings)


def test_a_wrong_password_is_unreachable_and_never_shown(granted):
    wrong = "not-the-password-" + os.urandom(4).hex()
    findings = verify_database(DATABASE, granted | {"reporting": _replace(granted["reporting"], password=wrong)})
    assert codes(findings) == {("bank_core_reporting", "unreachable")}
    assert "password authentication failed" in findings[0].problem
    assert wrong not in findings[0].problem


@pytest.mark.parametrize(
    ("host", "pooled", "kind", "expected"),
    [
        ("ep-quiet-sun-a1b2c3-pooler.ap-southeast-2.aws.neon.tech", True, "service", set()),
        ("ep-quiet-sun-a1b2c3.ap-southeast-2.aws.neon.tech", True, "service", {"not-pooled"}),
        ("ep-quiet-sun-a1b2c3.ap-southeast-2.aws.neon.tech", False, "reporting", {"not-pooled"}),
        ("ep-quiet-sun-a1b2c3.ap-southeast-2.aws.neon.tech", False, "migration", set()),
        ("ep-quiet-sun-a1b2c3-pooler.ap-southeast-2.aws.neon.tech", False, "migration", {"pooled-migration"}),
    ],
)
def test_neon_endpoints_are_told_apart_by_their_host(host, pooled, kind, expected):
    # Neon's pooled endpoint is the compute's host with `-pooler` (Neon docs, "Connection pooling"): a secret
    # whose flag and host disagree is caught without connecting.
    role = DatabaseRole(DATABASE, kind)
    creds = RoleCredentials(host=host, port=5432, database=DATABASE, username=role.name, password="x", pooled=pooled)
    assert {f.code for f in endpoint_findings(role, creds)} == expected


def _replace(creds: RoleCredentials, **changes) -> RoleCredentials:
    from dataclasses import replace

    return replace(creds, **changes)


# --- the command, end to end: secrets from Secrets Manager (moto), the database for real --------------------


@pytest.fixture
def dev_secrets(moto_endpoint):
    """A Secrets Manager client inside the dev account (moto keeps accounts apart) and its credentials."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name="ap-southeast-2")
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole", RoleSessionName="db-test")[
        "Credentials"
    ]
    env = {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_ENDPOINT_URL": moto_endpoint,
    }
    client = boto3.client(
        "secretsmanager",
        endpoint_url=moto_endpoint,
        region_name="ap-southeast-2",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    return client, env


def store_role_secrets(client, credentials: dict[str, RoleCredentials]) -> None:
    # The secret layout MOD-103 writes, at /bank/{env}/{domain}/db-{kind} (operations index, secret paths).
    for kind, c in credentials.items():
        client.create_secret(
            Name=f"/bank/dev/sd01/db-{kind}",
            SecretString=json.dumps(
                {
                    "host": c.host,
                    "port": c.port,
                    "database": c.database,
                    "username": c.username,
                    "password": c.password,
                    "pooled": c.pooled,
                }
            ),
        )


def run_bankctl(env: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bankctl", "db", *args],
        cwd=PROJECT_DIR,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_db_verify_command_reads_the_secrets_and_never_prints_a_password(postgres_server, granted, dev_secrets):  # noqa: F811
    client, env = dev_secrets
    store_role_secrets(client, granted)
    passed = run_bankctl(env, "verify", "dev", "--database", DATABASE)
    assert passed.returncode == 0, passed.stderr
    assert "bank_core: the privilege model holds" in passed.stdout

    admin(postgres_server, "GRANT INSERT ON app.accounts TO bank_core_reporting")
    failed = run_bankctl(env, "verify", "dev", "--database", DATABASE, "--json")
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert [(f["subject"], f["code"]) for f in report["findings"]] == [("bank_core_reporting", "can-write")]
    for c in granted.values():
        assert c.password not in passed.stdout + passed.stderr + failed.stdout + failed.stderr


class EndpointSession:
    """A boto3 session in the dev account whose clients talk to moto (what AWS_ENDPOINT_URL does for the gate
    command)."""

    def __init__(self, env: dict[str, str]):
        self.env = env

    def client(self, service: str):
        return boto3.client(
            service,
            endpoint_url=self.env["AWS_ENDPOINT_URL"],
            region_name="ap-southeast-2",
            aws_access_key_id=self.env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=self.env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=self.env["AWS_SESSION_TOKEN"],
        )


def test_the_foundation_gate_verifies_every_database(granted, dev_secrets):
    client, env = dev_secrets
    store_role_secrets(client, granted)
    context = GateContext(platform=load_stack_platform(PROJECT_DIR, "dev"), phase="0", session=EndpointSession(env))
    findings = privileges_gate_check(context)
    # bank_core holds; the other seven databases have no credentials in this account (one finding per role).
    assert not [f for f in findings if "sd01" in f.subject or f.subject.startswith("bank_core")]
    assert {f.subject for f in findings} == {
        f"/bank/dev/{domain}/db-{kind}"
        for domain in ("sd02", "sd03", "sd04", "sd05", "sd06", "sd07", "sd08")
        for kind in ("service", "reporting", "migration")
    }
    assert all(f.problem.startswith("no-credentials: no such secret") for f in findings)


def test_db_verify_command_names_a_missing_secret(granted, dev_secrets):
    client, env = dev_secrets
    store_role_secrets(client, {k: v for k, v in granted.items() if k != "reporting"})
    result = run_bankctl(env, "verify", "dev", "--database", DATABASE)
    assert result.returncode == 1
    assert "/bank/dev/sd01/db-reporting" in result.stdout and "no-credentials" in result.stdout


def test_a_machine_without_postgresql_fails_with_the_fix_never_skips(monkeypatch):
    import tests.postgres_server as harness

    monkeypatch.setattr(harness, "postgres_bindir", lambda: None)
    with pytest.raises(pytest.fail.Exception, match=r"PostgreSQL is not installed .*make test"):
        harness.start_server()


def test_remote_servers_are_reached_over_verified_tls_only():
    from pathlib import Path

    from gates.database_checks import tls_options

    remote = tls_options("ep-quiet-sun-a1b2c3-pooler.ap-southeast-2.aws.neon.tech")
    assert remote["sslmode"] == "verify-full" and Path(remote["sslrootcert"]).is_file()
    assert tls_options("127.0.0.1") == {"sslmode": "disable"} == tls_options("localhost")
