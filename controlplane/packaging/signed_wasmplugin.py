"""Istio WasmPlugins that carry a signed filter config in `pluginConfig`.

Istio hands a WasmPlugin's `pluginConfig` (a google.protobuf.Struct) to the filter as the
JSON text of that Struct, with its own key order and whitespace. The filters' bundle parser
reads JSON by key and the DSSE signatures cover the base64 payload, not the envelope's
formatting, and a bundle holds only objects, arrays and strings (a Struct would turn
numbers into doubles): so the bundle survives the Struct round trip and verifies as signed.

Istio names the Envoy plugin `NAMESPACE.NAME` (the filter reads it as `plugin_name`), so the
signed statement names that, and one WasmPlugin is rendered per filter and workload
selector: the selector (namespace + matchLabels) is where Istio applies it.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from controlplane.policy.compile import FilterName
from controlplane.policy.model import FailureMode, WorkloadSelector

API_VERSION = "extensions.istio.io/v1alpha1"
NAME_MAX = 63
"""WasmPlugin names are DNS labels here: they are half of the Envoy plugin name too."""


@dataclass(frozen=True)
class Placement:
    phase: str
    priority: int


# The same order as deploy/istio/wasmplugins.yaml (a test holds them together): UEBA in
# AUTHZ; mask before DLP in STATS, so on the response path DLP sees the original body.
PLACEMENT = {
    FilterName.UEBA: Placement("AUTHZ", 10),
    FilterName.MASK: Placement("STATS", 20),
    FilterName.DLP: Placement("STATS", 10),
}


class WasmPluginError(ValueError):
    """A policy that cannot be delivered by WasmPlugin; the message says why."""


def plugin_name(namespace: str, name: str) -> str:
    """The Envoy plugin name Istio gives a WasmPlugin: what a signed config must name."""
    return f"{namespace}.{name}"


def wasmplugin_name(policy_name: str, filter_name: FilterName, index: int, selectors: int) -> str:
    base = f"{policy_name}-{filter_name.value.removeprefix('meshveil-')}"
    name = base if selectors == 1 else f"{base}-{index + 1}"
    if len(name) > NAME_MAX:
        raise WasmPluginError(f"WasmPlugin name {name!r} is longer than {NAME_MAX} characters")
    return name


def deliverable_selectors(workloads: tuple[WorkloadSelector, ...]) -> tuple[WorkloadSelector, ...]:
    """The policy's workload selectors, refusing what a WasmPlugin selector cannot express."""
    if not workloads:
        raise WasmPluginError("targets: a WasmPlugin selects workloads; this policy names only nodes")
    for index, selector in enumerate(workloads):
        if selector.service_account is not None:
            raise WasmPluginError(
                f"targets.workloads[{index}].service_account: a WasmPlugin selects by labels only; "
                "deliver this policy over ECDS"
            )
    return workloads


@dataclass(frozen=True)
class SignedPlugin:
    name: str
    selector: WorkloadSelector
    filter_name: FilterName
    url: str
    sha256: str
    failure: FailureMode
    bundle: bytes
    """The signed config bundle (JSON) the filter verifies."""


def render(plugin: SignedPlugin) -> dict[str, Any]:
    placement = PLACEMENT[plugin.filter_name]
    spec: dict[str, Any] = {
        "url": plugin.url,
        "sha256": plugin.sha256,
        "pluginName": plugin.filter_name.value,
        "phase": placement.phase,
        "priority": placement.priority,
        "failStrategy": "FAIL_OPEN" if plugin.failure is FailureMode.FAIL_OPEN else "FAIL_CLOSE",
        "type": "HTTP",
        "match": [{"mode": "SERVER"}],
        "pluginConfig": json.loads(plugin.bundle),
    }
    if plugin.selector.labels:
        spec["selector"] = {"matchLabels": dict(sorted(plugin.selector.labels.items()))}
    return {
        "apiVersion": API_VERSION,
        "kind": "WasmPlugin",
        "metadata": {
            "name": plugin.name,
            "namespace": plugin.selector.namespace,
            "labels": {"app.kubernetes.io/managed-by": "meshveil"},
        },
        "spec": spec,
    }
