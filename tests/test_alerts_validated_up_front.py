"""catalogue/alerts.yaml is validated with the stack's other files, before any resource is registered
(nothing is half-deployed): a broken alarm is reported together with a broken stack config."""

from __future__ import annotations

import pytest
import yaml

from model.errors import ConfigurationError
from model.platform import load_platform, load_stack_platform
from model.stack_config import read_stack_file
from tests.conftest import PROJECT_DIR


def test_a_broken_alert_is_reported_with_the_other_files_problems(tmp_path):
    values, _ = read_stack_file(PROJECT_DIR, "dev")
    values["bank:alertEmail"] = "not-an-email"
    alerts = yaml.safe_load((PROJECT_DIR / "catalogue" / "alerts.yaml").read_text())
    alerts["alerts"][0]["period"] = 90  # not a multiple of 60
    alerts_file = tmp_path / "alerts.yaml"
    alerts_file.write_text(yaml.safe_dump(alerts))
    with pytest.raises(ConfigurationError) as caught:
        load_platform(PROJECT_DIR, "dev", values, alerts_file=alerts_file)
    text = str(caught.value)
    assert "Pulumi.dev.yaml has 1 problem(s)" in text and "bank:alertEmail" in text
    assert f"{alerts['alerts'][0]['id']}: period 90s is not a multiple of 60" in text


def test_the_platform_carries_the_alerts_it_validated():
    platform = load_stack_platform(PROJECT_DIR, "dev")
    assert {a.module for a in platform.alerts.alerts} == {"observability-platform", "dba-access-control"}
