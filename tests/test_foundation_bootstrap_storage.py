"""MOD-104 part A: the five buckets (EncryptedBucket) and CloudTrail — read from the real offline plans of dev, uat
and prod, plus small programs for the component and the mocked ids.

Expectations are written out here (names, ARNs, what each policy grants) or read from the raw stack files,
never from the code under test.
"""

from __future__ import annotations

import dataclasses
import json
from functools import cache

import pulumi
import pulumi_aws as aws
import pytest

from bankctl.recording import SECRET_SIG, SIG_KEY, PlanMocks, record_program
from tests.conftest import PROJECT_DIR, offline_plan
from tests.test_foundation_events import (
    MODULE_TAGS,
    account_region,
    bootstrap_resources,
    policy_of,
    stack_config,
)

STACKS = ("dev", "uat", "prod")
PURPOSES = ("documents", "audit-archive", "landing-zone", "artifacts", "access-logs")
SOURCES = ("documents", "audit-archive", "landing-zone", "artifacts")  # every bucket but the access-log bucket
# Which domain's key encrypts each bucket: SD02 KYC for customer documents, SD07 (data platform) for the rest.
BUCKET_KEY_DOMAIN = {"documents": "sd02", "audit-archive": "sd07", "landing-zone": "sd07", "artifacts": "sd07"}
BUCKET_SETTINGS = (
    "bucket",
    "ownership",
    "public-access-block",
    "versioning",
    "encryption",
    "policy",
    "lifecycle",
)


def name_of(stack: str, purpose: str) -> str:
    account, _ = account_region(stack)
    return f"bank-{stack}-{purpose}-{account}"


def setting(resources: dict, purpose: str, what: str) -> dict:
    return resources[f"aws-bootstrap-{purpose}-{what}"]


def rules_by_id(resources: dict, purpose: str) -> dict[str, dict]:
    return {rule["id"]: rule for rule in setting(resources, purpose, "lifecycle")["inputs"]["rules"]}


# --- the component ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_bucket_is_an_encrypted_bucket_component_owning_its_settings(stack):
    resources = bootstrap_resources(stack)
    for purpose in PURPOSES:
        component = resources[f"aws-bootstrap-{purpose}"]
        assert component["type"] == "bank:components:EncryptedBucket" and not component.get("custom")
        for what in BUCKET_SETTINGS:
            assert setting(resources, purpose, what)["parent"] == component["urn"], (purpose, what)
        bucket = setting(resources, purpose, "bucket")
        assert bucket["type"] == "aws:s3/bucket:Bucket"
        assert bucket["inputs"]["bucket"] == name_of(stack, purpose)  # bank-{env}-{purpose}-{account}
        assert bucket["inputs"]["tags"] == MODULE_TAGS
        assert bucket["inputs"].get("forceDestroy") is not True  # never emptied to be deleted
        for what in BUCKET_SETTINGS[1:]:
            assert setting(resources, purpose, what)["inputs"]["bucket"] == bucket["id"]


# --- encryption ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_buckets_are_sse_kms_with_a_bucket_key_under_their_domain_key(stack):
    resources = bootstrap_resources(stack)
    for purpose, domain in BUCKET_KEY_DOMAIN.items():
        [rule] = setting(resources, purpose, "encryption")["inputs"]["rules"]
        key_arn = resources[f"aws-bootstrap-{domain}-key"]["outputs"]["arn"]
        assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "aws:kms", "kmsMasterKeyId": key_arn}
        assert rule["bucketKeyEnabled"] is True


@pytest.mark.parametrize("stack", STACKS)
def test_the_access_log_bucket_alone_is_sse_s3(stack):
    # S3 server access logging delivers only into a bucket whose default encryption is SSE-S3 (AES256).
    [rule] = setting(bootstrap_resources(stack), "access-logs", "encryption")["inputs"]["rules"]
    assert rule["applyServerSideEncryptionByDefault"] == {"sseAlgorithm": "AES256"}


