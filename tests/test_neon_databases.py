"""MOD-103 in the plans (Pulumi's mock runtime, the real __main__.py): the Neon project, its pooled compute and
the eight databases; 8 × 3 least-privilege roles with their grants and default privileges; generated passwords
only as secrets, stored in Secrets Manager under the domain keys; MOD-103 waiting only for MOD-104; the local
stack doing the same against a local PostgreSQL.

Expectations are written out here from the deployment sequence (step 0.2), DESIGN G4/G10/G14 and the issue's
words, and compared with both the plan and the privilege model (model/database_privileges.py).
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import sys

import pytest

from bankctl import plan_command
from bankctl.plan_graph import PlanGraph
from bankctl.recording import SECRET_SIG, SIG_KEY, PlanMocks
from functions.jit_db_access.handler import AdminConnection
from model.database_privileges import roles as model_roles
from model.stack_config import OFFLINE_STAND_IN
from tests.conftest import DATABASE_DOMAINS, PROJECT_DIR, offline_plan

MARKER = {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
COMPONENT = "bank:foundation:NeonDatabaseBootstrap"
NEON = "pulumi-python:dynamic/neon:"
# Point-in-time recovery window per environment (Pulumi.<stack>.yaml, bank:neon.historyRetentionSeconds).
HISTORY_RETENTION = {"dev": 86400, "uat": 259200, "prod": 604800}
# The issue: "the reporting role reads every current and future table and writes nothing; the service role reads
# and writes data but cannot alter schema; the migration role owns the schema". Each may connect to its own database.
ROLE_GRANTS = {
    "service": {
        ("database", None): ["CONNECT"],
        ("schema", "app"): ["USAGE"],
        ("table", "app"): ["DELETE", "INSERT", "SELECT", "UPDATE"],
        ("sequence", "app"): ["SELECT", "UPDATE", "USAGE"],
    },
    "reporting": {
        ("database", None): ["CONNECT"],
        ("schema", "app"): ["USAGE"],
        ("table", "app"): ["SELECT"],
        ("sequence", "app"): ["SELECT"],
    },
    "migration": {("database", None): ["CONNECT"]},
}
# PUBLIC (every role) keeps nothing on the database nor on schema public.
PUBLIC_GRANTS = {("database", None): [], ("schema", "public"): []}
FUTURE_GRANTS = {
    "service": {"table": ["DELETE", "INSERT", "SELECT", "UPDATE"], "sequence": ["SELECT", "UPDATE", "USAGE"]},
    "reporting": {"table": ["SELECT"], "sequence": ["SELECT"]},
}
WRITES = {"INSERT", "UPDATE", "DELETE", "TRUNCATE"}
SCHEMA_CHANGES = {"CREATE", "TRUNCATE", "REFERENCES", "TRIGGER", "ALL"}
STACKS = ("dev", "uat", "prod")


class Footprint:
    """MOD-103's resources in one plan, by type."""

    def __init__(self, document: dict):
        self.document = document
        self.all = {r["urn"]: r for r in document["deployment"]["resources"]}
        self.resources = [r for r in self.all.values() if r["urn"].split("::")[2].startswith(COMPONENT + "$")]

    def of(self, type_: str) -> list[dict]:
        return [r for r in self.resources if r["type"] == type_]

    def one(self, type_: str) -> dict:
        (found,) = self.of(type_)
        return found

    def provider_of(self, resource: dict) -> dict:
        return self.all[resource["provider"].rsplit("::", 1)[0]]

    def grants(self) -> dict[tuple[str, str], dict[tuple[str, str | None], list[str]]]:
        """(database, role) → {(object type, schema): privileges}, checking each uses its database's provider."""
        table: dict = {}
        for g in self.of("postgresql:index/grant:Grant"):
            i = g["inputs"]
            assert self.provider_of(g)["inputs"]["database"] == i["database"], g["urn"]
            assert not i.get("withGrantOption") and not i.get("objects") and not i.get("columns"), g["urn"]
            key = (i["objectType"], i.get("schema"))
            assert key not in table.setdefault((i["database"], i["role"]), {}), f"granted twice: {g['urn']}"
            table[(i["database"], i["role"])][key] = sorted(i["privileges"])
        return table

    def default_privileges(self) -> dict[tuple[str, str], dict[str, list[str]]]:
        table: dict = {}
        for d in self.of("postgresql:index/defaultPrivileges:DefaultPrivileges"):
            i = d["inputs"]
            assert self.provider_of(d)["inputs"]["database"] == i["database"], d["urn"]
            # For what the migration role (Flyway) creates in the application schema.
            assert (i["owner"], i["schema"]) == (f"{i['database']}_migration", "app"), d["urn"]
            table.setdefault((i["database"], i["role"]), {})[i["objectType"]] = sorted(i["privileges"])
        return table


