"""Every enabled service module's own footprint (issue 8, "ServiceModule") on the real dev and prod plans.

Expectations come from the raw files a bank edits (catalogue/modules.yaml, catalogue/alerts.yaml, releases/<stack>.yaml,
Pulumi.<stack>.yaml), from MOD-104's and MOD-076's resources in the same plan, and from AWS's documented rules, written
out here — not read back from components/service_module.py. Ordering is the engine's: PlanGraph.
"""

from __future__ import annotations

import json
import re
from functools import cache
from typing import Any

import pytest
import yaml
from google.protobuf import json_format
from parliament import analyze_policy_string

from bankctl.plan_command import engine_config_values
from bankctl.plan_export import export_document
from bankctl.plan_graph import PlanGraph
from bankctl.recording import SIG_KEY, PlanMocks, RecordingMonitor, record_program
from domains.platform import build_platform
from model.platform import load_platform
from tests.conftest import DATABASE_DOMAINS, PROJECT_DIR, engine_config, offline_plan

STACKS = ("dev", "prod")
REGION = "ap-southeast-2"
ACCOUNTS = {"dev": "381492650173", "prod": "647215093382"}  # Pulumi.<stack>.yaml
RAW_MODULES = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
RAW_BY_SLUG = {m["slug"]: m for m in RAW_MODULES}
RAW_BY_ID = {m["id"]: m for m in RAW_MODULES}
RAW_SERVICE_ALERTS = yaml.safe_load((PROJECT_DIR / "catalogue" / "alerts.yaml").read_text())["serviceAlerts"]
HOSTED_VERSION = "aws:appconfig/hostedConfigurationVersion:HostedConfigurationVersion"
# AWS Lambda developer guide, "Using Lambda with Amazon SQS": the queue's visibility timeout at least 6 × the
# function's timeout, and a redrive maxReceiveCount of at least 5.
VISIBILITY_FACTOR = 6
MIN_RECEIVES = 5
SQS_MAX_RETENTION = 14 * 86400  # the dead-letter queue keeps what failed as long as SQS allows


# --- reading the plan ---------------------------------------------------------------------------------------------
@cache
def resources(stack: str) -> dict[str, dict[str, Any]]:
    """The plan's resources by logical name (unique in this program: children are `<slug>-<what>`)."""
    return {r["urn"].rsplit("::", 1)[1]: r for r in offline_plan(stack).document["deployment"]["resources"]}


@cache
def graph(stack: str) -> PlanGraph:
    return PlanGraph(offline_plan(stack).document)


def services(stack: str) -> list[dict[str, Any]]:
    """The plan's enabled modules that the raw catalogue calls services (kind defaults to service)."""
    return [
        m
        for m in offline_plan(stack).document["bank"]["modules"]
        if m["enabled"] and RAW_BY_SLUG[m["slug"]].get("kind", "service") == "service"
    ]


def stack_file(stack: str) -> dict[str, Any]:
    return yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]


def pins(stack: str) -> dict[str, dict[str, str]]:
    return yaml.safe_load((PROJECT_DIR / "releases" / f"{stack}.yaml").read_text())["modules"]


def key_arn(stack: str, domain: str) -> str:
    return resources(stack)[f"aws-bootstrap-{domain.lower()}-key"]["outputs"]["arn"]


def outputs(stack: str, name: str) -> dict[str, Any]:
    return resources(stack)[name]["outputs"]


def urn(stack: str, name: str) -> str:
    return resources(stack)[name]["urn"]


def subscribers(stack: str) -> list[dict[str, Any]]:
    return [m for m in services(stack) if RAW_BY_SLUG[m["slug"]].get("subscribes")]


