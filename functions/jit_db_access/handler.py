"""Just-in-time database access: a Postgres login role that lives at most an hour (deployment sequence, step 0.4).

A request names a database, an access level, who asks and why:

    {"database": "bank_core", "access": "reporting", "requester": "alice", "reason": "INC-2041 balance query",
     "durationMinutes": 30}

and the function:

1. creates a login role `jit_<database>_<requester>_<8 hex>` with a fresh random password, `VALID UNTIL` now plus
   the duration (at most one hour; PostgreSQL refuses a password login after it), a connection limit, and no
   attribute (no SUPERUSER, CREATEDB, CREATEROLE, REPLICATION, BYPASSRLS);
2. grants it exactly the access asked for, and nothing else, as membership of one of the database's three roles
   of the privilege model (model/database_privileges.py), whose rights `bankctl db verify` proves:
   `reporting` (read-only, the default), `service` (read and write data); only the break-glass variant may grant
   `migration` (change the schema). Every session starts as that role (`ALTER ROLE … SET role`), so whatever it
   creates belongs to the model's role, never to the temporary one;
3. writes the grant — who, why, what, until when, the Lambda request id (which ties it to CloudTrail's record of
   the invocation and the caller's source identity) — to the DBA session audit log group `/bank/{env}/dba/sessions`;
   the break-glass variant also pages the critical alert topic;
4. returns the credentials, once. The password is never logged, audited or paged; only its SCRAM verifier reaches
   the server, so not even a statement log holds it.

If the audit record (or, for break-glass, the page) cannot be written, the role is dropped and the request fails:
no access without its record. `expire_access` (the `expire_access` handler, run on a schedule) drops roles whose
time has passed and ends their remaining sessions, which `VALID UNTIL` alone does not.

Environment of the functions: ENVIRONMENT, ADMIN_SECRET_ID (a Secrets Manager secret with the JSON host, port,
database, username, password of a role that may create roles and grant the model's roles — on Neon the project's
admin role, which created them), AUDIT_LOG_GROUP (default `/bank/{env}/dba/sessions`), CRITICAL_TOPIC_ARN
(break-glass). Credentials for AWS come from the function's execution role.
"""

from __future__ import annotations

import json
import logging
import re
import secrets
import time
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import psycopg
from psycopg import sql

LOG = logging.getLogger("jit_db_access")

MAX_DURATION = timedelta(hours=1)  # the issue: "a Postgres role valid for at most one hour"
DEFAULT_ACCESS = "reporting"  # read-only unless more is asked for
JIT_ACCESS = ("reporting", "service")
BREAK_GLASS_ACCESS = ("reporting", "service", "migration")
ROLE_PREFIX = "jit_"
CONNECTION_LIMIT = 3
DATABASE_NAME = re.compile(r"^[a-z][a-z0-9_]{0,40}$")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


class AccessRefused(ValueError):
    """The request is not allowed; the message says why (never a credential)."""


@dataclass(frozen=True)
class AccessRequest:
    database: str
    access: str
    requester: str
    reason: str
    valid_for: timedelta
    break_glass: bool

    @classmethod
    def from_event(cls, event: dict[str, Any], *, break_glass: bool) -> AccessRequest:
        if not isinstance(event, dict):
            raise AccessRefused("the request must be a JSON object")
        allowed = BREAK_GLASS_ACCESS if break_glass else JIT_ACCESS
        database = event.get("database")
        access = event.get("access", DEFAULT_ACCESS)
        requester = event.get("requester")
        reason = event.get("reason")
        minutes = event.get("durationMinutes", 60)
        if not isinstance(database, str) or not DATABASE_NAME.match(database):
            raise AccessRefused("`database` must name one of the bank's databases, e.g. bank_core")
        if access not in allowed:
            more = "" if break_glass else " (`migration` only through break-glass access)"
            raise AccessRefused(f"`access` must be one of {', '.join(allowed)}{more}")
        if not isinstance(requester, str) or not requester.strip():
            raise AccessRefused("`requester` must say who asks")
        if not isinstance(reason, str) or len(reason.strip()) < 5:
            raise AccessRefused("`reason` must say why (an incident or ticket and what for)")
        if isinstance(minutes, bool) or not isinstance(minutes, int) or not 1 <= minutes <= 60:
            raise AccessRefused("`durationMinutes` must be a whole number from 1 to 60")
        return cls(database, access, requester.strip(), reason.strip(), timedelta(minutes=minutes), break_glass)


