"""MOD-045 in the offline plans of dev, uat and prod: a container per externally provided secret (never a value),
its domain key, its recovery window, a resource policy admitting exactly its readers, rotation on the manifest's
schedule, protection in uat and prod.

Expectations come from the raw manifest and stack files and from other modules' resources in the plan (the
readers' roles, the domain keys), never from the code under test.
"""

from __future__ import annotations

import json
from functools import cache

import pytest
import yaml

from tests.conftest import PROJECT_DIR, offline_plan

STACKS = ("dev", "uat", "prod")
MODULE_TYPE = "bank:foundation:SecretsKeyManagement"
SECRET = "aws:secretsmanager/secret:Secret"
POLICY = "aws:secretsmanager/secretPolicy:SecretPolicy"
ROTATION = "aws:secretsmanager/secretRotation:SecretRotation"
FUNCTION = "aws:lambda/function:Function"
RAW_MANIFEST = yaml.safe_load((PROJECT_DIR / "catalogue" / "secrets.yaml").read_text())["secrets"]
# Deploy-time flags as the stack files write them (model/stack_config.py FEATURE_FLAGS, written out).
FLAG_PATHS = {
    "observability.datadog.enabled": ("bank:observability", "datadog", "enabled"),
    "payments.swift.enabled": ("bank:payments", "swift", "enabled"),
    "cards.enabled": ("bank:cards", "enabled"),
    "analytics.snowflake.enabled": ("bank:analytics", "snowflake", "enabled"),
}


def flag_on(stack: str, flag: str) -> bool:
    value = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    for part in FLAG_PATHS[flag]:
        value = (value or {}).get(part, {})
    return value is True


@cache
def plan(stack: str) -> dict:
    return offline_plan(stack).document


def resources(stack: str) -> list[dict]:
    return plan(stack)["deployment"]["resources"]


def enabled_slugs(stack: str) -> set[str]:
    return {m["slug"] for m in plan(stack)["bank"]["modules"] if m["enabled"]}


def mod045(stack: str, type_: str | None = None) -> list[dict]:
    """The resources MOD-045's component owns."""
    component = next(r["urn"] for r in resources(stack) if r["type"] == MODULE_TYPE)
    return [r for r in resources(stack) if r.get("parent") == component and (type_ is None or r["type"] == type_)]


def expected_containers(stack: str) -> dict[str, dict]:
    """The externally provided secrets this stack has, from the raw manifest: flag on, a reader deployed (gates are)."""
    deployed = enabled_slugs(stack)
    found = {}
    for e in RAW_MANIFEST:
        if "providedBy" not in e or (e.get("when") and not flag_on(stack, e["when"])):
            continue
        consumers = e["consumers"]
        if consumers.get("gates") or set(consumers.get("modules", [])) & deployed:
            found[f"/bank/{stack}/{e['domain'].lower()}/{e['name']}"] = e
    return found


def by_name(stack: str, type_: str, name: str) -> dict:
    return next(r for r in resources(stack) if r["type"] == type_ and r["inputs"].get("name") == name)


def secrets_by_arn(stack: str) -> dict[str, dict]:
    return {r["outputs"]["arn"]: r for r in mod045(stack, SECRET)}


# --- Containers ----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_a_container_per_externally_provided_secret_and_none_for_generated_ones(stack):
    made = sorted(r["inputs"]["name"] for r in mod045(stack, SECRET))
    assert made == sorted(expected_containers(stack))
    assert not [n for n in made if "/db-" in n or n.endswith("/snowflake-loader-key")]
    if stack == "dev":
        assert "/bank/dev/sd04/swift-alliance-credentials" not in made and "/bank/dev/sd07/datadog-api-key" not in made
    else:
        assert (
            f"/bank/{stack}/sd04/swift-alliance-credentials" in made and f"/bank/{stack}/sd07/datadog-api-key" in made
        )


