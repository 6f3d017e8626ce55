"""MOD-045 secrets and key management (deployment sequence, step 0.3): "Secrets Manager policies, secret rotation
lambdas, KMS key aliases, and the secrets access patterns for each service role".

From the secrets manifest (catalogue/secrets.yaml, model/secrets_manifest.py), for every externally provided
secret this stack has:

- its Secrets Manager secret — the container only: no SecretVersion, so no value is ever in code, config or
  state; a person fills it with `bankctl secrets set` (DESIGN §3, Secrets) — named /bank/{env}/{domain}/{name},
  encrypted with the domain's KMS key (MOD-104), with a 30-day recovery window, stateful;
- a resource policy that denies GetSecretValue to every principal whose ARN is not one of the secret's readers:
  its consumer modules' roles, the CI/CD deploy role when a phase gate reads it, the rotation function's role
  when it rotates automatically. Operators can write values (PutSecretValue) but not read them back;
- for automatic rotation, the manifest's schedule on the rotation function of its kind: one Lambda function per
  kind (functions/secret_rotation/), with its own role, log group and invoke permission for Secrets Manager.

Secrets the platform generates (database role passwords, the Snowflake loader key) are created by the module
that generates them, so MOD-103 and MOD-102 never wait for this module. The KMS key aliases are MOD-104's
(`alias/bank-{env}-{domain}`); the secrets use the keys themselves.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pulumi
import pulumi_aws as aws

from foundation.iam_documents import LAMBDA_TRUST, policy_document, render_json
from foundation.modules import FoundationModule
from model.secrets_manifest import ROTATION_FUNCTIONS, StackSecret, load_secrets_manifest, stack_secrets

# Secrets Manager's longest recovery window: a secret deleted by mistake can be restored for 30 days.
RECOVERY_WINDOW_DAYS = 30
ROTATION_CODE = Path(__file__).resolve().parent.parent / "functions" / "secret_rotation"
ROTATION_RUNTIME = "python3.13"
# Roles of foundation modules that read a secret MOD-045 creates, by the reader's slug. Named, not referenced:
# MOD-045 runs beside MOD-076 (deployment sequence, step 0.3), so it cannot wait for that module's outputs.
FOUNDATION_READER_ROLES: dict[str, tuple[str, ...]] = {
    # MOD-076's Firehose stream to Datadog reads its API key as this role (foundation/observability_platform.py).
    "observability-platform": ("bank-{env}-datadog-delivery",),
}
KEY_MANAGER_SECRET = "sd07/datadog-key-manager"  # what the Datadog rotation function manages keys with
# Secrets MOD-045 itself reads (consumer: secrets-key-management), by the rotation function that reads each.
OWN_READERS = {KEY_MANAGER_SECRET: "datadog-api-key"}


def readers_only_policy(reader_arns: list[Any]) -> dict[str, Any]:
    """Deny reading the value to every principal but the readers (Secrets Manager user guide, "Resource-based
    policies"; aws:PrincipalArn is the role's ARN for a role session). Conditioned: never an open `*`."""
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "OnlyItsReadersGetTheValue",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "secretsmanager:GetSecretValue",
                "Resource": "*",
                "Condition": {"StringNotLike": {"aws:PrincipalArn": reader_arns}},
            }
        ],
    }


def rotation_code(module: str) -> pulumi.AssetArchive:
    """The rotation function's package from this repository: file contents only, so the plan is the same on
    every machine (no paths, no timestamps)."""
    files = ("__init__.py", "protocol.py", f"{module}.py")
    return pulumi.AssetArchive(
        {
            f"secret_rotation/{name}": pulumi.StringAsset((ROTATION_CODE / name).read_text(encoding="utf-8"))
            for name in files
        }
    )


