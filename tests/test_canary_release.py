"""The prod canary's release step (gates/canary_release.py, `bankctl release start`) against moto in server mode.

moto keeps a CodeDeploy deployment in `Created`: it validates the request (application, group, revision) but runs
nothing. What CodeDeploy itself would then do — shift the alias and finish, or stop and roll back — the tests do in
moto's in-process backend, from the release's own wait (its `sleep`), as CodeDeploy would between two polls.
"""

from __future__ import annotations

import hashlib
import io
import itertools
import json
import os
import subprocess
import sys
import threading
import time
import urllib.request
import zipfile

import boto3
import pytest

from gates.canary_release import ReleaseFailed, appspec, release_version
from tests.conftest import PROJECT_DIR

PROD_ACCOUNT = "647215093382"  # bank:awsAccountId of Pulumi.prod.yaml
REGION = "ap-southeast-2"
APPLICATION = "bank-prod-services"
BANKCTL = ("-m", "bankctl")


@pytest.fixture
def prod_credentials(moto_endpoint) -> dict[str, str]:
    """Credentials inside the prod account (moto keeps accounts apart), on an emptied moto: the server outlives a test,
    and moto cannot delete a deployment group."""
    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name=REGION)
    role = f"arn:aws:iam::{PROD_ACCOUNT}:role/BankDeployRole"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="release-test")["Credentials"]
    return {
        "aws_access_key_id": creds["AccessKeyId"],
        "aws_secret_access_key": creds["SecretAccessKey"],
        "aws_session_token": creds["SessionToken"],
    }


class ProdModule:
    """A prod service module as `pulumi up` leaves it before a release: its function with versions 1 and 2, `live` at
    version 1, the environment's CodeDeploy application and the module's deployment group."""

    def __init__(self, endpoint: str, credentials: dict[str, str], slug: str = "account-ledger"):
        kw = {"endpoint_url": endpoint, "region_name": REGION, **credentials}
        self.lambda_ = boto3.client("lambda", **kw)
        self.codedeploy = boto3.client("codedeploy", **kw)
        iam = boto3.client("iam", **kw)
        self.slug = slug
        self.function = f"bank-prod-{slug}"
        role = iam.create_role(RoleName=self.function, AssumeRolePolicyDocument="{}")["Role"]["Arn"]
        self.lambda_.create_function(
            FunctionName=self.function,
            Runtime="python3.12",
            Role=role,
            Handler="handler.handler",
            Code={"ZipFile": self.build("1")},
            Publish=True,
        )
        # Lambda publishes a new version only for changed code or configuration.
        self.lambda_.update_function_code(FunctionName=self.function, ZipFile=self.build("2"), Publish=True)
        self.lambda_.create_alias(FunctionName=self.function, Name="live", FunctionVersion="1")
        if APPLICATION not in self.codedeploy.list_applications()["applications"]:
            self.codedeploy.create_application(applicationName=APPLICATION, computePlatform="Lambda")
        self.codedeploy.create_deployment_group(
            applicationName=APPLICATION,
            deploymentGroupName=self.slug,
            serviceRoleArn=f"arn:aws:iam::{PROD_ACCOUNT}:role/bank-prod-codedeploy",
            deploymentConfigName="CodeDeployDefault.LambdaCanary10Percent5Minutes",
        )

    @staticmethod
    def build(release: str) -> bytes:
        code = io.BytesIO()
        with zipfile.ZipFile(code, "w") as archive:
            archive.writestr("handler.py", f"def handler(event, context):\n    return {{'release': {release}}}\n")
        return code.getvalue()

    def live_version(self) -> str:
        return self.lambda_.get_alias(FunctionName=self.function, Name="live")["FunctionVersion"]

    def deployments(self) -> list[str]:
        return self.codedeploy.list_deployments(applicationName=APPLICATION, deploymentGroupName=self.slug)[
            "deployments"
        ]

    @staticmethod
    def backend_deployment(deployment_id: str):
        from moto.codedeploy.models import codedeploy_backends

        return codedeploy_backends[PROD_ACCOUNT][REGION].deployments[deployment_id]

    def codedeploy_finishes(self, status: str, shift_to: str | None = None) -> None:
        """What CodeDeploy does with the module's one deployment: move the alias (on success), then set the state."""
        (deployment_id,) = self.deployments()
        if shift_to is not None:
            self.lambda_.update_alias(FunctionName=self.function, Name="live", FunctionVersion=shift_to)
        self.backend_deployment(deployment_id).status = status

    def release(self, version: str = "2", on_wait=None, **options):
        waits: list[float] = []

        def sleep(seconds: float) -> None:
            waits.append(seconds)
            assert len(waits) < 100, "the release never stops waiting"
            if on_wait is not None and len(waits) == 1:
                on_wait()

        # A clock one second further on each reading: a release that never ends fails the test instead of hanging it.
        options = {"clock": itertools.count().__next__, "wait_seconds": 30, **options}
        result = release_version(
            self.codedeploy,
            self.lambda_,
            environment="prod",
            slug=self.slug,
            function=self.function,
            version=version,
            poll_seconds=7,
            sleep=sleep,
            **options,
        )
        return result, waits


@pytest.fixture
def module(moto_endpoint, prod_credentials) -> ProdModule:
    return ProdModule(moto_endpoint, prod_credentials)


