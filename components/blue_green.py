"""Blue-green release of a service module's function behind a health check, and in prod a CodeDeploy canary with
automatic rollback (issue 8; deployment sequence, "Re-deployment": "The old version continues to serve traffic until
the new version passes health checks").

The function publishes a version on every code or configuration change. Between that version and the `live` alias
stands a pulumi-command step that runs `bankctl health-check` against exactly that version (gates/health_check.py);
the alias depends on it, so a failed check fails `pulumi up` and the alias keeps serving the old version.

Where `bank:release.canaryPercent` is set (prod only, model/stack_config.py), the alias belongs to CodeDeploy once it
exists: Pulumi creates it at the first version and then ignores `function_version` and `routing_config`, which
CodeDeploy changes while it shifts traffic (otherwise every `pulumi up` would move the alias back, and every preview
would show a diff). A second step after the health check, `bankctl release start`, asks the module's CodeDeploy
deployment group to shift the alias (gates/canary_release.py); the group rolls back by itself when a deployment fails
or one of the module's alarms fires, and the step then fails `pulumi up`.
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import pulumi
import pulumi_aws as aws
import pulumi_command as command

from components.phase_gate import GATE_PYTHON, gate_environment
from gates.canary_release import LIVE_ALIAS, codedeploy_application_name, deployment_group_name

# CodeDeploy's limit per deployment group (API reference, AlarmConfiguration: "A maximum of 10 alarms").
MAX_ROLLBACK_ALARMS = 10
# CodeDeploy rolls back when a deployment fails and when one of the group's alarms fires during it.
ROLLBACK_EVENTS = ("DEPLOYMENT_FAILURE", "DEPLOYMENT_STOP_ON_ALARM")
# What Pulumi must leave to CodeDeploy on an alias CodeDeploy shifts.
CODEDEPLOY_OWNED_ALIAS_PROPERTIES = ("function_version", "routing_config")


def health_check_command(function: str, version: str, stack: str) -> str:
    return (
        f"{GATE_PYTHON} -m bankctl health-check --function {shlex.quote(function)} "
        f"--qualifier {shlex.quote(version)} --stack {shlex.quote(stack)}"
    )


def release_command(slug: str, function: str, version: str, stack: str) -> str:
    return (
        f"{GATE_PYTHON} -m bankctl release start --module {shlex.quote(slug)} --function {shlex.quote(function)} "
        f"--version {shlex.quote(version)} --stack {shlex.quote(stack)}"
    )


@dataclass
class CanaryReleaseSetup:
    """What every prod module's deployment group uses: one per environment."""

    application: aws.codedeploy.Application
    deployment_config: aws.codedeploy.DeploymentConfig
    role: aws.iam.Role
    role_policy: aws.iam.RolePolicy


def live_alias(module, function: aws.lambda_.Function, alarm_names: Sequence[pulumi.Input[str]]) -> aws.lambda_.Alias:
    """The module's `live` alias, moved to a new version only after that version's health check passes; in a stack
    with a canary, shifted by CodeDeploy with automatic rollback on `alarm_names` (the module's own alarms). The
    function and the alarms must be named `bank-{env}-…`: the CodeDeploy role may act on no others
    (canary_role_policy; tests/test_blue_green.py holds the prod plan to it)."""

    spec = module.deployment.spec
    context = module.context
    stack = context.platform.stack
    canary = context.platform.config.release.canary
    environment = gate_environment(context.inputs)
    name = function.name
    version = function.version
    if canary:
        if not alarm_names:
            raise ValueError(f"{spec.id} {spec.slug}: a canary rolls back on the module's alarms; it has none")
        if len(alarm_names) > MAX_ROLLBACK_ALARMS:
            raise ValueError(
                f"{spec.id} {spec.slug}: {len(alarm_names)} rollback alarms; a CodeDeploy deployment group takes at "
                f"most {MAX_ROLLBACK_ALARMS}"
            )

    health_check = command.local.Command(
        f"{spec.resource_name}-health-check",
        create=pulumi.Output.all(name, version).apply(lambda nv: health_check_command(nv[0], nv[1], stack)),
        environment=environment,
        # A new version is a new check: the command runs again (replaced) exactly when the version changes.
        triggers=[version],
        opts=module.child_options(),
    )
    alias = aws.lambda_.Alias(
        f"{spec.resource_name}-{LIVE_ALIAS}",
        name=LIVE_ALIAS,
        function_name=name,
        function_version=version,
        description=f"{spec.id} {spec.name}: the version serving traffic, moved only after its health check",
        opts=module.child_options(
            depends_on=[health_check],
            ignore_changes=list(CODEDEPLOY_OWNED_ALIAS_PROPERTIES) if canary else None,
        ),
    )
    if not canary:
        return alias

    setup = canary_release_setup(module)
    group = aws.codedeploy.DeploymentGroup(
        f"{spec.resource_name}-deployment-group",
        app_name=setup.application.name,
        deployment_group_name=deployment_group_name(spec.slug),
        service_role_arn=setup.role.arn,
        deployment_config_name=setup.deployment_config.deployment_config_name,
        # The only style CodeDeploy runs Lambda deployments in: traffic shifts between two versions of an alias.
        deployment_style=aws.codedeploy.DeploymentGroupDeploymentStyleArgs(
            deployment_type="BLUE_GREEN", deployment_option="WITH_TRAFFIC_CONTROL"
        ),
        auto_rollback_configuration=aws.codedeploy.DeploymentGroupAutoRollbackConfigurationArgs(
            enabled=True, events=list(ROLLBACK_EVENTS)
        ),
        # No alarm state from CloudWatch is not a healthy canary: the deployment stops (ignore_poll_alarm_failure).
        alarm_configuration=aws.codedeploy.DeploymentGroupAlarmConfigurationArgs(
            enabled=True, alarms=list(alarm_names), ignore_poll_alarm_failure=False
        ),
        tags=spec.tags,
        # CodeDeploy checks the role's permissions when it uses it: the policy is in place first.
        opts=module.child_options(depends_on=[setup.role_policy]),
    )
    command.local.Command(
        f"{spec.resource_name}-release",
        create=pulumi.Output.all(name, version).apply(lambda nv: release_command(spec.slug, nv[0], nv[1], stack)),
        environment=environment,
        triggers=[version],
        opts=module.child_options(depends_on=[health_check, alias, group]),
    )
    return alias


