"""The platform's IAM documents, written once: who may assume a role a service uses (`service_trust`), and the JSON
text of a policy whose values may be Outputs (`json_document`, `render_json`).

Every document is written with sorted keys, so the same inputs give the same bytes in every plan, whatever order a
caller builds its dictionaries in (IAM compares policies by meaning; the key order never changes what they allow).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import pulumi

POLICY_VERSION = "2012-10-17"


def json_document(compute: Callable[..., Any], *values: Any) -> pulumi.Output[str]:
    """A JSON document computed from inputs that may be plain values or Outputs (a secret config value stays
    secret in the result)."""
    return pulumi.Output.all(*values).apply(lambda resolved: json.dumps(compute(*resolved), sort_keys=True))


class _Slot:
    """Where an Output's value goes in a document rendered by `render_json`."""

    def __init__(self, index: int):
        self.index = index


def render_json(document: Any) -> Any:
    """A JSON document that may hold Outputs anywhere, as one Output over exactly those (or plain text if it holds
    none). Output.json_dumps and Output.from_input wrap every leaf in an Output of their own, which costs seconds
    across the platform's 150 role policies."""
    outputs: list[pulumi.Output] = []

    def hollow(value: Any) -> Any:
        if isinstance(value, pulumi.Output):
            outputs.append(value)
            return _Slot(len(outputs) - 1)
        if isinstance(value, dict):
            return {k: hollow(v) for k, v in value.items()}
        if isinstance(value, (list, tuple)):
            return [hollow(v) for v in value]
        return value

    def fill(value: Any, values: list[Any]) -> Any:
        if isinstance(value, _Slot):
            return values[value.index]
        if isinstance(value, dict):
            return {k: fill(v, values) for k, v in value.items()}
        if isinstance(value, list):
            return [fill(v, values) for v in value]
        return value

    template = hollow(document)
    if not outputs:
        return json.dumps(template, sort_keys=True)
    return pulumi.Output.all(*outputs).apply(lambda values: json.dumps(fill(template, list(values)), sort_keys=True))


def policy_document(statements: Sequence[dict[str, Any]]) -> Any:
    """A policy of these statements, as `render_json` text."""
    return render_json({"Version": POLICY_VERSION, "Statement": list(statements)})


def service_trust(
    service: str,
    account: str | None,
    source_arn: str | None = None,
    *,
    external_id: str | None = None,
    sid: str | None = None,
) -> dict[str, Any]:
    """A role that only the AWS service `service` may assume, with the confused-deputy guard that service documents
    (IAM user guide, "The confused deputy problem"):

    - `account`: only on behalf of this account (`aws:SourceAccount`);
    - `source_arn`: only for this resource (`aws:SourceArn`): an exact ARN is compared with StringEquals, a pattern
      (with `*` or `?`) with ArnLike — both match an exact ARN exactly;
    - `external_id`: the external ID the service passes (`sts:ExternalId`; Firehose's documented trust policy,
      "Allow Firehose to assume an IAM role", uses the account ID).

    `account=None` and no other guard is for Lambda execution roles only: Lambda assumes the role for the function it
    was handed to, and who may hand it over is iam:PassRole, which only the deploy role holds."""
    equals: dict[str, Any] = {}
    like: dict[str, Any] = {}
    if account is not None:
        equals["aws:SourceAccount"] = account
    if external_id is not None:
        equals["sts:ExternalId"] = external_id
    if source_arn is not None:
        (like if any(c in source_arn for c in "*?") else equals)["aws:SourceArn"] = source_arn
    condition = {k: v for k, v in (("StringEquals", equals), ("ArnLike", like)) if v}
    statement: dict[str, Any] = {"Sid": sid} if sid else {}
    statement |= {"Effect": "Allow", "Principal": {"Service": service}, "Action": "sts:AssumeRole"}
    if condition:
        statement["Condition"] = condition
    return {"Version": POLICY_VERSION, "Statement": [statement]}


# Only Lambda may assume a function's role (service roles, MOD-104; rotation functions, MOD-045); which function gets
# which role is controlled by iam:PassRole, which only the deploy role holds.
LAMBDA_TRUST = json.dumps(service_trust("lambda.amazonaws.com", None, sid="LambdaOnly"), sort_keys=True)
