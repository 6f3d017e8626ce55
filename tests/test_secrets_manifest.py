"""The secrets manifest (catalogue/secrets.yaml): what it must hold, how it agrees with the catalogue, which secrets
each stack has, and every validation error naming the file, the secret and the fix. No Pulumi, no AWS."""

from __future__ import annotations

import copy

import pytest
import yaml

from model.catalogue import load_catalogue, parse_catalogue
from model.errors import ConfigurationError
from model.platform import load_platform, load_stack_platform
from model.secrets_manifest import (
    DEFAULT_SECRETS_FILE,
    ROTATION_FUNCTIONS,
    load_secrets_manifest,
    parse_secrets_manifest,
    stack_secrets,
)
from model.stack_config import read_stack_file
from tests.conftest import DATABASE_DOMAINS, PROJECT_DIR

RAW_MANIFEST = yaml.safe_load(DEFAULT_SECRETS_FILE.read_text())["secrets"]
RAW_CATALOGUE = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"]
# Module IDs are provisional (DESIGN G12): messages name them, tests find them by slug.
ID = {m["slug"]: m["id"] for m in RAW_CATALOGUE}


def entries_by_key() -> dict[str, dict]:
    return {f"{e['domain'].lower()}/{e['name']}": e for e in RAW_MANIFEST}


def broken(mutate) -> str:
    """The validation message for a manifest changed by `mutate` (raw entries by key), against the real catalogue."""
    entries = copy.deepcopy(RAW_MANIFEST)
    mutate({f"{e['domain'].lower()}/{e['name']}": e for e in entries}, entries)
    with pytest.raises(ConfigurationError) as caught:
        parse_secrets_manifest(entries, load_catalogue())
    assert caught.value.source == "catalogue/secrets.yaml"
    return str(caught.value)


# --- What the manifest holds -------------------------------------------------------------------------------------
def test_the_manifest_is_valid_against_the_catalogue():
    manifest = load_secrets_manifest(load_catalogue())
    assert len(manifest.secrets) == len(RAW_MANIFEST)


def test_every_secret_a_catalogue_module_reads_is_declared_in_its_domain_with_that_reader():
    by_key = entries_by_key()
    read = [(m, name) for m in RAW_CATALOGUE for name in m.get("secrets", [])]
    assert read, "the catalogue names no secrets: nothing to check"
    for module, name in read:
        entry = by_key.get(f"{module['domain'].lower()}/{name}")
        assert entry is not None, (module["slug"], name)
        assert "providedBy" in entry, name
        assert module["slug"] in entry["consumers"]["modules"], (module["slug"], name)


def test_the_documents_named_secrets_are_in_their_domains():
    # Deployment sequence: eIDV (Phase 2), rails (Phase 4), bureaus (Phase 5), card bureau (Phase 7 step 5).
    by_key = entries_by_key()
    for key in (
        "sd02/greenid-api-credentials",
        "sd02/frankieone-api-credentials",
        "sd04/npp-fii-credentials",
        "sd04/bpay-scheme-credentials",
        "sd04/nz-faster-payments-credentials",
        "sd04/swift-alliance-credentials",
        "sd05/equifax-api-credentials",
        "sd05/centrix-api-credentials",
        "sd04/cuscal-api-credentials",
        "sd04/monoova-api-credentials",
    ):
        assert key in by_key and "providedBy" in by_key[key], key


def test_platform_generated_secrets_are_listed_with_their_owners():
    by_key = entries_by_key()
    for database, domain in DATABASE_DOMAINS.items():
        for role in ("service", "reporting", "migration"):
            entry = by_key[f"{domain}/db-{role}"]
            assert entry["generatedBy"] == "neon-database-bootstrap" and "providedBy" not in entry
            assert entry["description"].startswith(database)
        assert by_key[f"{domain}/db-service"]["consumers"]["database"] == database
    loader = by_key["sd07/snowflake-loader-key"]
    assert loader["generatedBy"] == "snowflake-configuration" and "providedBy" not in loader
    # The admin login MOD-046's just-in-time access functions connect as (deployment sequence, step 0.4).
    admin = by_key["sd07/db-admin"]
    assert admin["generatedBy"] == "neon-database-bootstrap" and "providedBy" not in admin
    assert admin["consumers"] == {"modules": ["dba-access-control"]}
    assert admin["rotation"]["automatic"] is False and admin["rotation"]["rotatedBy"]
    generated = {k for k, e in by_key.items() if "generatedBy" in e}
    assert generated == {
        f"{d}/db-{r}" for d in DATABASE_DOMAINS.values() for r in ("service", "reporting", "migration")
    } | {"sd07/snowflake-loader-key", "sd07/db-admin"}


