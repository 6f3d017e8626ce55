"""The Neon dynamic provider (components/neon.py) against a local Neon API that validates every request and
answer against Neon's OpenAPI description (tests/neon_server.py): what each call sends, how Pulumi's diff is
answered, waiting on Neon's operations, bounded retries of 409/423/429/5xx, idempotent create and delete, and a
pickled provider that carries no code path and no credential."""

from __future__ import annotations

import base64
import pickletools
import socket
import subprocess
import sys

import pytest
from pulumi.dynamic.dynamic import serialize_provider

from components.neon import (
    DatabaseProvider,
    EndpointProvider,
    NeonClient,
    NeonOperationError,
    NeonProvider,
    NeonRequestError,
    ProjectProvider,
    RetryPolicy,
)
from tests.conftest import PROJECT_DIR
from tests.neon_server import NeonApiServer

API_KEY = "neon-test-key-7d1c2e9a40b3"
DATABASES = "/projects/{project_id}/branches/{branch_id}/databases"
DATABASE = "/projects/{project_id}/branches/{branch_id}/databases/{database_name}"
OPERATION = "/projects/{project_id}/operations/{operation_id}"
ENDPOINT = "/projects/{project_id}/endpoints/{endpoint_id}"


class FakeTime:
    """The providers' clock and sleep: sleeping advances the clock, so waits and deadlines run instantly."""

    def __init__(self) -> None:
        self.now = 0.0
        self.slept: list[float] = []

    def sleep(self, seconds: float) -> None:
        self.slept.append(seconds)
        self.now += seconds

    def monotonic(self) -> float:
        return self.now


@pytest.fixture
def neon():
    with NeonApiServer(API_KEY) as server:
        yield server
        # Every request the provider made was one Neon's contract accepts, and every answer was on-contract.
        assert server.violations == []


@pytest.fixture
def clock() -> FakeTime:
    return FakeTime()


def provider(cls: type[NeonProvider], clock: FakeTime, **policy) -> NeonProvider:
    made = cls()
    made.sleep, made.clock = clock.sleep, clock.monotonic
    if policy:
        made.retry = RetryPolicy(**policy)
    return made


def project_props(url: str, **changes) -> dict:
    return {
        "apiKey": API_KEY,
        "apiUrl": url,
        "name": "bank-dev",
        "regionId": "aws-ap-southeast-2",
        "pgVersion": 16,
        "historyRetentionSeconds": 86400,
        "branchName": "main",
        "branchProtected": False,
        "adminRoleName": "bank_admin",
        "adminDatabaseName": "bank_admin",
        **changes,
    }


def new_project(neon: NeonApiServer, clock: FakeTime) -> dict:
    created = provider(ProjectProvider, clock).create(project_props(neon.url))
    return created.outs


def database_props(neon: NeonApiServer, project: dict, name: str = "bank_core") -> dict:
    return {
        "apiKey": API_KEY,
        "apiUrl": neon.url,
        "projectId": project["projectId"],
        "branchId": project["branchId"],
        "name": name,
        "ownerName": "bank_admin",
    }


def endpoint_props(neon: NeonApiServer, project: dict) -> dict:
    return {
        "apiKey": API_KEY,
        "apiUrl": neon.url,
        "projectId": project["projectId"],
        "branchId": project["branchId"],
        "regionId": "aws-ap-southeast-2",
        "type": "read_write",
        "poolerEnabled": True,
        "poolerMode": "transaction",
    }


# --- the project ----------------------------------------------------------------------------------------------
def test_project_create_sends_the_stack_settings_and_waits_for_its_operations(neon, clock):
    created = provider(ProjectProvider, clock).create(project_props(neon.url))

    (call,) = neon.calls("POST", "/projects")
    assert call.body == {
        "project": {
            "name": "bank-dev",
            "region_id": "aws-ap-southeast-2",
            "pg_version": 16,
            "history_retention_seconds": 86400,
            "branch": {"name": "main", "role_name": "bank_admin", "database_name": "bank_admin"},
        }
    }
    assert call.authorization == f"Bearer {API_KEY}"
    # Both operations Neon started (branch timeline, compute) were polled until finished before create returned.
    started = {op for op, state in neon.operations.items() if state.body["project_id"] == created.id}
    assert len(started) == 2 and all(neon.operations[op].body["status"] == "finished" for op in started)
    assert {c.path.rsplit("/", 1)[1] for c in neon.calls("GET", OPERATION)} == started
    assert created.id == created.outs["projectId"] and created.outs["branchId"].startswith("br-")
    # The admin role's password, returned once at creation, is kept (stored as a secret output).
    assert created.outs["adminPassword"] == neon.roles[(created.outs["branchId"], "bank_admin")]["password"]


