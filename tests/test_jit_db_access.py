"""MOD-046's just-in-time database access function, against a real PostgreSQL server and moto (logs, SNS, secrets).

The admin role the function connects as is, like Neon's, not a superuser: it may create roles and grant the
privilege model's roles (CREATEROLE). The temporary role must exist, work, do only what was asked, and be refused
once its `VALID UNTIL` has passed; every grant is in the DBA audit log, and break-glass pages.
"""

from __future__ import annotations

import json
import time
import urllib.request
from datetime import timedelta
from types import SimpleNamespace

import boto3
import psycopg
import pytest

from functions.jit_db_access.handler import (
    AccessRefused,
    AccessRequest,
    AdminConnection,
    break_glass_access,
    create_access,
    expire_access,
    jit_access,
)
from tests.postgres_server import PostgresServer, grant_privilege_model, postgres_server  # noqa: F401

DATABASE = "bank_core"
REGION = "ap-southeast-2"
LOG_GROUP = "/bank/dev/dba/sessions"
CONTEXT = SimpleNamespace(aws_request_id="5f0c6d1e-request")
ASK = {"database": DATABASE, "requester": "alice@totarabank.co.nz", "reason": "INC-2041 balance query"}


def jit_roles(server: PostgresServer) -> list[str]:
    with server.connect() as conn:
        return [r for (r,) in conn.execute("SELECT rolname FROM pg_roles WHERE rolname LIKE 'jit\\_%' ORDER BY 1")]


