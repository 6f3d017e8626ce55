"""Rotation of the Datadog API key MOD-076 forwards telemetry with, through Datadog's key management API.

The secret's value is JSON {api_key, api_key_id, site}: `api_key` is the key Firehose reads (its Secrets Manager
format for Datadog destinations is {"api_key": …}), `api_key_id` the key's id at Datadog, `site` the Datadog site
(e.g. ap2.datadoghq.com). Managing keys takes an application key with api_keys_write and api_keys_delete, kept in
its own secret (`DATADOG_KEY_MANAGER_SECRET`, JSON {application_key}) that only this function reads.

- create: POST /api/v2/api_keys — a new key, named after the secret and the rotation's version;
- apply:  nothing: a new key is live at Datadog as soon as it exists;
- test:   GET /api/v1/validate with the new key must answer {"valid": true};
- retire: DELETE /api/v2/api_keys/{id} for the key replaced one rotation earlier. Not the key replaced now:
  Firehose re-reads the secret every 10 minutes (Firehose guide, "Use the secret"), so that key stays valid
  until the next rotation.
"""

from __future__ import annotations

import json
import os
import re
import urllib.error
import urllib.request
from typing import Any

import boto3

from . import protocol

# Datadog's sites (api.<site>): US1 datadoghq.com, US3/US5/AP1/AP2 <region>.datadoghq.com, EU datadoghq.eu,
# UK1 uk1.datadoghq.com, US1-FED ddog-gov.com. Keys are sent to no other host.
SITE = re.compile(r"^(?:[a-z0-9]+\.)?(?:datadoghq\.com|datadoghq\.eu|ddog-gov\.com)$")
TIMEOUT_SECONDS = 10


class DatadogApiKey:
    fields = ("api_key", "api_key_id", "site")

    def __init__(self, secrets, key_manager_secret: str, api_url: str | None = None):
        self.secrets = secrets
        self.key_manager_secret = key_manager_secret
        self._api_url = api_url  # None: https://api.<site> of the secret's value

    def create(self, rotation: protocol.Rotation, current: dict[str, Any]) -> dict[str, Any]:
        protocol.require_fields(rotation, self, current)
        self._base(rotation, current)  # refuse another site before any key is read
        body = {"data": {"type": "api_keys", "attributes": {"name": f"{rotation.name} {rotation.token}"}}}
        answer = self._call(rotation, current, "POST", "/api/v2/api_keys", body, self._manager_headers(current))
        try:
            data = answer["data"]
            key, key_id = data["attributes"]["key"], data["id"]
        except (KeyError, TypeError):
            raise protocol.RotationError(
                f"secret {rotation.name}: Datadog's answer to creating a key has no key"
            ) from None
        return {**current, "api_key": key, "api_key_id": key_id}

    def apply(self, rotation: protocol.Rotation, pending: dict[str, Any], current: dict[str, Any]) -> None:
        return None

    def test(self, rotation: protocol.Rotation, pending: dict[str, Any]) -> None:
        answer = self._call(rotation, pending, "GET", "/api/v1/validate", None, {"DD-API-KEY": pending["api_key"]})
        if answer.get("valid") is not True:
            raise protocol.RotationError(f"secret {rotation.name}: Datadog does not accept the new API key")

    def retire(self, rotation: protocol.Rotation, replaced: dict[str, Any]) -> None:
        key_id = replaced.get("api_key_id")
        if not key_id:
            return
        current = self._current(rotation)
        try:
            self._call(rotation, current, "DELETE", f"/api/v2/api_keys/{key_id}", None, self._manager_headers(current))
        except protocol.RotationError as exc:
            if "HTTP 404" not in str(exc):  # already revoked by a person: nothing left to do
                raise

    def _current(self, rotation: protocol.Rotation) -> dict[str, Any]:
        return json.loads(
            self.secrets.get_secret_value(SecretId=rotation.arn, VersionStage=protocol.CURRENT)["SecretString"]
        )

    def _manager_headers(self, value: dict[str, Any]) -> dict[str, str]:
        manager = json.loads(self.secrets.get_secret_value(SecretId=self.key_manager_secret)["SecretString"])
        return {"DD-API-KEY": value["api_key"], "DD-APPLICATION-KEY": manager["application_key"]}

    def _base(self, rotation: protocol.Rotation, value: dict[str, Any]) -> str:
        if self._api_url is not None:
            return self._api_url.rstrip("/")
        site = str(value.get("site", ""))
        if not SITE.match(site):
            raise protocol.RotationError(f"secret {rotation.name}: `{site}` is not a Datadog site")
        return f"https://api.{site}"

    def _call(
        self, rotation: protocol.Rotation, value: dict[str, Any], method: str, path: str, body: Any, headers: dict
    ) -> dict[str, Any]:
        request = urllib.request.Request(
            self._base(rotation, value) + path,
            method=method,
            data=None if body is None else json.dumps(body).encode(),
            headers={"Accept": "application/json", "Content-Type": "application/json", **headers},
        )
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT_SECONDS) as response:  # noqa: S310 - https or the test URL
                text = response.read().decode() or "{}"
        except urllib.error.HTTPError as exc:
            # The status only: Datadog's error bodies are not logged (they could echo request data).
            raise protocol.RotationError(
                f"secret {rotation.name}: Datadog answered {method} {path} with HTTP {exc.code}"
            ) from None
        except urllib.error.URLError as exc:
            raise protocol.RotationError(
                f"secret {rotation.name}: Datadog unreachable for {method} {path}: {exc.reason}"
            ) from None
        return json.loads(text)


def handler(event: dict[str, Any], context: Any) -> None:
    secrets = boto3.client("secretsmanager")
    protocol.rotate(event, DatadogApiKey(secrets, os.environ["DATADOG_KEY_MANAGER_SECRET"]), secrets)