# --- the footprint of every service module ------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_every_service_module_has_its_log_group_function_queue_and_alarms(stack):
    mods = services(stack)
    assert len(mods) > 130  # 149 modules, 6 of them foundation, a few off by a stack flag
    retention = stack_file(stack)["bank:retention"]["logRetentionDays"]
    artifacts = outputs(stack, "aws-bootstrap-artifacts-bucket")["bucket"]
    for m in mods:
        slug, domain = m["slug"], m["domain"]
        named = resources(stack)
        for part in ("logs", "dlq", "function", "live", "profile", "flags-deployment"):
            assert named[f"{slug}-{part}"]["parent"] == m["urn"], (slug, part)
        logs = named[f"{slug}-logs"]["inputs"]
        assert logs["name"] == f"/bank/{stack}/{slug}"
        assert logs["kmsKeyId"] == key_arn(stack, domain)
        assert logs["retentionInDays"] == retention

        dlq = named[f"{slug}-dlq"]["inputs"]
        assert dlq["name"] == f"bank-{stack}-{slug}-dlq"
        assert dlq["kmsMasterKeyId"] == key_arn(stack, domain)
        assert dlq["messageRetentionSeconds"] == SQS_MAX_RETENTION

        function = named[f"{slug}-function"]
        fn = function["inputs"]
        pin = pins(stack)[m["id"]]
        assert fn["name"] == f"bank-{stack}-{slug}"
        assert (fn["s3Bucket"], fn["s3Key"]) == (artifacts, pin["artifact"])
        assert fn["tags"]["bank:release"] == pin["sha"] and pin["sha"] in fn["description"]
        assert fn["role"] == outputs(stack, f"aws-bootstrap-role-{slug}")["arn"]
        assert fn["tracingConfig"] == {"mode": "Active"}
        assert fn["kmsKeyArn"] == key_arn(stack, domain)
        assert (fn["runtime"], fn["architectures"], fn["handler"]) == ("python3.13", ["arm64"], "app.handler")
        assert fn["publish"] is True
        assert fn["deadLetterConfig"] == {"targetArn": outputs(stack, f"{slug}-dlq")["arn"]}
        assert fn["loggingConfig"]["logGroup"] == f"/bank/{stack}/{slug}"
        # The log group exists before the function, so Lambda never creates an unencrypted one.
        assert named[f"{slug}-logs"]["urn"] in function["dependencies"]

        alias = named[f"{slug}-live"]["inputs"]
        assert alias["name"] == "live"
        assert alias["functionVersion"] == outputs(stack, f"{slug}-function")["version"] != "$LATEST"


@pytest.mark.parametrize("stack", STACKS)
def test_memory_and_reserved_concurrency_come_from_the_catalogue_and_the_stack(stack):
    sizing = stack_file(stack)["bank:sizing"]
    cap = sizing.get("maxReservedConcurrency")
    reserved = 0
    for m in services(stack):
        raw = RAW_BY_SLUG[m["slug"]]
        fn = resources(stack)[f"{m['slug']}-function"]["inputs"]
        assert fn["memorySize"] == raw.get("memoryMb", sizing["lambdaMemoryMb"]), m["slug"]
        wanted = raw.get("reservedConcurrency")
        expected = None if wanted is None else wanted if cap is None else min(wanted, cap)
        assert fn.get("reservedConcurrentExecutions") == expected, m["slug"]
        reserved += expected is not None
    assert reserved >= 2  # the catalogue reserves for a few latency-critical modules


def test_dev_caps_every_reservation_and_prod_keeps_the_catalogues():
    dev, prod = resources("dev"), resources("prod")
    assert dev["card-authorisation-function"]["inputs"]["reservedConcurrentExecutions"] == 5  # Pulumi.dev.yaml
    assert prod["card-authorisation-function"]["inputs"]["reservedConcurrentExecutions"] == 100


