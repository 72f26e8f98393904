"""Anomaly events reach the collector in batches over proxy_http_call: while the collector
is down they are retried with backoff (same batch, same bytes), none is counted twice when
it comes back, and when the bounded queue overflows the drops are counted and reported."""

from __future__ import annotations

import json
from collections import defaultdict

from tests.harness.host_support import make_host, wasm_runtime
from tests.ueba.ueba_support import (
    COLLECTOR,
    Client,
    Collector,
    Deployment,
    DeploymentFactory,
    deploy,
    ueba_code,
)

__all__ = ["deploy", "make_host", "ueba_code", "wasm_runtime"]

DEPTH_KEY = b"meshveil.telemetry.v1/default/depth"
# Any response with two or more card numbers is recorded: one event per identity.
RECORD_RULE = {
    "name": "any-cards",
    "feature": "findings",
    "threshold": 1,
    "window_seconds": 60,
    "action": "record",
}


def telemetry(**overrides: object) -> dict[str, object]:
    settings: dict[str, object] = {
        "cluster": COLLECTOR,
        "token": "node-token-1",
        "batch_events": 4,
        "queue_events_max": 64,
        "timeout_ms": 2000,
        "backoff_initial_ms": 1000,
        "backoff_max_ms": 4000,
        "max_attempts": 0,
    }
    settings.update(overrides)
    return settings


def emit_events(deployment: Deployment, count: int, first: int = 0) -> None:
    """`count` anomaly events from as many identities, spread over the workers."""
    for index in range(first, first + count):
        client = Client(f"id{index}", address=f"10.9.0.{index}:1", via="address")
        deployment.run(client, worker=index % deployment.host.config.workers, findings={"credit_card": 2})


def queue_depth(deployment: Deployment) -> int:
    entry = deployment.host.shared_data("", DEPTH_KEY)
    return int.from_bytes(entry[0], "little") if entry else 0


def bodies_by_batch(collector: Collector) -> dict[str, set[bytes]]:
    bodies: dict[str, set[bytes]] = defaultdict(set)
    for request in collector.batches:
        key = dict(request.headers)["idempotency-key"]
        bodies[key].add(request.body)
    return bodies


def test_batches_are_authenticated_per_node_and_well_formed(deploy: DeploymentFactory) -> None:
    deployment = deploy(workers=2, rules=[RECORD_RULE], telemetry=telemetry())
    emit_events(deployment, 4)
    deployment.host.advance_time(1_000)
    request = deployment.collector.batches[0]
    headers = dict(request.headers)
    assert request.upstream == COLLECTOR
    assert headers[":method"] == "POST" and headers[":path"] == "/v1/telemetry"
    assert headers["authorization"] == "Bearer node-token-1"
    assert headers["x-meshveil-node"] == "meshveil-harness"
    assert headers["content-type"] == "application/json"
    envelope = json.loads(request.body)
    assert envelope["schema"] == "meshveil.telemetry.v1"
    assert envelope["batch_id"] == headers["idempotency-key"]
    assert envelope["node"] == "meshveil-harness" and envelope["module"] == "meshveil-ueba"
    assert len(envelope["events"]) == 4
    assert {event["type"] for event in envelope["events"]} == {"anomaly"}
    assert deployment.metric("meshveil.telemetry.events_sent") == 4


def test_collector_down_then_up_delivers_every_event_once(deploy: DeploymentFactory) -> None:
    collector = Collector(mode="down")
    deployment = deploy(workers=2, collector=collector, rules=[RECORD_RULE], telemetry=telemetry())
    emit_events(deployment, 10)
    deployment.host.advance_time(20_000)
    assert collector.accepted == {}
    attempts = bodies_by_batch(collector)
    assert len(collector.batches) > len(attempts), "failed batches were not retried"
    # A retry is the same batch: same idempotency key, byte-identical body.
    assert all(len(bodies) == 1 for bodies in attempts.values())
    assert deployment.metric("meshveil.telemetry.batch_failures") >= len(collector.batches) - 1
    retries_while_down = len(collector.batches)
    # Backoff: 20 s of outage cost far fewer calls than one per tick per worker.
    assert retries_while_down < 20

    collector.mode = "up"
    deployment.host.advance_time(10_000)
    assert len(collector.accepted) == 10
    assert collector.duplicates_seen == 0
    assert deployment.metric("meshveil.telemetry.events_sent") == 10
    assert deployment.metric("meshveil.telemetry.dropped") == 0
    assert queue_depth(deployment) == 0


def test_a_batch_whose_answer_was_lost_is_resent_with_the_same_event_ids(deploy: DeploymentFactory) -> None:
    # The collector stores the batch, but its answer never arrives: the call times out.
    collector = Collector(mode="hang", stored_while_hanging=True)
    deployment = deploy(
        workers=1, collector=collector, rules=[RECORD_RULE], telemetry=telemetry(batch_events=3)
    )
    emit_events(deployment, 3)
    deployment.host.advance_time(2_500)
    assert len(collector.accepted) == 3
    assert deployment.metric("meshveil.telemetry.events_sent") == 0
    collector.mode = "up"
    deployment.host.advance_time(5_000)
    # The resent batch carried the same ids: the collector saw them twice, keeps them once.
    assert len(collector.batches) == 2
    assert collector.batches[0].body == collector.batches[1].body
    assert collector.duplicates_seen == 3
    assert len(collector.accepted) == 3
    assert deployment.metric("meshveil.telemetry.events_sent") == 3


def test_a_full_queue_drops_and_counts_and_the_next_batch_reports_it(deploy: DeploymentFactory) -> None:
    collector = Collector(mode="unreachable")
    settings = telemetry(batch_events=2, queue_events_max=4, max_attempts=2, backoff_initial_ms=500)
    deployment = deploy(workers=2, collector=collector, rules=[RECORD_RULE], telemetry=settings)
    for index in range(12):
        emit_events(deployment, 1, first=index)
        assert queue_depth(deployment) <= 4
    deployment.host.advance_time(30_000)
    dropped_while_down = deployment.metric("meshveil.telemetry.dropped")
    assert dropped_while_down > 0
    assert collector.accepted == {}

    collector.mode = "up"
    emit_events(deployment, 2, first=100)
    deployment.host.advance_time(10_000)
    delivered = len(collector.accepted)
    # Every event is either delivered or counted as dropped; none vanishes silently.
    assert delivered + deployment.metric("meshveil.telemetry.dropped") == 14
    assert delivered >= 2
    assert deployment.metric("meshveil.telemetry.events_sent") == delivered
    reported = sum(envelope["dropped"] for envelope in collector.envelopes() if envelope["events"])
    assert reported > 0
