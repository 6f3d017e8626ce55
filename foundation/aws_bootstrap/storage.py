"""MOD-104 part A: the platform's S3 buckets and CloudTrail.

Deployment sequence, step 0.1: MOD-104 provisions "S3 buckets (document storage, audit log archive, data lake
landing zone)" and "CloudTrail (audit trail — active from first deploy)". Beside those three, the artifacts
bucket (the builds that release pins name) and the access-log bucket every other bucket logs to.

Each bucket is an `EncryptedBucket` (components/encrypted_bucket.py) named `bank-{env}-{purpose}-{account}`:
bucket names are global across AWS, and the account suffix keeps every stack's names unique.

Keys: SD07, the data platform, owns the platform buckets (audit archive, landing zone, artifacts) and the
trail; the document bucket takes SD02's key (see DOCUMENTS_KEY_DOMAIN). The access-log bucket alone uses SSE-S3,
because S3 server access logs cannot be delivered to a bucket whose default encryption is SSE-KMS.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from components.encrypted_bucket import EncryptedBucket, EncryptedBucketArgs, ObjectLockRetention, access_log_prefix
from foundation.iam_documents import POLICY_VERSION, json_document, service_trust

if TYPE_CHECKING:
    from foundation.aws_bootstrap import AwsBootstrap

# SD07 Data Platform owns the platform's own data: the audit archive, the landing zone, the artifacts, the trail.
PLATFORM_KEY_DOMAIN = "SD07"
# Customer documents are KYC evidence (identity documents, proof of address) that SD02 KYC collects and is
# accountable for; under SD02's key, who may decrypt them is decided with who may read customer identity data,
# and the data platform's key (read by analytics and data engineering roles) never opens them.
DOCUMENTS_KEY_DOMAIN = "SD02"
# Where the trail writes in the audit archive: <prefix>/AWSLogs/<account>/CloudTrail/...
TRAIL_S3_PREFIX = "cloudtrail"
# Deleted or overwritten versions of customer documents stay recoverable for a year.
DOCUMENT_NONCURRENT_DAYS = 365
# Raw data the pipelines load into Snowflake: kept a year, so a load can be re-run from it.
LANDING_ZONE_EXPIRY_DAYS = 365
# An upload left incomplete this long was abandoned; its parts would otherwise be stored (and billed) forever.
MULTIPART_ABORT_DAYS = 7


@dataclass(frozen=True)
class Storage:
    documents: EncryptedBucket
    audit_archive: EncryptedBucket
    landing_zone: EncryptedBucket
    artifacts: EncryptedBucket
    access_logs: EncryptedBucket  # each exposes `.bucket` (aws.s3.Bucket)
    trail: aws.cloudtrail.Trail
    # CloudTrail's CloudWatch Logs group (MOD-076 puts the CIS metric filters on it).
    trail_log_group: aws.cloudwatch.LogGroup


def bucket_name(environment: str, purpose: str, account: str) -> str:
    return f"bank-{environment}-{purpose}-{account}"


def audit_trail_name(environment: str) -> str:
    return f"bank-{environment}-audit-trail"


def trail_log_group_name(environment: str) -> str:
    return f"/bank/{environment}/cloudtrail"


def object_lock_mode(environment: str) -> str:
    """COMPLIANCE where the records are real (uat, prod): nobody, not even the root user, can shorten or lift it.
    GOVERNANCE in dev and local, where a privileged user may still clean up test data."""
    return "COMPLIANCE" if environment in ("uat", "prod") else "GOVERNANCE"


def cloudtrail_delivery_statements(environment: str, account: str, region: str, bucket: str) -> list[dict[str, Any]]:
    """What CloudTrail needs in the audit archive's bucket policy, for this account's trail only
    (CloudTrail user guide, "Amazon S3 bucket policy for CloudTrail", with aws:SourceArn)."""
    trail_arn = f"arn:aws:cloudtrail:{region}:{account}:trail/{audit_trail_name(environment)}"
    return [
        {
            "Sid": "CloudTrailChecksBucketAcl",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:GetBucketAcl",
            "Resource": f"arn:aws:s3:::{bucket}",
            "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
        },
        {
            "Sid": "CloudTrailWritesTrailLogs",
            "Effect": "Allow",
            "Principal": {"Service": "cloudtrail.amazonaws.com"},
            "Action": "s3:PutObject",
            "Resource": f"arn:aws:s3:::{bucket}/{TRAIL_S3_PREFIX}/AWSLogs/{account}/*",
            "Condition": {"StringEquals": {"s3:x-amz-acl": "bucket-owner-full-control", "aws:SourceArn": trail_arn}},
        },
    ]


def access_log_delivery_statement(account: str, target: str, sources: list[str]) -> dict[str, Any]:
    """The S3 logging service may write each source bucket's logs under that bucket's prefix, and only for this
    account's buckets (ACLs are disabled, so the bucket policy is the only way to grant it)."""
    return {
        "Sid": "S3ServerAccessLogDelivery",
        "Effect": "Allow",
        "Principal": {"Service": "logging.s3.amazonaws.com"},
        "Action": "s3:PutObject",
        "Resource": [f"arn:aws:s3:::{target}/{access_log_prefix(source)}*" for source in sources],
        "Condition": {
            "ArnLike": {"aws:SourceArn": [f"arn:aws:s3:::{source}" for source in sources]},
            "StringEquals": {"aws:SourceAccount": account},
        },
    }


