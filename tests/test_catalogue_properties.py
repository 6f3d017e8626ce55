"""Property-based tests of the catalogue validator (model/catalogue.py) and the
stack-dependent "needs a module its stack disables" check (model/platform.py).

Strategy: generate VALID catalogues in their YAML form (a list of plain dicts),
check they pass, then inject exactly one defect (or several) and check that the
ConfigurationError names each defect: the offending module ID and a key phrase.
"""

from __future__ import annotations

import copy
import itertools
import unicodedata

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from model.catalogue import parse_catalogue
from model.errors import ConfigurationError
from model.phases import DATA_PLATFORM_TRACK, DOMAINS, PHASES, phases_by_key, prerequisite_closure
from model.platform import resolve_platform
from model.releases import ReleaseManifest
from model.stack_config import FEATURE_FLAGS, StackConfig
from model.steps import DOMAIN_STEPS

PHASE_BY_KEY = phases_by_key(PHASES)
ID_RANGE = [f"MOD-{n:03d}" for n in range(1, 150)]  # the catalogue's documented numbering
PHASE_KEYS = [p.key for p in PHASES]
ALL_DOMAINS = sorted(DOMAINS)
FLAGS = sorted(FEATURE_FLAGS)

FAST = settings(
    max_examples=50, deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large]
)

SLUG_WORDS = st.sampled_from(
    [
        "accounts",
        "ledger",
        "kyc",
        "eidv",
        "sanctions",
        "swift",
        "npp",
        "cards",
        "credit-decision",
        "obr",
        "dcs",
        "app",
        "a",
        "x9",
    ]
)
SHAS = st.text(alphabet="0123456789abcdef", min_size=40, max_size=40).filter(lambda s: set(s) != {"0"})


# ---------------------------------------------------------------- helpers


def phase_key(entry: dict) -> str:
    return str(entry["phase"])


def title(key: str) -> str:
    return PHASE_BY_KEY[key].title


def reachable_phases(entry: dict) -> set[str]:
    """The phases a module may need: its own, and those its gates (narrowed or the phase's) wait for."""
    key = phase_key(entry)
    gates = entry.get("gates")
    own_gates = PHASE_BY_KEY[key].after if gates is None else gates
    reachable = {key}
    for gate in own_gates:
        reachable |= {gate} | prerequisite_closure(gate)
    return reachable


def depends_on(entries: list[dict], start: str, goal: str) -> bool:
    """Does module `start` reach `goal` through needs/after?"""
    by_id = {e["id"]: e for e in entries}
    stack, seen = [start], set()
    while stack:
        mid = stack.pop()
        if mid == goal:
            return True
        if mid in seen or mid not in by_id:
            continue
        seen.add(mid)
        stack += list(by_id[mid].get("needs", [])) + list(by_id[mid].get("after", []))
    return False


def may_need(ex: dict, ey: dict) -> bool:
    """In a domain with deploy-order steps, order within the domain comes from steps only."""
    return ex["domain"] != ey["domain"] or ex["domain"] not in DOMAIN_STEPS


def valid_need_pairs(entries: list[dict]) -> list[tuple[int, int]]:
    """(x, y) index pairs where x may legally gain `needs: y` (right phase and domain, no cycle)."""
    return [
        (x, y)
        for x, ex in enumerate(entries)
        for y, ey in enumerate(entries)
        if x != y
        and phase_key(ey) in reachable_phases(ex)
        and may_need(ex, ey)
        and not depends_on(entries, ey["id"], ex["id"])
    ]


def problems_of(entries: list[dict]) -> list[str]:
    try:
        parse_catalogue(entries)
    except ConfigurationError as exc:
        assert exc.problems, "a ConfigurationError must list its problems"
        return exc.problems
    raise AssertionError("the defective catalogue was accepted")


def unused_id(data, entries: list[dict]) -> str:
    """A well-formed ID that no module of the catalogue has."""
    used = {e["id"] for e in entries}
    return data.draw(st.sampled_from([i for i in ID_RANGE if i not in used]), label="unknown id")


# ---------------------------------------------------------------- strategies


