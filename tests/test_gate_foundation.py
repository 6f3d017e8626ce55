"""The foundation gate's infrastructure checks, against moto in server mode on 127.0.0.1.

A fake dev account is populated with what Phase 0 promises — eight domain buses each with an enabled archive, the
multi-region audit trail logging, the three alert topics encrypted — and the checks pass; then each piece is
removed or broken in turn and the check names it. The names are written out here as MOD-104's and MOD-076's
conventions give them, and a last test holds the dev plan to the same names.
"""

from __future__ import annotations

import json
import urllib.request

import boto3
import pytest

from gates.foundation_infrastructure import alert_topics, audit_trail_logging, event_buses_and_archives
from gates.phase_checks import CHECKS, GateContext
from model.platform import load_stack_platform
from tests.conftest import PROJECT_DIR, offline_plan

DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml
REGION = "ap-southeast-2"
DOMAINS = [f"sd0{n}" for n in range(1, 9)]
BUSES = [f"bank-dev-{d}" for d in DOMAINS]
TRAIL = "bank-dev-audit-trail"
TOPICS = [f"bank-dev-alerts-{s}" for s in ("critical", "warning", "info")]


@pytest.fixture(scope="module")
def dev_platform():
    return load_stack_platform(PROJECT_DIR, "dev")


