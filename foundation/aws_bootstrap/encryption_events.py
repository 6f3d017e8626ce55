"""MOD-104 part A: per system domain, its envelope key, event bus, bus archive and event stream.

Deployment sequence, step 0.1: MOD-104 provisions "EventBridge buses (one per system domain)", "KMS keys
(per-domain envelope encryption keys)" and "Kinesis Data Streams (event streaming backbone)". For each of
SD01 … SD08:

- a KMS key (rotation on, 30-day deletion window) and its alias `alias/bank-{env}-{domain}`. The key policy
  names who may use it: the account root, which delegates to IAM policies (the identity part's per-service
  roles get access that way), and AWS services only under conditions that tie them to this account's own
  resources (`aws:SourceAccount`, `aws:SourceArn`, `kms:EncryptionContext:*`) — never `"Principal": "*"`;
- the bus `bank-{env}-{domain}`, whose resource policy admits this account only;
- an archive of the bus, encrypted with the domain key, kept `retention.eventArchiveDays` (0 = forever), so a
  late subscriber such as AML can replay what came before its subscriptions (DESIGN G9);
- the stream `bank-{env}-{domain}-events`, KMS-encrypted with the domain key, 168 hours' retention,
  `sizing.kinesisShardCount` shards, fed from the bus by a rule matching every event of the account through
  a role that may only put records on that stream with that key, capped by MOD-104's platform boundary.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from foundation.aws_bootstrap.storage import PLATFORM_KEY_DOMAIN, audit_trail_name
from foundation.iam_documents import json_document, service_trust
from model.phases import DOMAINS

if TYPE_CHECKING:
    from foundation.aws_bootstrap import AwsBootstrap

# KMS's longest pending-deletion window: a key scheduled for deletion by mistake can be recovered for 30 days.
KEY_DELETION_WINDOW_DAYS = 30
# Kinesis keeps records 24 h by default; a week lets a consumer that was down for days catch up.
STREAM_RETENTION_HOURS = 168


@dataclass(frozen=True)
class DomainFoundation:
    domain: str  # "SD01" … "SD08"
    key: aws.kms.Key  # the domain's envelope key
    alias: aws.kms.Alias  # alias/bank-{env}-{domain lower}
    bus: aws.cloudwatch.EventBus  # bank-{env}-{domain lower}
    archive: aws.cloudwatch.EventArchive
    stream: aws.kinesis.Stream  # bank-{env}-{domain lower}-events


@dataclass(frozen=True)
class EncryptionAndEvents:
    domains: dict[str, DomainFoundation]  # by "SD01" … "SD08"


def bus_name(environment: str, domain: str) -> str:
    return f"bank-{environment}-{domain.lower()}"


def key_alias_name(environment: str, domain: str) -> str:
    return f"alias/bank-{environment}-{domain.lower()}"


def stream_name(environment: str, domain: str) -> str:
    return f"bank-{environment}-{domain.lower()}-events"


def domain_key_policy(domain: str, environment: str, account: str, region: str) -> dict[str, Any]:
    """The key policy of a domain key: who may use it, and on what condition."""
    bus_arn = f"arn:aws:events:{region}:{account}:event-bus/{bus_name(environment, domain)}"
    statements: list[dict[str, Any]] = [
        {
            # The account (not any principal in it) administers the key and delegates use to IAM policies; without
            # this statement nobody could manage the key (KMS default key policy).
            "Sid": "AccountAdministersKeyThroughIam",
            "Effect": "Allow",
            "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
            "Action": "kms:*",
            "Resource": "*",
        },
        {
            # Log groups of this account and region may be encrypted with the domain key (CloudWatch Logs
            # encrypts under the log group's ARN as encryption context).
            "Sid": "CloudWatchLogsForThisAccountsLogGroups",
            "Effect": "Allow",
            "Principal": {"Service": f"logs.{region}.amazonaws.com"},
            "Action": ["kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"],
            "Resource": "*",
            "Condition": {
                "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"}
            },
        },
        {
            "Sid": "EventBridgeDescribesKeyForThisAccount",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": "kms:DescribeKey",
            "Resource": "*",
            "Condition": {"StringEquals": {"aws:SourceAccount": account}},
        },
        {
            # The domain bus's archive (DESIGN G9): EventBridge encrypts archived events under the bus ARN.
            "Sid": "EventBridgeArchivesThisDomainsBus",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncrypt*"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {
                    "aws:SourceAccount": account,
                    "kms:EncryptionContext:aws:events:event-bus:arn": bus_arn,
                }
            },
        },
        {
            # Rules deliver subscribed events into the subscribers' queues (and dead-letter into their DLQs), which
            # are encrypted with the subscriber's domain key: the sender needs the key (SQS developer guide, "Amazon
            # SQS key management"; SQS encrypts under the queue ARN as encryption context).
            "Sid": "EventBridgeDeliversIntoThisStacksQueues",
            "Effect": "Allow",
            "Principal": {"Service": "events.amazonaws.com"},
            "Action": ["kms:GenerateDataKey", "kms:Decrypt"],
            "Resource": "*",
            "Condition": {
                "StringEquals": {"aws:SourceAccount": account},
                "StringLike": {
                    "kms:EncryptionContext:aws:sqs:arn": f"arn:aws:sqs:{region}:{account}:bank-{environment}-*"
                },
            },
        },
    ]
    if domain == PLATFORM_KEY_DOMAIN:
        trail_arn = f"arn:aws:cloudtrail:{region}:{account}:trail/{audit_trail_name(environment)}"
        statements += [
            {
                # CloudTrail encrypts log and digest files of this account's trail (CloudTrail user guide,
                # "Configure AWS KMS key policies for CloudTrail": aws:SourceArn plus the trail encryption context).
                "Sid": "CloudTrailEncryptsTheAuditTrail",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:GenerateDataKey*",
                "Resource": "*",
                "Condition": {
                    "StringEquals": {"aws:SourceArn": trail_arn},
                    "StringLike": {
                        "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"
                    },
                },
            },
            {
                "Sid": "CloudTrailDescribesKeyForTheAuditTrail",
                "Effect": "Allow",
                "Principal": {"Service": "cloudtrail.amazonaws.com"},
                "Action": "kms:DescribeKey",
                "Resource": "*",
                "Condition": {"StringEquals": {"aws:SourceArn": trail_arn}},
            },
            *(
                {
                    # MOD-076's alert topics are encrypted with this key: CloudWatch alarms and EventBridge rules
                    # that publish to them need a data key, for those topics only (SNS encrypts under the topic ARN).
                    "Sid": f"{sid}PublishToEncryptedAlertTopics",
                    "Effect": "Allow",
                    "Principal": {"Service": service},
                    "Action": ["kms:Decrypt", "kms:GenerateDataKey*"],
                    "Resource": "*",
                    "Condition": {
                        "StringEquals": {"aws:SourceAccount": account},
                        "StringLike": {
                            "kms:EncryptionContext:aws:sns:topicArn": (
                                f"arn:aws:sns:{region}:{account}:bank-{environment}-alerts-*"
                            )
                        },
                    },
                }
                for sid, service in (("Alarms", "cloudwatch.amazonaws.com"), ("Rules", "events.amazonaws.com"))
            ),
        ]
    return {"Version": "2012-10-17", "Statement": statements}


def bus_policy(account: str, bus_arn: str) -> dict[str, Any]:
    """Only this account may put events on a domain bus (no cross-account producers)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ThisAccountOnly",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": "events:PutEvents",
                "Resource": bus_arn,
            }
        ],
    }