@pytest.mark.parametrize("stack", STACKS)
def test_no_value_is_ever_written_for_a_provided_secret(stack):
    for r in mod045(stack):
        assert r["type"] != "aws:secretsmanager/secretVersion:SecretVersion"
        assert "secretString" not in r["inputs"] and "secretBinary" not in r["inputs"]
    ours = set(secrets_by_arn(stack)) | {r["id"] for r in mod045(stack, SECRET)}
    versions = [r for r in resources(stack) if r["type"] == "aws:secretsmanager/secretVersion:SecretVersion"]
    assert not [v for v in versions if v["inputs"]["secretId"] in ours]
    # Values the platform stores are generated ones, by their owners (MOD-103, MOD-102), and only as secrets.
    for version in versions:
        assert version["inputs"]["secretString"] == {
            "4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270",
            "ciphertext": "[secret]",
        }


@pytest.mark.parametrize("stack", STACKS)
def test_each_secret_is_encrypted_with_its_domain_key_and_can_be_recovered_for_30_days(stack):
    keys = {
        r["urn"].rsplit("::", 1)[1]: r["outputs"]["arn"] for r in resources(stack) if r["type"] == "aws:kms/key:Key"
    }
    for r in mod045(stack, SECRET):
        domain = r["inputs"]["name"].split("/")[3]
        assert r["inputs"]["kmsKeyId"] == keys[f"aws-bootstrap-{domain}-key"], r["inputs"]["name"]
        assert r["inputs"]["recoveryWindowInDays"] == 30


@pytest.mark.parametrize("stack", STACKS)
def test_secret_ids_and_arns_are_in_secrets_managers_format(stack):
    account = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]["bank:awsAccountId"]
    for r in mod045(stack, SECRET):
        prefix = f"arn:aws:secretsmanager:ap-southeast-2:{account}:secret:{r['inputs']['name']}-"
        assert r["id"] == r["outputs"]["arn"] and r["id"].startswith(prefix) and len(r["id"]) == len(prefix) + 6
    for r in mod045(stack):
        assert "offline-invented" not in json.dumps(r), r["urn"]


@pytest.mark.parametrize("stack", ("dev", "uat", "prod"))
def test_secrets_are_protected_and_retained_in_uat_and_prod_only(stack):
    stateful = mod045(stack, SECRET) + mod045(stack, "aws:cloudwatch/logGroup:LogGroup")
    assert stateful
    for r in stateful:
        assert bool(r.get("protect")) == bool(r.get("retainOnDelete")) == (stack != "dev"), r["urn"]


# --- Who may read ----------------------------------------------------------------------------------------------------
def readers(stack: str, entry: dict) -> set[str]:
    """The role ARNs that must be admitted, found in the plan by what those roles are (not by MOD-045's code)."""
    env = stack
    deployed = enabled_slugs(stack)
    arns: set[str] = set()
    for slug in entry["consumers"].get("modules", []):
        if slug not in deployed:
            continue
        if slug == "observability-platform":
            # The Firehose stream that delivers to Datadog reads the key as its role.
            stream = next(
                r
                for r in resources(stack)
                if r["type"] == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"
                and "datadog-api-key"
                in json.dumps(r["inputs"].get("httpEndpointConfiguration", {}).get("secretsManagerConfiguration", {}))
            )
            arns.add(stream["inputs"]["httpEndpointConfiguration"]["secretsManagerConfiguration"]["roleArn"])
        elif slug == "secrets-key-management":
            arns.add(
                by_name(stack, "aws:iam/role:Role", f"bank-{env}-secret-rotation-datadog-api-key")["outputs"]["arn"]
            )
        else:
            arns.add(by_name(stack, "aws:iam/role:Role", f"bank-{env}-{slug}")["outputs"]["arn"])
    if entry["consumers"].get("gates"):
        arns.add(by_name(stack, "aws:iam/role:Role", f"bank-{env}-ci-deploy")["outputs"]["arn"])
    if entry["rotation"]["automatic"]:
        kind = entry["rotation"]["function"]
        arns.add(by_name(stack, "aws:iam/role:Role", f"bank-{env}-secret-rotation-{kind}")["outputs"]["arn"])
    return arns