@pytest.fixture
def account(moto_endpoint, monkeypatch):
    """A boto3 session inside the dev account of a fresh moto server (the gate's own clients reach it through
    AWS_ENDPOINT_URL, as `bankctl gate run` does)."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    creds = boto3.client("sts", region_name=REGION).assume_role(
        RoleArn=f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole", RoleSessionName="gate-test"
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
        region_name=REGION,
    )


@pytest.fixture
def populated(account):
    """What Phase 0 leaves behind, built with plain API calls."""
    events, s3, cloudtrail, sns = (account.client(s) for s in ("events", "s3", "cloudtrail", "sns"))
    for bus in BUSES:
        arn = events.create_event_bus(Name=bus)["EventBusArn"]
        events.create_archive(ArchiveName=f"{bus}-archive", EventSourceArn=arn, RetentionDays=30)
    bucket = f"bank-dev-audit-archive-{DEV_ACCOUNT}"
    s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": REGION})
    cloudtrail.create_trail(Name=TRAIL, S3BucketName=bucket, IsMultiRegionTrail=True)
    cloudtrail.start_logging(Name=TRAIL)
    for topic in TOPICS:
        sns.create_topic(Name=topic, Attributes={"KmsMasterKeyId": "alias/bank-dev-sd07"})
    return account


def run(check, session, platform) -> list[tuple[str, str]]:
    return [(f.subject, f.problem) for f in check(GateContext(platform=platform, phase="0", session=session))]


ALL = (event_buses_and_archives, audit_trail_logging, alert_topics)


def test_the_foundation_gate_runs_these_checks():
    listed = CHECKS["0"]
    start = [check for _, check in listed].index(ALL[0])
    assert listed[start : start + 3] == [
        ("event buses and archives", event_buses_and_archives),
        ("audit trail logging", audit_trail_logging),
        ("alert topics", alert_topics),
    ]
    assert all(check not in ALL for key, checks in CHECKS.items() if key != "0" for _, check in checks)


def test_passes_on_an_account_with_everything_phase_0_promises(populated, dev_platform):
    for check in ALL:
        assert run(check, populated, dev_platform) == [], check.__name__


def test_an_empty_account_fails_every_check_naming_each_piece(account, dev_platform):
    buses = run(event_buses_and_archives, account, dev_platform)
    assert [subject for subject, _ in buses] == BUSES
    assert all("event bus does not exist" in problem and "MOD-104" in problem for _, problem in buses)
    assert run(audit_trail_logging, account, dev_platform) == [
        (
            TRAIL,
            "the audit trail does not exist; MOD-104 aws-bootstrap creates it: run `pulumi up` for this stack "
            "(or target aws-bootstrap)",
        )
    ]
    topics = run(alert_topics, account, dev_platform)
    assert [subject for subject, _ in topics] == [f"arn:aws:sns:{REGION}:{DEV_ACCOUNT}:{t}" for t in TOPICS]
    assert all("alert topic does not exist" in problem and "MOD-076" in problem for _, problem in topics)


def test_a_missing_bus_is_named(populated, dev_platform):
    events = populated.client("events")
    events.delete_archive(ArchiveName="bank-dev-sd03-archive")
    events.delete_event_bus(Name="bank-dev-sd03")
    findings = run(event_buses_and_archives, populated, dev_platform)
    assert [(s, p.split(";")[0]) for s, p in findings] == [("bank-dev-sd03", "the SD03 event bus does not exist")]


def test_a_bus_without_an_archive_is_named(populated, dev_platform):
    populated.client("events").delete_archive(ArchiveName="bank-dev-sd01-archive")
    findings = run(event_buses_and_archives, populated, dev_platform)
    assert [(s, p.split(";")[0]) for s, p in findings] == [
        ("bank-dev-sd01", "no archive records the SD01 bus, so late subscribers cannot replay")
    ]


def test_an_archive_of_another_bus_does_not_count(populated, dev_platform):
    events = populated.client("events")
    events.delete_archive(ArchiveName="bank-dev-sd05-archive")
    other = events.create_event_bus(Name="bank-dev-scratch")["EventBusArn"]
    events.create_archive(ArchiveName="bank-dev-sd05-archive", EventSourceArn=other)
    assert [s for s, _ in run(event_buses_and_archives, populated, dev_platform)] == ["bank-dev-sd05"]


def test_a_trail_that_stopped_logging_is_named(populated, dev_platform):
    populated.client("cloudtrail").stop_logging(Name=TRAIL)
    assert run(audit_trail_logging, populated, dev_platform) == [
        (TRAIL, f"the audit trail is not logging; start it (`aws cloudtrail start-logging --name {TRAIL}`)")
    ]


def test_a_deleted_trail_is_named(populated, dev_platform):
    populated.client("cloudtrail").delete_trail(Name=TRAIL)
    assert [p.split(";")[0] for _, p in run(audit_trail_logging, populated, dev_platform)] == [
        "the audit trail does not exist"
    ]


def test_a_single_region_trail_is_named(populated, dev_platform):
    populated.client("cloudtrail").update_trail(Name=TRAIL, IsMultiRegionTrail=False)
    assert [p.split(";")[0] for _, p in run(audit_trail_logging, populated, dev_platform)] == [
        "the audit trail records only its home region, not every region"
    ]


@pytest.mark.parametrize("severity", ["critical", "warning", "info"])
def test_a_missing_alert_topic_is_named(populated, dev_platform, severity):
    arn = f"arn:aws:sns:{REGION}:{DEV_ACCOUNT}:bank-dev-alerts-{severity}"
    populated.client("sns").delete_topic(TopicArn=arn)
    assert [(s, p.split(";")[0]) for s, p in run(alert_topics, populated, dev_platform)] == [
        (arn, f"the {severity} alert topic does not exist")
    ]


def test_an_unencrypted_alert_topic_is_named(populated, dev_platform):
    arn = f"arn:aws:sns:{REGION}:{DEV_ACCOUNT}:bank-dev-alerts-warning"
    populated.client("sns").set_topic_attributes(TopicArn=arn, AttributeName="KmsMasterKeyId", AttributeValue="")
    assert [(s, p.split(";")[0]) for s, p in run(alert_topics, populated, dev_platform)] == [
        (arn, "the warning alert topic is not KMS-encrypted")
    ]


def test_the_gate_looks_for_what_the_program_creates():
    """The names above are the dev plan's: buses and their archives, the trail, the topics."""
    resources = offline_plan("dev").document["deployment"]["resources"]

    def inputs(type_: str) -> list[dict]:
        return [r["inputs"] for r in resources if r["type"] == type_]

    bus_arns = {
        r["inputs"]["name"]: r["outputs"]["arn"] for r in resources if r["type"] == "aws:cloudwatch/eventBus:EventBus"
    }
    assert sorted(bus_arns) == BUSES
    archived = {a["eventSourceArn"] for a in inputs("aws:cloudwatch/eventArchive:EventArchive")}
    assert archived == set(bus_arns.values())
    (trail,) = inputs("aws:cloudtrail/trail:Trail")
    assert trail["name"] == TRAIL and trail["isMultiRegionTrail"] is True
    assert trail.get("enableLogging", True) is True
    assert sorted(
        t["name"] for t in inputs("aws:sns/topic:Topic") if t["name"].startswith("bank-dev-alerts-")
    ) == sorted(TOPICS)
    assert all(json.dumps(t.get("kmsMasterKeyId", "")) != '""' for t in inputs("aws:sns/topic:Topic"))
