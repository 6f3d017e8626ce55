"""What `bankctl db verify`, `bankctl db preflight` and the foundation gate check inside the databases.

psycopg and boto3 only; no Pulumi. Three questions, each answered against the live server:

- verify (DESIGN G14): does each database's privilege model (model/database_privileges.py) hold for real?
  Connecting as each of the three roles with the credentials MOD-103 stored, it reads the catalogue (role
  attributes and memberships, the privileges each role has on every table, sequence and schema) and then
  tries: the migration role creates a probe table in `app`, the other two must be able to do exactly what
  the model says with it — the reporting role reads and cannot write, the service role reads and writes and
  cannot create or alter anything. Every attempt but the probe itself runs in a transaction that is rolled
  back, and the probe is dropped at the end. Application roles must reach the database through the pooled
  endpoint (PgBouncer transaction pooling), the migration role directly.
- preflight (before `pulumi up`): is flyway on this machine, does the database answer as the migration role,
  is Flyway's schema history readable, and which migrations of the pinned set are applied or pending?
- the foundation gate (deployment sequence, Phase 0: "run the baseline schema migrations for each database
  before application modules start"): every pinned database's history is readable as the migration role and
  holds applied migrations and no failed one.

A finding names its subject (a role, a database, a secret) and a stable code, and says what is wrong and the
fix. No finding, message or exception text holds a password: credentials are read from Secrets Manager
into memory, used to connect, and never printed.
"""

from __future__ import annotations

import json
import re
import secrets
import shutil
import zlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path, PurePosixPath
from typing import Any

import psycopg
from psycopg import sql

from model.database_privileges import APPLICATION_SCHEMA, DatabaseRole, RoleKind, role_secret_name, roles

# Flyway's schema history table (Flyway's PostgreSQL create script: installed_rank, version, description, type,
# script, checksum, installed_by, installed_on, execution_time, success); it lives in the first of
# FLYWAY_SCHEMAS, which is `app`.
HISTORY_TABLE = "flyway_schema_history"
HISTORY_COLUMNS = (
    "installed_rank",
    "version",
    "description",
    "type",
    "script",
    "checksum",
    "installed_by",
    "installed_on",
    "execution_time",
    "success",
)
SECRET_KEYS = ("host", "port", "database", "username", "password", "pooled")
LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})
# Neon names the pooled endpoint of compute `ep-x` `ep-x-pooler` (Neon docs, "Connection pooling").
NEON_DOMAIN = ".neon.tech"
# Roles whose membership gives more than the privilege model: Neon's admin group and PostgreSQL's predefined
# roles that read or write everything, reach the server's files, or act on other sessions.
ELEVATED_ROLES = frozenset(
    {
        "neon_superuser",
        "pg_database_owner",
        "pg_read_all_data",
        "pg_write_all_data",
        "pg_execute_server_program",
        "pg_read_server_files",
        "pg_write_server_files",
        "pg_signal_backend",
        "pg_checkpoint",
        "pg_use_reserved_connections",
        "pg_create_subscription",
    }
)
ROLE_ATTRIBUTES = (
    ("rolsuper", "SUPERUSER"),
    ("rolcreaterole", "CREATEROLE"),
    ("rolcreatedb", "CREATEDB"),
    ("rolreplication", "REPLICATION"),
    ("rolbypassrls", "BYPASSRLS"),
)
TABLE_PRIVILEGES = ("SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE", "REFERENCES", "TRIGGER")
WRITE_PRIVILEGES = frozenset({"INSERT", "UPDATE", "DELETE", "TRUNCATE"})
SEQUENCE_PRIVILEGES = ("USAGE", "SELECT", "UPDATE")
SYSTEM_SCHEMAS = ("pg_catalog", "information_schema", "pg_toast")
MIGRATION_FILE = re.compile(r"^V(?P<version>[0-9]+(?:[._][0-9]+)*)__(?P<description>.+)\.sql$")


@dataclass(frozen=True)
class DbFinding:
    subject: str  # a role (bank_core_service), a database (bank_core), a secret name, or `flyway`
    code: str  # stable: tests and people can grep for it
    problem: str  # what is wrong and the fix; never a secret value


class CredentialsError(ValueError):
    """A role secret that cannot be used; the message names the secret and the key, never a value."""


