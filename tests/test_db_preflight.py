"""`bankctl db preflight` and the foundation gate's "migrations applied" check, against a real PostgreSQL server.

Flyway cannot be installed here (TOOLING.md), so Flyway's side is written out: its schema history table in the
layout Flyway's PostgreSQL support creates (installed_rank, version, description, type, script, checksum,
installed_by, installed_on, execution_time, success), filled with the rows Flyway records for the sample set in
tests/migrations, and its checksum rule (CRC-32 of the file's lines without their line breaks, as a signed int).
"""

from __future__ import annotations

import json
import os
import stat
import sys
import zlib
from pathlib import Path

import boto3
import pytest

from gates.database_checks import (
    applied_findings,
    directory_migrations,
    flyway_checksum,
    flyway_problem,
    migration_status,
    migrations_gate_check,
    parse_migration,
    preflight_database,
    read_history,
    s3_migrations,
)
from gates.phase_checks import GateContext
from model.platform import load_stack_platform
from model.releases import load_release_manifest
from tests.conftest import PROJECT_DIR
from tests.postgres_server import PostgresServer, grant_privilege_model, postgres_server  # noqa: F401
from tests.test_db_verify import DEV_ACCOUNT, EndpointSession, dev_secrets, run_bankctl, store_role_secrets  # noqa: F401

DATABASE = "bank_core"
SAMPLE = Path(__file__).parent / "migrations"
# The sample set as Flyway resolves it: version, description, script.
SAMPLE_SET = [
    ("1", "Create ledger accounts", "V1__Create_ledger_accounts.sql"),
    ("1.1", "Add account status", "V1_1__Add_account_status.sql"),
    ("2", "Create postings", "V2__Create_postings.sql"),
]
# Flyway's schema history table as its PostgreSQL support creates it (flyway-database-postgresql,
# PostgreSQLDatabase.getRawCreateScript).
HISTORY_DDL = """
CREATE TABLE app.flyway_schema_history (
    "installed_rank" INT NOT NULL,
    "version" VARCHAR(50),
    "description" VARCHAR(200) NOT NULL,
    "type" VARCHAR(20) NOT NULL,
    "script" VARCHAR(1000) NOT NULL,
    "checksum" INTEGER,
    "installed_by" VARCHAR(100) NOT NULL,
    "installed_on" TIMESTAMP NOT NULL DEFAULT now(),
    "execution_time" INTEGER NOT NULL,
    "success" BOOLEAN NOT NULL
);
ALTER TABLE app.flyway_schema_history ADD CONSTRAINT "flyway_schema_history_pk" PRIMARY KEY ("installed_rank");
CREATE INDEX "flyway_schema_history_s_idx" ON app.flyway_schema_history ("success");
"""


def expected_checksum(path: Path) -> int:
    """Flyway's documented rule, stated on its own: CRC-32 over the lines with their line breaks removed."""
    text = path.read_text(encoding="utf-8")
    value = zlib.crc32("".join(text.splitlines()).encode("utf-8"))
    return value - 2**32 if value >= 2**31 else value


def record(server: PostgresServer, *rows: tuple[str, bool], checksums: dict[str, int] | None = None) -> None:
    """Create the history table as the migration role and record (version, success) rows as Flyway would."""
    scripts = {version: (description, script) for version, description, script in SAMPLE_SET}
    with server.connect(DATABASE) as conn:
        conn.execute("SET ROLE bank_core_migration")
        conn.execute(HISTORY_DDL)
        for rank, (version, success) in enumerate(rows, start=1):
            description, script = scripts[version]
            checksum = (checksums or {}).get(version, expected_checksum(SAMPLE / script))
            conn.execute(
                "INSERT INTO app.flyway_schema_history (installed_rank, version, description, type, script, checksum, "
                "installed_by, execution_time, success) VALUES (%s, %s, %s, 'SQL', %s, %s, current_user, 12, %s)",
                [rank, version, description, script, checksum, success],
            )


@pytest.fixture
def granted(postgres_server):  # noqa: F811
    return grant_privilege_model(postgres_server, DATABASE)


# --- the migration set --------------------------------------------------------------------------------------


def test_the_sample_set_resolves_as_flyway_resolves_it():
    found = directory_migrations(SAMPLE)
    assert [(m.version, m.description, m.script) for m in found] == SAMPLE_SET
    assert [m.checksum for m in found] == [expected_checksum(SAMPLE / s) for _, _, s in SAMPLE_SET]