# --- lifecycle rules, per bucket ----------------------------------------------------------------------------
def _rule(rule_id: str, **settings) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return aws.s3.BucketLifecycleConfigurationRuleArgs(
        id=rule_id,
        status="Enabled",
        filter=aws.s3.BucketLifecycleConfigurationRuleFilterArgs(),  # the whole bucket
        **settings,
    )


def _abort_incomplete_uploads() -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return _rule(
        "abort-incomplete-multipart-uploads",
        abort_incomplete_multipart_upload=aws.s3.BucketLifecycleConfigurationRuleAbortIncompleteMultipartUploadArgs(
            days_after_initiation=MULTIPART_ABORT_DAYS
        ),
    )


def _expire_noncurrent(days: pulumi.Input[int]) -> aws.s3.BucketLifecycleConfigurationRuleArgs:
    return _rule(
        "expire-noncurrent-versions",
        noncurrent_version_expiration=aws.s3.BucketLifecycleConfigurationRuleNoncurrentVersionExpirationArgs(
            noncurrent_days=days
        ),
    )


def _transition(days: int, storage_class: str) -> aws.s3.BucketLifecycleConfigurationRuleTransitionArgs:
    return aws.s3.BucketLifecycleConfigurationRuleTransitionArgs(days=days, storage_class=storage_class)


def document_lifecycle() -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    # Customer documents are kept as long as the customer relationship requires: no current-version expiry.
    return [
        _abort_incomplete_uploads(),
        _expire_noncurrent(DOCUMENT_NONCURRENT_DAYS),
        _rule("infrequent-access-after-90-days", transitions=[_transition(90, "STANDARD_IA")]),
    ]


def audit_archive_lifecycle(noncurrent_days: pulumi.Input[int]) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    # Current audit objects never expire; Object Lock keeps every version for the retention period, and a
    # noncurrent version is only removed after it (noncurrent_days covers the whole retention).
    return [
        _abort_incomplete_uploads(),
        _expire_noncurrent(noncurrent_days),
        # Glacier Instant Retrieval: rarely read, still readable at once by auditors and Athena.
        _rule("glacier-instant-retrieval-after-90-days", transitions=[_transition(90, "GLACIER_IR")]),
    ]


def landing_zone_lifecycle() -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    return [
        _abort_incomplete_uploads(),
        _expire_noncurrent(30),
        _rule(
            "tier-then-expire-raw-data",
            transitions=[_transition(30, "STANDARD_IA"), _transition(90, "GLACIER_IR")],
            expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=LANDING_ZONE_EXPIRY_DAYS),
        ),
    ]


def artifact_lifecycle() -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    # Release pins (and rollback to the last known-good release) name builds by key: current builds never expire.
    return [_abort_incomplete_uploads(), _expire_noncurrent(90)]


def access_log_lifecycle(retention_days: pulumi.Input[int]) -> list[aws.s3.BucketLifecycleConfigurationRuleArgs]:
    # Access logs are kept as long as the stack keeps its other logs (retention.logRetentionDays).
    return [
        _abort_incomplete_uploads(),
        _expire_noncurrent(30),
        _rule(
            "expire-access-logs", expiration=aws.s3.BucketLifecycleConfigurationRuleExpirationArgs(days=retention_days)
        ),
    ]


def _text(compute, *values) -> pulumi.Output:
    """A value computed from inputs that may be plain values or Outputs (a secret config value stays secret)."""
    return pulumi.Output.all(*values).apply(lambda resolved: compute(*resolved))


