"""`bankctl artifacts check|promote` against moto in server mode on loopback: each stack's artifacts bucket in its
own account, as engineers and CI run the command (a fresh process, in a copy of this project whose release files
pin a sha256 for one module and for the layer, so that checksums are checked against bytes this test wrote)."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import urllib.request

import boto3
import pytest
import yaml

from bankctl.artifacts_command import PinnedArtifact, artifacts_bucket_by_convention, check_one, stored_sha256
from model.platform import load_stack_platform
from tests.conftest import module_id
from tests.test_affected_targets import copy_project

REGION = "ap-southeast-2"
ACCOUNTS = {"dev": "381492650173", "uat": "529406318847"}  # bank:awsAccountId of Pulumi.dev.yaml, Pulumi.uat.yaml
LAYER_BYTES = b"jit-db-access layer, a test build"
SUMMED = module_id("balance-service")  # the module pin that carries a sha256 in the copy
SSM_BUCKET = "bank-{stack}-artifacts-named-in-ssm"  # not the convention: proves the SSM parameter is read first


def content(key: str) -> bytes:
    return LAYER_BYTES if key.startswith("layers/") else f"build of {key}".encode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


@pytest.fixture(scope="module")
def project(tmp_path_factory):
    """This project, its dev and uat manifests pinning the layer's and one module's sha256 of the bytes above."""
    root = tmp_path_factory.mktemp("project")
    copy_project(root)
    for stack in ACCOUNTS:
        path = root / "releases" / f"{stack}.yaml"
        text = path.read_text()
        raw = yaml.safe_load(text)
        layer = raw["layers"]["jit-db-access"]
        text = text.replace(layer["sha256"], sha256(LAYER_BYTES))
        pin = raw["modules"][SUMMED]
        line = f"{SUMMED}: {{sha: {pin['sha']}, artifact: {pin['artifact']}}}"
        assert text.count(line) == 1
        text = text.replace(line, line[:-1] + f", sha256: {sha256(content(pin['artifact']))}}}")
        path.write_text(text)
    return root


def pinned_keys(project, stack: str) -> dict[str, str]:
    """Pin → object key, read from the raw release file (and the deployed modules from the model)."""
    raw = yaml.safe_load((project / "releases" / f"{stack}.yaml").read_text())
    deployed = {m.spec.id for m in load_stack_platform(project, stack).enabled_modules()}
    keys = {f"modules.{mid}": pin["artifact"] for mid, pin in raw["modules"].items() if mid in deployed}
    keys |= {f"migrations.{db}": f"{pin['location']}/V1__baseline.sql" for db, pin in raw["migrations"].items()}
    keys |= {f"layers.{name}": pin["artifact"] for name, pin in raw["layers"].items()}
    return keys


@pytest.fixture
def accounts(moto_endpoint):
    """Per stack: credentials inside its account, and a boto3 session with them (moto keeps accounts apart)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    found = {}
    for stack, account in ACCOUNTS.items():
        creds = sts.assume_role(RoleArn=f"arn:aws:iam::{account}:role/BankDeployRole", RoleSessionName="artifacts")[
            "Credentials"
        ]
        env = {
            "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
            "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
            "AWS_SESSION_TOKEN": creds["SessionToken"],
        }
        session = boto3.Session(
            region_name=REGION,
            aws_access_key_id=env["AWS_ACCESS_KEY_ID"],
            aws_secret_access_key=env["AWS_SECRET_ACCESS_KEY"],
            aws_session_token=env["AWS_SESSION_TOKEN"],
        )
        found[stack] = (
            env,
            session.client("s3", endpoint_url=moto_endpoint),
            session.client("ssm", endpoint_url=moto_endpoint),
        )
    return found


def make_bucket(accounts, stack: str, named_in_ssm: bool = True) -> str:
    _, s3, ssm = accounts[stack]
    bucket = SSM_BUCKET.format(stack=stack) if named_in_ssm else artifacts_bucket_by_convention(stack, ACCOUNTS[stack])
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    if named_in_ssm:
        ssm.put_parameter(Name=f"/bank/{stack}/platform/storage/artifacts-bucket-name", Value=bucket, Type="String")
    return bucket


def upload(s3, bucket: str, keys, data=content) -> None:
    for key in keys:
        s3.put_object(Bucket=bucket, Key=key, Body=data(key), ChecksumAlgorithm="SHA256")


def bankctl(project, env: dict, endpoint: str, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bankctl", "artifacts", *args],
        cwd=project,
        env={**os.environ, "AWS_ENDPOINT_URL": endpoint, **env},
        capture_output=True,
        text=True,
        timeout=120,
    )