@pytest.mark.parametrize(
    "data",
    [
        b"CREATE TABLE a (id int);\nSELECT 1;\n",
        b"CREATE TABLE a (id int);\r\nSELECT 1;",
        b"\xef\xbb\xbfCREATE TABLE a (id int);\rSELECT 1;\n",
    ],
)
def test_the_checksum_ignores_line_endings_and_a_byte_order_mark(data):
    assert flyway_checksum(data) == expected_checksum_of(b"CREATE TABLE a (id int);SELECT 1;")


def expected_checksum_of(joined: bytes) -> int:
    value = zlib.crc32(joined)
    return value - 2**32 if value >= 2**31 else value


def test_files_flyway_would_not_run_are_not_migrations(tmp_path):
    assert parse_migration("R__views.sql", b"") is None  # repeatable: not part of a versioned baseline
    assert parse_migration("V3_create.sql", b"") is None  # one underscore: Flyway ignores it
    (tmp_path / "V1__a.sql").write_text("SELECT 1;")
    (tmp_path / "V1_0__b.sql").write_text("SELECT 2;")  # Flyway: version 1.0 is version 1
    with pytest.raises(ValueError, match="two migrations with version"):
        directory_migrations(tmp_path)


def test_the_pinned_set_is_read_from_the_artifacts_bucket(moto_endpoint):
    s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="ap-southeast-2")
    s3.create_bucket(
        Bucket="bank-dev-artifacts-test", CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"}
    )
    for path in SAMPLE.iterdir():
        s3.put_object(
            Bucket="bank-dev-artifacts-test", Key=f"bank-core/db-migrations/abc/{path.name}", Body=path.read_bytes()
        )
    s3.put_object(Bucket="bank-dev-artifacts-test", Key="bank-core/db-migrations/abcd/V9__other_build.sql", Body=b"")
    assert s3_migrations(s3, "bank-dev-artifacts-test", "bank-core/db-migrations/abc") == directory_migrations(SAMPLE)


# --- flyway on this machine -----------------------------------------------------------------------------------