@pytest.mark.parametrize("stack", STACKS)
def test_the_resource_policy_admits_exactly_the_consumers_roles(stack):
    expected = expected_containers(stack)
    by_arn = secrets_by_arn(stack)
    policies = mod045(stack, POLICY)
    assert len(policies) == len(expected)
    for r in policies:
        name = by_arn[r["inputs"]["secretArn"]]["inputs"]["name"]
        assert r["inputs"]["blockPublicPolicy"] is True
        document = json.loads(r["inputs"]["policy"])
        assert document["Version"] == "2012-10-17"
        (statement,) = document["Statement"]
        assert (statement["Effect"], statement["Principal"], statement["Action"], statement["Resource"]) == (
            "Deny",
            "*",
            "secretsmanager:GetSecretValue",
            "*",
        )
        # Never an unconditioned "*": the deny spares exactly the readers' roles, by aws:PrincipalArn.
        assert list(statement["Condition"]) == ["StringNotLike"]
        admitted = statement["Condition"]["StringNotLike"]["aws:PrincipalArn"]
        assert len(admitted) == len(set(admitted)) and "*" not in "".join(admitted), name
        assert set(admitted) == readers(stack, expected[name]), name


def test_a_service_secret_admits_only_its_module_and_a_gate_secret_only_the_deploy_role():
    document = {
        secrets_by_arn("dev")[r["inputs"]["secretArn"]]["inputs"]["name"]: json.loads(r["inputs"]["policy"])
        for r in mod045("dev", POLICY)
    }

    def admitted(name):
        return document[name]["Statement"][0]["Condition"]["StringNotLike"]["aws:PrincipalArn"]

    assert admitted("/bank/dev/sd02/greenid-api-credentials") == [
        "arn:aws:iam::381492650173:role/bank/dev/service/bank-dev-eidv-document-verification"
    ]
    assert sorted(admitted("/bank/dev/sd08/smoke-test-customer")) == [
        "arn:aws:iam::381492650173:role/bank-dev-secret-rotation-cognito-user-password",
        "arn:aws:iam::381492650173:role/bank/dev/ci/bank-dev-ci-deploy",
    ]


# --- Rotation ----------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_rotation_where_the_manifest_says_automatic_with_its_schedule(stack):
    expected = {name: e for name, e in expected_containers(stack).items() if e["rotation"]["automatic"]}
    assert f"/bank/{stack}/sd08/smoke-test-customer" in expected
    by_arn = secrets_by_arn(stack)
    functions = {r["outputs"]["arn"]: r for r in mod045(stack, FUNCTION)}
    rotations = {by_arn[r["inputs"]["secretId"]]["inputs"]["name"]: r for r in mod045(stack, ROTATION)}
    assert sorted(rotations) == sorted(expected)  # and none for secrets rotated by hand
    for name, r in rotations.items():
        rotation = expected[name]["rotation"]
        assert r["inputs"]["rotationRules"] == {"automaticallyAfterDays": rotation["periodDays"]}
        assert r["inputs"]["rotateImmediately"] is False  # an empty container is never rotated
        function = functions[r["inputs"]["rotationLambdaArn"]]
        assert function["inputs"]["handler"] == f"secret_rotation.{rotation['function'].replace('-', '_')}.handler"
        # Secrets Manager may invoke the function before the rotation is configured.
        permission = next(
            p
            for p in mod045(stack, "aws:lambda/permission:Permission")
            if p["inputs"]["function"] == function["inputs"]["name"]
        )
        assert permission["urn"] in r["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_only_secrets_manager_of_this_account_may_invoke_a_rotation_function(stack):
    account = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]["bank:awsAccountId"]
    functions = mod045(stack, FUNCTION)
    permissions = mod045(stack, "aws:lambda/permission:Permission")
    assert sorted(p["inputs"]["function"] for p in permissions) == sorted(f["inputs"]["name"] for f in functions)
    for p in permissions:
        assert p["inputs"]["principal"] == "secretsmanager.amazonaws.com"
        assert p["inputs"]["action"] == "lambda:InvokeFunction"
        assert p["inputs"]["sourceAccount"] == account