# --- credentials --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RoleCredentials:
    """A role's connection details as MOD-103 stores them in Secrets Manager (`role_secret_name`)."""

    host: str
    port: int
    database: str
    username: str
    password: str = field(repr=False)
    pooled: bool  # True: `host` is the PgBouncer (pooled) endpoint

    @classmethod
    def from_secret(cls, name: str, text: str | None) -> RoleCredentials:
        if not text:
            raise CredentialsError(f"{name} has no value yet")
        try:
            data = json.loads(text)
        except json.JSONDecodeError:
            raise CredentialsError(f"{name} is not JSON (expected keys {', '.join(SECRET_KEYS)})") from None
        if not isinstance(data, dict):
            raise CredentialsError(f"{name} is not a JSON object (expected keys {', '.join(SECRET_KEYS)})")
        missing = [k for k in SECRET_KEYS if k not in data]
        if missing:
            raise CredentialsError(f"{name} lacks {', '.join(missing)}")
        wrong = [
            key
            for key, ok in (
                ("host", isinstance(data["host"], str) and bool(data["host"])),
                ("port", _is_port(data["port"])),
                ("database", isinstance(data["database"], str) and bool(data["database"])),
                ("username", isinstance(data["username"], str) and bool(data["username"])),
                ("password", isinstance(data["password"], str) and bool(data["password"])),
                ("pooled", isinstance(data["pooled"], bool)),
            )
            if not ok
        ]
        if wrong:
            raise CredentialsError(f"{name} has an invalid {', '.join(wrong)}")
        return cls(
            host=data["host"],
            port=int(data["port"]),
            database=data["database"],
            username=data["username"],
            password=data["password"],
            pooled=data["pooled"],
        )

    def connect(self, application_name: str) -> psycopg.Connection:
        """A connection in autocommit mode: every check opens (and rolls back) its own transaction, which is
        also what PgBouncer's transaction pooling needs; no prepared statements for the same reason."""
        return psycopg.connect(
            host=self.host,
            port=self.port,
            dbname=self.database,
            user=self.username,
            password=self.password,
            connect_timeout=15,
            application_name=application_name,
            autocommit=True,
            prepare_threshold=None,
            **tls_options(self.host),
        )