@pytest.mark.parametrize(
    ("key", "value", "replaces"),
    [
        ("regionId", "aws-eu-central-1", True),
        ("pgVersion", 17, True),
        ("adminRoleName", "bank_owner", True),
        ("adminDatabaseName", "bank_owner", True),
        ("historyRetentionSeconds", 604800, False),
        ("name", "bank-dev-2", False),
        ("branchName", "production", False),
        ("apiKey", "rotated-key-000000000", False),
    ],
)
def test_project_diff_replaces_only_what_neon_cannot_change_in_place(key, value, replaces):
    olds = project_props("http://127.0.0.1:9/api/v2/", projectId="p", branchId="br-x")
    diff = ProjectProvider().diff("p", olds, {**olds, key: value})
    assert diff.changes is True
    assert diff.replaces == ([key] if replaces else [])
    assert ProjectProvider().diff("p", olds, dict(olds)).changes is False


def test_project_update_changes_retention_name_and_branch_in_place(neon, clock):
    project = new_project(neon, clock)
    news = {**project_props(neon.url), "historyRetentionSeconds": 604800, "branchName": "production"}
    updated = provider(ProjectProvider, clock).update(project["projectId"], project, news)

    (patch,) = neon.calls("PATCH", "/projects/{project_id}")
    assert patch.body == {"project": {"history_retention_seconds": 604800}}
    (rename,) = neon.calls("PATCH", "/projects/{project_id}/branches/{branch_id}")
    assert rename.body == {"branch": {"name": "production"}}
    assert updated.outs["historyRetentionSeconds"] == 604800 and updated.outs["branchName"] == "production"
    assert updated.outs["projectId"] == project["projectId"]
    assert updated.outs["adminPassword"] == project["adminPassword"]  # not readable again, so carried over


def test_project_read_returns_the_live_state_and_no_id_once_it_is_gone(neon, clock):
    project = new_project(neon, clock)
    neon.projects[project["projectId"]]["history_retention_seconds"] = 3600  # changed in the Neon console
    read = provider(ProjectProvider, clock).read(project["projectId"], project)
    assert read.id == project["projectId"] and read.outs["historyRetentionSeconds"] == 3600

    neon.projects.pop(project["projectId"])  # deleted outside Pulumi
    gone = provider(ProjectProvider, clock).read(project["projectId"], project)
    assert gone.id is None and gone.outs == {}


def test_deletes_are_idempotent(neon, clock):
    project = new_project(neon, clock)
    endpoint = provider(EndpointProvider, clock).create(endpoint_props(neon, project))
    database = provider(DatabaseProvider, clock).create(database_props(neon, project))
    for _ in range(2):  # the second time everything is already gone: 204 or 404, both fine
        provider(DatabaseProvider, clock).delete(database.id, database.outs)
        provider(EndpointProvider, clock).delete(endpoint.id, endpoint.outs)
        provider(ProjectProvider, clock).delete(project["projectId"], project)
    assert [c.method for c in neon.calls(template=DATABASE) if c.method == "DELETE"] == ["DELETE", "DELETE"]
    assert neon.projects == {} and (project["branchId"], "bank_core") not in neon.databases


# --- the compute ----------------------------------------------------------------------------------------------
def test_endpoint_takes_over_the_branch_compute_and_turns_on_transaction_pooling(neon, clock):
    project = new_project(neon, clock)
    created = provider(EndpointProvider, clock).create(endpoint_props(neon, project))

    assert neon.calls("POST", "/projects/{project_id}/endpoints") == []  # Neon made it with the project
    (patch,) = neon.calls("PATCH", ENDPOINT)
    assert patch.body == {"endpoint": {"pooler_enabled": True, "pooler_mode": "transaction"}}
    live = neon.endpoints[created.id]
    assert live["pooler_enabled"] is True and live["pooler_mode"] == "transaction"
    assert created.outs["host"] == f"{created.id}.ap-southeast-2.aws.neon.tech"
    assert created.outs["poolerHost"] == f"{created.id}-pooler.ap-southeast-2.aws.neon.tech"


def test_endpoint_is_created_when_the_branch_has_no_compute(neon, clock):
    project = new_project(neon, clock)
    for endpoint_id in list(neon.endpoints):
        neon.endpoints.pop(endpoint_id)
    created = provider(EndpointProvider, clock).create(endpoint_props(neon, project))
    (post,) = neon.calls("POST", "/projects/{project_id}/endpoints")
    assert post.body["endpoint"] == {
        "branch_id": project["branchId"],
        "region_id": "aws-ap-southeast-2",
        "type": "read_write",
        "pooler_enabled": True,
        "pooler_mode": "transaction",
    }
    assert created.outs["poolerMode"] == "transaction"


