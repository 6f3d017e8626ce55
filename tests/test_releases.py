"""Release manifests: every enabled service module pinned to one build; prod refuses anything floating."""

from __future__ import annotations

import pytest

from model.catalogue import load_catalogue
from model.errors import ConfigurationError
from model.platform import resolve_platform
from model.releases import ReleaseManifest, ReleasePin, load_release_manifest, pin_problems
from model.stack_config import load_stack_config
from tests.conftest import PROJECT_DIR

GOOD_SHA = "3c05771d78c9a2009c9e38e927c146b9b2506a57"


def pin(sha: str, artifact: str | None = None) -> ReleasePin:
    return ReleasePin(sha=sha, artifact=artifact or f"bank-core/mod-x/{sha}.zip")


@pytest.mark.parametrize("stack", ("local", "dev", "uat", "prod"))
def test_every_stack_manifest_is_valid(stack):
    platform = resolve_platform(
        stack, load_stack_config(PROJECT_DIR, stack), load_catalogue(), load_release_manifest(PROJECT_DIR, stack)
    )
    for m in platform.enabled_modules():
        assert (m.release is None) == (m.spec.kind == "foundation")


@pytest.mark.parametrize("sha", ["latest", "main", "0" * 40, "feature/new-ledger", "3c05771"])
def test_prod_refuses_placeholders(sha):
    problems = pin_problems("MOD-X", pin(sha, "bank-core/mod-x/build.zip"), "prod")
    assert problems and problems[0].startswith("modules.MOD-X.sha:")


def test_prod_refuses_a_latest_artifact():
    assert pin_problems("MOD-X", pin(GOOD_SHA, f"bank-core/latest/{GOOD_SHA}.zip"), "prod")


def test_dev_may_follow_a_branch_but_not_zeros():
    assert pin_problems("MOD-X", pin("main", "bank-core/mod-x/main.zip"), "dev") == []
    assert pin_problems("MOD-X", pin("0" * 40), "dev") == ["modules.MOD-X.sha: all zeros is not a commit"]


def test_an_artifact_must_be_the_build_of_its_sha():
    problems = pin_problems("MOD-X", pin(GOOD_SHA, "bank-core/mod-x/aaaa.zip"), "uat")
    assert problems == ["modules.MOD-X.artifact: `bank-core/mod-x/aaaa.zip` is not the build of 3c05771d78c9"]


def test_manifest_problems_are_all_reported_with_the_file():
    catalogue = load_catalogue()
    manifest = load_release_manifest(PROJECT_DIR, "prod")
    modules = dict(manifest.modules)
    service = [m for m in catalogue.modules if m.kind == "service"]
    missing, floating = service[0], service[1]
    del modules[missing.id]
    modules[floating.id] = pin("latest", "bank-core/x/latest.zip")
    modules["MOD-104"] = pin(GOOD_SHA)
    modules["MOD-999"] = pin(GOOD_SHA)
    broken = ReleaseManifest(stack="prod", modules=modules)
    with pytest.raises(ConfigurationError) as caught:
        resolve_platform("prod", load_stack_config(PROJECT_DIR, "prod"), catalogue, broken)
    text = str(caught.value)
    assert "releases/prod.yaml has" in text
    assert f"modules.{missing.id}: no release pin for {missing.slug}" in text
    assert f"modules.{floating.id}.sha: `latest` is not a pinned build" in text
    assert "modules.MOD-104: foundation modules are released with this repository" in text
    assert "modules.MOD-999: not a module of the catalogue" in text


def test_a_manifest_for_another_stack_is_refused():
    manifest = load_release_manifest(PROJECT_DIR, "uat")
    with pytest.raises(ConfigurationError, match="stack: is `uat` but the file is for stack `prod`"):
        resolve_platform("prod", load_stack_config(PROJECT_DIR, "prod"), load_catalogue(), manifest)


def test_a_module_needing_one_the_stack_disables_is_refused():
    # Turn SWIFT off in prod while a module that needs it stays on.
    config = load_stack_config(PROJECT_DIR, "prod")
    config = config.model_copy(
        update={
            "payments": config.payments.model_copy(
                update={"swift": config.payments.swift.model_copy(update={"enabled": False})}
            )
        }
    )
    catalogue = load_catalogue()
    swift = catalogue.by_slug()["swift-correspondent-banking"]
    scheduling = catalogue.by_slug()["payment-scheduling"]
    patched = catalogue.model_copy(
        update={
            "modules": tuple(
                m.model_copy(update={"needs": (*m.needs, swift.id)}) if m.id == scheduling.id else m
                for m in catalogue.modules
            )
        }
    )
    with pytest.raises(ConfigurationError) as caught:
        resolve_platform("prod", config, patched, load_release_manifest(PROJECT_DIR, "prod"))
    assert (
        f"{scheduling.id} (payment-scheduling) needs {swift.id} (swift-correspondent-banking), which stack prod disables"
        in str(caught.value)
    )


def test_problems_of_every_input_file_are_reported_together(tmp_path):
    from model.platform import load_platform
    from model.stack_config import read_stack_file

    values, _ = read_stack_file(PROJECT_DIR, "dev")
    values["bank:alertEmail"] = "not-an-email"
    (tmp_path / "releases").mkdir()
    (tmp_path / "releases" / "dev.yaml").write_text("stack: dev\nmodules:\n  MOD-1: {sha: x, artifact: y.zip}\n")
    with pytest.raises(ConfigurationError) as caught:
        load_platform(tmp_path, "dev", values)
    text = str(caught.value)
    assert "Pulumi.dev.yaml has 1 problem(s)" in text and "bank:alertEmail" in text
    assert "releases/dev.yaml has 1 problem(s)" in text and "modules.MOD-1" in text