def test_datadog_key_and_smoke_test_users():
    by_key = entries_by_key()
    datadog = by_key["sd07/datadog-api-key"]
    assert datadog["when"] == "observability.datadog.enabled"
    assert datadog["consumers"] == {"modules": ["observability-platform"]}
    assert datadog["rotation"] == {"automatic": True, "periodDays": 90, "function": "datadog-api-key"}
    customer = by_key["sd08/smoke-test-customer"]
    assert customer["consumers"] == {"gates": ["7"]}
    assert customer["rotation"]["automatic"] and customer["rotation"]["function"] == "cognito-user-password"


def test_every_entry_says_rotation_period_and_who_provides_or_rotates():
    for entry in RAW_MANIFEST:
        rotation = entry["rotation"]
        assert 1 <= rotation["periodDays"] <= 1000
        assert ("providedBy" in entry) != ("generatedBy" in entry)
        assert rotation["automatic"] == ("function" in rotation) == ("rotatedBy" not in rotation), entry["name"]


def test_the_rotation_functions_read_the_fields_the_model_requires():
    # `bankctl secrets set` refuses a value without the fields the model lists; the functions must need exactly those.
    from functions.secret_rotation.cognito_user_password import CognitoUserPassword
    from functions.secret_rotation.datadog_api_key import DatadogApiKey

    assert ROTATION_FUNCTIONS["cognito-user-password"].fields == CognitoUserPassword.fields
    assert ROTATION_FUNCTIONS["datadog-api-key"].fields == DatadogApiKey.fields
    for function in ROTATION_FUNCTIONS.values():
        assert (PROJECT_DIR / "functions" / "secret_rotation" / f"{function.module}.py").is_file()


# --- Validation: every problem names the file, the secret and the fix ------------------------------------------
def test_a_module_secret_nobody_declares():
    text = broken(lambda by_key, entries: entries.remove(by_key["sd02/greenid-api-credentials"]))
    assert "catalogue/secrets.yaml has 1 problem(s)" in text
    assert (
        f"catalogue/modules.yaml: {ID['eidv-document-verification']} (eidv-document-verification) reads secret `greenid-api-credentials`, which "
        "catalogue/secrets.yaml does not declare in SD02: add an entry {name: greenid-api-credentials, domain: SD02, "
        "consumers: {modules: [eidv-document-verification]}, …}, or remove it from the module's secrets" in text
    )


def test_a_secret_declared_in_another_domain_than_its_reader():
    text = broken(lambda by_key, entries: by_key["sd05/equifax-api-credentials"].update(domain="SD04"))
    assert f"{ID['credit-bureau-equifax']} (credit-bureau-equifax) reads secret `equifax-api-credentials`" in text
    assert (
        f"sd04/equifax-api-credentials: lists consumer credit-bureau-equifax ({ID['credit-bureau-equifax']}), but catalogue/modules.yaml"
        in text
    )


def test_a_secret_nobody_reads():
    def mutate(by_key, entries):
        by_key["sd07/datadog-key-manager"]["consumers"] = {}

    text = broken(mutate)
    assert (
        "sd07/datadog-key-manager: nobody reads it; list its consumers (modules, gates or database), or remove the entry"
        in text
    )


def test_a_reader_left_out_of_the_consumers():
    text = broken(lambda by_key, entries: by_key["sd07/snowflake-pipeline-credentials"]["consumers"]["modules"].pop())
    assert (
        f"sd07/snowflake-pipeline-credentials: {ID['database-cdc-replication']} (database-cdc-replication) reads it (catalogue/modules.yaml) but is "
        "not among its consumers, so the secret's resource policy would refuse it: add database-cdc-replication" in text
    )