def _is_port(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    if isinstance(value, str) and value.isdigit():
        value = int(value)
    return isinstance(value, int) and 0 < value < 65536


def tls_options(host: str) -> dict[str, str]:
    """TLS with the server's certificate and name checked (verify-full) against Mozilla's roots from certifi (Neon's
    certificates are publicly trusted; the libpq bundled with psycopg's wheel does not know where the system's
    roots are); only a server on this machine (the local stack, the tests) is reached in clear."""
    if host in LOOPBACK_HOSTS:
        return {"sslmode": "disable"}
    import certifi

    return {"sslmode": "verify-full", "sslrootcert": certifi.where()}


def redact(text: str, *values: str) -> str:
    """An error message with any credential it might quote removed, on one line."""
    for value in values:
        if value:
            text = text.replace(value, "[secret]")
    return " ".join(text.split())


def load_role_credentials(
    secrets_client, environment: str, database: str, kinds: Iterable[RoleKind] | None = None
) -> tuple[dict[RoleKind, RoleCredentials], list[DbFinding]]:
    """Each role's credentials from its secret (boto3 Secrets Manager client); a finding per unusable secret."""
    found: dict[RoleKind, RoleCredentials] = {}
    findings: list[DbFinding] = []
    for role in roles(database):
        if kinds is not None and role.kind not in kinds:
            continue
        name = role_secret_name(environment, role)
        try:
            response = secrets_client.get_secret_value(SecretId=name)
        except secrets_client.exceptions.ResourceNotFoundException:
            findings.append(
                DbFinding(name, "no-credentials", f"no such secret: MOD-103 stores {role.name}'s credentials there")
            )
            continue
        try:
            found[role.kind] = RoleCredentials.from_secret(name, response.get("SecretString"))
        except CredentialsError as exc:
            findings.append(DbFinding(name, "no-credentials", f"{exc}; MOD-103 writes this secret"))
    return found, findings


def endpoint_findings(role: DatabaseRole, credentials: RoleCredentials, *, pooler: bool = True) -> list[DbFinding]:
    """The credentials are this role's, for its database, through the endpoint the model says. `pooler` is False
    where the stack has no PgBouncer (the local stack's PostgreSQL, DESIGN G10): every role connects directly."""
    findings = []
    if credentials.username != role.name:
        findings.append(
            DbFinding(role.name, "wrong-user", f"its secret names user {credentials.username!r}, not {role.name!r}")
        )
    if credentials.database != role.database:
        findings.append(
            DbFinding(
                role.name,
                "wrong-database",
                f"its secret names database {credentials.database!r}, not {role.database!r}",
            )
        )
    neon = credentials.host.endswith(NEON_DOMAIN)
    pooler_host = credentials.host.split(".", 1)[0].endswith("-pooler")
    if role.uses_pooler and pooler and not credentials.pooled:
        findings.append(
            DbFinding(
                role.name,
                "not-pooled",
                "application traffic must go through the pooled endpoint (PgBouncer transaction pooling), "
                f"but its secret points at the direct endpoint {credentials.host}",
            )
        )
    elif role.uses_pooler and neon and not pooler_host:
        findings.append(
            DbFinding(
                role.name,
                "not-pooled",
                f"its secret says pooled, but {credentials.host} is a direct Neon endpoint (no -pooler suffix)",
            )
        )
    if not role.uses_pooler and (credentials.pooled or (neon and pooler_host)):
        findings.append(
            DbFinding(
                role.name,
                "pooled-migration",
                f"migrations need a direct connection (session features such as advisory locks do not survive "
                f"transaction pooling), but its secret points at the pooled endpoint {credentials.host}",
            )
        )
    return findings


# --- verify: the privilege model, for real --------------------------------------------------------------------


@dataclass(frozen=True)
class Attempt:
    allowed: bool
    error: str = ""  # set when the statement failed for another reason than a missing privilege


def attempt(conn: psycopg.Connection, statement: sql.Composable, *, keep: bool = False) -> Attempt:
    """Run one statement as the connection's role; rolled back unless `keep`."""
    try:
        with conn.transaction(force_rollback=not keep):
            conn.execute(statement)
    except psycopg.errors.InsufficientPrivilege:
        return Attempt(False)
    except psycopg.Error as exc:
        return Attempt(False, f"{exc.sqlstate or ''} {redact(str(exc))}".strip())
    return Attempt(True)


def attribute_findings(role: DatabaseRole, conn: psycopg.Connection) -> list[DbFinding]:
    """No role of the model is a superuser or holds an admin attribute, directly or through a role it is in."""
    findings = []
    columns = sql.SQL(", ").join(sql.Identifier(c) for c, _ in ROLE_ATTRIBUTES)
    (row,) = conn.execute(sql.SQL("SELECT {} FROM pg_roles WHERE rolname = current_user").format(columns)).fetchall()
    held = [label for (_, label), value in zip(ROLE_ATTRIBUTES, row, strict=True) if value]
    if held:
        findings.append(
            DbFinding(
                role.name,
                "superuser-like",
                f"has {', '.join(held)}; the privilege model gives it none of these: ALTER ROLE {role.name} "
                f"NO{' NO'.join(held)}",
            )
        )
    if "SUPERUSER" in held:
        return findings  # a superuser holds every role's privileges already: listing them adds nothing
    memberships = conn.execute(
        sql.SQL(
            "SELECT rolname, {} FROM pg_roles WHERE rolname <> current_user "
            "AND pg_has_role(current_user, oid, 'MEMBER') ORDER BY rolname"
        ).format(columns)
    ).fetchall()
    for name, *attributes in memberships:
        elevated = [label for (_, label), value in zip(ROLE_ATTRIBUTES, attributes, strict=True) if value]
        if elevated or name in ELEVATED_ROLES:
            why = f"which has {', '.join(elevated)}" if elevated else "which reaches beyond its own schema"
            findings.append(
                DbFinding(
                    role.name,
                    "superuser-like",
                    f"is a member of {name}, {why}: REVOKE {name} FROM {role.name}",
                )
            )
        else:
            findings.append(
                DbFinding(
                    role.name,
                    "extra-membership",
                    f"is a member of {name}, which the privilege model does not grant: it gains that role's "
                    f"privileges; REVOKE {name} FROM {role.name}",
                )
            )
    return findings


def catalogue_findings(role: DatabaseRole, conn: psycopg.Connection) -> list[DbFinding]:
    """What the role may do to every existing table, sequence and schema, as the server itself answers it."""
    findings: list[DbFinding] = []
    schema = APPLICATION_SCHEMA
    owner = conn.execute(
        "SELECT pg_get_userbyid(nspowner), has_schema_privilege(oid, 'USAGE'), has_schema_privilege(oid, 'CREATE') "
        "FROM pg_namespace WHERE nspname = %s",
        [schema],
    ).fetchone()
    if owner is None:
        return [DbFinding(role.database, "no-schema", f"has no schema `{schema}`; MOD-103 creates it")]
    schema_owner, usage, create = owner
    if role.owns_schema:
        if schema_owner != role.name:
            findings.append(
                DbFinding(
                    role.name,
                    "not-owner",
                    f"schema {schema} is owned by {schema_owner}; the migration role owns it (and everything in it) "
                    f"so Flyway can create and alter: ALTER SCHEMA {schema} OWNER TO {role.name}",
                )
            )
    elif not usage:
        findings.append(DbFinding(role.name, "cannot-read", f"has no USAGE on schema {schema}"))

    # Creating anywhere: in any schema of the database, or new schemas in the database itself.
    creatable = [
        name
        for (name,) in conn.execute(
            "SELECT nspname FROM pg_namespace WHERE has_schema_privilege(oid, 'CREATE') "
            "AND nspname <> ALL(%s) AND nspname NOT LIKE 'pg\\_temp\\_%%' AND nspname NOT LIKE 'pg\\_toast\\_temp\\_%%' "
            "ORDER BY nspname",
            [list(SYSTEM_SCHEMAS)],
        )
    ]
    if role.owns_schema:
        if schema not in creatable:
            findings.append(DbFinding(role.name, "cannot-create", f"cannot create objects in schema {schema}"))
    else:
        findings += [
            DbFinding(
                role.name,
                "can-create",
                f"can create objects in schema {name}: REVOKE CREATE ON SCHEMA "
                f"{name} FROM {role.name} (and from PUBLIC)",
            )
            for name in creatable
        ]
        (db_create,) = conn.execute("SELECT has_database_privilege(current_database(), 'CREATE')").fetchone()
        if db_create:
            findings.append(
                DbFinding(
                    role.name,
                    "can-create",
                    f"can create schemas in database {role.database}: REVOKE CREATE ON DATABASE {role.database} "
                    f"FROM {role.name}",
                )
            )

    checks = sql.SQL(", ").join(sql.SQL("has_table_privilege(c.oid, {})").format(p) for p in TABLE_PRIVILEGES)
    tables = conn.execute(
        sql.SQL(
            "SELECT c.relname, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE'), {} "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind IN ('r', 'p', 'v', 'm', 'f') ORDER BY c.relname"
        ).format(checks),
        [schema],
    ).fetchall()
    for name, table_owner, acts_as_owner, *flags in tables:
        have = {p for p, on in zip(TABLE_PRIVILEGES, flags, strict=True) if on}
        findings += _object_findings(role, f"{schema}.{name}", table_owner, acts_as_owner, have, table=True)
    checks = sql.SQL(", ").join(sql.SQL("has_sequence_privilege(c.oid, {})").format(p) for p in SEQUENCE_PRIVILEGES)
    sequences = conn.execute(
        sql.SQL(
            "SELECT c.relname, pg_get_userbyid(c.relowner), pg_has_role(c.relowner, 'USAGE'), {} "
            "FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace "
            "WHERE n.nspname = %s AND c.relkind = 'S' ORDER BY c.relname"
        ).format(checks),
        [schema],
    ).fetchall()
    for name, sequence_owner, acts_as_owner, *flags in sequences:
        have = {p for p, on in zip(SEQUENCE_PRIVILEGES, flags, strict=True) if on}
        findings += _object_findings(role, f"{schema}.{name}", sequence_owner, acts_as_owner, have, table=False)
    return findings


def _object_findings(
    role: DatabaseRole, name: str, owner: str, acts_as_owner: bool, have: set[str], *, table: bool
) -> list[DbFinding]:
    kind = "table" if table else "sequence"
    if role.owns_schema:
        if not acts_as_owner:
            return [
                DbFinding(
                    role.name,
                    "not-owner",
                    f"{kind} {name} is owned by {owner}: migrations cannot alter it; everything in the schema "
                    f"belongs to {role.name}",
                )
            ]
        return []
    if acts_as_owner:
        return [
            DbFinding(
                role.name,
                "can-alter",
                f"has the owner's rights on {kind} {name} (owned by {owner}): it can alter or drop it; only "
                "the migration role owns objects",
            )
        ]
    want = set(role.table_privileges if table else role.sequence_privileges)
    findings = []
    if table:
        if "SELECT" in want and "SELECT" not in have:
            findings.append(DbFinding(role.name, "cannot-read", f"cannot SELECT from {name}"))
        missing_writes = sorted((want & WRITE_PRIVILEGES) - have)
        if missing_writes:
            findings.append(DbFinding(role.name, "cannot-write", f"lacks {', '.join(missing_writes)} on {name}"))
        extra_writes = sorted((have & WRITE_PRIVILEGES) - want)
        if extra_writes:
            findings.append(
                DbFinding(
                    role.name,
                    "can-write",
                    f"has {', '.join(extra_writes)} on {name}; the privilege model gives it "
                    f"{', '.join(sorted(want)) or 'nothing'}: REVOKE {', '.join(extra_writes)} ON {name} "
                    f"FROM {role.name}",
                )
            )
        others = sorted(have - want - WRITE_PRIVILEGES)
        if others:
            findings.append(
                DbFinding(role.name, "extra-privilege", f"has {', '.join(others)} on {name}, beyond the model")
            )
    else:
        missing = sorted(want - have)
        if missing:
            findings.append(DbFinding(role.name, "missing-privilege", f"lacks {', '.join(missing)} on {name}"))
        extra = sorted(have - want)
        if extra:
            code = "can-write" if "UPDATE" in extra else "extra-privilege"
            findings.append(DbFinding(role.name, code, f"has {', '.join(extra)} on {name}, beyond the model"))
    return findings


def behaviour_findings(
    database: str, by_kind: Mapping[RoleKind, DatabaseRole], conns: Mapping[RoleKind, psycopg.Connection]
) -> list[DbFinding]:
    """Each role tries what the model allows and forbids on a probe table the migration role creates.

    The probe is a new table, so it also proves the migration role's default privileges: the service and
    reporting roles get their grants on every future table, not only the ones that exist today."""
    findings: list[DbFinding] = []
    schema = sql.Identifier(APPLICATION_SCHEMA)
    probe_name = f"bankctl_verify_{secrets.token_hex(4)}"
    probe = sql.SQL("{}.{}").format(schema, sql.Identifier(probe_name))
    shown = f"{APPLICATION_SCHEMA}.{probe_name}"
    migration = conns.get("migration")
    created = False
    try:
        if migration is not None:
            owner = by_kind["migration"]
            made = attempt(
                migration,
                sql.SQL("CREATE TABLE {} (id integer PRIMARY KEY, note text)").format(probe),
                keep=True,
            )
            created = made.allowed
            if not created:
                findings.append(
                    DbFinding(
                        owner.name,
                        "cannot-create",
                        f"could not create a table in schema {APPLICATION_SCHEMA}"
                        + (f" ({made.error})" if made.error else "")
                        + ": Flyway runs as this role",
                    )
                )
            else:
                attempt(migration, sql.SQL("INSERT INTO {} VALUES (1, 'probe')").format(probe), keep=True)
                altered = attempt(migration, sql.SQL("ALTER TABLE {} ADD COLUMN extra integer").format(probe))
                if not altered.allowed:
                    findings.append(DbFinding(owner.name, "cannot-alter", f"could not alter its own table {shown}"))
        for kind in ("service", "reporting"):
            conn = conns.get(kind)
            if conn is None:
                continue
            role = by_kind[kind]
            findings += _probe_as(role, conn, probe, shown, created)
    finally:
        if created and migration is not None:
            dropped = attempt(migration, sql.SQL("DROP TABLE IF EXISTS {}").format(probe), keep=True)
            if not dropped.allowed:
                findings.append(
                    DbFinding(
                        by_kind["migration"].name,
                        "probe-left",
                        f"could not drop the probe table {shown}; drop it by hand ({dropped.error or 'denied'})",
                    )
                )
    return findings


def _probe_as(
    role: DatabaseRole, conn: psycopg.Connection, probe: sql.Composable, shown: str, created: bool
) -> list[DbFinding]:
    findings: list[DbFinding] = []
    allowed = set(role.table_privileges)
    other = sql.SQL("{}.{}").format(
        sql.Identifier(APPLICATION_SCHEMA), sql.Identifier(f"{shown.split('.', 1)[1]}_{role.kind}")
    )
    creates = attempt(conn, sql.SQL("CREATE TABLE {} (id integer)").format(other))
    if creates.allowed and not role.owns_schema:
        findings.append(
            DbFinding(
                role.name,
                "can-create",
                f"created a table in schema {APPLICATION_SCHEMA} (rolled back): REVOKE CREATE ON SCHEMA "
                f"{APPLICATION_SCHEMA} FROM {role.name}",
            )
        )
    if not created:
        return findings  # no probe table (the migration role could not create one: already a finding)
    statements = {
        "SELECT": sql.SQL("SELECT id FROM {}").format(probe),
        "INSERT": sql.SQL("INSERT INTO {} (id, note) VALUES (2, 'probe')").format(probe),
        "UPDATE": sql.SQL("UPDATE {} SET note = 'probed' WHERE id = 1").format(probe),
        "DELETE": sql.SQL("DELETE FROM {} WHERE id = 1").format(probe),
    }
    for privilege, statement in statements.items():
        result = attempt(conn, statement)
        if result.error:
            findings.append(DbFinding(role.name, "probe-error", f"{privilege} on {shown} failed: {result.error}"))
        elif privilege in allowed and not result.allowed:
            code = "cannot-read" if privilege == "SELECT" else "cannot-write"
            findings.append(
                DbFinding(
                    role.name,
                    code,
                    f"cannot {privilege} on a new table ({shown}): the migration role's default privileges must "
                    f"grant {', '.join(role.table_privileges)} on every future table to {role.name}",
                )
            )
        elif privilege not in allowed and result.allowed:
            findings.append(
                DbFinding(
                    role.name,
                    "can-write",
                    f"could {privilege} on a new table ({shown}, rolled back): the model gives it "
                    f"{', '.join(role.table_privileges)} only",
                )
            )
    alters = attempt(conn, sql.SQL("ALTER TABLE {} ADD COLUMN extra integer").format(probe))
    if alters.allowed:
        findings.append(
            DbFinding(
                role.name,
                "can-alter",
                f"altered a table it does not own ({shown}, rolled back): only the migration role may change the schema",
            )
        )
    return findings


def verify_database(
    database: str, credentials: Mapping[RoleKind, RoleCredentials], *, pooler: bool = True
) -> list[DbFinding]:
    """Every way the live database differs from the privilege model; empty means it holds."""
    by_kind = {role.kind: role for role in roles(database)}
    findings: list[DbFinding] = []
    conns: dict[RoleKind, psycopg.Connection] = {}
    try:
        for kind, role in by_kind.items():
            creds = credentials.get(kind)
            if creds is None:
                continue  # no usable secret: the loader already reported it
            findings += endpoint_findings(role, creds, pooler=pooler)
            try:
                conns[kind] = creds.connect(f"bankctl db verify ({role.name})")
            except psycopg.Error as exc:
                findings.append(
                    DbFinding(
                        role.name,
                        "unreachable",
                        f"cannot connect to {creds.database} at {creds.host}:{creds.port}: "
                        f"{redact(str(exc), creds.password)}",
                    )
                )
        for kind, conn in conns.items():
            findings += attribute_findings(by_kind[kind], conn)
            findings += catalogue_findings(by_kind[kind], conn)
        findings += behaviour_findings(database, by_kind, conns)
    finally:
        for conn in conns.values():
            conn.close()
    return findings


# --- Flyway migrations: the set, the history, their status ---------------------------------------------------


@dataclass(frozen=True)
class SqlMigration:
    """One versioned SQL migration as Flyway resolves it from a location."""

    version: str  # "1", "1.1" (Flyway: `_` and `.` both separate version parts)
    description: str  # the file name's description, underscores as spaces
    script: str  # the path relative to the location
    checksum: int  # Flyway's: CRC-32 of the UTF-8 lines without line breaks (BOM dropped), as a signed int

    @property
    def key(self) -> tuple[int, ...]:
        return version_key(self.version)


def version_key(version: str) -> tuple[int, ...]:
    """Flyway compares versions part by part as numbers, trailing zeros ignored: 1.10 > 1.9, and 1.0 is 1."""
    parts = [int(part) for part in version.split(".")]
    while len(parts) > 1 and parts[-1] == 0:
        parts.pop()
    return tuple(parts)


def flyway_checksum(data: bytes) -> int:
    """Flyway's ChecksumCalculator: CRC-32 over each line (line break removed, BOM dropped from the first)."""
    text = data.decode("utf-8")
    if text.startswith("\ufeff"):
        text = text[1:]
    crc = 0
    # Java's BufferedReader.readLine ends a line at \n, \r or \r\n.
    for line in re.split(r"\r\n|\r|\n", text)[: -1 if re.search(r"(\r\n|\r|\n)\Z", text) else None]:
        crc = zlib.crc32(line.encode("utf-8"), crc)
    return crc - (1 << 32) if crc >= 1 << 31 else crc


def parse_migration(script: str, data: bytes) -> SqlMigration | None:
    """A versioned migration (`V1__Create_accounts.sql`), or None for a file Flyway would not run as one."""
    match = MIGRATION_FILE.match(PurePosixPath(script).name)
    if not match:
        return None
    return SqlMigration(
        version=match["version"].replace("_", "."),
        description=match["description"].replace("_", " "),
        script=script,
        checksum=flyway_checksum(data),
    )


def directory_migrations(directory: Path) -> list[SqlMigration]:
    """The versioned migrations under a directory (scanned recursively, as Flyway scans a location)."""
    found = []
    for path in sorted(directory.rglob("*.sql")):
        migration = parse_migration(path.relative_to(directory).as_posix(), path.read_bytes())
        if migration is not None:
            found.append(migration)
    return _ordered(found)


def s3_migrations(s3_client, bucket: str, prefix: str) -> list[SqlMigration]:
    """The versioned migrations under `s3:<bucket>/<prefix>` — what Flyway reads with FLYWAY_LOCATIONS."""
    found = []
    root = prefix.rstrip("/") + "/"
    for page in s3_client.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=root):
        for item in page.get("Contents", []):
            key = item["Key"]
            if not key.endswith(".sql") or not MIGRATION_FILE.match(PurePosixPath(key).name):
                continue
            data = s3_client.get_object(Bucket=bucket, Key=key)["Body"].read()
            migration = parse_migration(key[len(root) :], data)
            if migration is not None:
                found.append(migration)
    return _ordered(found)


