"""MOD-046's access functions as the plans deploy them, their layer pin, and the admin login MOD-103 stores for them.

Expectations are written out here (names, handlers, the handler's environment as its docstring lists it) or taken
from other modules' resources in the plan (MOD-103's admin secret, MOD-104's key, boundary and artifacts bucket),
never from the code under test.
"""

from __future__ import annotations

import base64
import fnmatch
import hashlib
import importlib.util
import io
import json
import shutil
import sys
import zipfile
from functools import cache
from pathlib import Path

import pytest
import yaml

from tests.conftest import PROJECT_DIR, offline_plan

ACCOUNTS = {"dev": "381492650173", "prod": "647215093382"}
REGION = "ap-southeast-2"
MODULE = "dba-access-control"
FUNCTION = "aws:lambda/function:Function"
ROLE = "aws:iam/role:Role"
ROLE_POLICY = "aws:iam/rolePolicy:RolePolicy"
# The three functions and their handlers (functions/jit_db_access/handler.py).
HANDLERS = {
    "bank-{env}-jit-db-access": "jit_db_access.handler.jit_access",
    "bank-{env}-break-glass-db-access": "jit_db_access.handler.break_glass_access",
    "bank-{env}-jit-db-access-expiry": "jit_db_access.handler.expire_handler",
}
# What each needs from its environment (the handler module's docstring): expiry only the admin login.
ENVIRONMENT_NAMES = {
    "bank-{env}-jit-db-access": {"ENVIRONMENT", "ADMIN_SECRET_ID", "AUDIT_LOG_GROUP"},
    "bank-{env}-break-glass-db-access": {"ENVIRONMENT", "ADMIN_SECRET_ID", "AUDIT_LOG_GROUP", "CRITICAL_TOPIC_ARN"},
    "bank-{env}-jit-db-access-expiry": {"ADMIN_SECRET_ID"},
}
RAW_RELEASES = {s: yaml.safe_load((PROJECT_DIR / "releases" / f"{s}.yaml").read_text()) for s in ("dev", "prod")}


@cache
def plan(stack: str) -> dict:
    return offline_plan(stack).document


def resources(stack: str) -> list[dict]:
    return plan(stack)["deployment"]["resources"]


def named(stack: str, name: str) -> dict:
    (found,) = [r for r in resources(stack) if r["urn"].rsplit("::", 1)[1] == name]
    return found


def own(stack: str, type_: str) -> list[dict]:
    return [r for r in resources(stack) if r["type"] == type_ and r["urn"].rsplit("::", 1)[1].startswith(MODULE + "-")]


def functions(stack: str) -> dict[str, dict]:
    return {f["inputs"]["name"]: f for f in own(stack, FUNCTION)}


def role_of(stack: str, function: dict) -> dict:
    (role,) = [r for r in own(stack, ROLE) if r["outputs"]["arn"] == function["inputs"]["role"]]
    return role


def inline_policy(stack: str, role: dict) -> list[dict]:
    (policy,) = [p for p in own(stack, ROLE_POLICY) if p["inputs"]["role"] == role["id"]]
    return json.loads(policy["inputs"]["policy"])["Statement"]


def admin_secret_arn(stack: str) -> str:
    (secret,) = [
        r
        for r in resources(stack)
        if r["type"] == "aws:secretsmanager/secret:Secret" and r["inputs"]["name"] == f"/bank/{stack}/sd07/db-admin"
    ]
    return secret["outputs"]["arn"]


def sd07_key_arn(stack: str) -> str:
    return named(stack, "aws-bootstrap-sd07-key")["outputs"]["arn"]


def log_group_arn(stack: str, name: str) -> str:
    (group,) = [
        r for r in resources(stack) if r["type"] == "aws:cloudwatch/logGroup:LogGroup" and r["inputs"]["name"] == name
    ]
    return group["outputs"]["arn"]


def critical_topic(stack: str) -> str:
    return f"arn:aws:sns:{REGION}:{ACCOUNTS[stack]}:bank-{stack}-alerts-critical"


