"""`bankctl affected` and `bankctl targets`: which modules a change touches, and the `pulumi up --target` flags that
deploy exactly them — together they replace the document's `npx sst deploy --filter` (DESIGN G5).

`affected BASE HEAD` does not guess from file names. It materialises each ref's tree (`git archive`), runs that
tree's own offline plan in its own process (`python -m bankctl plan`, cwd in the tree: the code of the two refs
never shares an interpreter; both use this checkout's virtualenv), and compares the two plans resource by
resource, by URN. A module is affected when a resource under its component (by the parent chain) is added,
removed, or has different inputs or engine options (protect, retainOnDelete, deletedWith, ignoreChanges,
replaceOnChanges, customTimeouts, aliases, additionalSecretOutputs, provider), or when the provider it uses was
reconfigured. Dependencies alone do not count:
the engine diffs inputs and options, and a changed `depends_on` changes only the order. So a release pin change
shows as that module's record (and its phase gate's check triggers), and a Phase 0 change reaches exactly the
modules whose inputs take the changed output (deployment sequence, "Re-deployment": "Infrastructure changes in
Phase 0 modules propagate to downstream modules"). A changed secret value is invisible offline: plans never hold one.

`targets MOD-…` lists the module component's URN and every descendant's: Pulumi's `--target` on a component does
not include its children. When a resource outside the modules depends on theirs (their phase gate's check, the next
step's modules), it adds `--target-dependents` and names them.
"""

from __future__ import annotations

import io
import json
import os
import shlex
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, Any

import typer

from bankctl.terminal import PROJECT_DIR, fail, out, platform_or_exit

STACK_TYPE = "pulumi:pulumi:Stack"
PROVIDER_TYPE_PREFIX = "pulumi:providers:"
# The options the engine stores and acts on (pulumi/pulumi apitype ResourceV3); a change in one is a change.
COMPARED_OPTIONS = (
    "protect",
    "retainOnDelete",
    "deletedWith",
    "ignoreChanges",
    "replaceOnChanges",
    "customTimeouts",
    "aliases",
    "additionalSecretOutputs",
    "provider",
)
# aws.lambda_.Function inputs that are the code itself (pulumi-aws v7 lambda/function.py).
FUNCTION_CODE_INPUTS = frozenset({"code", "imageUri", "s3Bucket", "s3Key", "s3ObjectVersion", "sourceCodeHash"})
SHOWN_CHANGES = 4  # per module in the table; --json has them all


# --- comparing two plans -----------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ResourceChange:
    urn: str
    change: str  # added | removed | changed
    fields: tuple[str, ...]  # the inputs and options that differ (changed only)
    what: str  # for people: "record", "function code", "Bucket aws-bootstrap-artifacts-bucket"

    def describe(self) -> str:
        if self.change != "changed":
            return f"{self.what} ({self.change})"
        if self.what in ("record", "function code", "check triggers"):
            return self.what
        shown = ", ".join(self.fields[:3]) + (", …" if len(self.fields) > 3 else "")
        return f"{self.what}: {shown}"

    def as_json(self) -> dict[str, Any]:
        return {"urn": self.urn, "change": self.change, "fields": list(self.fields), "what": self.what}


@dataclass
class AffectedComponent:
    urn: str
    kind: str  # module | gate | other (a Flyway migration, a provider)
    name: str  # the module slug, the gate's name, or the component's name
    phase: str | None
    module_id: str | None = None
    changes: list[ResourceChange] = field(default_factory=list)

    def why(self) -> str:
        described = [c.describe() for c in self.changes]
        unique = list(dict.fromkeys(described))
        more = len(unique) - SHOWN_CHANGES
        return "; ".join(unique[:SHOWN_CHANGES]) + (f"; and {more} more" if more > 0 else "")

    def as_json(self) -> dict[str, Any]:
        entry: dict[str, Any] = {"name": self.name, "phase": self.phase, "why": self.why()}
        if self.kind == "module":
            entry = {"id": self.module_id, "slug": self.name, "phase": self.phase, "why": self.why()}
        elif self.kind == "other":
            entry["urn"] = self.urn
        entry["changes"] = [c.as_json() for c in self.changes]
        return entry


