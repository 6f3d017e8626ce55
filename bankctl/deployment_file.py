"""One reader for offline plans and real `pulumi stack export` files, and their check against the engine's schemas.

`load_deployment` accepts `{"version": 3 | 4, "deployment": {...}}` (version 4 is version 3 plus a
`features` list; the engine writes it only when a stack uses such a feature), with or without the
plan's own top-level `bank` section, and returns one normalised document that `PlanGraph` reads:
`resources` always present, and every secret a marker whose ciphertext is `[secret]`. Nothing is
ever decrypted; a real export's ciphertext (or an export made with `--show-secrets`) is replaced by
the marker, so a plan and an export compare equal where the program is the same.

The engine's format: pulumi/pulumi sdk/go/common/apitype/core.go (`DeploymentV3`, `ResourceV3`,
`ManifestV1`) and its JSON Schemas, copied to ../shared/contracts/pulumi-state/.
"""

from __future__ import annotations

import copy
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from bankctl.recording import scrub

SUPPORTED_VERSIONS = (3, 4)

# The JSON names of apitype.ResourceV3 (core.go). `snippetID` is in the schema at the contracts' commit, newer than
# the struct read; everything else is the struct's.
RESOURCE_V3_FIELDS = frozenset(
    {
        "urn",
        "custom",
        "delete",
        "id",
        "type",
        "inputs",
        "outputs",
        "parent",
        "protect",
        "external",
        "dependencies",
        "initErrors",
        "provider",
        "propertyDependencies",
        "pendingReplacement",
        "additionalSecretOutputs",
        "aliases",
        "customTimeouts",
        "importID",
        "retainOnDelete",
        "deletedWith",
        "created",
        "modified",
        "sourcePosition",
        "ignoreChanges",
        "replaceOnChanges",
        "snippetID",
    }
)
# ResourceV3 fields without `omitempty`: the engine writes them even when false or empty.
RESOURCE_V3_ALWAYS = frozenset({"urn", "custom", "type"})

# Where an offline plan differs from what `pulumi up` would write for the same program into a new stack, only because
# no engine, provider or cloud ran. A diff of a plan against a real export should ignore these, or read them as
# "decided at deploy time". Everything else (URNs, types, parents, dependencies, provider URNs, inputs as the program
# sent them, resource options) is what the engine stores.
OFFLINE_ONLY_FIELDS: dict[str, str] = {
    "deployment.manifest.time": "Go's zero time; the engine writes the time of the update",
    "deployment.manifest.version": "names the offline plan and the SDK; the engine writes its CLI version",
    "deployment.manifest.magic": "sha256 of `version`, as the engine computes it, so it differs because version does",
    "deployment.manifest.plugins": "absent, as today's engine leaves it (older engines listed the plugin binaries)",
    "deployment.secrets_providers": "absent: a plan encrypts nothing",
    "resources[].id": "mocked in each service's own format (README); the cloud assigns the real one",
    "resources[].outputs": "the inputs plus mocked ids and ARNs; outputs only the cloud computes are missing, or the "
    "engine's unknown placeholder (a command's stdout)",
    "resources[].inputs": "as the program sent them; the engine stores the provider's checked inputs (defaults, "
    "autonames, `__defaults`)",
    "pulumi:providers:* id, and the id part of every resources[].provider": "uuid5 of the provider's URN; the "
    "engine draws a random UUID when it creates the provider",
    "resources[].aliases": "every alias URN the engine would try for the resource; the engine stores only the one that "
    "matched a resource already in the stack, so a first deployment stores none",
    "resources[].created, resources[].modified": "absent: the times of the real create and update",
    "resources[].sourcePosition": "absent: the engine records where in the program each resource was registered",
    "secret ciphertext": "`[secret]`; the engine writes the secrets provider's ciphertext",
}

# Where the JSON Schemas in contracts/pulumi-state lag the Go structs that write the files (core.go is the authority).
# `engine_schema_registry` applies exactly these to its copy of resources.json before validating.
SCHEMA_LAGS: dict[str, Any] = {
    # ResourceV3 fields the struct has and resources.json (with "additionalProperties": false) does not list.
    "retainOnDelete": {"type": "boolean"},
    "deletedWith": {"type": "string"},
    "created": {"type": "string", "format": "date-time"},
    "modified": {"type": "string", "format": "date-time"},
    "sourcePosition": {"type": "string"},
    "ignoreChanges": {"type": "array", "items": {"type": "string"}},
    "replaceOnChanges": {"type": "array", "items": {"type": "string"}},
    # PropertyDependencies is map[PropertyKey][]URN: engines that kept nil slices wrote `null` for a property with no
    # dependencies (the contracts' engine-export-v3-example.json does); the schema allows only arrays.
    "propertyDependencies": {
        "type": "object",
        "additionalProperties": {"type": ["array", "null"], "items": {"type": "string"}},
    },
}