def canary_release_setup(module) -> CanaryReleaseSetup:
    """The environment's CodeDeploy application, canary configuration and service role, made once (by the first
    module that needs them) and kept on the BuildContext. Top level, not a child of that module: their URNs must not
    change with which module happens to be first."""
    context = module.context
    if context.canary_release is not None:
        return context.canary_release
    env = context.environment
    inputs = context.inputs
    opts = pulumi.ResourceOptions(provider=module.get_provider("aws:codedeploy/application:Application"))
    application = aws.codedeploy.Application(
        "release-codedeploy-application",
        name=codedeploy_application_name(env),
        compute_platform="Lambda",
        opts=opts,
    )
    deployment_config = aws.codedeploy.DeploymentConfig(
        "release-canary-config",
        # Named after its shape: a changed canary is a new configuration (CodeDeploy cannot update one in place).
        deployment_config_name=inputs.derived(
            "release", lambda release: f"bank-{env}-canary-{release.canary_percent}pct-{release.canary_minutes}min"
        ),
        compute_platform="Lambda",
        traffic_routing_config=aws.codedeploy.DeploymentConfigTrafficRoutingConfigArgs(
            type="TimeBasedCanary",
            time_based_canary=aws.codedeploy.DeploymentConfigTrafficRoutingConfigTimeBasedCanaryArgs(
                percentage=inputs["release.canaryPercent"], interval=inputs["release.canaryMinutes"]
            ),
        ),
        opts=opts,
    )
    role = aws.iam.Role(
        "release-codedeploy-role",
        name=f"bank-{env}-codedeploy",
        description="CodeDeploy shifts the service modules' live aliases (prod canary) and reads their alarms",
        assume_role_policy=json.dumps(CODEDEPLOY_TRUST, sort_keys=True),
        # Like every helper role of the platform, capped by MOD-104's platform boundary (built in Phase 0, before any
        # service module).
        permissions_boundary=context.foundation["aws-bootstrap"].platform_boundary.arn,
        opts=opts,
    )
    role_policy = aws.iam.RolePolicy(
        "release-codedeploy-role-policy",
        name=f"bank-{env}-codedeploy",
        role=role.name,
        policy=pulumi.Output.all(inputs["region"], inputs["awsAccountId"]).apply(
            lambda ra: json.dumps(canary_role_policy(env, ra[0], ra[1]), sort_keys=True)
        ),
        opts=opts,
    )
    context.canary_release = CanaryReleaseSetup(application, deployment_config, role, role_policy)
    return context.canary_release


# CodeDeploy alone assumes the role (CodeDeploy user guide, "Create a service role for CodeDeploy").
CODEDEPLOY_TRUST = {
    "Version": "2012-10-17",
    "Statement": [
        {
            "Sid": "CodeDeployOnly",
            "Effect": "Allow",
            "Principal": {"Service": "codedeploy.amazonaws.com"},
            "Action": "sts:AssumeRole",
        }
    ],
}


def canary_role_policy(environment: str, region: str, account: str) -> dict[str, Any]:
    """What the CodeDeploy role may do: the Lambda and CloudWatch half of the AWS managed AWSCodeDeployRoleForLambda,
    on this environment's functions and alarms only. The managed policy grants lambda:UpdateAlias and
    cloudwatch:DescribeAlarms on "*" (any function and alarm of the account), sns:Publish on "*", s3:GetObject on
    CodeDeploy objects in any bucket and lambda:InvokeFunction on CodeDeployHook_* functions: this platform uses no
    triggers (SNS), passes its AppSpec inline (no S3) and runs no hooks (the health check runs before), so none of
    those is granted."""
    prefix = f"bank-{environment}-"
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "ShiftLiveAliases",
                "Effect": "Allow",
                "Action": ["lambda:GetAlias", "lambda:GetProvisionedConcurrencyConfig", "lambda:UpdateAlias"],
                # UpdateAlias and GetAlias authorise on the function's ARN, GetProvisionedConcurrencyConfig on the
                # alias's (service authorization reference, AWS Lambda): the pattern covers both.
                "Resource": f"arn:aws:lambda:{region}:{account}:function:{prefix}*",
            },
            {
                "Sid": "ReadRollbackAlarms",
                "Effect": "Allow",
                "Action": ["cloudwatch:DescribeAlarms"],
                "Resource": f"arn:aws:cloudwatch:{region}:{account}:alarm:{prefix}*",
            },
        ],
    }