@dataclass(frozen=True)
class AdminConnection:
    """The role that creates the temporary ones. Roles are the server's, not a database's: it works from its own
    database (`database`), whichever database a request names."""

    host: str
    port: int
    database: str
    username: str
    password: str = field(repr=False)

    @classmethod
    def from_secret(cls, text: str) -> AdminConnection:
        data = json.loads(text)
        return cls(
            str(data["host"]), int(data["port"]), str(data["database"]), str(data["username"]), str(data["password"])
        )

    def connect(self, database: str | None = None) -> psycopg.Connection:
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=database or self.database,
            user=self.username,
            password=self.password,
            connect_timeout=15,
            application_name="jit-db-access",
            autocommit=True,
            **tls_options(self.host),
        )


def tls_options(host: str) -> dict[str, str]:
    """verify-full against Mozilla's roots (certifi, packaged with the function); in clear only on loopback."""
    if host in LOOPBACK_HOSTS:
        return {"sslmode": "disable"}
    import certifi

    return {"sslmode": "verify-full", "sslrootcert": certifi.where()}


@dataclass(frozen=True)
class Grant:
    role: str
    database: str
    access: str
    granted_role: str
    valid_until: datetime
    password: str  # returned once; in nothing else

    def credentials(self, admin: AdminConnection) -> dict[str, Any]:
        return {
            "host": admin.host,
            "port": admin.port,
            "database": self.database,
            "username": self.role,
            "password": self.password,
            "access": self.access,
            "validUntil": self.valid_until.isoformat(),
        }


def role_name(database: str, requester: str) -> str:
    """`jit_<database>_<requester>_<8 hex>`, within PostgreSQL's 63 characters."""
    who = re.sub(r"[^a-z0-9]+", "_", requester.lower().split("@", 1)[0]).strip("_")[:16] or "someone"
    return f"{ROLE_PREFIX}{database}_{who}_{secrets.token_hex(4)}"[:63]


def create_access(conn: psycopg.Connection, request: AccessRequest) -> Grant:
    """Create the temporary role on the server `conn` is connected to, for the requested database."""
    granted_role = f"{request.database}_{request.access}"
    found = conn.execute(
        "SELECT EXISTS (SELECT FROM pg_database WHERE datname = %s), EXISTS (SELECT FROM pg_roles WHERE rolname = %s)",
        [request.database, granted_role],
    ).fetchone()
    if not all(found):
        raise AccessRefused(f"there is no database {request.database} with a {request.access} role")
    name = role_name(request.database, request.requester)
    password = secrets.token_urlsafe(32)
    # libpq's own SCRAM-SHA-256 hashing (PQencryptPasswordConn): the server receives the verifier, not the password.
    verifier = conn.pgconn.encrypt_password(password.encode(), name.encode(), b"scram-sha-256").decode()
    with conn.transaction():
        (valid_until,) = conn.execute("SELECT now() + %s", [min(request.valid_for, MAX_DURATION)]).fetchone()
        role = sql.Identifier(name)
        conn.execute(
            sql.SQL(
                "CREATE ROLE {} LOGIN INHERIT NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS "
                "CONNECTION LIMIT {} PASSWORD {} VALID UNTIL {}"
            ).format(role, sql.Literal(CONNECTION_LIMIT), sql.Literal(verifier), sql.Literal(valid_until.isoformat()))
        )
        conn.execute(sql.SQL("GRANT {} TO {}").format(sql.Identifier(granted_role), role))
        # Sessions act as the granted role from their first statement: what they create belongs to it.
        conn.execute(
            sql.SQL("ALTER ROLE {} IN DATABASE {} SET role = {}").format(
                role, sql.Identifier(request.database), sql.Literal(granted_role)
            )
        )
        conn.execute(
            sql.SQL("COMMENT ON ROLE {} IS {}").format(
                role,
                sql.Literal(f"just-in-time access for {request.requester}: {request.reason}"[:1000]),
            )
        )
    return Grant(name, request.database, request.access, granted_role, valid_until, password)


def drop_access(conn: psycopg.Connection, role: str) -> None:
    """End the role's sessions and drop it (its memberships go with it)."""
    try:
        conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE usename = %s", [role])
    except psycopg.errors.InsufficientPrivilege:
        # Ending another role's sessions needs pg_signal_backend; without it they last until they disconnect.
        LOG.warning("could not end the sessions of %s: the admin role lacks pg_signal_backend", role)
    conn.execute(sql.SQL("DROP ROLE IF EXISTS {}").format(sql.Identifier(role)))


