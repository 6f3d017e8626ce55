"""MOD-104 part A, per system domain: the envelope key and its alias, the bus with its policy and archive, and the
Kinesis stream fed from the bus — read from the real offline plans of dev, uat and prod.

Expectations are written out here (names, ARNs, what each policy grants) or read from the raw stack files,
never from the code under test.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from bankctl.recording import PlanMocks, record_program
from tests.conftest import PROJECT_DIR, offline_plan

STACKS = ("dev", "uat", "prod")
DOMAINS = ("SD01", "SD02", "SD03", "SD04", "SD05", "SD06", "SD07", "SD08")
BOOTSTRAP = "bank:foundation:AwsBootstrap"
MODULE_TAGS = {
    "bank:module": "aws-bootstrap",
    "bank:module-id": "MOD-104",
    "bank:domain": "SD07",
    "bank:phase": "0",
    "bank:owner": "platform-engineering",
    "bank:data-classification": "confidential",
}
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


def stack_config(stack: str) -> dict:
    """The raw `config:` of Pulumi.<stack>.yaml (not the config model)."""
    return yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]


def account_region(stack: str) -> tuple[str, str]:
    config = stack_config(stack)
    return str(config["bank:awsAccountId"]), config.get("bank:region", "ap-southeast-2")


def bootstrap_resources(stack: str) -> dict[str, dict]:
    """MOD-104's resources in the stack's plan, by logical name."""
    resources = offline_plan(stack).document["deployment"]["resources"]
    return {r["urn"].split("::")[-1]: r for r in resources if BOOTSTRAP in r["urn"].split("::")[2]}


def policy_of(resource: dict, key: str = "policy") -> dict:
    return json.loads(resource["inputs"][key])


def as_list(value) -> list:
    return value if isinstance(value, list) else [value]


# --- keys ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_domain_has_a_rotating_key_with_a_30_day_deletion_window(stack):
    resources = bootstrap_resources(stack)
    keys = {n: r for n, r in resources.items() if r["type"] == "aws:kms/key:Key"}
    assert sorted(keys) == [f"aws-bootstrap-{d.lower()}-key" for d in DOMAINS]
    for key in keys.values():
        assert key["inputs"]["enableKeyRotation"] is True
        assert key["inputs"]["deletionWindowInDays"] == 30
        assert key["inputs"]["tags"] == MODULE_TAGS


@pytest.mark.parametrize("stack", STACKS)
def test_each_key_has_its_alias(stack):
    resources = bootstrap_resources(stack)
    for domain in DOMAINS:
        key = resources[f"aws-bootstrap-{domain.lower()}-key"]
        alias = resources[f"aws-bootstrap-{domain.lower()}-alias"]
        assert alias["inputs"]["name"] == f"alias/bank-{stack}-{domain.lower()}"
        assert alias["inputs"]["targetKeyId"] == key["outputs"]["keyId"] == key["id"]


@pytest.mark.parametrize("stack", STACKS)
def test_key_policies_name_who_may_use_each_key_and_on_what_condition(stack):
    account, region = account_region(stack)
    resources = bootstrap_resources(stack)
    trail_arn = f"arn:aws:cloudtrail:{region}:{account}:trail/bank-{stack}-audit-trail"
    for domain in DOMAINS:
        statements = policy_of(resources[f"aws-bootstrap-{domain.lower()}-key"])["Statement"]
        bus_arn = f"arn:aws:events:{region}:{account}:event-bus/bank-{stack}-{domain.lower()}"
        for statement in statements:
            principal = statement["Principal"]
            assert principal != "*" and isinstance(principal, dict), (
                statement
            )  # never anyone, not even with a condition
            assert set(principal) <= {"AWS", "Service"} and principal.get("AWS") in (
                None,
                f"arn:aws:iam::{account}:root",
            )
            if "Service" in principal:
                # A service principal acts only for this account's own resources.
                assert statement["Effect"] == "Allow" and statement.get("Condition"), statement
        by_principal: dict[str, list[dict]] = {}
        for statement in statements:
            by_principal.setdefault(next(iter(statement["Principal"].values())), []).append(statement)
        expected = {f"arn:aws:iam::{account}:root", f"logs.{region}.amazonaws.com", "events.amazonaws.com"}
        if domain == "SD07":  # the platform key alone encrypts the audit trail and MOD-076's alert topics
            expected |= {"cloudtrail.amazonaws.com", "cloudwatch.amazonaws.com"}
        assert set(by_principal) == expected, domain

        [root] = by_principal[f"arn:aws:iam::{account}:root"]
        assert root["Action"] == "kms:*" and "Condition" not in root  # the account delegates to IAM policies
        [logs] = by_principal[f"logs.{region}.amazonaws.com"]
        assert logs["Condition"] == {
            "ArnLike": {"kms:EncryptionContext:aws:logs:arn": f"arn:aws:logs:{region}:{account}:log-group:*"}
        }
        alert_topics = f"arn:aws:sns:{region}:{account}:bank-{stack}-alerts-*"
        for publisher in [s for s in statements if s["Sid"].endswith("PublishToEncryptedAlertTopics")]:
            # Alarms and rules may use the platform key only for the alert topics.
            assert domain == "SD07" and publisher["Condition"] == {
                "StringEquals": {"aws:SourceAccount": account},
                "StringLike": {"kms:EncryptionContext:aws:sns:topicArn": alert_topics},
            }
            assert set(as_list(publisher["Action"])) == {"kms:Decrypt", "kms:GenerateDataKey*"}
        for events in by_principal["events.amazonaws.com"]:
            equals = events["Condition"]["StringEquals"]
            assert equals["aws:SourceAccount"] == account
            if events["Sid"].endswith("PublishToEncryptedAlertTopics"):
                continue
            if events["Sid"] == "EventBridgeDeliversIntoThisStacksQueues":
                # Rules deliver into subscribers' encrypted queues: data keys only under this stack's queue ARNs.
                assert set(as_list(events["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt"}
                assert events["Condition"]["StringLike"] == {
                    "kms:EncryptionContext:aws:sqs:arn": f"arn:aws:sqs:{region}:{account}:bank-{stack}-*"
                }
                continue
            if set(as_list(events["Action"])) != {"kms:DescribeKey"}:
                # Data keys only for this domain's own bus (its archive), never another domain's.
                assert set(as_list(events["Action"])) == {"kms:GenerateDataKey", "kms:Decrypt", "kms:ReEncrypt*"}
                assert equals["kms:EncryptionContext:aws:events:event-bus:arn"] == bus_arn
        for cloudtrail in by_principal.get("cloudtrail.amazonaws.com", []):
            assert cloudtrail["Condition"]["StringEquals"] == {"aws:SourceArn": trail_arn}
            if "kms:GenerateDataKey*" in as_list(cloudtrail["Action"]):
                assert cloudtrail["Condition"]["StringLike"] == {
                    "kms:EncryptionContext:aws:cloudtrail:arn": f"arn:aws:cloudtrail:*:{account}:trail/*"
                }
        assert "EventBridgeDeliversIntoThisStacksQueues" in {s["Sid"] for s in by_principal["events.amazonaws.com"]}
        assert {a for s in by_principal.get("cloudtrail.amazonaws.com", []) for a in as_list(s["Action"])} == (
            {"kms:GenerateDataKey*", "kms:DescribeKey"} if domain == "SD07" else set()
        )


# --- buses and archives -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_domain_bus_admits_this_account_only(stack):
    account, region = account_region(stack)
    resources = bootstrap_resources(stack)
    for domain in DOMAINS:
        bus = resources[f"aws-bootstrap-{domain.lower()}-bus"]
        assert bus["inputs"]["name"] == f"bank-{stack}-{domain.lower()}"
        assert bus["outputs"]["arn"] == f"arn:aws:events:{region}:{account}:event-bus/bank-{stack}-{domain.lower()}"
        policy = resources[f"aws-bootstrap-{domain.lower()}-bus-policy"]
        assert policy["inputs"]["eventBusName"] == bus["inputs"]["name"]
        statements = policy_of(policy)["Statement"]
        assert statements and all(s["Principal"] == {"AWS": f"arn:aws:iam::{account}:root"} for s in statements)
        assert all(s["Resource"] == bus["outputs"]["arn"] for s in statements)


@pytest.mark.parametrize("stack", STACKS)
def test_each_bus_is_archived_with_the_retention_the_stack_sets(stack):
    retention_days = stack_config(stack)["bank:retention"]["eventArchiveDays"]
    resources = bootstrap_resources(stack)
    for domain in DOMAINS:
        archive = resources[f"aws-bootstrap-{domain.lower()}-archive"]
        assert archive["inputs"]["eventSourceArn"] == resources[f"aws-bootstrap-{domain.lower()}-bus"]["outputs"]["arn"]
        assert "eventPattern" not in archive["inputs"]  # everything, so AML can replay all of it (DESIGN G9)
        assert archive["inputs"]["retentionDays"] == retention_days
        assert (
            archive["inputs"]["kmsKeyIdentifier"] == resources[f"aws-bootstrap-{domain.lower()}-key"]["outputs"]["arn"]
        )


# --- streams ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_stream_is_encrypted_with_its_domain_key_and_sized_by_the_stack(stack):
    shards = stack_config(stack).get("bank:sizing", {}).get("kinesisShardCount", 1)
    resources = bootstrap_resources(stack)
    for domain in DOMAINS:
        stream = resources[f"aws-bootstrap-{domain.lower()}-stream"]["inputs"]
        assert stream["name"] == f"bank-{stack}-{domain.lower()}-events"
        assert stream["encryptionType"] == "KMS"
        assert stream["kmsKeyId"] == resources[f"aws-bootstrap-{domain.lower()}-key"]["outputs"]["arn"]
        assert stream["retentionPeriod"] >= 168
        assert stream["shardCount"] == shards
        assert stream["streamModeDetails"] == {"streamMode": "PROVISIONED"}
        assert stream["tags"] == MODULE_TAGS


@pytest.mark.parametrize("stack", STACKS)
def test_each_bus_feeds_its_stream_through_a_least_privilege_role(stack):
    account, region = account_region(stack)
    resources = bootstrap_resources(stack)
    for domain in DOMAINS:
        d = domain.lower()
        bus, stream, key = (resources[f"aws-bootstrap-{d}-{what}"] for what in ("bus", "stream", "key"))
        rule = resources[f"aws-bootstrap-{d}-to-stream-rule"]
        assert rule["inputs"]["eventBusName"] == bus["inputs"]["name"]
        assert json.loads(rule["inputs"]["eventPattern"]) == {"account": [account]}  # every event of the account
        assert rule["inputs"]["state"] == "ENABLED"
        rule_arn = f"arn:aws:events:{region}:{account}:rule/bank-{stack}-{d}/bank-{stack}-{d}-to-stream"
        assert rule["outputs"]["arn"] == rule_arn

        target = resources[f"aws-bootstrap-{d}-to-stream-target"]["inputs"]
        role = resources[f"aws-bootstrap-{d}-to-stream-role"]
        assert target["rule"] == rule["inputs"]["name"] and target["eventBusName"] == bus["inputs"]["name"]
        assert (
            target["arn"]
            == stream["outputs"]["arn"]
            == f"arn:aws:kinesis:{region}:{account}:stream/bank-{stack}-{d}-events"
        )
        assert target["roleArn"] == role["outputs"]["arn"]

        [trust] = policy_of(role, "assumeRolePolicy")["Statement"]
        assert trust["Principal"] == {"Service": "events.amazonaws.com"} and trust["Action"] == "sts:AssumeRole"
        assert trust["Condition"] == {"StringEquals": {"aws:SourceAccount": account, "aws:SourceArn": rule_arn}}

        policy = resources[f"aws-bootstrap-{d}-to-stream-policy"]
        assert policy["inputs"]["role"] == role["outputs"]["name"]
        grants = {(a, s["Resource"]) for s in policy_of(policy)["Statement"] for a in as_list(s["Action"])}
        assert all(s["Effect"] == "Allow" for s in policy_of(policy)["Statement"])
        assert grants == {
            ("kinesis:PutRecord", stream["outputs"]["arn"]),
            ("kinesis:PutRecords", stream["outputs"]["arn"]),
            ("kms:GenerateDataKey", key["outputs"]["arn"]),
        }
        # The target is created only once its role may put records.
        assert policy["urn"] in resources[f"aws-bootstrap-{d}-to-stream-target"]["dependencies"]


# --- data is never lost -------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_keys_archives_and_streams_are_protected_and_retained_in_uat_and_prod(stack):
    keep = stack in ("uat", "prod")
    resources = bootstrap_resources(stack)
    for domain in DOMAINS:
        for what in ("key", "archive", "stream"):
            resource = resources[f"aws-bootstrap-{domain.lower()}-{what}"]
            assert bool(resource.get("protect")) is keep, resource["urn"]
            assert bool(resource.get("retainOnDelete")) is keep, resource["urn"]


# --- the offline plan forms ids and ARNs as the provider does -----------------------------------------------------
def test_event_and_key_types_get_provider_shaped_ids_and_arns():
    import pulumi_aws as aws

    def program():
        key = aws.kms.Key("key")
        aws.kms.Alias("alias", name="alias/bank-dev-sd01", target_key_id=key.key_id)
        bus = aws.cloudwatch.EventBus("bus", name="bank-dev-sd01")
        aws.cloudwatch.EventBusPolicy("bus-policy", event_bus_name=bus.name, policy="{}")
        aws.cloudwatch.EventArchive("archive", name="bank-dev-sd01-archive", event_source_arn=bus.arn)
        rule = aws.cloudwatch.EventRule("rule", name="to-stream", event_bus_name=bus.name, event_pattern="{}")
        aws.cloudwatch.EventRule("default-rule", name="on-default", event_pattern="{}")
        aws.kinesis.Stream("stream", name="bank-dev-sd01-events", shard_count=1)
        aws.cloudwatch.EventTarget("target", rule=rule.name, event_bus_name=bus.name, target_id="t", arn="arn:x")

    recording = record_program(program, "bank", "dev", {}, mocks=PlanMocks("123456789012", "ap-southeast-2"))
    by_name = {r.name: r for r in recording.registrations.values()}
    key = by_name["key"]
    assert UUID.match(key.id) and key.outputs["keyId"] == key.id
    assert key.outputs["arn"] == f"arn:aws:kms:ap-southeast-2:123456789012:key/{key.id}"
    alias = by_name["alias"]
    assert alias.id == "alias/bank-dev-sd01"
    assert alias.outputs["arn"] == "arn:aws:kms:ap-southeast-2:123456789012:alias/bank-dev-sd01"
    assert alias.outputs["targetKeyArn"] == key.outputs["arn"]
    assert by_name["bus"].id == "bank-dev-sd01"
    assert by_name["bus"].outputs["arn"] == "arn:aws:events:ap-southeast-2:123456789012:event-bus/bank-dev-sd01"
    assert by_name["bus-policy"].id == "bank-dev-sd01"
    assert by_name["archive"].id == "bank-dev-sd01-archive"
    assert (
        by_name["archive"].outputs["arn"] == "arn:aws:events:ap-southeast-2:123456789012:archive/bank-dev-sd01-archive"
    )
    assert by_name["rule"].id == "bank-dev-sd01/to-stream"
    assert by_name["rule"].outputs["arn"] == "arn:aws:events:ap-southeast-2:123456789012:rule/bank-dev-sd01/to-stream"
    assert by_name["default-rule"].id == "on-default"  # rules on the default bus carry no bus name
    assert by_name["default-rule"].outputs["arn"] == "arn:aws:events:ap-southeast-2:123456789012:rule/on-default"
    stream_arn = "arn:aws:kinesis:ap-southeast-2:123456789012:stream/bank-dev-sd01-events"
    assert by_name["stream"].id == by_name["stream"].outputs["arn"] == stream_arn  # the provider's id is the ARN
    assert by_name["target"].id == "bank-dev-sd01-to-stream-t"  # BUS-RULE-TARGETID, joined by "-"