def footprint(stack: str) -> Footprint:
    return Footprint(offline_plan(stack).document)


def stateful(resource: dict, stack: str) -> bool:
    keep = stack in ("uat", "prod")
    return bool(resource.get("protect")) == keep and bool(resource.get("retainOnDelete")) == keep


# --- Neon -----------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_one_neon_project_per_environment_in_sydney_with_its_recovery_window(stack):
    plan = footprint(stack)
    project = plan.one(NEON + "Project")
    assert project["inputs"] | {"apiKey": None} == {
        "__provider": project["inputs"]["__provider"],
        "apiKey": None,
        "name": f"bank-{stack}",
        "regionId": "aws-ap-southeast-2",
        "pgVersion": 16,
        "historyRetentionSeconds": HISTORY_RETENTION[stack],
        "branchName": "main",
        "branchProtected": stack in ("uat", "prod"),  # Pulumi.<stack>.yaml, bank:neon.protectBranch
        "adminRoleName": "bank_admin",
        "adminDatabaseName": "bank_admin",
    }
    # The API key is a secret input; the admin password a secret output; both stored only as secrets.
    assert project["inputs"]["apiKey"] == MARKER and project["outputs"]["apiKey"] == MARKER
    assert project["outputs"]["adminPassword"] == MARKER
    assert {"apiKey", "adminPassword"} <= set(project["additionalSecretOutputs"])
    assert stateful(project, stack)


@pytest.mark.parametrize("stack", STACKS)
def test_application_traffic_goes_through_pgbouncer_in_transaction_mode(stack):
    plan = footprint(stack)
    endpoint = plan.one(NEON + "Endpoint")
    project = plan.one(NEON + "Project")
    assert endpoint["inputs"]["type"] == "read_write"
    assert endpoint["inputs"]["poolerEnabled"] is True and endpoint["inputs"]["poolerMode"] == "transaction"
    assert endpoint["inputs"]["projectId"] == project["outputs"]["projectId"]
    assert endpoint["inputs"]["branchId"] == project["outputs"]["branchId"]
    assert endpoint["inputs"]["apiKey"] == MARKER
    assert endpoint["outputs"]["poolerHost"] == endpoint["outputs"]["host"].replace(".", "-pooler.", 1)


@pytest.mark.parametrize("stack", STACKS)
def test_the_eight_databases_exist_owned_by_the_admin_role_and_are_kept(stack):
    plan = footprint(stack)
    project = plan.one(NEON + "Project")
    databases = plan.of(NEON + "Database")
    assert sorted(d["inputs"]["name"] for d in databases) == sorted(DATABASE_DOMAINS)
    for database in databases:
        assert database["inputs"]["ownerName"] == "bank_admin"
        assert database["inputs"]["branchId"] == project["outputs"]["branchId"]
        assert database["inputs"]["apiKey"] == MARKER
        assert stateful(database, stack), database["urn"]


def test_databases_are_created_one_after_another():
    # Neon runs one operation per project at a time: each database waits for the one before (or the compute).
    plan = footprint("dev")
    endpoint = plan.one(NEON + "Endpoint")["urn"]
    chain = {d["urn"]: set(d.get("dependencies", [])) for d in plan.of(NEON + "Database")}
    previous = [endpoint]
    for _ in chain:
        (following,) = [u for u, deps in chain.items() if previous[-1] in deps]
        previous.append(following)
    assert len(set(previous)) == 9


