"""A module of Phases 1–7 or the data-platform track: its code ships from its domain repo at a pinned release."""

from __future__ import annotations

import pulumi

from components.build_context import BuildContext
from components.module_component import ModuleComponent
from model.platform import ModuleDeployment


class ServiceModule(ModuleComponent):
    def __init__(self, deployment: ModuleDeployment, context: BuildContext, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bank:domains:ServiceModule", deployment, context, opts)