def put_records_policy(stream_arn: str, key_arn: str) -> dict[str, Any]:
    """Least privilege for the bus-to-stream target: put records on one stream, data keys from one key
    (a producer to a KMS-encrypted stream needs kms:GenerateDataKey on the stream's key)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PutRecordsOnTheDomainStream",
                "Effect": "Allow",
                "Action": ["kinesis:PutRecord", "kinesis:PutRecords"],
                "Resource": stream_arn,
            },
            {"Sid": "EncryptWithTheDomainKey", "Effect": "Allow", "Action": "kms:GenerateDataKey", "Resource": key_arn},
        ],
    }


def build_encryption_and_events(bootstrap: AwsBootstrap) -> EncryptionAndEvents:
    spec = bootstrap.deployment.spec
    inputs = bootstrap.inputs
    environment = inputs.config.environment
    account, region = inputs["awsAccountId"], inputs["region"]
    domains: dict[str, DomainFoundation] = {}
    for domain in sorted(DOMAINS):
        name = f"{spec.resource_name}-{domain.lower()}"
        key = aws.kms.Key(
            f"{name}-key",
            description=f"bank {environment} {domain} {DOMAINS[domain].name}: envelope encryption key",
            enable_key_rotation=True,
            deletion_window_in_days=KEY_DELETION_WINDOW_DAYS,
            policy=json_document(lambda a, r, d=domain: domain_key_policy(d, environment, a, r), account, region),
            tags=spec.tags,
            opts=bootstrap.stateful_options(),
        )
        alias = aws.kms.Alias(
            f"{name}-alias",
            name=key_alias_name(environment, domain),
            target_key_id=key.key_id,
            opts=bootstrap.child_options(),
        )
        # No customer managed key on the bus itself: the AWS::Events::Archive documentation says archives are
        # refused on such a bus. The archive, which keeps events at rest, is encrypted with the domain key.
        bus = aws.cloudwatch.EventBus(
            f"{name}-bus",
            name=bus_name(environment, domain),
            description=f"{domain} {DOMAINS[domain].name} domain events",
            tags=spec.tags,
            opts=bootstrap.child_options(),
        )
        aws.cloudwatch.EventBusPolicy(
            f"{name}-bus-policy",
            event_bus_name=bus.name,
            policy=json_document(bus_policy, account, bus.arn),
            opts=bootstrap.child_options(),
        )
        archive = aws.cloudwatch.EventArchive(
            f"{name}-archive",
            name=f"{bus_name(environment, domain)}-archive",
            description=f"every {domain} event, for replay by late subscribers (DESIGN G9)",
            event_source_arn=bus.arn,
            retention_days=inputs["retention.eventArchiveDays"],
            kms_key_identifier=key.arn,
            opts=bootstrap.stateful_options(),
        )
        stream = aws.kinesis.Stream(
            f"{name}-stream",
            name=stream_name(environment, domain),
            stream_mode_details=aws.kinesis.StreamStreamModeDetailsArgs(stream_mode="PROVISIONED"),
            shard_count=inputs["sizing.kinesisShardCount"],
            retention_period=STREAM_RETENTION_HOURS,
            encryption_type="KMS",
            kms_key_id=key.arn,
            tags=spec.tags,
            opts=bootstrap.stateful_options(),
        )
        _feed_stream_from_bus(bootstrap, name, domain, account, bus, stream, key)
        domains[domain] = DomainFoundation(domain=domain, key=key, alias=alias, bus=bus, archive=archive, stream=stream)
    return EncryptionAndEvents(domains=domains)


def _feed_stream_from_bus(
    bootstrap: AwsBootstrap,
    name: str,
    domain: str,
    account: pulumi.Input[str],
    bus: aws.cloudwatch.EventBus,
    stream: aws.kinesis.Stream,
    key: aws.kms.Key,
) -> None:
    """Every event of the account on the domain bus also lands on the domain stream (the streaming backbone)."""
    spec = bootstrap.deployment.spec
    environment = bootstrap.inputs.config.environment
    rule = aws.cloudwatch.EventRule(
        f"{name}-to-stream-rule",
        name=f"{bus_name(environment, domain)}-to-stream",
        description=f"every {domain} event of this account, onto the {domain} Kinesis stream",
        event_bus_name=bus.name,
        event_pattern=json_document(lambda a: {"account": [a]}, account),
        state="ENABLED",
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    role = aws.iam.Role(
        f"{name}-to-stream-role",
        name=f"{bus_name(environment, domain)}-events-to-stream",
        description=f"EventBridge puts {domain} bus events on the {domain} stream",
        # EventBridge may assume it only for this account's rule (confused-deputy guard).
        assume_role_policy=json_document(
            lambda a, rule_arn: service_trust("events.amazonaws.com", a, rule_arn), account, rule.arn
        ),
        permissions_boundary=bootstrap.platform_boundary.arn,
        tags=spec.tags,
        opts=bootstrap.child_options(),
    )
    role_policy = aws.iam.RolePolicy(
        f"{name}-to-stream-policy",
        name="put-records-on-domain-stream",
        role=role.id,
        policy=json_document(put_records_policy, stream.arn, key.arn),
        opts=bootstrap.child_options(),
    )
    aws.cloudwatch.EventTarget(
        f"{name}-to-stream-target",
        rule=rule.name,
        event_bus_name=bus.name,
        target_id="domain-stream",
        arn=stream.arn,
        role_arn=role.arn,
        # The event id spreads records evenly over the shards.
        kinesis_target=aws.cloudwatch.EventTargetKinesisTargetArgs(partition_key_path="$.id"),
        # Deliveries fail until the role may put records.
        opts=bootstrap.child_options(depends_on=[role_policy]),
    )