class SecretsKeyManagement(FoundationModule):
    def _build_footprint(self) -> None:
        spec = self.deployment.spec
        bootstrap = self.context.foundation["aws-bootstrap"]
        platform = self.context.platform
        self.environment = self.context.environment
        self.account = self.inputs["awsAccountId"]
        self.keys = {domain: found.key for domain, found in bootstrap.events.domains.items()}
        self.identity = bootstrap.identity
        manifest = load_secrets_manifest(platform.catalogue)
        # The externally provided secrets this stack has; generated ones belong to the modules that generate them.
        self.owned = [s for s in stack_secrets(manifest, platform) if s.entry.externally_provided]
        kinds = sorted({s.entry.rotation.function for s in self.owned if s.entry.rotation.automatic})

        self.rotation_roles: dict[str, aws.iam.Role] = {
            kind: aws.iam.Role(
                f"{spec.resource_name}-rotation-{kind}-role",
                name=f"bank-{self.environment}-secret-rotation-{kind}",
                description=f"the {kind} secret rotation function (MOD-045)",
                assume_role_policy=LAMBDA_TRUST,
                # MOD-104's cap on the platform's helper roles: rotation writes secret values, which no service
                # role's boundary allows.
                permissions_boundary=bootstrap.platform_boundary.arn,
                tags=spec.tags,
                opts=self.child_options(),
            )
            for kind in kinds
        }
        self.secrets: dict[str, aws.secretsmanager.Secret] = {}
        self.secret_policies: dict[str, aws.secretsmanager.SecretPolicy] = {}
        for secret in self.owned:
            self.secrets[secret.key] = aws.secretsmanager.Secret(
                f"{spec.resource_name}-{secret.key.replace('/', '-')}",
                name=secret.path,
                description=f"{secret.entry.description}. Provided by {secret.entry.provided_by}.",
                kms_key_id=self.keys[secret.entry.domain].arn,
                recovery_window_in_days=RECOVERY_WINDOW_DAYS,
                tags=spec.tags,
                opts=self.stateful_options(),
            )
        for secret in self.owned:
            self.secret_policies[secret.key] = aws.secretsmanager.SecretPolicy(
                f"{spec.resource_name}-{secret.key.replace('/', '-')}-policy",
                secret_arn=self.secrets[secret.key].arn,
                policy=render_json(readers_only_policy(self._readers(secret))),
                # Secrets Manager refuses a policy that would grant broad access (Zelkova check on PutResourcePolicy).
                block_public_policy=True,
                opts=self.child_options(),
            )
        self.rotation_functions: dict[str, aws.lambda_.Function] = {}
        self.rotations: dict[str, aws.secretsmanager.SecretRotation] = {}
        for kind in kinds:
            rotated = [s for s in self.owned if s.entry.rotation.function == kind]
            self._rotation(kind, rotated)

    # --- who may read ----------------------------------------------------------------------------------------------
    def _readers(self, secret: StackSecret) -> list[Any]:
        """The role ARNs that may read the value: consumers' roles, the deploy role for the gates, the rotation
        function's role. Sorted by kind, then manifest order, so the policy text is stable."""
        readers: list[Any] = []
        for slug in secret.consumer_modules:
            if slug in self.identity.service_roles:
                readers.append(self.identity.service_roles[slug].arn)
            elif slug == self.deployment.spec.slug:
                # This module's own reader: the rotation function that uses the secret (the key manager's).
                readers.append(self.rotation_roles[OWN_READERS[secret.key]].arn)
            else:
                readers += [
                    pulumi.Output.concat("arn:aws:iam::", self.account, ":role/", name.format(env=self.environment))
                    for name in FOUNDATION_READER_ROLES[slug]
                ]
        if secret.consumer_gates:
            # The gate commands run as the CI/CD deploy role (README: every run after the first uses it).
            readers.append(self.identity.deploy_role.arn)
        if secret.entry.rotation.automatic:
            readers.append(self.rotation_roles[secret.entry.rotation.function].arn)
        return readers

    # --- rotation --------------------------------------------------------------------------------------------------
    def _rotation(self, kind: str, rotated: list[StackSecret]) -> None:
        spec = self.deployment.spec
        function = ROTATION_FUNCTIONS[kind]
        name = f"{spec.resource_name}-rotation-{kind}"
        role = self.rotation_roles[kind]
        logs = aws.cloudwatch.LogGroup(
            f"{name}-logs",
            name=f"/bank/{self.environment}/{spec.slug}/{kind}-rotation",
            retention_in_days=self.inputs["retention.logRetentionDays"],
            kms_key_id=self.keys[spec.domain].arn,
            tags=spec.tags,
            # The record of when credentials changed: kept like other audit logs.
            opts=self.stateful_options(),
        )
        arns = [self.secrets[s.key].arn for s in rotated]
        statements: list[Any] = [
            {
                "Sid": "RotateItsSecrets",
                "Effect": "Allow",
                "Action": [
                    "secretsmanager:DescribeSecret",
                    "secretsmanager:GetSecretValue",
                    "secretsmanager:PutSecretValue",
                    "secretsmanager:UpdateSecretVersionStage",
                ],
                "Resource": arns,
            },
            {
                # Secrets Manager user guide, "Lambda rotation function execution role permissions": the secret's
                # customer managed key, only for these secrets (their ARN is the encryption context).
                "Sid": "UseTheDomainKeysForTheseSecrets",
                "Effect": "Allow",
                "Action": ["kms:Decrypt", "kms:DescribeKey", "kms:GenerateDataKey"],
                "Resource": [self.keys[d].arn for d in sorted({s.entry.domain for s in rotated})],
                "Condition": {"StringEquals": {"kms:EncryptionContext:SecretARN": arns}},
            },
            {
                "Sid": "WriteItsLogs",
                "Effect": "Allow",
                "Action": ["logs:CreateLogStream", "logs:PutLogEvents"],
                "Resource": pulumi.Output.concat(logs.arn, ":*"),
            },
        ]
        environment: dict[str, Any] = {}
        if kind == "cognito-user-password":
            statements += [
                {
                    # GetRandomPassword acts on no resource: "*" is the only form IAM accepts for it.
                    "Sid": "GeneratePasswords",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetRandomPassword",
                    "Resource": "*",
                },
                {
                    "Sid": "SetAndTestPasswordsInThePlatformPools",
                    "Effect": "Allow",
                    "Action": ["cognito-idp:AdminSetUserPassword", "cognito-idp:AdminInitiateAuth"],
                    "Resource": [self.identity.customer_pool.arn, self.identity.internal_pool.arn],
                },
            ]
        elif kind == "datadog-api-key":
            manager = self.secrets[KEY_MANAGER_SECRET]
            statements += [
                {
                    "Sid": "ReadTheKeyManager",
                    "Effect": "Allow",
                    "Action": "secretsmanager:GetSecretValue",
                    "Resource": manager.arn,
                },
                {
                    "Sid": "DecryptTheKeyManager",
                    "Effect": "Allow",
                    "Action": "kms:Decrypt",
                    "Resource": self.keys["SD07"].arn,
                    "Condition": {"StringEquals": {"kms:EncryptionContext:SecretARN": manager.arn}},
                },
            ]
            environment["DATADOG_KEY_MANAGER_SECRET"] = manager.arn
        role_policy = aws.iam.RolePolicy(
            f"{name}-policy",
            name=f"rotate-{kind}",
            role=role.id,
            policy=policy_document(statements),
            opts=self.child_options(),
        )
        fn = aws.lambda_.Function(
            name,
            name=f"bank-{self.environment}-secret-rotation-{kind}",
            description=f"Secrets Manager rotation: {function.summary}",
            runtime=ROTATION_RUNTIME,
            architectures=["arm64"],
            handler=f"secret_rotation.{function.module}.handler",
            code=rotation_code(function.module),
            role=role.arn,
            timeout=60,
            memory_size=256,
            logging_config=aws.lambda_.FunctionLoggingConfigArgs(log_format="JSON", log_group=logs.name),
            environment=aws.lambda_.FunctionEnvironmentArgs(variables=environment) if environment else None,
            tags=spec.tags,
            opts=self.child_options(depends_on=[role_policy]),
        )
        permission = aws.lambda_.Permission(
            f"{name}-invoke",
            statement_id="SecretsManagerRotates",
            action="lambda:InvokeFunction",
            function=fn.name,
            principal="secretsmanager.amazonaws.com",
            # Only Secrets Manager acting for this account may invoke it (confused-deputy guard).
            source_account=self.account,
            opts=self.child_options(),
        )
        self.rotation_functions[kind] = fn
        for secret in rotated:
            self.rotations[secret.key] = aws.secretsmanager.SecretRotation(
                f"{spec.resource_name}-{secret.key.replace('/', '-')}-rotation",
                secret_id=self.secrets[secret.key].id,
                rotation_lambda_arn=fn.arn,
                rotation_rules=aws.secretsmanager.SecretRotationRotationRulesArgs(
                    automatically_after_days=secret.entry.rotation.period_days
                ),
                # Not at once: the container may still be empty on the first run. Secrets Manager then only runs
                # testSecret as a check of the configuration, which passes on an empty container.
                rotate_immediately=False,
                opts=self.child_options(depends_on=[permission, self.secret_policies[secret.key]]),
            )
