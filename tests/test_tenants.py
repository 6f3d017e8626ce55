"""Multi-tenant activation (operations index: "single-stack, multi-tenant"; DESIGN G8, G13).

A stack deploys every module that some tenant activates; each tenant's active modules are runtime data.
Expectations are written out here from the catalogue's activation columns as a reader of the
document would apply them, not computed by model/platform.py.
"""

from __future__ import annotations

import json

import pytest
import yaml

from model.catalogue import DEFAULT_CATALOGUE_FILE, load_catalogue, parse_catalogue
from model.errors import ConfigurationError
from model.platform import resolve_platform
from model.releases import load_release_manifest
from model.stack_config import config_from_values
from tests.conftest import PROJECT_DIR, engine_config

TOTARA = {"id": "totara-bank", "name": "Totara Bank", "institutionType": "bank", "jurisdictions": ["NZ", "AU"]}


def platform_with(stack: str, *tenants: dict, catalogue=None):
    values, secret_keys = engine_config(stack)
    values["bank:tenants"] = json.dumps(list(tenants))
    config = config_from_values(values, stack, secret_keys)
    return resolve_platform(stack, config, catalogue or load_catalogue(), load_release_manifest(PROJECT_DIR, stack))


def deployed(platform) -> dict[str, bool]:
    return {m.spec.slug: m.enabled for m in platform.modules}


def test_a_credit_union_tenant_on_a_bank_stack_deploys_member_shares():
    alone = platform_with("prod", TOTARA)
    assert deployed(alone)["member-shares"] is False
    assert alone.module(load_catalogue().by_slug()["member-shares"].id).disabled_because == (
        "no tenant is a credit union or a building society"
    )
    credit_union = {"id": "kowhai-cu", "name": "Kowhai CU", "institutionType": "credit_union", "jurisdictions": ["NZ"]}
    both = platform_with("prod", TOTARA, credit_union)
    assert deployed(both)["member-shares"] is True


def test_a_stack_whose_tenants_are_all_in_au_deploys_no_nz_only_module():
    au_bank = {**TOTARA, "jurisdictions": ["AU"]}
    platform = platform_with("prod", au_bank)
    nz_only = [
        m for m in yaml.safe_load(DEFAULT_CATALOGUE_FILE.read_text())["modules"] if m.get("jurisdictions") == ["NZ"]
    ]
    assert {m["slug"] for m in nz_only} >= {"nz-faster-payments-rail", "nz-obr-monitoring", "open-banking-nz"}
    for m in nz_only:
        module = platform.module(m["id"])
        assert not module.enabled and module.disabled_because == "no tenant is in NZ", m["slug"]
    assert deployed(platform)["npp-realtime-payments"] is True


# The dev stack's tenants: Totara Bank (bank; NZ, AU), Kowhai Credit Union (credit union; NZ),
# Wattle Building Society (building society; AU). Rows: module, then active for each of the three.
DEV_ACTIVATION = [
    ("account-creation", True, True, True),
    ("member-shares", False, True, True),  # credit unions and building societies only
    ("broker-channel", True, False, True),  # banks and building societies
    ("nz-obr-monitoring", True, False, False),  # RBNZ Open Bank Resolution: NZ registered banks
    ("nz-dcs-monitoring", True, True, False),  # Depositor Compensation Scheme: every NZ deposit taker
    ("bpay-rail", True, False, True),  # AU
    ("nz-faster-payments-rail", True, True, False),  # NZ
    ("card-scheme-integration", True, False, True),  # AU-only providers (Cuscal, Monoova)
    ("card-management", True, False, True),
    ("company-verification-nz", True, True, False),
    ("open-banking-cdr-au", True, False, True),
    ("aws-bootstrap", True, True, True),
]


def test_the_activation_matrix_of_each_dev_tenant():
    from model.platform import load_stack_platform

    platform = load_stack_platform(PROJECT_DIR, "dev")
    ids = load_catalogue().by_slug()
    active = {tenant.id: set(modules) for tenant, modules in platform.tenant_activation()}
    assert list(active) == ["totara-bank", "test-kowhai-credit-union", "test-wattle-building-society"]
    for slug, *expected in DEV_ACTIVATION:
        got = [ids[slug].id in active[t] for t in active]
        assert got == expected, (slug, got)
    # Deploy-time flags stay deploy-time: SWIFT is off in dev, so it is active for nobody.
    assert all(ids["swift-correspondent-banking"].id not in modules for modules in active.values())


def test_a_module_active_for_a_tenant_needs_what_it_needs_active_for_that_tenant():
    entries = yaml.safe_load(DEFAULT_CATALOGUE_FILE.read_text())["modules"]
    by_slug = {e["slug"]: e for e in entries}
    # eIDV offered to banks only: the credit union's onboarding would call a service it may not use.
    by_slug["eidv-document-verification"]["institutionTypes"] = ["bank"]
    credit_union = {"id": "kowhai-cu", "name": "Kowhai CU", "institutionType": "credit_union", "jurisdictions": ["NZ"]}
    with pytest.raises(ConfigurationError) as caught:
        platform_with("prod", TOTARA, credit_union, catalogue=parse_catalogue(entries))
    assert any(
        p.startswith(f"{by_slug['onboarding-flows']['id']} (onboarding-flows) is active for tenant kowhai-cu but needs")
        and "eidv-document-verification" in p
        for p in caught.value.problems
    ), caught.value.problems
