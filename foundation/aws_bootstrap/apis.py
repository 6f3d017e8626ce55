"""MOD-104 part: the domain APIs' shells (issue 8, "Domain APIs": "an API Gateway HTTP API per application domain
with `GET /health` and the routes the catalogue gives its modules, IAM authorisation for service-to-service calls
and a Cognito JWT authoriser on the app layer (SD08: customer pool for customer flows, internal pool for banker
tools), access logs to a KMS-encrypted log group").

In Phase 0, so every service role's policy can name an API from the start and every module adds its own routes
(components/domain_api.py) to an API that already exists. Per domain of model/domain_apis.py `api_domains`:

- an HTTP API `bank-{env}-{domain}`;
- its `$default` stage, deployed automatically on every route change, throttled, with JSON access logs to
  `/bank/{env}/api/{domain}`, a log group encrypted with the domain key (whose key policy admits CloudWatch Logs for
  this account's log groups, encryption_events.py);
- on SD08 only, a JWT authoriser per Cognito user pool: its issuer is the pool, its audience the pool's app client
  (identity.py), so only tokens Cognito issued to the bank's own apps pass.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from foundation.aws_bootstrap.identity import join
from model.domain_apis import api_domains

if TYPE_CHECKING:
    from foundation.aws_bootstrap import AwsBootstrap

# The app layer's domain: its routes are called by customers' and staff's apps with Cognito tokens (issue 8, SD08).
APP_DOMAIN = "SD08"
# API Gateway's default stage of an HTTP API: served at the API's root URL, no stage name in the path.
DEFAULT_STAGE = "$default"
# Per-stage throttling below the account's regional quota (10,000 requests/s, burst 5,000, shared by every API of
# the account and region: API Gateway quotas): seven APIs at 1,000/s cannot together exhaust it, so a flood on one
# domain's API cannot throttle another's.
THROTTLING_RATE_LIMIT = 1000.0
THROTTLING_BURST_LIMIT = 500
# JWT authorisers read the bearer token from the Authorization header (API Gateway, HTTP API JWT authorizers).
JWT_IDENTITY_SOURCE = "$request.header.Authorization"
# One access log line per request, JSON (API Gateway, "Customizing HTTP API access logs"): who called which route,
# the answer and its latency, and why an authoriser or integration failed. No request bodies, headers or tokens.
ACCESS_LOG_FORMAT = json.dumps(
    {
        "requestId": "$context.requestId",
        "requestTime": "$context.requestTime",
        "sourceIp": "$context.identity.sourceIp",
        "caller": "$context.identity.caller",
        "userArn": "$context.identity.userArn",
        "routeKey": "$context.routeKey",
        "protocol": "$context.protocol",
        "status": "$context.status",
        "responseLength": "$context.responseLength",
        "responseLatency": "$context.responseLatency",
        "integrationLatency": "$context.integrationLatency",
        "integrationError": "$context.integrationErrorMessage",
        "authorizerError": "$context.authorizer.error",
    },
    sort_keys=True,
    separators=(",", ":"),
)


@dataclass(frozen=True)
class DomainApi:
    domain: str  # "SD01" …
    api: aws.apigatewayv2.Api
    stage: aws.apigatewayv2.Stage
    log_group: aws.cloudwatch.LogGroup
    # The JWT authorisers, by user pool ("customer", "internal"): SD08 only.
    authorisers: dict[str, aws.apigatewayv2.Authorizer] = field(default_factory=dict)

    @property
    def url(self) -> pulumi.Output[str]:
        """The `$default` stage's URL: where callers and the phase gates reach the domain."""
        return self.stage.invoke_url


@dataclass(frozen=True)
class DomainApis:
    domains: dict[str, DomainApi]  # by domain, only the domains that have an API


def api_name(environment: str, domain: str) -> str:
    return f"bank-{environment}-{domain.lower()}"


def access_log_group_name(environment: str, domain: str) -> str:
    return f"/bank/{environment}/api/{domain.lower()}"


def cognito_issuer(region: Any, pool_id: Any) -> Any:
    """A user pool's token issuer (Cognito developer guide, "Verifying a JSON web token": the `iss` claim)."""
    return join("https://cognito-idp.", region, ".amazonaws.com/", pool_id)


def build_domain_apis(bootstrap: AwsBootstrap) -> DomainApis:
    spec = bootstrap.deployment.spec
    env = bootstrap.context.environment
    inputs = bootstrap.inputs
    keys = bootstrap.events.domains
    domains: dict[str, DomainApi] = {}
    for domain in api_domains(bootstrap.context.platform.catalogue.modules):
        name = f"{spec.resource_name}-api-{domain.lower()}"
        api = aws.apigatewayv2.Api(
            name,
            name=api_name(env, domain),
            protocol_type="HTTP",
            description=f"{domain}: its service modules' routes and GET /health (routes added by each module)",
            tags=spec.tags,
            opts=bootstrap.child_options(),
        )
        log_group = aws.cloudwatch.LogGroup(
            f"{name}-access-logs",
            name=access_log_group_name(env, domain),
            kms_key_id=keys[domain].key.arn,
            retention_in_days=inputs["retention.logRetentionDays"],
            tags=spec.tags,
            opts=bootstrap.stateful_options(),
        )
        stage = aws.apigatewayv2.Stage(
            f"{name}-stage",
            api_id=api.id,
            name=DEFAULT_STAGE,
            # Each module's routes go live as the module adds them, without a deployment resource per change.
            auto_deploy=True,
            access_log_settings=aws.apigatewayv2.StageAccessLogSettingsArgs(
                destination_arn=log_group.arn, format=ACCESS_LOG_FORMAT
            ),
            default_route_settings=aws.apigatewayv2.StageDefaultRouteSettingsArgs(
                throttling_rate_limit=THROTTLING_RATE_LIMIT,
                throttling_burst_limit=THROTTLING_BURST_LIMIT,
                # Per-route metrics, so a route's errors and latency point at the module behind it.
                detailed_metrics_enabled=True,
            ),
            tags=spec.tags,
            opts=bootstrap.child_options(),
        )
        authorisers = _app_authorisers(bootstrap, name, api) if domain == APP_DOMAIN else {}
        domains[domain] = DomainApi(domain, api, stage, log_group, authorisers)
    return DomainApis(domains=domains)


def _app_authorisers(
    bootstrap: AwsBootstrap, name: str, api: aws.apigatewayv2.Api
) -> dict[str, aws.apigatewayv2.Authorizer]:
    """SD08's JWT authorisers: customer flows accept customer-pool tokens, banker tools internal-pool tokens."""
    identity = bootstrap.identity
    region = bootstrap.inputs["region"]
    pools = {
        "customer": (identity.customer_pool, identity.customer_client),
        "internal": (identity.internal_pool, identity.internal_client),
    }
    return {
        which: aws.apigatewayv2.Authorizer(
            f"{name}-{which}-authoriser",
            api_id=api.id,
            name=f"{which}-pool",
            authorizer_type="JWT",
            identity_sources=[JWT_IDENTITY_SOURCE],
            jwt_configuration=aws.apigatewayv2.AuthorizerJwtConfigurationArgs(
                issuer=cognito_issuer(region, pool.id),
                # Cognito ID tokens carry the app client's id as `aud` (access tokens as `client_id`, which API
                # Gateway also checks against this list).
                audiences=[client.id],
            ),
            opts=bootstrap.child_options(),
        )
        for which, (pool, client) in pools.items()
    }
