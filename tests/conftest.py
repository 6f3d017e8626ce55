"""Shared fixtures: the offline plans of the real stacks, and a moto server on loopback."""

from __future__ import annotations

import os
from functools import cache
from pathlib import Path

import pytest

PROJECT_DIR = Path(__file__).resolve().parent.parent


@cache
def offline_plan(stack: str):
    """The real program's plan for a stack (computed once per test process)."""
    from bankctl.plan_command import plan_stack

    return plan_stack(stack, PROJECT_DIR)


@pytest.fixture(scope="session")
def moto_endpoint():
    """A real AWS API emulator (moto in server mode) on 127.0.0.1, for the gate code's boto3 calls."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    saved = {
        k: os.environ.get(k)
        for k in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_DEFAULT_REGION")
    }
    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "ap-southeast-2"}
    )
    os.environ.pop("AWS_SESSION_TOKEN", None)
    try:
        yield f"http://{host}:{port}"
    finally:
        server.stop()
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


def engine_config(stack: str) -> tuple[dict, frozenset[str]]:
    """A stack's config as the engine hands it to the program once a person has set its credentials
    (`pulumi config set --secret`): values plus secret keys, credentials stood in."""
    from model.stack_config import read_stack_file, stand_in_missing_credentials

    values, secret_keys = read_stack_file(PROJECT_DIR, stack)
    values, secret_keys, _ = stand_in_missing_credentials(values, secret_keys)
    return values, secret_keys


# DESIGN G4: each database and the domain that owns it (its secrets live under /bank/{env}/{domain}/). Written
# out here, once, as the tests' own reading of the design, not read from model/phases.py.
DATABASE_DOMAINS = {
    "bank_core": "sd01",
    "bank_kyc": "sd02",
    "bank_aml": "sd03",
    "bank_payments": "sd04",
    "bank_credit": "sd05",
    "bank_risk_platform": "sd06",
    "bank_reporting": "sd07",
    "bank_app": "sd08",
}


@cache
def _module_ids() -> dict[str, str]:
    import yaml

    entries = yaml.safe_load((PROJECT_DIR / "catalogue" / "modules.yaml").read_text(encoding="utf-8"))["modules"]
    return {entry["slug"]: entry["id"] for entry in entries}


def module_id(slug: str) -> str:
    """A module's ID by its slug: tests name modules by slug too, as the code does (DESIGN G12)."""
    return _module_ids()[slug]