@pytest.fixture
def aws(postgres_server, moto_endpoint, monkeypatch):  # noqa: F811
    """The database granted as the model says, an admin role, and the AWS side the function uses (moto)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    postgres_server.drop_roles(*jit_roles(postgres_server))
    grant_privilege_model(postgres_server, DATABASE)
    admin_password = "admin-" + time.strftime("%H%M%S") + "-pw"
    with postgres_server.connect() as conn:
        exists = conn.execute("SELECT 1 FROM pg_roles WHERE rolname = 'bank_admin'").fetchone()
        conn.execute(f"{'ALTER' if exists else 'CREATE'} ROLE bank_admin LOGIN CREATEROLE PASSWORD '{admin_password}'")
        conn.execute("GRANT pg_signal_backend TO bank_admin")
        # As on Neon, the admin role owns the databases (MOD-103 creates them through the API with that owner).
        conn.execute(f"ALTER DATABASE {DATABASE} OWNER TO bank_admin")
    clients = {
        name: boto3.client(name, endpoint_url=moto_endpoint, region_name=REGION)
        for name in ("logs", "sns", "sqs", "secretsmanager")
    }
    clients["logs"].create_log_group(logGroupName=LOG_GROUP)
    topic = clients["sns"].create_topic(Name="bank-dev-alerts-critical")["TopicArn"]
    queue = clients["sqs"].create_queue(QueueName="pages")["QueueUrl"]
    queue_arn = clients["sqs"].get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    clients["sns"].subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    secret = clients["secretsmanager"].create_secret(
        Name="/bank/dev/sd07/db-admin",
        SecretString=json.dumps(
            {
                "host": postgres_server.host,
                "port": postgres_server.port,
                "database": "postgres",
                "username": "bank_admin",
                "password": admin_password,
            }
        ),
    )["ARN"]
    for key, value in {
        "AWS_ENDPOINT_URL": moto_endpoint,
        "ENVIRONMENT": "dev",
        "ADMIN_SECRET_ID": secret,
        "CRITICAL_TOPIC_ARN": topic,
    }.items():
        monkeypatch.setenv(key, value)
    return SimpleNamespace(queue=queue, admin_password=admin_password, **clients)


def connect_as(server: PostgresServer, credentials: dict) -> psycopg.Connection:
    return psycopg.connect(
        host=credentials["host"],
        port=credentials["port"],
        dbname=credentials["database"],
        user=credentials["username"],
        password=credentials["password"],
        autocommit=True,
        connect_timeout=10,
    )


def allowed(conn: psycopg.Connection, statement: str) -> bool:
    try:
        with conn.transaction(force_rollback=True):
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return False
    return True


def audit_events(aws, role: str, event: str = "jit-db-access") -> list[dict]:
    response = aws.logs.get_log_events(logGroupName=LOG_GROUP, logStreamName=f"{event}/{role}")
    return [json.loads(e["message"]) for e in response["events"]]


def pages(aws) -> list[dict]:
    messages = aws.sqs.receive_message(QueueUrl=aws.queue, MaxNumberOfMessages=10, WaitTimeSeconds=1).get(
        "Messages", []
    )
    return [json.loads(m["Body"]) for m in messages]


def test_a_jit_role_exists_reads_and_cannot_write(postgres_server, aws):  # noqa: F811
    credentials = jit_access(ASK | {"durationMinutes": 30}, CONTEXT)
    role = credentials["username"]
    assert role.startswith("jit_bank_core_alice_") and credentials["access"] == "reporting"
    with postgres_server.connect() as conn:
        attributes = conn.execute(
            "SELECT rolcanlogin, rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls, rolconnlimit, "
            "rolvaliduntil - now() FROM pg_roles WHERE rolname = %s",
            [role],
        ).fetchone()
        member_of = [
            r
            for (r,) in conn.execute(
                "SELECT g.rolname FROM pg_auth_members m JOIN pg_roles g ON g.oid = m.roleid "
                "JOIN pg_roles u ON u.oid = m.member WHERE u.rolname = %s",
                [role],
            )
        ]
    assert attributes[:7] == (True, False, False, False, False, False, 3)
    assert timedelta(minutes=29) < attributes[7] <= timedelta(minutes=30)
    assert member_of == ["bank_core_reporting"]
    with connect_as(postgres_server, credentials) as conn:
        assert conn.execute("SELECT session_user, current_user").fetchone() == (role, "bank_core_reporting")
        assert allowed(conn, "SELECT count(*) FROM app.accounts")
        assert not allowed(conn, "INSERT INTO app.accounts (name) VALUES ('jit')")
        assert not allowed(conn, "CREATE TABLE app.jit_made (id int)")
    (record,) = audit_events(aws, role)
    assert record == {
        "event": "jit-db-access",
        "environment": "dev",
        "role": role,
        "database": DATABASE,
        "access": "reporting",
        "grantedRole": "bank_core_reporting",
        "validUntil": credentials["validUntil"],
        "requester": "alice@totarabank.co.nz",
        "reason": "INC-2041 balance query",
        "breakGlass": False,
        "lambdaRequestId": CONTEXT.aws_request_id,
    }
    assert pages(aws) == []  # plain JIT access does not page


def test_a_jit_role_is_refused_once_valid_until_has_passed(postgres_server, aws):  # noqa: F811
    admin = AdminConnection(postgres_server.host, postgres_server.port, "postgres", "bank_admin", aws.admin_password)
    request = AccessRequest(DATABASE, "reporting", "bob", "INC-2042 expiry test", timedelta(seconds=2), False)
    with admin.connect() as conn:
        grant = create_access(conn, request)
        credentials = grant.credentials(admin)
        with connect_as(postgres_server, credentials) as session:
            assert session.execute("SELECT count(*) FROM app.accounts").fetchone() == (0,)
        time.sleep(max(0.0, (grant.valid_until - conn.execute("SELECT now()").fetchone()[0]).total_seconds()) + 0.5)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            connect_as(postgres_server, credentials)
        assert expire_access(conn) == [grant.role]
    assert grant.role not in jit_roles(postgres_server)


def test_jit_may_grant_writes_but_never_schema_changes(postgres_server, aws):  # noqa: F811
    credentials = jit_access(ASK | {"access": "service"}, CONTEXT)
    with connect_as(postgres_server, credentials) as conn:
        assert allowed(conn, "INSERT INTO app.accounts (name) VALUES ('jit')")
        assert not allowed(conn, "CREATE TABLE app.jit_made (id int)")
    before = jit_roles(postgres_server)
    with pytest.raises(AccessRefused, match="only through break-glass"):
        jit_access(ASK | {"access": "migration"}, CONTEXT)
    assert jit_roles(postgres_server) == before


def test_break_glass_grants_schema_changes_and_pages(postgres_server, aws):  # noqa: F811
    credentials = break_glass_access(ASK | {"access": "migration", "reason": "INC-2043 hotfix a constraint"}, CONTEXT)
    role = credentials["username"]
    with connect_as(postgres_server, credentials) as conn:
        conn.execute("CREATE TABLE app.hotfix (id int)")
        # Made as the migration role (the session's role), so it outlives the temporary one.
        (owner,) = conn.execute("SELECT tableowner FROM pg_tables WHERE tablename = 'hotfix'").fetchone()
    assert owner == "bank_core_migration"
    (page,) = pages(aws)
    assert page["Subject"].startswith("Break-glass database access to bank_core")
    paged = json.loads(page["Message"])
    assert (paged["role"], paged["requester"], paged["access"], paged["breakGlass"]) == (
        role,
        ASK["requester"],
        "migration",
        True,
    )
    assert credentials["password"] not in json.dumps(page) + json.dumps(
        audit_events(aws, role, "break-glass-db-access")
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"durationMinutes": 61}, "from 1 to 60"),
        ({"durationMinutes": 0}, "from 1 to 60"),
        ({"durationMinutes": True}, "from 1 to 60"),
        ({"database": "bank_core; DROP ROLE bank_admin"}, "one of the bank's databases"),
        ({"requester": " "}, "who asks"),
        ({"reason": "x"}, "why"),
        ({"access": "superuser"}, "must be one of reporting, service"),
    ],
)
def test_requests_beyond_the_rules_are_refused(change, message):
    with pytest.raises(AccessRefused, match=message):
        AccessRequest.from_event(ASK | change, break_glass=False)


def test_an_hour_is_the_default_and_the_limit():
    assert AccessRequest.from_event(ASK, break_glass=False).valid_for == timedelta(hours=1)
    assert AccessRequest.from_event(ASK, break_glass=False).access == "reporting"


def test_an_unknown_database_creates_nothing(postgres_server, aws):  # noqa: F811
    with pytest.raises(AccessRefused, match="no database bank_nowhere"):
        jit_access(ASK | {"database": "bank_nowhere"}, CONTEXT)
    assert jit_roles(postgres_server) == []


def test_no_access_without_its_audit_record(postgres_server, aws):  # noqa: F811
    aws.logs.delete_log_group(logGroupName=LOG_GROUP)
    with pytest.raises(aws.logs.exceptions.ResourceNotFoundException):
        jit_access(ASK, CONTEXT)
    assert jit_roles(postgres_server) == []  # created, then dropped when the audit write failed


def test_no_break_glass_without_its_page(postgres_server, aws, monkeypatch):  # noqa: F811
    monkeypatch.setenv("CRITICAL_TOPIC_ARN", f"arn:aws:sns:{REGION}:123456789012:no-such-topic")
    with pytest.raises(aws.sns.exceptions.NotFoundException):
        break_glass_access(ASK, CONTEXT)
    assert jit_roles(postgres_server) == []


def test_the_function_reaches_remote_servers_over_verified_tls_only():
    from pathlib import Path

    from functions.jit_db_access.handler import tls_options

    remote = tls_options("ep-quiet-sun-a1b2c3.ap-southeast-2.aws.neon.tech")
    assert remote["sslmode"] == "verify-full" and Path(remote["sslrootcert"]).is_file()
    assert tls_options("127.0.0.1") == {"sslmode": "disable"}
