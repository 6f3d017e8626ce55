"""The production branch is a Neon protected branch (the issue: "Neon's protected-branch settings for the production
branch"): the stack config says so (prod must), the plans carry it, and the dynamic provider (components/neon.py)
protects the branch on create and flips it in place — against the local Neon that validates every request against
Neon's OpenAPI contract (tests/neon_server.py), where `Branch.protected` is set through `PATCH
/projects/{project_id}/branches/{branch_id}` (BranchUpdateRequest) and the project call cannot set it."""

from __future__ import annotations

import pytest

from components.neon import NeonClient, NeonRequestError, ProjectProvider, RetryPolicy
from model.errors import ConfigurationError
from model.stack_config import config_from_values, load_stack_config
from tests.conftest import PROJECT_DIR, engine_config, offline_plan
from tests.neon_server import NeonApiServer
from tests.test_neon_provider import API_KEY, FakeTime, project_props, provider

BRANCH = "/projects/{project_id}/branches/{branch_id}"
PROJECTS = "/projects"
# Written out from the stack files' intent: prod must be protected; uat rehearses prod; dev is left as Neon makes it.
PROTECTED = {"dev": False, "uat": True, "prod": True}


@pytest.fixture
def neon():
    with NeonApiServer(API_KEY) as server:
        yield server
        # Every call the provider made is one Neon's contract accepts, and every answer was on-contract.
        assert server.violations == []


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def live_branch(neon: NeonApiServer, outs: dict) -> dict:
    return neon.branches[outs["branchId"]]


# --- the stack config -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", sorted(PROTECTED))
def test_the_stack_files_protect_the_branch_of_uat_and_prod(stack):
    assert load_stack_config(PROJECT_DIR, stack).neon.protect_branch is PROTECTED[stack]


def test_prod_refuses_an_unprotected_branch_naming_key_file_and_fix():
    values, secret_keys = engine_config("prod")
    values = {**values, "bank:neon": {**values["bank:neon"], "protectBranch": False}}
    with pytest.raises(ConfigurationError) as caught:
        config_from_values(values, "prod", secret_keys)
    assert caught.value.problems == [
        "bank:neon.protectBranch: prod's Neon branch holds the bank's data and must be a protected branch; set true"
    ]
    assert "Pulumi.prod.yaml" in str(caught.value)


@pytest.mark.parametrize("stack", ["dev", "uat"])
def test_other_environments_may_leave_the_branch_unprotected(stack):
    values, secret_keys = engine_config(stack)
    values = {**values, "bank:neon": {**values["bank:neon"], "protectBranch": False}}
    assert config_from_values(values, stack, secret_keys).neon.protect_branch is False


# --- the plans ------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("stack", sorted(PROTECTED))
def test_the_plan_protects_the_production_branch_and_leaves_dev_as_neon_makes_it(stack):
    (project,) = [
        r
        for r in offline_plan(stack).document["deployment"]["resources"]
        if r["type"] == "pulumi-python:dynamic/neon:Project"
    ]
    assert project["inputs"]["branchProtected"] is PROTECTED[stack]


# --- the provider against the local Neon ----------------------------------------------------------------------
def test_create_protects_the_branch_with_a_branch_update_after_the_project(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url, branchProtected=True))

    (post,) = neon.calls("POST", PROJECTS)
    # ProjectCreateRequest's branch has no `protected`: the create cannot carry it ...
    assert "protected" not in post.body["project"]["branch"]
    # ... so the branch is protected by one update of exactly that, once the project's operations are done.
    (patch,) = neon.calls("PATCH", BRANCH)
    assert patch.path == f"/projects/{created.id}/branches/{created.outs['branchId']}"
    assert patch.body == {"branch": {"protected": True}}
    project_ops = [op for op in neon.operations.values() if op.body["project_id"] == created.id]
    assert all(op.body["status"] == "finished" for op in project_ops)
    assert neon.requests.index(patch) > neon.requests.index(post)
    assert live_branch(neon, created.outs)["protected"] is True
    assert created.outs["branchProtected"] is True


def test_create_of_an_unprotected_branch_sends_no_branch_update(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url, branchProtected=False))
    assert neon.calls("PATCH", BRANCH) == []
    assert live_branch(neon, created.outs)["protected"] is False
    assert created.outs["branchProtected"] is False


