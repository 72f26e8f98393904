"""The real deployment path: a policy compiled by the control plane, signed into a DSSE
bundle for each filter, verified inside modules built with a trust root, then enforced;
a verified bundle carrying another filter's config is refused by name."""

from __future__ import annotations

import json

import pytest

from controlplane.modules.build import BuiltModule
from controlplane.policy.compile import FilterName, compile_filter_config
from harness.host import FilterChain, Host, HostConfig, PluginConfig, PluginLoadError
from harness.host.clock import VirtualClock
from tests.filters.filters_support import CARD, KEYS, Exchange, chunks, load
from tests.trust.bundles import Target, bundle
from tests.trust.keys import NOW, KeyRing

POLICY = load(
    "  - name: payments\n"
    "    match: {paths: ['/v1/**']}\n"
    "    content_types: [application/json]\n"
    "    detectors:\n"
    "      credit-card: {threshold: 2, action: block, mask: {type: partial}}\n"
)


def sidecar_host(target: Target) -> Host:
    return Host(
        HostConfig(
            clock=VirtualClock(wall_nanos=NOW * 1_000_000_000),
            node_id=target.node_id,
            node_metadata={"NAMESPACE": target.namespace, "WORKLOAD_NAME": target.workload},
        )
    )


def signed_plugin(
    host: Host, modules: dict[str, BuiltModule], key_ring: KeyRing, name: FilterName, config: bytes
) -> PluginConfig:
    target = Target(name.value, modules[name.value].build_id, plugin=name.value)
    signed = bundle(target, key_ring, 1, config)
    return PluginConfig(name=name.value, module=modules[name.value].path.read_bytes(), configuration=signed)


def test_a_signed_policy_is_verified_then_masks_and_blocks(
    trusted_modules: dict[str, BuiltModule], key_ring: KeyRing
) -> None:
    target = Target(FilterName.DLP.value, trusted_modules[FilterName.DLP.value].build_id)
    with sidecar_host(target) as host:
        plugins = [
            host.load_plugin(
                signed_plugin(
                    host, trusted_modules, key_ring, name, compile_filter_config(POLICY, name, KEYS)
                )
            )
            for name in (FilterName.MASK, FilterName.DLP)
        ]
        chain = FilterChain(host, plugins)
        logs = [record.message for record in host.logs]
        assert any("meshveil-dlp: configuration version 1 accepted" in line for line in logs), logs
        assert any("meshveil-mask: serving policy test-policy (tenant shop)" in line for line in logs), logs
        one = json.dumps({"card": CARD}).encode()
        masked = chain.run(Exchange(response_chunks=chunks(one, [9])).build())
        assert json.loads(masked.response_to_client.body) == {"card": "**** **** **** 1111"}
        # Responses meet DLP before mask (Envoy runs encoders in reverse): it sees both cards.
        two = json.dumps({"cards": [CARD, CARD]}).encode()
        blocked = chain.run(Exchange(response_chunks=[two]).build())
        assert blocked.stream_reset and blocked.response_to_client.body == b""


def test_a_verified_bundle_for_another_filter_is_refused_by_name(
    trusted_modules: dict[str, BuiltModule], key_ring: KeyRing
) -> None:
    target = Target(FilterName.MASK.value, trusted_modules[FilterName.MASK.value].build_id)
    dlp_config = compile_filter_config(POLICY, FilterName.DLP, KEYS)
    with sidecar_host(target) as host:
        with pytest.raises(PluginLoadError):
            host.load_plugin(signed_plugin(host, trusted_modules, key_ring, FilterName.MASK, dlp_config))
        logs = [record.message for record in host.logs]
    assert any("meshveil-mask: configuration version 1 accepted" in line for line in logs), logs
    assert any(
        "meshveil-mask: configuration version 1 refused: "
        "filter: this config is for meshveil-dlp, not meshveil-mask" in line
        for line in logs
    ), logs
