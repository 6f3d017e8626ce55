"""The component every catalogue module is: one ComponentResource per module (DESIGN §3).

Named by the module's slug, never its ID: all but six IDs are provisional (DESIGN
G12), and a changed URN deletes and re-creates every resource under it. A slug
rename keeps the resources through `formerSlugs` in the catalogue, which become
aliases here; children are named `<slug>-<what>`, so the SDK derives their aliases
from the component's.

Each module owns its module record, an SSM parameter `/bank/{env}/{slug}/release`
(operations index: /bank/{env}/{service}/{parameter}) holding what is deployed.
The phase gate reads these records (bankctl gate run); a module's own resources
are added by subclasses in `_build_footprint`.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from components.build_context import BuildContext
from model.platform import ModuleDeployment, module_record_name, record_json


class ModuleComponent(pulumi.ComponentResource):
    """Base of ServiceModule and the foundation modules."""

    def __init__(
        self,
        type_token: str,
        deployment: ModuleDeployment,
        context: BuildContext,
        opts: pulumi.ResourceOptions | None = None,
    ):
        spec = deployment.spec
        renamed = pulumi.ResourceOptions(aliases=[pulumi.Alias(name=old) for old in spec.former_slugs])
        super().__init__(type_token, spec.resource_name, None, pulumi.ResourceOptions.merge(opts, renamed))
        self.deployment = deployment
        self.context = context
        self.inputs = context.inputs
        environment = context.environment
        self.record = aws.ssm.Parameter(
            f"{spec.resource_name}-record",
            name=module_record_name(environment, spec.slug),
            type="String",
            # Not a secret: auditors and `pulumi preview` should see what each module runs.
            insecure_value=record_json(deployment.record(environment)),
            description=f"{spec.id} {spec.name}: what is deployed (read by the phase gate)",
            tags=spec.tags,
            opts=self.child_options(),
        )
        self._build_footprint()
        self.register_outputs({"recordName": self.record.name, "release": deployment.release_label})

    def child_options(self, **options) -> pulumi.ResourceOptions:
        return pulumi.ResourceOptions(parent=self, **options)

    def stateful_options(self, **options) -> pulumi.ResourceOptions:
        """A child that holds data: protected and retained in uat and prod (BuildContext.stateful)."""
        return self.context.stateful(self, **options)

    def _build_footprint(self) -> None:
        """Where a module's own resources are created, as children of the component."""
