"""The stack config schema: the real stack files pass; bad input names the key, the file and the fix."""

from __future__ import annotations

import json

import pytest

from model.errors import ConfigurationError
from model.stack_config import config_from_values, load_stack_config, read_stack_file
from tests.conftest import PROJECT_DIR, engine_config

STACKS = ("local", "dev", "uat", "prod")


PROD_SECRET_KEYS = engine_config("prod")[1]


def prod_values(**overrides):
    values, _ = engine_config("prod")
    return {**values, **overrides}


@pytest.mark.parametrize("stack", STACKS)
def test_every_stack_file_is_valid(stack):
    config = load_stack_config(PROJECT_DIR, stack)
    assert config.environment == stack


def test_stateful_resources_are_protected_in_uat_and_prod_only():
    protected = {s: load_stack_config(PROJECT_DIR, s).protect_stateful for s in STACKS}
    assert protected == {"local": False, "dev": False, "uat": True, "prod": True}


def test_environments_share_no_account():
    # Deployment sequence, "Environment promotion": no shared infrastructure between environments.
    accounts = [load_stack_config(PROJECT_DIR, s).aws_account_id for s in STACKS]
    assert len(set(accounts)) == len(accounts)


def test_a_typo_is_an_error_naming_key_file_and_fix():
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(prod_values(**{"bank:paymnts": '{"swift": {"enabled": true}}'}), "prod", PROD_SECRET_KEYS)
    message = str(caught.value)
    assert "Pulumi.prod.yaml" in message
    assert "bank:paymnts: unknown key (did you mean bank:payments?)" in message
    assert "Fix: edit Pulumi.prod.yaml" in message


def test_every_problem_is_reported_at_once():
    values = prod_values(
        **{"bank:region": "sydney", "bank:awsAccountId": "12345", "bank:sizing": '{"kinesisShardCount": 0}'}
    )
    del values["bank:alertEmail"]
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(values, "prod", PROD_SECRET_KEYS)
    keys = [p.split(":")[1] if p.startswith("bank:") else p for p in caught.value.problems]
    assert len(caught.value.problems) == 4, caught.value.problems
    for key in ("region", "awsAccountId", "alertEmail", "sizing.kinesisShardCount"):
        assert any(k == key for k in keys), (key, caught.value.problems)


def test_prod_refuses_placeholder_values():
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(
            prod_values(**{"bank:awsAccountId": "123456789012", "bank:alertEmail": "changeme@example.com"}),
            "prod",
            PROD_SECRET_KEYS,
        )
    assert any(p.startswith("bank:awsAccountId:") and "placeholder" in p for p in caught.value.problems)
    assert any(p.startswith("bank:alertEmail:") and "placeholder" in p for p in caught.value.problems)


def test_the_same_placeholder_account_is_fine_in_local():
    values, _ = read_stack_file(PROJECT_DIR, "local")
    assert config_from_values(values, "local").aws_account_id == "000000000000"


def test_prod_keeps_audit_records_seven_years():
    with pytest.raises(ConfigurationError, match=r"bank:retention.auditArchiveYears"):
        config_from_values(prod_values(**{"bank:retention": '{"auditArchiveYears": 3}'}), "prod", PROD_SECRET_KEYS)


def test_stack_name_and_environment_must_match():
    with pytest.raises(ConfigurationError, match="bank:environment: is `prod` but the stack is `uat`"):
        config_from_values(prod_values(), "uat")


TENANT = {"id": "totara-bank", "name": "Totara Bank", "institutionType": "bank", "jurisdictions": ["NZ", "AU"]}


def tenants(*items) -> str:
    return json.dumps(list(items))


def test_jurisdictions_are_the_union_of_the_tenants():
    au_credit_union = {**TENANT, "id": "cu", "institutionType": "credit_union", "jurisdictions": ["AU"]}
    nz_bank = {**TENANT, "jurisdictions": ["NZ"]}
    config = config_from_values(
        prod_values(**{"bank:tenants": tenants(nz_bank, au_credit_union)}), "prod", PROD_SECRET_KEYS
    )
    assert config.jurisdictions == ("AU", "NZ")
    config = config_from_values(prod_values(**{"bank:tenants": tenants(nz_bank)}), "prod", PROD_SECRET_KEYS)
    assert config.jurisdictions == ("NZ",)