def test_endpoint_diff_deletes_before_it_replaces():
    olds = {"apiKey": "k", "projectId": "p", "branchId": "br-a", "regionId": "r", "type": "read_write"}
    moved = EndpointProvider().diff("ep-x", olds, {**olds, "branchId": "br-b"})
    # A branch has one read-write compute: the old one must go first.
    assert moved.replaces == ["branchId"] and moved.delete_before_replace is True
    pooled = EndpointProvider().diff("ep-x", olds, {**olds, "poolerMode": "transaction"})
    assert pooled.changes is True and pooled.replaces == [] and pooled.delete_before_replace is None


# --- the databases --------------------------------------------------------------------------------------------
def test_database_create_is_idempotent_and_a_rename_keeps_the_database(neon, clock):
    project = new_project(neon, clock)
    first = provider(DatabaseProvider, clock).create(database_props(neon, project))
    (post,) = neon.calls("POST", DATABASES)
    assert post.body == {"database": {"name": "bank_core", "owner_name": "bank_admin"}}

    again = provider(DatabaseProvider, clock).create(database_props(neon, project))  # a run interrupted after create
    assert len(neon.calls("POST", DATABASES)) == 1 and again.id == first.id

    renamed = provider(DatabaseProvider, clock).update(
        first.id, first.outs, database_props(neon, project, name="bank_core_v2")
    )
    (patch,) = neon.calls("PATCH", DATABASE)
    assert patch.path.endswith("/databases/bank_core") and patch.body == {"database": {"name": "bank_core_v2"}}
    assert renamed.outs["databaseId"] == first.outs["databaseId"]
    assert provider(DatabaseProvider, clock).read(first.id, renamed.outs).outs["name"] == "bank_core_v2"


def test_database_diff_replaces_only_when_it_moves_to_another_branch():
    olds = {"apiKey": "k", "projectId": "p", "branchId": "br-a", "name": "bank_core", "ownerName": "bank_admin"}
    assert DatabaseProvider().diff("1", olds, {**olds, "branchId": "br-b"}).replaces == ["branchId"]
    assert DatabaseProvider().diff("1", olds, {**olds, "ownerName": "other"}).replaces == []
    assert DatabaseProvider().diff("1", olds, {**olds, "name": "bank_core_v2"}).replaces == []


# --- Neon's asynchronous operations and its failures ----------------------------------------------------------
def test_a_change_waits_while_another_operation_locks_the_project(neon, clock):
    project = new_project(neon, clock)
    neon.start_operation(project["projectId"], ticks=4)  # Neon starting the compute, say
    provider(DatabaseProvider, clock).create(database_props(neon, project))
    posts = neon.calls("POST", DATABASES)
    # The project answered 423 Locked until the other operation finished; then the create went through.
    assert len(posts) >= 2 and (project["branchId"], "bank_core") in neon.databases
    assert len(clock.slept) >= len(posts) - 1


@pytest.mark.parametrize("status", [409, 423, 429, 503])
def test_refusals_are_retried_even_for_a_create(neon, clock, status):
    project = new_project(neon, clock)
    neon.fail("POST", DATABASES, status, status)
    provider(DatabaseProvider, clock).create(database_props(neon, project))
    assert len(neon.calls("POST", DATABASES)) == 3


def test_429_waits_as_long_as_retry_after_says(neon, clock):
    project = new_project(neon, clock)
    clock.slept.clear()
    neon.fail("GET", DATABASE, 429, retry_after="7")
    provider(DatabaseProvider, clock).create(database_props(neon, project))
    assert clock.slept[0] == 7


def test_retries_are_bounded(neon, clock):
    project = new_project(neon, clock)
    neon.fail("POST", DATABASES, *[503] * 5)
    with pytest.raises(NeonRequestError) as failed:
        provider(DatabaseProvider, clock, attempts=4).create(database_props(neon, project))
    assert (failed.value.status, failed.value.attempts) == (503, 4)
    assert len(neon.calls("POST", DATABASES)) == 4


def test_an_ambiguous_failure_repeats_a_read_but_never_a_create(neon, clock):
    project = new_project(neon, clock)
    neon.fail("GET", DATABASE, 500, 502)
    neon.fail("POST", DATABASES, 500)
    with pytest.raises(NeonRequestError) as failed:
        provider(DatabaseProvider, clock).create(database_props(neon, project))
    assert failed.value.status == 500
    assert len(neon.calls("GET", DATABASE)) == 3  # two 5xx, then the 404 that leads to the create
    assert len(neon.calls("POST", DATABASES)) == 1  # may have been carried out: not sent again


