"""The blue-green health check (gates/health_check.py) against a server that speaks Lambda's Invoke API.

moto can run a function only in Docker (not available here); its Docker-free mode is a process-wide switch of the
whole Lambda backend and can answer neither a function error nor throttling. So the checker talks, through boto3 and
botocore's own request and response handling, to a loopback HTTP server that answers as Lambda does (API reference,
Invoke: POST /2015-03-31/functions/{name}/invocations?Qualifier=…; the X-Amz-Function-Error and
X-Amz-Executed-Version headers; errors named by the x-amzn-ErrorType header).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, unquote, urlparse

import boto3
import pytest

from gates.health_check import ATTEMPTS, LAMBDA_CLIENT_CONFIG, HealthCheckFailed, check_version_health
from tests.conftest import PROJECT_DIR

FUNCTION = "bank-dev-account-ledger"
DEV_ACCOUNT = "381492650173"  # bank:awsAccountId of Pulumi.dev.yaml
BANKCTL = ("-m", "bankctl")


def healthy(version: str) -> tuple[int, dict, dict]:
    return 200, {"X-Amz-Executed-Version": version}, {"status": "ok", "version": version}


def throttled() -> tuple[int, dict, dict]:
    return (
        429,
        {"x-amzn-ErrorType": "TooManyRequestsException"},
        {"Type": "User", "message": "Rate Exceeded.", "Reason": "ReservedFunctionConcurrentInvocationLimitExceeded"},
    )


def function_error(version: str, message: str, error_type: str = "RuntimeError") -> tuple[int, dict, dict]:
    headers = {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": version}
    return 200, headers, {"errorMessage": message, "errorType": error_type}


class FakeLambda:
    """Answers each Invoke with the next scripted answer (the last one repeats) and records what it was asked."""

    def __init__(self):
        self.answers: list[tuple[int, dict, object]] = []
        self.requests: list[dict] = []
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                url = urlparse(self.path)
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                fake.requests.append(
                    {
                        "path": unquote(url.path),
                        "qualifier": parse_qs(url.query).get("Qualifier", [None])[0],
                        "invocation_type": self.headers.get("X-Amz-Invocation-Type"),
                        "payload": json.loads(body) if body else None,
                    }
                )
                status, headers, answer = fake.answers.pop(0) if len(fake.answers) > 1 else fake.answers[0]
                data = answer if isinstance(answer, bytes) else json.dumps(answer).encode()
                self.send_response(status)
                for key, value in {"Content-Type": "application/json", **headers}.items():
                    self.send_header(key, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def client(self):
        return boto3.client(
            "lambda",
            endpoint_url=self.url,
            region_name="ap-southeast-2",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=LAMBDA_CLIENT_CONFIG,
        )


@pytest.fixture
def fake_lambda():
    fake = FakeLambda()
    thread = threading.Thread(target=fake.server.serve_forever, daemon=True)
    thread.start()
    yield fake
    fake.server.shutdown()
    fake.server.server_close()


def run_check(fake: FakeLambda, version: str = "7", attempts: int = ATTEMPTS) -> tuple[int, list[float]]:
    slept: list[float] = []
    taken = check_version_health(fake.client(), FUNCTION, version, attempts=attempts, sleep=slept.append)
    return taken, slept


def test_a_healthy_version_passes_and_exactly_that_version_is_invoked_with_the_health_payload(fake_lambda):
    fake_lambda.answers = [healthy("7")]
    assert run_check(fake_lambda) == (1, [])
    (request,) = fake_lambda.requests
    assert request == {
        "path": f"/2015-03-31/functions/{FUNCTION}/invocations",
        "qualifier": "7",
        "invocation_type": "RequestResponse",
        "payload": {"healthCheck": True},
    }


def test_an_unhealthy_answer_fails_after_the_bounded_retries(fake_lambda):
    fake_lambda.answers = [(200, {"X-Amz-Executed-Version": "7"}, {"status": "degraded", "version": "7"})]
    with pytest.raises(HealthCheckFailed) as failed:
        run_check(fake_lambda, attempts=3)
    assert len(fake_lambda.requests) == 3
    message = str(failed.value)
    assert "bank-dev-account-ledger version 7 failed its health check, so it receives no traffic" in message
    assert "attempt 3: the version reports status 'degraded', not 'ok'" in message


def test_a_function_error_fails_at_once(fake_lambda):
    fake_lambda.answers = [function_error("7", "database unreachable")]
    with pytest.raises(HealthCheckFailed, match=r"attempt 1: the function failed \(Unhandled\).*database unreachable"):
        run_check(fake_lambda)
    assert len(fake_lambda.requests) == 1  # the code's own failure: asking again would not change it


def test_an_answer_from_another_version_fails_at_once(fake_lambda):
    fake_lambda.answers = [(200, {"X-Amz-Executed-Version": "7"}, {"status": "ok", "version": "6"})]
    with pytest.raises(HealthCheckFailed, match="the answer reports version '6', not '7'"):
        run_check(fake_lambda)
    assert len(fake_lambda.requests) == 1


def test_lambda_running_another_version_fails(fake_lambda):
    fake_lambda.answers = [healthy("6")]
    with pytest.raises(HealthCheckFailed, match="Lambda ran version 6, not 7"):
        run_check(fake_lambda)


def test_throttling_is_retried_with_backoff_until_the_version_answers(fake_lambda):
    fake_lambda.answers = [throttled(), throttled(), healthy("7")]
    assert run_check(fake_lambda) == (3, [2.0, 4.0])
    assert [r["qualifier"] for r in fake_lambda.requests] == ["7", "7", "7"]


def test_throttling_that_never_ends_fails_with_what_lambda_said(fake_lambda):
    fake_lambda.answers = [throttled()]
    with pytest.raises(HealthCheckFailed, match="attempt 4: Lambda refused the invocation: TooManyRequestsException"):
        run_check(fake_lambda, attempts=4)
    assert len(fake_lambda.requests) == 4


def test_a_cold_start_that_timed_out_is_asked_again(fake_lambda):
    timed_out = function_error("7", "2026-01-01T00:00:00Z 1a2b Task timed out after 3.00 seconds", "Sandbox.Timedout")
    fake_lambda.answers = [timed_out, healthy("7")]
    assert run_check(fake_lambda) == (2, [2.0])


def test_an_answer_that_is_not_json_fails(fake_lambda):
    fake_lambda.answers = [(200, {"X-Amz-Executed-Version": "7"}, b"OK")]
    with pytest.raises(HealthCheckFailed, match="the answer is not JSON"):
        run_check(fake_lambda)


@pytest.mark.parametrize("version", ["$LATEST", "live", ""])
def test_only_a_published_version_is_checked(fake_lambda, version):
    fake_lambda.answers = [healthy(version)]
    with pytest.raises(HealthCheckFailed, match="is not a published version number"):
        run_check(fake_lambda, version=version)
    assert fake_lambda.requests == []


# --- `bankctl health-check`, as the pulumi-command step runs it -------------------------------------------------
@pytest.fixture
def dev_account_environment(moto_endpoint, fake_lambda):
    """The step's environment: credentials inside the dev account (moto's STS answers the account check), Lambda at
    the fake."""
    sts = boto3.client("sts", endpoint_url=moto_endpoint, region_name="ap-southeast-2")
    role = f"arn:aws:iam::{DEV_ACCOUNT}:role/BankDeployRole"
    creds = sts.assume_role(RoleArn=role, RoleSessionName="health-check-test")["Credentials"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    return env | {
        "AWS_ACCESS_KEY_ID": creds["AccessKeyId"],
        "AWS_SECRET_ACCESS_KEY": creds["SecretAccessKey"],
        "AWS_SESSION_TOKEN": creds["SessionToken"],
        "AWS_REGION": "ap-southeast-2",
        "AWS_ENDPOINT_URL_STS": moto_endpoint,
        "AWS_ENDPOINT_URL_LAMBDA": fake_lambda.url,
    }


def bankctl_health_check(env: dict, version: str) -> subprocess.CompletedProcess:
    argv = [*BANKCTL, "health-check", "--function", FUNCTION, "--qualifier", version, "--stack", "dev"]
    return subprocess.run(
        [sys.executable, *argv], cwd=PROJECT_DIR, env=env, capture_output=True, text=True, timeout=120
    )


def test_bankctl_health_check_passes_a_healthy_version(fake_lambda, dev_account_environment):
    fake_lambda.answers = [healthy("12")]
    result = bankctl_health_check(dev_account_environment, "12")
    assert result.returncode == 0, result.stderr
    assert "bank-dev-account-ledger:12 is healthy" in result.stdout
    assert [r["qualifier"] for r in fake_lambda.requests] == ["12"]


def test_bankctl_health_check_exits_1_and_says_why(fake_lambda, dev_account_environment):
    fake_lambda.answers = [function_error("12", "boom")]
    result = bankctl_health_check(dev_account_environment, "12")
    assert result.returncode == 1
    assert "version 12 failed its health check, so it receives no traffic" in result.stderr
    assert "boom" in result.stderr


def test_bankctl_health_check_refuses_another_accounts_credentials(fake_lambda, dev_account_environment):
    fake_lambda.answers = [healthy("12")]
    other = dev_account_environment | {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}
    other.pop("AWS_SESSION_TOKEN")
    result = bankctl_health_check(other, "12")
    assert result.returncode == 1
    assert f"but stack dev deploys to {DEV_ACCOUNT}" in result.stderr
    assert fake_lambda.requests == []  # nothing is invoked in the wrong account
