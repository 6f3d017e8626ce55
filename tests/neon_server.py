"""A local Neon API for the dynamic provider's tests: every request is checked against Neon's own OpenAPI
description (`../shared/contracts/neon-api-v2.openapi.json`), and every answer too.

- Routing is the contract's: a request must name one of its paths (literal segments win over parameters, so
  `/projects/shared` is not a project id) and one of that path's methods; path and query parameters, the bearer
  token and the JSON body are validated against the operation's definition (openapi-schema-validator, OAS 3.0,
  write rules for requests and read rules for responses). A request that breaks the contract is answered 400 (or
  404/405/401) and recorded in `violations`, which the tests' fixture requires to be empty: a call Neon would
  reject fails the test.
- The answers come from a small in-memory Neon: projects with their default branch, read-write compute, admin
  role (with its password) and database; computes; databases; operations. Operations run for `operation_ticks`
  requests of their project (each request is a tick) and a project with a running operation answers any change
  with 423 Locked, as Neon does. `fail()` scripts failures (409, 423, 429 with Retry-After, 5xx, 404) for the next
  matching requests; `operation_outcomes` makes the next operations end cancelled, or stay failed.
- The server runs in a thread on 127.0.0.1, port 0.
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from openapi_schema_validator import OAS30ReadValidator, OAS30WriteValidator, oas30_format_checker
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT4

from tests.conftest import PROJECT_DIR

CONTRACT = PROJECT_DIR.parent / "shared" / "contracts" / "neon-api-v2.openapi.json"
BASE_PATH = "/api/v2"
_SPEC_URI = "urn:neon-api-v2"
NOW = "2025-01-01T00:00:00Z"
_WORDS = (("ancient", "bold", "calm", "damp"), ("bird", "cloud", "dawn", "field"))


@dataclass(frozen=True)
class Operation:
    """One operation of the contract: its path template, method and definition."""

    template: str
    method: str
    definition: dict[str, Any]
    parameters: list[dict[str, Any]]
    pattern: re.Pattern[str]
    literal_segments: int


@dataclass
class RecordedRequest:
    method: str
    template: str
    path: str
    query: dict[str, str]
    body: Any
    authorization: str


@dataclass
class _Failure:
    method: str
    template: str
    status: int
    retry_after: str | None


@dataclass
class _NeonOperation:
    body: dict[str, Any]
    ticks_left: int
    outcome: str  # the status it ends in: finished, cancelled, or failed (and stays failed)


class Contract:
    """The OpenAPI description, its operations by path, and validators that resolve its `$ref`s locally."""

    def __init__(self, path: Path = CONTRACT):
        self.spec = json.loads(path.read_text(encoding="utf-8"))
        self.registry = Registry().with_resource(_SPEC_URI, Resource.from_contents(self.spec, DRAFT4))
        self._validators: dict[tuple[str, bool], Any] = {}
        self.operations: list[Operation] = []
        for template, item in self.spec["paths"].items():
            shared = item.get("parameters", [])
            for method, definition in item.items():
                if method == "parameters":
                    continue
                regex = re.sub(r"\\\{(\w+)\\\}", r"(?P<\1>[^/]+)", re.escape(template))
                self.operations.append(
                    Operation(
                        template=template,
                        method=method.upper(),
                        definition=definition,
                        parameters=[self.resolve(p) for p in (*shared, *definition.get("parameters", []))],
                        pattern=re.compile(f"^{regex}$"),
                        literal_segments=sum(1 for s in template.split("/") if s and not s.startswith("{")),
                    )
                )

    def resolve(self, node: dict[str, Any]) -> dict[str, Any]:
        while "$ref" in node:
            target: Any = self.spec
            for part in node["$ref"].removeprefix("#/").split("/"):
                target = target[part]
            node = target
        return node

    def errors(self, schema: dict[str, Any], instance: Any, *, request: bool) -> list[str]:
        """What is wrong with `instance` (a request part or an answer) under `schema`, by OAS 3.0 rules."""
        text = json.dumps(schema, sort_keys=True)
        key = (text, request)
        if key not in self._validators:
            validator_class = OAS30WriteValidator if request else OAS30ReadValidator
            # The schema's own `#/components/...` references resolve in the contract.
            anchored = json.loads(text.replace('"$ref": "#/', f'"$ref": "{_SPEC_URI}#/'))
            self._validators[key] = validator_class(
                anchored, registry=self.registry, format_checker=oas30_format_checker
            )
        return [
            f"{'/'.join(map(str, e.absolute_path)) or '<root>'}: {e.message}"
            for e in self._validators[key].iter_errors(instance)
        ]

    def route(self, method: str, path: str) -> tuple[Operation | None, dict[str, str], list[str]]:
        """The operation a request names, its path parameters, and the methods its path allows."""
        matches = [(op, op.pattern.match(path)) for op in self.operations]
        matches = [(op, m) for op, m in matches if m]
        if not matches:
            return None, {}, []
        best = max(op.literal_segments for op, _ in matches)
        matches = [(op, m) for op, m in matches if op.literal_segments == best]
        allowed = sorted({op.method for op, _ in matches})
        for op, m in matches:
            if op.method == method:
                return op, m.groupdict(), allowed
        return None, {}, allowed

    def response_schema(self, operation: Operation, status: int) -> dict[str, Any] | None:
        responses = operation.definition["responses"]
        response = self.resolve(responses.get(str(status)) or responses["default"])
        content = response.get("content", {}).get("application/json")
        return None if content is None else content["schema"]


_CONTRACT: Contract | None = None


def contract() -> Contract:
    global _CONTRACT
    if _CONTRACT is None:
        _CONTRACT = Contract()
    return _CONTRACT


class NeonApiServer:
    """The local Neon. `url` is the API's base URL (`…/api/v2/`); use as a context manager."""

    def __init__(self, api_key: str, *, operation_ticks: int = 2):
        self.api_key = api_key
        self.operation_ticks = operation_ticks
        self.contract = contract()
        self.requests: list[RecordedRequest] = []
        self.violations: list[str] = []
        self.operation_outcomes: list[str] = []
        self.projects: dict[str, dict[str, Any]] = {}
        self.branches: dict[str, dict[str, Any]] = {}
        self.endpoints: dict[str, dict[str, Any]] = {}
        self.databases: dict[tuple[str, str], dict[str, Any]] = {}  # (branch id, name) → database
        self.roles: dict[tuple[str, str], dict[str, Any]] = {}
        self.operations: dict[str, _NeonOperation] = {}
        self._failures: list[_Failure] = []
        self._counter = 0
        self._lock = threading.RLock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- lifecycle ----------------------------------------------------------------------------------------------
    def __enter__(self) -> NeonApiServer:
        handler = type("Handler", (_Handler,), {"neon": self})
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join()

    @property
    def url(self) -> str:
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.server_address[1]}{BASE_PATH}/"

    # --- test controls ------------------------------------------------------------------------------------------
    def fail(self, method: str, template: str, *statuses: int, retry_after: str | None = None) -> None:
        """The next len(statuses) requests matching method and path template are answered with these statuses."""
        with self._lock:
            self._failures += [_Failure(method, template, s, retry_after) for s in statuses]

    def calls(self, method: str | None = None, template: str | None = None) -> list[RecordedRequest]:
        return [
            r
            for r in self.requests
            if (method is None or r.method == method) and (template is None or r.template == template)
        ]

    def start_operation(self, project_id: str, ticks: int) -> str:
        """An operation of Neon's own (a compute starting) that runs for `ticks` requests of the project."""
        with self._lock:
            op = self._operation(project_id, "start_compute")
            self.operations[op["id"]].ticks_left = ticks
            return op["id"]

    # --- request handling ---------------------------------------------------------------------------------------
    def handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any, dict]:
        with self._lock:
            return self._handle(method, raw_path, headers, raw_body)

    def _violation(self, status: int, text: str) -> tuple[int, Any, dict]:
        self.violations.append(text)
        return status, {"code": "", "message": text}, {}

    def _handle(self, method: str, raw_path: str, headers: dict[str, str], raw_body: bytes) -> tuple[int, Any, dict]:
        url = urlsplit(raw_path)
        if not url.path.startswith(BASE_PATH + "/"):
            return self._violation(404, f"{method} {url.path}: not under {BASE_PATH}")
        path = url.path[len(BASE_PATH) :]
        operation, path_params, allowed = self.contract.route(method, path)
        if operation is None:
            if allowed:
                return self._violation(405, f"{method} {path}: the contract allows only {', '.join(allowed)}")
            return self._violation(404, f"{method} {path}: no such path in the contract")
        where = f"{method} {operation.template}"
        problems = self._parameter_problems(operation, path_params, url.query)
        auth = headers.get("authorization", "")
        if not auth.startswith("Bearer ") or not auth.removeprefix("Bearer ").strip():
            return self._violation(401, f"{where}: no bearer token (contract security: BearerAuth)")
        body = None
        spec_body = operation.definition.get("requestBody")
        if raw_body:
            if spec_body is None:
                problems.append("a body, but the operation takes none")
            elif not headers.get("content-type", "").startswith("application/json"):
                problems.append("a body that is not application/json")
            try:
                body = json.loads(raw_body)
            except ValueError:
                problems.append("a body that is not JSON")
        if spec_body is not None:
            if body is None and spec_body.get("required"):
                problems.append("no body, but the contract requires one")
            elif body is not None:
                schema = spec_body["content"]["application/json"]["schema"]
                problems += self.contract.errors(schema, body, request=True)
        if problems:
            return self._violation(400, f"{where}: " + "; ".join(problems))
        self.requests.append(RecordedRequest(method, operation.template, path, dict(parse_qs(url.query)), body, auth))
        if auth.removeprefix("Bearer ").strip() != self.api_key:
            return self._answer(operation, 401, {"code": "", "message": "authentication failed"})
        failure = next((f for f in self._failures if (f.method, f.template) == (method, operation.template)), None)
        if failure is not None:
            self._failures.remove(failure)
            extra = {"Retry-After": failure.retry_after} if failure.retry_after else {}
            return self._answer(operation, failure.status, {"code": "", "message": f"scripted {failure.status}"}, extra)
        project_id = path_params.get("project_id")
        if project_id and method != "GET" and self._locked(project_id):
            status, answer = (
                423,
                {
                    "code": "",
                    "message": "project already has running conflicting operations, scheduling of new ones is prohibited",
                },
            )
        else:
            handler = getattr(self, "_op_" + operation.definition["operationId"], None)
            if handler is None:
                return self._violation(501, f"{where}: valid, but the test server does not simulate it")
            status, answer = handler(path_params, body)
        if project_id:
            self._tick(project_id)
        return self._answer(operation, status, answer)

    def _parameter_problems(self, operation: Operation, path_params: dict[str, str], query: str) -> list[str]:
        problems = []
        given = {k: v[-1] for k, v in parse_qs(query).items()}
        declared = {p["name"]: p for p in operation.parameters if p["in"] == "query"}
        for name in given:
            if name not in declared:
                problems.append(f"unknown query parameter {name}")
        for p in operation.parameters:
            if p["in"] == "path":
                value: Any = path_params.get(p["name"])
            elif p["in"] == "query" and p["name"] in given:
                value = _typed(given[p["name"]], self.contract.resolve(p.get("schema", {})))
            else:
                if p.get("required") and p["in"] == "query":
                    problems.append(f"missing query parameter {p['name']}")
                continue
            problems += [f"{p['name']} {e}" for e in self.contract.errors(p.get("schema", {}), value, request=True)]
        return problems

    def _answer(self, operation: Operation, status: int, body: Any, headers: dict | None = None) -> tuple:
        schema = self.contract.response_schema(operation, status)
        if schema is None:
            body = None
        else:
            errors = self.contract.errors(schema, body, request=False)
            if errors:
                self.violations.append(f"test server answered {operation.template} {status} off-contract: {errors}")
        return status, body, headers or {}

    # --- the simulated Neon -------------------------------------------------------------------------------------
    def _next_id(self, prefix: str = "") -> str:
        self._counter += 1
        n = self._counter
        return f"{prefix}{_WORDS[0][n % 4]}-{_WORDS[1][n // 4 % 4]}-{n:08d}"

    def _locked(self, project_id: str) -> bool:
        return any(
            o.body["project_id"] == project_id and o.body["status"] in ("scheduling", "running")
            for o in self.operations.values()
        )

    def _tick(self, project_id: str) -> None:
        for op in self.operations.values():
            if op.body["project_id"] == project_id and op.body["status"] == "running":
                op.ticks_left -= 1
                if op.ticks_left <= 0:
                    op.body["status"] = op.outcome
                    if op.outcome != "finished":
                        op.body["error"] = f"simulated {op.outcome}"
                        op.body["failures_count"] = 1

    def _operation(self, project_id: str, action: str, **ids: str) -> dict[str, Any]:
        op_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"neon-test-operation-{len(self.operations)}"))
        body = {
            "id": op_id,
            "project_id": project_id,
            "action": action,
            "status": "running",
            "failures_count": 0,
            "created_at": NOW,
            "updated_at": NOW,
            "total_duration_ms": 0,
            **ids,
        }
        outcome = self.operation_outcomes.pop(0) if self.operation_outcomes else "finished"
        self.operations[op_id] = _NeonOperation(body, self.operation_ticks, outcome)
        return body

    @staticmethod
    def _not_found(what: str) -> tuple[int, dict[str, Any]]:
        return 404, {"code": "", "message": f"{what} not found"}

    def _op_createProject(self, _params: dict, body: dict) -> tuple[int, Any]:
        wanted = body["project"]
        project_id = self._next_id()
        region = wanted.get("region_id", "aws-us-east-2")
        project = {
            "id": project_id,
            "platform_id": "aws",
            "region_id": region,
            "name": wanted.get("name", project_id),
            "provisioner": "k8s-neonvm",
            "pg_version": wanted.get("pg_version", 17),
            "proxy_host": f"{region.removeprefix('aws-')}.aws.neon.tech",
            "branch_logical_size_limit": 0,
            "branch_logical_size_limit_bytes": 0,
            "store_passwords": True,
            "cpu_used_sec": 0,
            "active_time_seconds": 0,
            "compute_time_seconds": 0,
            "written_data_bytes": 0,
            "data_transfer_bytes": 0,
            "data_storage_bytes_hour": 0,
            "creation_source": "console",
            "history_retention_seconds": wanted.get("history_retention_seconds", 86400),
            "created_at": NOW,
            "updated_at": NOW,
            "consumption_period_start": NOW,
            "consumption_period_end": NOW,
            "owner_id": "owner-1",
        }
        self.projects[project_id] = project
        branch_spec = wanted.get("branch", {})
        branch = self._new_branch(project_id, branch_spec.get("name", "main"))
        endpoint = self._new_endpoint(project_id, branch["id"], region, "read_write")
        database_name = branch_spec.get("database_name", "neondb")
        role = {
            "branch_id": branch["id"],
            "name": branch_spec.get("role_name", f"{database_name}_owner"),
            "password": f"neon-test-password-{self._counter}",
            "protected": False,
            "created_at": NOW,
            "updated_at": NOW,
        }
        self.roles[(branch["id"], role["name"])] = role
        database = self._new_database(branch["id"], database_name, role["name"])
        operations = [
            self._operation(project_id, "create_timeline", branch_id=branch["id"]),
            self._operation(project_id, "start_compute", branch_id=branch["id"], endpoint_id=endpoint["id"]),
        ]
        uri = f"postgresql://{role['name']}:{role['password']}@{endpoint['host']}/{database_name}?sslmode=require"
        return 201, {
            "project": project,
            "connection_uris": [
                {
                    "connection_uri": uri,
                    "connection_parameters": {
                        "database": database_name,
                        "password": role["password"],
                        "role": role["name"],
                        "host": endpoint["host"],
                        "pooler_host": endpoint["host"].replace(endpoint["id"], endpoint["id"] + "-pooler", 1),
                    },
                }
            ],
            "roles": [role],
            "databases": [database],
            "operations": operations,
            "branch": branch,
            "endpoints": [endpoint],
        }

    def _new_branch(self, project_id: str, name: str) -> dict[str, Any]:
        branch = {
            "id": self._next_id("br-"),
            "project_id": project_id,
            "name": name,
            "current_state": "ready",
            "state_changed_at": NOW,
            "creation_source": "console",
            "created_at": NOW,
            "updated_at": NOW,
            "default": True,
            "protected": False,
            "cpu_used_sec": 0,
            "active_time_seconds": 0,
            "compute_time_seconds": 0,
            "written_data_bytes": 0,
            "data_transfer_bytes": 0,
        }
        self.branches[branch["id"]] = branch
        return branch

    def _new_endpoint(self, project_id: str, branch_id: str, region: str, type_: str) -> dict[str, Any]:
        endpoint_id = self._next_id("ep-")
        host = f"{endpoint_id}.{region.removeprefix('aws-')}.aws.neon.tech"
        endpoint = {
            "host": host,
            "id": endpoint_id,
            "project_id": project_id,
            "branch_id": branch_id,
            "region_id": region,
            "autoscaling_limit_min_cu": 0.25,
            "autoscaling_limit_max_cu": 0.25,
            "type": type_,
            "current_state": "idle",
            "pooler_enabled": False,
            "pooler_mode": "transaction",
            "disabled": False,
            "passwordless_access": True,
            "creation_source": "console",
            "created_at": NOW,
            "updated_at": NOW,
            "settings": {},
            "proxy_host": host.split(".", 1)[1],
            "suspend_timeout_seconds": 0,
            "provisioner": "k8s-neonvm",
        }
        self.endpoints[endpoint_id] = endpoint
        return endpoint

    def _new_database(self, branch_id: str, name: str, owner: str) -> dict[str, Any]:
        self._counter += 1
        database = {
            "id": 800000 + self._counter,
            "branch_id": branch_id,
            "name": name,
            "owner_name": owner,
            "created_at": NOW,
            "updated_at": NOW,
        }
        self.databases[(branch_id, name)] = database
        return database

    def _op_getProject(self, params: dict, _body: Any) -> tuple[int, Any]:
        project = self.projects.get(params["project_id"])
        return (200, {"project": project}) if project else self._not_found("project")

    def _op_updateProject(self, params: dict, body: dict) -> tuple[int, Any]:
        project = self.projects.get(params["project_id"])
        if project is None:
            return self._not_found("project")
        for key in ("name", "history_retention_seconds"):
            if key in body["project"]:
                project[key] = body["project"][key]
        return 200, {"project": project, "operations": []}

    def _op_deleteProject(self, params: dict, _body: Any) -> tuple[int, Any]:
        project = self.projects.pop(params["project_id"], None)
        if project is None:
            return self._not_found("project")
        for branch_id in [b for b, v in self.branches.items() if v["project_id"] == project["id"]]:
            del self.branches[branch_id]
        return 200, {"project": project}

    def _op_getProjectOperation(self, params: dict, _body: Any) -> tuple[int, Any]:
        op = self.operations.get(params["operation_id"])
        if op is None or op.body["project_id"] != params["project_id"]:
            return self._not_found("operation")
        return 200, {"operation": dict(op.body)}

    def _branch(self, params: dict) -> dict[str, Any] | None:
        branch = self.branches.get(params["branch_id"])
        return branch if branch and branch["project_id"] == params["project_id"] else None

    def _op_getProjectBranch(self, params: dict, _body: Any) -> tuple[int, Any]:
        branch = self._branch(params)
        if branch is None:
            return self._not_found("branch")
        annotation = {"object": {"type": "console/branch", "id": branch["id"]}, "value": {}}
        return 200, {"branch": branch, "annotation": annotation}

    def _op_updateProjectBranch(self, params: dict, body: dict) -> tuple[int, Any]:
        branch = self._branch(params)
        if branch is None:
            return self._not_found("branch")
        branch.update({k: v for k, v in body["branch"].items() if k in ("name", "protected")})
        return 200, {"branch": branch, "operations": []}

    def _op_listProjectEndpoints(self, params: dict, _body: Any) -> tuple[int, Any]:
        if params["project_id"] not in self.projects:
            return self._not_found("project")
        return 200, {"endpoints": [e for e in self.endpoints.values() if e["project_id"] == params["project_id"]]}

    def _op_createProjectEndpoint(self, params: dict, body: dict) -> tuple[int, Any]:
        project = self.projects.get(params["project_id"])
        if project is None:
            return self._not_found("project")
        wanted = body["endpoint"]
        if wanted.get("region_id", project["region_id"]) != project["region_id"]:
            return 400, {"code": "", "message": "only the project's region_id is permitted"}
        taken = any(
            e["branch_id"] == wanted["branch_id"] and e["type"] == "read_write" for e in self.endpoints.values()
        )
        if wanted["type"] == "read_write" and taken:
            return 409, {"code": "", "message": "the branch already has a read_write endpoint"}
        endpoint = self._new_endpoint(project["id"], wanted["branch_id"], project["region_id"], wanted["type"])
        endpoint.update({k: wanted[k] for k in ("pooler_enabled", "pooler_mode") if k in wanted})
        op = self._operation(project["id"], "start_compute", branch_id=wanted["branch_id"], endpoint_id=endpoint["id"])
        return 201, {"endpoint": endpoint, "operations": [op]}

    def _endpoint(self, params: dict) -> dict[str, Any] | None:
        endpoint = self.endpoints.get(params["endpoint_id"])
        return endpoint if endpoint and endpoint["project_id"] == params["project_id"] else None

    def _op_getProjectEndpoint(self, params: dict, _body: Any) -> tuple[int, Any]:
        endpoint = self._endpoint(params)
        return (200, {"endpoint": endpoint}) if endpoint else self._not_found("endpoint")

    def _op_updateProjectEndpoint(self, params: dict, body: dict) -> tuple[int, Any]:
        endpoint = self._endpoint(params)
        if endpoint is None:
            return self._not_found("endpoint")
        endpoint.update({k: v for k, v in body["endpoint"].items() if k in ("pooler_enabled", "pooler_mode")})
        op = self._operation(endpoint["project_id"], "apply_config", endpoint_id=endpoint["id"])
        return 200, {"endpoint": endpoint, "operations": [op]}

    def _op_deleteProjectEndpoint(self, params: dict, _body: Any) -> tuple[int, Any]:
        endpoint = self._endpoint(params)
        if endpoint is None:
            return 204, None
        del self.endpoints[endpoint["id"]]
        op = self._operation(endpoint["project_id"], "suspend_compute", endpoint_id=endpoint["id"])
        return 200, {"endpoint": endpoint, "operations": [op]}

    def _database_operation(self, params: dict) -> dict[str, Any]:
        endpoint = next((e for e in self.endpoints.values() if e["branch_id"] == params["branch_id"]), None)
        ids = {"branch_id": params["branch_id"]} | ({"endpoint_id": endpoint["id"]} if endpoint else {})
        return self._operation(params["project_id"], "apply_config", **ids)

    def _op_listProjectBranchDatabases(self, params: dict, _body: Any) -> tuple[int, Any]:
        if self._branch(params) is None:
            return self._not_found("branch")
        return 200, {"databases": [d for (b, _), d in self.databases.items() if b == params["branch_id"]]}

    def _op_createProjectBranchDatabase(self, params: dict, body: dict) -> tuple[int, Any]:
        if self._branch(params) is None:
            return self._not_found("branch")
        wanted = body["database"]
        if (params["branch_id"], wanted["name"]) in self.databases:
            return 409, {"code": "", "message": f"database {wanted['name']} already exists"}
        if (params["branch_id"], wanted["owner_name"]) not in self.roles:
            return 400, {"code": "", "message": f"role {wanted['owner_name']} does not exist"}
        database = self._new_database(params["branch_id"], wanted["name"], wanted["owner_name"])
        return 201, {"database": database, "operations": [self._database_operation(params)]}

    def _op_getProjectBranchDatabase(self, params: dict, _body: Any) -> tuple[int, Any]:
        database = self.databases.get((params["branch_id"], params["database_name"]))
        if database is None or self._branch(params) is None:
            return self._not_found("database")
        return 200, {"database": database}

    def _op_updateProjectBranchDatabase(self, params: dict, body: dict) -> tuple[int, Any]:
        key = (params["branch_id"], params["database_name"])
        if key not in self.databases or self._branch(params) is None:
            return self._not_found("database")
        database = self.databases.pop(key)
        database.update({k: v for k, v in body["database"].items() if k in ("name", "owner_name")})
        self.databases[(params["branch_id"], database["name"])] = database
        return 200, {"database": database, "operations": [self._database_operation(params)]}

    def _op_deleteProjectBranchDatabase(self, params: dict, _body: Any) -> tuple[int, Any]:
        database = self.databases.pop((params["branch_id"], params["database_name"]), None)
        if database is None:
            return 204, None
        return 200, {"database": database, "operations": [self._database_operation(params)]}


def _typed(value: str, schema: dict[str, Any]) -> Any:
    """A query string value as the type its schema declares (so `limit=abc` fails as it should)."""
    kind = schema.get("type")
    if kind == "integer" and re.fullmatch(r"-?\d+", value):
        return int(value)
    if kind == "boolean" and value in ("true", "false"):
        return value == "true"
    return value


class _Handler(BaseHTTPRequestHandler):
    neon: NeonApiServer
    protocol_version = "HTTP/1.1"
    # One segment per answer, sent at once (else delayed ACKs add 40 ms to every request on keep-alive).
    wbufsize = 1 << 16
    disable_nagle_algorithm = True

    def _serve(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        headers = {k.lower(): v for k, v in self.headers.items()}
        status, body, extra = self.neon.handle(self.command, self.path, headers, raw)
        payload = b"" if body is None else json.dumps(body).encode()
        self.send_response(status)
        for name, value in extra.items():
            self.send_header(name, value)
        if payload:
            self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    do_GET = do_POST = do_PATCH = do_DELETE = do_PUT = _serve

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 (the base class's name)
        return None