def test_a_lost_connection_is_retried_for_reads_only(clock):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed again: nothing listens there
    client = NeonClient(
        API_KEY, base_url=f"http://127.0.0.1:{port}/api/v2/", policy=RetryPolicy(attempts=3), sleep=clock.sleep
    )
    with pytest.raises(NeonRequestError) as read:
        client.call("project", "some-project-123")
    assert (read.value.status, read.value.attempts) == (None, 3)
    with pytest.raises(NeonRequestError) as create:
        client.call("project_create", project={"name": "x"})
    assert create.value.attempts == 1


def test_a_cancelled_operation_fails_the_change(neon, clock):
    project = new_project(neon, clock)
    neon.operation_outcomes.append("cancelled")
    with pytest.raises(NeonOperationError, match="cancelled"):
        provider(DatabaseProvider, clock).create(database_props(neon, project))


def test_an_operation_that_stays_failed_is_waited_on_until_the_deadline(neon, clock):
    project = new_project(neon, clock)
    neon.operation_outcomes.append("failed")  # Neon retries failed operations, so it is not final by itself
    with pytest.raises(NeonOperationError, match="failed: simulated failed; gave up after 60 s"):
        provider(DatabaseProvider, clock, operation_timeout=60, poll_interval=5).create(database_props(neon, project))
    assert clock.now >= 60


def test_check_reports_what_neon_would_refuse():
    failures = ProjectProvider().check({}, {"pgVersion": 13, "historyRetentionSeconds": -1}).failures
    reasons = {f.property: f.reason for f in failures}
    assert {"apiKey", "name", "regionId", "pgVersion", "historyRetentionSeconds"} <= set(reasons)
    assert "14 to 18" in reasons["pgVersion"]
    assert not ProjectProvider().check({}, project_props("http://127.0.0.1:9/api/v2/")).failures


# --- the test server holds the provider to the contract -------------------------------------------------------
def test_the_local_neon_rejects_a_call_off_contract(neon):
    client = NeonClient(API_KEY, base_url=neon.url, policy=RetryPolicy(attempts=1))
    with pytest.raises(NeonRequestError) as bad_body:
        client.call("project_create", project={"name": "x", "pg_version": 99})
    # The official client reveals a password with POST; the contract says GET.
    with pytest.raises(NeonRequestError) as bad_method:
        client.call("role_password_reveal", "some-project-123", "br-x", "bank_admin")
    assert (bad_body.value.status, bad_method.value.status) == (400, 405)
    assert "pg_version: 99 is greater than the maximum of 18" in neon.violations[0]
    assert "allows only GET" in neon.violations[1]
    neon.violations.clear()


def test_the_key_travels_only_in_the_authorization_header(neon, clock):
    project = new_project(neon, clock)
    provider(EndpointProvider, clock).create(endpoint_props(neon, project))
    provider(DatabaseProvider, clock).create(database_props(neon, project))
    assert neon.requests and all(r.authorization == f"Bearer {API_KEY}" for r in neon.requests)
    assert not [r for r in neon.requests if API_KEY in f"{r.path} {r.query} {r.body}"]


# --- what Pulumi stores of the provider -----------------------------------------------------------------------
PROVIDERS = (ProjectProvider, EndpointProvider, DatabaseProvider)


def test_the_pickled_provider_is_a_reference_without_code_paths_or_secrets():
    pickled = {cls.__name__: serialize_provider(cls()) for cls in PROVIDERS}
    for name, serialized in pickled.items():
        ops = list(pickletools.genops(base64.b64decode(serialized)))
        # Module and class name, an empty instance: no code object (so no co_filename), no closure, no state.
        assert [arg for _op, arg, _pos in ops if isinstance(arg, str)] == ["components.neon", name]
        assert {op.name for op, _arg, _pos in ops} <= {
            "PROTO",
            "FRAME",
            "SHORT_BINUNICODE",
            "MEMOIZE",
            "STACK_GLOBAL",
            "EMPTY_TUPLE",
            "NEWOBJ",
            "STOP",
        }
        assert len(serialized) < 100
    # The engine starts the provider process in the project directory: the classes load from there.
    script = "import base64, dill, sys\nfor s in sys.argv[1:]: print(type(dill.loads(base64.b64decode(s))).__name__)"
    loaded = subprocess.run(
        [sys.executable, "-c", script, *pickled.values()], cwd=PROJECT_DIR, capture_output=True, text=True, timeout=120
    )
    assert loaded.stdout.split() == list(pickled), loaded.stderr