# --- roles and grants -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", [*STACKS, "local"])
def test_each_database_has_three_login_roles_with_no_elevated_attribute(stack):
    plan = footprint(stack)
    roles = {r["inputs"]["name"]: r for r in plan.of("postgresql:index/role:Role")}
    if stack == "local":
        # The local stack's admin login for MOD-046's JIT access functions (on Neon, bank_admin comes from the API).
        admin = roles.pop("bank_admin")
        assert admin["inputs"]["login"] is True and admin["inputs"]["superuser"] is True
        assert admin["inputs"]["password"] == MARKER and admin["outputs"]["password"] == MARKER
    assert sorted(roles) == sorted(f"{db}_{kind}" for db in DATABASE_DOMAINS for kind in ROLE_GRANTS)
    for name, role in roles.items():
        i = role["inputs"]
        assert i["login"] is True, name
        assert not any(
            i[a] for a in ("superuser", "createRole", "createDatabase", "replication", "bypassRowLevelSecurity")
        )
        assert "roles" not in i, name  # a member of no other role (neon_superuser least of all)
        assert i["password"] == MARKER and role["outputs"]["password"] == MARKER
        assert plan.provider_of(role)["inputs"]["database"] == name.rsplit("_", 1)[0]


@pytest.mark.parametrize("stack", [*STACKS, "local"])
def test_grants_make_each_role_what_its_name_says(stack):
    grants = footprint(stack).grants()
    expected = {}
    for db in DATABASE_DOMAINS:
        expected[(db, "public")] = PUBLIC_GRANTS
        for kind, table in ROLE_GRANTS.items():
            expected[(db, f"{db}_{kind}")] = table
    assert grants == expected
    for (_db, role), table in grants.items():
        privileges = {p for ps in table.values() for p in ps}
        assert not privileges & SCHEMA_CHANGES, role  # nobody but the owner creates, alters or drops
        if role.endswith("_reporting"):
            assert not privileges & WRITES, role


@pytest.mark.parametrize("stack", [*STACKS, "local"])
def test_future_tables_and_sequences_get_the_same_privileges(stack):
    assert footprint(stack).default_privileges() == {
        (db, f"{db}_{kind}"): table for db in DATABASE_DOMAINS for kind, table in FUTURE_GRANTS.items()
    }


@pytest.mark.parametrize("stack", [*STACKS, "local"])
def test_the_migration_role_owns_the_application_schema(stack):
    plan = footprint(stack)
    schemas = plan.of("postgresql:index/schema:Schema")
    assert sorted((s["inputs"]["database"], s["inputs"]["name"], s["inputs"]["owner"]) for s in schemas) == sorted(
        (db, "app", f"{db}_migration") for db in DATABASE_DOMAINS
    )
    for schema in schemas:
        assert schema["inputs"]["dropCascade"] is False
        assert stateful(schema, stack)


def test_the_plan_grants_exactly_the_privilege_model():
    # The footprint is the model's one statement put into SQL resources: same roles, same privileges.
    plan = footprint("dev")
    grants, future = plan.grants(), plan.default_privileges()
    for db in DATABASE_DOMAINS:
        for role in model_roles(db):
            table = grants[(db, role.name)]
            if role.owns_schema:
                assert set(table) == {("database", None)}
                assert (db, role.name) not in future
                continue
            assert table[("schema", "app")] == sorted(role.schema_privileges)
            assert table[("table", "app")] == sorted(role.table_privileges)
            assert table[("sequence", "app")] == sorted(role.sequence_privileges)
            assert future[(db, role.name)] == {
                "table": sorted(role.table_privileges),
                "sequence": sorted(role.sequence_privileges),
            }


@pytest.mark.parametrize("stack", STACKS)
def test_roles_are_managed_over_the_direct_endpoint_as_the_admin_role(stack):
    plan = footprint(stack)
    endpoint = plan.one(NEON + "Endpoint")["outputs"]
    providers = [r for r in plan.resources if r["type"] == "pulumi:providers:postgresql"]
    assert sorted(p["inputs"]["database"] for p in providers) == sorted(DATABASE_DOMAINS)
    for provider in providers:
        i = provider["inputs"]
        assert i["host"] == endpoint["host"] and "-pooler" not in i["host"]
        assert (i["port"], i["sslmode"], i["username"], i["superuser"]) == ("5432", "require", "bank_admin", "false")
        assert i["password"] == MARKER and i["connectTimeout"] == "30"


