"""With a trust root compiled in, meshveil-ueba takes its settings from the verified inner
config of a signed bundle (filters/trust/), and refuses a verified bundle whose inner
config is not a UEBA config, naming what is wrong."""

from __future__ import annotations

import pytest

from controlplane.modules.build import BuiltModule
from harness.host import FilterChain, Host, HostConfig, PluginConfig, PluginLoadError
from harness.host.clock import VirtualClock
from tests.trust.bundles import Target, bundle
from tests.trust.keys import NOW, KeyRing
from tests.ueba.ueba_support import MODULE, Client, exchange, refused, ueba_config

PLUGIN = "ueba-inbound"


def sidecar(target: Target) -> Host:
    return Host(
        HostConfig(
            clock=VirtualClock(wall_nanos=NOW * 1_000_000_000),
            node_id=target.node_id,
            node_metadata={"NAMESPACE": target.namespace, "WORKLOAD_NAME": target.workload},
        )
    )


@pytest.fixture(scope="module")
def target(trusted_modules: dict[str, BuiltModule]) -> Target:
    return Target(MODULE, trusted_modules[MODULE].build_id, plugin=PLUGIN)


def test_the_verified_inner_config_is_what_the_filter_runs(
    target: Target, trusted_modules: dict[str, BuiltModule], key_ring: KeyRing
) -> None:
    rule = {"name": "cards", "feature": "findings", "threshold": 10, "window_seconds": 60, "action": "block"}
    signed = bundle(target, key_ring, 1, ueba_config(rules=[rule], telemetry=None))
    with sidecar(target) as host:
        module = trusted_modules[MODULE].path.read_bytes()
        plugin = host.load_plugin(PluginConfig(name=PLUGIN, module=module, configuration=signed))
        messages = [record.message for record in host.logs]
        assert any("configuration version 1 accepted" in message for message in messages), messages
        assert any(
            message.startswith("meshveil-ueba: configured: 4 entity sources, 1 rules") for message in messages
        )
        outcome = FilterChain(host, [plugin]).run(
            exchange(Client("mallory"), "signed-1", findings={"credit_card": 11})
        )
        assert refused(outcome) == 403


def test_a_verified_bundle_with_a_foreign_inner_config_is_refused(
    target: Target, trusted_modules: dict[str, BuiltModule], key_ring: KeyRing
) -> None:
    signed = bundle(target, key_ring, 1, b"detectors: cards, ibans; action: block above 10")
    with sidecar(target) as host:
        module = trusted_modules[MODULE].path.read_bytes()
        with pytest.raises(PluginLoadError):
            host.load_plugin(PluginConfig(name=PLUGIN, module=module, configuration=signed))
        messages = [record.message for record in host.logs]
        assert any("configuration version 1 accepted" in message for message in messages), messages
        assert any(
            message.startswith("meshveil-ueba: configuration refused: JSON line 1 column")
            for message in messages
        ), messages