INSTITUTION_TYPE_SETS = [
    list(c) for r in (1, 2, 3) for c in itertools.permutations(["bank", "credit_union", "building_society"], r)
]
JURISDICTION_SETS = [["NZ"], ["AU"], ["NZ", "AU"], ["AU", "NZ"]]
# Strategies built once: building them per draw costs more than the draw.
DOMAINS_OF = {p.key: st.sampled_from(p.domains) for p in PHASES}
OPTIONALS = st.sampled_from([None, *FLAGS])
JURISDICTIONS = st.sampled_from(JURISDICTION_SETS)
INSTITUTION_TYPES = st.sampled_from(INSTITUTION_TYPE_SETS)
STEP_OF = {domain: st.sampled_from([s.number for s in steps]) for domain, steps in DOMAIN_STEPS.items()}
CLASSIFICATIONS = st.sampled_from(["public", "internal", "confidential", "restricted"])


def subset(draw, items: list, most: int) -> list:
    """Up to `most` of `items`, in one draw (a bit mask; shrinks towards none)."""
    if not items:
        return []
    mask = draw(st.integers(0, 2 ** len(items) - 1))
    return [item for k, item in enumerate(items) if mask >> k & 1][:most]


@st.composite
def catalogues(draw, required: dict[str, int] | None = None, plain: bool = False, max_per_phase: int = 3) -> list[dict]:
    """A valid catalogue as the YAML list of module mappings.

    `required` forces at least that many modules in the given phases. `plain`
    leaves out everything that can disable a module in a stack (optional flags,
    jurisdictions, institution types), for the resolve_platform tests.
    Draws are kept few per module: generation dominates the run time.
    """
    counts = {k: draw(st.integers(0, max_per_phase), label=f"count {k}") for k in PHASE_KEYS}
    for key, n in (required or {}).items():
        counts[key] = max(counts[key], n)
    if sum(counts.values()) == 0:
        counts[draw(st.sampled_from(PHASE_KEYS))] = 1
    phase_of = [key for key in PHASE_KEYS for _ in range(counts[key])]
    n = len(phase_of)
    numbers = draw(st.lists(st.integers(1, 149), min_size=n, max_size=n, unique=True))
    ids = [f"MOD-{num:03d}" for num in numbers]
    # A random topological order: a module needs only modules placed before it, so there is no cycle.
    order = draw(st.permutations(range(n)))
    entries: list[dict] = [{} for _ in range(n)]
    for position, i in enumerate(order):
        key = phase_of[i]
        word = draw(SLUG_WORDS)
        bits = draw(st.integers(0, 31))  # slug shape, foundation, holdsPhaseGate, narrower gates, database
        entry: dict = {
            "id": ids[i],
            # Unique by construction (the ID number is unique), any kebab-case shape.
            "slug": f"{word}-{numbers[i]}" if bits & 1 else f"{numbers[i]}-{word}",
            "name": f"{word.title()} service",
            "domain": draw(DOMAINS_OF[key]),
            "phase": key if key == DATA_PLATFORM_TRACK else int(key),
            "kind": "foundation" if key == "0" and bits & 2 else "service",
            "holdsPhaseGate": bool(bits & 4),
            "owner": f"team-{word}",
            "dataClassification": draw(CLASSIFICATIONS),
        }
        if entry["domain"] in STEP_OF:
            entry["step"] = draw(STEP_OF[entry["domain"]])
        closure = sorted(prerequisite_closure(key))
        if closure and bits & 8:
            entry["gates"] = subset(draw, closure, 3)
        if bits & 16:
            entry["database"] = DOMAINS[entry["domain"]].database
        allowed = reachable_phases(entry)
        candidates = [ids[j] for j in order[:position] if phase_of[j] in allowed and may_need(entry, entries[j])]
        if candidates:
            entry["needs"] = subset(draw, candidates, 3)
            entry["after"] = subset(draw, candidates, 1)
        if not plain:
            entry["optional"] = draw(OPTIONALS)
            entry["jurisdictions"] = draw(JURISDICTIONS)
            entry["institutionTypes"] = draw(INSTITUTION_TYPES)
        entries[i] = entry
    # The file lists modules in any order, not necessarily a topological one.
    return copy.deepcopy(draw(st.permutations(entries)))