@pytest.mark.parametrize("stack", ("dev", "uat"))
def test_a_rotation_function_runs_this_repositorys_code_and_nothing_else(stack):
    functions = mod045(stack, FUNCTION)
    assert len(functions) == (1 if stack == "dev" else 2)  # Datadog's only where Datadog is on
    code_dir = PROJECT_DIR / "functions" / "secret_rotation"
    for f in functions:
        module = f["inputs"]["handler"].split(".")[1]
        assets = f["inputs"]["code"]["assets"]
        assert sorted(assets) == sorted(f"secret_rotation/{n}" for n in ("__init__.py", "protocol.py", f"{module}.py"))
        for path, asset in assets.items():
            assert asset["text"] == (code_dir / path.split("/")[1]).read_text()
        assert f["inputs"]["runtime"].startswith("python3.")


@pytest.mark.parametrize("stack", ("dev", "uat"))
def test_a_rotation_role_may_touch_only_the_secrets_it_rotates(stack):
    by_arn = secrets_by_arn(stack)
    for policy in mod045(stack, "aws:iam/rolePolicy:RolePolicy"):
        kind = policy["inputs"]["name"].removeprefix("rotate-")
        rotated = sorted(
            f"/bank/{stack}/{e['domain'].lower()}/{e['name']}"
            for e in RAW_MANIFEST
            if e["rotation"].get("function") == kind
            and f"/bank/{stack}/{e['domain'].lower()}/{e['name']}" in expected_containers(stack)
        )
        statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
        assert sorted(by_arn[a]["inputs"]["name"] for a in statements["RotateItsSecrets"]["Resource"]) == rotated
        kms = statements["UseTheDomainKeysForTheseSecrets"]
        condition = kms["Condition"]["StringEquals"]["kms:EncryptionContext:SecretARN"]
        assert sorted(by_arn[a]["inputs"]["name"] for a in condition) == rotated
        wildcard = [s["Sid"] for s in statements.values() if s["Resource"] == "*"]
        assert wildcard in ([], ["GeneratePasswords"])  # GetRandomPassword has no resource to name
        logs = by_name(
            stack, "aws:cloudwatch/logGroup:LogGroup", f"/bank/{stack}/secrets-key-management/{kind}-rotation"
        )
        assert statements["WriteItsLogs"]["Resource"] == logs["outputs"]["arn"] + ":*"
        if kind == "cognito-user-password":
            # Passwords of users of the platform's own pools only (MOD-104's customer and internal pools).
            pools = sorted(
                r["outputs"]["arn"] for r in resources(stack) if r["type"] == "aws:cognito/userPool:UserPool"
            )
            assert len(pools) == 2
            assert sorted(statements["SetAndTestPasswordsInThePlatformPools"]["Resource"]) == pools
        if kind == "datadog-api-key":
            manager = by_name(stack, SECRET, f"/bank/{stack}/sd07/datadog-key-manager")["outputs"]["arn"]
            assert statements["ReadTheKeyManager"]["Resource"] == manager
            assert statements["DecryptTheKeyManager"]["Condition"]["StringEquals"] == {
                "kms:EncryptionContext:SecretARN": manager
            }
        assert set(statements) <= {
            "RotateItsSecrets",
            "UseTheDomainKeysForTheseSecrets",
            "WriteItsLogs",
            "GeneratePasswords",
            "SetAndTestPasswordsInThePlatformPools",
            "ReadTheKeyManager",
            "DecryptTheKeyManager",
        }


@pytest.mark.parametrize("stack", ("dev", "uat"))
def test_a_rotation_function_runs_as_its_own_lambda_only_role_and_logs_encrypted(stack):
    config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    sd07 = next(r for r in resources(stack) if r["urn"].endswith("::aws-bootstrap-sd07-key"))["outputs"]["arn"]
    for function in mod045(stack, FUNCTION):
        role = next(r for r in mod045(stack, "aws:iam/role:Role") if r["outputs"]["arn"] == function["inputs"]["role"])
        trust = json.loads(role["inputs"]["assumeRolePolicy"])["Statement"]
        assert [(t["Effect"], t["Principal"], t["Action"]) for t in trust] == [
            ("Allow", {"Service": "lambda.amazonaws.com"}, "sts:AssumeRole")
        ]
        logs = by_name(stack, "aws:cloudwatch/logGroup:LogGroup", function["inputs"]["loggingConfig"]["logGroup"])
        assert logs["inputs"]["kmsKeyId"] == sd07
        assert logs["inputs"]["retentionInDays"] == config["bank:retention"]["logRetentionDays"]


