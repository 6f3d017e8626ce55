"""Issue 8, "Domain APIs": an HTTP API per application domain (MOD-104, foundation/aws_bootstrap/apis.py), the routes a
module adds to it (components/domain_api.py) and the module that answers each API's `GET /health` (model/domain_apis.py).

The APIs are read from the real dev plan; the routes, until the ServiceModule adds them, from small mocks programs.
Expectations are written out here (names, ARNs, authorisation) or read from the raw stack and catalogue files.
"""

from __future__ import annotations

import fnmatch
import json
from types import SimpleNamespace

import pulumi
import pulumi_aws as aws
import pytest
import yaml

from bankctl.recording import PlanMocks, record_program
from foundation.aws_bootstrap.identity import StackArns
from model.catalogue import ModuleSpec, load_catalogue
from model.domain_apis import health_modules, module_routes, serves_domain_health
from model.service_policies import ResourceRef
from tests.conftest import PROJECT_DIR, offline_plan

BOOTSTRAP = "bank:foundation:AwsBootstrap"
# The domains whose modules are called over HTTP: all but SD07, the data platform (issue 8, "per application domain").
API_DOMAINS = ("SD01", "SD02", "SD03", "SD04", "SD05", "SD06", "SD08")
ACCOUNT, REGION = "123456789012", "ap-southeast-2"


def stack_config(stack: str) -> dict:
    return yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]


def bootstrap_resources(stack: str) -> dict[str, dict]:
    resources = offline_plan(stack).document["deployment"]["resources"]
    return {r["urn"].split("::")[-1]: r for r in resources if BOOTSTRAP in r["urn"].split("::")[2]}


def stack_outputs(stack: str) -> dict:
    (root,) = [r for r in offline_plan(stack).document["deployment"]["resources"] if r["type"] == "pulumi:pulumi:Stack"]
    return root["outputs"]


# --- the APIs (dev plan) -------------------------------------------------------------------------------------------
def test_each_application_domain_has_an_http_api_with_an_auto_deployed_default_stage():
    resources = bootstrap_resources("dev")
    apis = {n: r for n, r in resources.items() if r["type"] == "aws:apigatewayv2/api:Api"}
    assert sorted(apis) == [f"aws-bootstrap-api-{d.lower()}" for d in API_DOMAINS]  # none for SD07
    for domain in API_DOMAINS:
        api = apis[f"aws-bootstrap-api-{domain.lower()}"]
        assert api["inputs"]["name"] == f"bank-dev-{domain.lower()}"
        assert api["inputs"]["protocolType"] == "HTTP"
        stage = resources[f"aws-bootstrap-api-{domain.lower()}-stage"]
        assert stage["inputs"]["apiId"] == api["id"]
        assert stage["inputs"]["name"] == "$default"
        assert stage["inputs"]["autoDeploy"] is True
        throttling = stage["inputs"]["defaultRouteSettings"]
        assert 0 < throttling["throttlingRateLimit"] <= 10000 / len(API_DOMAINS)  # the account's regional quota
        assert 0 < throttling["throttlingBurstLimit"] <= 5000 / len(API_DOMAINS)


def test_access_logs_go_to_the_domains_log_group_encrypted_with_the_domain_key():
    resources = bootstrap_resources("dev")
    config = stack_config("dev")
    for domain in API_DOMAINS:
        key = resources[f"aws-bootstrap-{domain.lower()}-key"]
        group = resources[f"aws-bootstrap-api-{domain.lower()}-access-logs"]
        stage = resources[f"aws-bootstrap-api-{domain.lower()}-stage"]
        assert group["inputs"]["name"] == f"/bank/dev/api/{domain.lower()}"
        assert group["inputs"]["kmsKeyId"] == key["outputs"]["arn"]
        assert group["inputs"]["retentionInDays"] == config["bank:retention"]["logRetentionDays"]
        settings = stage["inputs"]["accessLogSettings"]
        assert settings["destinationArn"] == group["outputs"]["arn"]
        line = json.loads(settings["format"])
        assert {"$context.requestId", "$context.routeKey", "$context.status"} <= set(line.values())
        # CloudWatch Logs may use the key for this group: the key policy admits it for the account's log groups.
        policy = json.loads(key["inputs"]["policy"])
        (logs,) = [s for s in policy["Statement"] if s["Principal"] == {"Service": f"logs.{REGION}.amazonaws.com"}]
        pattern = logs["Condition"]["ArnLike"]["kms:EncryptionContext:aws:logs:arn"]
        assert fnmatch.fnmatchcase(group["outputs"]["arn"], pattern)


