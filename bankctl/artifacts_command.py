"""`bankctl artifacts check|promote`: the builds a release manifest pins, in the stack's own artifacts bucket.

Environments share nothing (deployment sequence, "Environment promotion": "There are no shared infrastructure
resources between environments"), so each stack's artifacts bucket (MOD-104) must hold every build its pins name
before `pulumi up` reads them: each module's artifact, each database's migrations prefix (Flyway reads it in place),
each layer zip. `check` proves that, and where a pin carries a sha256 that S3's own SHA-256 checksum of the object
matches it; `promote` copies exactly what the target stack pins from the source stack's bucket.

The checksum is S3's (uploaded with ChecksumAlgorithm=SHA256, read with HeadObject ChecksumMode=ENABLED): S3
computes it from the bytes it stored, so nothing has to trust the uploader. Only a single-part upload has a
whole-object SHA-256 (a multipart upload's is a checksum of part checksums, "-N" suffixed, S3 User Guide "Checking
object integrity"); for those the object's `sha256` metadata is compared instead, and without either the check
says the object cannot be verified.
"""

from __future__ import annotations

import base64
import json
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Annotated, Any

import typer

from bankctl.terminal import PROJECT_DIR, fail, out, platform_or_exit

# MOD-104's SSM baseline (foundation/aws_bootstrap/runtime_config.py `_ssm_baseline`: storage/<purpose>-bucket-name).
ARTIFACTS_BUCKET_PARAMETER = "/bank/{environment}/platform/storage/artifacts-bucket-name"
PARALLEL_REQUESTS = 8  # HEAD requests in flight; S3 serves thousands per second per prefix

artifacts_app = typer.Typer(
    help="The builds release manifests pin, in each stack's artifacts bucket: check them, promote them.",
    no_args_is_help=True,
)


def artifacts_bucket_by_convention(environment: str, account: str) -> str:
    """MOD-104's naming, `bank-{env}-{purpose}-{account}` (foundation/aws_bootstrap/storage.py `bucket_name`)."""
    return f"bank-{environment}-artifacts-{account}"


@dataclass(frozen=True)
class PinnedArtifact:
    pin: str  # where in releases/<stack>.yaml: modules.<module ID>, migrations.bank_core, layers.jit-db-access
    key: str  # the object key, or for migrations the prefix (without the trailing slash)
    is_prefix: bool = False
    sha256: str | None = None


@dataclass(frozen=True)
class ArtifactProblem:
    pin: str
    key: str
    problem: str


def pinned_artifacts(platform, manifest) -> list[PinnedArtifact]:
    """What `pulumi up` of the stack reads from its artifacts bucket: the deployed modules' artifacts, the used
    databases' migrations, the layers."""
    found = [
        PinnedArtifact(f"modules.{m.spec.id}", m.release.artifact, sha256=m.release.sha256)
        for m in sorted(platform.enabled_modules(), key=lambda m: m.spec.id)
        if m.release is not None
    ]
    found += [
        PinnedArtifact(f"migrations.{db}", pin.location.rstrip("/"), is_prefix=True)
        for db, pin in sorted(platform.migrations.items())
    ]
    found += [
        PinnedArtifact(f"layers.{name}", pin.artifact, sha256=pin.sha256)
        for name, pin in sorted(getattr(manifest, "layers", {}).items())
    ]
    return found


def artifacts_bucket(session, platform) -> tuple[str, str]:
    """(bucket, where the name came from): MOD-104's SSM parameter in the session's account, or its naming
    convention when the parameter is not there (not deployed yet, or another account's session)."""
    from botocore.exceptions import ClientError

    name = ARTIFACTS_BUCKET_PARAMETER.format(environment=platform.config.environment)
    try:
        value = session.client("ssm").get_parameter(Name=name)["Parameter"]["Value"]
        return value, f"SSM {name}"
    except ClientError as exc:
        if exc.response["Error"]["Code"] not in ("ParameterNotFound", "AccessDeniedException"):
            raise
    bucket = artifacts_bucket_by_convention(platform.config.environment, platform.config.aws_account_id)
    return bucket, "MOD-104's naming convention (no SSM parameter readable)"


def stored_sha256(head: dict[str, Any]) -> str | None:
    """The object's whole-content SHA-256, hex: S3's checksum when it is one, else the `sha256` metadata."""
    checksum = head.get("ChecksumSHA256")
    if checksum and head.get("ChecksumType", "FULL_OBJECT") == "FULL_OBJECT" and "-" not in checksum:
        return base64.b64decode(checksum).hex()
    metadata = head.get("Metadata", {}).get("sha256")
    return metadata.lower() if metadata else None


def _not_found(exc) -> bool:
    return exc.response["Error"]["Code"] in ("404", "NoSuchKey", "NotFound")


def head(s3, bucket: str, key: str) -> dict[str, Any] | None:
    """HeadObject with its checksum, or None when there is no such object."""
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except ClientError as exc:
        if _not_found(exc):
            return None
        raise