def test_mod_045_uses_only_mod_104s_outputs():
    # Deployment sequence, step 0.3: MOD-045 runs after MOD-104 only, beside MOD-076 and without waiting for MOD-103.
    doc = plan("uat")
    bootstrap = next(m["urn"] for m in doc["bank"]["modules"] if m["slug"] == "aws-bootstrap")
    parents = {r["urn"]: r.get("parent", "") for r in resources("uat")}

    def within_bootstrap(urn: str) -> bool:
        while urn:
            if urn == bootstrap:
                return True
            urn = parents.get(urn, "")
        return False

    own = {r["urn"] for r in mod045("uat")}
    outside = {d for r in mod045("uat") for d in r.get("dependencies", []) if d not in own}
    assert outside  # it does use MOD-104's keys and roles
    assert [d for d in outside if not within_bootstrap(d)] == []


def test_every_secret_the_platform_creates_is_in_the_manifest_with_its_owner():
    # Generated secrets belong to the module the manifest names (MOD-103, MOD-102); MOD-045 owns the rest.
    manifest = {f"/bank/uat/{e['domain'].lower()}/{e['name']}": e for e in RAW_MANIFEST}
    components = {m["urn"]: m["slug"] for m in plan("uat")["bank"]["modules"] if m["enabled"]}
    for r in resources("uat"):
        if r["type"] == SECRET:
            entry = manifest.get(r["inputs"]["name"])
            assert entry is not None, f"{r['inputs']['name']} is not in catalogue/secrets.yaml"
            assert components[r["parent"]] == entry.get("generatedBy", "secrets-key-management"), r["urn"]
    # And the other way: every generated secret the manifest lists is made by its owner where the owner is deployed.
    made = {r["inputs"]["name"] for r in resources("uat") if r["type"] == SECRET}
    owners = set(components.values())
    assert {n for n, e in manifest.items() if e.get("generatedBy") in owners} <= made


# --- The rotation functions, against moto ----------------------------------------------------------------------------
ACCOUNT = "123456789012"  # moto's default account, for the plain test credentials of the moto_endpoint fixture
REGION = "ap-southeast-2"


def begin_rotation(name: str, token: str) -> None:
    """What Secrets Manager does before it invokes createSecret: a new version with the rotation's token, labelled
    AWSPENDING, holding no value yet. The API has no call for that, so the harness does it in moto's store, which
    runs in this process (ThreadedMotoServer)."""
    import time

    from moto.secretsmanager.models import secretsmanager_backends

    secret = secretsmanager_backends[ACCOUNT][REGION].secrets[name]
    secret.remove_version_stages_from_old_versions(["AWSPENDING"])
    secret.versions[token] = {"createdate": int(time.time()), "version_id": token, "version_stages": ["AWSPENDING"]}


def rotate(handler, name: str, token: str) -> None:
    begin_rotation(name, token)
    for step in ("createSecret", "setSecret", "testSecret", "finishSecret"):
        handler({"Step": step, "SecretId": name, "ClientRequestToken": token}, None)


def stage_values(sm, name: str) -> dict[str, dict]:
    found = {}
    for version in sm.list_secret_version_ids(SecretId=name)["Versions"]:
        for stage in version.get("VersionStages", []):
            found[stage] = json.loads(
                sm.get_secret_value(SecretId=name, VersionId=version["VersionId"])["SecretString"]
            )
    return found


@pytest.fixture
def aws(moto_endpoint, monkeypatch):
    """Clients on a fresh moto; the rotation functions' own boto3 clients reach it through AWS_ENDPOINT_URL."""
    import urllib.request

    import boto3

    urllib.request.urlopen(urllib.request.Request(f"{moto_endpoint}/moto-api/reset", method="POST")).read()
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return {
        service: boto3.client(service, region_name=REGION, endpoint_url=moto_endpoint)
        for service in ("secretsmanager", "cognito-idp")
    }


