"""Helpers for the tests that run a built filter in the harness against a real control
plane's collector: a plane with one node credential, a sidecar host whose collector cluster
reaches that plane, traffic with e-mail addresses in it, and the analyst's view of what
was stored and of the node's totals."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.demo.collector_bridge import CollectorBridge
from harness.host import Host, HostConfig, VirtualClock, WasmRuntime
from harness.traffic.model import HttpExchange, HttpMessage
from tests.service_fixture import RunningPlane, running_plane

CLUSTER = "meshveil-controlplane"
"""The Envoy cluster the filters' telemetry sink names: the collector."""
_PROFILE_POLICY = """
api_version: meshveil.io/v1alpha1
kind: DataProtectionPolicy
name: profiles
tenant: shop
targets: {workloads: [{namespace: shop}]}
telemetry:
  delivery: DELIVERY
routes:
  - name: profile
    match: {paths: ["/v1/profile/*"]}
    directions: [response]
    content_types: [application/json]
    detectors:
      email-address: {action: alert}
"""


def profile_policy(delivery: str) -> bytes:
    """Tenant shop's DLP policy that alerts on e-mail addresses in `profile` (`profile()`)
    responses, with the telemetry delivery settings given as a YAML flow mapping."""
    return _PROFILE_POLICY.replace("DELIVERY", delivery).encode()


@dataclass
class IssuedMesh:
    """A control plane with tenant shop, an analyst of shop, and one node's issued credential."""

    plane: RunningPlane
    analyst: str
    node_token: str


@contextmanager
def issued_mesh(folder: Path, node_id: str) -> Iterator[IssuedMesh]:
    with running_plane(folder) as plane, plane.admin() as admin:
        admin.post("/v1/tenants", json={"name": "shop", "namespaces": ["shop"]}).raise_for_status()
        analyst = admin.post("/v1/tokens", json={"name": "analyst", "role": "analyst", "tenants": ["shop"]})
        node = admin.post("/v1/telemetry/nodes", json={"node_id": node_id, "tenant": "shop"})
        yield IssuedMesh(plane, analyst.json()["token"], node.json()["token"])


def sidecar_host(
    runtime: WasmRuntime, node_id: str, bridge: CollectorBridge, *, workers: int = 2, **settings: Any
) -> Host:
    """A sidecar whose collector cluster is the bridge to the plane. Its clock is the
    collector's: events from a virtual 2026-01-01 would be expired."""
    clock = VirtualClock(wall_nanos=time.time_ns())
    return Host(
        HostConfig(
            workers=workers,
            runtime=runtime,
            node_id=node_id,
            upstreams={CLUSTER: bridge.upstream()},
            clock=clock,
            **settings,
        )
    )


def profile(index: int, prefix: str, authority: str) -> HttpExchange:
    """A JSON profile response with one e-mail address in it: one finding event, whose
    request id is `{prefix}-{index}`."""
    body = json.dumps({"id": index, "email": f"user{index}@example.com"}).encode()
    return HttpExchange(
        request=HttpMessage(
            headers=[
                (":method", "GET"),
                (":path", f"/v1/profile/{index}"),
                (":authority", authority),
                (":scheme", "http"),
                ("x-request-id", f"{prefix}-{index}"),
            ]
        ),
        response=HttpMessage(
            headers=[
                (":status", "200"),
                ("content-type", "application/json"),
                ("content-length", str(len(body))),
            ],
            body_chunks=[body],
        ),
        exchange_id=f"{prefix}-{index}",
    )


def stored_events(plane: RunningPlane, analyst: str, **params: Any) -> list[dict[str, Any]]:
    """The events the analyst sees (at most 1000), filtered by the query parameters."""
    with plane.client(analyst) as client:
        events: list[dict[str, Any]] = client.get(
            "/v1/telemetry/events", params={"limit": 1000, **params}
        ).json()["events"]
    return events


def node_row(plane: RunningPlane, analyst: str, node_id: str, wait_seconds: float = 10.0) -> dict[str, Any]:
    """The node's row in the collector's node list, waiting for it while the control plane
    may still be writing it (nodes served over ECDS are enrolled in the background)."""
    deadline = time.monotonic() + wait_seconds
    while True:
        with plane.client(analyst) as client:
            listed: list[dict[str, Any]] = client.get("/v1/telemetry/nodes").json()
        found = next((item for item in listed if item["node_id"] == node_id), None)
        if found is not None:
            return found
        assert time.monotonic() < deadline, f"{node_id} is not among the collector's nodes"
        time.sleep(0.05)
