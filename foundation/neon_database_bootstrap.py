"""MOD-103 Neon database bootstrap (deployment sequence, step 0.2; DESIGN G4, G10, G14).

"Provisions the Neon project for this environment and creates all eight databases … Also configures per-database
roles (read-write service role, read-only reporting role, migration role) [and] PgBouncer connection pools."

- Neon, through the API (components/neon.py): the project (an Australian region, the Postgres version, history
  retention for point-in-time recovery), its default branch and one admin role, the branch's read-write compute
  with PgBouncer transaction pooling, and the eight databases of DESIGN G4, owned by the admin role.
- Every role the Neon API creates is a member of `neon_superuser` (DESIGN G14), so the three restricted roles per
  database, their grants and default privileges are SQL, through pulumi-postgresql connected to the database's
  direct endpoint as the admin role: each role and grant is a resource an auditor sees in the stack's diff. The
  model of what each role may do is model/database_privileges.py; `bankctl db verify` proves it at deploy time.
- Each role's password is a pulumi-random secret, stored by this module in its own Secrets Manager secret
  (`/bank/{env}/{domain}/db-{kind}`, the database's domain key), so MOD-103 never waits for MOD-045 (step 0.3
  runs beside it). Service and reporting credentials point at the pooled host, migration credentials at the
  direct host (transaction pooling breaks the session features Flyway uses).
- The admin role's login, for MOD-046's just-in-time access functions (step 0.4), in `/bank/{env}/sd07/db-admin`
  (SD07, the platform key): the role that created the restricted roles, so it may grant them to temporary ones.
- The local stack (DESIGN G10) creates the same databases, roles and grants in a local PostgreSQL; no Neon.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pulumi
import pulumi_aws as aws
import pulumi_postgresql as postgresql
import pulumi_random as random

from components.neon import NeonDatabase, NeonEndpoint, NeonProject
from foundation.modules import FoundationModule
from model.database_privileges import (
    APPLICATION_SCHEMA,
    DatabaseRole,
    RoleKind,
    database_domain,
    databases,
    role_secret_name,
    roles,
)

NEON_BRANCH = "main"
# The one role created through the Neon API (a neon_superuser member): it owns the databases and creates the
# restricted roles. Its own empty database is where Neon puts the project's first database.
NEON_ADMIN_ROLE = "bank_admin"
NEON_ADMIN_DATABASE = "bank_admin"
# The local PostgreSQL's administrator (DESIGN G10); its password, if the server wants one, comes from the
# developer's PGPASSWORD, read by the postgresql provider plugin, never from the stack.
LOCAL_ADMIN_ROLE = "postgres"
POSTGRES_PORT = 5432
# Explicit, so the plan never depends on PGCONNECT_TIMEOUT in someone's environment.
CONNECT_TIMEOUT_SECONDS = 30
# 48 letters and digits (~285 bits): no character that needs escaping in a connection URI.
PASSWORD_LENGTH = 48
# Secrets Manager waits this long before deleting a secret for good (the maximum).
SECRET_RECOVERY_DAYS = 30
# Every login role may connect to its own database, and to no other (PUBLIC loses CONNECT below).
DATABASE_PRIVILEGES = ("CONNECT",)
# The admin login for MOD-046's JIT access functions (catalogue/secrets.yaml `sd07/db-admin`): platform data, under
# the SD07 platform key, like the DBA session audit log it goes with.
ADMIN_SECRET_DOMAIN = "SD07"
ADMIN_SECRET_NAME = "db-admin"
# The local server's admin login for those functions (the local stack has no Neon `bank_admin`).
LOCAL_JIT_ADMIN_DATABASE = "postgres"


def admin_secret_name(environment: str) -> str:
    return f"/bank/{environment}/{ADMIN_SECRET_DOMAIN.lower()}/{ADMIN_SECRET_NAME}"


@dataclass
class DatabaseServer:
    """Where one database lives and how its roles and grants reach it."""

    database: pulumi.Output[str]  # the name, known once the database exists
    direct_host: pulumi.Input[str]
    pooled_host: pulumi.Input[str] | None  # None: no pooler (the local stack)
    port: pulumi.Input[int]
    sslmode: str
    admin_username: pulumi.Input[str]
    admin_password: pulumi.Input[str] | None
    superuser: bool


@dataclass
class AdminLogin:
    """The server's admin role as the JIT access functions connect with it (functions/jit_db_access/handler.py,
    `AdminConnection`): roles belong to the server, so one login, from its own database, serves every database."""

    host: pulumi.Input[str]  # the direct endpoint: role management never goes through PgBouncer
    port: pulumi.Input[int]
    database: pulumi.Input[str]
    username: pulumi.Input[str]
    password: pulumi.Input[str]


@dataclass
class DatabaseAccess:
    """One database's restricted roles as resources, for the modules that follow MOD-103."""

    provider: postgresql.Provider
    schema: postgresql.Schema
    roles: dict[RoleKind, postgresql.Role] = field(default_factory=dict)
    passwords: dict[RoleKind, random.RandomPassword] = field(default_factory=dict)
    secrets: dict[RoleKind, aws.secretsmanager.Secret] = field(default_factory=dict)


