"""One database's schema migrations: Flyway, run by the engine as a pulumi-command `local.Command` (DESIGN §3).

Deployment sequence, step 0.2: "After MOD-103 completes, run the baseline schema migrations for each database
before application modules start"; "Re-deployment": "If a module update includes a schema migration, Flyway
applies it before the module deploys. Migrations are always forward-only."

- What runs is release data: the database's migration pin (repository, SHA, and the prefix in the stack's
  artifacts bucket where that build published its `db/migrations`). The pin is the command's only trigger, so
  a new pin re-runs it; the command, the endpoint and the role do not change between deploys.
- `flyway validate` first, ignoring only pending migrations (the ones this run applies): an applied migration
  whose file changed, or a failed one, stops the deploy before anything is applied. Then `flyway migrate`, which
  validates again (validate-on-migrate) and applies what is pending.
- Against the database's direct endpoint (transaction pooling breaks Flyway's session lock), as the migration
  role, which owns schema `app`; Flyway may not create the schema itself (MOD-103 creates it, with its owner).
- Credentials only through the environment, the password only as a Pulumi secret: the command string holds no
  secret and no path (flyway is found on PATH where `pulumi up` runs; `bankctl db preflight` checks it is).
- Forward-only: `clean` is disabled and nothing runs on delete; removing the component never touches the data.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pulumi
import pulumi_command as command

from model.database_privileges import APPLICATION_SCHEMA

# Pending migrations are what `migrate` is about to apply, so `validate` must not fail on them (its default
# ignores only future ones); anything else it reports — a changed, missing or failed migration — stops here.
FLYWAY_COMMAND = "flyway -ignoreMigrationPatterns='*:pending' validate && flyway migrate"


def jdbc_url(host: str, port: int | str, database: str, sslmode: str) -> str:
    return f"jdbc:postgresql://{host}:{port}/{database}?sslmode={sslmode}"


class FlywayMigration(pulumi.ComponentResource):
    def __init__(
        self,
        name: str,
        *,
        database: str,
        host: pulumi.Input[str],
        port: pulumi.Input[int],
        sslmode: str,
        user: pulumi.Input[str],
        password: pulumi.Input[str],
        bucket: pulumi.Input[str],
        pin: Mapping[str, str],
        environment: Mapping[str, pulumi.Input[str]] | None = None,
        opts: pulumi.ResourceOptions | None = None,
    ):
        """`pin` is the release manifest's migration pin (repository, sha, location); `bucket` the stack's artifacts
        bucket; `environment` what else the command needs (the AWS region for Flyway's S3 reads), never a
        credential: AWS credentials come from the engine's own environment, as for the phase gates."""
        super().__init__("bank:components:FlywayMigration", name, None, opts)
        self.database = database
        flyway_env: dict[str, Any] = {
            **(environment or {}),
            "FLYWAY_URL": pulumi.Output.all(host, port).apply(lambda hp: jdbc_url(hp[0], hp[1], database, sslmode)),
            "FLYWAY_USER": user,
            "FLYWAY_PASSWORD": pulumi.Output.secret(password),
            "FLYWAY_LOCATIONS": pulumi.Output.concat("s3:", bucket, "/", pin["location"]),
            # Flyway's schema history table lives in the first schema listed: app.flyway_schema_history.
            "FLYWAY_SCHEMAS": APPLICATION_SCHEMA,
            "FLYWAY_CREATE_SCHEMAS": "false",
            "FLYWAY_CLEAN_DISABLED": "true",
            "FLYWAY_VALIDATE_ON_MIGRATE": "true",
        }
        self.command = command.local.Command(
            f"{name}-flyway",
            create=FLYWAY_COMMAND,
            environment=flyway_env,
            triggers=[dict(pin)],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"database": database, "sha": pin["sha"], "stdout": self.command.stdout})