def test_tenants_are_validated_like_every_other_key():
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(prod_values(**{"bank:tenants": tenants(TENANT, TENANT)}), "prod", PROD_SECRET_KEYS)
    assert "bank:tenants: Value error, tenant id totara-bank is used twice" in str(caught.value)
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(prod_values(**{"bank:tenants": "[]"}), "prod", PROD_SECRET_KEYS)
    assert "bank:tenants: Value error, a stack serves at least one tenant" in str(caught.value)
    bad = {**TENANT, "id": "Totara Bank", "institutionType": "mutual", "jurisdictions": ["NZ", "NZ"]}
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(prod_values(**{"bank:tenants": tenants(bad)}), "prod", PROD_SECRET_KEYS)
    lines = caught.value.problems
    assert any(p.startswith("bank:tenants.0.id: String should match pattern") for p in lines), lines
    assert any(p.startswith("bank:tenants.0.institutionType: Input should be 'bank'") for p in lines), lines
    assert any(p.startswith("bank:tenants.0.jurisdictions: Value error, lists a jurisdiction twice") for p in lines)
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(
            prod_values(**{"bank:tenants": tenants({**TENANT, "institutionTyp": "bank"})}), "prod", PROD_SECRET_KEYS
        )
    assert "bank:tenants.0.institutionTyp: unknown key (did you mean bank:tenants.0.institutionType?)" in str(
        caught.value
    )


def test_the_old_stack_wide_switches_are_gone():
    # A stack serves several institutions: no stack-wide institution type; NZ prudential is per tenant.
    for key, value in (
        ("bank:institutionType", "bank"),
        ("bank:jurisdictions", '["NZ"]'),
        ("bank:risk", '{"nzPrudential": {"enabled": true}}'),
    ):
        with pytest.raises(ConfigurationError, match=f"{key}: unknown key"):
            config_from_values(prod_values(**{key: value}), "prod", PROD_SECRET_KEYS)


@pytest.mark.parametrize("stack", ["dev", "uat", "prod"])
def test_snowflake_is_part_of_phase_0_outside_local(stack):
    values, secret_keys = engine_config(stack)
    values["bank:analytics"] = '{"snowflake": {"enabled": false}}'
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(values, stack, secret_keys)
    assert caught.value.problems == [
        f"bank:analytics.snowflake.enabled: MOD-102 Snowflake is part of Phase 0 in {stack}; "
        "only the local stack may switch analytics off; set true"
    ]


def test_only_local_points_at_an_emulator():
    with pytest.raises(ConfigurationError, match="bank:local: only the local stack"):
        config_from_values(
            prod_values(**{"bank:local": '{"awsEndpoint": "http://localhost:4566"}'}), "prod", PROD_SECRET_KEYS
        )
    local, _ = read_stack_file(PROJECT_DIR, "local")
    del local["bank:local"]
    with pytest.raises(ConfigurationError, match="bank:local.awsEndpoint"):
        config_from_values(local, "local")


def test_a_secret_value_never_appears_in_an_error():
    # alertEmail is not a secret key in practice; marking it secure shows the redaction path.
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(
            prod_values(**{"bank:alertEmail": "hunter2-not-an-email"}),
            "prod",
            secret_keys=PROD_SECRET_KEYS | {"bank:alertEmail"},
        )
    assert "hunter2" not in str(caught.value)
    assert "bank:alertEmail" in str(caught.value)


def test_a_missing_stack_file_says_how_to_create_it(tmp_path):
    with pytest.raises(ConfigurationError, match="pulumi stack init staging"):
        read_stack_file(tmp_path, "staging")


