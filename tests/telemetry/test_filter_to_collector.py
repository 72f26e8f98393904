"""The built meshveil-ueba module, in the harness, sending its anomaly events with
proxy_http_call to the real collector (a control plane on loopback): while the collector
is down nothing is stored and the filter retries; when answers are lost after the batch
was stored, the retries are recognised; once it is up every event is stored exactly once,
and the drops the filter counted are the drops the collector reports for the node."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.demo.collector_bridge import CollectorBridge, Outage
from controlplane.modules.build import BuiltModule
from harness.host import FilterChain, Host, PluginConfig, WasmRuntime
from tests.harness.host_support import wasm_runtime
from tests.telemetry.sidecar_support import (
    CLUSTER,
    IssuedMesh,
    issued_mesh,
    node_row,
    sidecar_host,
    stored_events,
)
from tests.ueba.ueba_support import IDENTITY_KEY, Client, exchange

__all__ = ["wasm_runtime"]

NODE = "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"
RECORD_ANY_CARDS = {"name": "any-cards", "feature": "findings", "detector": "credit_card", "threshold": 1,
                    "window_seconds": 60, "action": "record"}  # fmt: skip


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuedMesh]:
    with issued_mesh(tmp_path_factory.mktemp("mesh"), NODE) as mesh:
        yield mesh


def sidecar(
    runtime: WasmRuntime, module: bytes, bridge: CollectorBridge, token: str, route: str, **telemetry: Any
) -> tuple[Host, FilterChain]:
    config = {
        "identity_key": IDENTITY_KEY,
        "entity_sources": [{"source": "source_ip"}],
        "group_sources": [{"source": "peer_principal"}],
        "reveal_identities": ["peer_principal"],
        "rules": [RECORD_ANY_CARDS],
        "telemetry": {"cluster": CLUSTER, "token": token, "batch_events": 4, "timeout_ms": 2000,
                      "backoff_initial_ms": 1000, "backoff_max_ms": 4000, "max_attempts": 0, **telemetry},
    }  # fmt: skip
    host = sidecar_host(runtime, NODE, bridge, route_name=route)
    plugin = host.load_plugin(
        PluginConfig(name="ueba-inbound", module=module, configuration=json.dumps(config).encode())
    )
    return host, FilterChain(host, [plugin])


def emit(host: Host, chain: FilterChain, first: int, count: int) -> None:
    """One anomaly event each from `count` identities (addresses), over both workers."""
    for index in range(first, first + count):
        client = Client(f"id{index}", address=f"10.9.{index // 200}.{index % 200}:1", via="address")
        chain.run(exchange(client, f"x{index}", findings={"credit_card": 2}), worker=index % 2)


def stored(mesh: IssuedMesh, **params: Any) -> list[dict[str, Any]]:
    return stored_events(mesh.plane, mesh.analyst, **params)


def node_totals(mesh: IssuedMesh) -> dict[str, Any]:
    return node_row(mesh.plane, mesh.analyst, NODE)


def test_down_then_answers_lost_then_up_stores_every_event_once(
    mesh: IssuedMesh, wasm_runtime: WasmRuntime, built_modules: dict[str, BuiltModule]
) -> None:
    bridge = CollectorBridge(mesh.plane.rest_url, outage=Outage.DOWN)
    module = built_modules["meshveil-ueba"].path.read_bytes()
    host, chain = sidecar(wasm_runtime, module, bridge, mesh.node_token, "outage")
    with host:
        emit(host, chain, 0, 10)
        host.advance_time(10_000)
        assert stored(mesh, route="outage") == [] and bridge.statuses == []
        assert host.metrics["meshveil.telemetry.batch_failures"] > 0

        bridge.outage = Outage.ANSWER_LOST
        host.advance_time(10_000)
        stored_while_lost = len(stored(mesh, route="outage"))
        assert stored_while_lost > 0, "the collector stored nothing while only its answers were lost"
        assert host.metrics.get("meshveil.telemetry.events_sent", 0) == 0

        bridge.outage = Outage.NONE
        host.advance_time(20_000)
        events = stored(mesh, route="outage")
        assert len(events) == 10
        assert len({event["event_id"] for event in events}) == 10
        assert {(event["type"], event["service"], event["peer"]) for event in events} == {
            ("anomaly", "checkout", "shop/web")
        }
        assert host.metrics["meshveil.telemetry.events_sent"] == 10
        totals = node_totals(mesh)
        assert totals["events_accepted"] == 10
        # Every event that arrived twice was recognised, not stored again.
        assert totals["events_duplicate"] >= stored_while_lost
        assert all(status == 200 for status in bridge.statuses)


def test_the_drops_the_filter_counts_are_the_drops_the_collector_reports(
    mesh: IssuedMesh, wasm_runtime: WasmRuntime, built_modules: dict[str, BuiltModule]
) -> None:
    before = node_totals(mesh)
    bridge = CollectorBridge(mesh.plane.rest_url, outage=Outage.DOWN)
    module = built_modules["meshveil-ueba"].path.read_bytes()
    host, chain = sidecar(
        wasm_runtime, module, bridge, mesh.node_token, "overflow", queue_events_max=4, max_attempts=2,
        backoff_initial_ms=500,
    )  # fmt: skip
    with host:
        emit(host, chain, 100, 12)
        host.advance_time(30_000)
        dropped = host.metrics["meshveil.telemetry.dropped"]
        assert dropped > 0
        bridge.outage = Outage.NONE
        # Each VM reports its drops in its own next batch: six events fill one VM's batch
        # of four and leave two for the other, so both send.
        emit(host, chain, 200, 6)
        host.advance_time(20_000)
        after = node_totals(mesh)
        delivered = after["events_accepted"] - before["events_accepted"]
        assert delivered + host.metrics["meshveil.telemetry.dropped"] == 18
        reported = after["events_dropped"] - before["events_dropped"]
        assert reported == host.metrics["meshveil.telemetry.dropped"]
