"""An S3 bucket with the bank's baseline, as one component: `<slug>-<bucket>` owns the bucket and its settings.

Every bucket of the platform gets the same controls (MOD-104 issue; AWS Foundational Security Best Practices
S3.1/S3.2/S3.5/S3.8/S3.9/S3.14/S3.17/S3.19): default encryption with a customer managed KMS key and an S3
Bucket Key, versioning, all four public-access blocks, ACLs disabled (BucketOwnerEnforced), a bucket policy
that refuses any request not made over TLS, lifecycle rules, server access logging to the access-log bucket,
and, where asked, Object Lock with a default retention.

In uat and prod (`protect=True`) the bucket and every setting of it are protected and retained on delete:
a retained bucket whose public-access block, TLS-only policy or encryption setting had been deleted would
be a live bucket without its controls.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import pulumi
import pulumi_aws as aws

ObjectLockMode = Literal["GOVERNANCE", "COMPLIANCE"]


@dataclass(frozen=True)
class ObjectLockRetention:
    """The default retention every new object version gets (S3 Object Lock)."""

    mode: ObjectLockMode
    years: pulumi.Input[int]


@dataclass(frozen=True)
class EncryptedBucketArgs:
    bucket_name: pulumi.Input[str]
    # The customer managed key of SSE-KMS. None means SSE-S3 (AES256) and is for the access-log bucket only:
    # S3 server access logs can be delivered only to a bucket whose default encryption is SSE-S3.
    kms_key: aws.kms.Key | None
    lifecycle_rules: Sequence[aws.s3.BucketLifecycleConfigurationRuleArgs]
    tags: Mapping[str, str]
    # Where S3 server access logs go; None only for the access-log bucket itself (it must not log to itself).
    access_logs: EncryptedBucket | None = None
    object_lock: ObjectLockRetention | None = None
    # Statements granted beside the TLS-only deny (service principals that deliver into this bucket).
    policy_statements: pulumi.Input[Sequence[Any]] = field(default_factory=list)
    # Protect and retain on delete (uat and prod: BuildContext.protect_stateful).
    protect: bool = False


def tls_only_statement(bucket_arn: str) -> dict[str, Any]:
    """Deny every request that is not made over TLS (AWS FSBP S3.5)."""
    return {
        "Sid": "DenyRequestsWithoutTls",
        "Effect": "Deny",
        "Principal": "*",
        "Action": "s3:*",
        "Resource": [bucket_arn, f"{bucket_arn}/*"],
        "Condition": {"Bool": {"aws:SecureTransport": "false"}},
    }


class EncryptedBucket(pulumi.ComponentResource):
    def __init__(self, name: str, args: EncryptedBucketArgs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bank:components:EncryptedBucket", name, None, opts)
        self.args = args

        def child(**options) -> pulumi.ResourceOptions:
            return pulumi.ResourceOptions(parent=self, protect=args.protect, retain_on_delete=args.protect, **options)

        self.bucket = aws.s3.Bucket(
            f"{name}-bucket",
            bucket=args.bucket_name,
            # Object Lock can only be switched on when the bucket is created (and needs versioning).
            object_lock_enabled=True if args.object_lock else None,
            force_destroy=False,
            tags=dict(args.tags),
            opts=child(),
        )
        self.ownership = aws.s3.BucketOwnershipControls(
            f"{name}-ownership",
            bucket=self.bucket.id,
            # ACLs disabled: the bucket policy alone decides access, and the account owns every object.
            rule=aws.s3.BucketOwnershipControlsRuleArgs(object_ownership="BucketOwnerEnforced"),
            opts=child(),
        )
        self.public_access_block = aws.s3.BucketPublicAccessBlock(
            f"{name}-public-access-block",
            bucket=self.bucket.id,
            block_public_acls=True,
            block_public_policy=True,
            ignore_public_acls=True,
            restrict_public_buckets=True,
            opts=child(),
        )
        self.versioning = aws.s3.BucketVersioning(
            f"{name}-versioning",
            bucket=self.bucket.id,
            versioning_configuration=aws.s3.BucketVersioningVersioningConfigurationArgs(status="Enabled"),
            opts=child(),
        )
        rule = aws.s3.BucketServerSideEncryptionConfigurationRuleArgs
        by_default = aws.s3.BucketServerSideEncryptionConfigurationRuleApplyServerSideEncryptionByDefaultArgs
        if args.kms_key is not None:
            # An S3 Bucket Key lets S3 reuse a data key per bucket: far fewer KMS requests (AWS: up to 99% less).
            encryption = rule(
                apply_server_side_encryption_by_default=by_default(
                    sse_algorithm="aws:kms", kms_master_key_id=args.kms_key.arn
                ),
                bucket_key_enabled=True,
            )
        else:
            encryption = rule(apply_server_side_encryption_by_default=by_default(sse_algorithm="AES256"))
        self.encryption = aws.s3.BucketServerSideEncryptionConfiguration(
            f"{name}-encryption", bucket=self.bucket.id, rules=[encryption], opts=child()
        )
        policy = pulumi.Output.all(self.bucket.arn, args.policy_statements).apply(
            lambda values: json.dumps(
                {"Version": "2012-10-17", "Statement": [tls_only_statement(values[0]), *values[1]]}
            )
        )
        # After the public-access block: S3 refuses concurrent changes to one bucket's configuration.
        self.policy = aws.s3.BucketPolicy(
            f"{name}-policy", bucket=self.bucket.id, policy=policy, opts=child(depends_on=[self.public_access_block])
        )
        self.object_lock: aws.s3.BucketObjectLockConfiguration | None = None
        if args.object_lock is not None:
            self.object_lock = aws.s3.BucketObjectLockConfiguration(
                f"{name}-object-lock",
                bucket=self.bucket.id,
                object_lock_enabled="Enabled",
                rule=aws.s3.BucketObjectLockConfigurationRuleArgs(
                    default_retention=aws.s3.BucketObjectLockConfigurationRuleDefaultRetentionArgs(
                        mode=args.object_lock.mode, years=args.object_lock.years
                    )
                ),
                opts=child(depends_on=[self.versioning]),
            )
        # Noncurrent-version rules act only once versioning is on.
        self.lifecycle = aws.s3.BucketLifecycleConfiguration(
            f"{name}-lifecycle",
            bucket=self.bucket.id,
            rules=list(args.lifecycle_rules),
            opts=child(depends_on=[self.versioning]),
        )
        self.logging: aws.s3.BucketLogging | None = None
        if args.access_logs is not None:
            # Delivery starts only once the target's policy lets the S3 logging service write this prefix.
            self.logging = aws.s3.BucketLogging(
                f"{name}-logging",
                bucket=self.bucket.id,
                target_bucket=args.access_logs.bucket.id,
                target_prefix=self.bucket.bucket.apply(access_log_prefix),
                opts=child(depends_on=[args.access_logs.policy]),
            )
        self.register_outputs({"bucketName": self.bucket.bucket, "arn": self.bucket.arn})


def access_log_prefix(source_bucket_name: str) -> str:
    """Where a source bucket's server access logs land in the access-log bucket."""
    return f"{source_bucket_name}/"
