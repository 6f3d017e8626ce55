"""The foundation modules' components.

Each of the six has its own type token (`bank:foundation:AwsBootstrap`, ...)
so URNs say which foundation module a resource belongs to and stay stable as
each module's footprint grows in its own file here.
"""

from __future__ import annotations

import pulumi

from components.build_context import BuildContext
from components.module_component import ModuleComponent
from model.platform import ModuleDeployment


def foundation_type_token(slug: str) -> str:
    return "bank:foundation:" + "".join(part.capitalize() for part in slug.split("-"))


class FoundationModule(ModuleComponent):
    def __init__(self, deployment: ModuleDeployment, context: BuildContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__(foundation_type_token(deployment.spec.slug), deployment, context, opts)
