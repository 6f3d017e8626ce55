"""`bankctl rollback MOD-… --stack S`: put one module back on its last known-good release (DESIGN G5, in place of
`npx sst rollback --filter`).

The deployment sequence, "Rollback": each module is independently rollback-able to its last-known-good deployment;
rollback "restores the Lambda code version and reverts SSM parameters to the previous values. It does not roll back
database migrations — if a migration is incompatible with the rolled-back code, a compensating migration must be
written." And: "For a Phase 0 module rollback (rare): coordinate with the engineering lead. Rolling back MOD-104 in
an environment with live application modules running against it requires a full maintenance window."

Here the release pin is the module's whole deployed state: rollback rewrites that one pin in releases/<stack>.yaml
(the one line, so the file keeps its comments and layout), shows the diff, and prints — or with --apply runs — the
targeted `pulumi up` from `bankctl targets`. The release comes from the module's last-known-good record, which a
passing phase gate wrote (gates/last_known_good.py), or from --to SHA. Commit the rewritten pin: the next full
`pulumi up` must not roll the module forward again.
"""

from __future__ import annotations

import difflib
import json
import re
import shlex
import shutil
import subprocess
from pathlib import Path
from typing import Annotated

import typer
import yaml

from bankctl.affected_command import module_targets, plan_resources, print_targets, resolve_modules
from bankctl.terminal import PROJECT_DIR, fail, out, platform_or_exit

PIN_FIELDS = ("sha", "artifact", "sha256")


def pin_line_pattern(module_id: str) -> re.Pattern[str]:
    """The one line of a module's pin in the manifest's layout: `  <module ID>: {sha: …, artifact: …}  # slug`."""
    return re.compile(
        rf"^(?P<indent>[ \t]+){re.escape(module_id)}:[ \t]*\{{[^{{}}\n]*\}}(?P<rest>[ \t]*(?:#[^\n]*)?)$", re.M
    )


def rewrite_pin(text: str, module_id: str, pin: dict[str, str]) -> str:
    """The manifest with only the module's pin line replaced. Raises ValueError when that line is not in the
    one-line form (then the file needs a person)."""
    pattern = pin_line_pattern(module_id)
    matches = pattern.findall(text)
    if len(matches) != 1:
        raise ValueError(
            f"{module_id}'s pin is not one `{module_id}: {{sha: …, artifact: …}}` line in the modules section"
        )
    body = ", ".join(f"{k}: {_flow_scalar(pin[k])}" for k in PIN_FIELDS if pin.get(k))
    return pattern.sub(lambda m: f"{m['indent']}{module_id}: {{{body}}}{m['rest']}", text, count=1)


def _flow_scalar(value: str) -> str:
    """The value as the manifest writes it (plain), quoted only where YAML would read it back as something else:
    an all-digit SHA is an integer to YAML."""
    try:
        plain = yaml.safe_load(f"[{value}]") == [value]
    except yaml.YAMLError:
        plain = False
    return value if plain else json.dumps(value)


def artifact_for_sha(artifact: str, pinned_sha: str, sha: str) -> str:
    """The pinned artifact key with the build's SHA replaced: keys name their build (…/<sha>.zip, releases/*.yaml)."""
    if pinned_sha not in artifact:
        raise ValueError(
            f"the pinned artifact `{artifact}` does not contain its SHA, so another build's key is unknown"
        )
    return artifact.replace(pinned_sha, sha)


def release_problems(text: str, stack: str, module_id: str, environment: str) -> list[str]:
    """The rewritten manifest validated as `pulumi up` will validate it: schema, and the pin's own rules."""
    from pydantic import ValidationError

    from model.errors import describe_validation_error
    from model.releases import ReleaseManifest, pin_problems

    try:
        manifest = ReleaseManifest.model_validate(yaml.safe_load(text))
    except (yaml.YAMLError, ValidationError) as exc:
        return describe_validation_error(exc) if isinstance(exc, ValidationError) else [str(exc)]
    if manifest.stack != stack:
        return [f"the manifest is for stack {manifest.stack}, not {stack}"]
    return pin_problems(module_id, manifest.modules[module_id], environment)


