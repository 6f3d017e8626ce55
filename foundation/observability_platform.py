"""MOD-076 observability platform (deployment sequence, step 0.3).

"Deploys the centralised observability stack: CloudWatch dashboards, X-Ray tracing config, log group routing,
Datadog agent (if enabled), and the alerting configuration. Must be deployed before application modules so that
startup events and errors are captured from day one." Its footprint, in build order:

- alerting: one SNS topic per severity (`bank-{env}-alerts-critical|warning|info`), encrypted with the SD07
  platform key, with a policy that admits only this account's alarms and rules and refuses plain HTTP; the
  on-call mailbox (`bank:alertEmail`) subscribes to critical and warning;
- the CIS AWS Foundations v3.0 section 4 metric filters on CloudTrail's log group, and every alarm this module
  owns in catalogue/alerts.yaml (the operations index's "Alert thresholds" page), each sent to its severity's topic;
- log routing: an account-level subscription filter policy sends every log group of the account (services'
  `/bank/{env}/{slug}` included, as soon as they exist) to a KMS-encrypted Kinesis stream, from which Firehose
  archives them in the audit-log archive; Datadog reads the same stream where `observability.datadog.enabled`;
- tracing: X-Ray sampling rules and one X-Ray group per system domain;
- dashboards: one per system domain and one for the platform.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws

# json_document and service_trust are also imported from here (foundation/dba_access_control.py).
from foundation.iam_documents import json_document, service_trust
from foundation.modules import FoundationModule
from model.alerts import SEVERITIES, Alert, alert_topic_name
from model.phases import DOMAINS
from model.service_policies import log_group_name, secret_name

# The SD07 Data Platform key encrypts the platform's own data (MOD-104: audit archive, trail, landing zone);
# alert topics and the log router are platform data too.
PLATFORM_KEY_DOMAIN = "SD07"
# Severities whose topic the on-call mailbox (bank:alertEmail) subscribes to; info stays on its topic for
# dashboards and chat integrations, and pages nobody.
MAILED_SEVERITIES = ("critical", "warning")
# The log router holds a week of logs, so an archive outage over a long weekend loses nothing
# (the `log-router-backlog` alarm fires long before that).
LOG_ROUTER_RETENTION_HOURS = 168
# Where Firehose writes routed logs in the audit-log archive (Hive-style date partitions for Athena).
LOG_ARCHIVE_PREFIX = "cloudwatch-logs/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
LOG_ARCHIVE_ERROR_PREFIX = "cloudwatch-logs-failed/!{firehose:error-output-type}/year=!{timestamp:yyyy}/month=!{timestamp:MM}/day=!{timestamp:dd}/"
DATADOG_FAILED_PREFIX = "datadog-failed/"
# Datadog's AP2 site is in Sydney: forwarded logs stay in the bank's jurisdiction. Datadog's documented Firehose
# logs intake for that site (the same URL shape as its US3/US5/AP1 sites).
DATADOG_LOGS_URL = "https://aws-kinesis-http-intake.logs.ap2.datadoghq.com/api/v2/logs?dd-protocol=aws-kinesis-firehose"
# MOD-045 creates this secret (the secrets manifest); MOD-076 runs beside MOD-045, so it refers to it by name.
# Firehose reads it as {"api_key": "..."} (Firehose's secret format for HTTP endpoints and Datadog).
DATADOG_API_KEY_SECRET = "datadog-api-key"


@dataclass(frozen=True)
class TraceSampling:
    fixed_rate: float  # share of requests traced once the reservoir is used
    reservoir_per_second: int  # requests traced each second before the rate applies


# Every request in the small environments (cheap, and what engineers debug); a sample in uat and prod, where the
# reservoir still guarantees a trace per second of every service.
TRACE_SAMPLING = {
    "local": TraceSampling(1.0, 1),
    "dev": TraceSampling(1.0, 1),
    "uat": TraceSampling(0.25, 1),
    "prod": TraceSampling(0.05, 1),
}
# Services annotate their segments with their domain (X-Ray annotation keys allow letters, digits and `_`).
DOMAIN_ANNOTATION = "bank_domain"
DASHBOARD_PERIOD_SECONDS = 300


def alert_topic_policy(topic_arn: str, account: str, region: str, environment: str) -> dict[str, Any]:
    """Who may use an alert topic: the account itself, this account's CloudWatch alarms and its EventBridge rules
    named bank-{env}-* (MOD-046's break-glass rule among them) — and nobody over plain HTTP."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "AccountManagesTopic",
                "Effect": "Allow",
                "Principal": {"AWS": f"arn:aws:iam::{account}:root"},
                "Action": [
                    "sns:GetTopicAttributes",
                    "sns:SetTopicAttributes",
                    "sns:AddPermission",
                    "sns:RemovePermission",
                    "sns:DeleteTopic",
                    "sns:Subscribe",
                    "sns:ListSubscriptionsByTopic",
                    "sns:Publish",
                ],
                "Resource": topic_arn,
            },
            {
                "Sid": "ThisAccountsAlarmsPublish",
                "Effect": "Allow",
                "Principal": {"Service": "cloudwatch.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:cloudwatch:{region}:{account}:alarm:*"},
                },
            },
            {
                "Sid": "ThisAccountsRulesPublish",
                "Effect": "Allow",
                "Principal": {"Service": "events.amazonaws.com"},
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {
                    "StringEquals": {"aws:SourceAccount": account},
                    "ArnLike": {"aws:SourceArn": f"arn:aws:events:{region}:{account}:rule/bank-{environment}-*"},
                },
            },
            {
                # Alerts carry account and incident details: never over plain HTTP.
                "Sid": "DenyPublishWithoutTls",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "sns:Publish",
                "Resource": topic_arn,
                "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            },
        ],
    }