def _ordered(migrations: list[SqlMigration]) -> list[SqlMigration]:
    seen: dict[tuple[int, ...], str] = {}
    for m in migrations:
        if m.key in seen:
            raise ValueError(f"two migrations with version {m.version}: {seen[m.key]} and {m.script}")
        seen[m.key] = m.script
    return sorted(migrations, key=lambda m: m.key)


@dataclass(frozen=True)
class HistoryRow:
    installed_rank: int
    version: str | None
    description: str
    type: str
    script: str
    checksum: int | None
    installed_by: str
    installed_on: datetime
    execution_time: int
    success: bool


def read_history(conn: psycopg.Connection, schema: str = APPLICATION_SCHEMA) -> list[HistoryRow] | None:
    """Flyway's schema history, oldest first; None when the table does not exist yet (nothing has run).
    Raises psycopg.errors.InsufficientPrivilege when the role cannot read it."""
    table = sql.SQL("{}.{}").format(sql.Identifier(schema), sql.Identifier(HISTORY_TABLE))
    (exists,) = conn.execute("SELECT to_regclass(%s) IS NOT NULL", [f'"{schema}"."{HISTORY_TABLE}"']).fetchone()
    if not exists:
        return None
    columns = sql.SQL(", ").join(sql.Identifier(c) for c in HISTORY_COLUMNS)
    rows = conn.execute(sql.SQL("SELECT {} FROM {} ORDER BY installed_rank").format(columns, table)).fetchall()
    return [HistoryRow(*row) for row in rows]