def test_every_key_is_documented():
    from model.stack_config import config_fields

    leaves = []
    for key, field, section in config_fields():
        assert field.description, f"{key} has no description"
        if section is None:
            leaves.append(key)
    # The keys a stack file may set, as the README and `bankctl config docs` list them.
    assert leaves == [
        "bank:environment",
        "bank:region",
        "bank:awsAccountId",
        "bank:tenants[].id",
        "bank:tenants[].name",
        "bank:tenants[].institutionType",
        "bank:tenants[].jurisdictions",
        "bank:alertEmail",
        "bank:payments.swift.enabled",
        "bank:cards.enabled",
        "bank:observability.datadog.enabled",
        "bank:analytics.snowflake.enabled",
        "bank:analytics.snowflake.account",
        "bank:analytics.snowflake.adminUser",
        "bank:analytics.snowflake.warehouseSize",
        "bank:analytics.snowflake.autoSuspendSeconds",
        "bank:retention.logRetentionDays",
        "bank:retention.auditArchiveYears",
        "bank:retention.eventArchiveDays",
        "bank:sizing.kinesisShardCount",
        "bank:sizing.lambdaMemoryMb",
        "bank:sizing.maxReservedConcurrency",
        "bank:release.canaryPercent",
        "bank:release.canaryMinutes",
        "bank:local.awsEndpoint",
        "bank:local.postgresHost",
        "bank:local.postgresPort",
        "bank:github.repository",
        "bank:neon.regionId",
        "bank:neon.pgVersion",
        "bank:neon.historyRetentionSeconds",
        "bank:neon.protectBranch",
        "bank:neonApiKey",
        "bank:snowflakePrivateKey",
    ]


def test_a_secure_value_reaches_the_program_as_a_secret_stand_in(tmp_path):
    # `pulumi config set --secret` writes ciphertext; offline it is never decrypted: the key's documented
    # example stands in for it (so the schema accepts it), and the key is marked secret like the real one.
    text = (PROJECT_DIR / "Pulumi.prod.yaml").read_text()
    text = text.replace(
        "bank:alertEmail: platform-oncall@totarabank.co.nz", "bank:alertEmail:\n    secure: v1:c2VjcmV0"
    )
    text = text.replace("    swift:\n      enabled: true", "    swift:\n      enabled:\n        secure: v1:dHJ1ZQ==")
    (tmp_path / "Pulumi.prod.yaml").write_text(text)
    values, secret_keys = read_stack_file(tmp_path, "prod")
    assert secret_keys == {"bank:alertEmail", "bank:payments"}
    assert values["bank:alertEmail"] == "platform-alerts@totarabank.co.nz"
    assert values["bank:payments"] == {"swift": {"enabled": "offline-stand-in"}}
    assert "v1:" not in json.dumps(values)


def test_components_never_read_pulumi_config():
    # Config is read once, in __main__.py; builders take the validated model.
    for folder in ("components", "foundation", "domains", "gates", "model"):
        for path in (PROJECT_DIR / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "pulumi.Config(" not in text and "runtime.config" not in text, path


def test_a_nested_typo_gets_the_closest_key():
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(
            prod_values(**{"bank:payments": '{"swfit": {"enabled": true}}', "bank:zzz": "1"}), "prod", PROD_SECRET_KEYS
        )
    assert caught.value.problems == [
        "bank:payments.swfit: unknown key (did you mean bank:payments.swift?)",
        "bank:zzz: unknown key (a typo, or a key this version does not support)",
    ]


def test_provider_credentials_must_be_set_and_secret():
    values, secret_keys = engine_config("prod")
    # Set in clear text (`pulumi config set` without --secret): refused, with the fix.
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(values, "prod", secret_keys - {"bank:neonApiKey"})
    assert caught.value.problems == [
        "bank:neonApiKey: is a credential but is not a secret; remove it and set it with "
        "`pulumi config set --secret bank:neonApiKey <value>`"
    ]
    assert values["bank:neonApiKey"] not in str(caught.value)
    # Not set at all: refused before anything is registered.
    del values["bank:snowflakePrivateKey"]
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(values, "prod", secret_keys)
    assert caught.value.problems == [
        "bank:snowflakePrivateKey: required, but not set; a person sets it with "
        "`pulumi config set --secret bank:snowflakePrivateKey`"
    ]
    # local has no Neon (a local PostgreSQL stands in) and no Snowflake: it needs neither.
    local, _ = read_stack_file(PROJECT_DIR, "local")
    assert config_from_values(local, "local").neon_api_key is None