@pytest.mark.parametrize(("stack", "kept"), [("dev", False), ("prod", True)])
def test_queues_and_log_groups_are_protected_where_data_is_real(stack, kept):
    for m in services(stack):
        parts = ["logs", "dlq"] + (["events"] if RAW_BY_SLUG[m["slug"]].get("subscribes") else [])
        for part in parts:
            r = resources(stack)[f"{m['slug']}-{part}"]
            assert bool(r.get("protect")) is kept and bool(r.get("retainOnDelete")) is kept, r["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_alarms_follow_alerts_yaml_and_go_to_the_topic_of_their_severity(stack):
    topics = {
        s: outputs(stack, "observability-platform-alerts" + ("" if s == "critical" else f"-{s}"))["arn"]
        for s in ("critical", "warning", "info")
    }
    assert {a["id"] for a in RAW_SERVICE_ALERTS} == {"errors", "throttles", "dead-letter-depth"}
    for m in services(stack):
        slug = m["slug"]
        for a in RAW_SERVICE_ALERTS:
            alarm = resources(stack)[f"{slug}-{a['id']}"]["inputs"]
            assert alarm["name"] == f"bank-{stack}-{slug}-{a['id']}" and len(alarm["name"]) <= 255
            assert alarm["threshold"] == a["threshold"]
            assert alarm["period"] == a["period"] and alarm["evaluationPeriods"] == a["evaluationPeriods"]
            assert alarm["comparisonOperator"] == a["comparison"]
            assert (alarm["namespace"], alarm["metricName"], alarm["statistic"]) == (
                a["metric"]["namespace"],
                a["metric"]["name"],
                a["metric"]["statistic"],
            )
            assert alarm["alarmActions"] == [topics[a["severity"]]]
            assert a["rationale"] in alarm["alarmDescription"]
        # Each watches the module's own function or dead-letter queue.
        named = resources(stack)
        function_name = named[f"{slug}-function"]["inputs"]["name"]
        assert named[f"{slug}-errors"]["inputs"]["dimensions"] == {"FunctionName": function_name}
        assert named[f"{slug}-throttles"]["inputs"]["dimensions"] == {"FunctionName": function_name}
        assert named[f"{slug}-dead-letter-depth"]["inputs"]["dimensions"] == {
            "QueueName": named[f"{slug}-dlq"]["inputs"]["name"]
        }


@pytest.mark.parametrize("stack", STACKS)
def test_runtime_parameters_sit_beside_the_release_record(stack):
    for m in services(stack):
        slug = m["slug"]
        subscribed = bool(RAW_BY_SLUG[slug].get("subscribes"))
        params = {
            r["inputs"]["name"]: r
            for r in offline_plan(stack).document["deployment"]["resources"]
            if r["type"] == "aws:ssm/parameter:Parameter" and r["inputs"]["name"].startswith(f"/bank/{stack}/{slug}/")
        }
        expected = {"release", "function-name", "dead-letter-queue-url", "appconfig-profile"}
        expected |= {"subscription-queue-url"} if subscribed else set()
        assert {name.rsplit("/", 1)[1] for name in params} == expected, slug
        # The release record stays the one parameter directly under the module (the phase gate reads it).
        direct = [p for p in params.values() if p["parent"] == m["urn"]]
        assert [p["inputs"]["name"] for p in direct] == [f"/bank/{stack}/{slug}/release"]
        p = f"/bank/{stack}/{slug}/"
        assert params[p + "function-name"]["inputs"]["insecureValue"] == f"bank-{stack}-{slug}"
        assert params[p + "dead-letter-queue-url"]["inputs"]["insecureValue"] == outputs(stack, f"{slug}-dlq")["url"]
        if subscribed:
            url = outputs(stack, f"{slug}-events")["url"]
            assert params[p + "subscription-queue-url"]["inputs"]["insecureValue"] == url


# --- the function's environment: names, never secrets ---------------------------------------------------------------
def _strings(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [s for v in value.values() for s in _strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in _strings(v)]
    return [value] if isinstance(value, str) else []


@pytest.mark.parametrize("stack", STACKS)
def test_the_environment_names_where_things_are_and_holds_no_secret(stack):
    values, secret_keys = engine_config(stack)
    secrets = [s for key in secret_keys for s in _strings(values[key]) if len(s) >= 8]
    assert secrets  # the stand-in credentials at least (bank:neonApiKey, bank:snowflakePrivateKey)
    endpoint = outputs(stack, "neon-database-bootstrap-endpoint")
    for m in services(stack):
        slug, domain, raw = m["slug"], m["domain"], RAW_BY_SLUG[m["slug"]]
        variables = resources(stack)[f"{slug}-function"]["inputs"]["environment"]["variables"]
        assert SIG_KEY not in json.dumps(variables)  # nothing in it is a secret, so nothing is hidden either
        text = json.dumps(variables)
        for secret in secrets:
            assert secret not in text, (slug, "a secret config value")
        assert "OfflinePlan" not in text  # the plan's stand-ins of generated passwords and keys
        assert variables["ENVIRONMENT"] == stack and variables["MODULE"] == slug and variables["DOMAIN"] == domain
        assert variables["PARAMETER_PATH"] == f"/bank/{stack}/{slug}/"
        assert variables["APPCONFIG_APPLICATION"] == f"bank-{stack}-{domain.lower()}"
        assert variables["APPCONFIG_PROFILE"] == slug
        assert variables["TENANT_ACTIVATION_PROFILE"] == "tenant-activation"
        assert variables["TENANT_ACTIVATION_APPLICATION"] == f"bank-{stack}-sd07"
        secret_names = variables.get("SECRET_NAMES", "")
        expected = [f"/bank/{stack}/{domain.lower()}/{s}" for s in raw.get("secrets", [])]
        assert (secret_names.split(",") if secret_names else []) == expected
        database = raw.get("database")
        if database is None:
            assert not any(k.startswith("DATABASE_") for k in variables), slug
            continue
        # The pooled endpoint (PgBouncer), never the direct one; the service role's credentials by name.
        assert variables["DATABASE_HOST"] == endpoint["poolerHost"] != endpoint["host"]
        assert variables["DATABASE_NAME"] == database and variables["DATABASE_PORT"] == "5432"
        assert variables["DATABASE_SECRET"] == f"/bank/{stack}/{DATABASE_DOMAINS[database]}/db-service"


# --- subscriptions (DESIGN §3, G9) ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_subscription_is_a_rule_on_the_source_bus_into_the_modules_own_queue(stack):
    found = subscribers(stack)
    assert len(found) > 30
    for m in found:
        slug = m["slug"]
        named = resources(stack)
        queue, dlq = named[f"{slug}-events"], named[f"{slug}-dlq"]
        assert queue["inputs"]["name"] == f"bank-{stack}-{slug}-events"
        assert queue["inputs"]["kmsMasterKeyId"] == key_arn(stack, m["domain"])
        timeout = named[f"{slug}-function"]["inputs"]["timeout"]
        assert queue["inputs"]["visibilityTimeoutSeconds"] >= VISIBILITY_FACTOR * timeout
        redrive = json.loads(queue["inputs"]["redrivePolicy"])
        assert redrive["deadLetterTargetArn"] == dlq["outputs"]["arn"] and redrive["maxReceiveCount"] >= MIN_RECEIVES
        # Only its own subscription queue may dead-letter into its DLQ.
        assert json.loads(dlq["inputs"]["redriveAllowPolicy"]) == {
            "redrivePermission": "byQueue",
            "sourceQueueArns": [queue["outputs"]["arn"]],
        }
        rule_arns = []
        for subscription in RAW_BY_SLUG[slug]["subscribes"]:
            source, event = subscription.split(":")
            rules = [
                r
                for r in named.values()
                if r["type"] == "aws:cloudwatch/eventRule:EventRule"
                and r["parent"] == m["urn"]
                and json.loads(r["inputs"]["eventPattern"]) == {"detail-type": [event]}
                and r["inputs"]["eventBusName"] == f"bank-{stack}-{source.lower()}"
            ]
            assert len(rules) == 1, (slug, subscription)
            (rule,) = rules
            assert len(rule["inputs"]["name"]) <= 64  # EventBridge's limit on a rule name
            assert urn(stack, f"aws-bootstrap-{source.lower()}-bus") in rule["dependencies"]
            rule_arns.append(rule["outputs"]["arn"])
            (target,) = [
                r
                for r in named.values()
                if r["type"] == "aws:cloudwatch/eventTarget:EventTarget"
                and r["inputs"]["rule"] == rule["inputs"]["name"]
            ]
            assert target["inputs"]["arn"] == queue["outputs"]["arn"]
            assert target["inputs"]["deadLetterConfig"] == {"arn": dlq["outputs"]["arn"]}
        # Each queue admits EventBridge for exactly these rules.
        for policy_name, resource in ((f"{slug}-events-policy", queue), (f"{slug}-dlq-policy", dlq)):
            policy = json.loads(named[policy_name]["inputs"]["policy"])
            (statement,) = policy["Statement"]
            assert statement["Principal"] == {"Service": "events.amazonaws.com"}
            assert statement["Action"] == "sqs:SendMessage" and statement["Resource"] == resource["outputs"]["arn"]
            assert sorted(statement["Condition"]["ArnEquals"]["aws:SourceArn"]) == sorted(rule_arns)
        mapping = named[f"{slug}-events-mapping"]
        assert mapping["inputs"]["eventSourceArn"] == queue["outputs"]["arn"]
        assert mapping["inputs"]["functionName"] == outputs(stack, f"{slug}-live")["arn"]
        assert named[f"{slug}-live"]["urn"] in mapping["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_modules_that_subscribe_to_nothing_have_no_queue_rule_or_mapping(stack):
    for m in services(stack):
        if RAW_BY_SLUG[m["slug"]].get("subscribes"):
            continue
        kids = {r["type"] for r in resources(stack).values() if r.get("parent") == m["urn"]}
        assert not kids & {"aws:cloudwatch/eventRule:EventRule", "aws:lambda/eventSourceMapping:EventSourceMapping"}
        assert f"{m['slug']}-events" not in resources(stack)
        dlq = resources(stack)[f"{m['slug']}-dlq"]["inputs"]
        assert json.loads(dlq["redriveAllowPolicy"]) == {"redrivePermission": "denyAll"}


@pytest.mark.parametrize("stack", STACKS)
def test_queue_and_rules_come_before_the_function_and_the_mapping_comes_last(stack):
    g = graph(stack)
    for m in subscribers(stack):
        slug = m["slug"]
        function, mapping = urn(stack, f"{slug}-function"), urn(stack, f"{slug}-events-mapping")
        delivery = [
            r["urn"]
            for r in resources(stack).values()
            if r.get("parent") == m["urn"]
            and r["type"]
            in (
                "aws:sqs/queue:Queue",
                "aws:sqs/queuePolicy:QueuePolicy",
                "aws:cloudwatch/eventRule:EventRule",
                "aws:cloudwatch/eventTarget:EventTarget",
            )
        ]
        assert len(delivery) >= 6  # two queues, two policies, a rule and its target at least
        for u in delivery:
            assert function not in g.waits_on(u), (u, "waits for the function")
            # Registered before the function: nothing emitted while the function deploys is lost.
            assert u in g.waits_on(function), (u, "not before the function")
        assert urn(stack, f"{slug}-live") in g.waits_on(mapping) and function in g.waits_on(mapping)


@pytest.mark.parametrize(
    ("stack", "subscriber", "publishers", "publishing_phase"),
    [
        # Phase 6 waits for Phase 1 only; SD05's credit events come from Phase 5 (DESIGN G3).
        ("dev", "related-party-exposure", ("loan-origination", "credit-limit-management"), 5),
        ("prod", "large-exposures", ("loan-origination", "credit-limit-management"), 5),
        ("prod", "concentration-risk", ("loan-origination",), 5),
        # Phase 3 does not wait for Phase 4; SWIFT (on in prod) publishes payment.swift-settled.
        ("prod", "ifti-reporting", ("swift-correspondent-banking",), 4),
    ],
)
def test_subscribing_to_another_domain_never_waits_for_it(stack, subscriber, publishers, publishing_phase):
    g = graph(stack)
    module = g.module(subscriber)
    for publisher in publishers:
        assert not g.touches(module, g.module(publisher)), f"{subscriber} waits for {publisher}"
    assert not g.touches(module, g.gate(publishing_phase)), f"{subscriber} waits for phase {publishing_phase}"
    # …and still hears it: a rule of its own on the publishing domain's bus, which exists from Phase 0.
    source = {"loan-origination": "sd05", "swift-correspondent-banking": "sd04"}[publishers[0]]
    buses = {
        r["inputs"]["eventBusName"]
        for r in resources(stack).values()
        if r["type"] == "aws:cloudwatch/eventRule:EventRule" and r.get("parent") == module
    }
    assert f"bank-{stack}-{source}" in buses
    assert g.waits_for(module, g.module("aws-bootstrap"))


# --- AppConfig: the module's own flags, nothing else -------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_module_has_its_own_profile_and_environment_in_its_domains_application(stack):
    named = resources(stack)
    environments = set()
    for m in services(stack):
        slug, domain = m["slug"], m["domain"]
        application = named[f"aws-bootstrap-appconfig-{domain.lower()}"]["id"]
        profile = named[f"{slug}-profile"]
        assert profile["inputs"]["name"] == slug and profile["inputs"]["applicationId"] == application
        environment = named[f"{slug}-appconfig-environment"]
        assert environment["inputs"]["applicationId"] == application
        environments.add(environment["outputs"]["environmentId"])
        deployment = named[f"{slug}-flags-deployment"]["inputs"]
        assert deployment["environmentId"] == environment["outputs"]["environmentId"]
        assert deployment["configurationProfileId"] == profile["outputs"]["configurationProfileId"]
        assert deployment["deploymentStrategyId"] == named["aws-bootstrap-appconfig-strategy"]["id"]
        # The validator admits exactly the module's flags, as booleans.
        (validator,) = profile["inputs"]["validators"]
        schema = json.loads(validator["content"])
        flags = RAW_BY_SLUG[slug].get("flags", {})
        assert schema["additionalProperties"] is False
        assert schema["properties"] == {name: {"type": "boolean"} for name in flags}
    # AppConfig runs one deployment at a time per environment: no two modules share one.
    assert len(environments) == len(services(stack))


# --- least privilege of the module's own grants ------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_the_modules_own_grants_are_exactly_its_profile(stack):
    named = resources(stack)
    boundary = json.loads(named["aws-bootstrap-service-boundary"]["inputs"]["policy"])
    capped = {a for s in boundary["Statement"] if s["Effect"] == "Allow" for a in s["Action"]}
    for m in services(stack):
        slug = m["slug"]
        policy = named[f"{slug}-role-policy"]["inputs"]
        assert policy["role"] == f"bank-{stack}-{slug}"
        document = json.loads(policy["policy"])
        # Its cross-domain needs that are services are what it calls over their domains' APIs (operations index).
        called = sorted(
            RAW_BY_ID[n]["slug"]
            for n in RAW_BY_SLUG[slug].get("needs", [])
            if RAW_BY_ID[n].get("kind", "service") == "service"
            and RAW_BY_ID[n]["domain"] != RAW_BY_SLUG[slug]["domain"]
        )
        sids = [s["Sid"] for s in document["Statement"]]
        assert sids == ["ReadOwnProfile"] + (["InvokeCalleeApis"] if called else []), slug
        if called:
            invoke = document["Statement"][1]
            assert invoke["Action"] in ("execute-api:Invoke", ["execute-api:Invoke"])
            prefix = f"arn:aws:execute-api:{REGION}:{ACCOUNTS[stack]}:"
            resources_ = invoke["Resource"] if isinstance(invoke["Resource"], list) else [invoke["Resource"]]
            assert all(r.startswith(prefix) and r.count("/") >= 3 for r in resources_), slug
            assert {r.split("/")[3] for r in resources_} == set(called), slug  # only the callees' own paths
        statement = document["Statement"][0]
        actions = statement["Action"]
        assert sorted(actions) == ["appconfig:GetLatestConfiguration", "appconfig:StartConfigurationSession"]
        assert not any("*" in a for a in actions) and set(actions) <= capped  # never capped by the boundary
        application = named[f"aws-bootstrap-appconfig-{m['domain'].lower()}"]["id"]
        environment = outputs(stack, f"{slug}-appconfig-environment")["environmentId"]
        profile = outputs(stack, f"{slug}-profile")["configurationProfileId"]
        assert statement["Resource"] == [
            f"arn:aws:appconfig:{REGION}:{ACCOUNTS[stack]}:application/{application}/environment/{environment}"
            f"/configuration/{profile}"
        ]
        findings = analyze_policy_string(policy["policy"], include_community_auditors=True).findings
        assert [(f.issue, f.detail) for f in findings] == [], slug


# --- one recording with a changed alerts.yaml, keeping the flags' plaintext ---------------------------------------------
class ContentCapturingMonitor(RecordingMonitor):
    """Keeps the plaintext of hosted AppConfig content, which pulumi-aws always marks secret (the plan shows only
    `[secret]`). Test-only: the plan itself never holds it."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.hosted_content: dict[str, str] = {}

    def RegisterResource(self, request):
        if request.type == HOSTED_VERSION:
            content = json_format.MessageToDict(request.object)["content"]
            self.hosted_content[request.name] = content["value"] if isinstance(content, dict) else content
        return super().RegisterResource(request)


# Secret config values as the engine hands them to the program once a person has set them (`--secret`).
SENTINELS = {
    "bank:neonApiKey": "SentinelNeonApiKey7c1e5a9b",
    "bank:snowflakePrivateKey": "SentinelSnowflakeKey7c1e5a9b",
    "bank:alertEmail": "sentinel-7c1e5a9b@totarabank.co.nz",
}


@pytest.fixture(scope="module")
def changed_dev(tmp_path_factory):
    """The dev program recorded with the `errors` threshold of serviceAlerts raised in a copy of alerts.yaml and with
    secret config values set, keeping the hosted flags' plaintext."""
    alerts = yaml.safe_load((PROJECT_DIR / "catalogue" / "alerts.yaml").read_text())
    (errors,) = [a for a in alerts["serviceAlerts"] if a["id"] == "errors"]
    errors["threshold"] += 7
    alerts_file = tmp_path_factory.mktemp("alerts") / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(alerts))
    values, secret_keys = engine_config("dev")
    values, secret_keys = {**values, **SENTINELS}, secret_keys | set(SENTINELS)
    platform = load_platform(PROJECT_DIR, "dev", values, secret_keys, alerts_file=alerts_file)
    monitor = ContentCapturingMonitor(PlanMocks(ACCOUNTS["dev"], REGION))
    recording = record_program(
        lambda: build_platform(platform), "bank", "dev", engine_config_values(values), secret_keys, monitor=monitor
    )
    document = export_document(recording, platform)
    named = {r["urn"].rsplit("::", 1)[1]: r for r in document["deployment"]["resources"]}
    return named, monitor.hosted_content, errors["threshold"]


def test_a_threshold_changed_in_alerts_yaml_changes_exactly_those_alarms(changed_dev):
    changed, _, threshold = changed_dev
    before = resources("dev")
    # Within the service modules (the secret values set for this recording change the foundation's inputs).
    footprint = {u for m in services("dev") for u in graph("dev").subtree(m["urn"])}
    differing = sorted(name for name, r in before.items() if r["urn"] in footprint and changed[name] != before[name])
    assert differing == sorted(f"{m['slug']}-errors" for m in services("dev"))
    for name in differing:
        assert changed[name]["inputs"]["threshold"] == threshold != before[name]["inputs"]["threshold"]


def test_no_secret_config_value_reaches_a_functions_environment(changed_dev):
    changed, _, _ = changed_dev
    for m in services("dev"):
        variables = changed[f"{m['slug']}-function"]["inputs"]["environment"]["variables"]
        text = json.dumps(variables)
        assert SIG_KEY not in text, m["slug"]  # not even as a secret
        for value in SENTINELS.values():
            assert value not in text, m["slug"]


def test_a_profile_holds_only_the_modules_own_flags(changed_dev):
    _, content, _ = changed_dev
    mods = services("dev")
    assert {f"{m['slug']}-flags" for m in mods} <= set(content)
    for m in mods:
        text = content[f"{m['slug']}-flags"]
        assert json.loads(text) == RAW_BY_SLUG[m["slug"]].get("flags", {})  # never activation, never anything else
        assert text == json.dumps(json.loads(text), sort_keys=True, separators=(",", ":"))  # stable text
    assert json.loads(content["scam-detection-friction-flags"]) == {
        "confirmation-of-payee-warning": True,
        "new-payee-cooling-off": False,
    }


# --- names AWS limits ---------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_names_fit_what_aws_allows(stack):
    for m in services(stack):
        slug = m["slug"]
        named = resources(stack)
        assert len(named[f"{slug}-function"]["inputs"]["name"]) <= 64  # Lambda function name
        for part in ("dlq", "events"):
            if f"{slug}-{part}" in named:
                name = named[f"{slug}-{part}"]["inputs"]["name"]
                assert re.fullmatch(r"[A-Za-z0-9_-]{1,80}", name), name  # SQS queue name
        assert len(named[f"{slug}-appconfig-environment"]["inputs"]["name"]) <= 64  # AppConfig environment name
