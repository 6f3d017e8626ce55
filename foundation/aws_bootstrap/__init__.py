"""MOD-104 AWS bootstrap (deployment sequence, step 0.1): every shared resource the other modules assume.

"Every application module assumes that S3 buckets, KMS keys, Kinesis streams, EventBridge buses, Cognito
user pools, SSM parameters, and IAM roles already exist. MOD-104 creates all of these." Its footprint is
built in five parts, in this order (later parts use earlier ones):

- `encryption_events`: per system domain, a KMS key and alias, an EventBridge bus with its policy and archive,
  and a Kinesis stream fed from the bus;
- `storage`: the S3 buckets (documents, audit-log archive, data-lake landing zone, artifacts, access logs) and
  CloudTrail;
- `identity`: Cognito user pools, the GitHub OIDC provider, CI/CD roles, the permissions boundaries and the
  per-service least-privilege roles; its platform boundary, which every helper role of the platform carries (the
  events-to-stream and trail-to-logs roles here, MOD-045's, MOD-076's and MOD-102's), is built before the parts;
- `apis`: the domain APIs' shells (an HTTP API per domain, its stage, access logs, SD08's JWT authorisers), to
  which every service module adds its routes;
- `runtime_config`: the SSM baseline under /bank/{env}/platform/ and AWS AppConfig (tenant activation).
"""

from __future__ import annotations

from foundation.aws_bootstrap.apis import build_domain_apis
from foundation.aws_bootstrap.encryption_events import build_encryption_and_events
from foundation.aws_bootstrap.identity import build_identity, build_platform_boundary
from foundation.aws_bootstrap.runtime_config import build_runtime_config
from foundation.aws_bootstrap.storage import build_storage
from foundation.modules import FoundationModule


class AwsBootstrap(FoundationModule):
    def _build_footprint(self) -> None:
        self.platform_boundary = build_platform_boundary(self)
        self.events = build_encryption_and_events(self)
        self.storage = build_storage(self)
        self.identity = build_identity(self)
        self.apis = build_domain_apis(self)
        self.runtime_config = build_runtime_config(self)
