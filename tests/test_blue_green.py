"""Blue-green behind a health check, and the prod canary with automatic rollback (components/blue_green.py), recorded
under Pulumi's mock runtime as the offline plan records it (bankctl/recording.py).

The parent is a real ModuleComponent built from the stack's own platform (so the module record, the explicit AWS
provider and the BuildContext are the program's), whose footprint is only what `live_alias` needs: a published
function and its alarms. The service modules' full footprint is tested with the plans (tests/test_service_modules.py).
"""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pytest
from parliament import analyze_policy_string

from bankctl.recording import STACK_TYPE, PlanMocks, RecordingMonitor, Registration, record_program
from components.blue_green import live_alias
from components.build_context import BuildContext
from components.module_component import ModuleComponent
from components.stack_inputs import StackInputs
from domains.platform import aws_provider
from foundation.aws_bootstrap import AwsBootstrap
from model.errors import ConfigurationError
from model.platform import load_stack_platform
from model.stack_config import config_from_values
from tests.conftest import PROJECT_DIR, engine_config, offline_plan

COMMAND = "command:local:Command"
ALIAS = "aws:lambda/alias:Alias"
CODEDEPLOY_TYPES = (
    "aws:codedeploy/application:Application",
    "aws:codedeploy/deploymentConfig:DeploymentConfig",
    "aws:codedeploy/deploymentGroup:DeploymentGroup",
)
MODULES = ("account-ledger", "balance-service")


class ReleasedFunctionModule(ModuleComponent):
    """A service module reduced to a published function, its alarms and its live alias."""

    def __init__(self, deployment, context, opts, alarm_count: int, function_name: str | None):
        self.alarm_count = alarm_count
        self.function_name = function_name
        super().__init__("bank:domains:ServiceModule", deployment, context, opts)

    def _build_footprint(self) -> None:
        slug, env = self.deployment.spec.slug, self.context.environment
        self.function = aws.lambda_.Function(
            f"{slug}-function",
            name=self.function_name or f"bank-{env}-{slug}",
            role=f"arn:aws:iam::{self.context.platform.config.aws_account_id}:role/bank-{env}-{slug}",
            runtime="python3.12",
            handler="service.handler",
            s3_bucket=f"bank-{env}-artifacts",
            s3_key=f"{slug}.zip",
            publish=True,
            opts=self.child_options(),
        )
        alarms = [
            aws.cloudwatch.MetricAlarm(
                f"{slug}-alarm-{n}",
                name=f"bank-{env}-{slug}-alarm-{n}",
                namespace="AWS/Lambda",
                metric_name="Errors",
                statistic="Sum",
                period=60,
                evaluation_periods=1,
                threshold=1,
                comparison_operator="GreaterThanOrEqualToThreshold",
                opts=self.child_options(),
            )
            for n in range(self.alarm_count)
        ]
        self.alias = live_alias(self, self.function, [alarm.name for alarm in alarms])


class OnceEachMonitor(RecordingMonitor):
    """Records as the plan does, and keeps every URN registered more than once."""

    def __init__(self, mocks):
        super().__init__(mocks)
        self.seen: set[str] = set()
        self.twice: list[str] = []

    def RegisterResource(self, request):  # noqa: N802 (the monitor's gRPC name)
        response = super().RegisterResource(request)
        if request.type == STACK_TYPE:  # the mock runtime registers the root stack twice; the engine does not
            return response
        if response.urn in self.seen:
            self.twice.append(response.urn)
        self.seen.add(response.urn)
        return response


@dataclass
class Recorded:
    stack: str
    by_name: dict[str, Registration]

    def __getitem__(self, name: str) -> Registration:
        return self.by_name[name]

    def of_type(self, type_: str) -> list[Registration]:
        return [r for r in self.by_name.values() if r.type == type_]

    def version(self, slug: str) -> str:
        return self[f"{slug}-function"].outputs["version"]

    def function_name(self, slug: str) -> str:
        return self[f"{slug}-function"].outputs["name"]


