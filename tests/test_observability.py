"""MOD-076 observability platform on the real plans, and catalogue/alerts.yaml.

Expectations are written out here — the CIS AWS Foundations v3.0 section 4 patterns, the topic names, the
policy statements — not read back from foundation/ or model/ (STYLE.md, 12). alerts.yaml is read raw (yaml)
where a test needs the thresholds, so a wrong model cannot pass its own test.
"""

from __future__ import annotations

import fnmatch
import json
import re
import textwrap

import pytest
import yaml

from model.alerts import load_alerts
from model.errors import ConfigurationError
from tests.conftest import PROJECT_DIR, offline_plan

ACCOUNTS = {"dev": "381492650173", "prod": "647215093382"}  # bank:awsAccountId of each stack file
REGION = "ap-southeast-2"
SEVERITIES = ("critical", "warning", "info")
MODULE = "observability-platform"

# CIS AWS Foundations Benchmark v3.0.0, section 4 "Monitoring": each control's metric filter pattern, as the
# benchmark's remediation gives it (4.1 with its operator grouping made explicit).
CIS_PATTERNS = {
    "4.1": '{ (($.errorCode = "*UnauthorizedOperation") || ($.errorCode = "AccessDenied*")) && '
    '($.sourceIPAddress != "delivery.logs.amazonaws.com") && ($.eventName != "HeadBucket") }',
    "4.2": '{ ($.eventName = "ConsoleLogin") && ($.additionalEventData.MFAUsed != "Yes") && '
    '($.userIdentity.type = "IAMUser") && ($.responseElements.ConsoleLogin = "Success") }',
    "4.3": '{ $.userIdentity.type = "Root" && $.userIdentity.invokedBy NOT EXISTS && $.eventType != "AwsServiceEvent" }',
    "4.4": "{ ($.eventSource = iam.amazonaws.com) && (($.eventName = DeleteGroupPolicy) || "
    "($.eventName = DeleteRolePolicy) || ($.eventName = DeleteUserPolicy) || ($.eventName = PutGroupPolicy) || "
    "($.eventName = PutRolePolicy) || ($.eventName = PutUserPolicy) || ($.eventName = CreatePolicy) || "
    "($.eventName = DeletePolicy) || ($.eventName = CreatePolicyVersion) || ($.eventName = DeletePolicyVersion) || "
    "($.eventName = AttachRolePolicy) || ($.eventName = DetachRolePolicy) || ($.eventName = AttachUserPolicy) || "
    "($.eventName = DetachUserPolicy) || ($.eventName = AttachGroupPolicy) || ($.eventName = DetachGroupPolicy)) }",
    "4.5": "{ ($.eventName = CreateTrail) || ($.eventName = UpdateTrail) || ($.eventName = DeleteTrail) || "
    "($.eventName = StartLogging) || ($.eventName = StopLogging) }",
    "4.6": '{ ($.eventName = ConsoleLogin) && ($.errorMessage = "Failed authentication") }',
    "4.7": "{ ($.eventSource = kms.amazonaws.com) && (($.eventName = DisableKey) || "
    "($.eventName = ScheduleKeyDeletion)) }",
    "4.8": "{ ($.eventSource = s3.amazonaws.com) && (($.eventName = PutBucketAcl) || ($.eventName = PutBucketPolicy) || "
    "($.eventName = PutBucketCors) || ($.eventName = PutBucketLifecycle) || ($.eventName = PutBucketReplication) || "
    "($.eventName = DeleteBucketPolicy) || ($.eventName = DeleteBucketCors) || ($.eventName = DeleteBucketLifecycle) || "
    "($.eventName = DeleteBucketReplication)) }",
    "4.9": "{ ($.eventSource = config.amazonaws.com) && (($.eventName = StopConfigurationRecorder) || "
    "($.eventName = DeleteDeliveryChannel) || ($.eventName = PutDeliveryChannel) || "
    "($.eventName = PutConfigurationRecorder)) }",
    "4.10": "{ ($.eventName = AuthorizeSecurityGroupIngress) || ($.eventName = AuthorizeSecurityGroupEgress) || "
    "($.eventName = RevokeSecurityGroupIngress) || ($.eventName = RevokeSecurityGroupEgress) || "
    "($.eventName = CreateSecurityGroup) || ($.eventName = DeleteSecurityGroup) }",
    "4.11": "{ ($.eventName = CreateNetworkAcl) || ($.eventName = CreateNetworkAclEntry) || "
    "($.eventName = DeleteNetworkAcl) || ($.eventName = DeleteNetworkAclEntry) || "
    "($.eventName = ReplaceNetworkAclEntry) || ($.eventName = ReplaceNetworkAclAssociation) }",
    "4.12": "{ ($.eventName = CreateCustomerGateway) || ($.eventName = DeleteCustomerGateway) || "
    "($.eventName = AttachInternetGateway) || ($.eventName = CreateInternetGateway) || "
    "($.eventName = DeleteInternetGateway) || ($.eventName = DetachInternetGateway) }",
    "4.13": "{ ($.eventName = CreateRoute) || ($.eventName = CreateRouteTable) || ($.eventName = ReplaceRoute) || "
    "($.eventName = ReplaceRouteTableAssociation) || ($.eventName = DeleteRouteTable) || ($.eventName = DeleteRoute) || "
    "($.eventName = DisassociateRouteTable) }",
    "4.14": "{ ($.eventName = CreateVpc) || ($.eventName = DeleteVpc) || ($.eventName = ModifyVpcAttribute) || "
    "($.eventName = AcceptVpcPeeringConnection) || ($.eventName = CreateVpcPeeringConnection) || "
    "($.eventName = DeleteVpcPeeringConnection) || ($.eventName = RejectVpcPeeringConnection) || "
    "($.eventName = AttachClassicLinkVpc) || ($.eventName = DetachClassicLinkVpc) || "
    "($.eventName = DisableVpcClassicLink) || ($.eventName = EnableVpcClassicLink) }",
    "4.15": '{ ($.eventSource = organizations.amazonaws.com) && (($.eventName = "AcceptHandshake") || '
    '($.eventName = "AttachPolicy") || ($.eventName = "CreateAccount") || ($.eventName = "CreateOrganizationalUnit") || '
    '($.eventName = "CreatePolicy") || ($.eventName = "DeclineHandshake") || ($.eventName = "DeleteOrganization") || '
    '($.eventName = "DeleteOrganizationalUnit") || ($.eventName = "DeletePolicy") || ($.eventName = "DetachPolicy") || '
    '($.eventName = "DisablePolicyType") || ($.eventName = "EnablePolicyType") || '
    '($.eventName = "InviteAccountToOrganization") || ($.eventName = "LeaveOrganization") || '
    '($.eventName = "MoveAccount") || ($.eventName = "RemoveAccountFromOrganization") || '
    '($.eventName = "UpdatePolicy") || ($.eventName = "UpdateOrganizationalUnit")) }',
}
# The issue's list, each with the control that covers it.
ISSUE_SUBJECTS = {
    "unauthorised API calls": "4.1",
    "sign-in without MFA": "4.2",
    "root use": "4.3",
    "IAM changes": "4.4",
    "CloudTrail changes": "4.5",
    "KMS changes": "4.7",
    "bucket-policy changes": "4.8",
    "network changes": "4.10",
}