def smoke_test_user(aws, name: str, *, mfa: bool = False) -> dict:
    """A smoke-test user in a Cognito pool, and its secret with rotation configured (as MOD-045 and a person leave it)."""
    cognito, sm = aws["cognito-idp"], aws["secretsmanager"]
    pool = cognito.create_user_pool(PoolName="bank-test-internal" if mfa else "bank-test-customers")["UserPool"]["Id"]
    client = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="smoke",
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]
    cognito.admin_create_user(
        UserPoolId=pool, Username="smoke", TemporaryPassword="Temp-0-Password!", MessageAction="SUPPRESS"
    )
    cognito.admin_set_user_password(UserPoolId=pool, Username="smoke", Password="First-0-Password!", Permanent=True)
    if mfa:
        token = cognito.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=client,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "smoke", "PASSWORD": "First-0-Password!"},
        )["AuthenticationResult"]["AccessToken"]
        cognito.associate_software_token(AccessToken=token)
        cognito.verify_software_token(AccessToken=token, UserCode="123456")
        cognito.admin_set_user_mfa_preference(
            UserPoolId=pool, Username="smoke", SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True}
        )
    sm.create_secret(Name=name)
    # Rotation is configured while the container is empty (SecretRotation, rotate_immediately=false) …
    sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    value = {"userPoolId": pool, "clientId": client, "username": "smoke", "password": "First-0-Password!"}
    sm.put_secret_value(SecretId=name, SecretString=json.dumps(value))  # … then a person sets the value
    return value


def signs_in(cognito, value: dict, password: str) -> bool:
    try:
        cognito.admin_initiate_auth(
            UserPoolId=value["userPoolId"],
            ClientId=value["clientId"],
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": value["username"], "PASSWORD": password},
        )
        return True
    except cognito.exceptions.NotAuthorizedException:
        return False


@pytest.mark.parametrize("mfa", [False, True], ids=["customer", "staff-with-mfa"])
def test_a_smoke_test_user_password_rotates_through_the_four_steps(aws, caplog, mfa):
    from functions.secret_rotation.cognito_user_password import handler

    name = "/bank/test/sd08/smoke-test-staff" if mfa else "/bank/test/sd08/smoke-test-customer"
    first = smoke_test_user(aws, name, mfa=mfa)
    caplog.set_level("INFO", logger="secret_rotation")
    rotate(handler, name, "11111111-2222-4333-8444-555555555555")
    stages = stage_values(aws["secretsmanager"], name)
    new = stages["AWSCURRENT"]
    assert stages["AWSPREVIOUS"] == first
    assert {k: v for k, v in new.items() if k != "password"} == {k: v for k, v in first.items() if k != "password"}
    assert new["password"] != first["password"] and len(new["password"]) == 32
    assert signs_in(aws["cognito-idp"], first, new["password"])
    assert not signs_in(aws["cognito-idp"], first, first["password"])
    # The log says what happened, never a value.
    assert "AWSCURRENT moved from" in caplog.text
    assert new["password"] not in caplog.text and first["password"] not in caplog.text


def test_a_retried_create_step_keeps_the_value_it_made(aws):
    from functions.secret_rotation.cognito_user_password import handler

    name = "/bank/test/sd08/smoke-test-customer"
    smoke_test_user(aws, name)
    token = "22222222-2222-4333-8444-555555555555"
    begin_rotation(name, token)
    event = {"Step": "createSecret", "SecretId": name, "ClientRequestToken": token}
    handler(event, None)
    made = aws["secretsmanager"].get_secret_value(SecretId=name, VersionId=token)["SecretString"]
    handler(event, None)
    assert aws["secretsmanager"].get_secret_value(SecretId=name, VersionId=token)["SecretString"] == made


def test_an_empty_container_passes_the_configuration_test_but_is_never_rotated(aws):
    from functions.secret_rotation.cognito_user_password import handler
    from functions.secret_rotation.protocol import RotationError

    sm = aws["secretsmanager"]
    name = "/bank/test/sd08/smoke-test-customer"
    sm.create_secret(Name=name)
    sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 30}, RotateImmediately=False)
    token = "33333333-2222-4333-8444-555555555555"
    begin_rotation(name, token)
    handler({"Step": "testSecret", "SecretId": name, "ClientRequestToken": token}, None)
    with pytest.raises(RotationError, match="has no current value to rotate from: a person sets it first"):
        handler({"Step": "createSecret", "SecretId": name, "ClientRequestToken": token}, None)