def record_modules(
    stack: str, slugs=MODULES, alarm_count: int = 2, function_name: str | None = None, stack_config=None
) -> Recorded:
    platform = load_stack_platform(PROJECT_DIR, stack)
    if stack_config is not None:
        platform = type(platform)(**{**platform.__dict__, "config": stack_config})

    def program():
        context = BuildContext(platform, StackInputs(platform.config, platform.secret_keys))
        opts = pulumi.ResourceOptions(providers={"aws": aws_provider(context.inputs)})
        # MOD-104 first, as Phase 0 is: the CodeDeploy role takes its platform boundary.
        bootstrap = next(m for m in platform.modules if m.spec.slug == "aws-bootstrap")
        context.foundation["aws-bootstrap"] = AwsBootstrap(bootstrap, context, opts)
        for slug in slugs:
            deployment = next(m for m in platform.modules if m.spec.slug == slug)
            ReleasedFunctionModule(deployment, context, opts, alarm_count, function_name)

    config = platform.config
    monitor = OnceEachMonitor(PlanMocks(config.aws_account_id, config.region))
    recording = record_program(program, "bank", stack, {}, monitor=monitor)
    # The engine refuses a URN registered twice (a shared resource made again); the recording would keep one.
    assert monitor.twice == [], monitor.twice
    return Recorded(stack, {r.name: r for r in recording.registrations.values()})


# --- every stack: no traffic before the health check -----------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_alias_waits_for_the_health_check_of_exactly_the_new_version(stack):
    recorded = record_modules(stack)
    for slug in MODULES:
        check, alias = recorded[f"{slug}-health-check"], recorded[f"{slug}-live"]
        version, name = recorded.version(slug), recorded.function_name(slug)
        assert check.urn in alias.dependencies
        # The version the alias will serve is the version the command checks; a new version re-runs the command.
        assert alias.inputs["functionVersion"] == version
        assert alias.inputs["functionName"] == name and alias.inputs["name"] == "live"
        assert check.inputs["triggers"] == [version]
        assert check.inputs["create"] == (
            f".venv/bin/python -m bankctl health-check --function {name} --qualifier {shlex.quote(version)} "
            f"--stack {stack}"
        )
        # Names and endpoints only: the command inherits the deployment's credentials from the engine.
        assert check.inputs["environment"] == {"AWS_REGION": "ap-southeast-2"}
        assert recorded[f"{slug}-function"].inputs["publish"] is True


def test_the_local_stack_checks_against_its_emulator():
    recorded = record_modules("local", slugs=MODULES[:1])
    assert recorded["account-ledger-health-check"].inputs["environment"]["AWS_ENDPOINT_URL"].startswith("http://")


@pytest.mark.parametrize("stack", ["local", "dev", "uat"])
def test_outside_prod_pulumi_moves_the_alias_and_there_is_no_codedeploy(stack):
    recorded = record_modules(stack, slugs=MODULES[:1])
    assert not [r for r in recorded.by_name.values() if r.type in CODEDEPLOY_TYPES]
    assert "release-codedeploy-role" not in recorded.by_name
    assert "account-ledger-release" not in recorded.by_name
    assert recorded["account-ledger-live"].ignore_changes == []


# --- prod: the canary, with automatic rollback --------------------------------------------------------------------
@pytest.fixture(scope="module")
def prod() -> Recorded:
    return record_modules("prod")


def test_in_prod_codedeploy_owns_the_alias_and_the_plan_records_it(prod):
    for slug in MODULES:
        assert prod[f"{slug}-live"].ignore_changes == ["functionVersion", "routingConfig"]