@pytest.mark.parametrize(("before", "after"), [(False, True), (True, False)])
def test_flipping_protection_is_an_update_not_a_replace(before, after):
    olds = project_props("http://127.0.0.1:9/api/v2/", projectId="p", branchId="br-x", branchProtected=before)
    diff = ProjectProvider().diff("p", olds, {**olds, "branchProtected": after})
    assert diff.changes is True and diff.replaces == []
    assert diff.delete_before_replace is None


def test_state_from_before_protection_existed_means_unprotected():
    # A project created before the provider knew `branchProtected`: its state lacks the key; Neon made its branch
    # unprotected. Unprotected wanted: no change at all. Protected wanted: an update.
    olds = project_props("http://127.0.0.1:9/api/v2/", projectId="p", branchId="br-x")
    del olds["branchProtected"]
    assert ProjectProvider().diff("p", olds, {**olds, "branchProtected": False}).changes is False
    protect = ProjectProvider().diff("p", olds, {**olds, "branchProtected": True})
    assert protect.changes is True and protect.replaces == []


def test_update_protects_the_existing_branch_in_place(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url))
    news = project_props(neon.url, branchProtected=True)
    updated = provider(ProjectProvider, clock).update(created.id, created.outs, news)

    (patch,) = neon.calls("PATCH", BRANCH)
    assert patch.body == {"branch": {"protected": True}}
    assert neon.calls("PATCH", "/projects/{project_id}") == []  # nothing else changed
    assert len(neon.calls("POST", PROJECTS)) == 1  # the same project: no re-create
    assert updated.outs["projectId"] == created.id and updated.outs["branchId"] == created.outs["branchId"]
    assert updated.outs["branchProtected"] is True and live_branch(neon, created.outs)["protected"] is True
    assert updated.outs["adminPassword"] == created.outs["adminPassword"]

    # And back: unprotecting (before a deliberate teardown) is the same kind of update.
    provider(ProjectProvider, clock).update(created.id, updated.outs, project_props(neon.url))
    assert neon.calls("PATCH", BRANCH)[-1].body == {"branch": {"protected": False}}
    assert live_branch(neon, created.outs)["protected"] is False


def test_rename_and_protection_go_in_one_branch_update(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url))
    news = project_props(neon.url, branchName="production", branchProtected=True)
    provider(ProjectProvider, clock).update(created.id, created.outs, news)
    (patch,) = neon.calls("PATCH", BRANCH)
    assert patch.body == {"branch": {"name": "production", "protected": True}}


def test_update_from_state_without_the_key_sends_protection_only_when_wanted(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url))
    olds = {k: v for k, v in created.outs.items() if k != "branchProtected"}
    updated = provider(ProjectProvider, clock).update(created.id, olds, project_props(neon.url, name="bank-dev-2"))
    assert neon.calls("PATCH", BRANCH) == []  # unprotected is what Neon has: nothing sent for the branch
    assert updated.outs["branchProtected"] is False


def test_read_sees_protection_changed_outside_pulumi(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url, branchProtected=True))
    live_branch(neon, created.outs)["protected"] = False  # unprotected in the Neon console
    read = provider(ProjectProvider, clock).read(created.id, created.outs)
    assert read.outs["branchProtected"] is False
    # ... so the next diff puts it back, in place.
    diff = ProjectProvider().diff(created.id, read.outs, project_props(neon.url, branchProtected=True))
    assert diff.changes is True and diff.replaces == []


def test_check_wants_a_boolean():
    failures = ProjectProvider().check({}, project_props("http://127.0.0.1:9/api/v2/", branchProtected="yes")).failures
    assert [(f.property, f.reason) for f in failures] == [("branchProtected", "`branchProtected` is true or false")]
    missing = project_props("http://127.0.0.1:9/api/v2/")
    del missing["branchProtected"]
    assert [f.property for f in ProjectProvider().check({}, missing).failures] == ["branchProtected"]


def test_the_local_neon_holds_branch_protection_to_the_contract(neon, clock):
    # The server validates `protected` as the contract types it: a provider sending anything but a boolean fails.
    created = provider(ProjectProvider, clock).create(project_props(neon.url))
    client = NeonClient(API_KEY, base_url=neon.url, policy=RetryPolicy(attempts=1))
    with pytest.raises(NeonRequestError) as refused:
        client.call("branch_update", created.id, created.outs["branchId"], branch={"protected": "true"})
    assert refused.value.status == 400
    assert neon.violations == [f"PATCH {BRANCH}: branch/protected: 'true' is not of type 'boolean'"]
    neon.violations.clear()
