"""MOD-046 DBA access control, the AWS side: the roles, the session audit log, the break-glass page.

On the real plans (expectations written out here), and end to end in moto: the session audit rule, built from the
plan's own inputs, really writes a CloudTrail AssumeRole event of a DBA role into the audit log group, and only
those; the break-glass rule's page says who, with which source identity, and when.
"""

from __future__ import annotations

import fnmatch
import json
import urllib.request

import boto3
import pytest

from tests.conftest import offline_plan

ACCOUNTS = {"dev": "381492650173", "prod": "647215093382"}
REGION = "ap-southeast-2"
MODULE = "dba-access-control"
# bank:retention.auditArchiveYears of each stack file (dev 1, prod 7) → the CloudWatch Logs retention that keeps that
# many years: the shortest period PutRetentionPolicy accepts that is at least 365 days a year.
AUDIT_RETENTION_DAYS = {"dev": 365, "prod": 2557}
RETENTION_FOR_YEARS = {1: 365, 2: 731, 3: 1096, 4: 1827, 5: 1827, 6: 2192, 7: 2557, 8: 2922, 9: 3288, 10: 3653}


def doc(stack: str) -> dict:
    return offline_plan(stack).document


def named(stack: str, name: str) -> dict:
    (found,) = [r for r in doc(stack)["deployment"]["resources"] if r["urn"].rsplit("::", 1)[1] == name]
    return found


def own(stack: str, type_: str) -> list[dict]:
    return [
        r
        for r in doc(stack)["deployment"]["resources"]
        if r["type"] == type_ and r["urn"].rsplit("::", 1)[1].startswith(MODULE + "-")
    ]


def role_arn(stack: str, kind: str) -> str:
    return f"arn:aws:iam::{ACCOUNTS[stack]}:role/bank-{stack}-dba-{kind}"


def sd07_key_arn(stack: str) -> str:
    return named(stack, "aws-bootstrap-sd07-key")["outputs"]["arn"]


# --- the roles --------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["jit", "break-glass"])
def test_dba_roles_need_mfa_and_a_source_identity_and_last_an_hour(kind):
    role = named("dev", f"{MODULE}-{kind}-role")
    assert role["inputs"]["name"] == f"bank-dev-dba-{kind}"
    assert role["inputs"]["maxSessionDuration"] == 3600
    (statement,) = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
    assert statement["Effect"] == "Allow"
    assert statement["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNTS['dev']}:root"}
    assert sorted(statement["Action"]) == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert statement["Condition"] == {
        "Bool": {"aws:MultiFactorAuthPresent": "true"},
        "Null": {"sts:SourceIdentity": "false"},
        "StringEquals": {"aws:RequestedRegion": REGION},
    }


