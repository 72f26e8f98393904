"""Claims → Envoy's `capability_restriction_config` (envoy.extensions.wasm.v3.PluginConfig).

Envoy gates both what a module may call (host and WASI functions) and which callbacks it
may receive, so the restriction lists the granted host functions and the claimed
callbacks; anything else is unavailable to the module. The harness takes the same set
as `PluginConfig.allowed_capabilities`.
"""

from __future__ import annotations

from typing import Any

from controlplane.trust.claims import ModuleClaims


def allowed_capabilities(claims: ModuleClaims) -> frozenset[str]:
    return claims.granted


def capability_restriction_config(claims: ModuleClaims) -> dict[str, Any]:
    """The JSON form of `CapabilityRestrictionConfig`: each allowed name maps to an empty
    `SanitizationConfig` (Envoy defines no sanitisation options yet)."""
    return {"allowed_capabilities": {name: {} for name in sorted(allowed_capabilities(claims))}}
