"""MOD-102 Snowflake configuration and the Kinesis → Snowflake pipeline, on the offline plans of the real program.

Every expectation is written out here (names, the grant matrix, sizes per stack), not read back from
foundation/snowflake_configuration.py: a wrong table in the code must fail these tests. The ordering of MOD-102
(it waits for MOD-104 only; no application module waits for it) is tested in tests/test_sequence_graph.py.
"""

from __future__ import annotations

import json
import re

import pytest

from bankctl.plan_command import plan_stack
from bankctl.recording import MOCKED_RESOURCES, SECRET_SIG, SIG_KEY, MockContext
from tests.conftest import offline_plan

STACKS = ("dev", "uat", "prod")
DOMAINS = tuple(f"SD0{n}" for n in range(1, 9))
MARKER = {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}
OWN = "bank:foundation:SnowflakeConfiguration$"

# Pulumi.<stack>.yaml: bank:analytics.snowflake.warehouseSize; autoSuspendSeconds is left at its default, 60 s.
WAREHOUSE = {"dev": ("XSMALL", 60), "uat": ("SMALL", 60), "prod": ("MEDIUM", 60)}
ACCOUNT_URL = {
    "dev": "https://totarabank-bankdev.snowflakecomputing.com",
    "uat": "https://totarabank-bankuat.snowflakecomputing.com",
    "prod": "https://totarabank-bankprod.snowflakecomputing.com",
}
RAW = tuple(f"RAW_{d}" for d in DOMAINS)
SCHEMAS = {*RAW, "STAGING", "MARTS", "AUDIT"}

# The grant matrix (the issue: "loader can write raw only, transformer reads raw and writes staging/marts, reporter
# reads marts only"): per schema, (schema privileges, privileges on every current and future table, … view).
LOAD = ({"USAGE"}, {"INSERT"}, set())
READ_RAW = ({"USAGE"}, {"SELECT"}, set())  # raw schemas hold only the EVENTS tables, never views
READ = ({"USAGE"}, {"SELECT"}, {"SELECT"})
WRITE = ({"USAGE", "CREATE TABLE", "CREATE VIEW"}, {"SELECT", "INSERT", "UPDATE", "DELETE", "TRUNCATE"}, {"SELECT"})
SCHEMA_MATRIX = {
    "LOADER": {s: LOAD for s in RAW},
    "TRANSFORMER": {**{s: READ_RAW for s in RAW}, "STAGING": WRITE, "MARTS": WRITE},
    "REPORTER": {"MARTS": READ},
}
# USAGE on account objects: the loader's Snowpipe Streaming needs no warehouse.
ACCOUNT_OBJECTS = {
    "LOADER": {"DATABASE"},
    "TRANSFORMER": {"DATABASE", "WAREHOUSE"},
    "REPORTER": {"DATABASE", "WAREHOUSE"},
}


# --- helpers ------------------------------------------------------------------------------------------------------------
def resources(doc) -> list[dict]:
    return doc["deployment"]["resources"]


def own(doc, type_: str | None = None) -> list[dict]:
    """MOD-102's own resources (children of its component), of one type if given."""
    return [r for r in resources(doc) if OWN in r["urn"] and (type_ is None or r["type"] == type_)]


def one(doc, type_: str) -> dict:
    (found,) = own(doc, type_)
    return found


def by_urn(doc) -> dict[str, dict]:
    return {r["urn"]: r for r in resources(doc)}


def bootstrap(doc, name: str) -> dict:
    """A MOD-104 resource by its logical name (its URN is permanent, so tests may name it)."""
    (found,) = [
        r for r in resources(doc) if "bank:foundation:AwsBootstrap" in r["urn"] and r["urn"].endswith(f"::{name}")
    ]
    return found


def prefix(stack: str) -> str:
    return f"BANK_{stack.upper()}"


def unquote(name: str) -> str:
    return name.split(".")[-1].strip('"')


