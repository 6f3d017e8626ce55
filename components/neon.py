"""A Pulumi dynamic provider for Neon, over the official `neon-api` client (deployment sequence, step 0.2).

No maintained Pulumi Neon provider can be installed here (TOOLING.md: the registry's one is bridged by the CLI at
install time), so MOD-103's Neon project, its branch's read-write compute and the eight databases are dynamic
resources whose create/read/update/delete/diff run in this module:

- `NeonProject` (`pulumi-python:dynamic/neon:Project`): the project with its default branch, its read-write
  compute and the one admin role, which Neon creates in a single call (`POST /projects`). Region and Postgres
  version cannot change in place (replace); name, history retention (point-in-time recovery), the branch name and
  whether the branch is protected can (update).
- `NeonEndpoint` (`pulumi-python:dynamic/neon:Endpoint`): the branch's read-write compute with PgBouncer
  transaction pooling on (the `-pooler` host). A branch has at most one read-write compute, so create takes
  over the one Neon made with the project, and a replace deletes before it creates.
- `NeonDatabase` (`pulumi-python:dynamic/neon:Database`): one database, owned by the admin role.

Credentials: the Neon API key is a secret *input* of every resource (`apiKey`), never part of the provider
object. A dynamic provider is pickled into the `__provider` input; these providers hold no state and live in an
importable module, so dill pickles them by reference (`components.neon.<Class>`, about 60 characters): no code
object, no file path, no closure, identical in every checkout, and the provider process (started by the engine in
the project directory) imports the code of the commit being deployed.

Neon is asynchronous: every change returns `operations`, polled until finished; while one runs, other changes
answer 423 Locked. Requests are retried, bounded, where the contract says retrying is safe
(`../shared/contracts/neon-api-v2.openapi.json`, GeneralError).
"""

from __future__ import annotations

import inspect
import random
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, ClassVar

import pulumi
import requests
from neon_api import NeonAPI
from pulumi.dynamic import (
    CheckFailure,
    CheckResult,
    CreateResult,
    DiffResult,
    ReadResult,
    Resource,
    ResourceProvider,
    UpdateResult,
)

NEON_API_URL = "https://console.neon.tech/api/v2/"
# Properties every Neon resource carries besides its own: the key (a secret) and, for tests, the API's URL.
CONNECTION_KEYS = ("apiKey", "apiUrl")

# Operation statuses (Neon API reference, Operations): finished and skipped are done; cancelled is terminal and
# means the change did not happen; failed and error are retried by Neon, so they are waited on until the deadline.
DONE_STATUSES = frozenset({"finished", "skipped"})
FAILED_STATUSES = frozenset({"cancelled"})

# Statuses after which a request was not carried out, so it is safe to send again whatever the method
# (contract, GeneralError: "503 … is always safe to retry", "423 Locked … is safe to retry"; 409 and 429 refuse
# the request before acting on it).
RETRY_ALWAYS = frozenset({409, 423, 429, 503})
# Statuses (and lost connections, None) after which a request may or may not have been carried out: sent again only
# when repeating it cannot do harm. GET reads; our PATCHes set absolute values; a repeated DELETE finds 404 and
# counts as done. POST creates, so it is never repeated blindly (creates look for what exists first instead).
RETRY_IF_REPEATABLE = frozenset({None, 500, 502, 504})
REPEATABLE_METHODS = frozenset({"GET", "PATCH", "DELETE"})


