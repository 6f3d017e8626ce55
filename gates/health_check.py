"""The blue-green health check: one exact published version of a service function answers before it gets traffic.

Deployment sequence, "Re-deployment": "All application modules use blue-green deployment via Lambda aliases. The
old version continues to serve traffic until the new version passes health checks." The `live` alias moves only
after this check has passed (components/blue_green.py); a failed check fails `pulumi up` and the alias stays where
it was.

The contract every service artifact implements (docs/service-modules.md, "The health check"): invoked synchronously
with the payload `{"healthCheck": true}`, the handler does no business work and answers the JSON object
`{"status": "ok", "version": <the version Lambda is running, context.function_version>}`. Reporting the version
Lambda gave the handler proves that the version under test answered, not the alias or $LATEST.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass

from botocore.config import Config
from botocore.exceptions import ClientError, ReadTimeoutError

HEALTH_CHECK_PAYLOAD = {"healthCheck": True}
HEALTHY_STATUS = "ok"

# What a just-published version may answer while it is still starting, and Lambda's own throttling: worth asking
# again (Lambda API reference, Invoke, "Errors": TooManyRequestsException, ResourceNotReadyException,
# ServiceException, EC2ThrottledException). Anything else is an answer about the version itself.
RETRYABLE_ERRORS = frozenset(
    {"TooManyRequestsException", "ResourceNotReadyException", "ServiceException", "EC2ThrottledException"}
)
ATTEMPTS = 6
FIRST_DELAY_SECONDS = 2.0
MAX_DELAY_SECONDS = 20.0
# A health answer is quick; a version that hangs longer than this is not healthy (the read timeout bounds one call).
INVOKE_READ_TIMEOUT_SECONDS = 60
# Retries are this module's, counted and reported; botocore's own would hide them.
LAMBDA_CLIENT_CONFIG = Config(retries={"total_max_attempts": 1}, read_timeout=INVOKE_READ_TIMEOUT_SECONDS)


class HealthCheckFailed(Exception):
    """The version did not pass; the message says what it answered."""


@dataclass(frozen=True)
class Attempt:
    """One invocation's outcome: `problem` is None when healthy; `retryable` says whether asking again may help."""

    problem: str | None
    retryable: bool = False


def check_version_health(
    lambda_client,
    function: str,
    version: str,
    *,
    attempts: int = ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
    report: Callable[[str], None] = lambda line: None,
) -> int:
    """Invoke `function` at `version` until it answers healthy; return the attempts it took. Throttling, a version
    still starting and a cold start that timed out are retried with backoff, at most `attempts` times in all; any
    other unhealthy answer fails at once. Raises HealthCheckFailed with every attempt's problem."""
    if not version.isdigit():
        # Only a published version is immutable: $LATEST or an alias could change between this check and the traffic.
        raise HealthCheckFailed(f"{function}: `{version}` is not a published version number; check a published one")
    problems: list[str] = []
    delay = FIRST_DELAY_SECONDS
    for number in range(1, attempts + 1):
        outcome = _invoke_once(lambda_client, function, version)
        if outcome.problem is None:
            report(f"{function}:{version} is healthy (attempt {number} of {attempts})")
            return number
        problems.append(f"attempt {number}: {outcome.problem}")
        if not outcome.retryable:
            break
        if number < attempts:
            report(f"{function}:{version} not ready (attempt {number}: {outcome.problem}); retrying in {delay:g} s")
            sleep(delay)
            delay = min(delay * 2, MAX_DELAY_SECONDS)
    raise HealthCheckFailed(
        f"{function} version {version} failed its health check, so it receives no traffic:\n  " + "\n  ".join(problems)
    )


def _invoke_once(lambda_client, function: str, version: str) -> Attempt:
    try:
        response = lambda_client.invoke(
            FunctionName=function,
            Qualifier=version,
            InvocationType="RequestResponse",
            Payload=json.dumps(HEALTH_CHECK_PAYLOAD).encode(),
        )
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        message = exc.response.get("Error", {}).get("Message", "")
        return Attempt(f"Lambda refused the invocation: {code}: {message}", retryable=code in RETRYABLE_ERRORS)
    except ReadTimeoutError:
        return Attempt(f"no answer within {INVOKE_READ_TIMEOUT_SECONDS} s", retryable=True)
    body = response["Payload"].read().decode("utf-8", errors="replace")
    if response.get("FunctionError"):
        # The function raised or timed out: Lambda returns its error object as the payload. A timeout can be a cold
        # start that took longer than the function's timeout; an exception is the code's answer.
        timed_out = "Task timed out" in body or "Sandbox.Timedout" in body
        return Attempt(f"the function failed ({response['FunctionError']}): {body[:500]}", retryable=timed_out)
    executed = response.get("ExecutedVersion")
    if executed is not None and executed != version:
        return Attempt(f"Lambda ran version {executed}, not {version}")
    try:
        answer = json.loads(body)
    except json.JSONDecodeError:
        return Attempt(f"the answer is not JSON: {body[:200]!r}")
    if not isinstance(answer, dict):
        return Attempt(f"the answer is not a JSON object: {body[:200]!r}")
    if answer.get("version") != version:
        return Attempt(f"the answer reports version {answer.get('version')!r}, not {version!r}")
    if answer.get("status") != HEALTHY_STATUS:
        # A dependency still warming up can make a new version unhealthy for a moment: ask again.
        return Attempt(f"the version reports status {answer.get('status')!r}, not {HEALTHY_STATUS!r}", retryable=True)
    return Attempt(None)