def grant_matrix(doc, stack: str):
    """What the plan grants: role → schema → (schema, tables, views) privileges, and role → account objects."""
    schemas: dict[str, dict[str, tuple[set, set, set]]] = {}
    objects: dict[str, set[str]] = {}
    future: dict[tuple[str, str, str], set[str]] = {}
    database = f'"{prefix(stack)}_ANALYTICS"'
    for grant in own(doc, "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole"):
        i = grant["inputs"]
        assert not i.get("allPrivileges") and not i.get("withGrantOption") and not i.get("onAccount"), grant["urn"]
        role = i["accountRoleName"].removeprefix(prefix(stack) + "_")
        privileges = set(i["privileges"])
        if "onAccountObject" in i:
            target = i["onAccountObject"]
            assert privileges == {"USAGE"}, grant["urn"]
            expected_name = database if target["objectType"] == "DATABASE" else f'"{prefix(stack)}_ANALYTICS_WH"'
            assert target["objectName"] == expected_name, grant["urn"]
            objects.setdefault(role, set()).add(target["objectType"])
            continue
        if "onSchema" in i:
            (where,) = i["onSchema"].values()
            assert i["onSchema"].keys() == {"schemaName"} and where.startswith(database + "."), grant["urn"]
            schemas.setdefault(role, {}).setdefault(unquote(where), (set(), set(), set()))[0].update(privileges)
            continue
        scope_kind, scope = next(iter(i["onSchemaObject"].items()))
        assert scope_kind in ("all", "future") and scope["inSchema"].startswith(database + "."), grant["urn"]
        schema = unquote(scope["inSchema"])
        column = {"TABLES": 1, "VIEWS": 2}[scope["objectTypePlural"]]
        if scope_kind == "all":
            schemas.setdefault(role, {}).setdefault(schema, (set(), set(), set()))[column].update(privileges)
        else:
            future.setdefault((role, schema, scope["objectTypePlural"]), set()).update(privileges)
    # Every grant on current objects has its twin on future ones, so a table created tomorrow is covered too.
    current = {
        (role, schema, plural): privileges
        for role, by_schema in schemas.items()
        for schema, triple in by_schema.items()
        for plural, privileges in (("TABLES", triple[1]), ("VIEWS", triple[2]))
        if privileges
    }
    assert future == current
    return schemas, objects


def as_plain(matrix):
    return {role: {s: tuple(map(set, v)) for s, v in by_schema.items()} for role, by_schema in matrix.items()}


# --- the Snowflake objects ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_warehouse_size_and_auto_suspend_follow_the_stack(stack):
    doc = offline_plan(stack).document
    warehouse = one(doc, "snowflake:index/warehouse:Warehouse")
    size, suspend = WAREHOUSE[stack]
    assert warehouse["inputs"]["name"] == f"{prefix(stack)}_ANALYTICS_WH"
    assert (warehouse["inputs"]["warehouseSize"], warehouse["inputs"]["autoSuspend"]) == (size, suspend)
    assert warehouse["inputs"]["autoResume"] == "true" and warehouse["inputs"]["initiallySuspended"] is True
    # Compute only: replaceable in every stack (the brief: keep the warehouse replaceable).
    assert not warehouse.get("protect") and not warehouse.get("retainOnDelete")


@pytest.mark.parametrize("stack", STACKS)
def test_database_and_schemas_raw_per_domain_staging_marts_audit(stack):
    doc = offline_plan(stack).document
    database = one(doc, "snowflake:index/database:Database")
    assert database["inputs"]["name"] == f"{prefix(stack)}_ANALYTICS"
    assert database["inputs"]["dropPublicSchemaOnCreation"] is True
    schemas = own(doc, "snowflake:index/schema:Schema")
    assert {s["inputs"]["name"] for s in schemas} == SCHEMAS and len(schemas) == len(SCHEMAS)
    for schema in schemas:
        assert schema["inputs"]["database"] == database["inputs"]["name"]
        # Managed access: only the schema owner grants on its objects, never an object's owner.
        assert schema["inputs"]["withManagedAccess"] == "true", schema["urn"]
        assert database["urn"] in schema["dependencies"]
    tables = own(doc, "snowflake:index/table:Table")
    assert sorted((t["inputs"]["schema"], t["inputs"]["name"]) for t in tables) == [(s, "EVENTS") for s in RAW]
    for table in tables:
        assert [(c["name"], c["type"]) for c in table["inputs"]["columns"]] == [
            ("RECORD_CONTENT", "VARIANT"),
            ("RECORD_METADATA", "VARIANT"),
        ]