def doc(stack: str) -> dict:
    return offline_plan(stack).document


def resources(stack: str, type_: str, module: str = MODULE) -> list[dict]:
    """The module's resources of one type (children are named `<slug>-<what>`)."""
    return [
        r
        for r in doc(stack)["deployment"]["resources"]
        if r["type"] == type_ and r["urn"].rsplit("::", 1)[1].startswith(module + "-")
    ]


def named(stack: str, name: str) -> dict:
    (found,) = [r for r in doc(stack)["deployment"]["resources"] if r["urn"].rsplit("::", 1)[1] == name]
    return found


def policy(r: dict, key: str = "policy") -> dict:
    return json.loads(r["inputs"][key])


def sd07_key_arn(stack: str) -> str:
    return named(stack, "aws-bootstrap-sd07-key")["outputs"]["arn"]


def topic_arn(stack: str, severity: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNTS[stack]}:bank-{stack}-alerts-{severity}"


def raw_alerts() -> list[dict]:
    return yaml.safe_load((PROJECT_DIR / "catalogue" / "alerts.yaml").read_text())["alerts"]


def squash(pattern: str) -> str:
    return re.sub(r"\s+", "", pattern)


# --- alert topics ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_one_topic_per_severity_encrypted_with_the_platform_key(stack):
    topics = {r["inputs"]["name"]: r for r in resources(stack, "aws:sns/topic:Topic")}
    assert sorted(topics) == sorted(f"bank-{stack}-alerts-{s}" for s in SEVERITIES)
    for topic in topics.values():
        assert topic["inputs"]["kmsMasterKeyId"] == sd07_key_arn(stack)
        assert topic["inputs"]["tags"]["bank:module-id"] == "MOD-076"