def migration_note(module, stack: str) -> str:
    database = module.spec.database
    if database is None:
        return f"Database migrations are never rolled back; {module.spec.slug} uses no database."
    return (
        f"Database migrations are never rolled back: {database} keeps its current schema. If {module.spec.slug} at "
        f"this release cannot run against it, write a compensating forward migration in {database}'s db/migrations "
        f"and pin that build under migrations.{database} in releases/{stack}.yaml (it runs before the module)."
    )


def _last_known_good(platform, module) -> dict:
    from bankctl.artifacts_command import aws_or_exit, stack_session
    from gates.last_known_good import last_known_good_name, read_last_known_good

    what = f"bankctl rollback {module.spec.id}"
    session = aws_or_exit(lambda: stack_session(platform), what)
    try:
        record = aws_or_exit(
            lambda: read_last_known_good(session.client("ssm"), platform.config.environment, module.spec.slug), what
        )
    except ValueError:
        fail(
            f"{last_known_good_name(platform.config.environment, module.spec.slug)} is not a last-known-good record", 1
        )
    if record is None:
        fail(
            f"no last-known-good record for {module.spec.id} {module.spec.slug} in {platform.stack} "
            f"({last_known_good_name(platform.config.environment, module.spec.slug)}): no phase gate has passed with "
            "it yet. Name a build with --to SHA.",
            1,
        )
    return record


def _foundation_rollback(platform, module, to_sha: str | None, plan_file: Path | None, apply: bool) -> None:
    """A foundation module ships with this repository: rolling it back is deploying this program as it was."""
    sha = to_sha or _last_known_good(platform, module).get("sha")
    if not sha:
        fail(f"the last-known-good record of {module.spec.slug} names no commit of this repository; use --to SHA", 1)
    if not re.fullmatch(r"[0-9a-f]{7,40}", sha):
        fail(f"`{sha}` is not a commit of this repository (7 to 40 lower-case hex characters)")
    found = module_targets(
        platform.stack, plan_resources(platform.stack, plan_file), [(module.spec.id, module.spec.slug)]
    )
    checkout = f"../bank-{sha[:12]}"
    out.print(
        f"{module.spec.id} {module.spec.slug} ships with this repository (no release pin): rolling it back deploys "
        f"this program as it was at {sha}. In the maintenance window, from a checkout of that commit:",
        highlight=False,
        markup=False,
    )
    out.print(f"  git worktree add --detach {checkout} {sha}", highlight=False, markup=False)
    out.print(f"  cd {checkout} && make setup && {found.command()}", highlight=False, markup=False)
    out.print(migration_note(module, platform.stack), highlight=False, markup=False)
    if apply:
        fail(
            "not applied: a foundation rollback runs the program of that commit, with its own virtualenv; run the "
            "commands above from its checkout",
            2,
        )


