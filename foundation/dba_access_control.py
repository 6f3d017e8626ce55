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
- the alarms of catalogue/alerts.yaml that watch those two rules deliver;
- the access functions themselves, from functions/jit_db_access/: `bank-{env}-jit-db-access`,
  `bank-{env}-break-glass-db-access`, and `bank-{env}-jit-db-access-expiry` on a five-minute schedule, each with its
  own log group and execution role (Lambda only, MOD-104's platform boundary, and exactly the admin secret
  MOD-103 stores, the session audit log and, for break-glass, the critical topic), running with a layer of psycopg
  and certifi whose build the release manifest pins (`layers:`, functions/build_layers.py).

MOD-046 follows MOD-103 and MOD-045 but runs beside MOD-076 (deployment sequence, "Phase 0 parallelism"), so it
names MOD-076's critical topic by convention (`bank-{env}-alerts-critical`) rather than taking its output; MOD-076's
topic policy admits this account's `bank-{env}-*` rules. The foundation gate waits for both.
"""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from foundation.iam_documents import json_document, service_trust
from foundation.modules import FoundationModule
from foundation.observability_platform import build_alarm
from model.alerts import Alert, alert_topic_arn
from model.releases import LayerPin
from model.stack_config import LogRetentionDays

# Sessions of both roles end within an hour (IAM's MaxSessionDuration; role chaining caps at 1 h anyway).
MAX_SESSION_SECONDS = 3600
PLATFORM_KEY_DOMAIN = "SD07"
# CloudWatch Logs accepts only these retention periods (PutRetentionPolicy), as the config model lists them.
RETENTION_CHOICES: tuple[int, ...] = LogRetentionDays.__args__
PROJECT_DIR = Path(__file__).resolve().parent.parent
FUNCTION_CODE = PROJECT_DIR / "functions" / "jit_db_access"
FUNCTION_FILES = ("__init__.py", "handler.py")
# As MOD-045's rotation functions: python3.13 on Graviton (arm64); the layer is built for exactly these.
FUNCTION_RUNTIME = "python3.13"
FUNCTION_ARCHITECTURE = "arm64"
# The release manifest's name of the layer (model/releases.py REQUIRED_LAYERS).
FUNCTION_LAYER = "jit-db-access"
# Every five minutes: VALID UNTIL only refuses new logins, so a temporary role's open sessions last until the
# expiry function ends them. Five minutes keeps "at most an hour" to about 65 minutes; fifteen would allow 75. The
# cost is ~8,900 invocations a month, and on Neon a compute that a five-minute connection keeps from suspending
# (Neon's default suspend timeout is also five minutes), which dev and uat pay for.
EXPIRY_SCHEDULE = "rate(5 minutes)"


def jit_function_name(environment: str) -> str:
    return f"bank-{environment}-jit-db-access"


def break_glass_function_name(environment: str) -> str:
    return f"bank-{environment}-break-glass-db-access"


def expiry_function_name(environment: str) -> str:
    return f"bank-{environment}-jit-db-access-expiry"


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


@dataclass(frozen=True)
class AccessFunction:
    """One of MOD-046's functions, as functions/jit_db_access/handler.py defines its handlers."""

    kind: str  # in resource names: `dba-access-control-<kind>-function`
    name: str
    handler: str
    description: str
    timeout: int  # seconds; the handler's own connect timeout is 15
    writes_audit: bool  # a grant is recorded in the DBA session audit log
    pages: bool  # a grant pages the critical alert topic


def access_functions(environment: str) -> tuple[AccessFunction, ...]:
    return (
        AccessFunction(
            kind="jit",
            name=jit_function_name(environment),
            handler="jit_db_access.handler.jit_access",
            description="MOD-046 just-in-time database access: a Postgres role for at most an hour, read-only by default",
            timeout=30,
            writes_audit=True,
            pages=False,
        ),
        AccessFunction(
            kind="break-glass",
            name=break_glass_function_name(environment),
            handler="jit_db_access.handler.break_glass_access",
            description="MOD-046 break-glass database access: as JIT access, migration role too; pages on-call",
            timeout=30,
            writes_audit=True,
            pages=True,
        ),
        AccessFunction(
            kind="expiry",
            name=expiry_function_name(environment),
            handler="jit_db_access.handler.expire_handler",
            description="MOD-046: drops expired just-in-time database roles and ends their sessions",
            # One connection, then a DROP per expired role.
            timeout=60,
            writes_audit=False,
            pages=False,
        ),
    )


def function_log_group_name(environment: str, function: AccessFunction) -> str:
    """Under /bank/{env}/, where MOD-104's permissions boundary lets a role write logs."""
    return f"/bank/{environment}/dba-access-control/{function.name.removeprefix(f'bank-{environment}-')}"


