"""The prod canary: CodeDeploy shifts a module's `live` alias to a version that passed its health check, and rolls
it back by itself when the module's alarms fire (components/blue_green.py builds the application, the deployment
group and the command that runs this).

CodeDeploy for Lambda moves an alias between two versions named in an AppSpec (CodeDeploy user guide, "AppSpec
'resources' section (AWS Lambda deployments only)"): `Name`, `Alias`, `CurrentVersion`, `TargetVersion`. It needs
the alias to exist at a published version, so the alias is created at the first version and every later version
reaches it only through here. The deployment group's configuration decides how traffic moves (prod: a canary) and
its alarms and auto-rollback decide when CodeDeploy moves it back.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections.abc import Callable
from dataclasses import dataclass

LIVE_ALIAS = "live"
# CodeDeploy's deployment states (API reference, DeploymentInfo.status): these three are final.
SUCCEEDED = "Succeeded"
FINAL_STATES = frozenset({SUCCEEDED, "Failed", "Stopped"})
POLL_SECONDS = 15.0
# The canary lasts at most bank:release.canaryMinutes (≤ 60, model/stack_config.py); CodeDeploy needs a few minutes
# more to start and finish. Past this, the command stops waiting (the deployment itself carries on in CodeDeploy).
WAIT_SECONDS = 90 * 60


def codedeploy_application_name(environment: str) -> str:
    """One CodeDeploy application per environment, holding every service module's deployment group."""
    return f"bank-{environment}-services"


def deployment_group_name(slug: str) -> str:
    return slug


class ReleaseFailed(Exception):
    """The new version did not become live; the message says why and which version serves traffic now."""


@dataclass(frozen=True)
class ReleaseResult:
    deployment_id: str | None  # None: the version was already live, nothing was deployed
    live_version: str


def appspec(function: str, current_version: str, target_version: str) -> str:
    """The AppSpec of a Lambda deployment (version 0.0, the only one CodeDeploy accepts), as JSON text."""
    resource = {
        "Type": "AWS::Lambda::Function",
        "Properties": {
            "Name": function,
            "Alias": LIVE_ALIAS,
            "CurrentVersion": current_version,
            "TargetVersion": target_version,
        },
    }
    return json.dumps({"version": 0.0, "Resources": [{function: resource}]}, sort_keys=True)


def release_version(
    codedeploy_client,
    lambda_client,
    *,
    environment: str,
    slug: str,
    function: str,
    version: str,
    poll_seconds: float = POLL_SECONDS,
    wait_seconds: float = WAIT_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    report: Callable[[str], None] = lambda line: None,
) -> ReleaseResult:
    """Move `function`'s live alias to `version` through the module's deployment group and wait for CodeDeploy to
    finish. Raises ReleaseFailed if CodeDeploy fails, stops or rolls back the deployment, or does not finish in
    `wait_seconds`; the message names the version the alias serves afterwards."""
    if not version.isdigit():
        raise ReleaseFailed(f"{function}: `{version}` is not a published version number; CodeDeploy shifts only those")
    current = lambda_client.get_alias(FunctionName=function, Name=LIVE_ALIAS)["FunctionVersion"]
    if current == version:
        report(f"{function}:{LIVE_ALIAS} already serves version {version}; nothing to shift")
        return ReleaseResult(None, current)
    content = appspec(function, current, version)
    application = codedeploy_application_name(environment)
    group = deployment_group_name(slug)
    deployment_id = codedeploy_client.create_deployment(
        applicationName=application,
        deploymentGroupName=group,
        revision={
            "revisionType": "AppSpecContent",
            "appSpecContent": {"content": content, "sha256": hashlib.sha256(content.encode()).hexdigest()},
        },
        description=f"{slug}: {LIVE_ALIAS} {current} -> {version} (bankctl release start)",
    )["deploymentId"]
    report(f"{function}:{LIVE_ALIAS}: CodeDeploy deployment {deployment_id} shifts {current} -> {version}")
    deadline = clock() + wait_seconds
    info = codedeploy_client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    while info["status"] not in FINAL_STATES:
        if clock() >= deadline:
            raise ReleaseFailed(
                f"CodeDeploy deployment {deployment_id} ({application}/{group}) is still {info['status']} after "
                f"{wait_seconds / 60:g} minutes; see it in the CodeDeploy console, then run `pulumi up` again"
            )
        report(f"  {deployment_id}: {info['status']}")
        sleep(poll_seconds)
        info = codedeploy_client.get_deployment(deploymentId=deployment_id)["deploymentInfo"]
    live = lambda_client.get_alias(FunctionName=function, Name=LIVE_ALIAS)["FunctionVersion"]
    if info["status"] == SUCCEEDED:
        report(f"{function}:{LIVE_ALIAS} now serves version {live}")
        return ReleaseResult(deployment_id, live)
    raise ReleaseFailed(_failure_message(info, deployment_id, function, version, live))


def _failure_message(info: dict, deployment_id: str, function: str, version: str, live: str) -> str:
    error = info.get("errorInformation") or {}
    rollback = info.get("rollbackInfo") or {}
    lines = [f"CodeDeploy deployment {deployment_id} of {function} version {version} {info['status'].lower()}"]
    if error.get("code") or error.get("message"):
        lines.append(f"  {error.get('code', '')}: {error.get('message', '')}".rstrip(": "))
    if rollback.get("rollbackDeploymentId") or rollback.get("rollbackMessage"):
        lines.append(
            f"  rolled back by deployment {rollback.get('rollbackDeploymentId', '?')}: "
            f"{rollback.get('rollbackMessage', '')}".rstrip(": ")
        )
    lines.append(f"  {function}:{LIVE_ALIAS} serves version {live}")
    return "\n".join(lines)