def index_in_phase(data, entries: list[dict], key: str, label: str) -> int:
    return data.draw(st.sampled_from([i for i, e in enumerate(entries) if phase_key(e) == key]), label=label)


# ---------------------------------------------------------------- 1. valid catalogues pass


@FAST
@given(catalogues())
def test_a_valid_catalogue_passes(entries):
    catalogue = parse_catalogue(copy.deepcopy(entries))
    assert len(catalogue.modules) == len(entries)
    assert [m.id for m in catalogue.modules] == [e["id"] for e in entries]
    for module, entry in zip(catalogue.modules, entries, strict=True):
        assert module.phase == str(entry["phase"])
        assert module.needs == tuple(entry.get("needs", ()))
        assert module.step == entry.get("step")


@FAST
@given(catalogues(plain=True))
def test_a_valid_catalogue_resolves_for_a_stack_that_enables_everything(entries):
    catalogue = parse_catalogue(entries)
    config = stack_config(swift=True)
    platform = resolve_platform("dev", config, catalogue, manifest_for(entries, SHA_FOR_BASELINE))
    assert len(platform.enabled_modules()) == len(entries)


# ---------------------------------------------------------------- 2. one defect at a time


@FAST
@given(st.data())
def test_duplicate_id_is_reported(data):
    entries = data.draw(catalogues(required={data.draw(st.sampled_from(PHASE_KEYS)): 2}))
    source, target = data.draw(st.permutations(range(len(entries))))[:2]
    duplicated = entries[source]["id"]
    entries[target]["id"] = duplicated
    problems = problems_of(entries)
    assert f"{duplicated}: duplicate module ID (2 entries)" in problems, problems


MALFORMED_IDS = st.one_of(
    st.integers(0, 99).map(lambda n: f"MOD-{n:0{1 if n < 10 else 2}d}"),  # MOD-7, MOD-12
    st.integers(0, 99999).map(lambda n: f"MOD-{n:04d}"),  # MOD-0001
    st.integers(0, 999).map(lambda n: f"mod-{n:03d}"),  # lower case
    st.integers(0, 999).map(lambda n: f"Mod-{n:03d}"),
    st.integers(0, 999).map(lambda n: f"MOD{n:03d}"),  # no dash
    st.integers(0, 999).map(lambda n: f"MOD_{n:03d}"),
    st.integers(0, 999).map(lambda n: f" MOD-{n:03d}"),  # stray whitespace
    st.integers(0, 999).map(lambda n: f"MOD-{n:03d}\n"),
    st.integers(0, 99).map(lambda n: f"MOD-{n:02d}x"),
    st.sampled_from(["MOD-12", "mod-001", "MOD-0001", "", "MOD-", "001"]),
)


@FAST
@given(st.data())
def test_malformed_id_is_reported(data):
    entries = data.draw(catalogues())
    victim = data.draw(st.integers(0, len(entries) - 1), label="victim")
    bad = data.draw(MALFORMED_IDS, label="bad id")
    entries[victim]["id"] = bad
    problems = problems_of(entries)
    assert any(p.startswith(f"{bad}: id:") and "pattern" in p for p in problems), problems


NON_ASCII_DIGITS = [chr(c) for c in range(128, 0x20000) if unicodedata.category(chr(c)) == "Nd"]


@FAST
@given(st.data())
def test_ids_with_non_ascii_digits_are_malformed(data):
    """MOD-NNN means three ASCII digits: `MOD-١٢٣` or `MOD-００１` is no catalogue ID
    (and would put non-ASCII text into AWS resource names via ModuleSpec.resource_name)."""
    entries = data.draw(catalogues())
    victim = data.draw(st.integers(0, len(entries) - 1), label="victim")
    digits = data.draw(st.lists(st.sampled_from(NON_ASCII_DIGITS), min_size=3, max_size=3).map("".join), label="digits")
    bad = f"MOD-{digits}"
    entries[victim]["id"] = bad
    problems = problems_of(entries)
    assert any(bad in p and "id" in p for p in problems), problems


