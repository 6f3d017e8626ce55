"""MOD-046 DBA access control, the AWS side (deployment sequence, step 0.4).

"MOD-046 configures DBA access control: Neon branch-level permissions, just-in-time database access via AWS IAM,
audit logging of all DBA sessions, and the break-glass procedures for emergency access." Neon has no IAM database
authentication, so just-in-time access is a function that creates a short-lived Postgres role
(functions/jit_db_access/, named `bank-{env}-jit-db-access`; its break-glass variant `bank-{env}-break-glass-db-access`).
Here, on AWS:

- two roles a person assumes to call those functions, `bank-{env}-dba-jit` and `bank-{env}-dba-break-glass`: only
  with MFA, only with a source identity (which then follows the session into CloudTrail, naming the person even
  through role chaining), only through this region's STS endpoint, for at most an hour; each may invoke its own
  function and nothing else;
- the DBA session audit log group `/bank/{env}/dba/sessions` (KMS, kept as long as the audit archive), written
  by an EventBridge rule that matches CloudTrail's `AssumeRole` of either role: every assumption, allowed or
  refused, with who, the source identity and when;
- a rule that pages the critical alert topic on any use of the break-glass role;
- the alarms of catalogue/alerts.yaml that watch those two rules deliver.

MOD-046 follows MOD-103 and MOD-045 but runs beside MOD-076 (deployment sequence, "Phase 0 parallelism"), so it
names MOD-076's critical topic by convention (`bank-{env}-alerts-critical`) rather than taking its output; MOD-076's
topic policy admits this account's `bank-{env}-*` rules. The foundation gate waits for both.
"""

from __future__ import annotations

import json
from typing import Any

import pulumi
import pulumi_aws as aws

from foundation.modules import FoundationModule
from foundation.observability_platform import alert_catalogue, build_alarm, json_document
from model.alerts import Alert, alert_topic_arn
from model.stack_config import LogRetentionDays

# Sessions of both roles end within an hour (IAM's MaxSessionDuration; role chaining caps at 1 h anyway).
MAX_SESSION_SECONDS = 3600
PLATFORM_KEY_DOMAIN = "SD07"
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy), as the config model lists them.
RETENTION_CHOICES: tuple[int, ...] = LogRetentionDays.__args__


def jit_function_name(environment: str) -> str:
    return f"bank-{environment}-jit-db-access"


def break_glass_function_name(environment: str) -> str:
    return f"bank-{environment}-break-glass-db-access"


def dba_role_name(environment: str, kind: str) -> str:
    """`bank-{env}-dba-jit` and `bank-{env}-dba-break-glass`."""
    return f"bank-{environment}-dba-{kind}"


def session_log_group_name(environment: str) -> str:
    return f"/bank/{environment}/dba/sessions"


def audit_retention_days(years: int) -> int:
    """The shortest retention CloudWatch Logs accepts that keeps `years` of DBA sessions (as the audit archive)."""
    return min(days for days in RETENTION_CHOICES if days >= years * 365)


def dba_trust_policy(account: str, region: str) -> dict[str, Any]:
    """A person of this account may assume the role only with MFA and a source identity, through this region's
    STS endpoint. The source identity (e.g. their SSO user name) is set on AssumeRole, cannot be changed later in
    the session, and is recorded in every CloudTrail event of the session."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "PeopleWithMfaAndSourceIdentity",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                # sts:SetSourceIdentity must be allowed beside sts:AssumeRole for a source identity to be set.
                "Action": ["sts:AssumeRole", "sts:SetSourceIdentity"],
                "Condition": {
                    "Bool": {"aws:MultiFactorAuthPresent": "true"},
                    "Null": {"sts:SourceIdentity": "false"},
                    # The global STS endpoint records AssumeRole in us-east-1, where the session audit rule does not
                    # listen: only this region's endpoint is accepted, so no assumption escapes the audit log.
                    "StringEquals": {"aws:RequestedRegion": region},
                },
            }
        ],
    }


def invoke_policy(account: str, region: str, function_name: str) -> dict[str, Any]:
    """The role may invoke its one function (any version or alias of it) and nothing else."""
    function_arn = f"arn:aws:lambda:{region}:{account}:function:{function_name}"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "InvokeTheAccessFunction",
                "Effect": "Allow",
                "Action": "lambda:InvokeFunction",
                "Resource": [function_arn, f"{function_arn}:*"],
            }
        ],
    }


def assume_role_pattern(role_arns: list[str]) -> dict[str, Any]:
    """CloudTrail's AssumeRole of the given roles, as EventBridge receives it on the default bus."""
    return {
        "source": ["aws.sts"],
        "detail-type": ["AWS API Call via CloudTrail"],
        "detail": {
            "eventSource": ["sts.amazonaws.com"],
            "eventName": ["AssumeRole"],
            "requestParameters": {"roleArn": sorted(role_arns)},
        },
    }