def expire_access(conn: psycopg.Connection) -> list[str]:
    """Drop every temporary role whose time has passed (by the server's clock); returns their names."""
    rows = conn.execute(
        "SELECT rolname FROM pg_roles WHERE rolname LIKE %s AND rolvaliduntil < now() ORDER BY rolname",
        [ROLE_PREFIX.replace("_", "\\_") + "%"],
    ).fetchall()
    expired = [name for (name,) in rows]
    for name in expired:
        drop_access(conn, name)
    return expired


def audit_record(grant: Grant, request: AccessRequest, request_id: str, environment: str) -> dict[str, Any]:
    """What the DBA session audit log keeps of a grant: everything but the password."""
    return {
        "event": "break-glass-db-access" if request.break_glass else "jit-db-access",
        "environment": environment,
        "role": grant.role,
        "database": grant.database,
        "access": grant.access,
        "grantedRole": grant.granted_role,
        "validUntil": grant.valid_until.isoformat(),
        "requester": request.requester,
        "reason": request.reason,
        "breakGlass": request.break_glass,
        "lambdaRequestId": request_id,
    }


def write_audit(logs, log_group: str, record: dict[str, Any]) -> None:
    stream = f"{record['event']}/{record['role']}"
    logs.create_log_stream(logGroupName=log_group, logStreamName=stream)
    logs.put_log_events(
        logGroupName=log_group,
        logStreamName=stream,
        logEvents=[{"timestamp": int(time.time() * 1000), "message": json.dumps(record, sort_keys=True)}],
    )


def page(sns, topic_arn: str, record: dict[str, Any]) -> None:
    sns.publish(
        TopicArn=topic_arn,
        Subject=f"Break-glass database access to {record['database']} ({record['environment']})"[:100],
        Message=json.dumps(record, sort_keys=True, indent=2),
    )


def grant_access(
    request: AccessRequest,
    *,
    admin: AdminConnection,
    logs,
    log_group: str,
    environment: str,
    request_id: str,
    sns=None,
    topic_arn: str | None = None,
) -> dict[str, Any]:
    """Create, record (and for break-glass, page), then return the credentials; on any failure after the role
    exists, drop it again."""
    if request.break_glass and not (sns and topic_arn):
        raise AccessRefused("break-glass access must page: no critical topic is configured")
    with admin.connect() as conn:
        grant = create_access(conn, request)
        try:
            record = audit_record(grant, request, request_id, environment)
            write_audit(logs, log_group, record)
            if request.break_glass:
                page(sns, topic_arn, record)
        except Exception:
            drop_access(conn, grant.role)
            raise
    LOG.info("granted %s access to %s as %s until %s", grant.access, grant.database, grant.role, grant.valid_until)
    return grant.credentials(admin)


# --- the Lambda handlers ------------------------------------------------------------------------------------------


def _setting(name: str, default: str | None = None) -> str:
    import os

    value = os.environ.get(name, default)
    if not value:
        raise RuntimeError(f"the function's environment lacks {name}")
    return value


def _handle(event: dict[str, Any], context: Any, *, break_glass: bool) -> dict[str, Any]:
    import boto3

    environment = _setting("ENVIRONMENT")
    request = AccessRequest.from_event(event, break_glass=break_glass)
    secret = boto3.client("secretsmanager").get_secret_value(SecretId=_setting("ADMIN_SECRET_ID"))
    return grant_access(
        request,
        admin=AdminConnection.from_secret(secret["SecretString"]),
        logs=boto3.client("logs"),
        log_group=_setting("AUDIT_LOG_GROUP", f"/bank/{environment}/dba/sessions"),
        environment=environment,
        request_id=getattr(context, "aws_request_id", "local"),
        sns=boto3.client("sns") if break_glass else None,
        topic_arn=_setting("CRITICAL_TOPIC_ARN") if break_glass else None,
    )


def jit_access(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`bank-{env}-jit-db-access`: read-only by default, read-write on request."""
    return _handle(event, context, break_glass=False)


def break_glass_access(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """`bank-{env}-break-glass-db-access`: may also grant the migration role (schema changes); always pages."""
    return _handle(event, context, break_glass=True)


def expire_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Scheduled: drop expired temporary roles in every database's server (one server: roles are cluster-wide)."""
    import boto3

    secret = boto3.client("secretsmanager").get_secret_value(SecretId=_setting("ADMIN_SECRET_ID"))
    with AdminConnection.from_secret(secret["SecretString"]).connect() as conn:
        return {"expired": expire_access(conn)}