def test_a_consumer_that_does_not_read_it_or_does_not_exist():
    def mutate(by_key, entries):
        by_key["sd02/nzbn-api-key"]["consumers"]["modules"] += ["company-verification-au", "adress-verification"]

    text = broken(mutate)
    assert (
        f"sd02/nzbn-api-key: lists consumer company-verification-au ({ID['company-verification-au']}), but catalogue/modules.yaml does not say"
        in text
    )
    assert (
        "sd02/nzbn-api-key: consumer `adress-verification` is not a module of the catalogue (did you mean address-verification?)"
        in text
    )


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"generatedBy": "neon-database-bootstrap"}, "set exactly one of providedBy"),
        ({"rotation": {"automatic": True, "periodDays": 30}}, "rotation is automatic but names no `function`"),
        ({"rotation": {"automatic": False, "periodDays": 30}}, "rotation is not automatic, so say who rotates it"),
        ({"rotation": {"automatic": False, "periodDays": 0, "rotatedBy": "x-team"}}, "rotation.periodDays"),
        ({"rotation": {"automatic": True, "periodDays": 30, "function": "sms-token"}}, "rotation.function"),
        ({"when": "observability.splunk.enabled"}, "`when: observability.splunk.enabled` is not a stack feature flag"),
        ({"consumers": {"gates": ["8"]}}, "consumer gate `8` is not a phase"),
        ({"rotaton": {}}, "rotaton: unknown key"),
    ],
)
def test_malformed_entries(change, message):
    def mutate(by_key, entries):
        entry = by_key["sd08/smoke-test-staff"]
        entry.update(change)

    text = broken(mutate)
    assert "sd08/smoke-test-staff: " in text and message in text


def test_a_generated_secret_rotated_by_a_mod_045_function_or_owned_by_nobody():
    def mutate(by_key, entries):
        by_key["sd01/db-reporting"]["rotation"] = {"automatic": True, "periodDays": 30, "function": "datadog-api-key"}
        by_key["sd07/snowflake-loader-key"]["generatedBy"] = "snowflake-config"

    text = broken(mutate)
    assert "sd01/db-reporting: generated by neon-database-bootstrap, which rotates it itself" in text
    assert "sd07/snowflake-loader-key: generatedBy `snowflake-config` is not a module of the catalogue" in text


def test_a_secret_declared_twice():
    text = broken(lambda by_key, entries: entries.append(copy.deepcopy(by_key["sd05/ppsr-api-credentials"])))
    assert "sd05/ppsr-api-credentials: declared 2 times; keep one entry" in text


def test_manifest_problems_are_reported_with_every_other_files(tmp_path):
    values, _ = read_stack_file(PROJECT_DIR, "dev")
    values["bank:alertEmail"] = "not-an-email"
    entries = copy.deepcopy(yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text())["modules"])
    by_slug = {e["slug"]: e for e in entries}
    by_slug["bpay-rail"]["secrets"] = ["bpay-scheme-credential"]  # a typo in the catalogue
    catalogue_file = tmp_path / "modules.yaml"
    catalogue_file.write_text(yaml.safe_dump({"modules": entries}))
    parse_catalogue(entries)  # the catalogue alone is valid: only the manifest can tell
    with pytest.raises(ConfigurationError) as caught:
        load_platform(PROJECT_DIR, "dev", values, catalogue_file=catalogue_file)
    text = str(caught.value)
    assert "Pulumi.dev.yaml has 1 problem(s)" in text and "bank:alertEmail" in text
    assert "catalogue/secrets.yaml has 2 problem(s)" in text
    assert (
        f"{ID['bpay-rail']} (bpay-rail) reads secret `bpay-scheme-credential`, which catalogue/secrets.yaml does not declare"
        in text
    )
    assert f"sd04/bpay-scheme-credentials: lists consumer bpay-rail ({ID['bpay-rail']})" in text


# --- One stack's secrets -----------------------------------------------------------------------------------------
def stack_paths(stack: str) -> dict[str, bool]:
    platform = load_stack_platform(PROJECT_DIR, stack)
    return {s.path: s.required for s in stack_secrets(load_secrets_manifest(platform.catalogue), platform)}