@FAST
@given(st.data())
def test_unknown_need_is_reported(data):
    entries = data.draw(catalogues())
    victim = data.draw(st.integers(0, len(entries) - 1), label="victim")
    unknown = unused_id(data, entries)
    entries[victim].setdefault("needs", []).insert(data.draw(st.integers(0, len(entries[victim]["needs"]))), unknown)
    problems = problems_of(entries)
    assert f"{entries[victim]['id']}: needs unknown module {unknown}" in problems, problems


@st.composite
def catalogues_with_rings(draw):
    """A valid catalogue plus 1–3 disjoint rings, each of 2+ modules of one phase."""
    ring_phases = draw(st.lists(st.sampled_from(PHASE_KEYS), min_size=1, max_size=3))
    sizes = [draw(st.integers(2, 4)) for _ in ring_phases]
    required: dict[str, int] = {}
    for key, size in zip(ring_phases, sizes, strict=True):
        required[key] = required.get(key, 0) + size
    entries = draw(catalogues(required=required))
    free = {key: draw(st.permutations([i for i, e in enumerate(entries) if phase_key(e) == key])) for key in required}
    rings = []
    for key, size in zip(ring_phases, sizes, strict=True):
        members, free[key] = free[key][:size], free[key][size:]
        rings.append([entries[i]["id"] for i in members])
        for position, i in enumerate(members):
            # Only the ring edge leaves a ring member, so the ring is the only cycle through it.
            entries[i]["needs"] = [entries[members[(position + 1) % size]]["id"]]
            entries[i]["after"] = []
    return entries, rings


@FAST
@given(catalogues_with_rings())
def test_every_dependency_cycle_is_reported_with_its_whole_ring(case):
    entries, rings = case
    problems = problems_of(entries)
    printed = [p.removeprefix("dependency cycle: ") for p in problems if p.startswith("dependency cycle: ")]
    assert len(printed) == len(rings), problems
    needs = {e["id"]: set(e.get("needs", [])) for e in entries}
    for ring in rings:
        matching = [c for c in printed if set(c.split(" -> ")) == set(ring)]
        assert len(matching) == 1, (ring, printed)
        steps = matching[0].split(" -> ")
        assert steps[0] == steps[-1] and len(steps) == len(ring) + 1, matching[0]
        for a, b in zip(steps, steps[1:], strict=False):
            assert b in needs[a], f"`{a} -> {b}` in {matching[0]} is not a needs arrow"


def later_phase_defect(entries: list[dict], x: int, y: int) -> None:
    entries[x].setdefault("needs", []).append(entries[y]["id"])
    problems = problems_of(entries)
    ex, ey = entries[x], entries[y]
    expected = f"{ex['id']}: needs {ey['id']} in {title(phase_key(ey))}, which {title(phase_key(ex))} does not wait for"
    assert any(p.startswith(expected) for p in problems), (expected, problems)


@FAST
@given(st.data())
def test_needing_a_module_of_a_phase_not_waited_for_is_reported(data):
    # Phase b is neither a nor a prerequisite of a, so a module of a may never need one of b.
    a, b = data.draw(
        st.sampled_from(
            [(a, b) for a in PHASE_KEYS for b in PHASE_KEYS if b != a and b not in prerequisite_closure(a)]
        ),
        label="phases",
    )
    entries = data.draw(catalogues(required={a: 1, b: 1}))
    later_phase_defect(entries, index_in_phase(data, entries, a, "x"), index_in_phase(data, entries, b, "y"))


@FAST
@given(st.data())
def test_phase_1_needing_phase_3_is_reported(data):
    entries = data.draw(catalogues(required={"1": 1, "3": 1}))
    later_phase_defect(entries, index_in_phase(data, entries, "1", "x"), index_in_phase(data, entries, "3", "y"))


@FAST
@given(st.data())
def test_phase_2_needing_parallel_phase_1_is_reported(data):
    entries = data.draw(catalogues(required={"1": 1, "2": 1}))
    later_phase_defect(entries, index_in_phase(data, entries, "2", "x"), index_in_phase(data, entries, "1", "y"))