# --- passwords and secrets ------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_each_role_has_a_generated_password_stored_in_its_domain_secret(stack):
    plan = footprint(stack)
    keys = {
        a["inputs"]["name"]: a["inputs"]["targetKeyId"]
        for a in plan.all.values()
        if a["type"] == "aws:kms/alias:Alias" and "AwsBootstrap$" in a["urn"]
    }
    secrets = {s["inputs"]["name"]: s for s in plan.of("aws:secretsmanager/secret:Secret")}
    assert sorted(secrets) == sorted(
        [f"/bank/{stack}/{domain}/db-{kind}" for domain in DATABASE_DOMAINS.values() for kind in ROLE_GRANTS]
        + [f"/bank/{stack}/sd07/db-admin"]
    )
    versions = {v["inputs"]["secretId"]: v for v in plan.of("aws:secretsmanager/secretVersion:SecretVersion")}
    # The admin login, for MOD-046's JIT access functions: under the SD07 platform key, its value only a secret.
    admin = secrets.pop(f"/bank/{stack}/sd07/db-admin")
    assert admin["inputs"]["kmsKeyId"].endswith(f":key/{keys[f'alias/bank-{stack}-sd07']}")
    assert admin["inputs"]["recoveryWindowInDays"] == 30 and stateful(admin, stack)
    assert versions[admin["id"]]["inputs"]["secretString"] == MARKER
    passwords = {p["urn"]: p for p in plan.of("random:index/randomPassword:RandomPassword")}
    assert len(passwords) == 24
    for name, secret in secrets.items():
        domain = name.split("/")[3]
        assert secret["inputs"]["kmsKeyId"].endswith(f":key/{keys[f'alias/bank-{stack}-{domain}']}"), name
        assert secret["inputs"]["recoveryWindowInDays"] == 30
        assert secret["inputs"]["tags"]["bank:module-id"] == "MOD-103"
        assert stateful(secret, stack), name
        version = versions[secret["id"]]
        assert version["inputs"]["secretString"] == MARKER and version["outputs"]["secretString"] == MARKER
        (password,) = [passwords[d] for d in version["dependencies"] if d in passwords]
        role = secret["urn"].rsplit("::", 1)[1].removesuffix("-secret")
        assert password["urn"].rsplit("::", 1)[1] == f"{role}-password", name  # this role's own password
    for password in passwords.values():
        assert password["inputs"]["length"] >= 32 and password["inputs"]["special"] is False
        assert password["outputs"]["result"] == MARKER and "result" not in password["inputs"]
    # The mock's stand-in passwords never reach the plan in clear.
    assert "OfflinePlan" not in json.dumps(plan.resources)


@pytest.fixture(scope="module")
def secret_values():
    """The dev program once more, with mocks that keep what the plan only shows as `[secret]`: each role's generated
    password, the password its Role gets, and the JSON its secret holds."""
    seen: dict[str, dict] = {"password": {}, "role": {}, "secret": {}}

    def plaintext(value):
        return value["value"] if isinstance(value, dict) and value.get(SIG_KEY) == SECRET_SIG else value

    class Capturing(PlanMocks):
        def new_resource(self, args):
            created = super().new_resource(args)
            name = args.name.removeprefix("neon-database-bootstrap-")
            if args.typ == "random:index/randomPassword:RandomPassword":
                seen["password"][name.removesuffix("-password")] = plaintext(created[1]["result"])
            elif args.typ == NEON + "Project":
                seen["password"]["admin"] = plaintext(created[1]["adminPassword"])
            elif args.typ == "postgresql:index/role:Role":
                seen["role"][args.inputs["name"]] = plaintext(args.inputs["password"])
            elif args.typ == "aws:secretsmanager/secretVersion:SecretVersion" and name != args.name:
                seen["secret"][name.removesuffix("-secret-value")] = json.loads(plaintext(args.inputs["secretString"]))
            return created

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(plan_command, "PlanMocks", Capturing)
        plan = plan_command.plan_stack("dev")
    return seen, Footprint(plan.document)