def test_dev_has_what_its_modules_and_flags_need():
    dev = stack_paths("dev")
    # SWIFT off, Datadog off in dev; cards on; Snowflake on (the loader key exists, but the gate does not wait for it).
    assert "/bank/dev/sd04/swift-alliance-credentials" not in dev and "/bank/dev/sd04/fx-rates-feed-api-key" not in dev
    assert "/bank/dev/sd07/datadog-api-key" not in dev and "/bank/dev/sd07/datadog-key-manager" not in dev
    assert dev["/bank/dev/sd04/cuscal-api-credentials"] and dev["/bank/dev/sd04/monoova-api-credentials"]
    assert dev["/bank/dev/sd07/snowflake-loader-key"] is False  # DESIGN G1
    assert dev["/bank/dev/sd01/db-service"] and dev["/bank/dev/sd08/smoke-test-customer"]
    assert len([p for p in dev if p.rsplit("/", 1)[1] in ("db-service", "db-reporting", "db-migration")]) == 24
    assert dev["/bank/dev/sd07/db-admin"]  # MOD-103 writes it before the foundation gate


def test_uat_and_prod_have_swift_and_datadog():
    for stack in ("uat", "prod"):
        paths = stack_paths(stack)
        for name in ("sd04/swift-alliance-credentials", "sd07/datadog-api-key", "sd07/datadog-key-manager"):
            assert paths[f"/bank/{stack}/{name}"], (stack, name)


def test_local_has_no_cards_and_no_snowflake_secrets():
    local = stack_paths("local")
    assert not [p for p in local if "cuscal" in p or "monoova" in p]
    for name in ("snowflake-loader-key", "snowflake-pipeline-credentials", "apra-connect-credentials"):
        assert f"/bank/local/sd07/{name}" not in local


def test_a_single_jurisdiction_stack_has_only_its_jurisdictions_secrets(tmp_path):
    # An NZ-only stack: no AU rails or bureaus (their modules are AU-only), but the NZ ones.
    import shutil

    shutil.copytree(PROJECT_DIR / "releases", tmp_path / "releases")
    text = (PROJECT_DIR / "Pulumi.dev.yaml").read_text()
    tenants = text[text.index("  bank:tenants:") : text.index("  bank:alertEmail")]
    nz_only = "  bank:tenants:\n    - id: kowhai\n      name: Kowhai Bank\n      institutionType: bank\n      jurisdictions: [NZ]\n"
    (tmp_path / "Pulumi.dev.yaml").write_text(text.replace(tenants, nz_only))
    platform = load_stack_platform(tmp_path, "dev")
    paths = {s.path for s in stack_secrets(load_secrets_manifest(platform.catalogue), platform)}
    assert "/bank/dev/sd05/centrix-api-credentials" in paths and "/bank/dev/sd05/equifax-api-credentials" not in paths
    assert (
        "/bank/dev/sd04/nz-faster-payments-credentials" in paths and "/bank/dev/sd04/npp-fii-credentials" not in paths
    )


# --- Naming a secret -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("reference", "found"),
    [
        ("/bank/dev/sd02/greenid-api-credentials", "sd02/greenid-api-credentials"),
        ("sd02/greenid-api-credentials", "sd02/greenid-api-credentials"),
        ("SD02/greenid-api-credentials", "sd02/greenid-api-credentials"),
        ("greenid-api-credentials", "sd02/greenid-api-credentials"),
    ],
)
def test_a_secret_is_named_by_path_domain_and_name_or_unique_name(reference, found):
    entry, why = load_secrets_manifest().lookup(reference, "dev")
    assert entry is not None and entry.key == found and why == ""


@pytest.mark.parametrize(
    ("reference", "why"),
    [
        ("db-service", "`db-service` is a secret of several domains; name one: /bank/dev/sd01/db-service"),
        ("/bank/prod/sd02/greenid-api-credentials", "is not a secret of environment dev"),
        ("sd02/greenid-api-credential", "did you mean /bank/dev/sd02/greenid-api-credentials?"),
        ("no-such-secret", "the secrets manifest has no secret named `no-such-secret`"),
    ],
)
def test_a_wrong_or_ambiguous_name_says_why(reference, why):
    entry, text = load_secrets_manifest().lookup(reference, "dev")
    assert entry is None and why in text