def rollback(
    module_key: Annotated[str, typer.Argument(metavar="MODULE", help="the module ID (MOD-…) or slug")],
    stack: Annotated[str, typer.Option("--stack", help="the stack to roll it back in")],
    to_sha: Annotated[
        str | None, typer.Option("--to", help="roll back to this build (git SHA) instead of the last known-good")
    ] = None,
    maintenance_window: Annotated[
        bool,
        typer.Option(
            "--maintenance-window",
            help="a Phase 0 module: the engineering lead has agreed and a full maintenance window is on",
        ),
    ] = False,
    apply: Annotated[bool, typer.Option("--apply", help="run the targeted `pulumi up` (needs the Pulumi CLI)")] = False,
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="read the target URNs from this plan or `pulumi stack export` file"),
    ] = None,
) -> None:
    """Restore MODULE's last known-good release in STACK: the release its phase gate last saw pass
    (/bank/{env}/{slug}/last-known-good), or the build --to names. Rewrites its pin in releases/STACK.yaml (that
    line only), shows the diff, and prints the targeted `pulumi up`; --apply runs it. The module's SSM parameters
    roll back with it: they are derived from the pin and the stack config in the module's own footprint, so the
    same targeted update rewrites them. Database migrations are never rolled back (a compensating forward
    migration is the fix). Phase 0 modules refuse without --maintenance-window (deployment sequence, Rollback)."""
    platform = platform_or_exit(stack)
    [(module_id, _)] = resolve_modules(platform, [module_key])
    module = platform.module(module_id)
    if module.spec.phase == "0":
        if not maintenance_window:
            fail(
                f"refused: {module_id} {module.spec.slug} is a Phase 0 module. The deployment sequence (Rollback): "
                "coordinate with the engineering lead; rolling back a Phase 0 module with live application modules "
                "running against it requires a full maintenance window. Once one is scheduled, re-run with "
                "--maintenance-window."
            )
        _foundation_rollback(platform, module, to_sha, plan_file, apply)
        return
    if apply and shutil.which("pulumi") is None:
        fail(
            "pulumi is not on PATH: --apply runs `pulumi up`; nothing was changed. Install the Pulumi CLI, or run "
            "without --apply and deploy the printed command where it is installed."
        )
    current = module.release.model_dump()
    if to_sha is not None:
        try:
            wanted = {"sha": to_sha, "artifact": artifact_for_sha(current["artifact"], current["sha"], to_sha)}
        except ValueError as exc:
            fail(f"bankctl rollback {module_id}: {exc}; edit the pin by hand")
            return
        source = f"--to {to_sha}"
    else:
        record = _last_known_good(platform, module)
        wanted = {k: record[k] for k in PIN_FIELDS if record.get(k)}
        source = f"last known-good (phase {record.get('phase')} gate passed {record.get('when')})"
    if {k: v for k, v in current.items() if v} == wanted:
        out.print(
            f"{module_id} {module.spec.slug} already runs {wanted['sha']} ({source}); nothing to roll back.",
            highlight=False,
            markup=False,
        )
        return
    path = PROJECT_DIR / "releases" / f"{stack}.yaml"
    before = path.read_text(encoding="utf-8")
    try:
        after = rewrite_pin(before, module_id, wanted)
    except ValueError as exc:
        fail(f"bankctl rollback {module_id}: releases/{stack}.yaml: {exc}; edit it by hand")
        return
    problems = release_problems(after, stack, module_id, platform.config.environment)
    if problems:
        fail(
            f"bankctl rollback {module_id}: the release {source} is not a valid pin; nothing was changed:\n  "
            + "\n  ".join(problems)
        )
    path.write_text(after, encoding="utf-8")
    out.print(
        f"Rolled {module_id} {module.spec.slug} back to {wanted['sha']} ({source}):", highlight=False, markup=False
    )
    diff = difflib.unified_diff(
        before.splitlines(keepends=True),
        after.splitlines(keepends=True),
        fromfile=f"a/releases/{stack}.yaml",
        tofile=f"b/releases/{stack}.yaml",
    )
    out.print("".join(diff), end="", highlight=False, markup=False)
    out.print(
        f"Its SSM parameters (/bank/{platform.config.environment}/{module.spec.slug}/…) roll back with it: they are "
        "derived from the pin and the stack config, and the targeted update rewrites them.",
        highlight=False,
        markup=False,
    )
    out.print(migration_note(module, stack), highlight=False, markup=False)
    found = module_targets(stack, plan_resources(stack, plan_file), [(module_id, module.spec.slug)])
    print_targets(found)
    if not apply:
        out.print(
            f"Commit releases/{stack}.yaml, then run the command above (or re-run with --apply).",
            highlight=False,
            markup=False,
        )
        return
    result = subprocess.run(shlex.split(found.command()), cwd=PROJECT_DIR)
    if result.returncode != 0:
        fail(f"pulumi up exited {result.returncode}; releases/{stack}.yaml keeps the rolled-back pin", 1)
    out.print(f"Rolled back {module_id} in {stack}; commit releases/{stack}.yaml.", highlight=False, markup=False)
