"""Foundation gate checks: what Phase 0 promises every later module, really there in the account.

"Every application module assumes that S3 buckets, KMS keys, Kinesis streams, EventBridge buses, ... already exist"
(deployment sequence, "Why sequence matters"); MOD-104 creates "EventBridge buses (one per system domain)" and
"CloudTrail (audit trail — active from first deploy)"; MOD-076 the alerting. So before Phase 1 starts:

- every domain bus exists, with an enabled archive of it (a late subscriber such as AML replays from it, DESIGN G9);
- the audit trail exists, is logging, and records every region;
- the alert topics exist (bank-{env}-alerts-critical, -warning, -info), encrypted.

Each check reads the account (boto3) and returns findings naming the missing piece and the module that makes it;
names follow the conventions MOD-104 and MOD-076 create them by.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from botocore.exceptions import ClientError

from model.alerts import SEVERITIES, alert_topic_arn
from model.phases import DOMAINS

if TYPE_CHECKING:
    from gates.phase_checks import Check, Finding, GateContext

FIX_BOOTSTRAP = "MOD-104 aws-bootstrap creates it: run `pulumi up` for this stack (or target aws-bootstrap)"
FIX_OBSERVABILITY = "MOD-076 observability-platform creates it: run `pulumi up` (or target observability-platform)"


def domain_bus_name(environment: str, domain: str) -> str:
    """MOD-104's bus of a system domain: bank-{env}-{domain}."""
    return f"bank-{environment}-{domain.lower()}"


def audit_trail_name(environment: str) -> str:
    """MOD-104's account trail."""
    return f"bank-{environment}-audit-trail"


def _not_found(error: ClientError, *codes: str) -> bool:
    return error.response.get("Error", {}).get("Code") in codes


def event_buses_and_archives(context: GateContext) -> list[Finding]:
    """Every system domain's bus exists, and at least one enabled archive records it."""
    from gates.phase_checks import Finding  # at call time: phase_checks imports this module to list the check

    environment = context.platform.config.environment
    events = context.client("events")
    findings = []
    for domain in sorted(DOMAINS):
        name = domain_bus_name(environment, domain)
        try:
            bus_arn = events.describe_event_bus(Name=name)["Arn"]
        except ClientError as error:
            if not _not_found(error, "ResourceNotFoundException"):
                raise
            findings.append(Finding(name, f"the {domain} event bus does not exist; {FIX_BOOTSTRAP}"))
            continue
        archives = events.list_archives(EventSourceArn=bus_arn)["Archives"]
        if not archives:
            findings.append(
                Finding(
                    name, f"no archive records the {domain} bus, so late subscribers cannot replay; {FIX_BOOTSTRAP}"
                )
            )
        elif not any(a.get("State") == "ENABLED" for a in archives):
            states = ", ".join(sorted(f"{a['ArchiveName']} is {a.get('State')}" for a in archives))
            findings.append(Finding(name, f"no enabled archive records the {domain} bus ({states}); {FIX_BOOTSTRAP}"))
    return findings


def audit_trail_logging(context: GateContext) -> list[Finding]:
    """The account's audit trail exists, records every region, and is logging now."""
    from gates.phase_checks import Finding

    name = audit_trail_name(context.platform.config.environment)
    cloudtrail = context.client("cloudtrail")
    trails = cloudtrail.describe_trails(trailNameList=[name], includeShadowTrails=False)["trailList"]
    if not trails:
        return [Finding(name, f"the audit trail does not exist; {FIX_BOOTSTRAP}")]
    findings = []
    if not trails[0].get("IsMultiRegionTrail"):
        findings.append(
            Finding(name, f"the audit trail records only its home region, not every region; {FIX_BOOTSTRAP}")
        )
    if not cloudtrail.get_trail_status(Name=name).get("IsLogging"):
        findings.append(
            Finding(name, f"the audit trail is not logging; start it (`aws cloudtrail start-logging --name {name}`)")
        )
    return findings


def alert_topics(context: GateContext) -> list[Finding]:
    """The alert topics of every severity exist, KMS-encrypted."""
    from gates.phase_checks import Finding

    config = context.platform.config
    sns = context.client("sns")
    findings = []
    for severity in SEVERITIES:
        arn = alert_topic_arn(config.region, config.aws_account_id, config.environment, severity)
        try:
            attributes = sns.get_topic_attributes(TopicArn=arn)["Attributes"]
        except ClientError as error:
            if not _not_found(error, "NotFound", "NotFoundException"):
                raise
            findings.append(Finding(arn, f"the {severity} alert topic does not exist; {FIX_OBSERVABILITY}"))
            continue
        if not attributes.get("KmsMasterKeyId"):
            findings.append(Finding(arn, f"the {severity} alert topic is not KMS-encrypted; {FIX_OBSERVABILITY}"))
    return findings


# Listed in gates/phase_checks.py CHECKS["0"], after the module records.
FOUNDATION_INFRASTRUCTURE_CHECKS: list[tuple[str, Check]] = [
    ("event buses and archives", event_buses_and_archives),
    ("audit trail logging", audit_trail_logging),
    ("alert topics", alert_topics),
]