# --- the functions -------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_three_functions_run_this_repositorys_handlers_with_the_layer(stack):
    found = functions(stack)
    assert sorted(found) == sorted(n.format(env=stack) for n in HANDLERS)
    (layer,) = own(stack, "aws:lambda/layerVersion:LayerVersion")
    code_dir = PROJECT_DIR / "functions" / "jit_db_access"
    for template, handler in HANDLERS.items():
        inputs = found[template.format(env=stack)]["inputs"]
        assert inputs["handler"] == handler
        assert (inputs["runtime"], inputs["architectures"]) == ("python3.13", ["arm64"])
        assert inputs["layers"] == [layer["outputs"]["arn"]]
        assert inputs["tracingConfig"] == {"mode": "Active"}
        assets = inputs["code"]["assets"]
        assert sorted(assets) == ["jit_db_access/__init__.py", "jit_db_access/handler.py"]
        for path, asset in assets.items():
            assert asset["text"] == (code_dir / path.split("/")[1]).read_text()
    assert layer["inputs"]["compatibleRuntimes"] == ["python3.13"]
    assert layer["inputs"]["compatibleArchitectures"] == ["arm64"]


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_layer_is_the_pinned_build_in_the_artifacts_bucket(stack):
    pin = RAW_RELEASES[stack]["layers"]["jit-db-access"]
    (layer,) = own(stack, "aws:lambda/layerVersion:LayerVersion")
    artifacts = named(stack, "aws-bootstrap-artifacts-bucket")["outputs"]["bucket"]
    assert artifacts == f"bank-{stack}-artifacts-{ACCOUNTS[stack]}"
    assert layer["inputs"]["s3Bucket"] == artifacts
    assert layer["inputs"]["s3Key"] == pin["artifact"]
    # Lambda's form of a digest: base64 of the raw SHA-256 (pulumi-aws LayerVersion.source_code_hash).
    assert layer["inputs"]["sourceCodeHash"] == base64.b64encode(bytes.fromhex(pin["sha256"])).decode()
    assert "code" not in layer["inputs"]  # nothing from the deploying machine's disk


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_function_runs_as_its_own_lambda_only_role_under_the_boundary(stack):
    boundary = named(stack, "aws-bootstrap-platform-boundary")["outputs"]["arn"]
    roles = set()
    for name, function in functions(stack).items():
        role = role_of(stack, function)
        roles.add(role["urn"])
        assert role["inputs"]["permissionsBoundary"] == boundary, name
        assert json.loads(role["inputs"]["assumeRolePolicy"])["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"aws:SourceAccount": ACCOUNTS[stack]}},
            }
        ], name
        assert not role["inputs"].get("managedPolicyArns"), name
        # The function waits for its role's policy: Lambda assumes the role when the function is created.
        (policy,) = [p for p in own(stack, ROLE_POLICY) if p["inputs"]["role"] == role["id"]]
        assert policy["urn"] in function["dependencies"], name
    assert len(roles) == 3