def function_code() -> pulumi.AssetArchive:
    """The functions' package from this repository: file contents only, so the plan is the same on every machine
    (no paths, no timestamps). psycopg and certifi come from the layer."""
    return pulumi.AssetArchive(
        {
            f"jit_db_access/{name}": pulumi.StringAsset((FUNCTION_CODE / name).read_text(encoding="utf-8"))
            for name in FUNCTION_FILES
        }
    )


def source_code_hash(pin: LayerPin) -> str:
    """Lambda's form of the pinned digest: base64 of the raw SHA-256 (pulumi-aws LayerVersion.source_code_hash)."""
    return base64.b64encode(bytes.fromhex(pin.sha256)).decode("ascii")


def execution_policy(
    function: AccessFunction,
    *,
    region: str,
    key_arn: str,
    admin_secret_arn: str,
    own_log_group_arn: str,
    session_log_group_arn: str,
    critical_topic_arn: str,
) -> dict[str, Any]:
    """What the function does, and nothing more: read the admin login, write its own log and (if it records grants)
    the session audit log, page the critical topic (break-glass), send traces."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheAdminLogin",
            "Effect": "Allow",
            "Action": "secretsmanager:GetSecretValue",
            "Resource": admin_secret_arn,
        },
        {
            # The secret's SD07 key, only as Secrets Manager uses it for this secret (its ARN is the encryption
            # context: Secrets Manager user guide, "Secret encryption and decryption").
            "Sid": "DecryptTheAdminLoginThroughSecretsManager",
            "Effect": "Allow",
            "Action": "kms:Decrypt",
            "Resource": key_arn,
            "Condition": {
                "StringEquals": {
                    "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                    "kms:EncryptionContext:SecretARN": admin_secret_arn,
                }
            },
        },
        {
            # CloudWatch Logs: for these actions the log group's ARN with `:*` (CloudWatch Logs user guide, "Overview
            # of managing access permissions"). The group's KMS key is used by CloudWatch Logs, not by the writer.
            "Sid": "WriteItsOwnLog",
            "Effect": "Allow",
            "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
            "Resource": f"{own_log_group_arn}:*",
        },
    ]
    if function.writes_audit:
        statements.append(
            {
                "Sid": "RecordGrantsInTheSessionAuditLog",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": f"{session_log_group_arn}:*",
            }
        )
    if function.pages:
        statements += [
            {
                "Sid": "PageTheCriticalTopic",
                "Effect": "Allow",
                "Action": "sns:Publish",
                "Resource": critical_topic_arn,
            },
            {
                # The topic is encrypted with the SD07 key: a publisher needs a data key (SNS developer guide, "Key
                # management": kms:GenerateDataKey and kms:Decrypt), only through SNS and for this topic.
                "Sid": "EncryptPagesThroughSns",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key_arn,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"sns.{region}.amazonaws.com",
                        "kms:EncryptionContext:aws:sns:topicArn": critical_topic_arn,
                    }
                },
            },
        ]
    statements.append(
        {
            # Active tracing. X-Ray's write actions have no resource-level permissions: "*" is the only resource IAM
            # accepts for them (Service Authorization Reference, AWS X-Ray), and the only "*" here.
            "Sid": "SendTraces",
            "Effect": "Allow",
            "Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"],
            "Resource": "*",
        }
    )
    return {"Version": "2012-10-17", "Statement": statements}


def function_environment(
    function: AccessFunction, environment: str, admin_secret_arn: Any, critical_topic_arn: Any
) -> dict[str, Any]:
    """Names and ARNs only, never a credential: the functions read the admin login from Secrets Manager."""
    if not function.writes_audit:
        return {"ADMIN_SECRET_ID": admin_secret_arn}  # expire_handler reads nothing else
    variables = {
        "ENVIRONMENT": environment,
        "ADMIN_SECRET_ID": admin_secret_arn,
        "AUDIT_LOG_GROUP": session_log_group_name(environment),
    }
    if function.pages:
        variables["CRITICAL_TOPIC_ARN"] = critical_topic_arn
    return variables


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
            for alert in self.context.platform.alerts.for_module(spec.slug, self.inputs.config)
        }
        self._build_functions(key, critical_topic)

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
            # MOD-104's cap on every role the platform hands out: whatever is attached later, never more.
            permissions_boundary=self.context.foundation["aws-bootstrap"].platform_boundary.arn,
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

    # --- the access functions ------------------------------------------------------------------------------------
    def _build_functions(self, key: aws.kms.Key, critical_topic: pulumi.Output[str]) -> None:
        spec = self.deployment.spec
        env = self.inputs.config.environment
        bootstrap = self.context.foundation["aws-bootstrap"]
        # MOD-103 (step 0.2, which MOD-046 follows) stores the admin login the functions connect as.
        admin_secret = self.context.foundation["neon-database-bootstrap"].admin_secret
        # The stack's release manifest pins the layer's build (validated up front: model/releases.py layer_problems).
        pin = self.context.platform.layers[FUNCTION_LAYER]
        self.layer = aws.lambda_.LayerVersion(
            f"{spec.resource_name}-{FUNCTION_LAYER}-layer",
            layer_name=f"bank-{env}-{FUNCTION_LAYER}",
            description="psycopg (binary) and certifi for the JIT database access functions (functions/build_layers.py)",
            s3_bucket=bootstrap.storage.artifacts.bucket.bucket,
            s3_key=pin.artifact,
            # The pinned digest: a new build is a new key and a new hash, so a new layer version.
            source_code_hash=source_code_hash(pin),
            compatible_runtimes=[FUNCTION_RUNTIME],
            compatible_architectures=[FUNCTION_ARCHITECTURE],
            license_info="psycopg: LGPL-3.0-only; certifi: MPL-2.0",
            opts=self.child_options(),
        )
        self.functions: dict[str, aws.lambda_.Function] = {}
        for function in access_functions(env):
            self.functions[function.kind] = self._function(function, key, admin_secret, critical_topic)

        expiry = self.functions["expiry"]
        self.expiry_schedule = aws.cloudwatch.EventRule(
            f"{spec.resource_name}-expiry-schedule",
            name=expiry_function_name(env),
            description="drops expired just-in-time database roles and ends their sessions",
            schedule_expression=EXPIRY_SCHEDULE,
            tags=spec.tags,
            opts=self.child_options(),
        )
        invoke = aws.lambda_.Permission(
            f"{spec.resource_name}-expiry-invoke",
            statement_id="ExpirySchedule",
            action="lambda:InvokeFunction",
            function=expiry.name,
            principal="events.amazonaws.com",
            # This rule only: no other rule, of this account or another, may invoke it.
            source_arn=self.expiry_schedule.arn,
            opts=self.child_options(),
        )
        aws.cloudwatch.EventTarget(
            f"{spec.resource_name}-expiry-target",
            rule=self.expiry_schedule.name,
            target_id="expire-jit-db-roles",
            arn=expiry.arn,
            opts=self.child_options(depends_on=[invoke]),
        )

    def _function(
        self,
        function: AccessFunction,
        key: aws.kms.Key,
        admin_secret: aws.secretsmanager.Secret,
        critical_topic: pulumi.Output[str],
    ) -> aws.lambda_.Function:
        spec = self.deployment.spec
        env = self.inputs.config.environment
        account, region = self.inputs["awsAccountId"], self.inputs["region"]
        name = f"{spec.resource_name}-{function.kind}-function"
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=function_log_group_name(env, function),
            kms_key_id=key.arn,
            retention_in_days=self.inputs["retention.logRetentionDays"],
            tags=spec.tags,
            # What each grant and expiry run did: kept like the platform's other function logs (MOD-045's rotation).
            opts=self.stateful_options(),
        )
        role = aws.iam.Role(
            f"{name}-role",
            name=function.name,
            description=f"the {function.name} function (MOD-046): Lambda only, capped by MOD-104's platform boundary",
            assume_role_policy=json_document(lambda a: service_trust("lambda.amazonaws.com", a), account),
            permissions_boundary=self.context.foundation["aws-bootstrap"].platform_boundary.arn,
            tags=spec.tags,
            opts=self.child_options(),
        )
        policy = aws.iam.RolePolicy(
            f"{name}-policy",
            name=function.name,
            role=role.id,
            policy=json_document(
                lambda r, k, secret, own, sessions, topic: execution_policy(
                    function,
                    region=r,
                    key_arn=k,
                    admin_secret_arn=secret,
                    own_log_group_arn=own,
                    session_log_group_arn=sessions,
                    critical_topic_arn=topic,
                ),
                region,
                key.arn,
                admin_secret.arn,
                logs.arn,
                self.session_log.arn,
                critical_topic,
            ),
            opts=self.child_options(),
        )
        return aws.lambda_.Function(
            name,
            name=function.name,
            description=function.description,
            runtime=FUNCTION_RUNTIME,
            architectures=[FUNCTION_ARCHITECTURE],
            handler=function.handler,
            code=function_code(),
            layers=[self.layer.arn],
            role=role.arn,
            timeout=function.timeout,
            memory_size=256,
            environment=aws.lambda_.FunctionEnvironmentArgs(
                variables=function_environment(function, env, admin_secret.arn, critical_topic)
            ),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=logs.name),
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            tags=spec.tags,
            # Lambda assumes the role when the function is created: its permissions must be in place first.
            opts=self.child_options(depends_on=[policy]),
        )


def rule_of(alert: Alert, environment: str) -> str:
    """The delivery rule an alarm of this module watches (its RuleName dimension, without the bank-{env}- prefix)."""
    return alert.dimensions(environment)["RuleName"].removeprefix(f"bank-{environment}-")