@dataclass(frozen=True)
class RetryPolicy:
    """How long to keep trying. Class-level on the providers (never pickled); tests shorten it."""

    attempts: int = 12  # per request, the first try included
    first_delay: float = 1.0  # seconds before the first retry; doubles each time, with jitter
    max_delay: float = 20.0
    request_timeout: float = 60.0  # per HTTP request
    poll_interval: float = 2.0  # between operation polls
    operation_timeout: float = 900.0  # how long one operation may take

    def delay(self, attempt: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return min(retry_after, self.max_delay)
        # Full jitter keeps parallel resources (eight databases) from retrying in lockstep against one lock.
        return min(self.max_delay, self.first_delay * 2**attempt) * (0.5 + random.random() / 2)


class NeonRequestError(Exception):
    """A Neon API request that failed for good, with its HTTP status (None: no response)."""

    def __init__(self, method: str, path: str, status: int | None, message: str, attempts: int):
        self.method, self.path, self.status, self.attempts = method, path, status, attempts
        shown = f"HTTP {status}" if status is not None else "no response"
        super().__init__(f"Neon API {method} {path}: {shown} after {attempts} attempt(s): {message}")


class NeonOperationError(Exception):
    """A Neon operation that was cancelled, or did not finish in time."""


class NeonClient(NeonAPI):
    """The official client's requests (its method names and paths), sent with a timeout, bounded retries and the
    HTTP status kept on failure (the client's own error keeps only the text)."""

    def __init__(
        self,
        api_key: str,
        *,
        base_url: str = NEON_API_URL,
        policy: RetryPolicy | None = None,
        sleep: Callable[[float], None] = time.sleep,
        clock: Callable[[], float] = time.monotonic,
    ):
        super().__init__(api_key, base_url=base_url if base_url.endswith("/") else base_url + "/")
        self.policy, self._sleep, self._clock = policy or RetryPolicy(), sleep, clock

    def _request(self, method: str, path: str, **kwargs: Any) -> dict[str, Any]:
        headers = {
            "Authorization": f"Bearer {self._api_key}",
            "Accept": "application/json",
            "Content-Type": "application/json",
            "User-Agent": self.user_agent,
        }
        for attempt in range(self.policy.attempts):
            status, message, retry_after = None, "", None
            try:
                response = self._session.request(
                    method, self.base_url + path, headers=headers, timeout=self.policy.request_timeout, **kwargs
                )
            except (requests.ConnectionError, requests.Timeout) as exc:
                message = type(exc).__name__
            else:
                if response.status_code < 400:
                    # 204: "the endpoint/database doesn't exist or has already been deleted" (no body).
                    return response.json() if response.content else {}
                status, message = response.status_code, _error_message(response)
                retry_after = _retry_after(response)
            retryable = status in RETRY_ALWAYS or (status in RETRY_IF_REPEATABLE and method in REPEATABLE_METHODS)
            if not retryable or attempt == self.policy.attempts - 1:
                raise NeonRequestError(method, "/" + path, status, message, attempt + 1)
            self._sleep(self.policy.delay(attempt, retry_after))
        raise AssertionError("unreachable")  # pragma: no cover

    def call(self, method: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        """A method of the official client, returning the API's JSON. Its decorators turn answers into pydantic
        models that drop fields we need (`database_create` is declared `DatabaseResponse`, so the `operations` to
        wait for are lost), so the undecorated function is called."""
        return inspect.unwrap(getattr(NeonAPI, method))(self, *args, **kwargs)

    def get_or_none(self, method: str, *args: Any) -> dict[str, Any] | None:
        try:
            return self.call(method, *args)
        except NeonRequestError as exc:
            if exc.status == 404:
                return None
            raise

    def wait(self, project_id: str, operations: Iterable[dict[str, Any]]) -> None:
        """Poll each operation a change started until it is done (bounded by `operation_timeout`)."""
        for operation in operations:
            deadline = self._clock() + self.policy.operation_timeout
            while operation["status"] not in DONE_STATUSES:
                if operation["status"] in FAILED_STATUSES:
                    raise NeonOperationError(_describe(operation))
                if self._clock() >= deadline:
                    raise NeonOperationError(
                        f"{_describe(operation)}; gave up after {self.policy.operation_timeout:g} s"
                    )
                self._sleep(self.policy.poll_interval)
                operation = self.call("operation", project_id, operation["id"])["operation"]


def _describe(operation: dict[str, Any]) -> str:
    error = f": {operation['error']}" if operation.get("error") else ""
    return f"Neon operation {operation['id']} ({operation.get('action')}) is {operation['status']}{error}"


def _error_message(response: requests.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("message", body)) if isinstance(body, dict) else str(body)


def _retry_after(response: requests.Response) -> float | None:
    value = response.headers.get("Retry-After", "")
    return float(value) if value.replace(".", "", 1).isdigit() else None


def pooler_host(host: str) -> str:
    """The PgBouncer host of a compute: its endpoint id label with `-pooler` (Neon, Connection pooling)."""
    label, _, domain = host.partition(".")
    return f"{label}-pooler.{domain}"


# --- Providers ------------------------------------------------------------------------------------------------
class NeonProvider(ResourceProvider):
    """Diff, check and the client, shared by the three resource kinds.

    `replace_keys` cannot change in place; `update_keys` can. A changed key or URL is an update that calls nothing
    but stores the new value, so a rotated key reaches the state (delete and refresh use the stored one).
    """

    # The pickled provider holds no state and no secret, so it need not be a secret: the plan shows it and a
    # reviewer sees it never changes (dynamic.py: otherwise `__provider` is always a secret).
    serialize_as_secret_always = False
    retry: ClassVar[RetryPolicy] = RetryPolicy()
    # Waiting and the clock it is measured by (tests stand in a fake clock, so no test sleeps for real).
    sleep: ClassVar[Callable[[float], None]] = staticmethod(time.sleep)
    clock: ClassVar[Callable[[], float]] = staticmethod(time.monotonic)
    kind: ClassVar[str] = ""
    required: ClassVar[tuple[str, ...]] = ()
    replace_keys: ClassVar[tuple[str, ...]] = ()
    update_keys: ClassVar[tuple[str, ...]] = ()
    # What Neon has for a key the stored state predates: diff compares against it, so adding a key to a provider
    # changes nothing where the wanted value is what Neon already has.
    unset_means: ClassVar[dict[str, Any]] = {}
    delete_before_replace: ClassVar[bool] = False

    def client(self, props: dict[str, Any]) -> NeonClient:
        return NeonClient(
            props["apiKey"],
            base_url=props.get("apiUrl") or NEON_API_URL,
            policy=self.retry,
            sleep=self.sleep,
            clock=self.clock,
        )

    def check(self, _olds: dict[str, Any], news: dict[str, Any]) -> CheckResult:
        failures = [
            CheckFailure(key, f"Neon {self.kind}: `{key}` is required")
            for key in ("apiKey", *self.required)
            if news.get(key) in (None, "")
        ]
        failures += self.check_values(news)
        return CheckResult(news, failures)

    def check_values(self, news: dict[str, Any]) -> list[CheckFailure]:
        return []

    def diff(self, _id: str, olds: dict[str, Any], news: dict[str, Any]) -> DiffResult:
        keys = (*self.replace_keys, *self.update_keys, *CONNECTION_KEYS)
        changed = [k for k in keys if olds.get(k, self.unset_means.get(k)) != news.get(k)]
        replaces = [k for k in changed if k in self.replace_keys]
        return DiffResult(
            changes=bool(changed),
            replaces=replaces,
            stables=[k for k in self.replace_keys if k not in changed],
            delete_before_replace=self.delete_before_replace if replaces else None,
        )

    @staticmethod
    def carried(props: dict[str, Any], keys: Iterable[str]) -> dict[str, Any]:
        """The inputs kept in the outputs under their own names, so diff and delete see them."""
        return {k: props[k] for k in (*CONNECTION_KEYS, *keys) if k in props}


class ProjectProvider(NeonProvider):
    kind = "project"
    required = (
        "name",
        "regionId",
        "pgVersion",
        "historyRetentionSeconds",
        "branchName",
        "branchProtected",
        "adminRoleName",
    )
    # Neon cannot move a project to another region or Postgres major version, nor rename a role (the admin role
    # and its database are created with the project).
    replace_keys = ("regionId", "pgVersion", "adminRoleName", "adminDatabaseName")
    # Protecting the branch is a PATCH of the branch (contract: BranchUpdateRequest.branch.protected): in place.
    update_keys = ("name", "historyRetentionSeconds", "branchName", "branchProtected")
    # The branch Neon creates with the project is unprotected (ProjectCreateRequest's branch has no `protected`).
    unset_means = {"branchProtected": False}

    def check_values(self, news: dict[str, Any]) -> list[CheckFailure]:
        failures = []
        pg, retention = news.get("pgVersion"), news.get("historyRetentionSeconds")
        if isinstance(pg, (int, float)) and not 14 <= pg <= 18:
            failures.append(CheckFailure("pgVersion", "Neon runs PostgreSQL 14 to 18"))
        if isinstance(retention, (int, float)) and not 0 <= retention <= 2592000:
            failures.append(CheckFailure("historyRetentionSeconds", "Neon keeps 0 to 2592000 seconds of history"))
        if news.get("branchProtected") is not None and not isinstance(news["branchProtected"], bool):
            failures.append(CheckFailure("branchProtected", "`branchProtected` is true or false"))
        return failures

    def create(self, props: dict[str, Any]) -> CreateResult:
        neon = self.client(props)
        branch = {"name": props["branchName"], "role_name": props["adminRoleName"]}
        if props.get("adminDatabaseName"):
            branch["database_name"] = props["adminDatabaseName"]
        created = neon.call(
            "project_create",
            project={
                "name": props["name"],
                "region_id": props["regionId"],
                "pg_version": int(props["pgVersion"]),
                "history_retention_seconds": int(props["historyRetentionSeconds"]),
                "branch": branch,
            },
        )
        project_id = created["project"]["id"]
        neon.wait(project_id, created.get("operations", []))
        # The admin role's password is returned once, at creation (Neon: "at least one non-protected role is
        # created with a password"); it is kept as a secret output.
        password = next((r.get("password") for r in created["roles"] if r["name"] == props["adminRoleName"]), None)
        if not password:
            raise NeonRequestError("POST", "/projects", 201, "Neon returned no password for the admin role", 1)
        branch = created["branch"]
        if props.get("branchProtected"):
            # The project call cannot protect its branch (ProjectCreateRequest has no `protected`): a branch update
            # right after, before anything is put on the branch.
            branch = self._update_branch(neon, project_id, branch["id"], {"protected": True})
        outs = self._state(props, created["project"], branch)
        return CreateResult(project_id, {**outs, "adminPassword": password})

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        neon = self.client(props)
        project = neon.get_or_none("project", id_)
        if project is None:
            return ReadResult(None, {})
        branch = neon.get_or_none("branch", id_, props["branchId"])
        if branch is None:
            return ReadResult(None, {})
        state = self._state(props, project["project"], branch["branch"])
        return ReadResult(id_, {**state, "adminPassword": props.get("adminPassword")})

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        neon = self.client(news)
        changes = {
            api: news[key]
            for key, api in (("name", "name"), ("historyRetentionSeconds", "history_retention_seconds"))
            if olds.get(key) != news.get(key)
        }
        project = None
        if changes:
            updated = neon.call("project_update", id_, project=changes)
            neon.wait(id_, updated.get("operations", []))
            project = updated["project"]
        # Renaming and (un)protecting the branch are one PATCH of it.
        branch_changes = {
            api: news[key]
            for key, api in (("branchName", "name"), ("branchProtected", "protected"))
            if olds.get(key, self.unset_means.get(key)) != news.get(key)
        }
        branch = self._update_branch(neon, id_, olds["branchId"], branch_changes) if branch_changes else None
        project = project or neon.call("project", id_)["project"]
        branch = branch or neon.call("branch", id_, olds["branchId"])["branch"]
        return UpdateResult({**self._state(news, project, branch), "adminPassword": olds.get("adminPassword")})

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        # Deleting a project deletes its data: in uat and prod the resource is protected (stateful_options). Neon
        # refuses to delete a project with a protected branch (Neon docs, "Protected branches"), and so it should:
        # the branch is never unprotected here; a person does that (`branchProtected: false`, an update) first.
        self.client(props).get_or_none("project_delete", id_)

    @staticmethod
    def _update_branch(neon: NeonClient, project_id: str, branch_id: str, changes: dict[str, Any]) -> dict[str, Any]:
        updated = neon.call("branch_update", project_id, branch_id, branch=changes)
        neon.wait(project_id, updated.get("operations", []))
        return updated["branch"]

    def _state(self, props: dict[str, Any], project: dict[str, Any], branch: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.carried(props, ("adminRoleName", "adminDatabaseName")),
            "projectId": project["id"],
            "name": project["name"],
            "regionId": project["region_id"],
            "pgVersion": project["pg_version"],
            "historyRetentionSeconds": project["history_retention_seconds"],
            "branchId": branch["id"],
            "branchName": branch["name"],
            "branchProtected": branch["protected"],
        }


class EndpointProvider(NeonProvider):
    kind = "endpoint"
    required = ("projectId", "branchId", "regionId", "type")
    replace_keys = ("projectId", "branchId", "regionId", "type")
    update_keys = ("poolerEnabled", "poolerMode")
    # One read-write compute per branch: the old one must go before the new one can exist. (Neon never deletes the
    # compute of a protected branch, so in uat and prod such a replace stops at the delete, as it should.)
    delete_before_replace = True

    def check_values(self, news: dict[str, Any]) -> list[CheckFailure]:
        if news.get("poolerMode") not in (None, "transaction") and isinstance(news.get("poolerMode"), str):
            return [CheckFailure("poolerMode", "Neon's PgBouncer runs in transaction mode only")]
        return []

    def create(self, props: dict[str, Any]) -> CreateResult:
        neon = self.client(props)
        project_id = props["projectId"]
        existing = [
            e
            for e in neon.call("endpoints", project_id)["endpoints"]
            if e["branch_id"] == props["branchId"] and e["type"] == props["type"]
        ]
        if existing and props["type"] == "read_write":
            # Neon made this compute with the project; take it over and set its pooling.
            endpoint = self._apply(neon, props, existing[0])
        else:
            created = neon.call(
                "endpoint_create",
                project_id,
                endpoint={
                    "branch_id": props["branchId"],
                    "region_id": props["regionId"],
                    "type": props["type"],
                    **self._settings(props),
                },
            )
            neon.wait(project_id, created.get("operations", []))
            endpoint = created["endpoint"]
        return CreateResult(endpoint["id"], self._state(props, endpoint))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self.client(props).get_or_none("endpoint", props["projectId"], id_)
        if found is None:
            return ReadResult(None, {})
        return ReadResult(id_, self._state(props, found["endpoint"]))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        neon = self.client(news)
        endpoint = self._apply(neon, news, neon.call("endpoint", news["projectId"], id_)["endpoint"])
        return UpdateResult(self._state(news, endpoint))

    def delete(self, id_: str, props: dict[str, Any]) -> None:
        neon = self.client(props)
        deleted = neon.get_or_none("endpoint_delete", props["projectId"], id_) or {}
        neon.wait(props["projectId"], deleted.get("operations", []))

    def _apply(self, neon: NeonClient, props: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
        wanted = self._settings(props)
        if all(endpoint.get(k) == v for k, v in wanted.items()):
            return endpoint
        updated = neon.call("endpoint_update", props["projectId"], endpoint["id"], endpoint=wanted)
        neon.wait(props["projectId"], updated.get("operations", []))
        return updated["endpoint"]

    @staticmethod
    def _settings(props: dict[str, Any]) -> dict[str, Any]:
        keys = (("poolerEnabled", "pooler_enabled"), ("poolerMode", "pooler_mode"))
        return {api: props[key] for key, api in keys if props.get(key) is not None}

    def _state(self, props: dict[str, Any], endpoint: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.carried(props, ()),
            "endpointId": endpoint["id"],
            "projectId": endpoint["project_id"],
            "branchId": endpoint["branch_id"],
            "regionId": endpoint["region_id"],
            "type": endpoint["type"],
            "poolerEnabled": endpoint["pooler_enabled"],
            "poolerMode": endpoint["pooler_mode"],
            "host": endpoint["host"],
            "poolerHost": pooler_host(endpoint["host"]),
        }


class DatabaseProvider(NeonProvider):
    kind = "database"
    required = ("projectId", "branchId", "name", "ownerName")
    replace_keys = ("projectId", "branchId")
    # Neon renames a database and changes its owner in place (PATCH), keeping its data.
    update_keys = ("name", "ownerName")

    def create(self, props: dict[str, Any]) -> CreateResult:
        neon = self.client(props)
        where = (props["projectId"], props["branchId"])
        existing = neon.get_or_none("database", *where, props["name"])
        if existing is None:
            created = neon.call(
                "database_create", *where, database={"name": props["name"], "owner_name": props["ownerName"]}
            )
            neon.wait(props["projectId"], created.get("operations", []))
            database = created["database"]
        else:
            # Idempotent: a database left by an interrupted run is taken over, and given the wanted owner.
            database = self._apply(neon, props, props["name"], existing["database"])
        return CreateResult(str(database["id"]), self._state(props, database))

    def read(self, id_: str, props: dict[str, Any]) -> ReadResult:
        found = self.client(props).get_or_none("database", props["projectId"], props["branchId"], props["name"])
        if found is None:
            return ReadResult(None, {})
        return ReadResult(str(found["database"]["id"]), self._state(props, found["database"]))

    def update(self, id_: str, olds: dict[str, Any], news: dict[str, Any]) -> UpdateResult:
        neon = self.client(news)
        current = neon.call("database", news["projectId"], news["branchId"], olds["name"])["database"]
        return UpdateResult(self._state(news, self._apply(neon, news, olds["name"], current)))

    def delete(self, _id: str, props: dict[str, Any]) -> None:
        # Dropping a database drops its data: in uat and prod the resource is protected (stateful_options).
        neon = self.client(props)
        deleted = neon.get_or_none("database_delete", props["projectId"], props["branchId"], props["name"]) or {}
        neon.wait(props["projectId"], deleted.get("operations", []))

    @staticmethod
    def _apply(neon: NeonClient, props: dict[str, Any], current_name: str, database: dict[str, Any]) -> dict[str, Any]:
        changes = {
            api: props[key]
            for key, api in (("name", "name"), ("ownerName", "owner_name"))
            if database[api] != props[key]
        }
        if not changes:
            return database
        updated = neon.call("database_update", props["projectId"], props["branchId"], current_name, database=changes)
        neon.wait(props["projectId"], updated.get("operations", []))
        return updated["database"]

    def _state(self, props: dict[str, Any], database: dict[str, Any]) -> dict[str, Any]:
        return {
            **self.carried(props, ("projectId",)),
            "databaseId": database["id"],
            "branchId": database["branch_id"],
            "name": database["name"],
            "ownerName": database["owner_name"],
        }


# --- Resources ------------------------------------------------------------------------------------------------
def _secret_options(opts: pulumi.ResourceOptions | None, *names: str) -> pulumi.ResourceOptions:
    # The key (and the admin password) are stored as secrets whatever the provider returns.
    return pulumi.ResourceOptions.merge(opts, pulumi.ResourceOptions(additional_secret_outputs=["apiKey", *names]))


class NeonProject(Resource, module="neon", name="Project"):
    projectId: pulumi.Output[str]
    branchId: pulumi.Output[str]
    adminRoleName: pulumi.Output[str]
    adminPassword: pulumi.Output[str]
    regionId: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        api_key: pulumi.Input[str],
        name: pulumi.Input[str],
        region_id: pulumi.Input[str],
        pg_version: pulumi.Input[int],
        history_retention_seconds: pulumi.Input[int],
        branch_name: str,
        branch_protected: pulumi.Input[bool],
        admin_role_name: str,
        admin_database_name: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "apiKey": pulumi.Output.secret(api_key),
            "name": name,
            "regionId": region_id,
            "pgVersion": pg_version,
            "historyRetentionSeconds": history_retention_seconds,
            "branchName": branch_name,
            "branchProtected": branch_protected,
            "adminRoleName": admin_role_name,
            "adminDatabaseName": admin_database_name,
            "projectId": None,
            "branchId": None,
            "adminPassword": None,
        }
        super().__init__(ProjectProvider(), resource_name, props, _secret_options(opts, "adminPassword"))


class NeonEndpoint(Resource, module="neon", name="Endpoint"):
    endpointId: pulumi.Output[str]
    host: pulumi.Output[str]
    poolerHost: pulumi.Output[str]
    poolerMode: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        api_key: pulumi.Input[str],
        project_id: pulumi.Input[str],
        branch_id: pulumi.Input[str],
        region_id: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "apiKey": pulumi.Output.secret(api_key),
            "projectId": project_id,
            "branchId": branch_id,
            "regionId": region_id,
            "type": "read_write",
            # Application traffic goes through PgBouncer in transaction mode (step 0.2, "PgBouncer connection
            # pools"); the pooled host exists while pooling is enabled on the compute.
            "poolerEnabled": True,
            "poolerMode": "transaction",
            "endpointId": None,
            "host": None,
            "poolerHost": None,
        }
        super().__init__(EndpointProvider(), resource_name, props, _secret_options(opts))


class NeonDatabase(Resource, module="neon", name="Database"):
    databaseId: pulumi.Output[int]
    name: pulumi.Output[str]
    ownerName: pulumi.Output[str]

    def __init__(
        self,
        resource_name: str,
        *,
        api_key: pulumi.Input[str],
        project_id: pulumi.Input[str],
        branch_id: pulumi.Input[str],
        name: str,
        owner_name: pulumi.Input[str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        props = {
            "apiKey": pulumi.Output.secret(api_key),
            "projectId": project_id,
            "branchId": branch_id,
            "name": name,
            "ownerName": owner_name,
            "databaseId": None,
        }
        super().__init__(DatabaseProvider(), resource_name, props, _secret_options(opts))
