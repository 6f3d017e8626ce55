"""A phase gate: the point in the resource graph where one phase is complete (DESIGN §3).

It always owns a real child, a pulumi-command `local.Command`, because a
component with no children is ignored by `depends_on` (pulumi/pulumi#8721).
The command runs the phase's checks; it re-runs when what the phase deploys
changes (the fingerprint trigger).
"""

from __future__ import annotations

import pulumi
import pulumi_command as command

from components.stack_inputs import StackInputs
from model.phases import Phase

# Relative to the project directory, where the engine runs local commands; the
# virtualenv is the one Pulumi.yaml names. No absolute path may enter a plan.
GATE_PYTHON = ".venv/bin/python"


def gate_environment(inputs: StackInputs) -> dict:
    """What the gate command needs beyond the engine's own environment: names and endpoints, never a
    credential (the command inherits the deployment's AWS credentials from the engine's environment,
    so none is ever written into the command's inputs or the state)."""
    env = {"AWS_REGION": inputs["region"]}
    if inputs.config.local is not None:
        env["AWS_ENDPOINT_URL"] = inputs.derived("local.awsEndpoint", lambda url: url.rstrip("/"))
    return env


def gate_command(phase_key: str, stack: str) -> str:
    return f"{GATE_PYTHON} -m bankctl gate run {phase_key} --stack {stack}"


class PhaseGate(pulumi.ComponentResource):
    def __init__(
        self,
        phase: Phase,
        stack: str,
        fingerprint: str,
        environment_variables: dict[str, str],
        opts: pulumi.ResourceOptions | None = None,
    ):
        super().__init__("bank:gates:PhaseGate", phase.gate_name, None, opts)
        self.phase = phase
        self.check = command.local.Command(
            f"{phase.gate_name}-check",
            create=gate_command(phase.key, stack),
            environment=environment_variables,
            triggers=[fingerprint],
            opts=pulumi.ResourceOptions(parent=self),
        )
        self.register_outputs({"phase": phase.key, "completionSignal": phase.completion_signal})