def session_log_policy(log_group_arn: str, rule_arn: str) -> dict[str, Any]:
    """EventBridge (through CloudWatch Logs' delivery service) may write the session audit rule's events, and only
    that rule's, into the DBA session log group."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "SessionAuditRuleWrites",
                "Effect": "Allow",
                "Principal": {"Service": ["events.amazonaws.com", "delivery.logs.amazonaws.com"]},
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{log_group_arn}:*",
                "Condition": {"ArnEquals": {"aws:SourceArn": rule_arn}},
            }
        ],
    }


class DbaAccessControl(FoundationModule):
    def _build_footprint(self) -> None:
        spec = self.deployment.spec
        env = self.inputs.config.environment
        account, region = self.inputs["awsAccountId"], self.inputs["region"]
        bootstrap = self.context.foundation["aws-bootstrap"]
        key = bootstrap.events.domains[PLATFORM_KEY_DOMAIN].key

        self.session_log = aws.cloudwatch.LogGroup(
            f"{spec.resource_name}-session-audit",
            name=session_log_group_name(env),
            kms_key_id=key.arn,
            retention_in_days=self.inputs.derived("retention.auditArchiveYears", audit_retention_days),
            tags=spec.tags,
            # Audit data: protected and retained in uat and prod.
            opts=self.stateful_options(),
        )
        self.jit_role = self._dba_role("jit", "just-in-time database access", jit_function_name(env))
        self.break_glass_role = self._dba_role(
            "break-glass", "emergency (break-glass) database access", break_glass_function_name(env)
        )

        # CloudTrail records AssumeRole as a read-only management event, which EventBridge delivers only to rules
        # in ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS state (EventBridge user guide, "Receiving read-only
        # management events from AWS services").
        self.session_rule = aws.cloudwatch.EventRule(
            f"{spec.resource_name}-session-audit-rule",
            name=f"bank-{env}-dba-session-audit",
            description="every assumption of the DBA roles, into the DBA session audit log",
            event_pattern=json_document(
                lambda jit, glass: assume_role_pattern([jit, glass]), self.jit_role.arn, self.break_glass_role.arn
            ),
            state="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            tags=spec.tags,
            opts=self.child_options(),
        )
        log_policy = aws.cloudwatch.LogResourcePolicy(
            f"{spec.resource_name}-session-audit-policy",
            policy_name=f"bank-{env}-dba-session-audit",
            policy_document=json_document(session_log_policy, self.session_log.arn, self.session_rule.arn),
            opts=self.child_options(),
        )
        # The whole CloudTrail event is kept: userIdentity (who), requestParameters.sourceIdentity, eventTime
        # (when), sourceIPAddress, and errorCode for a refused attempt.
        self.session_target = aws.cloudwatch.EventTarget(
            f"{spec.resource_name}-session-audit-target",
            rule=self.session_rule.name,
            target_id="dba-session-audit-log",
            arn=self.session_log.arn,
            opts=self.child_options(depends_on=[log_policy]),
        )

        critical_topic = pulumi.Output.all(region, account).apply(
            lambda ra: alert_topic_arn(ra[0], ra[1], env, "critical")
        )
        self.break_glass_rule = aws.cloudwatch.EventRule(
            f"{spec.resource_name}-break-glass-rule",
            name=f"bank-{env}-dba-break-glass-used",
            description="any assumption of the break-glass DBA role pages on-call",
            event_pattern=json_document(lambda glass: assume_role_pattern([glass]), self.break_glass_role.arn),
            state="ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS",
            tags=spec.tags,
            opts=self.child_options(),
        )
        self.break_glass_target = aws.cloudwatch.EventTarget(
            f"{spec.resource_name}-break-glass-target",
            rule=self.break_glass_rule.name,
            target_id="page-critical-alerts",
            arn=critical_topic,
            input_transformer=aws.cloudwatch.EventTargetInputTransformerArgs(
                input_paths={
                    "who": "$.detail.userIdentity.arn",
                    "sourceIdentity": "$.detail.requestParameters.sourceIdentity",
                    "when": "$.detail.eventTime",
                    "from": "$.detail.sourceIPAddress",
                },
                # A JSON string (InputTemplate must be valid JSON): the page reads as one sentence. Refused attempts
                # page too; whether it was allowed is in the session record.
                input_template=json.dumps(
                    f"BREAK-GLASS database access in {env}: <who> (source identity <sourceIdentity>) called "
                    f"AssumeRole on {dba_role_name(env, 'break-glass')} at <when> from <from>. The full record, "
                    f"allowed or refused, is in {session_log_group_name(env)}."
                ),
            ),
            opts=self.child_options(),
        )

        delivery_rules = {"dba-session-audit": self.session_rule, "dba-break-glass-used": self.break_glass_rule}
        self.alarms = {
            alert.id: build_alarm(self, alert, critical_topic, [delivery_rules[rule_of(alert, env)]])
            for alert in alert_catalogue().for_module(spec.slug, self.inputs.config)
        }

    def _dba_role(self, kind: str, purpose: str, function_name: str) -> aws.iam.Role:
        spec = self.deployment.spec
        env = self.inputs.config.environment
        account, region = self.inputs["awsAccountId"], self.inputs["region"]
        role = aws.iam.Role(
            f"{spec.resource_name}-{kind}-role",
            name=dba_role_name(env, kind),
            description=f"DBA {purpose}: MFA and a source identity required; may only invoke {function_name}",
            assume_role_policy=json_document(dba_trust_policy, account, region),
            max_session_duration=MAX_SESSION_SECONDS,
            tags=spec.tags,
            opts=self.child_options(),
        )
        aws.iam.RolePolicy(
            f"{spec.resource_name}-{kind}-policy",
            name=f"invoke-{function_name}",
            role=role.id,
            policy=json_document(lambda a, r: invoke_policy(a, r, function_name), account, region),
            opts=self.child_options(),
        )
        return role


def rule_of(alert: Alert, environment: str) -> str:
    """The delivery rule an alarm of this module watches (its RuleName dimension, without the bank-{env}- prefix)."""
    return alert.dimensions(environment)["RuleName"].removeprefix(f"bank-{environment}-")