@pytest.mark.parametrize("kind", ["jit", "break-glass"])
def test_the_dba_roles_carry_the_boundary_too(kind):
    boundary = named("dev", "aws-bootstrap-platform-boundary")["outputs"]["arn"]
    assert named("dev", f"{MODULE}-{kind}-role")["inputs"]["permissionsBoundary"] == boundary


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_function_may_do_exactly_what_it_does(stack):
    secret = admin_secret_arn(stack)
    key = sd07_key_arn(stack)
    sessions = log_group_arn(stack, f"/bank/{stack}/dba/sessions")
    for name, function in functions(stack).items():
        statements = {s["Sid"]: s for s in inline_policy(stack, role_of(stack, function))}
        own_logs = log_group_arn(stack, function["inputs"]["loggingConfig"]["logGroup"])
        expected = {
            "ReadTheAdminLogin": {"Action": "secretsmanager:GetSecretValue", "Resource": secret},
            "DecryptTheAdminLoginThroughSecretsManager": {
                "Action": "kms:Decrypt",
                "Resource": key,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{REGION}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": secret,
                    }
                },
            },
            "WriteItsOwnLog": {"Action": ["logs:CreateLogStream", "logs:PutLogEvents"], "Resource": own_logs + ":*"},
            # X-Ray's write actions have no resource-level permissions: "*" is the only resource they accept.
            "SendTraces": {"Action": ["xray:PutTelemetryRecords", "xray:PutTraceSegments"], "Resource": "*"},
        }
        if not name.endswith("-expiry"):  # only grants are recorded; expiry reads the admin login only
            expected["RecordGrantsInTheSessionAuditLog"] = {
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": sessions + ":*",
            }
        if "break-glass" in name:
            expected["PageTheCriticalTopic"] = {"Action": "sns:Publish", "Resource": critical_topic(stack)}
            expected["EncryptPagesThroughSns"] = {
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"sns.{REGION}.amazonaws.com",
                        "kms:EncryptionContext:aws:sns:topicArn": critical_topic(stack),
                    }
                },
            }
        assert {sid: {k: v for k, v in s.items() if k not in ("Sid", "Effect")} for sid, s in statements.items()} == (
            expected
        ), name
        assert {s["Effect"] for s in statements.values()} == {"Allow"}
        wildcards = [sid for sid, s in statements.items() if "*" in json.dumps(s["Resource"]).replace(":*", "")]
        assert wildcards == ["SendTraces"], name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_environment_names_things_and_holds_no_secret(stack):
    secret = admin_secret_arn(stack)
    for template, names in ENVIRONMENT_NAMES.items():
        function = functions(stack)[template.format(env=stack)]
        variables = function["inputs"]["environment"]["variables"]
        assert set(variables) == names, template
        assert variables["ADMIN_SECRET_ID"] == secret  # where the login is, not the login
        expected = {
            "ENVIRONMENT": stack,
            "AUDIT_LOG_GROUP": f"/bank/{stack}/dba/sessions",
            "CRITICAL_TOPIC_ARN": critical_topic(stack),
        }
        assert {k: v for k, v in variables.items() if k != "ADMIN_SECRET_ID"} == {
            k: v for k, v in expected.items() if k in names
        }
        # No Pulumi secret anywhere in the function: its inputs hold names only.
        assert "ciphertext" not in json.dumps(function), template


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_each_function_logs_to_its_own_encrypted_group(stack):
    config = yaml.safe_load((PROJECT_DIR / f"Pulumi.{stack}.yaml").read_text())["config"]
    for name, function in functions(stack).items():
        logging = function["inputs"]["loggingConfig"]
        assert logging == {
            "logFormat": "JSON",
            "logGroup": f"/bank/{stack}/{MODULE}/{name.removeprefix(f'bank-{stack}-')}",
        }
        (group,) = [
            g for g in own(stack, "aws:cloudwatch/logGroup:LogGroup") if g["inputs"]["name"] == logging["logGroup"]
        ]
        assert group["inputs"]["kmsKeyId"] == sd07_key_arn(stack)
        assert group["inputs"]["retentionInDays"] == config["bank:retention"]["logRetentionDays"]
        kept = stack == "prod"
        assert bool(group.get("protect")) is kept and bool(group.get("retainOnDelete")) is kept


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_expiry_runs_every_five_minutes_and_only_its_rule_may_invoke_it(stack):
    expiry = functions(stack)[f"bank-{stack}-jit-db-access-expiry"]
    (rule,) = [r for r in own(stack, "aws:cloudwatch/eventRule:EventRule") if "scheduleExpression" in r["inputs"]]
    assert rule["inputs"]["scheduleExpression"] == "rate(5 minutes)"
    assert rule["inputs"].get("state", "ENABLED") == "ENABLED"
    (target,) = [t for t in own(stack, "aws:cloudwatch/eventTarget:EventTarget") if t["inputs"]["rule"] == rule["id"]]
    assert target["inputs"]["arn"] == expiry["outputs"]["arn"]
    (permission,) = own(stack, "aws:lambda/permission:Permission")
    assert permission["inputs"]["function"] == expiry["inputs"]["name"]
    assert permission["inputs"]["action"] == "lambda:InvokeFunction"
    assert permission["inputs"]["principal"] == "events.amazonaws.com"
    assert permission["inputs"]["sourceArn"] == rule["outputs"]["arn"]
    assert permission["urn"] in target["dependencies"]  # the rule fires only once it may invoke