class NeonDatabaseBootstrap(FoundationModule):
    project: NeonProject | None = None
    endpoint: NeonEndpoint | None = None

    def _build_footprint(self) -> None:
        slug = self.deployment.spec.slug
        servers = self._local_servers(slug) if self.context.environment == "local" else self._neon_servers(slug)
        # MOD-104's per-domain keys (step 0.1): the only foundation module MOD-103 follows.
        domain_keys = self.context.foundation["aws-bootstrap"].events.domains
        self.databases: dict[str, DatabaseAccess] = {
            name: self._restricted_roles(slug, name, server, domain_keys[database_domain(name)].key)
            for name, server in servers.items()
        }
        self.admin_secret = self._store_admin_login(slug, self.admin_login, domain_keys[ADMIN_SECRET_DOMAIN].key)

    # --- where the databases live ------------------------------------------------------------------------------
    def _neon_servers(self, slug: str) -> dict[str, DatabaseServer]:
        # The stack's Neon API key (`pulumi config set --secret bank:neonApiKey`), a secret input of every Neon
        # resource and nowhere else.
        api_key = pulumi.Output.secret(self.inputs["neonApiKey"])
        environment = self.context.environment
        self.project = NeonProject(
            f"{slug}-project",
            api_key=api_key,
            name=f"bank-{environment}",
            region_id=self.inputs["neon.regionId"],
            pg_version=self.inputs["neon.pgVersion"],
            history_retention_seconds=self.inputs["neon.historyRetentionSeconds"],
            branch_name=NEON_BRANCH,
            # The branch holding the environment's data is a Neon protected branch where the stack says so (prod
            # must): it, its compute and the project cannot be deleted or reset (Neon docs, "Protected branches").
            branch_protected=self.inputs["neon.protectBranch"],
            admin_role_name=NEON_ADMIN_ROLE,
            admin_database_name=NEON_ADMIN_DATABASE,
            opts=self.stateful_options(),
        )
        self.endpoint = NeonEndpoint(
            f"{slug}-endpoint",
            api_key=api_key,
            project_id=self.project.projectId,
            branch_id=self.project.branchId,
            region_id=self.project.regionId,
            opts=self.child_options(),
        )
        self.admin_login = AdminLogin(
            host=self.endpoint.host,
            port=POSTGRES_PORT,
            database=NEON_ADMIN_DATABASE,
            username=self.project.adminRoleName,
            password=self.project.adminPassword,
        )
        servers = {}
        # One after another: Neon runs one operation per project at a time (others get 423 Locked), so chaining
        # costs nothing and spares eight creates from retrying against each other.
        previous: pulumi.Resource = self.endpoint
        for name in databases():
            database = NeonDatabase(
                f"{slug}-{name}",
                api_key=api_key,
                project_id=self.project.projectId,
                branch_id=self.project.branchId,
                name=name,
                owner_name=self.project.adminRoleName,
                opts=self.stateful_options(depends_on=[previous]),
            )
            previous = database
            servers[name] = DatabaseServer(
                database=database.name,
                direct_host=self.endpoint.host,
                pooled_host=self.endpoint.poolerHost,
                port=POSTGRES_PORT,
                sslmode="require",
                admin_username=self.project.adminRoleName,
                admin_password=self.project.adminPassword,
                superuser=False,
            )
        return servers

    def _local_servers(self, slug: str) -> dict[str, DatabaseServer]:
        host, port = self.inputs["local.postgresHost"], self.inputs["local.postgresPort"]
        server = postgresql.Provider(
            f"{slug}-local-postgresql",
            host=host,
            port=port,
            database="postgres",
            username=LOCAL_ADMIN_ROLE,
            sslmode="disable",  # loopback only (bank:local.postgresHost is localhost or 127.0.0.1)
            superuser=True,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            opts=self.child_options(),
        )
        # The local stack's `bank_admin`, for the JIT access functions (the stack holds no password of `postgres`).
        # A superuser: here `postgres` creates the restricted roles, and since PostgreSQL 16 only a superuser or a
        # role holding ADMIN OPTION on a role may grant it; the server is the developer's own, on loopback.
        admin_password = self._password(f"{slug}-local-admin-password")
        admin = postgresql.Role(
            f"{slug}-local-admin-role",
            name=NEON_ADMIN_ROLE,
            login=True,
            password=admin_password.result,
            superuser=True,
            opts=self.child_options(provider=server),
        )
        self.admin_login = AdminLogin(
            host=host, port=port, database=LOCAL_JIT_ADMIN_DATABASE, username=admin.name, password=admin_password.result
        )
        servers = {}
        for name in databases():
            database = postgresql.Database(
                f"{slug}-{name}", name=name, owner=LOCAL_ADMIN_ROLE, opts=self.stateful_options(provider=server)
            )
            servers[name] = DatabaseServer(
                database=database.name,
                direct_host=host,
                pooled_host=None,
                port=port,
                sslmode="disable",
                admin_username=LOCAL_ADMIN_ROLE,
                admin_password=None,
                superuser=True,
            )
        return servers

    # --- the three restricted roles of one database ------------------------------------------------------------
    def _restricted_roles(
        self, slug: str, name: str, server: DatabaseServer, domain_key: aws.kms.Key
    ) -> DatabaseAccess:
        provider = postgresql.Provider(
            f"{slug}-{name}-postgresql",
            # Role management connects directly, never through PgBouncer (step 0.2: pooling is for applications).
            host=server.direct_host,
            port=server.port,
            database=server.database,
            username=server.admin_username,
            password=server.admin_password,
            sslmode=server.sslmode,
            superuser=server.superuser,
            connect_timeout=CONNECT_TIMEOUT_SECONDS,
            opts=self.child_options(),
        )
        sql = self.child_options(provider=provider)
        # PUBLIC (every role) keeps no privilege on the database (CONNECT, TEMPORARY) nor on schema `public`
        # (USAGE; CREATE is gone since PostgreSQL 15, revoked here for older servers too): a role reaches only
        # what it is granted below.
        postgresql.Grant(
            f"{slug}-{name}-public-database",
            database=server.database,
            role="public",
            object_type="database",
            privileges=[],
            opts=sql,
        )
        postgresql.Grant(
            f"{slug}-{name}-public-schema",
            database=server.database,
            schema="public",
            role="public",
            object_type="schema",
            privileges=[],
            opts=sql,
        )
        access: dict[RoleKind, postgresql.Role] = {}
        passwords: dict[RoleKind, random.RandomPassword] = {}
        for role in roles(name):
            passwords[role.kind], access[role.kind] = self._login_role(slug, role, server, sql)
        # The migration role owns the application schema and so everything Flyway creates in it.
        schema = postgresql.Schema(
            f"{slug}-{name}-{APPLICATION_SCHEMA}-schema",
            name=APPLICATION_SCHEMA,
            database=server.database,
            owner=access["migration"].name,
            drop_cascade=False,  # never drop the tables with the schema
            opts=self.stateful_options(provider=provider),
        )
        for role in roles(name):
            if not role.owns_schema:
                self._grant(slug, role, server, schema, access, sql)
        secrets = {
            role.kind: self._store_credentials(slug, role, server, access[role.kind], passwords[role.kind], domain_key)
            for role in roles(name)
        }
        return DatabaseAccess(provider=provider, schema=schema, roles=access, passwords=passwords, secrets=secrets)

    def _password(self, name: str) -> random.RandomPassword:
        return random.RandomPassword(
            name,
            length=PASSWORD_LENGTH,
            special=False,
            min_lower=1,
            min_upper=1,
            min_numeric=1,
            opts=self.child_options(),
        )

    def _login_role(
        self, slug: str, role: DatabaseRole, server: DatabaseServer, sql: pulumi.ResourceOptions
    ) -> tuple[random.RandomPassword, postgresql.Role]:
        password = self._password(f"{slug}-{role.name}-password")
        created = postgresql.Role(
            f"{slug}-{role.name}-role",
            name=role.name,
            login=True,
            password=password.result,
            superuser=False,
            create_database=False,
            create_role=False,
            replication=False,
            bypass_row_level_security=False,
            opts=sql,
        )
        postgresql.Grant(
            f"{slug}-{role.name}-connect",
            database=server.database,
            role=created.name,
            object_type="database",
            privileges=list(DATABASE_PRIVILEGES),
            opts=sql,
        )
        return password, created

    def _grant(
        self,
        slug: str,
        role: DatabaseRole,
        server: DatabaseServer,
        schema: postgresql.Schema,
        access: dict[RoleKind, postgresql.Role],
        sql: pulumi.ResourceOptions,
    ) -> None:
        grantee = access[role.kind].name
        postgresql.Grant(
            f"{slug}-{role.name}-schema-usage",
            database=server.database,
            schema=schema.name,
            role=grantee,
            object_type="schema",
            privileges=list(role.schema_privileges),
            opts=sql,
        )
        for object_type, privileges in (("table", role.table_privileges), ("sequence", role.sequence_privileges)):
            # Every current object of the schema ...
            postgresql.Grant(
                f"{slug}-{role.name}-{object_type}s",
                database=server.database,
                schema=schema.name,
                role=grantee,
                object_type=object_type,
                privileges=list(privileges),
                opts=sql,
            )
            # ... and every future one the migration role (Flyway) creates.
            postgresql.DefaultPrivileges(
                f"{slug}-{role.name}-future-{object_type}s",
                database=server.database,
                schema=schema.name,
                owner=access["migration"].name,
                role=grantee,
                object_type=object_type,
                privileges=list(privileges),
                opts=sql,
            )

    def _store_credentials(
        self,
        slug: str,
        role: DatabaseRole,
        server: DatabaseServer,
        created: postgresql.Role,
        password: random.RandomPassword,
        domain_key: aws.kms.Key,
    ) -> aws.secretsmanager.Secret:
        pooled = role.uses_pooler and server.pooled_host is not None
        secret = aws.secretsmanager.Secret(
            f"{slug}-{role.name}-secret",
            name=role_secret_name(self.context.environment, role),
            description=f"{self.deployment.spec.name}: login of {role.name}, the {role.kind} role of {role.database}",
            kms_key_id=domain_key.arn,
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=self.deployment.spec.tags,
            opts=self.stateful_options(),
        )
        credentials = pulumi.Output.all(
            host=server.pooled_host if pooled else server.direct_host,
            port=server.port,
            database=server.database,
            username=created.name,
            password=password.result,
        ).apply(
            lambda values: json.dumps(
                {**values, "pooled": pooled, "sslmode": server.sslmode}, sort_keys=True, separators=(",", ":")
            )
        )
        aws.secretsmanager.SecretVersion(
            f"{slug}-{role.name}-secret-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(credentials),
            opts=self.child_options(),
        )
        return secret

    def _store_admin_login(self, slug: str, login: AdminLogin, key: aws.kms.Key) -> aws.secretsmanager.Secret:
        """The admin login as JSON (host, port, database, username, password: what `AdminConnection.from_secret`
        reads), its value only ever a Pulumi secret."""
        secret = aws.secretsmanager.Secret(
            f"{slug}-admin-secret",
            name=admin_secret_name(self.context.environment),
            description=f"{self.deployment.spec.name}: login of the admin role, for the JIT database access functions",
            kms_key_id=key.arn,
            recovery_window_in_days=SECRET_RECOVERY_DAYS,
            tags=self.deployment.spec.tags,
            opts=self.stateful_options(),
        )
        value = pulumi.Output.all(
            host=login.host, port=login.port, database=login.database, username=login.username, password=login.password
        ).apply(lambda values: json.dumps(values, sort_keys=True, separators=(",", ":")))
        aws.secretsmanager.SecretVersion(
            f"{slug}-admin-secret-value",
            secret_id=secret.id,
            secret_string=pulumi.Output.secret(value),
            opts=self.child_options(),
        )
        return secret