def domain_defect(entries: list[dict], victim: int, domain: str) -> str:
    entries[victim]["domain"] = domain
    entries[victim].pop("database", None)
    return f"{entries[victim]['id']}: domain {domain} is not deployed in {title(phase_key(entries[victim]))}"


@FAST
@given(st.data())
def test_domain_outside_its_phase_is_reported(data):
    entries = data.draw(catalogues())
    victim = data.draw(st.integers(0, len(entries) - 1), label="victim")
    own = PHASE_BY_KEY[phase_key(entries[victim])].domains
    expected = domain_defect(entries, victim, data.draw(st.sampled_from([d for d in ALL_DOMAINS if d not in own])))
    problems = problems_of(entries)
    assert any(p.startswith(expected) for p in problems), (expected, problems)


@FAST
@given(st.data())
def test_payments_domain_in_phase_2_is_reported(data):
    entries = data.draw(catalogues(required={"2": 1}))
    expected = domain_defect(entries, index_in_phase(data, entries, "2", "victim"), "SD04")
    problems = problems_of(entries)
    assert any(p.startswith(expected) for p in problems), (expected, problems)


@FAST
@given(st.data())
def test_foundation_module_outside_phase_0_is_reported(data):
    entries = data.draw(catalogues(required={data.draw(st.sampled_from([k for k in PHASE_KEYS if k != "0"])): 1}))
    victim = data.draw(st.sampled_from([i for i, e in enumerate(entries) if phase_key(e) != "0"]), label="victim")
    entries[victim]["kind"] = "foundation"
    problems = problems_of(entries)
    assert (
        f"{entries[victim]['id']}: foundation modules belong to Phase 0, not {title(phase_key(entries[victim]))}"
        in problems
    )


@FAST
@given(st.data())
def test_duplicate_slug_is_reported(data):
    entries = data.draw(catalogues(required={data.draw(st.sampled_from(PHASE_KEYS)): 2}))
    source, target = data.draw(st.permutations(range(len(entries))))[:2]
    entries[target]["slug"] = entries[source]["slug"]
    problems = problems_of(entries)
    first, second = sorted([source, target])  # the entry listed later is the one reported
    assert (
        f"{entries[second]['id']}: slug `{entries[second]['slug']}` is already used by {entries[first]['id']}"
        in problems
    )


# ---------------------------------------------------------------- the stack-dependent check

SHA_FOR_BASELINE = "0123456789abcdef0123456789abcdef01234567"


def stack_config(swift: bool) -> StackConfig:
    return StackConfig.model_validate(
        {
            "environment": "dev",
            "awsAccountId": "111122223333",
            # One tenant of each institution type, in both jurisdictions: every module is active for some tenant.
            "tenants": [
                {"id": kind.replace("_", "-"), "name": kind, "institutionType": kind, "jurisdictions": ["NZ", "AU"]}
                for kind in ("bank", "credit_union", "building_society")
            ],
            "alertEmail": "platform-alerts@bank.co.nz",
            "payments": {"swift": {"enabled": swift}},
            "cards": {"enabled": True},
            "observability": {"datadog": {"enabled": True}},
            "analytics": {"snowflake": {"enabled": True}},
        }
    )


def manifest_for(entries: list[dict], sha: str, disabled: frozenset[str] = frozenset()) -> ReleaseManifest:
    """Pins every service module (foundation modules are released with the repository), and the migrations of
    every database a deployed module (not in `disabled`) uses."""
    repos = {d.database: d.repo for d in DOMAINS.values()}
    return ReleaseManifest.model_validate(
        {
            "stack": "dev",
            "modules": {
                e["id"]: {
                    "sha": sha,
                    "artifact": f"{DOMAINS[e['domain']].repo}/{e['id'].lower()}-{e['slug']}/{sha}.zip",
                }
                for e in entries
                if e.get("kind", "service") == "service"
            },
            "migrations": {
                e["database"]: {
                    "repository": repos[e["database"]],
                    "sha": sha,
                    "location": f"{repos[e['database']]}/db-migrations/{sha}",
                }
                for e in entries
                if e.get("database") and e["id"] not in disabled
            },
        }
    )