def test_the_app_layer_has_a_jwt_authoriser_per_user_pool_and_no_other_api_has_one():
    resources = bootstrap_resources("dev")
    authorisers = {n: r for n, r in resources.items() if r["type"] == "aws:apigatewayv2/authorizer:Authorizer"}
    assert sorted(authorisers) == [
        "aws-bootstrap-api-sd08-customer-authoriser",
        "aws-bootstrap-api-sd08-internal-authoriser",
    ]
    api_id = resources["aws-bootstrap-api-sd08"]["id"]
    for which in ("customer", "internal"):
        authoriser = authorisers[f"aws-bootstrap-api-sd08-{which}-authoriser"]["inputs"]
        pool = resources[f"aws-bootstrap-{which}-pool"]
        client = resources[f"aws-bootstrap-{which}-client"]
        assert authoriser["apiId"] == api_id
        assert authoriser["authorizerType"] == "JWT"
        assert authoriser["identitySources"] == ["$request.header.Authorization"]
        assert authoriser["jwtConfiguration"] == {
            "issuer": f"https://cognito-idp.{REGION}.amazonaws.com/{pool['id']}",
            "audiences": [client["id"]],
        }


def test_api_ids_and_urls_are_platform_parameters_and_stack_outputs():
    resources = bootstrap_resources("dev")
    outputs = stack_outputs("dev")
    assert sorted(outputs["domainApiUrls"]) == list(API_DOMAINS)
    for domain in API_DOMAINS:
        key = domain.lower()
        api = resources[f"aws-bootstrap-api-{key}"]
        url = f"https://{api['id']}.execute-api.{REGION}.amazonaws.com/"
        assert outputs["domainApiUrls"][domain] == url
        assert resources[f"aws-bootstrap-platform-{key}-api-id"]["inputs"]["insecureValue"] == api["id"]
        url_parameter = resources[f"aws-bootstrap-platform-{key}-api-url"]["inputs"]
        assert url_parameter["name"] == f"/bank/dev/platform/{key}/api-url"
        assert url_parameter["insecureValue"] == url
    assert "aws-bootstrap-platform-sd07-api-id" not in resources


# --- the health module -------------------------------------------------------------------------------------------
def module(module_id: str, slug: str, step: int | None, domain: str = "SD01", **extra) -> ModuleSpec:
    phase = {"SD01": "1", "SD08": "7", "SD07": "data-platform"}[domain]
    return ModuleSpec.model_validate(
        {
            "id": module_id,
            "slug": slug,
            "name": slug,
            "domain": domain,
            "phase": phase,
            "step": step,
            "owner": "team",
            "dataClassification": "internal",
            **extra,
        }
    )


def test_the_health_module_is_the_enabled_routed_module_deployed_first_ties_to_the_lowest_id():
    late = module("MOD-910", "late", 3)
    tie_high = module("MOD-912", "tie-high", 1)
    tie_low = module("MOD-911", "tie-low", 1)
    unrouted = module("MOD-902", "scheduled", 1, routes=[])  # never called over HTTP
    app = module("MOD-930", "app", 2, domain="SD08", userPool="customer")
    chosen = health_modules([late, tie_high, unrouted, tie_low, app])
    assert chosen == {"SD01": tie_low, "SD08": app}
    assert serves_domain_health(tie_low, [late, tie_high, tie_low])
    assert not serves_domain_health(tie_high, [late, tie_high, tie_low])
    # Only enabled modules count: without the step-1 modules, the next step's module answers.
    assert health_modules([late, unrouted])["SD01"] == late
    assert module_routes(tie_low, [late, tie_low]) == ("ANY /tie-low/{proxy+}", "GET /health")
    assert module_routes(late, [late, tie_low]) == ("ANY /late/{proxy+}",)


def test_a_module_that_names_get_health_in_the_catalogue_answers_it():
    first = module("MOD-903", "first", 1)
    named = module("MOD-909", "named", 4, routes=["GET /health", "POST /named/x"])
    assert health_modules([first, named])["SD01"] == named
    assert module_routes(named, [first, named]) == ("GET /health", "POST /named/x")  # not twice


def test_each_application_domain_of_the_catalogue_has_its_first_step_module_as_health_module():
    raw = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
    catalogue = load_catalogue()
    chosen = health_modules(catalogue.modules)
    assert sorted(chosen) == list(API_DOMAINS)
    for domain in API_DOMAINS:
        routed = [m for m in raw if m["domain"] == domain and m.get("routes", None) != []]
        first = min(routed, key=lambda m: (m["step"], int(m["id"][4:])))
        assert chosen[domain].id == first["id"], domain


# --- a module's routes (mocks program) ---------------------------------------------------------------------------
class RoutedModule(pulumi.ComponentResource):
    """What add_module_routes uses of a ServiceModule: its spec and its children's options."""

    def __init__(self, spec: ModuleSpec):
        super().__init__("bank:domains:ServiceModule", spec.slug)
        self.deployment = SimpleNamespace(spec=spec)

    def child_options(self, **options) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **options)