def test_the_configuration_check_of_a_populated_secret_tests_whatever_it_was_given(aws):
    # Turning rotation on without rotating runs testSecret on a new AWSPENDING version: a copy of the value (it must
    # work) or no value at all (nothing to test). A copy that does not work fails the check.
    from functions.secret_rotation.cognito_user_password import handler
    from functions.secret_rotation.protocol import RotationError

    sm = aws["secretsmanager"]
    name = "/bank/test/sd08/smoke-test-customer"
    value = smoke_test_user(aws, name)
    empty = "77777777-2222-4333-8444-555555555555"
    begin_rotation(name, empty)
    handler({"Step": "testSecret", "SecretId": name, "ClientRequestToken": empty}, None)
    copy = "88888888-2222-4333-8444-555555555555"
    wrong = json.dumps({**value, "password": "Not-0-The-Password!"})
    sm.put_secret_value(SecretId=name, ClientRequestToken=copy, SecretString=wrong, VersionStages=["AWSPENDING"])
    with pytest.raises(RotationError, match="Cognito refused the new password"):
        handler({"Step": "testSecret", "SecretId": name, "ClientRequestToken": copy}, None)


def test_every_foundation_reader_of_a_provided_secret_has_a_role_to_admit():
    # A service module's role is MOD-104's; a foundation module's reader role is named in MOD-045 (it cannot wait for
    # MOD-076's outputs), and MOD-045's own readers are its rotation functions.
    from foundation.secrets_key_management import FOUNDATION_READER_ROLES, OWN_READERS

    modules = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
    foundation = {m["slug"] for m in modules if m.get("kind") == "foundation"}
    for e in RAW_MANIFEST:
        if "providedBy" not in e:
            continue
        for slug in set(e["consumers"].get("modules", [])) & foundation:
            if slug == "secrets-key-management":
                assert f"{e['domain'].lower()}/{e['name']}" in OWN_READERS
            else:
                assert slug in FOUNDATION_READER_ROLES, (e["name"], slug)


def test_the_protocol_refuses_versions_that_are_not_being_rotated(aws):
    from functions.secret_rotation.cognito_user_password import handler
    from functions.secret_rotation.protocol import RotationError

    sm = aws["secretsmanager"]
    name = "/bank/test/sd08/smoke-test-customer"
    smoke_test_user(aws, name)
    current = sm.get_secret_value(SecretId=name)["VersionId"]
    with pytest.raises(RotationError, match="has no version 44444444"):
        handler(
            {"Step": "setSecret", "SecretId": name, "ClientRequestToken": "44444444-0000-4000-8000-000000000000"}, None
        )
    handler({"Step": "finishSecret", "SecretId": name, "ClientRequestToken": current}, None)  # already current: nothing
    sm.create_secret(Name="/bank/test/sd08/not-rotated", SecretString="{}")
    with pytest.raises(RotationError, match="is not enabled for rotation"):
        handler(
            {"Step": "createSecret", "SecretId": "/bank/test/sd08/not-rotated", "ClientRequestToken": current}, None
        )