class DeploymentFileError(ValueError):
    """The file is not a deployment this reader can read; the message names the file and what is wrong."""


def _read(source: str | os.PathLike[str] | Mapping[str, Any]) -> tuple[str, Any]:
    """(name for messages, parsed JSON) from a path, JSON text, or an already parsed document."""
    if isinstance(source, Mapping):
        return "<document>", source
    if isinstance(source, str) and source.lstrip().startswith("{"):
        name, text = "<text>", source
    else:
        name = str(source)
        try:
            text = Path(source).read_text(encoding="utf-8")
        except OSError as error:
            raise DeploymentFileError(f"{name}: cannot read: {error.strerror or error}") from None
    try:
        return name, json.loads(text)
    except json.JSONDecodeError as error:
        raise DeploymentFileError(f"{name}: not JSON ({error})") from None


def load_deployment(source: str | os.PathLike[str] | Mapping[str, Any]) -> dict[str, Any]:
    """A plan or a `pulumi stack export` (version 3 or 4), normalised for PlanGraph. Raises DeploymentFileError."""
    name, raw = _read(source)
    if not isinstance(raw, Mapping) or "deployment" not in raw or "version" not in raw:
        raise DeploymentFileError(
            f"{name}: not a `pulumi stack export` document (expected an object with `version` and `deployment`)"
        )
    version = raw["version"]
    if isinstance(version, bool) or version not in SUPPORTED_VERSIONS:
        raise DeploymentFileError(
            f"{name}: deployment version {version!r} is not supported; this reader reads versions "
            f"{' and '.join(map(str, SUPPORTED_VERSIONS))} of `pulumi stack export`"
        )
    deployment = raw["deployment"]
    if not isinstance(deployment, Mapping):
        raise DeploymentFileError(f"{name}: `deployment` must be an object")
    resources = deployment.get("resources") or []
    if not isinstance(resources, list):
        raise DeploymentFileError(f"{name}: `deployment.resources` must be a list")
    for index, resource in enumerate(resources):
        missing = [key for key in ("urn", "type") if not isinstance(resource, Mapping) or not resource.get(key)]
        if missing:
            raise DeploymentFileError(f"{name}: resource {index} has no {' and no '.join(missing)}")

    document: dict[str, Any] = {"version": version}
    if version == 4:
        document["features"] = list(raw.get("features") or [])
    # Every secret (`ciphertext` or `plaintext`) becomes the plan's marker; nothing is decrypted or kept.
    document["deployment"] = scrub(copy.deepcopy(dict(deployment)))
    document["deployment"]["resources"] = document["deployment"].get("resources") or []  # omitempty: may be absent
    if "bank" in raw:
        document["bank"] = copy.deepcopy(raw["bank"])
    return document


def engine_schema_registry(contracts_dir: Path, lags: Mapping[str, Any] = SCHEMA_LAGS):
    """The three schemas of contracts_dir, cross-referenced by their `$id`s locally (no network), with the fields in
    `lags` (SCHEMA_LAGS) set in the resource schema. Returns (deployment schema, referencing.Registry)."""
    from referencing import Registry, Resource

    schemas = {
        name: json.loads((contracts_dir / name).read_text(encoding="utf-8"))
        for name in ("deployments.json", "resources.json", "property-values.json")
    }
    resource_v3 = schemas["resources.json"]["$defs"]["resourceV3"]["properties"]
    for key, lagging in lags.items():
        resource_v3[key] = lagging
    registry = Registry().with_resources((schema["$id"], Resource.from_contents(schema)) for schema in schemas.values())
    return schemas["deployments.json"], registry


def schema_errors(document: Mapping[str, Any], contracts_dir: Path, lags: Mapping[str, Any] = SCHEMA_LAGS) -> list[str]:
    """Where `document` breaks the engine's deployment schema (with SCHEMA_LAGS applied), one message per problem.

    Checked against the schema's version 3 definition (`#/$defs/deploymentV3`, which holds the whole document and
    allows no other top-level key), so the plan's own `bank` section is set aside first. A version 4 document is
    checked as version 3: its body is a DeploymentV3 plus `features`, and the schema's catch-all for versions other
    than 3 would not look inside it."""
    from jsonschema import Draft202012Validator
    from jsonschema.exceptions import best_match

    schema, registry = engine_schema_registry(contracts_dir, lags)
    body = {k: v for k, v in document.items() if k not in ("bank", "features")}
    if body.get("version") == 4:
        body["version"] = 3
    validator = Draft202012Validator({"$ref": schema["$id"] + "#/$defs/deploymentV3"}, registry=registry)
    messages = set()
    for error in validator.iter_errors(body):
        if error.context:  # a oneOf (property values): the closest alternative says what is wrong
            error = best_match(error.context)
        messages.add("/".join(map(str, error.absolute_path)) + ": " + error.message)
    return sorted(messages)