@dataclass(frozen=True)
class MigrationStatus:
    database: str
    history_exists: bool
    applied: tuple[str, ...]  # versions successfully applied, in order
    pending: tuple[str, ...]  # versions of the set not applied yet
    failed: tuple[HistoryRow, ...]  # rows with success = false
    changed: tuple[str, ...]  # applied versions whose file has changed since (checksum differs)
    unknown: tuple[str, ...]  # applied versions the set does not have (Flyway: "future")

    def as_dict(self) -> dict[str, Any]:
        return {
            "database": self.database,
            "historyExists": self.history_exists,
            "applied": list(self.applied),
            "pending": list(self.pending),
            "failed": [f"{r.version or r.script} ({r.script})" for r in self.failed],
            "changed": list(self.changed),
            "unknown": list(self.unknown),
        }


def migration_status(
    database: str, history: list[HistoryRow] | None, migrations: list[SqlMigration]
) -> MigrationStatus:
    """Applied against pending, as `flyway info` would say; versioned rows only (baseline and schema-creation
    markers carry no script of the set)."""
    rows = history or []
    versioned = [r for r in rows if r.version is not None and r.type not in ("SCHEMA", "BASELINE")]
    applied = {version_key(r.version): r for r in versioned if r.success}
    by_key = {m.key: m for m in migrations}
    return MigrationStatus(
        database=database,
        history_exists=history is not None,
        applied=tuple(applied[k].version for k in sorted(applied)),
        pending=tuple(m.version for m in migrations if m.key not in applied),
        failed=tuple(r for r in rows if not r.success),
        changed=tuple(
            by_key[k].version
            for k in sorted(applied)
            if k in by_key and applied[k].checksum is not None and applied[k].checksum != by_key[k].checksum
        ),
        unknown=tuple(applied[k].version for k in sorted(applied) if migrations and k not in by_key),
    )