def test_the_critical_topic_keeps_the_first_topics_logical_name():
    # MOD-076's single topic became the critical one; its URN is unchanged (the physical name is new).
    critical = named("dev", "observability-platform-alerts")
    assert critical["inputs"]["name"] == "bank-dev-alerts-critical"


@pytest.mark.parametrize("severity", SEVERITIES)
def test_topic_policy_refuses_plain_http_and_strangers(severity):
    arn = topic_arn("dev", severity)
    (topic_policy,) = [r for r in resources("dev", "aws:sns/topicPolicy:TopicPolicy") if r["inputs"]["arn"] == arn]
    statements = policy(topic_policy)["Statement"]
    deny = [s for s in statements if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Sid": "DenyPublishWithoutTls",
            "Effect": "Deny",
            "Principal": "*",
            "Action": "sns:Publish",
            "Resource": arn,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }
    ]
    for s in statements:
        assert s["Resource"] == arn
        if s["Effect"] == "Allow" and "Service" in s["Principal"]:
            # Services publish only for this account (confused-deputy guard).
            assert s["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNTS["dev"]}
        elif s["Effect"] == "Allow":
            assert s["Principal"] == {"AWS": f"arn:aws:iam::{ACCOUNTS['dev']}:root"}
    services = {s["Principal"]["Service"] for s in statements if "Service" in s.get("Principal", {})}
    assert services == {"cloudwatch.amazonaws.com", "events.amazonaws.com"}


def test_on_call_mailbox_gets_critical_and_warning_not_info():
    subscriptions = resources("dev", "aws:sns/topicSubscription:TopicSubscription")
    assert sorted(s["inputs"]["topic"] for s in subscriptions) == [
        topic_arn("dev", "critical"),
        topic_arn("dev", "warning"),
    ]
    for s in subscriptions:
        assert s["inputs"]["protocol"] == "email"
        assert s["inputs"]["endpoint"] == "platform-alerts-dev@totarabank.co.nz"  # bank:alertEmail of Pulumi.dev.yaml


# --- CIS metric filters and the alarms of alerts.yaml ---------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_cis_section_4_metric_filters_on_the_trail_log_group(stack):
    trail_group = named(stack, "aws-bootstrap-trail-logs")["inputs"]["name"]
    filters = resources(stack, "aws:cloudwatch/logMetricFilter:LogMetricFilter")
    assert len(filters) == len(CIS_PATTERNS)
    assert {f["inputs"]["logGroupName"] for f in filters} == {trail_group}
    assert sorted(squash(f["inputs"]["pattern"]) for f in filters) == sorted(map(squash, CIS_PATTERNS.values()))
    for f in filters:
        assert f["inputs"]["metricTransformation"]["value"] == "1"


def test_every_subject_the_issue_names_is_watched():
    filters = {
        squash(f["inputs"]["pattern"]) for f in resources("dev", "aws:cloudwatch/logMetricFilter:LogMetricFilter")
    }
    for subject, control in ISSUE_SUBJECTS.items():
        assert squash(CIS_PATTERNS[control]) in filters, subject


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_every_alarm_of_the_catalogue_is_built_with_its_threshold_and_severity(stack):
    alarms = {
        r["inputs"]["name"]: r["inputs"]
        for module in (MODULE, "dba-access-control")
        for r in resources(stack, "aws:cloudwatch/metricAlarm:MetricAlarm", module)
    }
    datadog_on = stack == "prod"  # bank:observability.datadog.enabled: false in dev, true in prod
    expected = [a for a in raw_alerts() if datadog_on or a.get("optional") != "observability.datadog.enabled"]
    assert sorted(alarms) == sorted(f"bank-{stack}-{a['id']}" for a in expected)
    for a in expected:
        alarm = alarms[f"bank-{stack}-{a['id']}"]
        assert alarm["threshold"] == a["threshold"]
        assert alarm["period"] == a["period"]
        assert alarm["evaluationPeriods"] == a["evaluationPeriods"]
        assert alarm["comparisonOperator"] == a["comparison"]
        assert alarm["namespace"] == a["metric"]["namespace"]
        assert alarm["metricName"] == a["metric"]["name"]
        assert alarm["statistic"] == a["metric"]["statistic"]
        assert alarm["alarmActions"] == [topic_arn(stack, a["severity"])]
        assert alarm.get("dimensions", {}) == {
            k: v.replace("{env}", stack) for k, v in a["metric"].get("dimensions", {}).items()
        }
        assert a["rationale"] in alarm["alarmDescription"]


def test_each_cis_alarm_counts_its_own_filters_metric():
    filters = {
        f["inputs"]["name"]: f["inputs"] for f in resources("dev", "aws:cloudwatch/logMetricFilter:LogMetricFilter")
    }
    alarms = {a["inputs"]["name"]: a for a in resources("dev", "aws:cloudwatch/metricAlarm:MetricAlarm")}
    for name, f in filters.items():
        alarm = alarms[name]
        assert alarm["inputs"]["metricName"] == f["metricTransformation"]["name"]
        assert alarm["inputs"]["namespace"] == f["metricTransformation"]["namespace"]
        assert alarm["inputs"]["statistic"] == "Sum"
        # The alarm is created after the filter that feeds its metric.
        assert (
            named("dev", name.replace("bank-dev-", "observability-platform-") + "-filter")["urn"]
            in alarm["dependencies"]
        )


def test_alerts_file_gives_every_alarm_its_fields_and_cites_cis_controls():
    alerts = raw_alerts()
    assert len({a["id"] for a in alerts}) == len(alerts)
    for a in alerts:
        for field in ("threshold", "period", "evaluationPeriods", "severity", "rationale", "metric"):
            assert field in a, (a["id"], field)
        assert a["severity"] in SEVERITIES
        assert "\n" not in a["rationale"].strip() and len(a["rationale"]) >= 20
    cis = {a["control"].split()[2]: a for a in alerts if a.get("control", "").startswith("CIS v3.0")}
    assert sorted(cis, key=lambda c: int(c.split(".")[1])) == list(CIS_PATTERNS)
    for control, a in cis.items():
        assert f"CIS v3.0 {control}" in a["rationale"]
        assert squash(a["filterPattern"]) == squash(CIS_PATTERNS[control])


BROKEN_ALERTS = textwrap.dedent(
    """\
    alerts:
      - id: no-threshold
        title: Missing its threshold
        module: observability-platform
        severity: warning
        metric: {namespace: AWS/Kinesis, name: IncomingRecords, statistic: Sum}
        comparison: GreaterThanThreshold
        period: 300
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
      - id: odd-period
        title: Period not a minute multiple
        module: observability-platform
        severity: warning
        metric: {namespace: AWS/Kinesis, name: IncomingRecords, statistic: Sum}
        threshold: 1
        comparison: GreaterThanThreshold
        period: 90
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
      - id: no-severity
        title: Missing its severity
        module: observability-platform
        metric: {namespace: AWS/Kinesis, name: IncomingRecords, statistic: Sum}
        threshold: 1
        comparison: GreaterThanThreshold
        period: 300
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
      - id: two-line-rationale
        title: Rationale over two lines
        module: observability-platform
        severity: info
        metric: {namespace: AWS/Kinesis, name: IncomingRecords, statistic: Sum}
        threshold: 1
        comparison: GreaterThanThreshold
        period: 300
        evaluationPeriods: 1
        rationale: "first line of the reason\\nand a second line of it"
      - id: uncited-control
        title: Control not cited
        module: observability-platform
        severity: critical
        control: CIS v3.0 4.3 (CloudWatch.1)
        metric: {namespace: CISBenchmark, name: RootAccountUsage, statistic: Sum}
        filterPattern: '{ $.userIdentity.type = "Root" }'
        threshold: 1
        comparison: GreaterThanOrEqualToThreshold
        period: 300
        evaluationPeriods: 1
        rationale: "Root use pages, but this line does not say which control."
      - id: odd-period
        title: The same id twice
        module: observability-platform
        severity: warning
        metric: {namespace: AWS/Kinesis, name: IncomingRecords, statistic: Sum}
        threshold: 1
        comparison: GreaterThanThreshold
        period: 300
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
    """
)


def test_a_broken_alerts_file_names_every_problem(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(BROKEN_ALERTS)
    with pytest.raises(ConfigurationError) as caught:
        load_alerts(path)
    problems = caught.value.problems
    assert any(p.startswith("no-threshold: threshold: required") for p in problems), problems
    assert any(p.startswith("odd-period:") and "not a multiple of 60" in p for p in problems), problems
    assert any(p.startswith("no-severity: severity: required") for p in problems), problems
    assert any(p.startswith("two-line-rationale: rationale:") for p in problems), problems
    assert any(p.startswith("uncited-control:") and "must cite its control" in p for p in problems), problems
    assert "odd-period: duplicate alert id (2 entries)" in problems
    assert len(problems) == 6


def test_the_real_alerts_file_loads():
    assert len(load_alerts().alerts) == len(raw_alerts())


# --- serviceAlerts: the alarms every service module builds for itself (components/service_module.py) -------------------
BROKEN_SERVICE_ALERTS = textwrap.dedent(
    """\
    alerts: []
    serviceAlerts:
      - id: no-slug
        title: Not the module's own
        severity: warning
        metric: {namespace: AWS/Lambda, name: Errors, statistic: Sum, dimensions: {FunctionName: "bank-{env}-shared"}}
        threshold: 1
        comparison: GreaterThanOrEqualToThreshold
        period: 60
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
      - id: unknown-placeholder
        title: A placeholder nobody fills
        severity: warning
        metric: {namespace: AWS/Lambda, name: Errors, statistic: Sum, dimensions: {FunctionName: "bank-{stage}-{slug}"}}
        threshold: 1
        comparison: GreaterThanOrEqualToThreshold
        period: 60
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
      - id: no-dimensions
        title: Watches every function at once
        severity: info
        metric: {namespace: AWS/Lambda, name: Errors, statistic: Sum}
        threshold: 1
        comparison: GreaterThanOrEqualToThreshold
        period: 90
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
      - id: no-slug
        title: The same id twice
        severity: critical
        metric: {namespace: AWS/SQS, name: ApproximateNumberOfMessagesVisible, statistic: Maximum, dimensions: {QueueName: "bank-{env}-{slug}-dlq"}}
        threshold: 1
        comparison: GreaterThanOrEqualToThreshold
        period: 300
        evaluationPeriods: 1
        rationale: "A rationale that is long enough to pass the length rule."
    """
)


def test_a_broken_service_alert_names_every_problem(tmp_path):
    path = tmp_path / "alerts.yaml"
    path.write_text(BROKEN_SERVICE_ALERTS)
    with pytest.raises(ConfigurationError) as caught:
        load_alerts(path)
    problems = caught.value.problems
    assert any(
        p.startswith("serviceAlerts.no-slug: dimension FunctionName `bank-{env}-shared` does not name")
        for p in problems
    ), problems
    assert any(p.startswith("serviceAlerts.unknown-placeholder: dimension FunctionName uses {stage}") for p in problems)
    (no_dimensions,) = [p for p in problems if p.startswith("serviceAlerts.no-dimensions:")]
    assert "needs dimensions naming the module's own resource" in no_dimensions
    assert "period 90s is not a multiple of 60" in no_dimensions
    assert "serviceAlerts.no-slug: duplicate alert id (2 entries)" in problems
    assert len(problems) == 4, problems


def test_every_service_alert_watches_the_modules_own_resource():
    service_alerts = yaml.safe_load((PROJECT_DIR / "catalogue" / "alerts.yaml").read_text())["serviceAlerts"]
    assert [a.id for a in load_alerts().service_alerts] == [a["id"] for a in service_alerts]
    for a in service_alerts:
        assert a["metric"]["dimensions"] and all("{slug}" in v for v in a["metric"]["dimensions"].values()), a["id"]
        assert "\n" not in a["rationale"].strip() and len(a["rationale"]) >= 20
        assert a["severity"] in SEVERITIES and "module" not in a


# --- log routing ----------------------------------------------------------------------------------------------
def test_every_log_group_is_routed_to_the_encrypted_log_router():
    (account_policy,) = resources("dev", "aws:cloudwatch/logAccountPolicy:LogAccountPolicy")
    router = named("dev", "observability-platform-log-router")
    role = named("dev", "observability-platform-logs-to-router-role")
    inputs = account_policy["inputs"]
    assert (inputs["policyType"], inputs["scope"]) == ("SUBSCRIPTION_FILTER_POLICY", "ALL")
    assert json.loads(inputs["policyDocument"]) == {
        "DestinationArn": router["outputs"]["arn"],
        "RoleArn": role["outputs"]["arn"],
        "FilterPattern": "",
        "Distribution": "Random",
    }
    # Service log groups /bank/dev/<slug> are not excluded; Firehose's own errors (a loop) and CloudTrail are.
    assert (
        inputs["selectionCriteria"]
        == 'LogGroupName NOT IN ["/bank/dev/cloudtrail", "/bank/dev/observability/firehose"]'
    )
    assert router["inputs"]["encryptionType"] == "KMS"
    assert router["inputs"]["kmsKeyId"] == sd07_key_arn("dev")
    assert router["inputs"]["retentionPeriod"] >= 168
    trust = policy(role, "assumeRolePolicy")["Statement"]
    assert [s["Principal"] for s in trust] == [{"Service": "logs.amazonaws.com"}]
    assert trust[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": ACCOUNTS["dev"]}
    (role_policy,) = [r for r in resources("dev", "aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role["id"]]
    granted = {(s["Action"], s["Resource"]) for s in policy(role_policy)["Statement"]}
    assert granted == {("kinesis:PutRecord", router["outputs"]["arn"]), ("kms:GenerateDataKey", sd07_key_arn("dev"))}
    # CloudWatch Logs test-writes when the policy is put: the grant must exist first.
    assert role_policy["urn"] in account_policy["dependencies"]


def test_firehose_archives_the_router_in_the_audit_archive():
    router = named("dev", "observability-platform-log-router")
    # MOD-104's audit-log archive (bank-{env}-audit-archive-{account}).
    bucket_arn = f"arn:aws:s3:::bank-dev-audit-archive-{ACCOUNTS['dev']}"
    stream = named("dev", "observability-platform-log-archive")["inputs"]
    assert stream["destination"] == "extended_s3"
    assert stream["kinesisSourceConfiguration"]["kinesisStreamArn"] == router["outputs"]["arn"]
    s3 = stream["extendedS3Configuration"]
    assert s3["bucketArn"] == bucket_arn
    assert s3["kmsKeyArn"] == sd07_key_arn("dev")
    assert s3["prefix"].startswith("cloudwatch-logs/") and s3["errorOutputPrefix"].startswith("cloudwatch-logs-failed/")
    assert s3["cloudwatchLoggingOptions"]["enabled"] is True
    role = named("dev", "observability-platform-log-archive-role")
    assert s3["roleArn"] == stream["kinesisSourceConfiguration"]["roleArn"] == role["outputs"]["arn"]
    assert [s["Principal"] for s in policy(role, "assumeRolePolicy")["Statement"]] == [
        {"Service": "firehose.amazonaws.com"}
    ]
    (role_policy,) = [r for r in resources("dev", "aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role["id"]]
    writes = [s for s in policy(role_policy)["Statement"] if "s3:PutObject" in s["Action"]]
    assert writes == [
        {
            "Sid": "WriteUnderOwnPrefixes",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"{bucket_arn}/cloudwatch-logs/*", f"{bucket_arn}/cloudwatch-logs-failed/*"],
        }
    ]
    assert not [s for s in policy(role_policy)["Statement"] if s["Resource"] == "*"]


@pytest.mark.parametrize(("stack", "kept"), [("dev", False), ("prod", True)])
def test_the_archive_path_is_protected_where_records_are_real(stack, kept):
    for name in ("observability-platform-log-router", "observability-platform-log-archive"):
        r = named(stack, name)
        assert bool(r.get("protect")) is kept and bool(r.get("retainOnDelete")) is kept, name


# --- Datadog ----------------------------------------------------------------------------------------------------
def test_nothing_datadog_in_dev():
    # bank:observability.datadog.enabled is false in Pulumi.dev.yaml.
    assert "datadog" not in json.dumps(doc("dev")["deployment"]["resources"]).lower()


def test_datadog_reads_the_router_with_the_key_from_secrets_manager_in_prod():
    stream = named("prod", "observability-platform-datadog-logs")["inputs"]
    router = named("prod", "observability-platform-log-router")
    assert stream["destination"] == "http_endpoint"
    assert stream["kinesisSourceConfiguration"]["kinesisStreamArn"] == router["outputs"]["arn"]
    http = stream["httpEndpointConfiguration"]
    assert http["url"].startswith("https://aws-kinesis-http-intake.logs.ap2.datadoghq.com/")
    assert "accessKey" not in http  # the key is never a resource input
    assert http["secretsManagerConfiguration"]["enabled"] is True
    assert http["secretsManagerConfiguration"]["secretArn"] == (
        f"arn:aws:secretsmanager:{REGION}:{ACCOUNTS['prod']}:secret:/bank/prod/sd07/datadog-api-key"
    )
    assert http["s3BackupMode"] == "FailedDataOnly"
    assert http["s3Configuration"]["kmsKeyArn"] == sd07_key_arn("prod")
    role = named("prod", "observability-platform-datadog-role")
    (role_policy,) = [
        r for r in resources("prod", "aws:iam/rolePolicy:RolePolicy") if r["inputs"]["role"] == role["id"]
    ]
    reads = [s for s in policy(role_policy)["Statement"] if s["Action"] == "secretsmanager:GetSecretValue"]
    assert [s["Resource"] for s in reads] == [http["secretsManagerConfiguration"]["secretArn"] + "-??????"]


# --- X-Ray ------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(("stack", "rate"), [("dev", 1.0), ("prod", 0.05)])
def test_trace_sampling_is_a_sample_in_prod_and_everything_in_dev(stack, rate):
    rules = {r["inputs"]["ruleName"]: r["inputs"] for r in resources(stack, "aws:xray/samplingRule:SamplingRule")}
    default = rules[f"bank-{stack}-default"]
    assert (default["fixedRate"], default["reservoirSize"]) == (rate, 1)
    assert default["serviceName"] == default["urlPath"] == "*"
    health = rules[f"bank-{stack}-health-checks"]
    assert (health["fixedRate"], health["reservoirSize"], health["urlPath"]) == (0, 0, "/health*")
    assert health["priority"] < default["priority"]  # lower number wins in X-Ray


def test_one_trace_group_per_domain():
    groups = {r["inputs"]["groupName"]: r["inputs"] for r in resources("dev", "aws:xray/group:Group")}
    domains = [f"SD0{n}" for n in range(1, 9)]
    assert sorted(groups) == [f"bank-dev-{d.lower()}" for d in domains]
    for d in domains:
        assert groups[f"bank-dev-{d.lower()}"]["filterExpression"] == f'annotation.bank_domain = "{d}"'


# --- dashboards -------------------------------------------------------------------------------------------------
def test_a_dashboard_per_domain_and_one_for_the_platform():
    dashboards = {
        r["inputs"]["dashboardName"]: r["inputs"] for r in resources("dev", "aws:cloudwatch/dashboard:Dashboard")
    }
    assert sorted(dashboards) == sorted([f"bank-dev-sd0{n}" for n in range(1, 9)] + ["bank-dev-platform"])
    sd01 = json.loads(dashboards["bank-dev-sd01"]["dashboardBody"])
    text = json.dumps(sd01)
    assert "bank-dev-sd01-events" in text  # MOD-104's SD01 stream
    assert "SOURCE '/bank/dev/account-ledger'" in text  # an SD01 service's own log group
    assert "SOURCE '/bank/dev/kyc-risk-scoring'" not in text  # SD02's is on SD02's dashboard
    platform = json.loads(dashboards["bank-dev-platform"]["dashboardBody"])
    (alarm_widget,) = [w for w in platform["widgets"] if w["type"] == "alarm"]
    own_alarms = sorted(a["outputs"]["arn"] for a in resources("dev", "aws:cloudwatch/metricAlarm:MetricAlarm"))
    assert alarm_widget["properties"]["alarms"] == own_alarms


def test_dashboards_are_valid_json_and_name_only_this_region():
    for r in resources("prod", "aws:cloudwatch/dashboard:Dashboard"):
        body = json.loads(r["inputs"]["dashboardBody"])
        for widget in body["widgets"]:
            assert {"type", "x", "y", "width", "height", "properties"} <= set(widget)
            if widget["type"] in ("metric", "log"):
                assert widget["properties"]["region"] == REGION


# --- the key policy the alert topics rely on --------------------------------------------------------------------
def test_alarms_and_rules_may_use_the_platform_key_for_the_alert_topics():
    """SNS encrypts with the SD07 key on behalf of CloudWatch alarms and EventBridge rules; the key policy (MOD-104)
    must let those service principals use it, or every page is dropped."""
    key_policy = json.loads(named("dev", "aws-bootstrap-sd07-key")["inputs"]["policy"])
    topic = topic_arn("dev", "critical")
    for service in ("cloudwatch.amazonaws.com", "events.amazonaws.com"):
        granted = [
            s
            for s in key_policy["Statement"]
            if s["Effect"] == "Allow"
            and service in _as_list(s["Principal"].get("Service"))
            and {"kms:Decrypt", "kms:GenerateDataKey*"} <= set(_as_list(s["Action"]))
            and all(
                fnmatch.fnmatchcase(topic, v)
                for c in s.get("Condition", {}).values()
                for k, v in c.items()
                if k.endswith("aws:sns:topicArn")
            )
        ]
        assert granted, f"the SD07 key policy does not let {service} use the key for {topic}"


def _as_list(value) -> list:
    return value if isinstance(value, list) else [value] if value else []


# --- tags ---------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("module", [MODULE, "dba-access-control"])
def test_every_taggable_resource_carries_the_module_tags(module):
    """The catalogue's tags (module, ID, domain, owner, data classification) on every resource that takes tags."""
    import importlib
    import inspect

    spec = next(
        m
        for m in yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
        if m["slug"] == module
    )
    expected = {
        "bank:module": module,
        "bank:module-id": spec["id"],
        "bank:domain": spec["domain"],
        "bank:phase": str(spec["phase"]),
        "bank:owner": spec["owner"],
        "bank:data-classification": spec["dataClassification"],
    }
    checked = 0
    own = [
        r
        for r in doc("prod")["deployment"]["resources"]
        if r["custom"] and r["urn"].rsplit("::", 1)[1].startswith(module + "-")
    ]
    for r in own:
        package, _, cls = r["type"].partition(":")[2].partition(":")
        python_module = importlib.import_module("pulumi_aws." + package.split("/")[0].replace("lambda", "lambda_"))
        if "tags" in inspect.signature(getattr(python_module, cls)._internal_init).parameters:
            assert expected.items() <= r["inputs"].get("tags", {}).items(), r["urn"]
            checked += 1
    assert checked >= 5
