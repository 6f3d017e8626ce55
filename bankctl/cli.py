"""bankctl — plan, gate and config commands for the Totara Bank platform.

Exit codes CI can rely on: 0 success, 1 a check failed, 2 bad input (config,
catalogue or release manifest) or bad usage.
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.table import Table

from bankctl.affected_command import affected, targets
from bankctl.artifacts_command import artifacts_app
from bankctl.db_command import db_app
from bankctl.release_command import health_check, release_app
from bankctl.rollback_command import rollback
from bankctl.secrets_command import secrets_app
from bankctl.terminal import PROJECT_DIR, err, fail, out, platform_or_exit
from model.errors import ConfigurationError
from model.phases import PHASE_KEYS

app = typer.Typer(
    help="Plan, gate and inspect the Totara Bank platform deployment.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
gate_app = typer.Typer(help="Phase gates: the checks that run between phases.", no_args_is_help=True)
config_app = typer.Typer(help="Stack configuration.", no_args_is_help=True)
app.add_typer(gate_app, name="gate")
app.add_typer(config_app, name="config")
app.add_typer(secrets_app, name="secrets")
app.add_typer(db_app, name="db")
app.add_typer(release_app, name="release")
app.command("health-check")(health_check)
app.add_typer(artifacts_app, name="artifacts")
app.command("affected")(affected)
app.command("targets")(targets)
app.command("rollback")(rollback)


@app.command()
def plan(
    stack: Annotated[str, typer.Argument(help="the stack to plan: local, dev, uat or prod")],
    out_file: Annotated[
        Path | None, typer.Option("--out", help="write the plan (stack export v3 + bank section) here")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the phase summary as JSON instead of a table")] = False,
    by_wave: Annotated[bool, typer.Option("--waves", help="also list each phase's modules by deployment wave")] = False,
) -> None:
    """Run the real program for STACK under Pulumi's mock runtime — no CLI, no credentials —
    and write what `pulumi up` would register, in `pulumi stack export` format."""
    import pulumi

    from bankctl.plan_command import critical_path_summary, phase_summary, plan_stack

    started = time.perf_counter()
    try:
        result = plan_stack(stack, PROJECT_DIR)
    except (pulumi.RunError, ConfigurationError) as exc:
        fail(f"bankctl plan {stack}: invalid input; nothing was planned.\n{exc}")
        return
    if out_file is not None:
        out_file.parent.mkdir(parents=True, exist_ok=True)
        out_file.write_text(result.text, encoding="utf-8")
    rows = phase_summary(result)
    path = critical_path_summary(result)
    if as_json:
        out.print_json(json.dumps({"phases": rows, "criticalPath": path}))
        return
    resources = result.document["deployment"]["resources"]
    table = Table(
        title=f"Offline plan of {stack}: {len(result.platform.enabled_modules())} of {len(result.platform.modules)} "
        f"modules, {len(resources)} resources",
        caption="Waves: the deployment waves (1 = first) its modules start in; the gate closes the phase.",
    )
    for column, justify in (
        ("Phase", "left"),
        ("Waits for", "left"),
        ("Modules", "right"),
        ("Off", "right"),
        ("Resources", "right"),
        ("Waves", "left"),
        ("Gate closes", "right"),
    ):
        table.add_column(column, justify=justify)
    for row in rows:
        table.add_row(
            row["phase"],
            row["after"],
            str(row["modules"]),
            str(row["disabled"] or ""),
            str(row["resources"]),
            row["waves"],
            f"wave {row['gateWave']}",
        )
    out.print(table)
    if by_wave:
        for row in rows:
            out.print(f"{row['phase']}:", highlight=False)
            for wave, slugs in row["modulesByWave"].items():
                out.print(f"  wave {wave}: {', '.join(slugs)}", highlight=False, soft_wrap=True)
    out.print(f"Critical path, {path['waves']} waves: {' → '.join(path['path'])}", highlight=False, soft_wrap=True)
    off = [m for m in result.platform.modules if not m.enabled]
    for m in off:
        out.print(f"  off: {m.spec.id} {m.spec.slug} — {m.disabled_because}", highlight=False, soft_wrap=True)
    if result.stood_in:
        out.print(
            f"Credentials not set in Pulumi.{stack}.yaml yet, planned with a secret stand-in: "
            f"{', '.join(result.stood_in)} (set each with `pulumi config set --secret <key>` before `pulumi up`)",
            highlight=False,
            soft_wrap=True,
        )
    where = f"; written to {out_file}" if out_file else ""
    out.print(f"Planned in {time.perf_counter() - started:.2f} s{where}.", highlight=False)


@app.command()
def tenants(
    stack: Annotated[str, typer.Argument(help="the stack whose tenants to show")],
    as_json: Annotated[bool, typer.Option("--json", help="print the activation matrix as JSON")] = False,
) -> None:
    """Each client institution STACK serves, and the modules active for it (the module activation
    matrix that the runtime reads; DESIGN G13)."""
    platform = platform_or_exit(stack)
    slugs = {m.spec.id: m.spec.slug for m in platform.modules}
    matrix = platform.tenant_activation()
    if as_json:
        from bankctl.plan_export import tenant_entries

        rows = tenant_entries(platform)
        out.print_json(json.dumps(rows))
        return
    deployed = {m.spec.id for m in platform.enabled_modules()}
    table = Table(title=f"Tenants of {stack}: {len(deployed)} modules deployed")
    for column in ("tenant", "type", "jurisdictions", "active", "deployed but not active for it"):
        table.add_column(column)
    for tenant, active in matrix:
        inactive = sorted(slugs[m] for m in deployed - set(active))
        table.add_row(
            f"{tenant.id}\n{tenant.name}",
            tenant.institution_type,
            ", ".join(tenant.jurisdictions),
            str(len(active)),
            ", ".join(inactive) or "—",
        )
    out.print(table)


@gate_app.command("run")
def gate_run(
    phase: Annotated[str, typer.Argument(help=f"phase key: {', '.join(PHASE_KEYS)}")],
    stack: Annotated[str, typer.Option("--stack", help="the stack being deployed")],
) -> None:
    """Check that PHASE is complete in STACK's AWS account; exit 1 if not. Run by the PhaseGate. When every
    check passes, each module of the phase gets its release recorded as last known-good
    (/bank/{env}/{slug}/last-known-good), which `bankctl rollback` restores."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    from gates.account import account_problem
    from gates.last_known_good import record_last_known_good
    from gates.phase_checks import CHECKS, GateContext

    if phase not in PHASE_KEYS:
        fail(f"unknown phase `{phase}`; expected one of {', '.join(PHASE_KEYS)}")
    platform = platform_or_exit(stack)
    session = boto3.Session(region_name=platform.config.region)
    context = GateContext(platform=platform, phase=phase, session=session)
    title = platform.catalogue.phase(phase).title
    failed = 0
    try:
        wrong_account = account_problem(platform, session.client("sts"))
        if wrong_account:
            err.print(f"gate {phase} cannot run: {wrong_account}", highlight=False)
            raise typer.Exit(1)
        for name, check in CHECKS[phase]:
            findings = check(context)
            if findings:
                failed += 1
                err.print(f"{title} gate: {name}: {len(findings)} problem(s)", highlight=False)
                for f in findings:
                    err.print(f"  {f.subject}: {f.problem}", highlight=False)
            else:
                out.print(f"{title} gate: {name}: passed", highlight=False)
    except (BotoCoreError, ClientError) as exc:
        err.print(f"gate {phase} cannot run: AWS did not answer as expected: {exc}", highlight=False)
        raise typer.Exit(1) from None
    if failed:
        # Nothing is recorded: the last known-good stays the release that last passed (DESIGN §3).
        err.print(f"{title} gate FAILED in {stack}: {failed} of {len(CHECKS[phase])} check(s)", highlight=False)
        raise typer.Exit(1)
    out.print(f"{title} gate passed in {stack}: {len(CHECKS[phase])} check(s)", highlight=False)
    try:
        written = record_last_known_good(platform, phase, session.client("ssm"), PROJECT_DIR)
    except (BotoCoreError, ClientError) as exc:
        # Without the record `bankctl rollback` would restore an older release than the one that just passed.
        err.print(f"{title} gate passed, but recording the last known-good releases failed: {exc}", highlight=False)
        raise typer.Exit(1) from None
    out.print(f"Recorded the last known-good release of {len(written)} module(s)", highlight=False)


