"""What every module's component is built with: the resolved platform, the stack config as resource inputs,
and the foundation modules built so far (components are created in dependency order, so a module only ever
sees the foundation modules it follows)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import pulumi

from components.stack_inputs import StackInputs
from model.platform import PlatformSpec

if TYPE_CHECKING:
    from components.blue_green import CanaryReleaseSetup
    from components.module_component import ModuleComponent


@dataclass
class BuildContext:
    platform: PlatformSpec
    inputs: StackInputs
    # Built foundation components by slug (`aws-bootstrap` → AwsBootstrap), filled as they are created.
    foundation: dict[str, ModuleComponent] = field(default_factory=dict)
    # The environment's one CodeDeploy application and service role (prod canary), made by the first module needing it.
    canary_release: CanaryReleaseSetup | None = None

    @property
    def environment(self) -> str:
        return self.platform.config.environment

    @property
    def protect_stateful(self) -> bool:
        return self.platform.config.protect_stateful

    def stateful(self, parent: pulumi.Resource, **options) -> pulumi.ResourceOptions:
        """Options of a resource that holds data (keys, buckets, pools, streams, archives, secrets, the trail,
        audit log groups): protected and retained on delete in uat and prod, so no `pulumi destroy` or
        mistaken replace can lose it (driven by the config model's `protect_stateful`)."""
        keep = self.protect_stateful
        return pulumi.ResourceOptions(parent=parent, protect=keep, retain_on_delete=keep, **options)
