"""The seam between a policy and what each filter receives.

The DLP and mask filters get their routes, rules and the matcher tables of the detectors
they run (`filter_config`, format documented there); the UEBA filter gets its settings
compiled from the policy's `behaviour` section (`ueba_config`, in the format
filters/ueba/config.zig parses). Keys come from a `KeySource`, the collector's address and
the node's credential from a `TelemetrySink`. Signing and ECDS take the bytes as they are.
"""

from __future__ import annotations

from collections.abc import Sequence
from enum import StrEnum

from controlplane.detectors.model import Detector
from controlplane.policy.filter_config import build_filter_config
from controlplane.policy.mask_keys import KeySource, NoKeys
from controlplane.policy.model import Policy
from controlplane.policy.telemetry_sink import TelemetrySink
from controlplane.policy.ueba_config import build_ueba_config


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
    telemetry: TelemetrySink | None = None,
) -> bytes:
    """The config payload of `filter_name`. `keys` supplies the keys masks, fingerprints and
    the behaviour filter's identity hashing name (without it, keyed masks become labelled
    redactions and a behaviour config cannot be compiled); `catalog` defaults to the
    built-in detectors; `telemetry` is where the node's filters send their events (none:
    they send nothing)."""
    if filter_name is FilterName.UEBA:
        return build_ueba_config(policy, keys or NoKeys(), telemetry)
    if catalog is None:
        from controlplane.detectors.loader import builtin_catalog  # noqa: PLC0415 - loaded on first use

        catalog = builtin_catalog()
    return build_filter_config(policy, filter_name.value, catalog, keys or NoKeys(), telemetry)