def test_preflight_says_clearly_that_flyway_is_missing(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    problem = flyway_problem()
    assert problem is not None and problem.code == "flyway-missing"
    assert problem.problem.startswith("flyway is not installed on this machine (not on PATH)")


def test_preflight_finds_flyway_on_the_path(monkeypatch, tmp_path):
    flyway = tmp_path / "flyway"
    flyway.write_text("#!/bin/sh\n")
    flyway.chmod(flyway.stat().st_mode | stat.S_IXUSR)
    monkeypatch.setenv("PATH", str(tmp_path))
    assert flyway_problem() is None


# --- the history, as the migration role -----------------------------------------------------------------------


def test_applied_and_pending_against_the_sample_set(postgres_server, granted):  # noqa: F811
    record(postgres_server, ("1", True), ("1.1", True))
    result = preflight_database(DATABASE, granted["migration"], directory_migrations(SAMPLE))
    assert result.findings == ()
    assert (result.status.applied, result.status.pending) == (("1", "1.1"), ("2",))


def test_the_history_is_read_in_flyways_layout(postgres_server, granted):  # noqa: F811
    record(postgres_server, ("1", True))
    with granted["migration"].connect("test") as conn:
        (row,) = read_history(conn)
    assert (row.installed_rank, row.version, row.type, row.script, row.installed_by, row.success) == (
        1,
        "1",
        "SQL",
        "V1__Create_ledger_accounts.sql",
        "bank_core_migration",
        True,
    )


def test_a_failed_entry_is_named(postgres_server, granted):  # noqa: F811
    record(postgres_server, ("1", True), ("1.1", True), ("2", False))
    result = preflight_database(DATABASE, granted["migration"], directory_migrations(SAMPLE))
    assert [(f.subject, f.code) for f in result.findings] == [(DATABASE, "failed-migration")]
    assert "V2__Create_postings.sql" in result.findings[0].problem
    assert result.status.pending == ("2",)


def test_a_migration_changed_after_it_was_applied_is_named(postgres_server, granted):  # noqa: F811
    record(postgres_server, ("1", True), checksums={"1": 12345})
    result = preflight_database(DATABASE, granted["migration"], directory_migrations(SAMPLE))
    assert [(f.subject, f.code) for f in result.findings] == [(DATABASE, "changed-migration")]


def test_before_the_first_migration_everything_is_pending(granted):
    result = preflight_database(DATABASE, granted["migration"], directory_migrations(SAMPLE))
    assert result.findings == ()
    assert not result.status.history_exists and result.status.pending == ("1", "1.1", "2")
    # The gate is stricter: before any migration ran, the database is not ready for its modules.
    assert [f.code for f in applied_findings(DATABASE, granted["migration"])] == ["not-migrated"]


def test_a_history_the_migration_role_cannot_read_is_named(postgres_server, granted):  # noqa: F811
    record(postgres_server, ("1", True))
    with postgres_server.connect(DATABASE) as conn:
        conn.execute("REVOKE SELECT ON app.flyway_schema_history FROM bank_core_migration")
    result = preflight_database(DATABASE, granted["migration"], directory_migrations(SAMPLE))
    assert [(f.subject, f.code) for f in result.findings] == [("bank_core_migration", "history-unreadable")]


def test_an_unreachable_database_is_named_without_the_password(granted):
    from dataclasses import replace

    wrong = replace(granted["migration"], password="wrong-" + os.urandom(4).hex())
    result = preflight_database(DATABASE, wrong, directory_migrations(SAMPLE))
    assert [(f.subject, f.code) for f in result.findings] == [("bank_core_migration", "unreachable")]
    assert wrong.password not in result.findings[0].problem


def test_the_gate_passes_once_the_baseline_is_applied(postgres_server, granted):  # noqa: F811
    record(postgres_server, ("1", True), ("1.1", True), ("2", True))
    assert applied_findings(DATABASE, granted["migration"]) == []
    status = migration_status(DATABASE, None, directory_migrations(SAMPLE))
    assert status.pending == ("1", "1.1", "2")


# --- the gate check and the command, with the secrets in Secrets Manager (moto) -------------------------------


def test_the_foundation_gate_checks_every_pinned_database(postgres_server, granted, dev_secrets):  # noqa: F811
    client, env = dev_secrets
    store_role_secrets(client, granted)
    record(postgres_server, ("1", True), ("1.1", True), ("2", False))
    context = GateContext(platform=load_stack_platform(PROJECT_DIR, "dev"), phase="0", session=EndpointSession(env))
    findings = migrations_gate_check(context)
    pinned = set(load_release_manifest(PROJECT_DIR, "dev").migrations)
    assert len(pinned) == 8
    # bank_core's history is read and its failed migration named; the seven others have no secret here.
    assert {f.subject for f in findings if "failed-migration" in f.problem} == {DATABASE}
    missing = {f.subject for f in findings if f.problem.startswith("no-credentials")}
    assert missing == {f"/bank/dev/{d}/db-migration" for d in ("sd02", "sd03", "sd04", "sd05", "sd06", "sd07", "sd08")}


def test_db_preflight_command_reports_applied_pending_and_the_missing_flyway(postgres_server, granted, dev_secrets):  # noqa: F811
    client, env = dev_secrets
    store_role_secrets(client, granted)
    record(postgres_server, ("1", True), ("1.1", True))
    # The pinned build's migrations, published where releases/dev.yaml says, in the dev artifacts bucket.
    location = load_release_manifest(PROJECT_DIR, "dev").migrations[DATABASE].location
    s3 = boto3.client(
        "s3",
        endpoint_url=env["AWS_ENDPOINT_URL"],
        region_name="ap-southeast-2",
        aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
        aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
        aws_session_token=env["AWS_SESSION_TOKEN"],
    )
    bucket = f"bank-dev-artifacts-{DEV_ACCOUNT}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": "ap-southeast-2"})
    for path in SAMPLE.glob("*.sql"):
        s3.put_object(Bucket=bucket, Key=f"{location}/{path.name}", Body=path.read_bytes())

    result = run_bankctl({**env, "PATH": os.path.dirname(sys.executable)}, "preflight", "dev", "-d", DATABASE, "--json")
    assert result.returncode == 1, result.stderr
    report = json.loads(result.stdout)
    assert report["flyway"] is False
    (db,) = report["databases"]
    assert (db["source"], db["applied"], db["pending"], db["failed"]) == (
        f"s3:{bucket}/{location}",
        ["1", "1.1"],
        ["2"],
        [],
    )
    assert [f["code"] for f in report["findings"]] == ["flyway-missing"]

    local = run_bankctl(
        {**env, "PATH": os.path.dirname(sys.executable)}, "preflight", "dev", "-d", DATABASE, "--from", str(SAMPLE)
    )
    assert local.returncode == 1
    assert "flyway is not installed on this machine" in " ".join(local.stdout.split())
    for c in granted.values():
        assert c.password not in result.stdout + result.stderr + local.stdout + local.stderr