@FAST
@given(st.data())
def test_needing_a_module_the_stack_disables_is_reported(data):
    # A later phase and one it waits for: a need between them is legal (another domain, or SD07's own track).
    later, earlier = data.draw(
        st.sampled_from([(a, b) for a in PHASE_KEYS for b in sorted(prerequisite_closure(a))]), label="phases"
    )
    entries = data.draw(catalogues(required={later: 1, earlier: 1}, plain=True))
    x, y = data.draw(st.sampled_from(valid_need_pairs(entries)), label="pair")
    if entries[y]["id"] not in entries[x].get("needs", []):
        entries[x].setdefault("needs", []).append(entries[y]["id"])
    sha = data.draw(SHAS, label="sha")
    config = stack_config(swift=False)
    # Baseline: the catalogue is valid and, with nothing disabled, resolves for this stack.
    assert len(
        resolve_platform(
            "dev", config, parse_catalogue(copy.deepcopy(entries)), manifest_for(entries, sha)
        ).enabled_modules()
    ) == len(entries)

    entries[y]["optional"] = "payments.swift.enabled"
    catalogue = parse_catalogue(copy.deepcopy(entries))  # still structurally valid
    needing, target = entries[x]["id"], entries[y]["id"]
    try:
        resolve_platform("dev", config, catalogue, manifest_for(entries, sha, disabled=frozenset({target})))
    except ConfigurationError as exc:
        lines = [p for p in exc.problems if p.startswith(f"{needing} ") and target in p and "disables" in p]
        assert lines, exc.problems
        assert "payments.swift.enabled" in lines[0], lines
    else:
        raise AssertionError(f"{needing} needs {target}, which the stack disables, but the platform resolved")


# ---------------------------------------------------------------- 3. every problem at once


@FAST
@given(st.data())
def test_several_defects_are_all_reported_in_one_error(data):
    entries = data.draw(catalogues(required={data.draw(st.sampled_from(PHASE_KEYS)): 2}))
    n = len(entries)
    # Duplicate ID: copy one entry's ID onto another.
    source, target = data.draw(st.permutations(range(n)), label="duplicate")[:2]
    duplicated = entries[source]["id"]
    entries[target]["id"] = duplicated
    # Unknown need.
    needer = data.draw(st.integers(0, n - 1), label="needer")
    unknown = unused_id(data, entries)
    entries[needer].setdefault("needs", []).append(unknown)
    # Domain mismatch.
    victim = data.draw(st.integers(0, n - 1), label="domain victim")
    own = PHASE_BY_KEY[phase_key(entries[victim])].domains
    domain_line = domain_defect(entries, victim, data.draw(st.sampled_from([d for d in ALL_DOMAINS if d not in own])))

    problems = problems_of(entries)
    assert len(problems) >= 3, problems
    assert f"{duplicated}: duplicate module ID (2 entries)" in problems, problems
    assert f"{entries[needer]['id']}: needs unknown module {unknown}" in problems, problems
    assert any(p.startswith(domain_line) for p in problems), (domain_line, problems)


@FAST
@given(st.data())
def test_schema_and_structure_problems_are_reported_together(data):
    """A malformed entry does not hide the structural problems of the others."""
    entries = data.draw(catalogues(required={data.draw(st.sampled_from(PHASE_KEYS)): 3}))
    malformed, needer, victim = data.draw(st.permutations(range(len(entries))), label="roles")[:3]
    bad = data.draw(MALFORMED_IDS, label="bad id")
    entries[malformed]["id"] = bad
    unknown = unused_id(data, entries)
    entries[needer].setdefault("needs", []).append(unknown)
    own = PHASE_BY_KEY[phase_key(entries[victim])].domains
    domain_line = domain_defect(entries, victim, data.draw(st.sampled_from([d for d in ALL_DOMAINS if d not in own])))

    problems = problems_of(entries)
    assert len(problems) >= 3, problems
    assert any(p.startswith(f"{bad}: id:") for p in problems), problems
    assert f"{entries[needer]['id']}: needs unknown module {unknown}" in problems, problems
    assert any(p.startswith(domain_line) for p in problems), (domain_line, problems)