def status_findings(status: MigrationStatus, *, require_applied: bool) -> list[DbFinding]:
    """Failed or changed migrations always; with `require_applied` (the gate), also nothing applied or pending."""
    findings = [
        DbFinding(
            status.database,
            "failed-migration",
            f"migration {row.version or '-'} ({row.script}) failed at {row.installed_on:%Y-%m-%d %H:%M}; fix it with "
            "a new migration and remove the failed row (flyway repair), then run `pulumi up` again",
        )
        for row in status.failed
    ]
    findings += [
        DbFinding(
            status.database,
            "changed-migration",
            f"migration {version} was changed after it was applied (checksum differs): migrations are forward-only, "
            "write a new one instead",
        )
        for version in status.changed
    ]
    if require_applied:
        if not status.history_exists:
            findings.append(
                DbFinding(
                    status.database,
                    "not-migrated",
                    f"has no {APPLICATION_SCHEMA}.{HISTORY_TABLE}: its baseline migrations have not run",
                )
            )
        elif not status.applied:
            findings.append(DbFinding(status.database, "not-migrated", "no migration has been applied successfully"))
        if status.pending:
            findings.append(
                DbFinding(status.database, "pending-migration", f"not applied yet: {', '.join(status.pending)}")
            )
    return findings


def flyway_problem() -> DbFinding | None:
    """Flyway must be on PATH where `pulumi up` runs: the migrations are local commands."""
    if shutil.which("flyway") is None:
        return DbFinding(
            "flyway",
            "flyway-missing",
            "flyway is not installed on this machine (not on PATH): `pulumi up` runs `flyway validate` and "
            "`flyway migrate` for every database from here; install the Flyway command line (Redgate's "
            "distribution, with its AWS S3 support) on the machine that deploys, then run preflight again",
        )
    return None