# --- versioning, public access, ownership, TLS ---------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_bucket_is_versioned_private_owner_enforced_and_tls_only(stack):
    resources = bootstrap_resources(stack)
    for purpose in PURPOSES:
        assert setting(resources, purpose, "versioning")["inputs"]["versioningConfiguration"] == {"status": "Enabled"}
        block = setting(resources, purpose, "public-access-block")["inputs"]
        for flag in ("blockPublicAcls", "blockPublicPolicy", "ignorePublicAcls", "restrictPublicBuckets"):
            assert block[flag] is True, (purpose, flag)
        assert setting(resources, purpose, "ownership")["inputs"]["rule"] == {"objectOwnership": "BucketOwnerEnforced"}

        bucket_arn = f"arn:aws:s3:::{name_of(stack, purpose)}"
        statements = policy_of(setting(resources, purpose, "policy"))["Statement"]
        tls_only = {
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": [bucket_arn, f"{bucket_arn}/*"],
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
        assert [{k: s.get(k) for k in tls_only} for s in statements if s["Effect"] == "Deny"] == [tls_only], purpose
        # Nothing is granted to anyone: the only grants are to AWS services, each tied to this account's resources.
        for grant in (s for s in statements if s["Effect"] == "Allow"):
            assert set(grant["Principal"]) == {"Service"} and grant["Condition"], (purpose, grant)


# --- lifecycle ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_bucket_has_lifecycle_rules_fitting_what_it_holds(stack):
    resources = bootstrap_resources(stack)
    config = stack_config(stack)["bank:retention"]
    for purpose in PURPOSES:
        rules = rules_by_id(resources, purpose)
        assert all(rule["status"] == "Enabled" and rule["filter"] == {} for rule in rules.values()), purpose
        aborts = [r for r in rules.values() if "abortIncompleteMultipartUpload" in r]
        assert aborts and aborts[0]["abortIncompleteMultipartUpload"]["daysAfterInitiation"] <= 7, purpose
        assert any("noncurrentVersionExpiration" in r for r in rules.values()), purpose
    expiring = {
        purpose
        for purpose in PURPOSES
        if any("expiration" in rule for rule in rules_by_id(resources, purpose).values())
    }
    # Documents, audit records and the builds release pins name never expire; the landing zone and logs do.
    assert expiring == {"landing-zone", "access-logs"}
    [landing] = [r for r in rules_by_id(resources, "landing-zone").values() if "expiration" in r]
    assert landing["transitions"] and all(t["days"] < landing["expiration"]["days"] for t in landing["transitions"])
    [logs] = [r for r in rules_by_id(resources, "access-logs").values() if "expiration" in r]
    assert logs["expiration"] == {"days": config["logRetentionDays"]}
    # A noncurrent audit version outlives the Object Lock retention before lifecycle may remove it.
    [audit] = [r for r in rules_by_id(resources, "audit-archive").values() if "noncurrentVersionExpiration" in r]
    assert audit["noncurrentVersionExpiration"]["noncurrentDays"] >= 366 * config["auditArchiveYears"]


# --- access logging -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_bucket_but_the_access_log_bucket_logs_to_it(stack):
    account, _ = account_region(stack)
    resources = bootstrap_resources(stack)
    target = name_of(stack, "access-logs")
    for purpose in SOURCES:
        logging = setting(resources, purpose, "logging")
        assert logging["inputs"] == {
            "bucket": name_of(stack, purpose),
            "targetBucket": target,
            "targetPrefix": f"{name_of(stack, purpose)}/",
        }
        # Delivery starts only once the target's policy admits the logging service.
        assert setting(resources, "access-logs", "policy")["urn"] in logging["dependencies"]
    assert "aws-bootstrap-access-logs-logging" not in resources  # it does not log to itself
    [delivery] = [
        s for s in policy_of(setting(resources, "access-logs", "policy"))["Statement"] if s["Effect"] == "Allow"
    ]
    assert delivery["Principal"] == {"Service": "logging.s3.amazonaws.com"} and delivery["Action"] == "s3:PutObject"
    assert sorted(delivery["Resource"]) == sorted(f"arn:aws:s3:::{target}/{name_of(stack, p)}/*" for p in SOURCES)
    assert delivery["Condition"] == {
        "ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{name_of(stack, p)}" for p in SOURCES]},
        "StringEquals": {"aws:SourceAccount": account},
    }


# --- Object Lock --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stack", "mode"), [("dev", "GOVERNANCE"), ("uat", "COMPLIANCE"), ("prod", "COMPLIANCE")])
def test_the_audit_archive_has_object_lock_with_the_stacks_retention(stack, mode):
    years = stack_config(stack)["bank:retention"]["auditArchiveYears"]
    resources = bootstrap_resources(stack)
    assert setting(resources, "audit-archive", "bucket")["inputs"]["objectLockEnabled"] is True  # only at creation
    lock = setting(resources, "audit-archive", "object-lock")
    assert lock["inputs"]["objectLockEnabled"] == "Enabled"
    assert lock["inputs"]["rule"] == {"defaultRetention": {"mode": mode, "years": years}}
    assert setting(resources, "audit-archive", "versioning")["urn"] in lock["dependencies"]  # needs versioning
    if stack == "prod":
        assert years >= 7  # AML/CTF record keeping
    for purpose in ("documents", "landing-zone", "artifacts", "access-logs"):
        assert f"aws-bootstrap-{purpose}-object-lock" not in resources
        # The access-log bucket must not have it: S3 does not deliver access logs into Object Lock buckets.
        assert not setting(resources, purpose, "bucket")["inputs"].get("objectLockEnabled")


# --- CloudTrail ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_cloudtrail_records_every_region_into_the_audit_archive_and_its_log_group(stack):
    account, region = account_region(stack)
    resources = bootstrap_resources(stack)
    trail = resources["aws-bootstrap-trail"]
    log_group = resources["aws-bootstrap-trail-logs"]
    platform_key = resources["aws-bootstrap-sd07-key"]["outputs"]["arn"]
    inputs = trail["inputs"]
    assert inputs["name"] == f"bank-{stack}-audit-trail"
    assert trail["id"] == f"arn:aws:cloudtrail:{region}:{account}:trail/bank-{stack}-audit-trail"
    assert inputs["isMultiRegionTrail"] is True
    assert inputs["includeGlobalServiceEvents"] is True
    assert inputs["enableLogFileValidation"] is True
    assert inputs["enableLogging"] is True  # active from the first deploy
    assert inputs["kmsKeyId"] == platform_key
    assert inputs["s3BucketName"] == name_of(stack, "audit-archive")
    assert inputs["cloudWatchLogsGroupArn"] == f"arn:aws:logs:{region}:{account}:log-group:/bank/{stack}/cloudtrail:*"
    assert inputs["cloudWatchLogsGroupArn"] == log_group["outputs"]["arn"] + ":*"  # the log-stream wildcard added
    assert inputs["cloudWatchLogsRoleArn"] == resources["aws-bootstrap-trail-logs-role"]["outputs"]["arn"]
    assert inputs["tags"] == MODULE_TAGS
    # S3 data events: every read and write of a customer document.
    assert inputs["eventSelectors"] == [
        {
            "readWriteType": "All",
            "includeManagementEvents": True,
            "dataResources": [{"type": "AWS::S3::Object", "values": [f"arn:aws:s3:::{name_of(stack, 'documents')}/"]}],
        }
    ]
    # CreateTrail checks the bucket policy and the delivery role, so both come first.
    assert setting(resources, "audit-archive", "policy")["urn"] in trail["dependencies"]
    assert resources["aws-bootstrap-trail-logs-policy"]["urn"] in trail["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_audit_archive_admits_this_trail_only(stack):
    account, region = account_region(stack)
    trail_arn = f"arn:aws:cloudtrail:{region}:{account}:trail/bank-{stack}-audit-trail"
    bucket = name_of(stack, "audit-archive")
    statements = policy_of(setting(bootstrap_resources(stack), "audit-archive", "policy"))["Statement"]
    grants = {s["Action"]: s for s in statements if s["Effect"] == "Allow"}
    assert set(grants) == {"s3:GetBucketAcl", "s3:PutObject"}
    assert all(g["Principal"] == {"Service": "cloudtrail.amazonaws.com"} for g in grants.values())
    assert grants["s3:GetBucketAcl"]["Resource"] == f"arn:aws:s3:::{bucket}"
    assert grants["s3:GetBucketAcl"]["Condition"] == {"StringEquals": {"aws:SourceArn": trail_arn}}
    assert grants["s3:PutObject"]["Resource"] == f"arn:aws:s3:::{bucket}/cloudtrail/AWSLogs/{account}/*"
    assert grants["s3:PutObject"]["Condition"] == {
        "StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}
    }


@pytest.mark.parametrize("stack", STACKS)
def test_the_trail_log_group_is_encrypted_kept_and_written_only_by_cloudtrail(stack):
    account, region = account_region(stack)
    resources = bootstrap_resources(stack)
    group = resources["aws-bootstrap-trail-logs"]
    assert group["inputs"]["name"] == f"/bank/{stack}/cloudtrail"
    assert group["inputs"]["kmsKeyId"] == resources["aws-bootstrap-sd07-key"]["outputs"]["arn"]
    assert group["inputs"]["retentionInDays"] == stack_config(stack)["bank:retention"]["logRetentionDays"]
    [trust] = policy_of(resources["aws-bootstrap-trail-logs-role"], "assumeRolePolicy")["Statement"]
    assert trust["Principal"] == {"Service": "cloudtrail.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
    assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account}}
    [write] = policy_of(resources["aws-bootstrap-trail-logs-policy"])["Statement"]
    assert sorted(write["Action"]) == ["logs:CreateLogStream", "logs:PutLogEvents"]
    assert write["Resource"] == f"arn:aws:logs:{region}:{account}:log-group:/bank/{stack}/cloudtrail:log-stream:*"


# --- data is never lost -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_buckets_the_trail_and_its_log_group_are_protected_and_retained_in_uat_and_prod(stack):
    keep = stack in ("uat", "prod")
    resources = bootstrap_resources(stack)
    stateful = ["aws-bootstrap-trail", "aws-bootstrap-trail-logs"]
    for purpose in PURPOSES:
        # The bucket and every setting of it: a retained bucket must not lose its controls.
        stateful += [n for n, r in resources.items() if r.get("parent") == resources[f"aws-bootstrap-{purpose}"]["urn"]]
    # 7 settings per bucket, logging on the 4 that log, Object Lock on the audit archive.
    assert len(stateful) == 2 + 5 * 7 + 4 + 1
    for name in stateful:
        assert bool(resources[name].get("protect")) is keep, name
        assert bool(resources[name].get("retainOnDelete")) is keep, name


# --- the interface other parts code against; secrets stay secrets ----------------------------------------------
# Retention and sizing as a person would set them with `pulumi config set --secret` (the dev stack's values).
SECRET_VALUES = {
    "bank:retention": {"logRetentionDays": 30, "auditArchiveYears": 1, "eventArchiveDays": 30},
    "bank:sizing": {"kinesisShardCount": 1, "lambdaMemoryMb": 512},
}


@cache
def dev_bootstrap_with_secret_config():
    """MOD-104 alone, for dev with retention and sizing set as secrets: the component and what it registered."""
    from components.build_context import BuildContext
    from components.stack_inputs import StackInputs
    from foundation.aws_bootstrap import AwsBootstrap
    from model.platform import load_platform
    from model.stack_config import read_stack_file, stand_in_missing_credentials

    values, secret_keys = read_stack_file(PROJECT_DIR, "dev")
    values, secret_keys, _ = stand_in_missing_credentials({**values, **SECRET_VALUES}, secret_keys | set(SECRET_VALUES))
    platform = load_platform(PROJECT_DIR, "dev", values, frozenset(secret_keys))
    deployment = next(m for m in platform.modules if m.spec.slug == "aws-bootstrap")
    built = {}

    def program():
        context = BuildContext(platform, StackInputs(platform.config, platform.secret_keys))
        built["bootstrap"] = AwsBootstrap(deployment, context)

    account, region = account_region("dev")
    recording = record_program(program, "bank", "dev", {}, mocks=PlanMocks(account, region))
    return built["bootstrap"], {r.name: r for r in recording.registrations.values()}


def test_bootstrap_exposes_domains_buckets_and_trail_to_other_modules():
    from foundation.aws_bootstrap.encryption_events import DomainFoundation, EncryptionAndEvents
    from foundation.aws_bootstrap.storage import Storage

    bootstrap = dev_bootstrap_with_secret_config()[0]
    assert isinstance(bootstrap.events, EncryptionAndEvents)
    assert sorted(bootstrap.events.domains) == ["SD01", "SD02", "SD03", "SD04", "SD05", "SD06", "SD07", "SD08"]
    for domain, found in bootstrap.events.domains.items():
        assert isinstance(found, DomainFoundation) and found.domain == domain
        assert isinstance(found.key, aws.kms.Key) and isinstance(found.alias, aws.kms.Alias)
        assert isinstance(found.bus, aws.cloudwatch.EventBus) and isinstance(found.archive, aws.cloudwatch.EventArchive)
        assert isinstance(found.stream, aws.kinesis.Stream)
    storage = bootstrap.storage
    assert isinstance(storage, Storage)
    assert [f.name for f in dataclasses.fields(Storage)] == [
        "documents",
        "audit_archive",
        "landing_zone",
        "artifacts",
        "access_logs",
        "trail",
        "trail_log_group",
    ]
    for field in ("documents", "audit_archive", "landing_zone", "artifacts", "access_logs"):
        assert isinstance(getattr(storage, field).bucket, aws.s3.Bucket), field
    assert isinstance(storage.trail, aws.cloudtrail.Trail)
    assert isinstance(storage.trail_log_group, aws.cloudwatch.LogGroup)


def test_retention_and_sizing_set_with_secret_reach_the_plan_only_as_secrets():
    registered = dev_bootstrap_with_secret_config()[1]
    assert "aws-bootstrap-sd01-archive" in registered  # the program ran

    def is_secret(value) -> bool:
        return isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG

    assert is_secret(registered["aws-bootstrap-sd01-archive"].inputs["retentionDays"])
    assert is_secret(registered["aws-bootstrap-sd01-stream"].inputs["shardCount"])
    assert is_secret(registered["aws-bootstrap-trail-logs"].inputs["retentionInDays"])
    lock = registered["aws-bootstrap-audit-archive-object-lock"].inputs["rule"]["defaultRetention"]
    assert is_secret(lock["years"]) and lock["mode"] == "GOVERNANCE"
    [expiry] = [r for r in registered["aws-bootstrap-access-logs-lifecycle"].inputs["rules"] if "expiration" in r]
    assert is_secret(expiry["expiration"]["days"])


# --- the component on its own, and the ids the offline plan gives its types ---------------------------------------
def test_an_encrypted_bucket_without_a_key_or_log_target_is_only_what_the_access_log_bucket_is():
    from components.encrypted_bucket import EncryptedBucket, EncryptedBucketArgs

    def program():
        EncryptedBucket(
            "logs",
            EncryptedBucketArgs(bucket_name="bank-dev-logs-123456789012", kms_key=None, lifecycle_rules=[], tags={}),
        )

    recording = record_program(program, "bank", "dev", {}, mocks=PlanMocks("123456789012", "ap-southeast-2"))
    by_name = {r.name: r for r in recording.registrations.values()}
    assert "logs-logging" not in by_name and "logs-object-lock" not in by_name
    assert by_name["logs-encryption"].inputs["rules"][0]["applyServerSideEncryptionByDefault"] == {
        "sseAlgorithm": "AES256"
    }
    assert not by_name["logs-bucket"].protect and not by_name["logs-bucket"].retain_on_delete


def test_bucket_and_trail_types_get_provider_shaped_ids_and_arns():
    def program():
        bucket = aws.s3.Bucket("bucket", bucket="bank-dev-documents-123456789012")
        aws.s3.BucketVersioning(
            "versioning",
            bucket=bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
        )
        aws.s3.BucketPolicy("policy", bucket=bucket.id, policy="{}")
        aws.s3.BucketLogging(
            "logging", bucket=bucket.id, target_bucket="t", target_prefix="p/", expected_bucket_owner="123456789012"
        )
        aws.cloudtrail.Trail("trail", name="bank-dev-audit-trail", s3_bucket_name=bucket.id)
        pulumi.export("arn", bucket.arn)

    recording = record_program(program, "bank", "dev", {}, mocks=PlanMocks("123456789012", "ap-southeast-2"))
    by_name = {r.name: r for r in recording.registrations.values()}
    bucket = by_name["bucket"]
    assert bucket.id == "bank-dev-documents-123456789012"
    assert bucket.outputs["arn"] == "arn:aws:s3:::bank-dev-documents-123456789012"  # no region, no account
    assert by_name["versioning"].id == by_name["policy"].id == bucket.id
    assert by_name["logging"].id == "bank-dev-documents-123456789012,123456789012"  # BUCKET,EXPECTED_OWNER
    trail_arn = "arn:aws:cloudtrail:ap-southeast-2:123456789012:trail/bank-dev-audit-trail"
    assert by_name["trail"].id == by_name["trail"].outputs["arn"] == trail_arn  # the provider's id is the ARN
    assert by_name["trail"].outputs["homeRegion"] == "ap-southeast-2"


def test_the_plans_hold_no_invented_id_or_arn_for_bootstrap_resources():
    for stack in STACKS:
        for name, resource in bootstrap_resources(stack).items():
            assert "offline-invented" not in json.dumps(resource), (stack, name)
    assert offline_plan("dev").document  # the real program, as written to build/plan-dev.json
