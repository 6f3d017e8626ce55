"""A module of Phases 1–7 or the data-platform track: its code ships from its domain repo at a pinned release
(issue 8, "ServiceModule"; docs/service-modules.md).

Every enabled non-foundation module is one ServiceModule, named by its slug; its footprint, all children of it:

- its log group `/bank/{env}/{slug}` (the domain key, `retention.logRetentionDays`) and its dead-letter queue
  `bank-{env}-{slug}-dlq` (the domain key, 14 days);
- its function `bank-{env}-{slug}`: the build its release pin names, from MOD-104's artifacts bucket, run as the
  role MOD-104 made for it, X-Ray active, environment encrypted with the domain key, async failures dead-lettered,
  memory and reserved concurrency from the catalogue and stack config, a published version and the `live` alias;
- its subscriptions (catalogue `subscribes`): its own queue `bank-{env}-{slug}-events`, a rule per event on the
  SOURCE domain's bus (MOD-104's, there since Phase 0) delivering into it, and an event source mapping from the
  queue to `live`. Queue, policies, rules and targets come before the function and never wait for it, so nothing
  emitted after the subscription is registered is lost while the function deploys; history from before replays
  from the bus archive (DESIGN G9). Subscribing is not waiting: nothing here depends on the publishing domain's
  modules or gate (DESIGN §3);
- its AppConfig profile `{slug}` in its domain's application, holding only its own flags, deployed to its own
  AppConfig environment; which tenants it serves is the tenant activation profile's (DESIGN G13), never this one;
- the statements of its role's policy model that need its own resources (granted_by="service-module");
- its runtime parameters under `/bank/{env}/{slug}/`, beside its release record;
- one alarm per `serviceAlerts:` entry of catalogue/alerts.yaml, to MOD-076's topic of its severity.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pulumi
import pulumi_aws as aws

from components.blue_green import live_alias
from components.build_context import BuildContext
from components.domain_api import add_domain_routes, execute_api_resolver
from components.module_component import ModuleComponent
from foundation.aws_bootstrap.identity import StackArns, allow
from foundation.iam_documents import json_document, policy_document
from foundation.neon_database_bootstrap import POSTGRES_PORT
from model.database_privileges import DatabaseRole, role_secret_name
from model.platform import ModuleDeployment
from model.service_policies import (
    PLATFORM_APPCONFIG_DOMAIN,
    TENANT_ACTIVATION_PROFILE,
    PolicyStatement,
    ResourceRef,
    appconfig_environment_name,
    dead_letter_queue_name,
    function_name,
    log_group_name,
    model_problems,
    parameter_path,
    role_name,
    secret_name,
    service_statements,
    subscription_queue_name,
    subscription_rule_name,
)

# The function's contract with its domain repository's build (docs/service-modules.md): a zip whose `app.py`
# defines `handler(event, context)`, for Python 3.13 on Graviton.
RUNTIME = "python3.13"
ARCHITECTURE = "arm64"
HANDLER = "app.handler"
# API Gateway HTTP APIs wait at most 30 s for an integration, so a longer function timeout gains a caller nothing.
FUNCTION_TIMEOUT_SECONDS = 30
# AWS Lambda developer guide, "Using Lambda with Amazon SQS": a source queue's visibility timeout at least six times
# the function's timeout, so a message is not handed out again while a throttled or retried batch still holds it.
SUBSCRIPTION_VISIBILITY_SECONDS = 6 * FUNCTION_TIMEOUT_SECONDS
# The same guide: a redrive maxReceiveCount of at least 5, so throttling alone never dead-letters a message.
SUBSCRIPTION_MAX_RECEIVES = 5
SUBSCRIPTION_BATCH_SIZE = 10
# SQS keeps a message's original enqueue time when it is dead-lettered, so the dead-letter queue keeps messages
# longer than its sources do (SQS developer guide, dead-letter queues): 4 days on the subscription queue (the SQS
# default), 14 (the SQS maximum) on the dead-letter queue.
SUBSCRIPTION_RETENTION_SECONDS = 4 * 86400
DEAD_LETTER_RETENTION_SECONDS = 14 * 86400
# An event source mapping's maximum concurrency for SQS is at least 2 (Lambda API, ScalingConfig).
MIN_MAPPING_CONCURRENCY = 2
FLAGS_CONTENT_TYPE = "application/json"


def flags_document(flags: dict[str, bool]) -> str:
    """The profile's content: exactly the module's own flags, as stable text (sorted keys, no spaces)."""
    return json.dumps(dict(flags), sort_keys=True, separators=(",", ":"))


def flags_schema(flags: dict[str, bool]) -> str:
    """AppConfig refuses, before it deploys, any version that is not exactly these flags as booleans (its JSON Schema
    validators understand draft-04 only), so the profile can never carry activation or anything else."""
    schema = {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "type": "object",
        "additionalProperties": False,
        "required": sorted(flags),
        "properties": {name: {"type": "boolean"} for name in sorted(flags)},
    }
    if not flags:
        del schema["required"]  # draft-04 wants a non-empty `required`
    return json.dumps(schema, sort_keys=True)


def subscription_resource_name(slug: str, subscription: str) -> str:
    """The logical name of a subscription's rule (and, with `-target`, its target): `SD02:kyc.passed` of
    `account-creation` is `account-creation-on-sd02-kyc-passed`."""
    source, _, event = subscription.partition(":")
    return f"{slug}-on-{source.lower()}-{event.replace('.', '-')}"


def reserved_concurrency(wanted: int | None, cap: int | None) -> int | None:
    """The catalogue's reservation, capped by the stack (bank:sizing.maxReservedConcurrency); None reserves nothing
    (never 0, which would stop the function)."""
    if wanted is None:
        return None
    return wanted if cap is None else min(wanted, cap)


class ServiceModule(ModuleComponent):
    def __init__(self, deployment: ModuleDeployment, context: BuildContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bank:domains:ServiceModule", deployment, context, opts)

    def _build_footprint(self) -> None:
        spec = self.deployment.spec
        env = self.context.environment
        self.bootstrap = self.context.foundation["aws-bootstrap"]
        self.domain_key = self.bootstrap.events.domains[spec.domain].key
        self.arns = StackArns(self.inputs["region"], self.inputs["awsAccountId"])

        self.log_group = aws.cloudwatch.LogGroup(
            f"{spec.slug}-logs",
            name=log_group_name(env, spec.slug),
            kms_key_id=self.domain_key.arn,
            retention_in_days=self.inputs["retention.logRetentionDays"],
            tags=spec.tags,
            opts=self.stateful_options(),
        )
        self.dead_letter_queue = aws.sqs.Queue(
            f"{spec.slug}-dlq",
            name=dead_letter_queue_name(env, spec.slug),
            kms_master_key_id=self.domain_key.arn,
            message_retention_seconds=DEAD_LETTER_RETENTION_SECONDS,
            # Which queues may dead-letter here: its own subscription queue, or none (the function's async failures
            # and the rules' undeliverable events are sends, not redrives).
            redrive_allow_policy=self._redrive_allow_policy(),
            tags=spec.tags,
            opts=self.stateful_options(),
        )
        self.subscription_queue: aws.sqs.Queue | None = None
        self.subscription_rules: dict[str, aws.cloudwatch.EventRule] = {}
        delivering = self._build_subscriptions() if spec.subscribes else []
        self._build_profile()
        self.module_policy = self._grant_own_resources()
        self.function = self._build_function(delivering)
        # The alarms first: in prod the canary's deployment group rolls back when they fire (components/blue_green.py).
        self.alarms = self._build_alarms()
        # No traffic before a health check of the exact new version passes; in prod CodeDeploy then shifts it.
        self.live_alias = live_alias(self, self.function, [alarm.name for alarm in self.alarms.values()])
        self.event_source_mapping: aws.lambda_.EventSourceMapping | None = None
        if self.subscription_queue is not None:
            self.event_source_mapping = self._consume_subscriptions()
        self.routes = add_domain_routes(self, self.live_alias)
        self.parameters = self._build_parameters()

    # --- subscriptions (DESIGN §3 "Subscriptions are buffered", G9) ------------------------------------------------
    def _redrive_allow_policy(self) -> Any:
        spec = self.deployment.spec
        if not spec.subscribes:
            return json.dumps({"redrivePermission": "denyAll"}, sort_keys=True)
        # By name, not by the queue's output: the subscription queue names this queue in its own redrive policy.
        source = self.arns.regional("sqs", subscription_queue_name(self.context.environment, spec.slug))
        return json_document(lambda arn: {"redrivePermission": "byQueue", "sourceQueueArns": [arn]}, source)

    def _build_subscriptions(self) -> list[pulumi.Resource]:
        """The module's queue and, per subscribed event, a rule on the source domain's bus into it; returns the
        targets, after which events reach the queue. None of it depends on the function or the publishers."""
        spec = self.deployment.spec
        env = self.context.environment
        domains = self.bootstrap.events.domains
        queue = self.subscription_queue = aws.sqs.Queue(
            f"{spec.slug}-events",
            name=subscription_queue_name(env, spec.slug),
            kms_master_key_id=self.domain_key.arn,
            visibility_timeout_seconds=SUBSCRIPTION_VISIBILITY_SECONDS,
            message_retention_seconds=SUBSCRIPTION_RETENTION_SECONDS,
            redrive_policy=json_document(
                lambda arn: {"deadLetterTargetArn": arn, "maxReceiveCount": SUBSCRIPTION_MAX_RECEIVES},
                self.dead_letter_queue.arn,
            ),
            tags=spec.tags,
            opts=self.stateful_options(),
        )
        for subscription in spec.subscribes:
            source, _, event = subscription.partition(":")
            self.subscription_rules[subscription] = aws.cloudwatch.EventRule(
                subscription_resource_name(spec.slug, subscription),
                name=subscription_rule_name(env, spec.slug, subscription),
                description=f"{subscription} into {spec.slug}'s subscription queue",
                # The publishing domain's bus, MOD-104's since Phase 0: not its modules, not its gate.
                event_bus_name=domains[source].bus.name,
                event_pattern=json.dumps({"detail-type": [event]}, sort_keys=True),
                state="ENABLED",
                tags=spec.tags,
                opts=self.child_options(),
            )
        rule_arns = [self.subscription_rules[s].arn for s in spec.subscribes]
        policies = [
            aws.sqs.QueuePolicy(
                f"{spec.slug}-{purpose}-policy",
                queue_url=target.url,
                policy=policy_document([_rules_may_send(sid, target.arn, rule_arns)]),
                opts=self.child_options(),
            )
            for purpose, sid, target in (
                ("events", "SubscribedRulesDeliver", queue),
                # A rule's target dead-letters what it cannot deliver after its retries (EventBridge target DLQ).
                ("dlq", "SubscribedRulesDeadLetter", self.dead_letter_queue),
            )
        ]
        targets: list[pulumi.Resource] = []
        for subscription, rule in self.subscription_rules.items():
            source = subscription.partition(":")[0]
            targets.append(
                aws.cloudwatch.EventTarget(
                    subscription_resource_name(spec.slug, subscription) + "-target",
                    rule=rule.name,
                    event_bus_name=domains[source].bus.name,
                    target_id="subscription-queue",
                    arn=queue.arn,
                    dead_letter_config=aws.cloudwatch.EventTargetDeadLetterConfigArgs(arn=self.dead_letter_queue.arn),
                    # SQS refuses the deliveries until the policies admit the rule.
                    opts=self.child_options(depends_on=policies),
                )
            )
        return targets

    def _consume_subscriptions(self) -> aws.lambda_.EventSourceMapping:
        """Last: the queue feeds the `live` alias, so only a version blue-green made live consumes."""
        spec = self.deployment.spec
        cap = self._reservation()
        scaling = None
        if cap is not None and cap >= MIN_MAPPING_CONCURRENCY:
            # Polling no faster than the function's reservation lets it run keeps messages from being throttled.
            scaling = aws.lambda_.EventSourceMappingScalingConfigArgs(maximum_concurrency=cap)
        return aws.lambda_.EventSourceMapping(
            f"{spec.slug}-events-mapping",
            event_source_arn=self.subscription_queue.arn,
            function_name=self.live_alias.arn,
            batch_size=SUBSCRIPTION_BATCH_SIZE,
            # A handler reports the messages it failed, so one bad event does not redeliver its whole batch.
            function_response_types=["ReportBatchItemFailures"],
            scaling_config=scaling,
            tags=spec.tags,
            opts=self.child_options(),
        )

    # --- AppConfig: the module's own flags (operations index: "one profile per application") -------------------
    def _build_profile(self) -> None:
        spec = self.deployment.spec
        env = self.context.environment
        runtime = self.bootstrap.runtime_config
        self.appconfig_application = runtime.applications[spec.domain]
        application_id = self.appconfig_application.id
        self.appconfig_environment = aws.appconfig.Environment(
            f"{spec.slug}-appconfig-environment",
            name=appconfig_environment_name(env, spec.slug),
            application_id=application_id,
            description=f"{spec.slug} in the {env} stack: its own, so its flag deployments never queue behind others",
            tags=spec.tags,
            opts=self.child_options(),
        )
        self.profile = aws.appconfig.ConfigurationProfile(
            f"{spec.slug}-profile",
            name=spec.slug,
            application_id=application_id,
            description=f"{spec.name}: its own feature flags (activation is the tenant activation profile's)",
            location_uri="hosted",
            type="AWS.Freeform",
            validators=[
                aws.appconfig.ConfigurationProfileValidatorArgs(type="JSON_SCHEMA", content=flags_schema(spec.flags))
            ],
            tags=spec.tags,
            opts=self.child_options(),
        )
        version = aws.appconfig.HostedConfigurationVersion(
            f"{spec.slug}-flags",
            application_id=application_id,
            configuration_profile_id=self.profile.configuration_profile_id,
            content_type=FLAGS_CONTENT_TYPE,
            content=flags_document(spec.flags),
            description="the catalogue's flags of this module (catalogue/modules.yaml `flags`)",
            opts=self.child_options(),
        )
        self.flags_deployment = aws.appconfig.Deployment(
            f"{spec.slug}-flags-deployment",
            application_id=application_id,
            environment_id=self.appconfig_environment.environment_id,
            configuration_profile_id=self.profile.configuration_profile_id,
            configuration_version=version.version_number.apply(str),
            # MOD-104's pace: linear with a bake, slowest in prod.
            deployment_strategy_id=runtime.deployment_strategy.id,
            description=f"{spec.slug} flags",
            tags=spec.tags,
            opts=self.child_options(),
        )
        # What the function reads the profile by (appconfig:StartConfigurationSession / GetLatestConfiguration).
        self.profile_arn = pulumi.Output.concat(
            self.arns.regional("appconfig", "application/"),
            application_id,
            "/environment/",
            self.appconfig_environment.environment_id,
            "/configuration/",
            self.profile.configuration_profile_id,
        )

    # --- the role's statements that need this module's own resources ---------------------------------------------
    def _own_resource_arns(self) -> dict[str, Callable[[ResourceRef], list[Any]]]:
        """How this module resolves the model's references: its own AppConfig profile, and the callees' paths on
        their domains' APIs (InvokeCalleeApis; MOD-104 creates the APIs, components/domain_api.py resolves)."""
        own_profile = f"{self.deployment.spec.domain}/{self.deployment.spec.slug}"

        def profile(ref: ResourceRef) -> list[Any]:
            if ref.name != own_profile:
                raise ValueError(f"{ref.name}: a service module grants only its own profile ({own_profile})")
            return [self.profile_arn]

        return {
            "appconfig-profile": profile,
            "execute-api": execute_api_resolver(
                self.bootstrap.apis.domains, self.context.platform.catalogue.by_slug(), self.arns
            ),
        }

    def service_module_statements(self) -> tuple[PolicyStatement, ...]:
        """The model's statements this module grants (granted_by="service-module"), in the model's order."""
        spec = self.deployment.spec
        by_id = self.context.platform.catalogue.by_id()
        statements = service_statements(spec, self.context.environment, by_id)
        problems = model_problems(statements)
        if problems:
            raise ValueError("model/service_policies.py: " + "; ".join(problems))
        return tuple(s for s in statements if s.granted_by == "service-module")

    def _grant_own_resources(self) -> aws.iam.RolePolicy:
        spec = self.deployment.spec
        env = self.context.environment
        resolve = self._own_resource_arns()
        granted = [
            allow(s.sid, s.actions, [arn for ref in s.resources for arn in resolve[s.kind](ref)])
            for s in self.service_module_statements()
            if s.kind in resolve
        ]
        return aws.iam.RolePolicy(
            f"{spec.slug}-role-policy",
            name=f"{role_name(env, spec.slug)}-own-resources",
            role=self.bootstrap.identity.service_roles[spec.slug].name,
            policy=policy_document(granted),
            opts=self.child_options(),
        )

    # --- the function --------------------------------------------------------------------------------------------
    def _reservation(self) -> int | None:
        return reserved_concurrency(
            self.deployment.spec.reserved_concurrency, self.context.platform.config.sizing.max_reserved_concurrency
        )

    def _environment_variables(self) -> dict[str, Any]:
        """What the function needs to find its resources: names and endpoints, never a secret's value (it reads its
        secrets from Secrets Manager by these names, with its role)."""
        spec = self.deployment.spec
        env = self.context.environment
        runtime = self.bootstrap.runtime_config
        variables: dict[str, Any] = {
            "ENVIRONMENT": env,
            "MODULE": spec.slug,
            "DOMAIN": spec.domain,
            "PARAMETER_PATH": parameter_path(env, spec.slug),
            "APPCONFIG_APPLICATION": self.appconfig_application.name,
            "APPCONFIG_ENVIRONMENT": self.appconfig_environment.name,
            "APPCONFIG_PROFILE": self.profile.name,
            # Which tenants and jurisdictions it serves: the single source of activation (DESIGN G13).
            "TENANT_ACTIVATION_APPLICATION": runtime.applications[PLATFORM_APPCONFIG_DOMAIN].name,
            "TENANT_ACTIVATION_ENVIRONMENT": runtime.environments[PLATFORM_APPCONFIG_DOMAIN].name,
            "TENANT_ACTIVATION_PROFILE": TENANT_ACTIVATION_PROFILE,
        }
        if spec.publishes:
            variables["EVENT_BUS_NAME"] = self.bootstrap.events.domains[spec.domain].bus.name
        if spec.secrets:
            variables["SECRET_NAMES"] = ",".join(secret_name(env, spec.domain, name) for name in spec.secrets)
        if spec.database is not None:
            databases = self.context.foundation["neon-database-bootstrap"]
            if databases.endpoint is None:  # the local stack's PostgreSQL (DESIGN G10): no pooler
                host, port = self.inputs["local.postgresHost"], self.inputs.derived("local.postgresPort", str)
            else:  # PgBouncer, transaction mode: services connect pooled (deployment sequence, step 0.2)
                host, port = databases.endpoint.poolerHost, str(POSTGRES_PORT)
            variables |= {
                "DATABASE_HOST": host,
                "DATABASE_PORT": port,
                "DATABASE_NAME": spec.database,
                # The service role's credentials (MOD-103), by name only.
                "DATABASE_SECRET": role_secret_name(env, DatabaseRole(spec.database, "service")),
            }
        return variables

    def _build_function(self, delivering: list[pulumi.Resource]) -> aws.lambda_.Function:
        spec = self.deployment.spec
        env = self.context.environment
        pin = self.deployment.release
        memory = spec.memory_mb if spec.memory_mb is not None else self.context.platform.config.sizing.lambda_memory_mb
        return aws.lambda_.Function(
            f"{spec.slug}-function",
            name=function_name(env, spec.slug),
            description=f"{spec.name} at {pin.sha}",
            role=self.bootstrap.identity.service_roles[spec.slug].arn,
            # The pin's build: a new pin is a new key, so new code and a new published version.
            s3_bucket=self.bootstrap.storage.artifacts.bucket.bucket,
            s3_key=pin.artifact,
            runtime=RUNTIME,
            architectures=[ARCHITECTURE],
            handler=HANDLER,
            timeout=FUNCTION_TIMEOUT_SECONDS,
            memory_size=memory,
            reserved_concurrent_executions=self._reservation(),
            publish=True,
            tracing_config=aws.lambda_.FunctionTracingConfigArgs(mode="Active"),
            kms_key_arn=self.domain_key.arn,
            # Function configuration, so every published version carries it, whichever one `live` points at; an
            # unqualified FunctionEventInvokeConfig would cover $LATEST only.
            dead_letter_config=aws.lambda_.FunctionDeadLetterConfigArgs(target_arn=self.dead_letter_queue.arn),
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=self.log_group.name),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=self._environment_variables()),
            tags={**spec.tags, "bank:release": pin.sha},
            # The log group first, so Lambda never creates an unencrypted one; its own grants and flags before its
            # first start; and its subscriptions registered before it, so nothing is missed while it deploys.
            opts=self.child_options(
                depends_on=[self.log_group, self.module_policy, self.flags_deployment, *delivering]
            ),
        )

    # --- runtime parameters beside the release record ------------------------------------------------------------
    def _build_parameters(self) -> RuntimeParameters:
        spec = self.deployment.spec
        env = self.context.environment
        group_name = f"{spec.slug}-parameters"
        group = RuntimeParameters(group_name, self.child_options())
        facts: list[tuple[str, Any, str]] = [
            ("function-name", self.function.name, "its function (invoke the `live` alias)"),
            ("dead-letter-queue-url", self.dead_letter_queue.url, "what it failed to process"),
            (
                "appconfig-profile",
                pulumi.Output.concat(
                    self.appconfig_application.name, "/", self.appconfig_environment.name, "/", self.profile.name
                ),
                "its flags: AppConfig application/environment/profile",
            ),
        ]
        if self.subscription_queue is not None:
            facts.append(("subscription-queue-url", self.subscription_queue.url, "the events it subscribes to"))
        parameters = {}
        for name, value, description in facts:
            parameters[name] = aws.ssm.Parameter(
                # Named under the group's name, so a slug rename (formerSlugs) derives their aliases too.
                f"{group_name}-{name}",
                name=parameter_path(env, spec.slug) + name,
                type="String",
                # Not secret: names and URLs that operators and `pulumi preview` should see.
                insecure_value=value,
                description=f"{spec.id} {spec.name}: {description}",
                tags=spec.tags,
                opts=pulumi.ResourceOptions(parent=group),
            )
        group.register_outputs({"path": parameter_path(env, spec.slug), "count": len(parameters)})
        return group

    # --- alarms (catalogue/alerts.yaml `serviceAlerts`) -----------------------------------------------------------
    def _build_alarms(self) -> dict[str, aws.cloudwatch.MetricAlarm]:
        spec = self.deployment.spec
        env = self.context.environment
        topics = self.context.foundation["observability-platform"].topics
        alarms = {}
        for alert in self.context.platform.alerts.service_alerts:
            alarms[alert.id] = aws.cloudwatch.MetricAlarm(
                f"{spec.slug}-{alert.id}",
                name=alert.alarm_name(env, spec.slug),
                alarm_description=f"[{alert.severity}] {spec.name}: {alert.title}. {alert.rationale}",
                namespace=alert.metric.namespace,
                metric_name=alert.metric.name,
                statistic=alert.metric.statistic,
                dimensions=alert.dimensions(env, spec.slug),
                threshold=alert.threshold,
                comparison_operator=alert.comparison,
                period=alert.period,
                evaluation_periods=alert.evaluation_periods,
                datapoints_to_alarm=alert.datapoints_to_alarm,
                treat_missing_data=alert.treat_missing_data,
                alarm_actions=[topics[alert.severity].arn],
                tags={**spec.tags, "bank:alert-severity": alert.severity},
                opts=self.child_options(),
            )
        return alarms


class RuntimeParameters(pulumi.ComponentResource):
    """A module's runtime parameters under /bank/{env}/{slug}/ as one unit, so its release record stays the one SSM
    parameter directly under the module's component (the phase gate's `/bank/{env}/{slug}/release`)."""

    def __init__(self, name: str, opts: pulumi.ResourceOptions):
        super().__init__("bank:domains:RuntimeParameters", name, None, opts)


def _rules_may_send(sid: str, queue_arn: Any, rule_arns: list[Any]) -> dict[str, Any]:
    """EventBridge may send to the queue for exactly these rules (confused-deputy guard: aws:SourceArn)."""
    return {
        "Sid": sid,
        "Effect": "Allow",
        "Principal": {"Service": "events.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": {"ArnEquals": {"aws:SourceArn": rule_arns}},
    }
