"""Gate check: the credentials in use belong to the stack's own AWS account.

Without it, a gate run with another account's credentials would report every
module record missing; with it, the person is told what is actually wrong.
"""

from __future__ import annotations

from model.platform import PlatformSpec


def account_problem(platform: PlatformSpec, sts_client) -> str | None:
    account = sts_client.get_caller_identity()["Account"]
    expected = platform.config.aws_account_id
    if account != expected:
        return (
            f"the AWS credentials in use are for account {account}, but stack {platform.stack} deploys to "
            f"{expected} (bank:awsAccountId); use the {platform.stack} deployment role"
        )
    return None
