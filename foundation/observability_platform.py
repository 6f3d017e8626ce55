"""MOD-076 observability platform (deployment sequence, step 0.3): "the alerting configuration".

Today: the platform's alert topic and the on-call mailbox's subscription to it.
The full footprint (dashboards, X-Ray, log routing, Datadog) is the foundation issue's.
"""

from __future__ import annotations

import pulumi_aws as aws

from foundation.modules import FoundationModule


class ObservabilityPlatform(FoundationModule):
    def _build_footprint(self) -> None:
        spec = self.deployment.spec
        environment = self.inputs.config.environment
        self.alerts = aws.sns.Topic(
            f"{spec.resource_name}-alerts",
            name=f"bank-{environment}-platform-alerts",
            # Encrypted at rest; the AWS-managed SNS key until MOD-104's per-domain keys exist.
            kms_master_key_id="alias/aws/sns",
            tags=spec.tags,
            opts=self.child_options(),
        )
        # bank:alertEmail may be set with --secret: StackInputs keeps it a secret in state and plans.
        self.alert_mailbox = aws.sns.TopicSubscription(
            f"{spec.resource_name}-alerts-email",
            topic=self.alerts.arn,
            protocol="email",
            endpoint=self.inputs["alertEmail"],
            opts=self.child_options(),
        )