def logs_to_router_policy(stream_arn: str, key_arn: str) -> dict[str, Any]:
    """CloudWatch Logs puts subscribed log events on the router stream (a producer to a KMS stream needs a data key)."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {"Sid": "PutOnTheLogRouter", "Effect": "Allow", "Action": "kinesis:PutRecord", "Resource": stream_arn},
            {
                "Sid": "EncryptWithThePlatformKey",
                "Effect": "Allow",
                "Action": "kms:GenerateDataKey",
                "Resource": key_arn,
            },
        ],
    }


def delivery_policy(
    stream_arn: str, key_arn: str, bucket_arn: str, prefixes: list[str], log_group_arn: str, secret_arn: str | None
) -> dict[str, Any]:
    """A Firehose delivery stream reads the router, writes under its prefixes of the archive, logs its errors,
    and (Datadog) reads its API key."""
    statements: list[dict[str, Any]] = [
        {
            "Sid": "ReadTheLogRouter",
            "Effect": "Allow",
            "Action": [
                "kinesis:DescribeStream",
                "kinesis:GetShardIterator",
                "kinesis:GetRecords",
                "kinesis:ListShards",
            ],
            "Resource": stream_arn,
        },
        {
            # Decrypt: the router's records; GenerateDataKey: the archive's SSE-KMS objects (both the SD07 key).
            "Sid": "UseThePlatformKey",
            "Effect": "Allow",
            "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
            "Resource": key_arn,
        },
        {
            "Sid": "FindTheArchive",
            "Effect": "Allow",
            "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
            "Resource": bucket_arn,
        },
        {
            "Sid": "WriteUnderOwnPrefixes",
            "Effect": "Allow",
            "Action": ["s3:PutObject", "s3:AbortMultipartUpload"],
            "Resource": [f"{bucket_arn}/{prefix}*" for prefix in prefixes],
        },
        {
            "Sid": "LogDeliveryErrors",
            "Effect": "Allow",
            "Action": "logs:PutLogEvents",
            "Resource": f"{log_group_arn}:*",
        },
    ]
    if secret_arn is not None:
        statements.append(
            {
                "Sid": "ReadTheDatadogApiKey",
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                # Secrets Manager appends 6 random characters to a secret's ARN.
                "Resource": f"{secret_arn}-??????",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


class ObservabilityPlatform(FoundationModule):
    def _build_footprint(self) -> None:
        bootstrap = self.context.foundation["aws-bootstrap"]
        self.environment = self.inputs.config.environment
        self.account, self.region = self.inputs["awsAccountId"], self.inputs["region"]
        self.platform_key = bootstrap.events.domains[PLATFORM_KEY_DOMAIN].key
        # MOD-104's cap on the platform's helper roles, which this module's delivery roles carry.
        self.platform_boundary = bootstrap.platform_boundary
        self._build_alert_topics()
        self.alarms: dict[str, aws.cloudwatch.MetricAlarm] = {}
        self.metric_filters = self._build_cis_metric_filters(bootstrap.storage.trail_log_group)
        self._build_log_routing(bootstrap)
        self.datadog_logs: aws.kinesis.FirehoseDeliveryStream | None = None
        if self.inputs.config.observability.datadog.enabled:
            self._build_datadog_forwarding(bootstrap)
        self._build_alarms()
        self._build_tracing()
        self._build_dashboards(bootstrap)

    # --- alerting -----------------------------------------------------------------------------------------------
    def _build_alert_topics(self) -> None:
        spec = self.deployment.spec
        self.topics: dict[str, aws.sns.Topic] = {}
        for severity in SEVERITIES:
            # The critical topic keeps the logical name of MOD-076's first (single) alert topic.
            logical = f"{spec.resource_name}-alerts" + ("" if severity == "critical" else f"-{severity}")
            topic = aws.sns.Topic(
                logical,
                name=alert_topic_name(self.environment, severity),
                display_name=f"Totara Bank {self.environment} {severity} alerts",
                kms_master_key_id=self.platform_key.arn,
                tags=spec.tags,
                opts=self.child_options(),
            )
            aws.sns.TopicPolicy(
                f"{spec.resource_name}-alerts-{severity}-policy",
                arn=topic.arn,
                policy=json_document(
                    lambda arn, a, r: alert_topic_policy(arn, a, r, self.environment),
                    topic.arn,
                    self.account,
                    self.region,
                ),
                opts=self.child_options(),
            )
            if severity in MAILED_SEVERITIES:
                # bank:alertEmail may be set with --secret: StackInputs keeps it a secret in state and plans.
                aws.sns.TopicSubscription(
                    f"{logical}-email",
                    topic=topic.arn,
                    protocol="email",
                    endpoint=self.inputs["alertEmail"],
                    opts=self.child_options(),
                )
            self.topics[severity] = topic
        self.alerts = self.topics["critical"]

    def _build_cis_metric_filters(self, trail_log_group: aws.cloudwatch.LogGroup) -> dict[str, Any]:
        """CIS AWS Foundations v3.0 section 4: each pattern counts matching CloudTrail events into its metric."""
        spec = self.deployment.spec
        filters = {}
        for alert in self._alerts():
            if alert.filter_pattern is None:
                continue
            filters[alert.id] = aws.cloudwatch.LogMetricFilter(
                f"{spec.resource_name}-{alert.id}-filter",
                name=alert.alarm_name(self.environment),
                log_group_name=trail_log_group.name,
                pattern=alert.filter_pattern,
                metric_transformation=aws.cloudwatch.LogMetricFilterMetricTransformationArgs(
                    name=alert.metric.name, namespace=alert.metric.namespace, value="1"
                ),
                opts=self.child_options(),
            )
        return filters

    def _alerts(self) -> tuple[Alert, ...]:
        return self.context.platform.alerts.for_module(self.deployment.spec.slug, self.inputs.config)

    def _build_alarms(self) -> None:
        for alert in self._alerts():
            depends = [self.metric_filters[alert.id]] if alert.id in self.metric_filters else []
            self.alarms[alert.id] = build_alarm(self, alert, self.topics[alert.severity].arn, depends)

    # --- log routing --------------------------------------------------------------------------------------------
    def _build_log_routing(self, bootstrap) -> None:
        """Every log group of the account → Kinesis `bank-{env}-log-router` → Firehose → the audit-log archive.

        An account-level subscription filter policy (one per account and region) covers log groups that do not
        exist yet, so a service's startup errors are routed from its first line (step 0.3: "captured from day
        one"); a subscription per log group would leave that to every service module. A Kinesis stream between
        them lets a second reader (Datadog) take the same feed without changing the archive path. The archive is
        the audit-log archive bucket: Object-Locked, so routed logs are kept as long as the audit trail.
        """
        spec = self.deployment.spec
        env = self.environment
        key = self.platform_key
        self.firehose_logs = aws.cloudwatch.LogGroup(
            f"{spec.resource_name}-firehose-logs",
            name=f"/bank/{env}/observability/firehose",
            kms_key_id=key.arn,
            retention_in_days=self.inputs["retention.logRetentionDays"],
            tags=spec.tags,
            opts=self.child_options(),
        )
        self.log_router = aws.kinesis.Stream(
            f"{spec.resource_name}-log-router",
            name=f"bank-{env}-log-router",
            # Log volume follows traffic and incidents, not a forecast: on-demand capacity.
            stream_mode_details=aws.kinesis.StreamStreamModeDetailsArgs(stream_mode="ON_DEMAND"),
            retention_period=LOG_ROUTER_RETENTION_HOURS,
            encryption_type="KMS",
            kms_key_id=key.arn,
            tags=spec.tags,
            opts=self.stateful_options(),
        )
        logs_role = aws.iam.Role(
            f"{spec.resource_name}-logs-to-router-role",
            name=f"bank-{env}-logs-to-log-router",
            description="CloudWatch Logs puts every subscribed log event on the log router",
            assume_role_policy=json_document(
                lambda a, r: service_trust("logs.amazonaws.com", a, f"arn:aws:logs:{r}:{a}:*"),
                self.account,
                self.region,
            ),
            permissions_boundary=self.platform_boundary.arn,
            tags=spec.tags,
            opts=self.child_options(),
        )
        logs_role_policy = aws.iam.RolePolicy(
            f"{spec.resource_name}-logs-to-router-policy",
            name="put-on-log-router",
            role=logs_role.id,
            policy=json_document(logs_to_router_policy, self.log_router.arn, key.arn),
            opts=self.child_options(),
        )
        # Excluded: Firehose's own error log group (its errors would loop back through the router: "Log recursion
        # prevention", CloudWatch Logs user guide) and CloudTrail's group (CloudTrail already writes the audit
        # archive itself).
        excluded = pulumi.Output.all(self.firehose_logs.name, bootstrap.storage.trail_log_group.name)
        self.log_routing_policy = aws.cloudwatch.LogAccountPolicy(
            f"{spec.resource_name}-log-routing",
            policy_name=f"bank-{env}-log-routing",
            policy_type="SUBSCRIPTION_FILTER_POLICY",
            policy_document=json_document(
                lambda stream, role: {
                    "DestinationArn": stream,
                    "RoleArn": role,
                    "FilterPattern": "",
                    "Distribution": "Random",
                },
                self.log_router.arn,
                logs_role.arn,
            ),
            selection_criteria=excluded.apply(
                lambda names: "LogGroupName NOT IN [" + ", ".join(json.dumps(n) for n in sorted(names)) + "]"
            ),
            scope="ALL",
            # CloudWatch Logs test-writes to the destination when the policy is put: the role must work first.
            opts=self.child_options(depends_on=[logs_role_policy]),
        )
        archive_bucket = bootstrap.storage.audit_archive.bucket
        role, role_policy = self._delivery_role(
            "log-archive", archive_bucket, ["cloudwatch-logs/", "cloudwatch-logs-failed/"], secret_arn=None
        )
        stream_log = aws.cloudwatch.LogStream(
            f"{spec.resource_name}-log-archive-errors",
            name="log-archive-delivery",
            log_group_name=self.firehose_logs.name,
            opts=self.child_options(),
        )
        self.log_archive = aws.kinesis.FirehoseDeliveryStream(
            f"{spec.resource_name}-log-archive",
            name=f"bank-{env}-log-archive",
            destination="extended_s3",
            kinesis_source_configuration=aws.kinesis.FirehoseDeliveryStreamKinesisSourceConfigurationArgs(
                kinesis_stream_arn=self.log_router.arn, role_arn=role.arn
            ),
            extended_s3_configuration=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationArgs(
                bucket_arn=archive_bucket.arn,
                role_arn=role.arn,
                prefix=LOG_ARCHIVE_PREFIX,
                error_output_prefix=LOG_ARCHIVE_ERROR_PREFIX,
                # Each record is already a gzip member (CloudWatch Logs compresses what it subscribes), so the
                # objects are valid multi-member gzip files as delivered; compressing again gains nothing.
                compression_format="UNCOMPRESSED",
                kms_key_arn=key.arn,
                buffering_interval=300,
                buffering_size=64,
                cloudwatch_logging_options=aws.kinesis.FirehoseDeliveryStreamExtendedS3ConfigurationCloudwatchLoggingOptionsArgs(
                    enabled=True, log_group_name=self.firehose_logs.name, log_stream_name=stream_log.name
                ),
            ),
            tags=spec.tags,
            opts=self.stateful_options(depends_on=[role_policy]),
        )

    def _delivery_role(
        self, purpose: str, bucket: aws.s3.Bucket, prefixes: list[str], secret_arn: pulumi.Input[str] | None
    ) -> tuple[aws.iam.Role, aws.iam.RolePolicy]:
        spec = self.deployment.spec
        role = aws.iam.Role(
            f"{spec.resource_name}-{purpose}-role",
            name=f"bank-{self.environment}-{purpose}-delivery",
            description=f"Firehose delivers the log router to {purpose}",
            assume_role_policy=json_document(lambda a: service_trust("firehose.amazonaws.com", a), self.account),
            permissions_boundary=self.platform_boundary.arn,
            tags=spec.tags,
            opts=self.child_options(),
        )
        policy = aws.iam.RolePolicy(
            f"{spec.resource_name}-{purpose}-policy",
            name=f"deliver-{purpose}",
            role=role.id,
            policy=json_document(
                lambda stream, key, arn, group, secret: delivery_policy(stream, key, arn, prefixes, group, secret),
                self.log_router.arn,
                self.platform_key.arn,
                bucket.arn,
                self.firehose_logs.arn,
                secret_arn,
            ),
            opts=self.child_options(),
        )
        return role, policy

    def _build_datadog_forwarding(self, bootstrap) -> None:
        """Datadog reads the same router (observability.datadog.enabled): logs only, through Firehose's Datadog
        intake; what Datadog refuses is kept in the archive, so the record never depends on Datadog."""
        spec = self.deployment.spec
        env = self.environment
        secret_arn = pulumi.Output.all(self.account, self.region).apply(
            lambda ar: (
                f"arn:aws:secretsmanager:{ar[1]}:{ar[0]}:secret:{secret_name(env, 'SD07', DATADOG_API_KEY_SECRET)}"
            )
        )
        archive_bucket = bootstrap.storage.audit_archive.bucket
        role, role_policy = self._delivery_role("datadog", archive_bucket, [DATADOG_FAILED_PREFIX], secret_arn)
        stream_log = aws.cloudwatch.LogStream(
            f"{spec.resource_name}-datadog-errors",
            name="datadog-delivery",
            log_group_name=self.firehose_logs.name,
            opts=self.child_options(),
        )
        self.datadog_logs = aws.kinesis.FirehoseDeliveryStream(
            f"{spec.resource_name}-datadog-logs",
            name=f"bank-{env}-datadog-logs",
            destination="http_endpoint",
            kinesis_source_configuration=aws.kinesis.FirehoseDeliveryStreamKinesisSourceConfigurationArgs(
                kinesis_stream_arn=self.log_router.arn, role_arn=role.arn
            ),
            http_endpoint_configuration=aws.kinesis.FirehoseDeliveryStreamHttpEndpointConfigurationArgs(
                url=DATADOG_LOGS_URL,
                name="Datadog",
                role_arn=role.arn,
                # The API key never enters the program or the state: Firehose reads it from Secrets Manager.
                secrets_manager_configuration=aws.kinesis.FirehoseDeliveryStreamHttpEndpointConfigurationSecretsManagerConfigurationArgs(
                    enabled=True, secret_arn=secret_arn, role_arn=role.arn
                ),
                request_configuration=aws.kinesis.FirehoseDeliveryStreamHttpEndpointConfigurationRequestConfigurationArgs(
                    content_encoding="GZIP"
                ),
                buffering_interval=60,
                buffering_size=4,
                retry_duration=300,
                s3_backup_mode="FailedDataOnly",
                s3_configuration=aws.kinesis.FirehoseDeliveryStreamHttpEndpointConfigurationS3ConfigurationArgs(
                    bucket_arn=archive_bucket.arn,
                    role_arn=role.arn,
                    prefix=DATADOG_FAILED_PREFIX,
                    compression_format="UNCOMPRESSED",
                    kms_key_arn=self.platform_key.arn,
                ),
                cloudwatch_logging_options=aws.kinesis.FirehoseDeliveryStreamHttpEndpointConfigurationCloudwatchLoggingOptionsArgs(
                    enabled=True, log_group_name=self.firehose_logs.name, log_stream_name=stream_log.name
                ),
            ),
            tags=spec.tags,
            opts=self.child_options(depends_on=[role_policy]),
        )

    # --- tracing ------------------------------------------------------------------------------------------------
    def _build_tracing(self) -> None:
        spec = self.deployment.spec
        env = self.environment
        sampling = TRACE_SAMPLING[env]
        common = dict(host="*", http_method="*", resource_arn="*", service_type="*", version=1)
        self.sampling_rules = [
            # Health checks (blue-green, load balancers) are frequent and uninteresting: never traced.
            aws.xray.SamplingRule(
                f"{spec.resource_name}-sampling-health-checks",
                rule_name=f"bank-{env}-health-checks",
                priority=100,
                fixed_rate=0.0,
                reservoir_size=0,
                service_name="*",
                url_path="/health*",
                tags=spec.tags,
                opts=self.child_options(),
                **common,
            ),
            aws.xray.SamplingRule(
                f"{spec.resource_name}-sampling-default",
                rule_name=f"bank-{env}-default",
                priority=9000,
                fixed_rate=sampling.fixed_rate,
                reservoir_size=sampling.reservoir_per_second,
                service_name="*",
                url_path="*",
                tags=spec.tags,
                opts=self.child_options(),
                **common,
            ),
        ]
        # One group per domain, so each domain's service map, latency and X-Ray Insights are its own.
        self.trace_groups = {
            domain: aws.xray.Group(
                f"{spec.resource_name}-traces-{domain.lower()}",
                group_name=f"bank-{env}-{domain.lower()}",
                filter_expression=f'annotation.{DOMAIN_ANNOTATION} = "{domain}"',
                # Insights (anomaly detection) where traffic is real.
                insights_configuration=aws.xray.GroupInsightsConfigurationArgs(
                    insights_enabled=env in ("uat", "prod"), notifications_enabled=env in ("uat", "prod")
                ),
                tags=spec.tags,
                opts=self.child_options(),
            )
            for domain in sorted(DOMAINS)
        }

    # --- dashboards ---------------------------------------------------------------------------------------------
    def _build_dashboards(self, bootstrap) -> None:
        spec = self.deployment.spec
        env = self.environment
        modules_by_domain: dict[str, list[str]] = {d: [] for d in DOMAINS}
        for module in self.context.platform.enabled_modules():
            modules_by_domain[module.spec.domain].append(module.spec.slug)
        self.dashboards = {}
        for domain in sorted(DOMAINS):
            stream = bootstrap.events.domains[domain].stream
            self.dashboards[domain] = aws.cloudwatch.Dashboard(
                f"{spec.resource_name}-dashboard-{domain.lower()}",
                dashboard_name=f"bank-{env}-{domain.lower()}",
                dashboard_body=json_document(
                    lambda region, stream_name, d=domain: domain_dashboard(
                        env, region, d, sorted(modules_by_domain[d]), stream_name
                    ),
                    self.region,
                    stream.name,
                ),
                opts=self.child_options(),
            )
        alarm_arns = [self.alarms[a].arn for a in sorted(self.alarms)]
        firehoses = [self.log_archive.name] + ([self.datadog_logs.name] if self.datadog_logs is not None else [])
        self.dashboards["platform"] = aws.cloudwatch.Dashboard(
            f"{spec.resource_name}-dashboard-platform",
            dashboard_name=f"bank-{env}-platform",
            dashboard_body=pulumi.Output.all(
                self.region, self.log_router.name, pulumi.Output.all(*firehoses), pulumi.Output.all(*alarm_arns)
            ).apply(lambda v: json.dumps(platform_dashboard(env, v[0], v[1], list(v[2]), list(v[3])), sort_keys=True)),
            opts=self.child_options(),
        )


def build_alarm(
    component: FoundationModule, alert: Alert, topic_arn: pulumi.Input[str], depends_on: list[pulumi.Resource]
) -> aws.cloudwatch.MetricAlarm:
    """One CloudWatch alarm from catalogue/alerts.yaml, sent to its severity's topic (MOD-076 and MOD-046)."""
    spec = component.deployment.spec
    environment = component.inputs.config.environment
    description = f"[{alert.severity}] {alert.title}. {alert.rationale}"
    return aws.cloudwatch.MetricAlarm(
        f"{spec.resource_name}-{alert.id}",
        name=alert.alarm_name(environment),
        alarm_description=description,
        namespace=alert.metric.namespace,
        metric_name=alert.metric.name,
        statistic=alert.metric.statistic,
        dimensions=alert.dimensions(environment) or None,
        threshold=alert.threshold,
        comparison_operator=alert.comparison,
        period=alert.period,
        evaluation_periods=alert.evaluation_periods,
        datapoints_to_alarm=alert.datapoints_to_alarm,
        treat_missing_data=alert.treat_missing_data,
        alarm_actions=[topic_arn],
        tags={**spec.tags, "bank:alert-severity": alert.severity},
        opts=component.child_options(depends_on=depends_on),
    )