def test_each_prod_module_has_a_deployment_group_that_rolls_back_on_failure_and_on_its_alarms(prod):
    application = prod["release-codedeploy-application"]
    config = prod["release-canary-config"]
    role = prod["release-codedeploy-role"]
    for slug in MODULES:
        group = prod[f"{slug}-deployment-group"].inputs
        assert group["appName"] == application.outputs["name"] == "bank-prod-services"
        assert group["deploymentGroupName"] == slug
        assert group["serviceRoleArn"] == role.outputs["arn"]
        assert group["deploymentConfigName"] == config.outputs["deploymentConfigName"]
        assert group["autoRollbackConfiguration"] == {
            "enabled": True,
            "events": ["DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM"],
        }
        assert group["alarmConfiguration"] == {
            "enabled": True,
            "alarms": [f"bank-prod-{slug}-alarm-0", f"bank-prod-{slug}-alarm-1"],
            "ignorePollAlarmFailure": False,
        }
        assert group["deploymentStyle"] == {"deploymentType": "BLUE_GREEN", "deploymentOption": "WITH_TRAFFIC_CONTROL"}


def test_the_canary_is_the_stack_configs_percent_for_its_minutes(prod):
    config = prod["release-canary-config"].inputs
    assert prod["release-codedeploy-application"].inputs["computePlatform"] == config["computePlatform"] == "Lambda"
    # Pulumi.prod.yaml: bank:release.canaryPercent 10, canaryMinutes 5.
    assert config["deploymentConfigName"] == "bank-prod-canary-10pct-5min"
    assert config["trafficRoutingConfig"] == {
        "type": "TimeBasedCanary",
        "timeBasedCanary": {"percentage": 10, "interval": 5},
    }


def test_the_release_step_runs_after_the_health_check_alias_and_group_for_that_version(prod):
    for slug in MODULES:
        release = prod[f"{slug}-release"]
        needed = {prod[f"{slug}-{part}"].urn for part in ("health-check", "live", "deployment-group")}
        assert needed <= set(release.dependencies)
        version, name = prod.version(slug), prod.function_name(slug)
        assert release.inputs["triggers"] == [version]
        assert release.inputs["create"] == (
            f".venv/bin/python -m bankctl release start --module {slug} --function {name} "
            f"--version {shlex.quote(version)} --stack prod"
        )


def test_one_codedeploy_application_config_and_role_per_environment_at_top_level_on_the_stacks_provider(prod):
    top_level = [r for r in prod.by_name.values() if r.parent.endswith("::pulumi:pulumi:Stack::bank-prod")]
    assert sorted(r.type for r in top_level if r.type.startswith("aws:")) == [
        "aws:codedeploy/application:Application",
        "aws:codedeploy/deploymentConfig:DeploymentConfig",
        "aws:iam/role:Role",
        "aws:iam/rolePolicy:RolePolicy",
    ]
    for name in ("release-codedeploy-application", "release-canary-config", "release-codedeploy-role"):
        shared = prod[name]
        # Not a child of whichever module came first: the URN stays when modules come and go.
        assert shared.parent.endswith("::pulumi:pulumi:Stack::bank-prod")
        assert shared.provider.split("::")[-2] == "aws-prod"
    assert len(prod.of_type(CODEDEPLOY_TYPES[2])) == len(MODULES)
    # CodeDeploy checks its role when it uses it: the policy is in place before any group.
    policy = prod["release-codedeploy-role-policy"].urn
    assert all(policy in g.dependencies for g in prod.of_type(CODEDEPLOY_TYPES[2]))


