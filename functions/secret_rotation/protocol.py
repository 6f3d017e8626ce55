"""Secrets Manager's rotation protocol, shared by every rotation function.

Secrets Manager calls the function four times per rotation with {"Step", "SecretId", "ClientRequestToken"}
(Secrets Manager user guide, "Rotation by Lambda function" and "Lambda rotation functions"): before the first
call it attaches AWSPENDING to a new, empty version whose id is the token.

- createSecret: put the new value in the AWSPENDING version (unless a retry finds it there already);
- setSecret:    make the service accept the new value;
- testSecret:   prove the new value works;
- finishSecret: move AWSCURRENT to the new version (Secrets Manager moves AWSPREVIOUS to the old one), then
                retire what the rotation before this one replaced.

A kind of secret supplies those service-side steps as a `Rotator`. Nothing here logs a secret value: only
steps, secret names and version ids.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any, Protocol

CURRENT = "AWSCURRENT"
PENDING = "AWSPENDING"
PREVIOUS = "AWSPREVIOUS"
STEPS = ("createSecret", "setSecret", "testSecret", "finishSecret")

logger = logging.getLogger("secret_rotation")
logger.setLevel(logging.INFO)


class RotationError(RuntimeError):
    """The rotation cannot proceed; the message names the secret and the version, never a value."""


@dataclass(frozen=True)
class Rotation:
    """The secret being rotated and the version this rotation writes."""

    arn: str
    name: str
    token: str


class Rotator(Protocol):
    # The JSON keys every value of this kind holds (also enforced by `bankctl secrets set`).
    fields: tuple[str, ...]

    def create(self, rotation: Rotation, current: dict[str, Any]) -> dict[str, Any]:
        """The next value, from the current one; may create it at the service (an API key)."""

    def apply(self, rotation: Rotation, pending: dict[str, Any], current: dict[str, Any]) -> None:
        """Make the service accept the pending value."""

    def test(self, rotation: Rotation, pending: dict[str, Any]) -> None:
        """Raise unless the pending value works at the service."""

    def retire(self, rotation: Rotation, replaced: dict[str, Any]) -> None:
        """After finishSecret: retire the value that lost AWSPREVIOUS (replaced one rotation earlier)."""


def rotate(event: dict[str, Any], rotator: Rotator, secrets) -> None:
    """Run one step of the protocol for `event`, with `secrets` a Secrets Manager client."""
    try:
        arn, token, step = event["SecretId"], event["ClientRequestToken"], event["Step"]
    except KeyError as missing:
        raise RotationError(f"rotation event without {missing}") from None
    if step not in STEPS:
        raise RotationError(f"unknown rotation step {step!r} (expected one of {', '.join(STEPS)})")
    metadata = secrets.describe_secret(SecretId=arn)
    rotation = Rotation(arn=metadata["ARN"], name=metadata["Name"], token=token)
    if not metadata.get("RotationEnabled"):
        raise RotationError(f"secret {rotation.name} is not enabled for rotation")
    versions = metadata.get("VersionIdsToStages", {})
    if token not in versions:
        raise RotationError(f"secret {rotation.name} has no version {token} to rotate to")
    if CURRENT in versions[token]:
        logger.info("%s: version %s is already AWSCURRENT; nothing to do for %s", rotation.name, token, step)
        return
    if PENDING not in versions[token]:
        raise RotationError(f"secret {rotation.name}: version {token} is not AWSPENDING")
    logger.info("%s: %s for version %s", rotation.name, step, token)
    if step == "createSecret":
        _create(rotation, rotator, secrets)
    elif step == "setSecret":
        rotator.apply(rotation, _value(secrets, rotation, PENDING), _current(secrets, rotation))
    elif step == "testSecret":
        _test(rotation, rotator, secrets, versions)
    else:
        _finish(rotation, rotator, secrets, versions)


def _create(rotation: Rotation, rotator: Rotator, secrets) -> None:
    current = _current(secrets, rotation)
    try:
        secrets.get_secret_value(SecretId=rotation.arn, VersionId=rotation.token, VersionStage=PENDING)
        logger.info("%s: version %s already holds the new value", rotation.name, rotation.token)
        return
    except secrets.exceptions.ResourceNotFoundException:
        pass
    new = rotator.create(rotation, current)
    _check_fields(rotation, rotator, new, "new")
    secrets.put_secret_value(
        SecretId=rotation.arn,
        ClientRequestToken=rotation.token,
        SecretString=json.dumps(new, sort_keys=True),
        VersionStages=[PENDING],
    )
    logger.info("%s: new value stored in version %s", rotation.name, rotation.token)


def _test(rotation: Rotation, rotator: Rotator, secrets, versions: dict[str, list[str]]) -> None:
    if not any(CURRENT in stages for stages in versions.values()):
        # Turning rotation on without rotating at once makes Secrets Manager run testSecret as a check of the
        # configuration (SecretRotation rotate_immediately=false). A container nobody has filled yet has nothing
        # to test; the first real rotation happens after a person sets the value.
        logger.info("%s has no value yet (not populated); nothing to test", rotation.name)
        return
    try:
        pending = _value(secrets, rotation, PENDING)
    except secrets.exceptions.ResourceNotFoundException:
        # Only that configuration check can leave the new version without a value: in a rotation, createSecret
        # wrote it before this step ran.
        logger.info("%s: version %s holds no new value; nothing to test", rotation.name, rotation.token)
        return
    rotator.test(rotation, pending)


def _finish(rotation: Rotation, rotator: Rotator, secrets, versions: dict[str, list[str]]) -> None:
    current = next((v for v, stages in versions.items() if CURRENT in stages), None)
    if current is None:
        raise RotationError(f"secret {rotation.name} has no AWSCURRENT version to move from")
    previous = next((v for v, stages in versions.items() if PREVIOUS in stages), None)
    replaced = None
    if previous is not None and previous != rotation.token:
        # Read before the labels move: once AWSCURRENT moves, this version keeps no label.
        replaced = _value(secrets, rotation, PREVIOUS, version_id=previous)
    secrets.update_secret_version_stage(
        SecretId=rotation.arn, VersionStage=CURRENT, MoveToVersionId=rotation.token, RemoveFromVersionId=current
    )
    logger.info("%s: AWSCURRENT moved from %s to %s", rotation.name, current, rotation.token)
    if replaced is not None:
        rotator.retire(rotation, replaced)
        logger.info("%s: retired the value of version %s", rotation.name, previous)


def _current(secrets, rotation: Rotation) -> dict[str, Any]:
    try:
        return _value(secrets, rotation, CURRENT, version_id=None)
    except secrets.exceptions.ResourceNotFoundException:
        raise RotationError(
            f"secret {rotation.name} has no current value to rotate from: a person sets it first "
            f"(bankctl secrets set STACK {rotation.name})"
        ) from None


def _value(secrets, rotation: Rotation, stage: str, version_id: str | None = "") -> dict[str, Any]:
    """The JSON value at `stage` (of the rotation's own version unless `version_id` says otherwise)."""
    version = rotation.token if version_id == "" else version_id
    args = {"SecretId": rotation.arn, "VersionStage": stage} | ({"VersionId": version} if version else {})
    text = secrets.get_secret_value(**args).get("SecretString")
    try:
        value = json.loads(text or "")
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, dict):
        raise RotationError(f"secret {rotation.name}: the {stage} value is not a JSON object")
    return value


def _check_fields(rotation: Rotation, rotator: Rotator, value: dict[str, Any], which: str) -> None:
    missing = [f for f in rotator.fields if not value.get(f)]
    if missing:
        raise RotationError(f"secret {rotation.name}: the {which} value lacks {', '.join(missing)}")


def require_fields(rotation: Rotation, rotator: Rotator, value: dict[str, Any]) -> None:
    """For rotators: refuse a value without the kind's fields (the message names the fields, not the value)."""
    _check_fields(rotation, rotator, value, "current")