def _metric_widget(title: str, region: str, metrics: list[list], stat: str, x: int, y: int) -> dict[str, Any]:
    return {
        "type": "metric",
        "x": x,
        "y": y,
        "width": 12,
        "height": 6,
        "properties": {
            "title": title,
            "region": region,
            "view": "timeSeries",
            "stacked": False,
            "stat": stat,
            "period": DASHBOARD_PERIOD_SECONDS,
            "metrics": metrics,
        },
    }


def domain_dashboard(environment: str, region: str, domain: str, slugs: list[str], stream_name: str) -> dict:
    """A domain's dashboard: its event stream's throughput and lag, and the errors its services log."""
    name = DOMAINS[domain].name
    widgets: list[dict[str, Any]] = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": 24,
            "height": 2,
            "properties": {
                "markdown": f"# {domain} {name} ({environment})\n{len(slugs)} module(s) deployed; "
                f"traces: X-Ray group `bank-{environment}-{domain.lower()}`."
            },
        },
        _metric_widget(
            f"{domain} event stream: records in and out",
            region,
            [
                ["AWS/Kinesis", "IncomingRecords", "StreamName", stream_name],
                ["AWS/Kinesis", "GetRecords.Records", "StreamName", stream_name],
            ],
            "Sum",
            0,
            2,
        ),
        _metric_widget(
            f"{domain} event stream: consumer lag (ms)",
            region,
            [["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", stream_name]],
            "Maximum",
            12,
            2,
        ),
    ]
    # Logs Insights over the services' own log groups (/bank/{env}/{slug}); a query reads at most 50 groups.
    groups = [log_group_name(environment, slug) for slug in slugs]
    for index in range(0, len(groups), 50):
        sources = " | ".join(f"SOURCE '{g}'" for g in groups[index : index + 50])
        widgets.append(
            {
                "type": "log",
                "x": 0,
                "y": 8 + 6 * (index // 50),
                "width": 24,
                "height": 6,
                "properties": {
                    "title": f"{domain} service errors per module",
                    "region": region,
                    "view": "timeSeries",
                    "query": f"{sources} | filter @message like /(?i)error/ "
                    "| stats count(*) as errors by bin(5m), @log",
                },
            }
        )
    return {"widgets": widgets}


def platform_dashboard(
    environment: str, region: str, router: str, firehoses: list[str], alarm_arns: list[str]
) -> dict[str, Any]:
    """The platform's dashboard: every alarm MOD-076 owns, and the log routing path."""
    return {
        "widgets": [
            {
                "type": "alarm",
                "x": 0,
                "y": 0,
                "width": 24,
                "height": 6,
                "properties": {"title": f"Platform alarms ({environment})", "alarms": alarm_arns},
            },
            _metric_widget(
                "Log router: records in, lag (ms)",
                region,
                [
                    ["AWS/Kinesis", "IncomingRecords", "StreamName", router],
                    ["AWS/Kinesis", "GetRecords.IteratorAgeMilliseconds", "StreamName", router, {"stat": "Maximum"}],
                ],
                "Sum",
                0,
                6,
            ),
            _metric_widget(
                "Log delivery: freshness (s)",
                region,
                [
                    ["AWS/Firehose", "DeliveryToS3.DataFreshness", "DeliveryStreamName", name]
                    if name.endswith("log-archive")
                    else ["AWS/Firehose", "DeliveryToHttpEndpoint.DataFreshness", "DeliveryStreamName", name]
                    for name in firehoses
                ],
                "Maximum",
                12,
                6,
            ),
        ]
    }