def test_only_codedeploy_assumes_the_role_and_it_may_touch_only_this_environments_aliases_and_alarms(prod):
    trust = json.loads(prod["release-codedeploy-role"].inputs["assumeRolePolicy"])
    (statement,) = trust["Statement"]
    assert statement["Principal"] == {"Service": "codedeploy.amazonaws.com"}
    assert statement["Action"] == "sts:AssumeRole" and statement["Effect"] == "Allow"
    text = prod["release-codedeploy-role-policy"].inputs["policy"]
    policy = json.loads(text)
    granted = {s["Sid"]: (s["Action"], s["Resource"]) for s in policy["Statement"]}
    assert granted == {
        "ShiftLiveAliases": (
            ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"],
            "arn:aws:lambda:ap-southeast-2:647215093382:function:bank-prod-*",
        ),
        "ReadRollbackAlarms": (
            ["cloudwatch:DescribeAlarms"],
            "arn:aws:cloudwatch:ap-southeast-2:647215093382:alarm:bank-prod-*",
        ),
    }
    findings = analyze_policy_string(text, include_community_auditors=True).findings
    assert [(f.issue, f.detail) for f in findings] == []


def test_the_codedeploy_role_is_capped_by_the_platform_boundary_which_allows_what_it_grants(prod):
    role = prod["release-codedeploy-role"].inputs
    boundary = prod["aws-bootstrap-platform-boundary"]
    assert role["permissionsBoundary"] == boundary.outputs["arn"]
    allows = [s for s in json.loads(boundary.inputs["policy"])["Statement"] if s["Effect"] == "Allow"]
    # A boundary caps: an action it does not allow is denied whatever the role's policy grants.
    refused = [
        (action, statement["Resource"])
        for statement in json.loads(prod["release-codedeploy-role-policy"].inputs["policy"])["Statement"]
        for action in statement["Action"]
        if not any(
            any(fnmatch.fnmatchcase(action.lower(), a.lower()) for a in as_list(allow["Action"]))
            and any(fnmatch.fnmatchcase(statement["Resource"], r) for r in as_list(allow["Resource"]))
            for allow in allows
        )
    ]
    assert refused == []


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def outside_codedeploy_scope(resources: list[dict[str, Any]]) -> list[str]:
    """The functions and alarms a prod deployment group would shift or watch that its CodeDeploy role may not touch:
    the role's policy patterns (`…:function:bank-prod-*`, `…:alarm:bank-prod-*`) against each module's alias and
    group, matched as IAM matches them (fnmatch: `*` spans any characters)."""
    policy = json.loads(next(r for r in resources if r["name"] == "release-codedeploy-role-policy")["inputs"]["policy"])
    scope = {s["Sid"]: s["Resource"] for s in policy["Statement"]}
    region, account = "ap-southeast-2", "647215093382"
    problems = []
    for r in resources:
        if r["type"] == ALIAS:
            arn = f"arn:aws:lambda:{region}:{account}:function:{r['inputs']['functionName']}"
            if not fnmatch.fnmatchcase(arn, scope["ShiftLiveAliases"]):
                problems.append(f"function {r['inputs']['functionName']}")
        if r["type"] == CODEDEPLOY_TYPES[2]:
            for alarm in r["inputs"]["alarmConfiguration"]["alarms"]:
                if not fnmatch.fnmatchcase(
                    f"arn:aws:cloudwatch:{region}:{account}:alarm:{alarm}", scope["ReadRollbackAlarms"]
                ):
                    problems.append(f"alarm {alarm}")
    return problems


def as_resources(recorded: Recorded) -> list[dict[str, Any]]:
    return [{"name": r.name, "type": r.type, "inputs": r.inputs} for r in recorded.by_name.values()]


def test_the_role_may_shift_every_alias_and_read_every_alarm_of_the_modules(prod):
    assert outside_codedeploy_scope(as_resources(prod)) == []
    elsewhere = record_modules("prod", slugs=MODULES[:1], function_name="ledger")
    assert outside_codedeploy_scope(as_resources(elsewhere)) == ["function ledger"]


