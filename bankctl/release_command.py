"""`bankctl health-check` and `bankctl release start`: the two steps between a service module's new published version
and its traffic (components/blue_green.py runs both from `pulumi up`, as pulumi-command steps).

- `health-check` invokes exactly that version and requires the health answer (gates/health_check.py); until it
  passes, the `live` alias does not move.
- `release start` (prod) hands the alias to CodeDeploy, which shifts traffic as a canary and rolls back by itself
  when the module's alarms fire (gates/canary_release.py).

Both check first that the credentials are for the stack's account, as the gate does.
Exit codes as for the rest of bankctl: 0 success, 1 the check or the release failed, 2 bad input.
"""

from __future__ import annotations

from typing import Annotated

import typer

from bankctl.terminal import err, fail, out, platform_or_exit

release_app = typer.Typer(help="Releases: shift a module's live alias to a new version.", no_args_is_help=True)


def _session(platform):
    """A boto3 session in the stack's region whose credentials are for the stack's account (exit 1 if not)."""
    import boto3

    from gates.account import account_problem

    session = boto3.Session(region_name=platform.config.region)
    wrong = account_problem(platform, session.client("sts"))
    if wrong:
        fail(f"refused: {wrong}", 1)
    return session


def health_check(
    function: Annotated[str, typer.Option("--function", help="the function's name")],
    qualifier: Annotated[str, typer.Option("--qualifier", help="the published version to check, e.g. 7")],
    stack: Annotated[str, typer.Option("--stack", help="the stack being deployed")],
) -> None:
    """Invoke FUNCTION at version QUALIFIER with the health payload and require its healthy answer; exit 1 if it
    does not pass. Run by each service module before its live alias moves."""
    from botocore.exceptions import BotoCoreError, ClientError

    from gates.health_check import LAMBDA_CLIENT_CONFIG, HealthCheckFailed, check_version_health

    platform = platform_or_exit(stack)
    try:
        client = _session(platform).client("lambda", config=LAMBDA_CLIENT_CONFIG)
        check_version_health(client, function, qualifier, report=lambda line: out.print(line, highlight=False))
    except HealthCheckFailed as exc:
        fail(str(exc), 1)
    except (BotoCoreError, ClientError) as exc:
        fail(f"health check of {function}:{qualifier} cannot run: AWS did not answer as expected: {exc}", 1)


@release_app.command("start")
def release_start(
    module: Annotated[str, typer.Option("--module", help="the module's slug")],
    function: Annotated[str, typer.Option("--function", help="the module's function name")],
    version: Annotated[str, typer.Option("--version", help="the published version to make live, e.g. 7")],
    stack: Annotated[str, typer.Option("--stack", help="the stack being deployed")],
    poll_seconds: Annotated[float, typer.Option("--poll-seconds", min=1, help="how often to ask CodeDeploy")] = 15,
) -> None:
    """Shift MODULE's live alias to VERSION through its CodeDeploy deployment group and wait; exit 1 if CodeDeploy
    fails, stops or rolls the deployment back (the message says which version serves traffic)."""
    from botocore.exceptions import BotoCoreError, ClientError

    from gates.canary_release import ReleaseFailed, release_version

    platform = platform_or_exit(stack)
    spec = platform.catalogue.by_slug().get(module)
    if spec is None or spec.kind == "foundation":
        fail(f"`{module}` is not a service module of the catalogue; releases shift service modules only")
    if not platform.config.release.canary:
        fail(f"stack {stack} releases without CodeDeploy (bank:release.canaryPercent is not set); nothing to start")
    session = _session(platform)
    try:
        release_version(
            session.client("codedeploy"),
            session.client("lambda"),
            environment=platform.config.environment,
            slug=module,
            function=function,
            version=version,
            poll_seconds=poll_seconds,
            report=lambda line: out.print(line, highlight=False),
        )
    except ReleaseFailed as exc:
        err.print(str(exc), markup=False, highlight=False)
        raise typer.Exit(1) from None
    except (BotoCoreError, ClientError) as exc:
        fail(f"release of {module} version {version} cannot run: AWS did not answer as expected: {exc}", 1)