@pytest.mark.parametrize("stack", STACKS)
def test_data_is_protected_in_uat_and_prod(stack):
    doc = offline_plan(stack).document
    keep = stack in ("uat", "prod")
    stateful = [
        one(doc, "snowflake:index/database:Database"),
        *own(doc, "snowflake:index/schema:Schema"),
        *own(doc, "snowflake:index/table:Table"),
        one(doc, "aws:secretsmanager/secret:Secret"),
    ]
    assert len(stateful) == 1 + 11 + 8 + 1
    for r in stateful:
        assert bool(r.get("protect")) == keep and bool(r.get("retainOnDelete")) == keep, r["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_grant_matrix(stack):
    doc = offline_plan(stack).document
    roles = own(doc, "snowflake:index/accountRole:AccountRole")
    assert sorted(r["inputs"]["name"] for r in roles) == sorted(f"{prefix(stack)}_{k}" for k in SCHEMA_MATRIX)
    schemas, objects = grant_matrix(doc, stack)
    assert as_plain(schemas) == as_plain(SCHEMA_MATRIX)
    assert objects == ACCOUNT_OBJECTS
    # Read as the issue says it: the loader writes raw only and reads nothing; nobody touches AUDIT.
    assert all(s.startswith("RAW_") and t == {"INSERT"} for s, (_, t, _v) in schemas["LOADER"].items())
    assert not any("AUDIT" in by_schema for by_schema in schemas.values())
    # A future grant covers only tables created after it: the grants on current raw tables wait for EVENTS.
    tables = {t["inputs"]["schema"]: t["urn"] for t in own(doc, "snowflake:index/table:Table")}
    for grant in own(doc, "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole"):
        scope = grant["inputs"].get("onSchemaObject", {}).get("all")
        if scope and unquote(scope["inSchema"]).startswith("RAW_"):
            assert tables[unquote(scope["inSchema"])] in grant["dependencies"], grant["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_roles_roll_up_to_sysadmin_and_the_service_user_holds_only_the_loader(stack):
    doc = offline_plan(stack).document
    grants = {
        (g["inputs"]["roleName"], g["inputs"].get("parentRoleName"), g["inputs"].get("userName"))
        for g in own(doc, "snowflake:index/grantAccountRole:GrantAccountRole")
    }
    p = prefix(stack)
    assert grants == {
        (f"{p}_LOADER", "SYSADMIN", None),
        (f"{p}_TRANSFORMER", "SYSADMIN", None),
        (f"{p}_REPORTER", "SYSADMIN", None),
        (f"{p}_LOADER", None, f"{p}_LOADER_SVC"),
    }


# --- the service user and its key -----------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_the_ingestion_user_signs_in_with_its_key_pair_only(stack):
    doc = offline_plan(stack).document
    user = one(doc, "snowflake:index/serviceUser:ServiceUser")  # TYPE = SERVICE: no password, no MFA, no UI login
    assert (
        own(doc, "snowflake:index/user:User") == []
        and own(doc, "snowflake:index/legacyServiceUser:LegacyServiceUser") == []
    )
    assert user["inputs"]["name"] == f"{prefix(stack)}_LOADER_SVC"
    assert user["inputs"]["defaultRole"] == f"{prefix(stack)}_LOADER"
    assert user["inputs"]["defaultSecondaryRolesOption"] == "NONE"
    assert not {k for k in user["inputs"] if "password" in k.lower()}
    key = one(doc, "tls:index/privateKey:PrivateKey")
    assert key["inputs"] == {"algorithm": "RSA", "rsaBits": 4096}
    # Snowflake's RSA_PUBLIC_KEY: the PEM body, one line, without the BEGIN/END lines.
    public_pem = key["outputs"]["publicKeyPem"]
    body = "".join(line for line in public_pem.splitlines() if not line.startswith("-----"))
    assert user["inputs"]["rsaPublicKey"] == body and "\n" not in body and "BEGIN" not in body
    assert key["urn"] in user["dependencies"]


@pytest.mark.parametrize("stack", STACKS)
def test_the_loader_key_is_stored_in_the_secret_mod_102_owns(stack):
    doc = offline_plan(stack).document
    secret = one(doc, "aws:secretsmanager/secret:Secret")
    assert secret["inputs"]["name"] == f"/bank/{stack}/sd07/snowflake-loader-key"
    assert secret["inputs"]["kmsKeyId"] == bootstrap(doc, "aws-bootstrap-sd07-key")["outputs"]["arn"]
    assert secret["inputs"]["recoveryWindowInDays"] == 30
    assert secret["inputs"]["tags"]["bank:module-id"] == "MOD-102"
    version = one(doc, "aws:secretsmanager/secretVersion:SecretVersion")
    assert version["inputs"]["secretId"] == secret["id"]
    assert version["inputs"]["secretString"] == MARKER and version["outputs"]["secretString"] == MARKER
    key = one(doc, "tls:index/privateKey:PrivateKey")
    assert key["urn"] in version["dependencies"]


def test_private_keys_appear_in_plans_only_as_secrets():
    # The administrator's key as `pulumi config set --secret bank:snowflakePrivateKey` hands it to the program.
    admin_key = (
        "-----BEGIN PRIVATE KEY-----\nQWRtaW5LZXlTZW50aW5lbDdmM2E5YwAdminKeySentinel7f3a9c\n-----END PRIVATE KEY-----\n"
    )
    plan = plan_stack("dev", secret_values={"bank:snowflakePrivateKey": admin_key})
    doc, text = plan.document, plan.text
    (provider,) = [r for r in resources(doc) if r["type"] == "pulumi:providers:snowflake"]
    assert provider["inputs"]["privateKey"] == MARKER and provider["outputs"]["privateKey"] == MARKER
    assert provider["inputs"]["authenticator"] == "SNOWFLAKE_JWT"
    assert "AdminKeySentinel7f3a9c" not in text and "QWRtaW5LZXlTZW50aW5lbDdmM2E5Yw" not in text
    # The generated key: what the mock handed the program (as pulumi-tls would) never reaches the plan in clear.
    key = one(doc, "tls:index/privateKey:PrivateKey")
    for output in ("privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"):
        assert key["outputs"][output] == MARKER
    ctx = MockContext(key["urn"], key["type"], key["urn"].split("::")[-1], key["inputs"], "ap-southeast-2", "0")
    _, mocked = MOCKED_RESOURCES[key["type"]](ctx)
    for output in ("privateKeyPem", "privateKeyPemPkcs8", "privateKeyOpenssh"):
        for line in mocked[output].splitlines():
            if not line.startswith("-----"):
                assert line not in text, output
    assert "PRIVATE KEY" not in text
    # No delivery stream carries a key or a user of its own: both come from the secret.
    for stream in own(doc, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"):
        config = stream["inputs"]["snowflakeConfiguration"]
        assert not {"privateKey", "keyPassphrase", "user"} & set(config), stream["urn"]


# --- Kinesis → Snowflake ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", STACKS)
def test_one_delivery_stream_per_domain_from_its_stream_into_its_raw_schema(stack):
    doc = offline_plan(stack).document
    urns = by_urn(doc)
    streams = own(doc, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream")
    assert sorted(s["inputs"]["name"] for s in streams) == [f"bank-{stack}-{d.lower()}-snowflake" for d in DOMAINS]
    secret = one(doc, "aws:secretsmanager/secret:Secret")
    landing_zone = bootstrap(doc, "aws-bootstrap-landing-zone-bucket")
    for domain in DOMAINS:
        (stream,) = [s for s in streams if s["inputs"]["name"] == f"bank-{stack}-{domain.lower()}-snowflake"]
        i = stream["inputs"]
        assert stream["id"] == f"arn:aws:firehose:ap-southeast-2:{account(doc)}:deliverystream/{i['name']}"
        assert i["destination"] == "snowflake"
        source = bootstrap(doc, f"aws-bootstrap-{domain.lower()}-stream")
        domain_key = bootstrap(doc, f"aws-bootstrap-{domain.lower()}-key")
        assert i["kinesisSourceConfiguration"]["kinesisStreamArn"] == source["outputs"]["arn"]
        assert source["urn"] in stream["propertyDependencies"]["kinesisSourceConfiguration"]
        assert source["inputs"]["kmsKeyId"] == domain_key["outputs"]["arn"]  # the source is the domain key's
        config = i["snowflakeConfiguration"]
        assert config["accountUrl"] == ACCOUNT_URL[stack]
        assert (config["database"], config["schema"], config["table"]) == (
            f"{prefix(stack)}_ANALYTICS",
            f"RAW_{domain}",
            "EVENTS",
        )
        assert config["snowflakeRoleConfiguration"] == {"enabled": True, "snowflakeRole": f"{prefix(stack)}_LOADER"}
        assert config["secretsManagerConfiguration"]["enabled"] is True
        assert config["secretsManagerConfiguration"]["secretArn"] == secret["id"]
        # Failed records: backed up to the data-lake landing zone, under the domain's prefix, with the domain key.
        assert config["s3BackupMode"] == "FailedDataOnly"
        backup = config["s3Configuration"]
        assert backup["bucketArn"] == landing_zone["outputs"]["arn"]
        assert backup["kmsKeyArn"] == domain_key["outputs"]["arn"]
        assert backup["prefix"] == f"snowflake-failed/{domain.lower()}/"
        assert backup["errorOutputPrefix"].startswith(backup["prefix"]) and backup["compressionFormat"] == "GZIP"
        # Retry Snowflake for an hour before a record counts as failed; deliver at least every 30 s.
        assert (config["retryDuration"], config["bufferingInterval"], config["bufferingSize"]) == (3600, 30, 1)
        # With a Kinesis source Firehose keeps nothing at rest (the stream does, under the domain key); pulumi-aws:
        # "Server-side encryption should not be enabled when a kinesis stream is configured as the source".
        assert "serverSideEncryption" not in i
        # One role per stream, the one Firehose assumes for its source, its destination and its secret.
        role_arn = i["kinesisSourceConfiguration"]["roleArn"]
        assert config["roleArn"] == backup["roleArn"] == config["secretsManagerConfiguration"]["roleArn"] == role_arn
        # It starts after its table, its grants, its user's key and its permissions exist.
        waits_for = {urns[u]["type"] for u in stream["dependencies"] if u in urns}
        assert {
            "snowflake:index/table:Table",
            "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole",
            "snowflake:index/grantAccountRole:GrantAccountRole",
            "aws:secretsmanager/secretVersion:SecretVersion",
            "aws:iam/rolePolicy:RolePolicy",
        } <= waits_for


def account(doc) -> str:
    return {"dev": "381492650173", "uat": "529406318847", "prod": "647215093382"}[doc["bank"]["stack"]]


@pytest.mark.parametrize("stack", STACKS)
def test_each_delivery_role_reaches_only_its_own_domain(stack):
    doc = offline_plan(stack).document
    urns = by_urn(doc)
    secret = one(doc, "aws:secretsmanager/secret:Secret")
    sd07_key = bootstrap(doc, "aws-bootstrap-sd07-key")["outputs"]["arn"]
    bucket = bootstrap(doc, "aws-bootstrap-landing-zone-bucket")["outputs"]["arn"]
    region, acct = "ap-southeast-2", account(doc)
    for stream in own(doc, "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"):
        domain = re.fullmatch(rf"bank-{stack}-(sd0\d)-snowflake", stream["inputs"]["name"]).group(1)
        role_arn = stream["inputs"]["kinesisSourceConfiguration"]["roleArn"]
        (role,) = [r for r in own(doc, "aws:iam/role:Role") if r["outputs"]["arn"] == role_arn]
        trust = json.loads(role["inputs"]["assumeRolePolicy"])
        assert trust["Statement"] == [
            {
                "Effect": "Allow",
                "Principal": {"Service": "firehose.amazonaws.com"},
                "Action": "sts:AssumeRole",
                "Condition": {"StringEquals": {"sts:ExternalId": acct}},
            }
        ]
        (policy,) = [p for p in own(doc, "aws:iam/rolePolicy:RolePolicy") if p["inputs"]["role"] == role["id"]]
        source = bootstrap(doc, f"aws-bootstrap-{domain}-stream")["outputs"]["arn"]
        key = bootstrap(doc, f"aws-bootstrap-{domain}-key")["outputs"]["arn"]
        objects = f"{bucket}/snowflake-failed/{domain}/*"
        log_stream = (
            f"arn:aws:logs:{region}:{acct}:log-group:/aws/kinesisfirehose/bank-{stack}-snowflake:log-stream:{domain}"
        )
        statements = {s["Sid"]: s for s in json.loads(policy["inputs"]["policy"])["Statement"]}
        assert statements == {
            "ReadDomainStream": {
                "Effect": "Allow",
                "Action": [
                    "kinesis:DescribeStream",
                    "kinesis:GetRecords",
                    "kinesis:GetShardIterator",
                    "kinesis:ListShards",
                ],
                "Resource": source,
                "Sid": "ReadDomainStream",
            },
            "DecryptDomainStream": {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": key,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"kinesis.{region}.amazonaws.com",
                        "kms:EncryptionContext:aws:kinesis:arn": source,
                    }
                },
                "Sid": "DecryptDomainStream",
            },
            "BackupBucket": {
                "Effect": "Allow",
                "Action": ["s3:GetBucketLocation", "s3:ListBucket", "s3:ListBucketMultipartUploads"],
                "Resource": bucket,
                "Sid": "BackupBucket",
            },
            "BackupObjects": {
                "Effect": "Allow",
                "Action": ["s3:AbortMultipartUpload", "s3:GetObject", "s3:PutObject"],
                "Resource": objects,
                "Sid": "BackupObjects",
            },
            "EncryptBackup": {
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:GenerateDataKey"],
                "Resource": key,
                "Condition": {
                    "StringEquals": {"kms:ViaService": f"s3.{region}.amazonaws.com"},
                    # The landing zone uses S3 Bucket Keys: then the bucket's ARN is the encryption context.
                    "StringLike": {"kms:EncryptionContext:aws:s3:arn": [objects, bucket]},
                },
                "Sid": "EncryptBackup",
            },
            "ReadLoaderKey": {
                "Effect": "Allow",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": secret["id"],
                "Sid": "ReadLoaderKey",
            },
            "DecryptLoaderKey": {
                "Effect": "Allow",
                "Action": "kms:Decrypt",
                "Resource": sd07_key,
                "Condition": {
                    "StringEquals": {
                        "kms:ViaService": f"secretsmanager.{region}.amazonaws.com",
                        "kms:EncryptionContext:SecretARN": secret["id"],
                    }
                },
                "Sid": "DecryptLoaderKey",
            },
            "LogDeliveryErrors": {
                "Effect": "Allow",
                "Action": "logs:PutLogEvents",
                "Resource": log_stream,
                "Sid": "LogDeliveryErrors",
            },
        }
        log_group = one(doc, "aws:cloudwatch/logGroup:LogGroup")
        assert log_group["inputs"]["kmsKeyId"] == sd07_key
        assert log_group["inputs"]["retentionInDays"] == {"dev": 30, "uat": 90, "prod": 400}[stack]
        logging = stream["inputs"]["snowflakeConfiguration"]["cloudwatchLoggingOptions"]
        assert logging == {
            "enabled": True,
            "logGroupName": f"/aws/kinesisfirehose/bank-{stack}-snowflake",
            "logStreamName": domain,
        }
        assert urns[role["urn"]]["inputs"]["tags"]["bank:module"] == "snowflake-configuration"


@pytest.mark.parametrize("stack", STACKS)
def test_the_snowflake_provider_is_explicit_and_signs_in_with_a_key_pair(stack):
    doc = offline_plan(stack).document
    (provider,) = [r for r in resources(doc) if r["type"] == "pulumi:providers:snowflake"]
    assert OWN.rstrip("$") in provider["urn"]
    i = provider["inputs"]
    org, name = {"dev": "BANKDEV", "uat": "BANKUAT", "prod": "BANKPROD"}[stack], stack
    assert (i["organizationName"], i["accountName"], i["user"]) == ("TOTARABANK", org, "PULUMI_ADMIN"), name
    assert i["authenticator"] == "SNOWFLAKE_JWT" and i["privateKey"] == MARKER and "password" not in i
    # One provider creates account objects, users, roles and grants: the system role that holds both halves.
    assert i["role"] == "ACCOUNTADMIN" and json.loads(i["previewFeaturesEnabled"]) == ["snowflake_table_resource"]
    snowflake_resources = [r for r in own(doc) if r["type"].startswith("snowflake:")]
    assert len(snowflake_resources) > 1
    for r in snowflake_resources:
        assert r["provider"].rsplit("::", 1)[0] == provider["urn"], r["urn"]


@pytest.mark.parametrize("stack", STACKS)
def test_aws_resources_of_mod_102_carry_its_tags(stack):
    doc = offline_plan(stack).document
    taggable = ("aws:secretsmanager/secret:Secret", "aws:iam/role:Role", "aws:cloudwatch/logGroup:LogGroup")
    taggable += ("aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream",)
    for r in own(doc):
        if r["type"] in taggable:
            assert r["inputs"]["tags"]["bank:module-id"] == "MOD-102", r["urn"]
            assert r["inputs"]["tags"]["bank:data-classification"] == "restricted", r["urn"]


def test_nothing_of_mod_102_in_local():
    doc = offline_plan("local").document
    (module,) = [m for m in doc["bank"]["modules"] if m["id"] == "MOD-102"]
    assert not module["enabled"] and module["urn"] == ""
    assert not [r for r in resources(doc) if "snowflake" in r["urn"].lower() or r["type"].startswith("snowflake:")]
    firehoses = [r for r in resources(doc) if r["type"] == "aws:kinesis/firehoseDeliveryStream:FirehoseDeliveryStream"]
    assert not [f for f in firehoses if f["inputs"]["destination"] == "snowflake"]


# --- offline ids of the new types -------------------------------------------------------------------------------------
def test_mocked_ids_are_in_each_providers_format():
    doc = offline_plan("dev").document
    ids = {r["type"]: r["id"] for r in own(doc)}
    assert ids["snowflake:index/warehouse:Warehouse"] == '"BANK_DEV_ANALYTICS_WH"'
    assert ids["snowflake:index/database:Database"] == '"BANK_DEV_ANALYTICS"'
    assert {s["id"] for s in own(doc, "snowflake:index/schema:Schema")} == {
        f'"BANK_DEV_ANALYTICS"."{s}"' for s in SCHEMAS
    }
    assert {t["id"] for t in own(doc, "snowflake:index/table:Table")} == {f"BANK_DEV_ANALYTICS|{s}|EVENTS" for s in RAW}
    assert ids["snowflake:index/serviceUser:ServiceUser"] == '"BANK_DEV_LOADER_SVC"'
    grant_ids = {g["id"] for g in own(doc, "snowflake:index/grantPrivilegesToAccountRole:GrantPrivilegesToAccountRole")}
    assert '"BANK_DEV_REPORTER"|false|false|USAGE|OnSchema|OnSchema|"BANK_DEV_ANALYTICS"."MARTS"' in grant_ids
    assert (
        '"BANK_DEV_REPORTER"|false|false|SELECT|OnSchemaObject|OnFuture|TABLES|InSchema|"BANK_DEV_ANALYTICS"."MARTS"'
        in grant_ids
    )
    assert '"BANK_DEV_LOADER"|false|false|USAGE|OnAccountObject|DATABASE|"BANK_DEV_ANALYTICS"' in grant_ids
    role_grants = {g["id"] for g in own(doc, "snowflake:index/grantAccountRole:GrantAccountRole")}
    assert '"BANK_DEV_LOADER"|USER|"BANK_DEV_LOADER_SVC"' in role_grants
    secret = one(doc, "aws:secretsmanager/secret:Secret")
    assert re.fullmatch(
        r"arn:aws:secretsmanager:ap-southeast-2:381492650173:secret:/bank/dev/sd07/snowflake-loader-key-[0-9a-f]{6}",
        secret["id"],
    )
    version = one(doc, "aws:secretsmanager/secretVersion:SecretVersion")
    assert re.fullmatch(re.escape(secret["id"]) + r"\|[0-9a-f-]{36}", version["id"])
    key = one(doc, "tls:index/privateKey:PrivateKey")
    assert re.fullmatch(r"[0-9a-f]{40}", key["id"])
    roles = own(doc, "aws:iam/role:Role")
    assert {r["outputs"]["arn"] for r in roles} == {
        f"arn:aws:iam::381492650173:role/bank-dev-{d.lower()}-snowflake-firehose" for d in DOMAINS
    }
    assert {p["id"] for p in own(doc, "aws:iam/rolePolicy:RolePolicy")} == {
        f"bank-dev-{d.lower()}-snowflake-firehose:snowflake-delivery" for d in DOMAINS
    }
    for r in own(doc):
        assert "offline-invented" not in r.get("id", ""), r["urn"]