def history_for(database: str, credentials: RoleCredentials) -> tuple[list[HistoryRow] | None, list[DbFinding]]:
    """Read the schema history as the migration role over the direct endpoint."""
    name = f"{database}_migration"
    try:
        conn = credentials.connect("bankctl db migrations")
    except psycopg.Error as exc:
        return None, [
            DbFinding(
                name,
                "unreachable",
                f"cannot connect to {database} at {credentials.host}:{credentials.port}: "
                f"{redact(str(exc), credentials.password)}",
            )
        ]
    try:
        with conn:
            return read_history(conn), []
    except psycopg.errors.InsufficientPrivilege:
        return None, [
            DbFinding(name, "history-unreadable", f"cannot read {APPLICATION_SCHEMA}.{HISTORY_TABLE}: it owns it")
        ]
    except psycopg.Error as exc:
        return None, [DbFinding(name, "history-unreadable", redact(str(exc), credentials.password))]


@dataclass(frozen=True)
class Preflight:
    database: str
    status: MigrationStatus | None  # None when the history could not be read
    findings: tuple[DbFinding, ...]


def preflight_database(database: str, credentials: RoleCredentials | None, migrations: list[SqlMigration]) -> Preflight:
    """Reachable as the migration role, schema history readable, and the pinned set's pending vs applied."""
    if credentials is None:
        return Preflight(database, None, ())
    role = next(r for r in roles(database) if r.kind == "migration")
    findings = endpoint_findings(role, credentials)
    history, problems = history_for(database, credentials)
    findings += problems
    if problems:
        return Preflight(database, None, tuple(findings))
    status = migration_status(database, history, migrations)
    findings += status_findings(status, require_applied=False)
    return Preflight(database, status, tuple(findings))