def test_the_prod_plan_names_every_function_and_alarm_within_the_codedeploy_roles_scope():
    resources = [
        {"name": r["urn"].split("::")[-1], "type": r["type"], "inputs": r.get("inputs", {})}
        for r in offline_plan("prod").document["deployment"]["resources"]
    ]
    # Every enabled prod service has its deployment group (the ServiceModule builds its live alias with live_alias).
    services = [
        m
        for m in offline_plan("prod").document["bank"]["modules"]
        if m["enabled"] and m["release"] != "this-repository"
    ]
    groups = [r for r in resources if r["type"] == CODEDEPLOY_TYPES[2]]
    assert len(groups) == len(services) > 100
    assert outside_codedeploy_scope(resources) == []


@pytest.mark.parametrize(("count", "problem"), [(0, "it has none"), (11, "takes at most 10")])
def test_a_canary_needs_between_one_and_ten_rollback_alarms(count, problem):
    with pytest.raises(Exception, match=problem):
        record_modules("prod", slugs=MODULES[:1], alarm_count=count)


# --- bank:release: on in prod, nowhere else -------------------------------------------------------------------------
def config_with(stack: str, release: Any):
    values, secret_keys = engine_config(stack)
    values = {k: v for k, v in values.items() if k != "bank:release"}
    if release is not None:
        values["bank:release"] = release
    return config_from_values(values, stack, secret_keys)


def test_prod_must_release_as_a_canary():
    with pytest.raises(ConfigurationError, match=r"bank:release\.canaryPercent: prod shifts every new version"):
        config_with("prod", None)
    assert config_with("prod", {"canaryPercent": 25, "canaryMinutes": 15}).release.canary_percent == 25


@pytest.mark.parametrize("stack", ["local", "dev", "uat"])
def test_only_prod_releases_through_codedeploy(stack):
    with pytest.raises(ConfigurationError, match="bank:release: only prod releases through a CodeDeploy canary"):
        config_with(stack, {"canaryPercent": 10})
    assert config_with(stack, None).release.canary is False


@pytest.mark.parametrize(
    "release", [{"canaryPercent": 100}, {"canaryPercent": 0}, {"canaryPercent": 10, "canaryMinutes": 61}]
)
def test_a_canary_is_a_share_of_traffic_for_at_most_an_hour(release):
    with pytest.raises(ConfigurationError, match=r"bank:release\.canary"):
        config_with("prod", release)


def test_a_changed_canary_is_a_new_deployment_configuration():
    config = config_with("prod", {"canaryPercent": 25, "canaryMinutes": 15})
    recorded = record_modules("prod", slugs=MODULES[:1], stack_config=config)
    inputs = recorded["release-canary-config"].inputs
    assert inputs["deploymentConfigName"] == "bank-prod-canary-25pct-15min"
    assert inputs["trafficRoutingConfig"]["timeBasedCanary"] == {"percentage": 25, "interval": 15}


# --- the offline plan's CodeDeploy ids and ARNs, as the provider forms them (bankctl/recording.py) ------------------
def test_codedeploy_types_get_provider_shaped_ids_and_arns(prod):
    uuid = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
    arn = "arn:aws:codedeploy:ap-southeast-2:647215093382"
    application = prod["release-codedeploy-application"]
    # terraform-provider-aws deploy/app.go: id = APPLICATION_ID:NAME.
    assert uuid.match(application.outputs["applicationId"])
    assert application.id == f"{application.outputs['applicationId']}:bank-prod-services"
    assert application.outputs["arn"] == f"{arn}:application:bank-prod-services"
    config = prod["release-canary-config"]
    assert config.id == "bank-prod-canary-10pct-5min" and uuid.match(config.outputs["deploymentConfigId"])
    assert config.outputs["arn"] == f"{arn}:deploymentconfig:bank-prod-canary-10pct-5min"
    group = prod["account-ledger-deployment-group"]
    assert uuid.match(group.id) and group.outputs["deploymentGroupId"] == group.id
    assert group.outputs["arn"] == f"{arn}:deploymentgroup:bank-prod-services/account-ledger"
    assert "offline-invented" not in json.dumps([r.outputs for r in prod.of_type(CODEDEPLOY_TYPES[2])])