def test_a_release_hands_codedeploy_the_appspec_that_moves_live_from_the_current_to_the_new_version(module):
    result, waits = module.release(on_wait=lambda: module.codedeploy_finishes("Succeeded", shift_to="2"))
    assert result.live_version == "2" and module.live_version() == "2"
    assert waits == [7]
    (deployment_id,) = module.deployments()
    assert result.deployment_id == deployment_id
    revision = module.backend_deployment(deployment_id).revision
    assert revision["revisionType"] == "AppSpecContent"
    content = revision["appSpecContent"]["content"]
    assert revision["appSpecContent"]["sha256"] == hashlib.sha256(content.encode()).hexdigest()
    # CodeDeploy user guide, "AppSpec 'resources' section (AWS Lambda deployments only)".
    assert json.loads(content) == {
        "version": 0.0,
        "Resources": [
            {
                module.function: {
                    "Type": "AWS::Lambda::Function",
                    "Properties": {
                        "Name": module.function,
                        "Alias": "live",
                        "CurrentVersion": "1",
                        "TargetVersion": "2",
                    },
                }
            }
        ],
    }


@pytest.mark.parametrize("status", ["Failed", "Stopped"])
def test_a_deployment_codedeploy_stops_or_rolls_back_fails_the_release_and_says_what_serves_traffic(module, status):
    with pytest.raises(ReleaseFailed) as failed:
        module.release(on_wait=lambda: module.codedeploy_finishes(status))
    message = str(failed.value)
    assert f"of {module.function} version 2 {status.lower()}" in message
    assert f"{module.function}:live serves version 1" in message
    assert module.live_version() == "1"


def test_a_version_already_live_starts_no_deployment(module):
    module.lambda_.update_alias(FunctionName=module.function, Name="live", FunctionVersion="2")
    result, waits = module.release()
    assert result.deployment_id is None and result.live_version == "2"
    assert module.deployments() == [] and waits == []


def test_a_deployment_that_does_not_finish_in_time_fails_the_release(module):
    ticks = iter(range(0, 10_000, 60))
    with pytest.raises(ReleaseFailed, match="is still Created after 3 minutes"):
        module.release(wait_seconds=180, clock=lambda: next(ticks))


@pytest.mark.parametrize("version", ["$LATEST", "live"])
def test_only_a_published_version_is_released(module, version):
    with pytest.raises(ReleaseFailed, match="is not a published version number"):
        module.release(version=version)
    assert module.deployments() == []


def test_the_appspec_is_stable_text():
    # The same release gives the same bytes (and sha256), whatever the dictionary order.
    assert appspec("f", "1", "2") == appspec("f", "1", "2")
    assert json.loads(appspec("f", "3", "4"))["Resources"][0]["f"]["Properties"]["TargetVersion"] == "4"


# --- `bankctl release start`, as the pulumi-command step runs it --------------------------------------------------
def bankctl_release(endpoint: str, credentials: dict[str, str], *args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")} | {
        "AWS_ACCESS_KEY_ID": credentials["aws_access_key_id"],
        "AWS_SECRET_ACCESS_KEY": credentials["aws_secret_access_key"],
        "AWS_SESSION_TOKEN": credentials["aws_session_token"],
        "AWS_REGION": REGION,
        "AWS_ENDPOINT_URL": endpoint,
    }
    argv = [*BANKCTL, "release", "start", *args]
    return subprocess.run(
        [sys.executable, *argv], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_bankctl_release_start_waits_for_codedeploy(module, moto_endpoint, prod_credentials):
    def codedeploy():
        deadline = time.monotonic() + 60
        while not module.deployments() and time.monotonic() < deadline:
            time.sleep(0.1)
        module.codedeploy_finishes("Succeeded", shift_to="2")

    worker = threading.Thread(target=codedeploy, daemon=True)
    worker.start()
    args = ("--module", module.slug, "--function", module.function, "--version", "2", "--stack", "prod")
    result = bankctl_release(moto_endpoint, prod_credentials, *args, "--poll-seconds", "1")
    worker.join(timeout=5)
    assert result.returncode == 0, result.stderr
    assert f"{module.function}:live now serves version 2" in result.stdout


def test_bankctl_release_start_exits_1_when_codedeploy_rolls_back(module, moto_endpoint, prod_credentials):
    def codedeploy():
        deadline = time.monotonic() + 60
        while not module.deployments() and time.monotonic() < deadline:
            time.sleep(0.1)
        module.codedeploy_finishes("Failed")

    worker = threading.Thread(target=codedeploy, daemon=True)
    worker.start()
    args = ("--module", module.slug, "--function", module.function, "--version", "2", "--stack", "prod")
    result = bankctl_release(moto_endpoint, prod_credentials, *args, "--poll-seconds", "1")
    worker.join(timeout=5)
    assert result.returncode == 1
    assert f"{module.function}:live serves version 1" in result.stderr


def test_bankctl_release_start_is_for_canary_stacks_and_service_modules(moto_endpoint, prod_credentials):
    dev = bankctl_release(
        moto_endpoint,
        prod_credentials,
        "--module",
        "account-ledger",
        "--function",
        "f",
        "--version",
        "2",
        "--stack",
        "dev",
    )
    assert dev.returncode == 2 and "stack dev releases without CodeDeploy" in dev.stderr
    foundation = bankctl_release(
        moto_endpoint,
        prod_credentials,
        "--module",
        "aws-bootstrap",
        "--function",
        "f",
        "--version",
        "2",
        "--stack",
        "prod",
    )
    assert foundation.returncode == 2 and "is not a service module" in foundation.stderr
