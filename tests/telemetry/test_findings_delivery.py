"""meshveil-dlp's finding events reach the real collector through the filter itself: the
DLP root drains the findings queue on ticks and sends batches with proxy_http_call, with
the node's credential the policy compiler put in its config. While the collector is down
nothing is stored and batches are retried; answers lost after a store are recognised as
duplicates; once it is up every finding event is stored exactly once; and a batch given up
is counted as dropped, and the collector hears of the drops."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from controlplane.demo.collector_bridge import CollectorBridge, Outage
from controlplane.modules.build import BuiltModule
from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.load import load_policy
from controlplane.policy.mask_keys import NoKeys
from controlplane.policy.telemetry_sink import TelemetrySink
from harness.host import FilterChain, Host, PluginConfig, WasmRuntime
from tests.harness.host_support import wasm_runtime
from tests.telemetry.sidecar_support import (
    CLUSTER,
    IssuedMesh,
    issued_mesh,
    node_row,
    profile,
    profile_policy,
    sidecar_host,
    stored_events,
)

__all__ = ["wasm_runtime"]

NODE = "sidecar~10.0.0.8~accounts-6b7c8d9e0-k3l4m.shop~shop.svc.cluster.local"
DELIVERY = (
    "{batch_events: 4, timeout_ms: 2000, backoff_initial_ms: 1000, backoff_max_ms: 4000, max_attempts: %d}"
)
DROPPED = "meshveil.dlp.telemetry.dropped"


@pytest.fixture(scope="module")
def mesh(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IssuedMesh]:
    with issued_mesh(tmp_path_factory.mktemp("findings"), NODE) as mesh:
        yield mesh


def sidecar(
    runtime: WasmRuntime, module: bytes, bridge: CollectorBridge, token: str, max_attempts: int
) -> tuple[Host, FilterChain]:
    policy = load_policy(profile_policy(DELIVERY % max_attempts), "application/yaml")
    sink = TelemetrySink(cluster=CLUSTER, token=token)
    config = compile_filter_config(policy, FilterName.DLP, NoKeys(), telemetry=sink)
    host = sidecar_host(runtime, NODE, bridge)
    plugin = host.load_plugin(PluginConfig(name="dlp-outbound", module=module, configuration=config))
    return host, FilterChain(host, [plugin])


def play(host: Host, chain: FilterChain, first: int, count: int) -> None:
    for index in range(first, first + count):
        chain.run(profile(index, "req", "accounts"), worker=index % 2)


def stored(mesh: IssuedMesh, request_ids: set[str]) -> list[dict[str, Any]]:
    events = stored_events(mesh.plane, mesh.analyst, type="finding")
    return [event for event in events if event.get("request_id") in request_ids]


def node_totals(mesh: IssuedMesh) -> dict[str, Any]:
    return node_row(mesh.plane, mesh.analyst, NODE)


def test_findings_reach_the_collector_once_through_an_outage_and_lost_answers(
    mesh: IssuedMesh, wasm_runtime: WasmRuntime, built_modules: dict[str, BuiltModule]
) -> None:
    before = node_totals(mesh)
    bridge = CollectorBridge(mesh.plane.rest_url, outage=Outage.DOWN)
    module = built_modules["meshveil-dlp"].path.read_bytes()
    host, chain = sidecar(wasm_runtime, module, bridge, mesh.node_token, max_attempts=0)
    ours = {f"req-{index}" for index in range(10)}
    with host:
        play(host, chain, 0, 10)
        host.advance_time(10_000)
        assert stored(mesh, ours) == [] and bridge.statuses == []
        assert host.metrics["meshveil.dlp.telemetry.batch_failures"] > 0

        bridge.outage = Outage.ANSWER_LOST
        host.advance_time(10_000)
        stored_while_lost = len(stored(mesh, ours))
        assert stored_while_lost > 0, "the collector stored nothing while only its answers were lost"
        assert host.metrics.get("meshveil.dlp.telemetry.events_sent", 0) == 0

        bridge.outage = Outage.NONE
        host.advance_time(20_000)
        events = stored(mesh, ours)
        assert len(events) == 10
        assert len({event["event_id"] for event in events}) == 10
        assert {(event["service"], event["route"], event["detector"]) for event in events} == {
            ("accounts", "profile", "email-address")
        }
        assert host.metrics["meshveil.dlp.telemetry.events_sent"] == 10
        assert host.metrics.get(DROPPED, 0) == 0
        totals = node_totals(mesh)
        assert totals["events_accepted"] - before["events_accepted"] == 10
        # Every event that arrived twice was recognised, not stored again.
        assert totals["events_duplicate"] - before["events_duplicate"] >= stored_while_lost
        assert all(status == 200 for status in bridge.statuses)
        # Nothing stored holds the addresses: the filter sends none.
        assert "@example.com" not in json.dumps(events)


def test_batches_given_up_are_counted_as_dropped_and_reported_to_the_collector(
    mesh: IssuedMesh, wasm_runtime: WasmRuntime, built_modules: dict[str, BuiltModule]
) -> None:
    before = node_totals(mesh)
    bridge = CollectorBridge(mesh.plane.rest_url, outage=Outage.DOWN)
    module = built_modules["meshveil-dlp"].path.read_bytes()
    host, chain = sidecar(wasm_runtime, module, bridge, mesh.node_token, max_attempts=2)
    with host:
        play(host, chain, 100, 8)
        host.advance_time(30_000)
        dropped = host.metrics[DROPPED]
        assert dropped == 8, "every batch failed twice and was given up"
        bridge.outage = Outage.NONE
        # Each VM reports its own drops with its next batch, and either VM may drain the
        # shared queue on its tick: traffic goes on until both have sent one.
        played = 0
        for round_index in range(6):
            play(host, chain, 200 + 4 * round_index, 4)
            played += 4
            host.advance_time(5_000)
            after = node_totals(mesh)
            if after["events_dropped"] - before["events_dropped"] == dropped:
                break
        assert after["events_dropped"] - before["events_dropped"] == dropped
        assert after["events_accepted"] - before["events_accepted"] == played
