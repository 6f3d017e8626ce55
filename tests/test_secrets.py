"""Secrets stay secret: no plaintext of a secret config value or an environment credential reaches a
resource input, a plan, or anything bankctl prints — tested with the real __main__.py."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

from bankctl.plan_command import plan_stack
from bankctl.recording import SECRET_SIG, SIG_KEY
from tests.conftest import PROJECT_DIR

KNOWN_PLAINTEXT = "oncall-7f3a9c@totarabank.co.nz"
MARKER = {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}


def test_a_secret_key_reaches_every_resource_only_as_a_secret():
    # As `pulumi config set --secret bank:alertEmail …` hands it to the program: plaintext plus its key
    # in the secret keys. bank:alertEmail feeds MOD-076's on-call subscription.
    plan = plan_stack("dev", secret_values={"bank:alertEmail": KNOWN_PLAINTEXT})
    assert KNOWN_PLAINTEXT not in plan.text
    assert "oncall-7f3a9c" not in plan.text
    subscriptions = [
        r
        for r in plan.document["deployment"]["resources"]
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
    ]
    assert len(subscriptions) == 2  # the critical and warning alert topics
    assert all(s["inputs"]["endpoint"] == MARKER for s in subscriptions)
    # And without --secret, the same value is visible, as a reviewer needs it (so the check above can fail).
    plain = plan_stack("dev")
    subscriptions = [
        r
        for r in plain.document["deployment"]["resources"]
        if r["type"] == "aws:sns/topicSubscription:TopicSubscription"
    ]
    assert [s["inputs"]["endpoint"] for s in subscriptions] == ["platform-alerts-dev@totarabank.co.nz"] * 2


def project_copy(tmp_path, edit_stack_file) -> None:
    """The whole project (not its virtualenv) in another folder, with Pulumi.dev.yaml edited."""
    shutil.copytree(
        PROJECT_DIR,
        tmp_path,
        dirs_exist_ok=True,
        ignore=shutil.ignore_patterns(".venv", ".git", "build", "__pycache__", ".hypothesis"),
    )
    stack_file = tmp_path / "Pulumi.dev.yaml"
    stack_file.write_text(edit_stack_file(stack_file.read_text()))


def bankctl_plan(project_dir, out, **env):
    return subprocess.run(
        [sys.executable, "-m", "bankctl", "plan", "dev", "--waves", "--out", str(out)],
        cwd=project_dir,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_a_secure_stack_value_is_never_decrypted_or_shown(tmp_path):
    ciphertext = "v1:QUJDREVGR0hJSktMTU5PUA==:c2VjcmV0LWFsZXJ0LWVtYWlsLXZhbHVl"
    project = tmp_path / "project"
    project_copy(
        project,
        lambda text: text.replace(
            "bank:alertEmail: platform-alerts-dev@totarabank.co.nz", f"bank:alertEmail:\n    secure: {ciphertext}"
        ),
    )
    result = bankctl_plan(project, tmp_path / "plan.json")
    assert result.returncode == 0, result.stderr
    printed = result.stdout + result.stderr + (tmp_path / "plan.json").read_text()
    # The stand-in the offline plan passes for it is marked secret like the real value would be.
    for text in (ciphertext, "QUJD", "platform-alerts@totarabank.co.nz", "platform-alerts-dev"):
        assert text not in printed, text


def test_no_environment_credential_enters_the_plan(tmp_path):
    fake = {
        "AWS_ACCESS_KEY_ID": "AKIAFAKEFAKEFAKE7Q2Z",
        "AWS_SECRET_ACCESS_KEY": "fakeSecretAccessKey/9d8c7b6a5f4e3d2c1b0a",
        "AWS_SESSION_TOKEN": "FakeSessionToken//4b3c2d1e0f",
        "PULUMI_ACCESS_TOKEN": "pul-fakefakefakefakefakefakefakefake0001",
        "NEON_API_KEY": "neon-fake-api-key-0002",
    }
    result = bankctl_plan(PROJECT_DIR, tmp_path / "plan.json", **fake)
    assert result.returncode == 0, result.stderr
    printed = result.stdout + result.stderr + (tmp_path / "plan.json").read_text()
    for value in fake.values():
        assert value not in printed
    # The gate commands carry only names and endpoints the checks need; the Flyway commands add Flyway's
    # settings and the migration role's login, whose password is a secret (tests/test_flyway_migration.py).
    plan = json.loads((tmp_path / "plan.json").read_text())
    for r in plan["deployment"]["resources"]:
        if r["type"] == "command:local:Command":
            environment = r["inputs"].get("environment", {})
            if "::bank:components:FlywayMigration::" in r["parent"]:
                assert environment["FLYWAY_PASSWORD"] == {SIG_KEY: SECRET_SIG, "ciphertext": "[secret]"}, r["urn"]
                environment = {k: v for k, v in environment.items() if not k.startswith("FLYWAY_")}
            # Gates also get the URLs of their phase's domain APIs (BANK_API_URL_SDxx): addresses, not credentials.
            environment = {k: v for k, v in environment.items() if not k.startswith("BANK_API_URL_")}
            assert set(environment) <= {"AWS_REGION", "AWS_ENDPOINT_URL"}, r["urn"]
