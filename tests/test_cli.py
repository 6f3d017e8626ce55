"""bankctl as engineers and CI run it: a fresh process each time."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from tests.conftest import PROJECT_DIR


def bankctl(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "bankctl", *args],
        cwd=PROJECT_DIR,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=300,
    )


def test_plan_is_byte_identical_across_processes(tmp_path):
    first, second = tmp_path / "a.json", tmp_path / "b.json"
    run_a = bankctl("plan", "dev", "--out", str(first), PYTHONHASHSEED="1")
    run_b = bankctl("plan", "dev", "--out", str(second), PYTHONHASHSEED="2")
    assert run_a.returncode == 0, run_a.stderr
    assert run_b.returncode == 0, run_b.stderr
    assert first.read_bytes() == second.read_bytes()
    assert "Offline plan of dev: 147 of 149 modules" in run_a.stdout
    assert "off: " in run_a.stdout and "swift-correspondent-banking" in run_a.stdout
    # The critical path: Phase 0, then KYC, then AML (or credit, equally long), then the app layer.
    assert "Critical path, 20 waves: aws-bootstrap → neon-database-bootstrap → dba-access-control → phase-0-gate" in (
        " ".join(run_a.stdout.split())
    )


def test_plan_summary_as_json():
    result = bankctl("plan", "uat", "--json")
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    rows = summary["phases"]
    assert [r["gate"] for r in rows][:2] == ["phase-0-gate", "phase-1-gate"]
    assert sum(r["modules"] for r in rows) + sum(r["disabled"] for r in rows) == 149
    path = summary["criticalPath"]
    assert path["waves"] == len(path["path"]) == 20
    assert path["path"][0] == "aws-bootstrap" and path["path"][-1] == "phase-7-gate"
    assert path["path"].index("phase-0-gate") < path["path"].index("phase-2-gate") < path["path"].index("phase-7-gate")


def test_plan_of_an_unknown_stack_is_a_clear_input_error():
    result = bankctl("plan", "staging")
    assert result.returncode == 2
    assert "Pulumi.staging.yaml" in result.stderr and "pulumi stack init staging" in result.stderr
    assert "Traceback" not in result.stderr


def test_config_check_and_docs():
    check = bankctl("config", "check", "prod")
    assert check.returncode == 0 and "prod: valid" in check.stdout
    docs = bankctl("config", "docs", COLUMNS="200")
    assert docs.returncode == 0
    for key in (
        "bank:awsAccountId",
        "bank:payments.swift.enabled",
        "bank:tenants[].institutionType",
        "bank:retention.auditArchiveYears",
    ):
        assert key in docs.stdout


def test_plan_lists_modules_by_wave():
    result = bankctl("plan", "dev", "--waves")
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    foundation = lines.index("0 Foundation:")
    # Deployment sequence, Phase 0: MOD-104 alone first, then 103/102/045/076 together, then MOD-046.
    assert lines[foundation + 1 : foundation + 4] == [
        "  wave 1: aws-bootstrap",
        "  wave 2: neon-database-bootstrap, observability-platform, secrets-key-management, snowflake-configuration",
        "  wave 3: dba-access-control",
    ]


def test_tenants_lists_each_tenants_active_modules():
    result = bankctl("tenants", "dev", "--json")
    assert result.returncode == 0, result.stderr
    rows = {r["id"]: r for r in json.loads(result.stdout)}
    assert list(rows) == ["totara-bank", "test-kowhai-credit-union", "test-wattle-building-society"]
    assert rows["test-kowhai-credit-union"]["institutionType"] == "credit_union"
    assert rows["test-kowhai-credit-union"]["jurisdictions"] == ["NZ"]
    assert "MOD-104" in rows["totara-bank"]["activeModules"]
    table = bankctl("tenants", "dev", COLUMNS="250")
    assert table.returncode == 0, table.stderr
    credit_union = next(line for line in table.stdout.splitlines() if "test-kowhai-credit-union" in line)
    assert "credit_union" in credit_union and "bpay-rail" in credit_union  # deployed, not active for it