# --- what MOD-104's boundary lets the roles do ------------------------------------------------------------------------
def boundary_statements(stack: str) -> list[dict]:
    return json.loads(named(stack, "aws-bootstrap-platform-boundary")["inputs"]["policy"])["Statement"]


def listed(value) -> list:
    return value if isinstance(value, list) else [value]


def refused_by_boundary(stack: str, statements: list[dict]) -> list[tuple[str, str]]:
    """Each (action, resource) an Allow grants that the boundary does not allow, or that an unconditional Deny of it
    refuses. (Its one conditional Deny refuses other regions; every ARN here is in the stack's region.)"""

    def matches(patterns, value: str, *, action: bool) -> bool:
        if action:  # IAM actions are case-insensitive
            return any(fnmatch.fnmatchcase(value.lower(), p.lower()) for p in listed(patterns))
        return any(fnmatch.fnmatchcase(value, p) for p in listed(patterns))

    boundary = boundary_statements(stack)
    refused = []
    for statement in statements:
        for action in listed(statement["Action"]):
            for resource in listed(statement["Resource"]):
                allowed = any(
                    b["Effect"] == "Allow"
                    and matches(b["Action"], action, action=True)
                    and matches(b["Resource"], resource, action=False)
                    for b in boundary
                )
                denied = any(
                    b["Effect"] == "Deny"
                    and "Condition" not in b
                    and matches(b["Action"], action, action=True)
                    and matches(b["Resource"], resource, action=False)
                    for b in boundary
                )
                if not allowed or denied:
                    refused.append((action, resource))
    return refused


def test_the_boundary_check_itself_refuses_what_the_boundary_does_not_allow():
    assert refused_by_boundary("dev", [{"Action": "iam:PassRole", "Resource": "*"}]) == [("iam:PassRole", "*")]
    elsewhere = f"arn:aws:logs:{REGION}:{ACCOUNTS['dev']}:log-group:/aws/lambda/x:*"
    assert refused_by_boundary("dev", [{"Action": "logs:PutLogEvents", "Resource": elsewhere}])


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_boundary_allows_what_the_jit_and_expiry_functions_do(stack):
    for name in (f"bank-{stack}-jit-db-access", f"bank-{stack}-jit-db-access-expiry"):
        statements = inline_policy(stack, role_of(stack, functions(stack)[name]))
        assert refused_by_boundary(stack, statements) == [], name


@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_the_boundary_allows_paging_and_invoking_the_access_functions(stack):
    statements = inline_policy(stack, role_of(stack, functions(stack)[f"bank-{stack}-break-glass-db-access"]))
    for kind in ("jit", "break-glass"):
        statements += inline_policy(stack, named(stack, f"{MODULE}-{kind}-role"))
    assert refused_by_boundary(stack, statements) == []


# --- the admin login MOD-103 stores for them --------------------------------------------------------------------------
@pytest.mark.parametrize("stack", ["dev", "prod"])
def test_mod_103_stores_the_admin_login_under_the_platform_key(stack):
    (secret,) = [
        r
        for r in resources(stack)
        if r["type"] == "aws:secretsmanager/secret:Secret" and r["inputs"]["name"] == f"/bank/{stack}/sd07/db-admin"
    ]
    assert secret["inputs"]["tags"]["bank:module-id"] == "MOD-103"
    assert secret["inputs"]["kmsKeyId"] == sd07_key_arn(stack)
    (version,) = [
        v
        for v in resources(stack)
        if v["type"] == "aws:secretsmanager/secretVersion:SecretVersion" and v["inputs"]["secretId"] == secret["id"]
    ]
    marker = {"4dabf18193072939515e22adb298388d": "1b47061264138c4ac30d75fd1eb44270", "ciphertext": "[secret]"}
    assert version["inputs"]["secretString"] == marker and version["outputs"]["secretString"] == marker


