"""The stack config schema: the real stack files pass; bad input names the key, the file and the fix."""

from __future__ import annotations

import pytest

from model.errors import ConfigurationError
from model.stack_config import config_from_values, load_stack_config, read_stack_file
from tests.conftest import PROJECT_DIR

STACKS = ("local", "dev", "uat", "prod")


def prod_values(**overrides):
    values, _ = read_stack_file(PROJECT_DIR, "prod")
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
        config_from_values(prod_values(**{"bank:paymnts": '{"swift": {"enabled": true}}'}), "prod")
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
        config_from_values(values, "prod")
    keys = [p.split(":")[1] if p.startswith("bank:") else p for p in caught.value.problems]
    assert len(caught.value.problems) == 4, caught.value.problems
    for key in ("region", "awsAccountId", "alertEmail", "sizing.kinesisShardCount"):
        assert any(k == key for k in keys), (key, caught.value.problems)


def test_prod_refuses_placeholder_values():
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(
            prod_values(**{"bank:awsAccountId": "123456789012", "bank:alertEmail": "changeme@example.com"}), "prod"
        )
    assert any(p.startswith("bank:awsAccountId:") and "placeholder" in p for p in caught.value.problems)
    assert any(p.startswith("bank:alertEmail:") and "placeholder" in p for p in caught.value.problems)


def test_the_same_placeholder_account_is_fine_in_local():
    values, _ = read_stack_file(PROJECT_DIR, "local")
    assert config_from_values(values, "local").aws_account_id == "000000000000"


def test_prod_keeps_audit_records_seven_years():
    with pytest.raises(ConfigurationError, match=r"bank:retention.auditArchiveYears"):
        config_from_values(prod_values(**{"bank:retention": '{"auditArchiveYears": 3}'}), "prod")


def test_stack_name_and_environment_must_match():
    with pytest.raises(ConfigurationError, match="bank:environment: is `prod` but the stack is `uat`"):
        config_from_values(prod_values(), "uat")


def test_nz_prudential_modules_need_nz():
    with pytest.raises(ConfigurationError, match="bank:risk.nzPrudential.enabled"):
        config_from_values(prod_values(**{"bank:jurisdictions": '["AU"]'}), "prod")


def test_only_local_points_at_an_emulator():
    with pytest.raises(ConfigurationError, match="bank:local: only the local stack"):
        config_from_values(prod_values(**{"bank:local": '{"awsEndpoint": "http://localhost:4566"}'}), "prod")
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
            secret_keys=frozenset({"bank:alertEmail"}),
        )
    assert "hunter2" not in str(caught.value)
    assert "bank:alertEmail" in str(caught.value)


def test_a_missing_stack_file_says_how_to_create_it(tmp_path):
    with pytest.raises(ConfigurationError, match="pulumi stack init staging"):
        read_stack_file(tmp_path, "staging")


def test_every_key_has_a_type_and_a_description():
    from model.stack_config import config_fields

    keys = []
    for key, field, _section in config_fields():
        assert field.annotation is not None, key
        assert field.description, f"{key} has no description"
        keys.append(key)
    assert "bank:payments.swift.enabled" in keys and len(keys) > 20


def test_components_never_read_pulumi_config():
    # Config is read once, in __main__.py; builders take the validated model.
    for folder in ("components", "foundation", "domains", "gates", "model"):
        for path in (PROJECT_DIR / folder).rglob("*.py"):
            text = path.read_text(encoding="utf-8")
            assert "pulumi.Config(" not in text and "runtime.config" not in text, path


def test_a_nested_typo_gets_the_closest_key():
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(prod_values(**{"bank:payments": '{"swfit": {"enabled": true}}', "bank:zzz": "1"}), "prod")
    assert caught.value.problems == [
        "bank:payments.swfit: unknown key (did you mean bank:payments.swift?)",
        "bank:zzz: unknown key (a typo, or a key this version does not support)",
    ]