@config_app.command("docs")
def config_docs() -> None:
    """Every `bank:` key a stack file may set: type, default and what it does."""
    from model.stack_config import config_fields

    table = Table(title="bank: stack config keys")
    for column in ("key", "type", "default", "description"):
        table.add_column(column)
    for key, field, section in config_fields():
        if section is None:
            default = "required" if field.is_required() else repr(field.get_default(call_default_factory=True))
            table.add_row(key, str(field.annotation).replace("typing.", ""), default, field.description or "")
    out.print(table)


@config_app.command("check")
def config_check(stack: Annotated[str, typer.Argument(help="the stack whose inputs to validate")]) -> None:
    """Validate a stack's config, the catalogue and its release manifest; list every problem."""
    from model.platform import stack_credentials_to_set

    platform = platform_or_exit(stack)
    out.print(
        f"{stack}: valid — {len(platform.enabled_modules())} of {len(platform.modules)} modules enabled",
        highlight=False,
    )
    for key in stack_credentials_to_set(PROJECT_DIR, stack):
        out.print(f"  to set before the first `pulumi up`: `pulumi config set --secret {key}`", highlight=False)


def main() -> None:
    if str(PROJECT_DIR) not in sys.path:
        sys.path.insert(0, str(PROJECT_DIR))
    app()