def record_routes() -> dict:
    """A program with an SD01 API (IAM) and an SD08 API (JWT), and three modules' routes on them."""
    from components.domain_api import add_module_routes, execute_api_resolver, route_authoriser
    from foundation.aws_bootstrap.apis import DomainApi

    by_slug = load_catalogue().by_slug()

    def domain_api(domain: str, pools: tuple[str, ...]) -> DomainApi:
        api = aws.apigatewayv2.Api(f"api-{domain}", name=f"bank-dev-{domain.lower()}", protocol_type="HTTP")
        group = aws.cloudwatch.LogGroup(f"logs-{domain}", name=f"/bank/dev/api/{domain.lower()}")
        stage = aws.apigatewayv2.Stage(f"stage-{domain}", api_id=api.id, name="$default", auto_deploy=True)
        authorisers = {
            p.removeprefix("sd01-"): aws.apigatewayv2.Authorizer(
                f"{p}-authoriser", api_id=api.id, authorizer_type="JWT", name=p
            )
            for p in pools
        }
        return DomainApi(domain, api, stage, group, authorisers)

    def program():
        # SD01's API has an authoriser too: IAM outside SD08 comes from the domain, not from a missing authoriser.
        apis = {"SD01": domain_api("SD01", ("sd01-customer",)), "SD08": domain_api("SD08", ("customer", "internal"))}
        for slug, routes in (
            ("balance-service", (*by_slug["balance-service"].routes, "GET /health")),
            ("account-dashboard", (*by_slug["account-dashboard"].routes, "GET /health")),
            ("banker-console", by_slug["banker-console"].routes),
        ):
            spec = by_slug[slug]
            component = RoutedModule(spec)
            function = aws.lambda_.Function(
                f"{slug}-function", name=f"bank-dev-{slug}", role=f"arn:aws:iam::{ACCOUNT}:role/{slug}", publish=True
            )
            alias = aws.lambda_.Alias(
                f"{slug}-live", name="live", function_name=function.name, function_version=function.version
            )
            domain = apis[spec.domain]
            add_module_routes(component, domain.api, alias, routes, route_authoriser(domain, spec))
        resolve = execute_api_resolver(apis, by_slug, StackArns(REGION, ACCOUNT))
        pulumi.export("invoke", resolve(ResourceRef("execute-api", "balance-service")))

    return record_program(program, "bank", "dev", {}, mocks=PlanMocks(ACCOUNT, REGION))


@pytest.fixture(scope="module")
def routed():
    recording = record_routes()
    by_name = {r.name: r for r in recording.registrations.values()}
    return by_name, recording.stack_outputs


def test_routes_outside_the_app_layer_are_iam_authorised(routed):
    by_name, _ = routed
    integration = by_name["balance-service-api-integration"]
    for name, key in (
        (
            "balance-service-route-get-balance-service-accounts-accountid-balance",
            "GET /balance-service/accounts/{accountId}/balance",
        ),
        ("balance-service-route-get-health", "GET /health"),
    ):
        route = by_name[name].inputs
        assert route["routeKey"] == key
        assert route["authorizationType"] == "AWS_IAM"
        assert "authorizerId" not in route
        assert route["apiId"] == by_name["api-SD01"].id
        assert route["target"] == f"integrations/{integration.id}"
        assert by_name[name].parent == by_name["balance-service"].urn  # the module's own child


def test_app_layer_routes_use_the_jwt_authoriser_of_the_modules_user_pool(routed):
    by_name, _ = routed
    for slug, pool in (("account-dashboard", "customer"), ("banker-console", "internal")):
        routes = [r for n, r in by_name.items() if n.startswith(f"{slug}-route-") and n != f"{slug}-route-get-health"]
        assert routes, slug
        for route in routes:
            assert route.inputs["authorizationType"] == "JWT", slug
            assert route.inputs["authorizerId"] == by_name[f"{pool}-authoriser"].id, slug
            assert route.inputs["apiId"] == by_name["api-SD08"].id
    # GET /health is called by the phase gates with AWS credentials, never with a user's token: IAM on SD08 too.
    health = by_name["account-dashboard-route-get-health"].inputs
    assert health["authorizationType"] == "AWS_IAM" and "authorizerId" not in health


def test_the_integration_proxies_to_the_live_alias(routed):
    by_name, _ = routed
    integration = by_name["balance-service-api-integration"].inputs
    assert integration["integrationType"] == "AWS_PROXY"
    assert integration["payloadFormatVersion"] == "2.0"
    assert integration["integrationUri"] == by_name["balance-service-live"].outputs["arn"]
    assert integration["integrationUri"].endswith(":function:bank-dev-balance-service:live")