def _urn_name(urn: str) -> str:
    return urn.split("::", 3)[3]


def _short_type(type_token: str) -> str:
    return type_token.rsplit(":", 1)[-1]


def _what(resource: dict[str, Any], fields: tuple[str, ...], in_gate: bool) -> str:
    type_token = resource["type"]
    if type_token == "aws:lambda/function:Function":
        return "function code" if set(fields) & FUNCTION_CODE_INPUTS else f"function {_urn_name(resource['urn'])}"
    if type_token == "aws:ssm/parameter:Parameter" and str(resource.get("inputs", {}).get("name", "")).endswith(
        "/release"
    ):
        return "record"
    if in_gate and type_token == "command:local:Command" and fields == ("triggers",):
        return "check triggers"
    return f"{_short_type(type_token)} {_urn_name(resource['urn'])}"


def _differences(old: dict[str, Any], new: dict[str, Any]) -> tuple[str, ...]:
    old_inputs, new_inputs = old.get("inputs", {}), new.get("inputs", {})
    fields = [k for k in sorted(set(old_inputs) | set(new_inputs)) if old_inputs.get(k) != new_inputs.get(k)]
    fields += [o for o in COMPARED_OPTIONS if old.get(o) != new.get(o)]
    return tuple(fields)


def _top_level(resources: dict[str, dict[str, Any]], urn: str) -> str:
    """The component right under the stack that a resource belongs to (itself, if it is one)."""
    while True:
        parent = resources[urn].get("parent", "")
        if not parent or resources.get(parent, {}).get("type") == STACK_TYPE or parent not in resources:
            return urn
        urn = parent


def compare_plans(base: dict[str, Any], head: dict[str, Any]) -> list[AffectedComponent]:
    """Every top-level component with a changed resource, in deployment order: by phase, modules before the
    gate that closes the phase, then by module ID."""
    old = {r["urn"]: r for r in base["deployment"]["resources"] if r["type"] != STACK_TYPE}
    new = {r["urn"]: r for r in head["deployment"]["resources"] if r["type"] != STACK_TYPE}
    gates = {p["gate"]: p["key"] for doc in (base, head) for p in doc.get("bank", {}).get("phases", [])}
    modules = {m["urn"]: m for doc in (base, head) for m in doc.get("bank", {}).get("modules", []) if m["urn"]}
    reconfigured = {
        urn
        for urn, r in new.items()
        if r["type"].startswith(PROVIDER_TYPE_PREFIX) and urn in old and _differences(old[urn], r)
    }

    changes: dict[str, list[ResourceChange]] = {}

    def note(resources: dict[str, dict[str, Any]], urn: str, change: str, fields: tuple[str, ...]) -> None:
        owner = _top_level(resources, urn)
        what = _what(resources[urn], fields, in_gate=owner in gates)
        changes.setdefault(owner, []).append(ResourceChange(urn, change, fields, what))

    for urn in sorted(set(old) | set(new)):
        if urn not in old:
            note(new, urn, "added", ())
        elif urn not in new:
            note(old, urn, "removed", ())
        else:
            fields = _differences(old[urn], new[urn])
            provider = new[urn].get("provider", "").rsplit("::", 1)[0]
            if provider in reconfigured and "provider" not in fields:
                fields += ("provider configuration",)
            if fields:
                note(new, urn, "changed", fields)

    phase_order = [p["key"] for p in head.get("bank", {}).get("phases", [])]

    def component(urn: str) -> AffectedComponent:
        if urn in modules:
            m = modules[urn]
            return AffectedComponent(urn, "module", m["slug"], str(m["phase"]), m["id"], changes[urn])
        if urn in gates:
            return AffectedComponent(urn, "gate", _urn_name(urn), gates[urn], None, changes[urn])
        return AffectedComponent(urn, "other", _urn_name(urn), None, None, changes[urn])

    def order(c: AffectedComponent) -> tuple:
        phase = phase_order.index(c.phase) if c.phase in phase_order else len(phase_order)
        return (c.kind == "other", phase, c.kind == "gate", c.module_id or "", c.name)

    return sorted((component(u) for u in changes), key=order)