def applied_findings(database: str, credentials: RoleCredentials) -> list[DbFinding]:
    """The gate's question: the history is readable as the migration role, something was applied, nothing failed."""
    history, problems = history_for(database, credentials)
    if problems:
        return problems
    return status_findings(migration_status(database, history, []), require_applied=True)


# --- the foundation gate's checks (gates/phase_checks.py) ----------------------------------------------------


def has_pooler(platform) -> bool:
    """Neon gives every stack but local a PgBouncer endpoint; local's PostgreSQL has none (DESIGN G10)."""
    return platform.config.local is None


def privileges_gate_check(context) -> list:
    """`bankctl db verify` inside the foundation gate: every database's privilege model holds."""
    from gates.phase_checks import Finding
    from model.database_privileges import databases

    secrets_client = context.client("secretsmanager")
    found = []
    for database in databases():
        credentials, problems = load_role_credentials(secrets_client, context.platform.config.environment, database)
        found += problems + verify_database(database, credentials, pooler=has_pooler(context.platform))
    return [Finding(f.subject, f"{f.code}: {f.problem}") for f in found]


def migrations_gate_check(context) -> list:
    """Every pinned database's migrations are applied: history readable as the migration role, none failed."""
    from gates.phase_checks import Finding

    secrets_client = context.client("secretsmanager")
    found = []
    for database in sorted(context.platform.migrations):
        credentials, problems = load_role_credentials(
            secrets_client, context.platform.config.environment, database, kinds=("migration",)
        )
        found += problems
        if "migration" in credentials:
            found += applied_findings(database, credentials["migration"])
    return [Finding(f.subject, f"{f.code}: {f.problem}") for f in found]
