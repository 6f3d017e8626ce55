"""The privilege model of the eight databases (deployment sequence, step 0.2; DESIGN G4, G14).

"Per-database roles (read-write service role, read-only reporting role, migration role)": for each database,
three login roles whose grants make them what their names say —
- migration: owns the application schema and everything in it (Flyway runs as it, over the direct endpoint);
- service: reads and writes data (through the pooled endpoint), cannot create, alter or drop anything;
- reporting: reads every current and future table, writes nothing.
Every role the Neon API creates is a member of `neon_superuser` (it could read, write and create roles), so
these three are created with SQL (pulumi-postgresql) and proven at deploy time by `bankctl db verify`.
This module is the one statement of the model: the Pulumi footprint grants it and `db verify` checks it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from model.phases import DOMAINS

RoleKind = Literal["service", "reporting", "migration"]
ROLE_KINDS: tuple[RoleKind, ...] = ("service", "reporting", "migration")

# The schema the application's tables live in; Flyway's schema history table lives there too.
APPLICATION_SCHEMA = "app"


@dataclass(frozen=True)
class DatabaseRole:
    database: str  # e.g. bank_core
    kind: RoleKind

    @property
    def name(self) -> str:
        return f"{self.database}_{self.kind}"

    @property
    def owns_schema(self) -> bool:
        return self.kind == "migration"

    @property
    def table_privileges(self) -> tuple[str, ...]:
        """On every table of the schema, current and future (default privileges of the migration role)."""
        return {
            "migration": (),  # the owner needs no grant
            "service": ("SELECT", "INSERT", "UPDATE", "DELETE"),
            "reporting": ("SELECT",),
        }[self.kind]

    @property
    def sequence_privileges(self) -> tuple[str, ...]:
        return {"migration": (), "service": ("USAGE", "SELECT", "UPDATE"), "reporting": ("SELECT",)}[self.kind]

    @property
    def schema_privileges(self) -> tuple[str, ...]:
        """USAGE only for the non-owners: without CREATE they cannot add or alter objects."""
        return () if self.owns_schema else ("USAGE",)

    @property
    def uses_pooler(self) -> bool:
        """Application traffic goes through PgBouncer transaction pooling; migrations and role management
        connect directly (session features such as advisory locks do not survive transaction pooling)."""
        return self.kind != "migration"


def database_domain(database: str) -> str:
    """The system domain that owns a database (DESIGN G4: SD07 owns bank_reporting)."""
    return next(d.id for d in DOMAINS.values() if d.database == database)


def databases() -> tuple[str, ...]:
    return tuple(d.database for d in DOMAINS.values())


def roles(database: str) -> tuple[DatabaseRole, ...]:
    return tuple(DatabaseRole(database, kind) for kind in ROLE_KINDS)


def role_secret_name(environment: str, role: DatabaseRole) -> str:
    """Where MOD-103 stores a role's credentials: /bank/{env}/{domain}/db-{kind} (operations index, secret paths)."""
    return f"/bank/{environment}/{database_domain(role.database).lower()}/db-{role.kind}"