# --- check -------------------------------------------------------------------------------------------------------
def test_check_passes_when_every_pinned_build_is_there(project, accounts, moto_endpoint):
    bucket = make_bucket(accounts, "dev")
    keys = pinned_keys(project, "dev")
    upload(accounts["dev"][1], bucket, keys.values())
    result = bankctl(project, accounts["dev"][0], moto_endpoint, "check", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"artifacts bucket {bucket} (from SSM /bank/dev/platform/storage/artifacts-bucket-name)" in result.stdout
    assert f"all {len(keys)} pinned artifacts present" in result.stdout


def test_check_lists_every_missing_and_mismatched_artifact_at_once(project, accounts, moto_endpoint):
    bucket = make_bucket(accounts, "dev")
    _, s3, _ = accounts["dev"]
    keys = pinned_keys(project, "dev")
    upload(s3, bucket, keys.values())
    s3.delete_object(Bucket=bucket, Key=keys[f"modules.{module_id('account-creation')}"])
    s3.delete_object(Bucket=bucket, Key=keys["migrations.bank_kyc"])
    upload(s3, bucket, [keys[f"modules.{SUMMED}"], keys["layers.jit-db-access"]], lambda key: b"another build")
    result = bankctl(project, accounts["dev"][0], moto_endpoint, "check", "dev", "--json")
    assert result.returncode == 1, result.stderr
    problems = {p["pin"]: p["problem"] for p in json.loads(result.stdout)["problems"]}
    assert set(problems) == {
        f"modules.{module_id('account-creation')}",
        "migrations.bank_kyc",
        f"modules.{SUMMED}",
        "layers.jit-db-access",
    }
    assert problems[f"modules.{module_id('account-creation')}"].endswith("is missing")
    assert problems["migrations.bank_kyc"].startswith("nothing under")
    assert f"has SHA-256 {sha256(b'another build')}, the pin says" in problems[f"modules.{SUMMED}"]
    assert "not the pinned build" in problems["layers.jit-db-access"]


def test_check_falls_back_to_mod_104_s_naming_convention(project, accounts, moto_endpoint):
    from foundation.aws_bootstrap.storage import bucket_name

    assert artifacts_bucket_by_convention("dev", ACCOUNTS["dev"]) == bucket_name("dev", "artifacts", ACCOUNTS["dev"])
    bucket = make_bucket(accounts, "dev", named_in_ssm=False)
    upload(accounts["dev"][1], bucket, pinned_keys(project, "dev").values())
    result = bankctl(project, accounts["dev"][0], moto_endpoint, "check", "dev")
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"artifacts bucket {bucket} (from MOD-104's naming convention" in result.stdout


def test_check_refuses_another_account_s_credentials(project, accounts, moto_endpoint):
    result = bankctl(project, accounts["uat"][0], moto_endpoint, "check", "dev")
    assert result.returncode == 1
    assert f"but stack dev deploys to {ACCOUNTS['dev']}" in " ".join(result.stderr.split())


def test_metadata_sha256_stands_in_only_without_a_whole_object_checksum(accounts):
    _, s3, _ = accounts["dev"]
    s3.create_bucket(Bucket="metadata-only", CreateBucketConfiguration={"LocationConstraint": REGION})
    data = b"uploaded in parts, once"
    pinned = PinnedArtifact(f"modules.{module_id('account-creation')}", "a.zip", sha256=sha256(data))
    s3.put_object(Bucket="metadata-only", Key="a.zip", Body=data, Metadata={"sha256": sha256(data)})
    assert check_one(s3, "metadata-only", pinned) is None
    s3.put_object(Bucket="metadata-only", Key="a.zip", Body=data)
    assert "no whole-object SHA-256" in check_one(s3, "metadata-only", pinned).problem
    # A multipart upload's checksum is of its parts' checksums: never compared with a file's digest.
    composite = {"ChecksumSHA256": "q83vEjRWeJA=-3", "ChecksumType": "COMPOSITE", "Metadata": {}}
    assert stored_sha256(composite) is None
    assert stored_sha256({**composite, "Metadata": {"sha256": "AB" * 32}}) == "ab" * 32


# --- promote -----------------------------------------------------------------------------------------------------
def test_promote_copies_exactly_what_the_target_pins(project, accounts, moto_endpoint):
    # One session, uat's: dev's SSM parameter is in dev's account, out of its sight, so it finds dev's bucket by
    # MOD-104's naming convention (the bucket the parameter names is an empty decoy).
    make_bucket(accounts, "dev")
    source = make_bucket(accounts, "dev", named_in_ssm=False)
    target = make_bucket(accounts, "uat")
    _, dev_s3, _ = accounts["dev"]
    _, uat_s3, _ = accounts["uat"]
    keys = pinned_keys(project, "uat")
    missing, mismatched, present = (
        keys[f"modules.{module_id('account-status-management')}"],
        keys[f"modules.{SUMMED}"],
        keys[f"modules.{module_id('account-closure')}"],
    )
    upload(dev_s3, source, [k for k in keys.values() if k not in (missing, mismatched)])
    upload(dev_s3, source, [mismatched], lambda key: b"not the pinned build")
    upload(dev_s3, source, ["bank-core/dev-only/build.zip"])  # a build uat does not pin
    upload(uat_s3, target, [present])

    first = bankctl(project, accounts["uat"][0], moto_endpoint, "promote", "--from", "dev", "--to", "uat", "--json")
    assert first.returncode == 1, first.stderr
    report = json.loads(first.stdout)
    assert (report["from"]["bucket"], report["to"]["bucket"]) == (source, target)
    assert set(report["copied"]) == set(keys.values()) - {missing, mismatched, present}
    assert report["alreadyThere"] == [present]
    assert {p["pin"] for p in report["problems"]} == {
        f"modules.{module_id('account-status-management')}",
        f"modules.{SUMMED}",
    }
    copied = uat_s3.head_object(Bucket=target, Key=keys["layers.jit-db-access"], ChecksumMode="ENABLED")
    assert stored_sha256(copied) == sha256(LAYER_BYTES)
    listed = {o["Key"] for o in uat_s3.list_objects_v2(Bucket=target)["Contents"]}
    assert listed == set(keys.values()) - {missing, mismatched}

    upload(dev_s3, source, [missing, mismatched])
    second = bankctl(project, accounts["uat"][0], moto_endpoint, "promote", "--from", "dev", "--to", "uat", "--json")
    assert second.returncode == 0, second.stderr
    assert sorted(json.loads(second.stdout)["copied"]) == sorted([missing, mismatched])
    checked = bankctl(project, accounts["uat"][0], moto_endpoint, "check", "uat")
    assert checked.returncode == 0, checked.stdout


def test_promote_between_two_accounts_goes_through_this_machine(project, accounts, moto_endpoint, tmp_path):
    source = make_bucket(accounts, "dev")
    target = make_bucket(accounts, "uat")
    keys = pinned_keys(project, "uat")
    upload(accounts["dev"][1], source, keys.values())
    credentials = tmp_path / "credentials"
    credentials.write_text(
        "".join(
            f"[{stack}-deploy]\naws_access_key_id = {env['AWS_ACCESS_KEY_ID']}\n"
            f"aws_secret_access_key = {env['AWS_SECRET_ACCESS_KEY']}\naws_session_token = {env['AWS_SESSION_TOKEN']}\n"
            for stack, (env, _, _) in accounts.items()
        )
    )
    env = {"AWS_SHARED_CREDENTIALS_FILE": str(credentials), "AWS_CONFIG_FILE": str(tmp_path / "none")}
    env |= {k: "" for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")}
    result = bankctl(
        project,
        env,
        moto_endpoint,
        "promote",
        "--from",
        "dev",
        "--to",
        "uat",
        "--from-profile",
        "dev-deploy",
        "--to-profile",
        "uat-deploy",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"s3://{source} → s3://{target} (through this machine)" in result.stdout
    assert f"{len(keys)} copied" in result.stdout
    _, uat_s3, _ = accounts["uat"]
    head = uat_s3.head_object(Bucket=target, Key=keys[f"modules.{SUMMED}"], ChecksumMode="ENABLED")
    assert stored_sha256(head) == sha256(content(keys[f"modules.{SUMMED}"]))


# --- the pin's sha256 ----------------------------------------------------------------------------------------------
def test_a_pin_without_sha256_dumps_as_before_so_records_stay_the_same():
    from model.releases import ReleasePin

    build = "a" * 40
    assert ReleasePin(sha=build, artifact=f"x/{build}.zip").model_dump() == {"sha": build, "artifact": f"x/{build}.zip"}
    summed = ReleasePin(sha=build, artifact=f"x/{build}.zip", sha256="b" * 64)
    assert summed.model_dump()["sha256"] == "b" * 64


@pytest.mark.parametrize("digest", ["B" * 64, "b" * 63, "sha256:" + "b" * 64])
def test_a_pin_sha256_is_64_lower_case_hex_characters(digest):
    from pydantic import ValidationError

    from model.releases import ReleasePin

    with pytest.raises(ValidationError, match="sha256"):
        ReleasePin(sha="a" * 40, artifact="x/a.zip", sha256=digest)