@pytest.fixture(scope="module")
def local_admin_login():
    """The local stack's admin secret as MOD-103 writes it, caught where the mocks receive it (the plan holds only
    `[secret]`); tests/test_neon_databases.py does the same for Neon's."""
    from bankctl import plan_command
    from bankctl.recording import SECRET_SIG, SIG_KEY, PlanMocks

    caught: dict[str, object] = {}

    class Catching(PlanMocks):
        def new_resource(self, args):
            created = super().new_resource(args)
            if args.name == "neon-database-bootstrap-admin-secret-value":
                caught["login"] = args.inputs["secretString"]
            elif args.name == "neon-database-bootstrap-local-admin-password":
                caught["password"] = created[1]["result"]
            return created

    def plaintext(value):
        return value["value"] if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG else value

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_command, "PlanMocks", Catching)
        planned = plan_command.plan_stack("local").document["deployment"]["resources"]
    return plaintext(caught["login"]), plaintext(caught["password"]), planned


def test_the_local_functions_read_the_local_admin_login(local_admin_login):
    from functions.jit_db_access.handler import AdminConnection

    text, password, planned = local_admin_login
    config = yaml.safe_load((PROJECT_DIR / "Pulumi.local.yaml").read_text())["config"]
    host = config["bank:local"].get("postgresHost", "localhost")  # the documented default
    assert sorted(json.loads(text)) == ["database", "host", "password", "port", "username"]
    # As the handler parses it: the local server, as the role MOD-103 creates there with its generated password.
    assert AdminConnection.from_secret(text) == AdminConnection(host, 5432, "postgres", "bank_admin", password)
    (role,) = [r for r in planned if r["urn"].endswith("::neon-database-bootstrap-local-admin-role")]
    assert role["inputs"]["name"] == "bank_admin" and role["inputs"]["login"] is True
    assert password not in json.dumps(planned)  # only ever a Pulumi secret


# --- the layer pin -----------------------------------------------------------------------------------------------------
GOOD_SHA256 = hashlib.sha256(b"a layer").hexdigest()


def layer_pin(sha256: str = GOOD_SHA256, artifact: str | None = None):
    from model.releases import LayerPin

    return LayerPin(artifact=artifact or f"layers/jit-db-access/{sha256}.zip", sha256=sha256)


def test_a_good_pin_passes():
    from model.releases import layer_problems

    assert layer_problems({"jit-db-access": layer_pin()}) == []


def test_a_missing_pin_says_how_to_make_one():
    from model.releases import layer_problems

    assert layer_problems({}) == [
        "layers.jit-db-access: no pin, but MOD-046's just-in-time database access functions (psycopg, certifi) need "
        "it; build it with `.venv/bin/python functions/build_layers.py jit-db-access` and pin the artifact key and "
        "sha256 it prints"
    ]


@pytest.mark.parametrize("sha256", ["abc", GOOD_SHA256.upper(), GOOD_SHA256[:-1], "latest", "0" * 63 + "g"])
def test_a_pin_that_is_not_a_sha256_is_refused(sha256):
    from model.releases import layer_problems

    assert layer_problems({"jit-db-access": layer_pin(sha256, f"layers/jit-db-access/{GOOD_SHA256}.zip")}) == [
        f"layers.jit-db-access.sha256: `{sha256}` is not a SHA-256 digest (64 lower-case hex characters, as "
        "`.venv/bin/python functions/build_layers.py jit-db-access` prints it)"
    ]


@pytest.mark.parametrize("artifact", ["layers/jit-db-access/latest.zip", f"layers/../{GOOD_SHA256}.zip"])
def test_an_artifact_that_is_not_the_pinned_build_is_refused(artifact):
    from model.releases import layer_problems

    assert layer_problems({"jit-db-access": layer_pin(artifact=artifact)}) == [
        f"layers.jit-db-access.artifact: `{artifact}` is not the build {GOOD_SHA256[:12]}: the key names the zip by "
        "its content, layers/jit-db-access/<sha256>.zip"
    ]


def test_a_pin_for_a_layer_nothing_uses_is_refused():
    from model.releases import layer_problems

    assert layer_problems({"jit-db-access": layer_pin(), "pandas": layer_pin()}) == [
        "layers.pandas: no function of this repository uses a layer `pandas` (known: jit-db-access); remove the pin"
    ]