@pytest.mark.parametrize(("kind", "function"), [("jit", "jit-db-access"), ("break-glass", "break-glass-db-access")])
def test_each_dba_role_may_only_invoke_its_access_function(kind, function):
    role = named("dev", f"{MODULE}-{kind}-role")
    policies = [r for r in own("dev", "aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role["id"]]
    assert len(policies) == 1
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNTS['dev']}:function:bank-dev-{function}"
    assert json.loads(policies[0]["inputs"]["policy"])["Statement"] == [
        {
            "Sid": "InvokeTheAccessFunction",
            "Effect": "Allow",
            "Action": "lambda:InvokeFunction",
            "Resource": [arn, f"{arn}:*"],
        }
    ]
    assert not role["inputs"].get("managedPolicyArns")


# --- the session audit log --------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_session_audit_log_is_encrypted_and_kept_as_long_as_the_audit_archive(stack):
    group = named(stack, f"{MODULE}-session-audit")
    assert group["inputs"]["name"] == f"/bank/{stack}/dba/sessions"
    assert group["inputs"]["kmsKeyId"] == sd07_key_arn(stack)
    assert group["inputs"]["retentionInDays"] == AUDIT_RETENTION_DAYS[stack]
    kept = stack == "prod"
    assert bool(group.get("protect")) is kept and bool(group.get("retainOnDelete")) is kept


def test_session_retention_keeps_every_allowed_audit_period():
    from foundation.dba_access_control import audit_retention_days

    assert {years: audit_retention_days(years) for years in range(1, 11)} == RETENTION_FOR_YEARS


def test_session_rule_delivers_cloudtrail_assumptions_of_both_roles_into_the_log():
    rule = named("dev", f"{MODULE}-session-audit-rule")["inputs"]
    # AssumeRole is a read-only management event: only this state lets EventBridge deliver it.
    assert rule["state"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    assert "eventBusName" not in rule  # CloudTrail's events arrive on the default bus
    assert json.loads(rule["eventPattern"]) == {
        "source": ["aws.sts"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["sts.amazonaws.com"],
            "eventName": ["AssumeRole"],
            "requestParameters": {"roleArn": [role_arn("dev", "break-glass"), role_arn("dev", "jit")]},
        },
    }
    group = named("dev", f"{MODULE}-session-audit")
    target = named("dev", f"{MODULE}-session-audit-target")
    assert target["inputs"]["rule"] == "bank-dev-dba-session-audit"
    assert target["inputs"]["arn"] == group["outputs"]["arn"]
    assert "inputTransformer" not in target["inputs"]  # the whole CloudTrail record is kept


def test_only_the_session_rule_may_write_the_session_log():
    (resource_policy,) = own("dev", "aws:cloudwatch/logResourcePolicy:LogResourcePolicy")
    group_arn = named("dev", f"{MODULE}-session-audit")["outputs"]["arn"]
    rule_arn = named("dev", f"{MODULE}-session-audit-rule")["outputs"]["arn"]
    assert json.loads(resource_policy["inputs"]["policyDocument"])["Statement"] == [
        {
            "Sid": "SessionAuditRuleWrites",
            "Effect": "Allow",
            "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{group_arn}:*",
            "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
        }
    ]
    # The target is added once the log group admits it.
    assert resource_policy["urn"] in named("dev", f"{MODULE}-session-audit-target")["dependencies"]


# --- break glass ------------------------------------------------------------------------------------------------
def test_break_glass_use_pages_the_critical_topic():
    rule = named("dev", f"{MODULE}-break-glass-rule")
    assert rule["inputs"]["state"] == "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
    pattern = json.loads(rule["inputs"]["eventPattern"])
    assert pattern["detail"]["requestParameters"] == {"roleArn": [role_arn("dev", "break-glass")]}
    target = named("dev", f"{MODULE}-break-glass-target")["inputs"]
    critical = f"arn:aws:sns:{REGION}:{ACCOUNTS['dev']}:bank-dev-alerts-critical"
    assert target["arn"] == critical
    # MOD-076's topic policy lets this rule publish (MOD-046 names the topic; it does not wait for MOD-076).
    topic_policy = [
        json.loads(r["inputs"]["policy"])
        for r in doc("dev")["deployment"]["resources"]
        if r["type"] == "aws:sns/topicPolicy:TopicPolicy" and r["inputs"]["arn"] == critical
    ]
    (events_statement,) = [
        s for s in topic_policy[0]["Statement"] if s.get("Principal") == {"Service": "events.amazonaws.com"}
    ]
    assert fnmatch.fnmatchcase(rule["outputs"]["arn"], events_statement["Condition"]["ArnLike"]["aws:SourceArn"])


def test_dba_access_control_does_not_wait_for_observability():
    # Step 0.4 follows MOD-103 and MOD-045 only; the topic is named, not taken from MOD-076's outputs.
    from bankctl.plan_graph import PlanGraph

    plan = PlanGraph(doc("dev"))
    assert not plan.touches(plan.module(MODULE), plan.module("observability-platform"))


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_delivery_of_both_rules_is_alarmed_to_critical(stack):
    alarms = {
        a["inputs"]["dimensions"]["RuleName"]: a["inputs"] for a in own(stack, "aws:cloudwatch/metricAlarm:MetricAlarm")
    }
    assert sorted(alarms) == [f"bank-{stack}-dba-break-glass-used", f"bank-{stack}-dba-session-audit"]
    for alarm in alarms.values():
        assert (alarm["namespace"], alarm["metricName"]) == ("AWS/Events", "FailedInvocations")
        assert alarm["alarmActions"] == [f"arn:aws:sns:{REGION}:{ACCOUNTS[stack]}:bank-{stack}-alerts-critical"]


# --- end to end in moto: the rules, as planned, deliver what they must ----------------------------------------
def assume_role_event(role: str, source_identity: str = "jane.doe@totarabank.co.nz", error: str | None = None) -> dict:
    """CloudTrail's record of an AssumeRole call, as EventBridge carries it (CloudTrail user guide, "Example
    event for AssumeRole"), trimmed to the fields the rules read."""
    detail = {
        "eventVersion": "1.08",
        "userIdentity": {
            "type": "AssumedRole",
            "arn": f"arn:aws:sts::{ACCOUNTS['dev']}:assumed-role/AWSReservedSSO_DBA/jane.doe@totarabank.co.nz",
            "sessionContext": {"attributes": {"mfaAuthenticated": "true"}},
        },
        "eventTime": "2030-05-04T03:02:01Z",
        "eventSource": "sts.amazonaws.com",
        "eventName": "AssumeRole",
        "awsRegion": REGION,
        "sourceIPAddress": "203.0.113.10",
        "requestParameters": {
            "roleArn": role,
            "roleSessionName": "incident-4711",
            "sourceIdentity": source_identity,
            "durationSeconds": 3600,
        },
        "readOnly": True,
        "eventType": "AwsApiCall",
        "managementEvent": True,
    }
    if error:
        detail["errorCode"] = error
    return {"Source": "aws.sts", "DetailType": "AWS API Call via CloudTrail", "Detail": json.dumps(detail)}


@pytest.fixture
def aws_dev(moto_endpoint):
    """boto3 clients inside the dev account of a fresh moto server."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    creds = sts.assume_role(RoleArn=f"arn:aws:iam::{ACCOUNTS['dev']}:role/BankDeployRole", RoleSessionName="dba-test")[
        "Credentials"
    ]
    session = boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )
    return lambda service: session.client(service, endpoint_url=moto_endpoint)


def deploy_rule(client, rule: dict) -> None:
    # moto validates rule states against the documented three, ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS included.
    client("events").put_rule(Name=rule["name"], EventPattern=rule["eventPattern"], State=rule["state"])


def test_every_dba_assumption_is_really_written_to_the_session_log_and_nothing_else(aws_dev):
    group = named("dev", f"{MODULE}-session-audit")["inputs"]["name"]
    rule = named("dev", f"{MODULE}-session-audit-rule")["inputs"]
    target = named("dev", f"{MODULE}-session-audit-target")["inputs"]
    aws_dev("logs").create_log_group(logGroupName=group)
    deploy_rule(aws_dev, rule)
    aws_dev("events").put_targets(Rule=rule["name"], Targets=[{"Id": target["targetId"], "Arn": target["arn"]}])

    aws_dev("events").put_events(
        Entries=[
            assume_role_event(role_arn("dev", "jit"), "jane.doe@totarabank.co.nz"),
            assume_role_event(role_arn("dev", "break-glass"), "sam.lee@totarabank.co.nz"),
            assume_role_event(role_arn("dev", "jit"), "eve@example.net", error="AccessDenied"),  # refused: kept too
            assume_role_event(f"arn:aws:iam::{ACCOUNTS['dev']}:role/bank-dev-account-ledger"),  # not a DBA role
        ]
    )
    events = aws_dev("logs").filter_log_events(logGroupName=group)["events"]
    written = [json.loads(e["message"])["detail"] for e in events]
    assert sorted((d["requestParameters"]["roleArn"], d["requestParameters"]["sourceIdentity"]) for d in written) == [
        (role_arn("dev", "break-glass"), "sam.lee@totarabank.co.nz"),
        (role_arn("dev", "jit"), "eve@example.net"),
        (role_arn("dev", "jit"), "jane.doe@totarabank.co.nz"),
    ]
    for d in written:  # who and when, as CloudTrail recorded them
        assert d["userIdentity"]["arn"].endswith("/jane.doe@totarabank.co.nz") and d["eventTime"]


def test_the_break_glass_page_names_who_and_when_and_fires_only_for_break_glass(aws_dev):
    rule = named("dev", f"{MODULE}-break-glass-rule")["inputs"]
    target = named("dev", f"{MODULE}-break-glass-target")["inputs"]
    # moto delivers to no SNS topic: a queue stands in for the critical topic, with the planned transformer.
    queue = aws_dev("sqs").create_queue(QueueName="stand-in-for-critical-topic")["QueueUrl"]
    queue_arn = f"arn:aws:sqs:{REGION}:{ACCOUNTS['dev']}:stand-in-for-critical-topic"
    deploy_rule(aws_dev, rule)
    transformer = target["inputTransformer"]
    aws_dev("events").put_targets(
        Rule=rule["name"],
        Targets=[
            {
                "Id": target["targetId"],
                "Arn": queue_arn,
                "InputTransformer": {
                    "InputPathsMap": transformer["inputPaths"],
                    "InputTemplate": transformer["inputTemplate"],
                },
            }
        ],
    )
    aws_dev("events").put_events(
        Entries=[
            assume_role_event(role_arn("dev", "jit"), "jane.doe@totarabank.co.nz"),
            assume_role_event(role_arn("dev", "break-glass"), "sam.lee@totarabank.co.nz"),
        ]
    )
    messages = aws_dev("sqs").receive_message(QueueUrl=queue, MaxNumberOfMessages=10)["Messages"]
    (page,) = [json.loads(m["Body"]) for m in messages]
    assert page.startswith("BREAK-GLASS database access in dev: ")
    for fact in (
        f"arn:aws:sts::{ACCOUNTS['dev']}:assumed-role/AWSReservedSSO_DBA/jane.doe@totarabank.co.nz",
        "source identity sam.lee@totarabank.co.nz",
        "bank-dev-dba-break-glass",
        "2030-05-04T03:02:01Z",
        "203.0.113.10",
        "/bank/dev/dba/sessions",
    ):
        assert fact in page, fact