def test_each_route_lets_api_gateway_invoke_only_the_alias_from_only_that_route(routed):
    by_name, _ = routed
    execution_arn = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{by_name['api-SD01'].id}"
    expected = {
        "get-balance-service-accounts-accountid-balance": "/*/GET/balance-service/accounts/*/balance",
        "get-balance-service-accounts-accountid-available": "/*/GET/balance-service/accounts/*/available",
        "get-health": "/*/GET/health",
    }
    permissions = {n: r for n, r in by_name.items() if n.startswith("balance-service-invoke-")}
    assert sorted(permissions) == sorted(f"balance-service-invoke-{k}" for k in expected)
    for name, suffix in expected.items():
        permission = permissions[f"balance-service-invoke-{name}"].inputs
        assert permission["principal"] == "apigateway.amazonaws.com"
        assert permission["action"] == "lambda:InvokeFunction"
        assert permission["function"] == "bank-dev-balance-service"
        assert permission["qualifier"] == "live"
        assert permission["sourceArn"] == execution_arn + suffix
    # The ARN API Gateway presents for a real request matches exactly its own route's permission.
    request = f"{execution_arn}/$default/GET/balance-service/accounts/123-456/balance"
    matching = [n for n, p in permissions.items() if fnmatch.fnmatchcase(request, p.inputs["sourceArn"])]
    assert matching == ["balance-service-invoke-get-balance-service-accounts-accountid-balance"]


def test_a_callers_invoke_right_names_the_callees_paths_on_its_domains_api(routed):
    by_name, outputs = routed
    prefix = f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{by_name['api-SD01'].id}"
    assert outputs["invoke"] == [
        f"{prefix}/*/*/balance-service/*",
        f"{prefix}/*/GET/balance-service/accounts/*/available",
        f"{prefix}/*/GET/balance-service/accounts/*/balance",
    ]


def test_api_gateway_types_get_provider_shaped_ids_and_urls():
    def program():
        api = aws.apigatewayv2.Api("api", name="bank-dev-sd01", protocol_type="HTTP")
        aws.apigatewayv2.Stage("default", api_id=api.id, name="$default")
        aws.apigatewayv2.Stage("named", api_id=api.id, name="v1")

    by_name = {
        r.name: r
        for r in record_program(program, "bank", "dev", {}, mocks=PlanMocks(ACCOUNT, REGION)).registrations.values()
    }
    api = by_name["api"]
    assert len(api.id) == 10 and api.id.isalnum()
    assert api.outputs["apiEndpoint"] == f"https://{api.id}.execute-api.{REGION}.amazonaws.com"
    assert api.outputs["executionArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.id}"
    assert api.outputs["arn"] == f"arn:aws:apigateway:{REGION}::/apis/{api.id}"
    assert by_name["default"].id == "$default"
    assert by_name["default"].outputs["invokeUrl"] == f"https://{api.id}.execute-api.{REGION}.amazonaws.com/"
    assert by_name["named"].outputs["invokeUrl"] == f"https://{api.id}.execute-api.{REGION}.amazonaws.com/v1"
    assert by_name["default"].outputs["executionArn"] == f"arn:aws:execute-api:{REGION}:{ACCOUNT}:{api.id}/$default"


def test_each_phase_gate_gets_the_urls_of_the_apis_its_modules_serve():
    """The API URLs are gate inputs (issue: "Their URLs are stack outputs and gate inputs"): each gate's command has
    exactly its phase's domains' URLs in its environment, and no credential."""
    doc = offline_plan("dev").document
    resources = {r["urn"]: r for r in doc["deployment"]["resources"]}
    stages = {
        r["inputs"]["apiId"]: r["outputs"]["invokeUrl"]
        for r in resources.values()
        if r["type"] == "aws:apigatewayv2/stage:Stage"
    }
    api_of = {r["inputs"]["name"]: r["id"] for r in resources.values() if r["type"] == "aws:apigatewayv2/api:Api"}
    for phase in doc["bank"]["phases"]:
        (check,) = [r for r in resources.values() if r.get("parent") == phase["gate"]]
        environment = check["inputs"]["environment"]
        urls = {k: v for k, v in environment.items() if k.startswith("BANK_API_URL_")}
        served = {
            m["domain"]
            for m in doc["bank"]["modules"]
            if m["enabled"] and str(m["phase"]) == phase["key"] and m["domain"] != "SD07"
        }
        assert set(urls) == {f"BANK_API_URL_{d}" for d in served}, phase["key"]
        for name, url in urls.items():
            assert url == stages[api_of[f"bank-dev-{name.removeprefix('BANK_API_URL_').lower()}"]]
        assert not any("SECRET" in k or "PASSWORD" in k or "KEY" in k for k in environment)
