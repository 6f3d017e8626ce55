"""The component every catalogue module is: one ComponentResource per module (DESIGN §3).

Each module owns its module record, an SSM parameter `/bank/{env}/modules/{id}`
holding what is deployed (id, domain, phase, release). The phase gate reads
these records (bankctl gate run), and later footprints (functions, queues,
subscriptions) are added by subclasses in `_build_footprint`.
"""

from __future__ import annotations

import pulumi
import pulumi_aws as aws

from model.platform import ModuleDeployment, module_record_name, record_json


class ModuleComponent(pulumi.ComponentResource):
    """Base of ServiceModule and the foundation modules."""

    def __init__(
        self,
        type_token: str,
        deployment: ModuleDeployment,
        environment: str,
        opts: pulumi.ResourceOptions | None = None,
    ):
        spec = deployment.spec
        super().__init__(type_token, spec.resource_name, None, opts)
        self.deployment = deployment
        self.record = aws.ssm.Parameter(
            f"{spec.resource_name}-record",
            name=module_record_name(environment, spec.id),
            type="String",
            # Not a secret: auditors and `pulumi preview` should see what each module runs.
            insecure_value=record_json(deployment.record(environment)),
            description=f"{spec.id} {spec.name}: what is deployed (read by the phase gate)",
            tags={"bank:module": spec.id, "bank:domain": spec.domain, "bank:phase": spec.phase},
            opts=pulumi.ResourceOptions(parent=self),
        )
        self._build_footprint()
        self.register_outputs({"recordName": self.record.name, "release": deployment.release_label})

    def _build_footprint(self) -> None:
        """Where a module's own resources are created, as children of the component."""
