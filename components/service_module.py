"""A module of Phases 1–7 or the data-platform track: its code ships from its domain repo at a pinned release."""

from __future__ import annotations

import pulumi

from components.module_component import ModuleComponent
from components.stack_inputs import StackInputs
from model.platform import ModuleDeployment


class ServiceModule(ModuleComponent):
    def __init__(self, deployment: ModuleDeployment, inputs: StackInputs, opts: pulumi.ResourceOptions | None = None):
        super().__init__("bank:domains:ServiceModule", deployment, inputs, opts)
