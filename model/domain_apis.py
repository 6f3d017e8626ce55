"""Which domains have an HTTP API and which module answers each API's `GET /health` (issue 8, "Domain APIs").

Pure data, no Pulumi. MOD-104 creates the APIs (foundation/aws_bootstrap/apis.py); each service module adds its
routes (components/domain_api.py).

- A domain has an API when it is an application domain (model/catalogue.py APPLICATION_DOMAINS: SD01–SD06, SD08),
  or when the catalogue gives one of its modules a route. SD07, the data platform, has none today: its modules are
  Phase 0 infrastructure and pipelines that nothing calls over HTTP (their routes default to none), so an API there
  would be an unused public endpoint; a route given to an SD07 module in the catalogue brings SD07's API with it.
- `GET /health` of a domain's API goes to its health module: the enabled service module that names `GET /health`
  in its catalogue routes, else the enabled service module with HTTP routes that is deployed first in the domain
  (lowest step, ties: lowest ID). The first deployed module answers from the moment the domain's first step is
  live, which is when the phase gate starts asking (deployment sequence: "The bank_core health endpoint returns 200").
  A module without routes (`routes: []`, e.g. started by a schedule) is never called over HTTP, so never chosen.
"""

from __future__ import annotations

from collections.abc import Iterable

from model.catalogue import APPLICATION_DOMAINS, HEALTH_PATH, ModuleSpec

HEALTH_ROUTE = f"GET {HEALTH_PATH}"


def api_domains(modules: Iterable[ModuleSpec]) -> tuple[str, ...]:
    """The domains that get an HTTP API, sorted: the application domains and any domain whose modules have routes."""
    routed = {m.domain for m in modules if m.routes}
    return tuple(sorted(set(APPLICATION_DOMAINS) | routed))


def _health_order(module: ModuleSpec) -> tuple[int, int, int]:
    # A module without a step (a domain without a deploy order, e.g. SD07) sorts after those with one, by ID.
    return (module.step is None, module.step or 0, int(module.id.removeprefix("MOD-")))


def health_modules(enabled: Iterable[ModuleSpec]) -> dict[str, ModuleSpec]:
    """Per domain, the module that answers `GET /health` of the domain's API, from the stack's enabled modules."""
    candidates: dict[str, list[ModuleSpec]] = {}
    for module in enabled:
        if module.kind == "service" and module.routes:
            candidates.setdefault(module.domain, []).append(module)
    chosen = {}
    for domain, modules in candidates.items():
        named = [m for m in modules if HEALTH_ROUTE in m.routes]
        chosen[domain] = named[0] if named else min(modules, key=_health_order)
    return chosen


def serves_domain_health(module: ModuleSpec, enabled: Iterable[ModuleSpec]) -> bool:
    """Whether `module` creates its domain API's `GET /health` route."""
    chosen = health_modules(enabled).get(module.domain)
    return chosen is not None and chosen.id == module.id


def module_routes(module: ModuleSpec, enabled: Iterable[ModuleSpec]) -> tuple[str, ...]:
    """The routes a module creates on its domain's API: its catalogue routes, and `GET /health` if it serves it."""
    routes = tuple(module.routes or ())
    if serves_domain_health(module, enabled) and HEALTH_ROUTE not in routes:
        routes += (HEALTH_ROUTE,)
    return routes