def test_a_bad_pin_stops_the_stack_with_the_file_key_and_fix(tmp_path):
    from model.errors import ConfigurationError
    from model.platform import load_stack_platform

    shutil.copy(PROJECT_DIR / "Pulumi.dev.yaml", tmp_path / "Pulumi.dev.yaml")
    shutil.copytree(PROJECT_DIR / "releases", tmp_path / "releases")
    manifest = tmp_path / "releases" / "dev.yaml"
    sha256 = RAW_RELEASES["dev"]["layers"]["jit-db-access"]["sha256"]
    manifest.write_text(manifest.read_text().replace(f"sha256: {sha256}", f"sha256: {sha256[:12]}"))  # cut short
    with pytest.raises(ConfigurationError) as caught:
        load_stack_platform(tmp_path, "dev")
    text = str(caught.value)
    assert "releases/dev.yaml has 1 problem(s)" in text
    assert f"layers.jit-db-access.sha256: `{sha256[:12]}` is not a SHA-256 digest" in text
    assert "Fix: build the layer with `.venv/bin/python functions/build_layers.py <layer>`" in text


def test_every_stack_pins_the_same_layer_build():
    stacks = ("local", "dev", "uat", "prod")
    pins = {s: yaml.safe_load((PROJECT_DIR / "releases" / f"{s}.yaml").read_text())["layers"] for s in stacks}
    assert all(p == pins["dev"] for p in pins.values())


# --- the layer build ---------------------------------------------------------------------------------------------------
def function_layers():
    spec = importlib.util.spec_from_file_location("function_layers", PROJECT_DIR / "functions" / "build_layers.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is made
    spec.loader.exec_module(module)
    return module


def fake_wheel(path: Path, files: dict[str, tuple[bytes, int]], when: tuple) -> Path:
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as wheel:
        for name, (data, mode) in files.items():
            info = zipfile.ZipInfo(name, date_time=when)
            info.external_attr = (0o100000 | mode) << 16
            wheel.writestr(info, data)
    return path


def test_the_layer_zip_is_the_same_bytes_whatever_the_wheels_times_and_order(tmp_path):
    build = function_layers()
    files = {"pkg/__init__.py": (b"x = 1\n", 0o644), "pkg.libs/libpq.so.5": (b"\x7fELF", 0o755)}
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    first = fake_wheel(tmp_path / "a" / "pkg.whl", files, (2026, 11, 12, 2, 6, 0))
    second = fake_wheel(tmp_path / "b" / "pkg.whl", dict(reversed(list(files.items()))), (2031, 1, 2, 3, 4, 5))
    other = fake_wheel(tmp_path / "other.whl", {"certifi/cacert.pem": (b"roots", 0o600)}, (2020, 5, 5, 5, 5, 5))
    layer = build.layer_zip([first, other])
    assert layer == build.layer_zip([second, other])
    with zipfile.ZipFile(io.BytesIO(layer)) as z:
        entries = {i.filename: i for i in z.infolist()}
    assert (
        list(entries)
        == sorted(entries)
        == ["python/certifi/cacert.pem", "python/pkg.libs/libpq.so.5", "python/pkg/__init__.py"]
    )
    for info in entries.values():
        assert info.date_time == (1980, 1, 1, 0, 0, 0) and info.compress_type == zipfile.ZIP_STORED
    modes = {n: (i.external_attr >> 16) & 0o777 for n, i in entries.items()}
    assert modes == {
        "python/certifi/cacert.pem": 0o644,
        "python/pkg.libs/libpq.so.5": 0o755,
        "python/pkg/__init__.py": 0o644,
    }


def test_the_layer_holds_the_versions_the_repository_pins():
    pinned = {
        line.split("==")[0].lower(): line.split("==")[1].strip()
        for line in (PROJECT_DIR / "constraints.txt").read_text().splitlines()
        if "==" in line and not line.startswith("#")
    }
    wheels = function_layers().LAYERS["jit-db-access"]
    assert {w.requirement.split("==")[0]: w.requirement.split("==")[1] for w in wheels} == {
        name: pinned[name] for name in ("psycopg", "psycopg-binary", "certifi")
    }
    assert all(len(w.sha256) == 64 for w in wheels)
