"""A service module's routes on its domain's HTTP API, and the ARNs its callers may invoke (issue 8, "Domain APIs").

MOD-104 creates each domain's API, stage and authorisers (foundation/aws_bootstrap/apis.py); a module adds, as its
own children:

- one Lambda proxy integration (payload format 2.0) to its `live` alias, so traffic follows blue-green's alias;
- per route (model/domain_apis.py `module_routes`: the catalogue's, plus `GET /health` on the domain's health
  module) a route authorised by IAM (service-to-service calls sign with their role, SigV4) or, on SD08, by the JWT
  authoriser of the module's Cognito user pool; `GET /health` is IAM-authorised everywhere: it is called by the
  phase gates and operators with AWS credentials, never by a signed-in customer;
- per route a Lambda permission for apigateway.amazonaws.com on that alias only, scoped to that route's ARN.

Callers' `InvokeCalleeApis` statements (model/service_policies.py) resolve to the callee's paths on its domain API
(`execute_api_resolver`).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import pulumi
import pulumi_aws as aws

from foundation.aws_bootstrap.apis import APP_DOMAIN, DomainApi
from foundation.aws_bootstrap.identity import StackArns, join
from model.catalogue import ModuleSpec
from model.domain_apis import HEALTH_ROUTE, module_routes
from model.service_policies import ResourceRef

if TYPE_CHECKING:
    from components.service_module import ServiceModule

# API Gateway waits at most 30 s for an HTTP API integration (API Gateway quotas); the functions time out at 30 s.
INTEGRATION_TIMEOUT_MS = 30_000
# A route's path parameter (`{accountId}`) or greedy path (`{proxy+}`): in an execute-api ARN the request's real
# path stands there, so a policy or permission must match it with `*` (IAM ArnLike; `*` also spans `/`).
_PATH_VARIABLE = re.compile(r"\{[^}]+\}")


@dataclass(frozen=True)
class ModuleRoute:
    route_key: str  # "GET /health"
    route: aws.apigatewayv2.Route
    permission: aws.lambda_.Permission


def route_arn_suffix(route_key: str) -> str:
    """The part of an execute-api ARN after the API id that matches `route_key` on every stage:
    `GET /accounts/{id}` → `/*/GET/accounts/*`; `ANY` matches every method, so it is `*` too."""
    method, _, path = route_key.partition(" ")
    return f"/*/{'*' if method == 'ANY' else method}{_PATH_VARIABLE.sub('*', path)}"


def route_resource_name(route_key: str) -> str:
    """`GET /balance-service/accounts/{accountId}` → `get-balance-service-accounts-accountid`."""
    words = re.findall(r"[a-z0-9]+", route_key.lower())
    return "-".join(words)


def route_authoriser(domain_api: DomainApi, spec: ModuleSpec) -> aws.apigatewayv2.Authorizer | None:
    """The authoriser of a module's routes: on SD08 the JWT authoriser of its user pool; elsewhere none (IAM)."""
    if spec.domain != APP_DOMAIN:
        return None
    if spec.user_pool is None:
        raise ValueError(f"{spec.id} ({spec.slug}): an {APP_DOMAIN} module with routes needs a `userPool`")
    return domain_api.authorisers[spec.user_pool]


def add_module_routes(
    module: ServiceModule,
    api: aws.apigatewayv2.Api,
    alias: aws.lambda_.Alias,
    routes: Sequence[str],
    authoriser: aws.apigatewayv2.Authorizer | None,
) -> list[ModuleRoute]:
    """The module's routes on `api`, all to `alias`: JWT with `authoriser` when given, else IAM; `GET /health` IAM."""
    spec = module.deployment.spec
    if not routes:
        return []
    names = [route_resource_name(r) for r in routes]
    if len(set(names)) != len(names):
        raise ValueError(f"{spec.slug}: two routes would share a resource name: {sorted(routes)}")
    # One integration for all the module's routes: they all go to the same alias the same way.
    integration = aws.apigatewayv2.Integration(
        f"{spec.slug}-api-integration",
        api_id=api.id,
        description=f"{spec.slug}'s `live` alias (Lambda proxy)",
        integration_type="AWS_PROXY",
        # Lambda proxy integrations are invoked with POST whatever the route's method.
        integration_method="POST",
        integration_uri=alias.arn,
        payload_format_version="2.0",
        timeout_milliseconds=INTEGRATION_TIMEOUT_MS,
        opts=module.child_options(),
    )
    created = []
    for route_key, name in zip(routes, names, strict=True):
        jwt = authoriser is not None and route_key != HEALTH_ROUTE
        route = aws.apigatewayv2.Route(
            f"{spec.slug}-route-{name}",
            api_id=api.id,
            route_key=route_key,
            target=pulumi.Output.concat("integrations/", integration.id),
            authorization_type="JWT" if jwt else "AWS_IAM",
            authorizer_id=authoriser.id if jwt else None,
            opts=module.child_options(),
        )
        permission = aws.lambda_.Permission(
            f"{spec.slug}-invoke-{name}",
            action="lambda:InvokeFunction",
            function=alias.function_name,
            # The alias only: API Gateway can never reach a version blue-green has not made live.
            qualifier=alias.name,
            principal="apigateway.amazonaws.com",
            source_arn=pulumi.Output.concat(api.execution_arn, route_arn_suffix(route_key)),
            opts=module.child_options(),
        )
        created.append(ModuleRoute(route_key=route_key, route=route, permission=permission))
    return created


def execute_api_resolver(
    apis: Mapping[str, DomainApi], modules_by_slug: Mapping[str, ModuleSpec], arns: StackArns
) -> Callable[[ResourceRef], list[Any]]:
    """Resolves `ResourceRef("execute-api", callee_slug)` (model/service_policies.py InvokeCalleeApis) to the
    callee's paths on its domain's API, every stage and method: everything under `/{slug}/`, and each of its
    catalogue routes exactly (which covers `/{slug}` itself)."""

    def resolve(ref: ResourceRef) -> list[Any]:
        if ref.kind != "execute-api":
            raise ValueError(f"{ref}: not an execute-api reference")
        callee = modules_by_slug[ref.name]
        domain_api = apis.get(callee.domain)
        if domain_api is None:
            raise ValueError(f"{callee.slug}: its domain {callee.domain} has no HTTP API to be called on")
        api_id = domain_api.api.id
        suffixes = [f"/*/*/{callee.slug}/*"]
        suffixes += [s for s in sorted({route_arn_suffix(r) for r in callee.routes or ()}) if s not in suffixes]
        return [arns.regional("execute-api", join(api_id, suffix)) for suffix in suffixes]

    return resolve


def add_domain_routes(module: ServiceModule, alias: aws.lambda_.Alias) -> list[ModuleRoute]:
    """Everything a service module adds to its domain's API: its routes (and `GET /health` if it is the domain's
    health module), with its domain's authorisation. The ServiceModule calls this with its `live` alias."""
    spec = module.deployment.spec
    enabled = [d.spec for d in module.context.platform.enabled_modules()]
    routes = module_routes(spec, enabled)
    if not routes:
        return []
    domain_api = module.context.foundation["aws-bootstrap"].apis.domains.get(spec.domain)
    if domain_api is None:
        raise ValueError(f"{spec.slug}: routes {list(routes)} but {spec.domain} has no HTTP API")
    return add_module_routes(module, domain_api.api, alias, routes, route_authoriser(domain_api, spec))