class FakeDatadog:
    """Datadog's key management and validation endpoints, as documented (API v2 api_keys, v1 validate)."""

    def __init__(self, application_key: str, first_key: tuple[str, str]):
        import http.server
        import itertools
        import threading

        self.application_key = application_key
        self.keys = dict([first_key])  # id → key
        self.calls: list[str] = []
        counter = itertools.count(1)
        fake = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def log_message(self, *args):  # keys travel in headers; log nothing
                return None

            def _answer(self, status: int, body: dict | None = None):
                data = json.dumps(body).encode() if body is not None else b""
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def _managing(self) -> bool:
                return (
                    self.headers.get("DD-API-KEY") in fake.keys.values()
                    and self.headers.get("DD-APPLICATION-KEY") == fake.application_key
                )

            def do_GET(self):
                fake.calls.append(f"GET {self.path}")
                if self.path == "/api/v1/validate" and self.headers.get("DD-API-KEY") in fake.keys.values():
                    return self._answer(200, {"valid": True})
                return self._answer(403, {"errors": ["Forbidden"]})

            def do_POST(self):
                fake.calls.append(f"POST {self.path}")
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                if self.path != "/api/v2/api_keys" or not self._managing() or body["data"]["type"] != "api_keys":
                    return self._answer(403, {"errors": ["Forbidden"]})
                key_id, key = f"key-id-{next(counter)}", f"{next(counter):032x}"
                fake.keys[key_id] = key
                attributes = {"key": key, "name": body["data"]["attributes"]["name"], "last4": key[-4:]}
                return self._answer(201, {"data": {"type": "api_keys", "id": key_id, "attributes": attributes}})

            def do_DELETE(self):
                fake.calls.append(f"DELETE {self.path}")
                key_id = self.path.rsplit("/", 1)[1]
                if not self.path.startswith("/api/v2/api_keys/") or not self._managing():
                    return self._answer(403, {"errors": ["Forbidden"]})
                if fake.keys.pop(key_id, None) is None:
                    return self._answer(404, {"errors": ["Not found"]})
                return self._answer(204)

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def test_the_datadog_api_key_rotates_and_the_replaced_key_is_revoked_one_rotation_later(aws, caplog):
    from functions.secret_rotation import protocol
    from functions.secret_rotation.datadog_api_key import DatadogApiKey

    sm = aws["secretsmanager"]
    name, manager = "/bank/test/sd07/datadog-api-key", "/bank/test/sd07/datadog-key-manager"
    datadog = FakeDatadog("app-key-7f3a9c", ("key-id-0", "first-key-7f3a9c"))
    try:
        sm.create_secret(Name=manager, SecretString=json.dumps({"application_key": "app-key-7f3a9c"}))
        sm.create_secret(Name=name)
        sm.rotate_secret(SecretId=name, RotationRules={"AutomaticallyAfterDays": 90}, RotateImmediately=False)
        first = {"api_key": "first-key-7f3a9c", "api_key_id": "key-id-0", "site": "ap2.datadoghq.com"}
        sm.put_secret_value(SecretId=name, SecretString=json.dumps(first))

        def handler(event, context):
            protocol.rotate(event, DatadogApiKey(sm, manager, api_url=datadog.url), sm)

        caplog.set_level("INFO", logger="secret_rotation")
        rotate(handler, name, "55555555-2222-4333-8444-555555555555")
        second = stage_values(sm, name)["AWSCURRENT"]
        assert second["api_key_id"] != "key-id-0" and second["site"] == "ap2.datadoghq.com"
        # Firehose may still hold the first key for up to 10 minutes: it stays valid until the next rotation.
        assert set(datadog.keys) == {"key-id-0", second["api_key_id"]}
        rotate(handler, name, "66666666-2222-4333-8444-555555555555")
        third = stage_values(sm, name)["AWSCURRENT"]
        assert set(datadog.keys) == {second["api_key_id"], third["api_key_id"]}  # the first key is revoked now
        assert datadog.keys[third["api_key_id"]] == third["api_key"]
        assert datadog.calls.count("GET /api/v1/validate") == 2 and "DELETE /api/v2/api_keys/key-id-0" in datadog.calls
        for secret in ("first-key-7f3a9c", second["api_key"], third["api_key"], "app-key-7f3a9c"):
            assert secret not in caplog.text
    finally:
        datadog.close()


def test_the_datadog_rotation_sends_keys_only_to_datadog(aws):
    from functions.secret_rotation import protocol
    from functions.secret_rotation.datadog_api_key import DatadogApiKey

    rotation = protocol.Rotation(arn="arn", name="/bank/test/sd07/datadog-api-key", token="t")
    current = {"api_key": "k", "api_key_id": "i", "site": "datadoghq.example.com"}
    with pytest.raises(protocol.RotationError, match="`datadoghq.example.com` is not a Datadog site"):
        DatadogApiKey(aws["secretsmanager"], "unused").create(rotation, current)
