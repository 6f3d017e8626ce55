"""The local stack (DESIGN G10) talks to the AWS emulator only: its provider sends every service the program
uses to the emulator's endpoint, so nothing a local run does can reach a real AWS account."""

from __future__ import annotations

import json

from tests.conftest import offline_plan

# Which AWS API each pulumi-aws resource module calls, and the provider `endpoints` key that redirects it
# (pulumi-aws ProviderEndpointArgs). Written out here, not derived from the program: a type the program starts
# to use that is missing here fails the test until someone says which service it calls.
SERVICE_OF_TYPE_PREFIX = {
    "aws:apigatewayv2/": "apigatewayv2",
    "aws:appconfig/": "appconfig",
    "aws:codedeploy/": "codedeploy",
    "aws:cloudtrail/": "cloudtrail",
    "aws:cloudwatch/event": "events",
    "aws:cloudwatch/log": "logs",
    "aws:cloudwatch/metricAlarm": "cloudwatch",
    "aws:cloudwatch/dashboard": "cloudwatch",
    "aws:cognito/": "cognitoidp",
    "aws:iam/": "iam",
    "aws:kinesis/stream": "kinesis",
    "aws:kinesis/firehoseDeliveryStream": "firehose",
    "aws:kms/": "kms",
    "aws:lambda/": "lambda",
    "aws:s3/": "s3",
    "aws:secretsmanager/": "secretsmanager",
    "aws:sns/": "sns",
    "aws:sqs/": "sqs",
    "aws:ssm/": "ssm",
    "aws:xray/": "xray",
}


def service_of(resource_type: str) -> str:
    matches = [service for prefix, service in SERVICE_OF_TYPE_PREFIX.items() if resource_type.startswith(prefix)]
    assert matches, f"{resource_type}: which AWS service does it call? Add it to SERVICE_OF_TYPE_PREFIX"
    return matches[0]


def test_every_service_the_local_program_uses_goes_to_the_emulator():
    resources = offline_plan("local").document["deployment"]["resources"]
    (provider,) = [r for r in resources if r["type"] == "pulumi:providers:aws"]
    (endpoints,) = json.loads(provider["inputs"]["endpoints"])
    emulator = json.loads(provider["inputs"]["endpoints"])[0]["s3"]
    assert emulator.startswith("http://localhost") or emulator.startswith("http://127.0.0.1")
    used = {service_of(r["type"]) for r in resources if r["type"].startswith("aws:")} | {"sts"}
    missing = sorted(s for s in used if endpoints.get(s) != emulator)
    assert not missing, f"the local stack's provider sends these services to real AWS: {missing}"
    assert json.loads(provider["inputs"]["skipCredentialsValidation"]) is True
