"""The seam between a policy and what each filter receives.

The DLP and mask filters get their routes, rules and the matcher tables of the detectors
they run (`filter_config`, format documented there); the UEBA filter gets the canonical
JSON of the behaviour settings. Signing and ECDS take the bytes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum
from typing import Any

from controlplane.detectors.model import Detector
from controlplane.policy.filter_config import build_filter_config
from controlplane.policy.mask_keys import KeySource, NoKeys
from controlplane.policy.model import Policy, Route
from controlplane.trust.encoding import canonical_json


class FilterName(StrEnum):
    """The filter modules, by the module name their capabilities.json declares."""

    DLP = "meshveil-dlp"
    MASK = "meshveil-mask"
    UEBA = "meshveil-ueba"


CHAIN_ORDER = (FilterName.UEBA, FilterName.MASK, FilterName.DLP)
"""The filters' order in Envoy's HTTP filter chain (deploy/ writes them so). Responses pass
them in reverse, so DLP sees the upstream's original body before mask rewrites it."""


def filters_for(policy: Policy) -> tuple[FilterName, ...]:
    """The filters a policy configures: DLP always, masking and UEBA when it asks for them."""
    needed = [FilterName.DLP]
    if any(rule.mask is not None for route in policy.routes for rule in route.detectors.values()):
        needed.append(FilterName.MASK)
    if policy.behaviour.enabled:
        needed.append(FilterName.UEBA)
    return tuple(needed)


def compile_filter_config(
    policy: Policy,
    filter_name: FilterName,
    keys: KeySource | None = None,
    catalog: Sequence[Detector] | None = None,
) -> bytes:
    """The config payload of `filter_name`. `keys` supplies the keys masks and fingerprints
    name (without it, keyed masks become labelled redactions); `catalog` defaults to the
    built-in detectors."""
    if filter_name is FilterName.UEBA:
        return canonical_json(compiled_document(policy, filter_name))
    if catalog is None:
        from controlplane.detectors.loader import builtin_catalog  # noqa: PLC0415 - loaded on first use

        catalog = builtin_catalog()
    return build_filter_config(policy, filter_name.value, catalog, keys or NoKeys())


def compiled_document(policy: Policy, filter_name: FilterName) -> dict[str, Any]:
    document: dict[str, Any] = {
        "format": "meshveil.policy-config/v1",
        "filter": filter_name.value,
        "policy": {"name": policy.name, "tenant": policy.tenant},
        "failure": policy.failure.value,
    }
    if filter_name is FilterName.UEBA:
        document["behaviour"] = policy.behaviour.model_dump(mode="json")
        document["routes"] = [_route_frame(route) for route in policy.routes]
        return document
    routes = []
    for route in policy.routes:
        detectors = _detectors_for(route, filter_name)
        if detectors:
            routes.append({**_route_frame(route), "detectors": detectors})
    document["routes"] = routes
    return document


def _route_frame(route: Route) -> dict[str, Any]:
    return route.model_dump(mode="json", exclude={"detectors"})


def _detectors_for(route: Route, filter_name: FilterName) -> dict[str, Any]:
    selected: dict[str, Any] = {}
    for detector_id, rule in sorted(route.detectors.items()):
        if not rule.enabled:
            continue
        if filter_name is FilterName.DLP:
            selected[detector_id] = rule.model_dump(mode="json", exclude={"mask", "enabled"})
        elif rule.mask is not None:
            selected[detector_id] = {
                "min_confidence": rule.min_confidence,
                "mask": rule.mask.model_dump(mode="json"),
            }
    return selected
