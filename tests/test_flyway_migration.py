"""Schema migrations in the graph: one FlywayMigration per pinned database (deployment sequence, step 0.2).

Expectations come from the raw release manifests and catalogue (YAML read here), never from model/: which
databases are pinned and where their builds were published, which database each module uses.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from bankctl.plan_graph import PlanGraph
from bankctl.recording import REDACTED, SECRET_SIG, SIG_KEY
from tests.conftest import PROJECT_DIR, offline_plan

COMPONENT = "bank:components:FlywayMigration"
FLYWAY_ENV = {
    "FLYWAY_URL",
    "FLYWAY_USER",
    "FLYWAY_PASSWORD",
    "FLYWAY_LOCATIONS",
    "FLYWAY_SCHEMAS",
    "FLYWAY_CREATE_SCHEMAS",
    "FLYWAY_CLEAN_DISABLED",
    "FLYWAY_VALIDATE_ON_MIGRATE",
    "AWS_REGION",  # Flyway's S3 client needs the region of the artifacts bucket
}
# Phase 0 modules that must not wait for any migration (step 0.3 and 0.4 need MOD-103 at most; DESIGN G1).
NOT_AFTER_MIGRATIONS = (
    "aws-bootstrap",
    "neon-database-bootstrap",
    "snowflake-configuration",
    "secrets-key-management",
    "observability-platform",
    "dba-access-control",
)


def raw_pins(stack: str, project: Path = PROJECT_DIR) -> dict[str, dict]:
    return yaml.safe_load((project / "releases" / f"{stack}.yaml").read_text())["migrations"]


def raw_databases() -> dict[str, str]:
    """slug → database, for every catalogue module that names one."""
    modules = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
    return {m["slug"]: m["database"] for m in modules if m.get("database")}


def migrations_of(document: dict) -> dict[str, tuple[dict, dict]]:
    """database → (its FlywayMigration component, the Command it owns)."""
    resources = document["deployment"]["resources"]
    components = {r["urn"]: r for r in resources if r["type"] == COMPONENT}
    found = {}
    for r in resources:
        if r.get("parent") in components:
            database = r["urn"].rsplit("::", 1)[1].removesuffix("-migrations-flyway").replace("-", "_")
            found[database] = (components[r["parent"]], r)
    assert len(found) == len(components), "every FlywayMigration owns exactly one command"
    return found


def resource(document: dict, urn_suffix: str) -> dict:
    (found,) = [r for r in document["deployment"]["resources"] if r["urn"].endswith(urn_suffix)]
    return found


def is_secret(value) -> bool:
    return value == {SIG_KEY: SECRET_SIG, "ciphertext": REDACTED}


@pytest.mark.parametrize("stack", ["dev", "local"])
def test_each_pinned_database_has_one_flyway_command_with_its_pin(stack):
    document = offline_plan(stack).document
    pins = raw_pins(stack)
    migrations = migrations_of(document)
    assert set(migrations) == set(pins)
    bucket = resource(document, "::aws-bootstrap-artifacts-bucket")["inputs"]["bucket"]
    for database, (component, command) in migrations.items():
        assert component["urn"] == f"urn:pulumi:{stack}::bank::{COMPONENT}::{database.replace('_', '-')}-migrations"
        assert "::pulumi:pulumi:Stack::" in component["parent"]  # top-level: not a child of MOD-103
        inputs = command["inputs"]
        # validate, then migrate only if validate passed; nothing on delete or update; no clean.
        assert inputs["create"] == "flyway -ignoreMigrationPatterns='*:pending' validate && flyway migrate"
        assert not {"delete", "update"} & set(inputs)
        assert "clean" not in inputs["create"] and not re.search(r"(^|\s)/", inputs["create"])
        env = inputs["environment"]
        assert set(env) == FLYWAY_ENV | ({"AWS_ENDPOINT_URL"} if stack == "local" else set())
        assert is_secret(env["FLYWAY_PASSWORD"]) and is_secret(command["outputs"]["environment"])
        assert env["FLYWAY_USER"] == f"{database}_migration"
        assert env["FLYWAY_LOCATIONS"] == f"s3:{bucket}/{pins[database]['location']}"
        assert (env["FLYWAY_SCHEMAS"], env["FLYWAY_CLEAN_DISABLED"], env["FLYWAY_VALIDATE_ON_MIGRATE"]) == (
            "app",
            "true",
            "true",
        )
        assert env["FLYWAY_CREATE_SCHEMAS"] == "false"  # MOD-103 creates `app`, owned by the migration role
        assert inputs["triggers"] == [pins[database]]  # the pin is the trigger, and the only one
        assert not any(str(v).startswith("/") for v in env.values() if isinstance(v, str))


def test_flyway_connects_to_the_direct_endpoint_with_tls():
    document = offline_plan("dev").document
    endpoint = resource(document, "::neon-database-bootstrap-endpoint")["outputs"]
    assert "-pooler" in endpoint["poolerHost"] and "-pooler" not in endpoint["host"]
    for database, (_, command) in migrations_of(document).items():
        url = command["inputs"]["environment"]["FLYWAY_URL"]
        assert url == f"jdbc:postgresql://{endpoint['host']}:5432/{database}?sslmode=require"


def test_the_local_stack_migrates_its_local_postgresql():
    stack = yaml.safe_load((PROJECT_DIR / "Pulumi.local.yaml").read_text())["config"]
    local = stack["bank:local"]
    host, port = local.get("postgresHost", "localhost"), local.get("postgresPort", 5432)
    for database, (_, command) in migrations_of(offline_plan("local").document).items():
        env = command["inputs"]["environment"]
        assert env["FLYWAY_URL"] == f"jdbc:postgresql://{host}:{port}/{database}?sslmode=disable"
        assert env["AWS_ENDPOINT_URL"] == local["awsEndpoint"].rstrip("/")


# --- the graph ------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dev():
    document = offline_plan("dev").document
    return PlanGraph(document), migrations_of(document)


def test_the_foundation_gate_waits_for_every_migration(dev):
    graph, migrations = dev
    assert len(migrations) == 8  # DESIGN G4: all eight databases are in use in dev
    for _, command in migrations.values():
        assert graph.waits_for(graph.gate(0), command["urn"])


def test_each_migration_follows_all_of_mod_103_and_nothing_else_of_phase_0_but_mod_104(dev):
    graph, migrations = dev
    for _, (component, _command) in migrations.items():
        assert graph.waits_for(component["urn"], graph.module("neon-database-bootstrap"))
        for slug in (
            "secrets-key-management",
            "observability-platform",
            "dba-access-control",
            "snowflake-configuration",
        ):
            assert not graph.touches(component["urn"], graph.module(slug)), slug
        for _other, (other, _) in migrations.items():
            if other is not component:
                assert not graph.touches(component["urn"], other["urn"])


def test_no_phase_0_module_waits_for_a_migration(dev):
    # MOD-046 follows MOD-103 but not its migrations; the critical path stays 20 waves (test_sequence_graph).
    graph, migrations = dev
    for slug in NOT_AFTER_MIGRATIONS:
        for database, (component, _) in migrations.items():
            assert not graph.touches(graph.module(slug), component["urn"]), (slug, database)


def test_every_module_depends_directly_on_its_own_databases_migration(dev):
    graph, migrations = dev
    uses = raw_databases()
    commands = {database: command["urn"] for database, (_, command) in migrations.items()}
    checked = 0
    for m in graph.modules():
        component = graph.resources[m["urn"]]
        direct = set(component.get("dependencies", ()))
        database = uses.get(m["slug"])
        if database is None:
            assert not direct & set(commands.values()), m["slug"]
            continue
        # Directly, not only through the foundation gate: a new pin runs before the module's update.
        assert commands[database] in direct, m["slug"]
        assert not (direct & set(commands.values())) - {commands[database]}, m["slug"]
        checked += 1
    assert checked == sum(1 for slug in uses if graph.is_enabled(slug))


# --- the pin is the trigger -----------------------------------------------------------------------------------


def test_a_new_pin_re_runs_that_databases_migration_and_nothing_else_does(tmp_path):
    from bankctl.plan_command import plan_stack

    for name in ("Pulumi.yaml", "Pulumi.dev.yaml", "__main__.py"):
        shutil.copy(PROJECT_DIR / name, tmp_path / name)
    shutil.copytree(PROJECT_DIR / "releases", tmp_path / "releases")
    manifest = tmp_path / "releases" / "dev.yaml"
    text = manifest.read_text()
    old = raw_pins("dev")["bank_core"]["sha"]
    # A new build of bank-core's migrations, and a new build of one module that uses bank_kyc.
    modules = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
    kyc_id = next(m["id"] for m in modules if m.get("database") == "bank_kyc")  # IDs are provisional (DESIGN G12)
    kyc_module = yaml.safe_load(text)["modules"][kyc_id]["sha"]
    manifest.write_text(text.replace(old, "c" * 40).replace(kyc_module, "d" * 40))
    before = migrations_of(offline_plan("dev").document)
    after_document = plan_stack("dev", tmp_path).document
    after = migrations_of(after_document)
    changed = {db for db in before if before[db][1]["inputs"] != after[db][1]["inputs"]}
    assert changed == {"bank_core"}
    new_pin = raw_pins("dev", tmp_path)["bank_core"]
    core = after["bank_core"][1]["inputs"]
    assert core["triggers"] == [new_pin] and new_pin["sha"] == "c" * 40
    differing = {
        k for k in core["environment"] if core["environment"][k] != before["bank_core"][1]["inputs"]["environment"][k]
    }
    assert differing == {"FLYWAY_LOCATIONS"}
    # The foundation gate checks the migrations, so it re-runs too.
    gate = lambda doc: next(  # noqa: E731
        r["inputs"]["triggers"] for r in doc["deployment"]["resources"] if r["urn"].endswith("::phase-0-gate-check")
    )
    assert gate(offline_plan("dev").document) != gate(after_document)


# --- the command itself, run by a shell as the engine runs it ---------------------------------------------------


STUB = """#!/bin/sh
# Stands in for the flyway binary only to record how the command calls it; it applies nothing.
echo "$* | $FLYWAY_URL | $FLYWAY_USER | $FLYWAY_LOCATIONS | $FLYWAY_CLEAN_DISABLED | ${FLYWAY_PASSWORD:+password-in-env}" >> "$STUB_LOG"
case "$*" in *"$STUB_FAIL"*) exit 1 ;; esac
"""


@pytest.mark.parametrize(("fail", "calls"), [("nothing", 2), ("validate", 1)])
def test_the_command_validates_before_it_migrates_and_stops_on_a_failed_validate(tmp_path, fail, calls):
    (_, command) = migrations_of(offline_plan("dev").document)["bank_core"]
    stub = tmp_path / "flyway"
    stub.write_text(STUB)
    stub.chmod(0o755)
    env = {k: v for k, v in command["inputs"]["environment"].items() if isinstance(v, str)}
    env |= {
        "FLYWAY_PASSWORD": "test-only",
        "PATH": f"{tmp_path}:/usr/bin:/bin",
        "STUB_LOG": str(tmp_path / "log"),
        "STUB_FAIL": fail,
    }
    # pulumi-command runs `create` with /bin/sh -c on Linux (its `interpreter` default).
    result = subprocess.run(["/bin/sh", "-c", command["inputs"]["create"]], env=env, capture_output=True, text=True)
    lines = (tmp_path / "log").read_text().splitlines()
    assert len(lines) == calls and (result.returncode == 0) == (fail == "nothing")
    assert lines[0].startswith("-ignoreMigrationPatterns=*:pending validate | jdbc:postgresql://")
    assert lines[0].endswith(f"| bank_core_migration | {env['FLYWAY_LOCATIONS']} | true | password-in-env")
    if calls == 2:
        assert lines[1].startswith("migrate | ")
    # The password reaches flyway through its environment only, never as an argument.
    assert not any("test-only" in line for line in lines)


# --- migration pins are validated with the rest of the release manifest ---------------------------------------


def resolve_with(stack: str, migrations: dict):
    from model.catalogue import load_catalogue
    from model.platform import resolve_platform
    from model.releases import load_release_manifest
    from model.stack_config import load_stack_config

    manifest = load_release_manifest(PROJECT_DIR, stack)
    changed = manifest.model_validate(manifest.model_dump() | {"migrations": migrations})
    return resolve_platform(stack, load_stack_config(PROJECT_DIR, stack), load_catalogue(), changed)


def test_a_used_database_without_a_pin_is_an_error():
    from model.errors import ConfigurationError

    pins = raw_pins("prod")
    del pins["bank_kyc"]
    with pytest.raises(ConfigurationError) as caught:
        resolve_with("prod", pins)
    assert "releases/prod.yaml has 1 problem(s)" in str(caught.value)
    assert "migrations.bank_kyc: no migration pin, but customer-identity-core, " in str(caught.value)


def test_a_pin_for_a_database_nobody_uses_is_an_error():
    # local deploys no data-platform module (Snowflake is off, DESIGN G10), so nothing there uses bank_reporting.
    from model.errors import ConfigurationError

    pins = raw_pins("local") | {"bank_reporting": raw_pins("dev")["bank_reporting"]}
    with pytest.raises(ConfigurationError, match="migrations.bank_reporting: no module this stack deploys uses"):
        resolve_with("local", pins)


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        ({"sha": "main"}, "migrations.bank_core.sha: `main` is not a pinned build; prod needs the full"),
        (
            {"location": "bank-core/db-migrations/latest"},
            "migrations.bank_core.location: `bank-core/db-migrations/latest` does not name one build",
        ),
        (
            {"location": "bank-core/db-migrations/" + "e" * 40},
            "migrations.bank_core.location: `bank-core/db-migrations/eeee",
        ),
        (
            {"repository": "bank-kyc"},
            "migrations.bank_core.repository: is `bank-kyc`, but bank_core's migrations live in bank-core",
        ),
    ],
)
def test_prod_migration_pins_name_one_build_of_the_right_repository(change, problem):
    from model.errors import ConfigurationError

    pins = raw_pins("prod")
    pins["bank_core"] = pins["bank_core"] | change
    with pytest.raises(ConfigurationError) as caught:
        resolve_with("prod", pins)
    assert problem in str(caught.value)


@pytest.mark.parametrize("location", ["s3:bank-prod-artifacts/x", "/bank-core/x", "bank-core/../other", "bank core/x"])
def test_a_location_is_a_prefix_in_the_stacks_own_bucket(location):
    from model.errors import ConfigurationError

    pins = raw_pins("dev")
    pins["bank_core"] = pins["bank_core"] | {"location": location}
    with pytest.raises((ConfigurationError, ValueError)):
        resolve_with("dev", pins)