def test_each_secret_holds_its_roles_login_through_the_endpoint_its_role_should_use(secret_values):
    seen, plan = secret_values
    endpoint = plan.one(NEON + "Endpoint")["outputs"]
    # The admin login for MOD-046's JIT access functions, in the form their handler reads: the direct endpoint
    # (role management never goes through PgBouncer), the admin role and its own database.
    admin = seen["secret"].pop("admin")
    assert admin == {
        "host": endpoint["host"],
        "port": 5432,
        "database": "bank_admin",
        "username": "bank_admin",
        "password": seen["password"].pop("admin"),
    }
    assert AdminConnection.from_secret(json.dumps(admin)) == AdminConnection(
        endpoint["host"], 5432, "bank_admin", "bank_admin", admin["password"]
    )
    assert sorted(seen["secret"]) == sorted(f"{db}_{kind}" for db in DATABASE_DOMAINS for kind in ROLE_GRANTS)
    for role, login in seen["secret"].items():
        database, kind = role.rsplit("_", 1)
        pooled = kind != "migration"  # applications through PgBouncer; Flyway directly
        assert login == {
            "host": endpoint["poolerHost"] if pooled else endpoint["host"],
            "port": 5432,
            "database": database,
            "username": role,
            "password": seen["password"][role],
            "pooled": pooled,
            "sslmode": "require",
        }, role
        assert seen["role"][role] == seen["password"][role]  # the password the role really has
    assert len(set(seen["password"].values())) == 24  # one password per role, none shared


def test_the_api_key_reaches_neon_resources_only_as_a_secret_and_never_a_provider():
    # Offline, bank:neonApiKey is stood in by OFFLINE_STAND_IN, marked secret as the engine marks the real key:
    # it must appear nowhere in clear, and never inside a pickled provider.
    plan = offline_plan("dev")
    leaked = [r["urn"] for r in plan.document["deployment"]["resources"] if OFFLINE_STAND_IN in json.dumps(r)]
    assert leaked == [] and OFFLINE_STAND_IN not in plan.text
    resources = [r for r in plan.document["deployment"]["resources"] if r["type"].startswith(NEON)]
    assert len(resources) == 10
    for resource in resources:
        assert resource["inputs"]["apiKey"] == MARKER and resource["outputs"]["apiKey"] == MARKER
        assert OFFLINE_STAND_IN.encode() not in base64.b64decode(resource["inputs"]["__provider"])
        assert resource["outputs"]["__provider"] == resource["inputs"]["__provider"]


def test_the_serialised_providers_are_the_same_in_any_checkout(tmp_path):
    # A dynamic provider is pickled into every resource's inputs: the same commit planned in another folder must give
    # the same bytes (no file path, no closure, nothing of the machine).
    copy = tmp_path / "elsewhere" / "bank"
    shutil.copytree(
        PROJECT_DIR, copy, ignore=shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", ".hypothesis")
    )
    out = tmp_path / "plan.json"
    result = subprocess.run(
        [sys.executable, "-m", "bankctl", "plan", "dev", "--out", str(out)],
        cwd=copy,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    here, there = footprint("dev"), Footprint(json.loads(out.read_text()))
    assert here.resources == there.resources
    providers = {r["inputs"]["__provider"] for r in here.resources if r["type"].startswith(NEON)}
    assert len(providers) == 3  # one per provider class, each a few dozen characters
    assert all(len(p) < 100 and str(copy).encode() not in base64.b64decode(p) for p in providers)


# --- order and the local stack --------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_mod_103_waits_for_mod_104_only(stack):
    graph = PlanGraph(offline_plan(stack).document)
    mod_103 = graph.module("neon-database-bootstrap")
    assert graph.waits_for(mod_103, graph.module("aws-bootstrap"))
    # Step 0.2 runs beside MOD-102; step 0.3 (MOD-045, MOD-076) needs only MOD-104 and runs beside it too.
    for beside in ("snowflake-configuration", "secrets-key-management", "observability-platform"):
        assert not graph.touches(mod_103, graph.module(beside)), beside
        assert not graph.touches(graph.module(beside), mod_103), beside


def test_the_local_stack_uses_a_local_postgresql_instead_of_neon():
    plan = footprint("local")
    assert not [r for r in plan.resources if r["type"].startswith(NEON)]
    databases = plan.of("postgresql:index/database:Database")
    assert sorted(d["inputs"]["name"] for d in databases) == sorted(DATABASE_DOMAINS)
    server = plan.provider_of(databases[0])
    assert all(plan.provider_of(d) == server for d in databases)
    assert {k: server["inputs"][k] for k in ("host", "port", "sslmode", "database")} == {
        "host": "localhost",
        "port": "5432",
        "sslmode": "disable",
        "database": "postgres",
    }
    assert "password" not in server["inputs"]  # a developer's PGPASSWORD, never the stack's
    # The same roles and grants as on Neon.
    assert plan.grants() == footprint("dev").grants()
    assert plan.default_privileges() == footprint("dev").default_privileges()