# --- materialising a ref and planning it -------------------------------------------------------------------------
class RefError(Exception):
    """A ref that does not name a commit, or whose tree could not be planned."""


def _git(repo: Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", *args], cwd=repo, capture_output=True, timeout=120)


def resolve_ref(repo: Path, ref: str) -> tuple[str, str]:
    """(commit, tree) of a ref."""
    commit = _git(repo, "rev-parse", "--verify", "--quiet", f"{ref}^{{commit}}")
    if commit.returncode != 0:
        raise RefError(f"`{ref}` is not a commit in {repo}")
    sha = commit.stdout.decode().strip()
    tree = _git(repo, "rev-parse", f"{sha}^{{tree}}").stdout.decode().strip()
    return sha, tree


def materialise(repo: Path, commit: str, into: Path) -> None:
    """The commit's tracked files, as `git archive COMMIT | tar -x` would write them."""
    archive = _git(repo, "archive", "--format=tar", commit)
    if archive.returncode != 0:
        raise RefError(f"git archive {commit[:12]} failed: {archive.stderr.decode().strip()}")
    with tarfile.open(fileobj=io.BytesIO(archive.stdout)) as tar:
        tar.extractall(into, filter="data")


# Plans by (tree, stack): a tree's plan depends on its content only (plans are deterministic), so a tree seen
# twice in one process is planned once.
_PLANS: dict[tuple[str, str], dict[str, Any]] = {}


def plan_trees(repo: Path, refs: list[tuple[str, str, str]], stack: str) -> dict[str, dict[str, Any]]:
    """The offline plan of each (ref, commit, tree), each in its own process, side by side."""
    wanted = {tree: (ref, commit) for ref, commit, tree in refs if (tree, stack) not in _PLANS}
    with tempfile.TemporaryDirectory(prefix="bankctl-affected-") as scratch:
        running = []
        # The tree's own code, not this checkout's: no PYTHONPATH, and `-m` puts the cwd first on sys.path.
        env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
        for tree, (ref, commit) in wanted.items():
            root = Path(scratch) / tree
            root.mkdir()
            materialise(repo, commit, root)
            plan_file, log_file = Path(scratch) / f"{tree}.json", Path(scratch) / f"{tree}.log"
            with log_file.open("wb") as log:
                process = subprocess.Popen(
                    [sys.executable, "-m", "bankctl", "plan", stack, "--out", str(plan_file), "--json"],
                    cwd=root,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=log,
                )
            running.append((tree, ref, commit, process, plan_file, log_file))
        problems = []
        for tree, ref, commit, process, plan_file, log_file in running:
            code = process.wait()
            if code != 0 or not plan_file.exists():
                tail = log_file.read_text(encoding="utf-8", errors="replace").strip().splitlines()[-12:]
                problems.append(f"the plan of {stack} at {ref} ({commit[:12]}) failed:\n  " + "\n  ".join(tail))
            else:
                _PLANS[(tree, stack)] = json.loads(plan_file.read_text(encoding="utf-8"))
        if problems:
            raise RefError("\n".join(problems))
    return {tree: _PLANS[(tree, stack)] for _, _, tree in refs}


# --- targets -----------------------------------------------------------------------------------------------------
@dataclass
class Targets:
    stack: str
    modules: list[tuple[str, str, str]]  # (id, slug, component URN)
    urns: list[str]  # each component and all its descendants
    dependents: dict[str, list[str]]  # outside component name → its resources that depend on the modules'

    def command(self) -> str:
        parts = ["pulumi", "up", "-s", self.stack]
        for urn in self.urns:
            parts += ["--target", urn]
        if self.dependents:
            parts.append("--target-dependents")
        return shlex.join(parts)

    def as_json(self) -> dict[str, Any]:
        return {
            "stack": self.stack,
            "modules": [{"id": i, "slug": s, "urn": u} for i, s, u in self.modules],
            "targets": self.urns,
            "targetDependents": bool(self.dependents),
            "dependents": self.dependents,
            "command": self.command(),
        }


def module_targets(stack: str, resources: list[dict[str, Any]], modules: list[tuple[str, str]]) -> Targets:
    """The --target URNs of modules (ID, slug) in a plan's or a real `pulumi stack export`'s resources: found by
    slug, as every module component is named (DESIGN §3), so an export without the plan's `bank` section works."""
    by_urn = {r["urn"]: r for r in resources}
    top = {
        _urn_name(r["urn"]): r["urn"]
        for r in resources
        if not r.get("custom") and by_urn.get(r.get("parent", ""), {}).get("type") == STACK_TYPE
    }
    children: dict[str, list[str]] = {}
    for r in resources:
        children.setdefault(r.get("parent", ""), []).append(r["urn"])
    found, urns, missing = [], [], []
    for module_id, slug in modules:
        if slug not in top:
            missing.append(f"{module_id} {slug}")
            continue
        found.append((module_id, slug, top[slug]))
        subtree, pending = [], [top[slug]]
        while pending:
            urn = pending.pop(0)
            subtree.append(urn)
            pending.extend(children.get(urn, []))
        urns += subtree
    if missing:
        raise KeyError(f"not in the {stack} resources: {', '.join(missing)}")
    inside = set(urns)
    dependents: dict[str, list[str]] = {}
    for r in resources:
        if r["urn"] in inside:
            continue
        refs = set(r.get("dependencies", ())) | {u for us in r.get("propertyDependencies", {}).values() for u in us}
        if r.get("deletedWith"):
            refs.add(r["deletedWith"])
        if r.get("provider"):
            refs.add(r["provider"].rsplit("::", 1)[0])  # a provider reference is `<provider urn>::<id>`
        if refs & inside:
            owner = _urn_name(_top_level(by_urn, r["urn"]))
            dependents.setdefault(owner, []).append(r["urn"])
    return Targets(stack, found, urns, dict(sorted(dependents.items())))


def resolve_modules(platform, wanted: list[str]) -> list[tuple[str, str]]:
    """MOD-… IDs or slugs → (ID, slug) of deployed modules; exits 2 naming each unknown or disabled one."""
    by_key = {key: m for m in platform.modules for key in (m.spec.id, m.spec.slug)}
    chosen, problems = [], []
    for key in wanted:
        m = by_key.get(key)
        if m is None:
            problems.append(f"{key}: no such module in the catalogue")
        elif not m.enabled:
            problems.append(f"{key}: {m.spec.slug} is not deployed in {platform.stack} ({m.disabled_because})")
        elif (m.spec.id, m.spec.slug) not in chosen:
            chosen.append((m.spec.id, m.spec.slug))
    if problems:
        fail("bankctl targets: " + "; ".join(problems))
    return chosen


def plan_resources(stack: str, plan_file: Path | None) -> list[dict[str, Any]]:
    """The resources of a plan or `pulumi stack export` file, or of this checkout's offline plan."""
    if plan_file is not None:
        try:
            document = json.loads(plan_file.read_text(encoding="utf-8"))
            return document["deployment"]["resources"]
        except (OSError, ValueError, KeyError, TypeError) as exc:
            fail(f"{plan_file}: not a plan or `pulumi stack export` file ({exc})")
    import pulumi

    from bankctl.plan_command import plan_stack
    from model.errors import ConfigurationError

    try:
        plan = plan_stack(stack, PROJECT_DIR)
    except (pulumi.RunError, ConfigurationError) as exc:
        fail(f"the offline plan of {stack} failed; nothing was targeted.\n{exc}")
    return plan.document["deployment"]["resources"]


def print_targets(targets: Targets) -> None:
    names = ", ".join(f"{i} {s}" for i, s, _ in targets.modules)
    out.print(f"{len(targets.urns)} resource(s) of {names} in {targets.stack}:", highlight=False)
    for urn in targets.urns:
        out.print(f"  {urn}", highlight=False, markup=False)
    if targets.dependents:
        out.print(
            "--target-dependents: outside them, these depend on their resources and are included: "
            + ", ".join(f"{owner} ({len(urns)})" for owner, urns in targets.dependents.items()),
            highlight=False,
            markup=False,
        )
    out.print(targets.command(), highlight=False, markup=False)


# --- the commands ------------------------------------------------------------------------------------------------
def targets(
    modules: Annotated[list[str], typer.Argument(help="module IDs (MOD-…) or slugs")],
    stack: Annotated[str, typer.Option("--stack", help="the stack to deploy them in")],
    plan_file: Annotated[
        Path | None,
        typer.Option("--plan", help="read the URNs from this plan or `pulumi stack export` file instead of planning"),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the targets as JSON")] = False,
) -> None:
    """The `pulumi up --target` flags that deploy exactly MODULES in STACK: each module's component and every
    resource under it (a component target alone does not include its children), with --target-dependents when
    something outside them depends on theirs. Prints one ready-to-paste command line."""
    platform = platform_or_exit(stack)
    chosen = resolve_modules(platform, modules)
    try:
        found = module_targets(stack, plan_resources(stack, plan_file), chosen)
    except KeyError as exc:
        fail(f"bankctl targets: {exc.args[0]}")
        return
    if as_json:
        out.print_json(json.dumps(found.as_json()))
        return
    print_targets(found)


def affected(
    base: Annotated[str, typer.Argument(help="the git ref deployed now (e.g. origin/main, a tag, a SHA)")],
    stack: Annotated[str, typer.Option("--stack", help="the stack whose plans to compare")],
    head: Annotated[str, typer.Argument(help="the git ref to deploy")] = "HEAD",
    repo: Annotated[Path, typer.Option("--repo", help="the git repository of the refs")] = PROJECT_DIR,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """The modules a change between BASE and HEAD touches in STACK, from the real program: each ref's offline
    plan, run in its own process from that ref's tree, compared resource by resource. Lists each module (ID, slug,
    phase, why), the phase gates whose checks re-run, and the `bankctl targets` command that deploys them."""
    try:
        base_commit, base_tree = resolve_ref(repo, base)
        head_commit, head_tree = resolve_ref(repo, head)
        plans = plan_trees(repo, [(base, base_commit, base_tree), (head, head_commit, head_tree)], stack)
    except RefError as exc:
        fail(f"bankctl affected: {exc}")
        return
    found = compare_plans(plans[base_tree], plans[head_tree])
    modules = [c for c in found if c.kind == "module"]
    gates = [c for c in found if c.kind == "gate"]
    others = [c for c in found if c.kind == "other"]
    command = shlex.join(["bankctl", "targets", *(m.module_id for m in modules), "--stack", stack]) if modules else None
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "stack": stack,
                    "base": {"ref": base, "commit": base_commit},
                    "head": {"ref": head, "commit": head_commit},
                    "modules": [m.as_json() for m in modules],
                    "gates": [g.as_json() for g in gates],
                    "others": [o.as_json() for o in others],
                    "targetsCommand": command,
                }
            )
        )
        return
    span = f"{base} ({base_commit[:12]}) → {head} ({head_commit[:12]})"
    if not found:
        out.print(f"No change to {stack} between {span}: nothing to deploy.", highlight=False, markup=False)
        return
    out.print(
        f"{stack}, {span}: {len(modules)} module(s) and {len(gates)} phase gate(s) change",
        highlight=False,
        markup=False,
    )
    for m in modules:
        out.print(f"  phase {m.phase}  {m.module_id} {m.name}: {m.why()}", highlight=False, markup=False)
    for g in gates:
        out.print(f"  phase {g.phase}  gate {g.name}: {g.why()}", highlight=False, markup=False)
    for o in others:
        out.print(f"  also {o.name}: {o.why()}", highlight=False, markup=False)
    if command:
        out.print(f"Deploy them: {command}", highlight=False, markup=False)
    else:
        out.print("No module changes; the changes above are outside every module.", highlight=False, markup=False)
