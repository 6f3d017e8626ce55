"""`bankctl db`: the eight databases at deploy time — prove the privilege model, check migrations before a deploy.

Both commands read each role's credentials from its Secrets Manager secret in the stack's account (MOD-103
writes them; `/bank/{env}/{domain}/db-{kind}`), with the AWS credentials of whoever runs them, and never print
one. Exit codes: 0 all good, 1 a finding, 2 bad input (stack files, an unknown database) or AWS unreachable.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bankctl.terminal import err, fail, out, platform_or_exit

db_app = typer.Typer(
    help="The databases: prove the privilege model (verify) and check the migrations before a deploy (preflight).",
    no_args_is_help=True,
)

StackArgument = Annotated[str, typer.Argument(help="the stack: local, dev, uat or prod")]
DatabaseOption = Annotated[
    list[str] | None,
    typer.Option("--database", "-d", help="only this database (repeatable), e.g. bank_core; default: all"),
]
JsonOption = Annotated[bool, typer.Option("--json", help="print the result as JSON")]


def _selected(requested: list[str] | None, available: list[str], what: str) -> list[str]:
    if not requested:
        return available
    unknown = [d for d in requested if d not in available]
    if unknown:
        fail(f"unknown {what}: {', '.join(unknown)}; expected one of {', '.join(available)}")
    return [d for d in available if d in requested]


def _session(platform):
    """A boto3 session in the stack's region, refused unless its credentials are for the stack's account."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from gates.account import account_problem

    session = boto3.Session(region_name=platform.config.region)
    try:
        wrong_account = account_problem(platform, session.client("sts"))
    except (BotoCoreError, ClientError) as exc:
        err.print(f"cannot reach AWS: {exc}", highlight=False)
        raise typer.Exit(2) from None
    if wrong_account:
        err.print(wrong_account, highlight=False)
        raise typer.Exit(2)
    return session


def _print_findings(findings, title: str) -> None:
    table = Table(title=title)
    for column in ("subject", "finding", "what is wrong"):
        table.add_column(column)
    for f in findings:
        table.add_row(f.subject, f.code, f.problem)
    out.print(table)


@db_app.command("verify")
def verify(stack: StackArgument, database: DatabaseOption = None, as_json: JsonOption = False) -> None:
    """Prove each database's privilege model for real: connecting as each role, the reporting role cannot
    write, the service role cannot create or alter a table, the migration role can; application roles use the
    pooled endpoint. Creates and drops a probe table in schema `app`; every other attempt is rolled back."""
    from botocore.exceptions import BotoCoreError, ClientError

    from gates.database_checks import has_pooler, load_role_credentials, verify_database
    from model.database_privileges import databases

    platform = platform_or_exit(stack)
    selected = _selected(database, list(databases()), "database")
    session = _session(platform)
    secrets_client = session.client("secretsmanager")
    results = {}
    try:
        for name in selected:
            credentials, problems = load_role_credentials(secrets_client, platform.config.environment, name)
            results[name] = problems + verify_database(name, credentials, pooler=has_pooler(platform))
    except (BotoCoreError, ClientError) as exc:
        err.print(f"cannot read the role secrets: {exc}", highlight=False)
        raise typer.Exit(2) from None
    findings = [f for name in selected for f in results[name]]
    if as_json:
        report = {
            "stack": stack,
            "databases": {name: not results[name] for name in selected},
            "findings": [
                {"database": name, "subject": f.subject, "code": f.code, "problem": f.problem}
                for name in selected
                for f in results[name]
            ],
        }
        out.print_json(json.dumps(report))
    else:
        for name in selected:
            if results[name]:
                _print_findings(results[name], f"{name}: {len(results[name])} finding(s)")
            else:
                out.print(f"{name}: the privilege model holds", highlight=False)
    if findings:
        raise typer.Exit(1)


@db_app.command("preflight")
def preflight(
    stack: StackArgument,
    database: DatabaseOption = None,
    from_dir: Annotated[
        Path | None,
        typer.Option(
            "--from",
            help="compare with the migrations in this directory (one --database) instead of the pinned set in S3",
        ),
    ] = None,
    as_json: JsonOption = False,
) -> None:
    """Before `pulumi up`: flyway is installed here, each pinned database answers as its migration role, Flyway's
    schema history is readable, and which migrations of the pinned set are applied and which are pending."""
    from botocore.exceptions import BotoCoreError, ClientError

    from gates.database_checks import (
        directory_migrations,
        flyway_problem,
        load_role_credentials,
        preflight_database,
        s3_migrations,
    )

    platform = platform_or_exit(stack)
    selected = _selected(database, sorted(platform.migrations), "database (pinned in releases/" + stack + ".yaml)")
    if from_dir is not None and len(selected) != 1:
        fail("--from compares one database's migrations: give exactly one --database")
    if from_dir is not None and not from_dir.is_dir():
        fail(f"--from {from_dir}: not a directory")
    session = _session(platform)
    secrets_client = session.client("secretsmanager")
    missing_flyway = flyway_problem()
    checks = []
    try:
        for name in selected:
            if from_dir is not None:
                migrations, source = directory_migrations(from_dir), str(from_dir)
            else:
                bucket, prefix = pinned_location(platform, name)
                migrations, source = s3_migrations(session.client("s3"), bucket, prefix), f"s3:{bucket}/{prefix}"
            credentials, problems = load_role_credentials(
                secrets_client, platform.config.environment, name, kinds=("migration",)
            )
            result = preflight_database(name, credentials.get("migration"), migrations)
            checks.append((name, source, len(migrations), result, problems + list(result.findings)))
    except (BotoCoreError, ClientError) as exc:
        err.print(f"cannot read the pinned migrations or the role secrets: {exc}", highlight=False)
        raise typer.Exit(2) from None
    except ValueError as exc:  # a migration set Flyway would refuse (two files with one version)
        fail(str(exc))
    findings = ([missing_flyway] if missing_flyway else []) + [f for *_, found in checks for f in found]
    if as_json:
        report = {
            "stack": stack,
            "flyway": missing_flyway is None,
            "databases": [
                {"database": name, "source": source, "migrations": count}
                | (result.status.as_dict() if result.status else {})
                for name, source, count, result, _ in checks
            ],
            "findings": [{"subject": f.subject, "code": f.code, "problem": f.problem} for f in findings],
        }
        out.print_json(json.dumps(report, default=str))
    else:
        table = Table(title=f"Migrations of {stack}: applied and pending")
        for column in ("database", "migrations from", "applied", "pending", "failed"):
            table.add_column(column)
        for name, source, _, result, _ in checks:
            status = result.status
            if status is None:
                table.add_row(name, source, "?", "?", "?")
            else:
                history = ", ".join(status.applied) or ("none yet" if status.history_exists else "no history yet")
                table.add_row(name, source, history, ", ".join(status.pending) or "—", str(len(status.failed)))
        out.print(table)
        if findings:
            _print_findings(findings, f"Preflight of {stack}: {len(findings)} problem(s)")
        else:
            out.print(f"Preflight of {stack} passed: flyway found, every database ready", highlight=False)
    if findings:
        raise typer.Exit(1)


def pinned_location(platform, database: str) -> tuple[str, str]:
    """Where the pinned build published its db/migrations: a prefix in the stack's artifacts bucket (MOD-104)."""
    from foundation.aws_bootstrap.storage import bucket_name

    pin = platform.migrations[database]
    return bucket_name(platform.config.environment, "artifacts", platform.config.aws_account_id), pin.location