def checksum_problem(artifact: PinnedArtifact, response: dict[str, Any], where: str) -> str | None:
    if artifact.sha256 is None:
        return None
    have = stored_sha256(response)
    if have is None:
        return (
            f"{where} has no whole-object SHA-256 to compare with the pin's sha256 (upload it in one part with "
            "ChecksumAlgorithm=SHA256, or with metadata sha256)"
        )
    if have != artifact.sha256:
        return f"{where} has SHA-256 {have}, the pin says {artifact.sha256}: not the pinned build"
    return None


def check_one(s3, bucket: str, artifact: PinnedArtifact) -> ArtifactProblem | None:
    from botocore.exceptions import ClientError

    where = f"s3://{bucket}/{artifact.key}"
    try:
        if artifact.is_prefix:
            listed = s3.list_objects_v2(Bucket=bucket, Prefix=artifact.key + "/", MaxKeys=1)
            found = listed.get("KeyCount", 0) > 0
            return None if found else ArtifactProblem(artifact.pin, artifact.key, f"nothing under {where}/")
        response = head(s3, bucket, artifact.key)
    except ClientError as exc:
        return ArtifactProblem(artifact.pin, artifact.key, f"{where}: S3 refused ({exc.response['Error']['Code']})")
    if response is None:
        return ArtifactProblem(artifact.pin, artifact.key, f"{where} is missing")
    problem = checksum_problem(artifact, response, where)
    return ArtifactProblem(artifact.pin, artifact.key, problem) if problem else None


def check_artifacts(s3, bucket: str, artifacts: list[PinnedArtifact]) -> list[ArtifactProblem]:
    """Every missing or mismatched artifact, in pin order (all of them, not the first)."""
    with ThreadPoolExecutor(PARALLEL_REQUESTS) as pool:
        results = list(pool.map(lambda a: check_one(s3, bucket, a), artifacts))
    return [r for r in results if r is not None]


def stack_session(platform, profile: str | None = None):
    """A session in the stack's region, refused unless its credentials are for the stack's account."""
    import boto3

    from gates.account import account_problem

    session = boto3.Session(profile_name=profile, region_name=platform.config.region)
    wrong = account_problem(platform, session.client("sts"))
    if wrong:
        fail(f"refused: {wrong}", 1)
    return session


def aws_or_exit(action: Callable[[], Any], what: str) -> Any:
    from botocore.exceptions import BotoCoreError, ClientError

    try:
        return action()
    except (BotoCoreError, ClientError) as exc:
        fail(f"{what} cannot run: AWS did not answer as expected: {exc}", 1)


def _print_problems(problems: list[ArtifactProblem]) -> None:
    for p in problems:
        out.print(f"  {p.pin}: {p.problem}", highlight=False, markup=False)


