"""Rotation of a Cognito user's password: the smoke-test users the phase gates sign in as.

The secret's value is JSON {userPoolId, clientId, username, password} (and clientSecret when the app client has
one). The user pools are MOD-104's; the role of this function may set passwords and sign in only on them.

- create: a new password from Secrets Manager's GetRandomPassword (every character class, which any Cognito
  password policy accepts);
- apply:  AdminSetUserPassword, permanent (no forced change at the next sign-in);
- test:   AdminInitiateAuth with ADMIN_USER_PASSWORD_AUTH; tokens, or an MFA challenge, prove the password was
  accepted (the internal pool requires MFA, so a staff user answers with a challenge);
- retire: nothing; the old password stopped working when the new one was set.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from typing import Any

import boto3

from . import protocol

PASSWORD_LENGTH = 32
# Characters that break shells, JSON or URLs when a person copies the value; Cognito accepts the rest.
EXCLUDED_CHARACTERS = "\"'`\\/@ "
# Challenges that come only after the password was accepted.
MFA_CHALLENGES = frozenset({"SOFTWARE_TOKEN_MFA", "SMS_MFA", "EMAIL_OTP", "MFA_SETUP", "SELECT_MFA_TYPE"})


class CognitoUserPassword:
    fields = ("userPoolId", "clientId", "username", "password")

    def __init__(self, secrets, cognito):
        self.secrets = secrets
        self.cognito = cognito

    def create(self, rotation: protocol.Rotation, current: dict[str, Any]) -> dict[str, Any]:
        protocol.require_fields(rotation, self, current)
        password = self.secrets.get_random_password(
            PasswordLength=PASSWORD_LENGTH, ExcludeCharacters=EXCLUDED_CHARACTERS, RequireEachIncludedType=True
        )["RandomPassword"]
        return {**current, "password": password}

    def apply(self, rotation: protocol.Rotation, pending: dict[str, Any], current: dict[str, Any]) -> None:
        # A rotation changes the password only: never another user or pool than the current value names.
        for key in ("userPoolId", "username"):
            if pending.get(key) != current.get(key):
                raise protocol.RotationError(f"secret {rotation.name}: the pending value names another {key}")
        self.cognito.admin_set_user_password(
            UserPoolId=pending["userPoolId"], Username=pending["username"], Password=pending["password"], Permanent=True
        )

    def test(self, rotation: protocol.Rotation, pending: dict[str, Any]) -> None:
        parameters = {"USERNAME": pending["username"], "PASSWORD": pending["password"]}
        if pending.get("clientSecret"):
            parameters["SECRET_HASH"] = secret_hash(pending["username"], pending["clientId"], pending["clientSecret"])
        try:
            answer = self.cognito.admin_initiate_auth(
                UserPoolId=pending["userPoolId"],
                ClientId=pending["clientId"],
                AuthFlow="ADMIN_USER_PASSWORD_AUTH",
                AuthParameters=parameters,
            )
        except self.cognito.exceptions.NotAuthorizedException:
            raise protocol.RotationError(f"secret {rotation.name}: Cognito refused the new password") from None
        if "AuthenticationResult" not in answer and answer.get("ChallengeName") not in MFA_CHALLENGES:
            raise protocol.RotationError(
                f"secret {rotation.name}: signing in with the new password ended in {answer.get('ChallengeName')}"
            )

    def retire(self, rotation: protocol.Rotation, replaced: dict[str, Any]) -> None:
        return None


def secret_hash(username: str, client_id: str, client_secret: str) -> str:
    """Cognito's SECRET_HASH for an app client with a secret: Base64(HMAC-SHA256(secret, username + client id))."""
    digest = hmac.new(client_secret.encode(), (username + client_id).encode(), hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


def handler(event: dict[str, Any], context: Any) -> None:
    secrets = boto3.client("secretsmanager")
    protocol.rotate(event, CognitoUserPassword(secrets, boto3.client("cognito-idp")), secrets)