def build_storage(bootstrap: AwsBootstrap) -> Storage:
    spec = bootstrap.deployment.spec
    inputs = bootstrap.inputs
    environment = inputs.config.environment
    keep = bootstrap.context.protect_stateful
    account, region = inputs["awsAccountId"], inputs["region"]
    domains = bootstrap.events.domains
    platform_key = domains[PLATFORM_KEY_DOMAIN].key

    purposes = ("documents", "audit-archive", "landing-zone", "artifacts")
    names = {p: _text(lambda a, p=p: bucket_name(environment, p, a), account) for p in (*purposes, "access-logs")}

    def bucket(purpose: str, **settings) -> EncryptedBucket:
        return EncryptedBucket(
            f"{spec.resource_name}-{purpose}",
            EncryptedBucketArgs(bucket_name=names[purpose], tags=spec.tags, protect=keep, **settings),
            opts=bootstrap.stateful_options(),
        )

    access_logs = bucket(
        "access-logs",
        kms_key=None,  # SSE-S3: the only encryption S3 server access logging delivers into
        lifecycle_rules=access_log_lifecycle(inputs["retention.logRetentionDays"]),
        policy_statements=_text(
            lambda a, target, *sources: [access_log_delivery_statement(a, target, list(sources))],
            account,
            names["access-logs"],
            *(names[p] for p in purposes),
        ),
    )
    documents = bucket(
        "documents",
        kms_key=domains[DOCUMENTS_KEY_DOMAIN].key,
        lifecycle_rules=document_lifecycle(),
        access_logs=access_logs,
    )
    audit_archive = bucket(
        "audit-archive",
        kms_key=platform_key,
        lifecycle_rules=audit_archive_lifecycle(inputs.derived("retention.auditArchiveYears", lambda y: y * 366)),
        access_logs=access_logs,
        object_lock=ObjectLockRetention(
            mode=object_lock_mode(environment), years=inputs["retention.auditArchiveYears"]
        ),
        policy_statements=_text(
            lambda a, r, b: cloudtrail_delivery_statements(environment, a, r, b),
            account,
            region,
            names["audit-archive"],
        ),
    )
    landing_zone = bucket(
        "landing-zone", kms_key=platform_key, lifecycle_rules=landing_zone_lifecycle(), access_logs=access_logs
    )
    artifacts = bucket("artifacts", kms_key=platform_key, lifecycle_rules=artifact_lifecycle(), access_logs=access_logs)

    trail, log_group = _build_trail(bootstrap, audit_archive, documents, platform_key)
    return Storage(
        documents=documents,
        audit_archive=audit_archive,
        landing_zone=landing_zone,
        artifacts=artifacts,
        access_logs=access_logs,
        trail=trail,
        trail_log_group=log_group,
    )


def _build_trail(
    bootstrap: AwsBootstrap, audit_archive: EncryptedBucket, documents: EncryptedBucket, key: aws.kms.Key
) -> tuple[aws.cloudtrail.Trail, aws.cloudwatch.LogGroup]:
    """The account's audit trail, active from the first deploy (deployment sequence, step 0.1)."""
    spec = bootstrap.deployment.spec
    inputs = bootstrap.inputs
    environment = inputs.config.environment
    name = spec.resource_name
    # Audit data: KMS-encrypted and stateful, kept retention.logRetentionDays (the archive keeps it for years).
    log_group = aws.cloudwatch.LogGroup(
        f"{name}-trail-logs",
        name=trail_log_group_name(environment),
        retention_in_days=inputs["retention.logRetentionDays"],
        kms_key_id=key.arn,
        tags=spec.tags,
        opts=bootstrap.stateful_options(),
    )
    role = aws.iam.Role(
        f"{name}-trail-logs-role",
        name=f"bank-{environment}-cloudtrail-to-logs",
        description="CloudTrail delivers the audit trail to its CloudWatch Logs group",
        # CloudTrail acting for this account only (confused-deputy guard).
        assume_role_policy=json_document(
            lambda a: service_trust("cloudtrail.amazonaws.com", a), inputs["awsAccountId"]
        ),
        permissions_boundary=bootstrap.platform_boundary.arn,
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    role_policy = aws.iam.RolePolicy(
        f"{name}-trail-logs-policy",
        name="deliver-to-trail-log-group",
        role=role.id,
        policy=json_document(
            lambda arn: {
                "Version": POLICY_VERSION,
                "Statement": [
                    {
                        "Sid": "WriteTrailLogStreams",
                        "Effect": "Allow",
                        "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                        "Resource": f"{arn}:log-stream:*",
                    }
                ],
            },
            log_group.arn,
        ),
        opts=bootstrap.child_options(),
    )
    trail = aws.cloudtrail.Trail(
        f"{name}-trail",
        name=audit_trail_name(environment),
        s3_bucket_name=audit_archive.bucket.id,
        s3_key_prefix=TRAIL_S3_PREFIX,
        enable_logging=True,
        is_multi_region_trail=True,
        include_global_service_events=True,
        enable_log_file_validation=True,
        kms_key_id=key.arn,
        # CloudTrail wants the log-stream wildcard on the group's ARN; the provider's `arn` has none.
        cloud_watch_logs_group_arn=log_group.arn.apply(lambda arn: f"{arn}:*"),
        cloud_watch_logs_role_arn=role.arn,
        event_selectors=[
            aws.cloudtrail.TrailEventSelectorArgs(
                read_write_type="All",
                include_management_events=True,
                # Every read and write of a customer document is recorded (S3 data events).
                data_resources=[
                    aws.cloudtrail.TrailEventSelectorDataResourceArgs(
                        type="AWS::S3::Object", values=[documents.bucket.arn.apply(lambda arn: f"{arn}/")]
                    )
                ],
            )
        ],
        tags=spec.tags,
        # CreateTrail checks the bucket policy and the role's permissions, so both exist first.
        opts=bootstrap.stateful_options(depends_on=[audit_archive.policy, role_policy]),
    )
    return trail, log_group