@artifacts_app.command("check")
def check(
    stack: Annotated[str, typer.Argument(help="the stack whose pinned builds to check")],
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Verify that every build releases/STACK.yaml pins is in STACK's artifacts bucket, and that each pinned
    sha256 matches S3's checksum of the object; list every missing or mismatched one and exit 1 if any. Run it
    before `pulumi up`."""
    from model.releases import load_release_manifest

    platform = platform_or_exit(stack)
    artifacts = pinned_artifacts(platform, load_release_manifest(PROJECT_DIR, stack))
    session = aws_or_exit(lambda: stack_session(platform), f"bankctl artifacts check {stack}")
    bucket, source = aws_or_exit(lambda: artifacts_bucket(session, platform), f"bankctl artifacts check {stack}")
    problems = aws_or_exit(
        lambda: check_artifacts(session.client("s3"), bucket, artifacts), f"bankctl artifacts check {stack}"
    )
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "stack": stack,
                    "bucket": bucket,
                    "checked": len(artifacts),
                    "problems": [{"pin": p.pin, "key": p.key, "problem": p.problem} for p in problems],
                }
            )
        )
    else:
        out.print(f"{stack}: artifacts bucket {bucket} (from {source})", highlight=False, markup=False)
        _print_problems(problems)
        verdict = f"{len(problems)} of {len(artifacts)} pinned artifact(s) missing or not the pinned build"
        out.print(verdict if problems else f"all {len(artifacts)} pinned artifacts present", highlight=False)
    if problems:
        raise typer.Exit(1)


# --- promote -----------------------------------------------------------------------------------------------------
@dataclass
class Promotion:
    copied: list[str]
    already_there: list[str]
    problems: list[ArtifactProblem]


def _objects(s3, bucket: str, artifact: PinnedArtifact) -> list[str]:
    if not artifact.is_prefix:
        return [artifact.key]
    keys = []
    for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=artifact.key + "/"):
        keys += [o["Key"] for o in page.get("Contents", [])]
    return keys


def promote_artifacts(
    source_s3, source_bucket: str, target_s3, target_bucket: str, artifacts: list[PinnedArtifact], one_session: bool
) -> Promotion:
    """Copy each pinned object from the source bucket to the target's, skipping those already there with the same
    SHA-256, refusing those whose source does not match the pin."""
    result = Promotion([], [], [])
    for artifact in artifacts:
        keys = _objects(source_s3, source_bucket, artifact)
        if not keys:
            where = f"s3://{source_bucket}/{artifact.key}" + ("/" if artifact.is_prefix else "")
            result.problems.append(ArtifactProblem(artifact.pin, artifact.key, f"{where} is missing in the source"))
            continue
        for key in keys:
            source = head(source_s3, source_bucket, key)
            if source is None:
                result.problems.append(ArtifactProblem(artifact.pin, key, f"s3://{source_bucket}/{key} is missing"))
                continue
            problem = checksum_problem(artifact, source, f"s3://{source_bucket}/{key}")
            if problem:
                result.problems.append(ArtifactProblem(artifact.pin, key, problem + "; not copied"))
                continue
            present = head(target_s3, target_bucket, key)
            digest = stored_sha256(source)
            if present is not None and digest is not None and stored_sha256(present) == digest:
                result.already_there.append(key)
                continue
            if one_session:
                # Server-side: the bytes never leave S3. CopyObject takes up to 5 GB, far above a Lambda zip.
                target_s3.copy_object(
                    Bucket=target_bucket,
                    Key=key,
                    CopySource={"Bucket": source_bucket, "Key": key},
                    ChecksumAlgorithm="SHA256",
                    MetadataDirective="COPY",
                )
            else:
                # Two accounts, two sessions: through this machine, in one part so S3 keeps a whole-object SHA-256.
                with tempfile.TemporaryFile() as spool:
                    source_s3.download_fileobj(source_bucket, key, spool)
                    spool.seek(0)
                    target_s3.put_object(
                        Bucket=target_bucket,
                        Key=key,
                        Body=spool,
                        ChecksumAlgorithm="SHA256",
                        Metadata=source.get("Metadata", {}),
                    )
            result.copied.append(key)
    return result


@artifacts_app.command("promote")
def promote(
    source_stack: Annotated[str, typer.Option("--from", help="the stack whose bucket holds the builds, e.g. dev")],
    target_stack: Annotated[str, typer.Option("--to", help="the stack whose release manifest names them, e.g. uat")],
    from_profile: Annotated[
        str | None, typer.Option("--from-profile", help="AWS profile for the source account (default: --to-profile)")
    ] = None,
    to_profile: Annotated[
        str | None, typer.Option("--to-profile", help="AWS profile for the target account (default credentials)")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="print the result as JSON")] = False,
) -> None:
    """Copy exactly the builds releases/TARGET.yaml pins from the source stack's artifacts bucket to the target's:
    server-side when one session reaches both buckets (no --from-profile, or the same as --to-profile), else
    through this machine. Objects already in the target with the same SHA-256 are skipped; a source object that
    does not match its pinned sha256 is not copied. Exits 1 if anything pinned could not be promoted."""
    from model.releases import load_release_manifest

    if source_stack == target_stack:
        fail("bankctl artifacts promote: --from and --to are the same stack")
    source_platform = platform_or_exit(source_stack)
    target_platform = platform_or_exit(target_stack)
    artifacts = pinned_artifacts(target_platform, load_release_manifest(PROJECT_DIR, target_stack))
    what = f"bankctl artifacts promote --from {source_stack} --to {target_stack}"
    one_session = from_profile is None or from_profile == to_profile
    target_session = aws_or_exit(lambda: stack_session(target_platform, to_profile), what)
    source_session = (
        target_session if one_session else aws_or_exit(lambda: stack_session(source_platform, from_profile), what)
    )
    source_bucket, _ = aws_or_exit(lambda: artifacts_bucket(source_session, source_platform), what)
    target_bucket, _ = aws_or_exit(lambda: artifacts_bucket(target_session, target_platform), what)
    result = aws_or_exit(
        lambda: promote_artifacts(
            source_session.client("s3"),
            source_bucket,
            target_session.client("s3"),
            target_bucket,
            artifacts,
            one_session,
        ),
        what,
    )
    if as_json:
        out.print_json(
            json.dumps(
                {
                    "from": {"stack": source_stack, "bucket": source_bucket},
                    "to": {"stack": target_stack, "bucket": target_bucket},
                    "copied": result.copied,
                    "alreadyThere": result.already_there,
                    "problems": [{"pin": p.pin, "key": p.key, "problem": p.problem} for p in result.problems],
                }
            )
        )
    else:
        how = "server-side" if one_session else "through this machine"
        out.print(
            f"{source_stack} → {target_stack}: s3://{source_bucket} → s3://{target_bucket} ({how})",
            highlight=False,
            markup=False,
        )
        for key in result.copied:
            out.print(f"  copied {key}", highlight=False, markup=False)
        out.print(
            f"{len(result.copied)} copied, {len(result.already_there)} already there with the same SHA-256, "
            f"{len(result.problems)} problem(s)",
            highlight=False,
        )
        _print_problems(result.problems)
    if result.problems:
        raise typer.Exit(1)
