"""Helpers for the collector tests: a running control plane (SQLite, or PostgreSQL when
MESHVEIL_TEST_POSTGRES_URL is set) with two tenants and a token per role, node
credentials, and anomaly / finding events shaped as docs/telemetry.md defines them."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.service_fixture import RunningPlane, running_plane
from tests.storage.databases import database_url

TENANTS = ("shop", "payments")
ROLES = ("admin", "policy-author", "analyst", "read-only")
CHECKOUT_NODE = "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"
ORDERS_NODE = "sidecar~10.0.0.8~orders-5c8d7f9b4-q7w2e.shop~shop.svc.cluster.local"
LEDGER_NODE = "sidecar~10.0.1.3~ledger-6f5d4c3b2-a1b2c.payments~payments.svc.cluster.local"
WEB_PRINCIPAL = "spiffe://cluster.local/ns/shop/sa/web"
_sequence = itertools.count(1)


@dataclass
class Collector:
    plane: RunningPlane
    tokens: dict[tuple[str, str], str]
    """(role, tenant) -> API token."""

    def api(self, role: str, tenant: str = "shop") -> httpx.Client:
        return self.plane.client(self.tokens[(role, tenant)])

    def issue_node(self, node_id: str, tenant: str = "shop", service: str | None = None) -> str:
        body: dict[str, Any] = {"node_id": node_id, "tenant": tenant}
        if service is not None:
            body["service"] = service
        with self.plane.admin() as admin:
            response = admin.post("/v1/telemetry/nodes", json=body)
        assert response.status_code == 201, response.text
        token: str = response.json()["token"]
        return token

    def send(
        self,
        token: str,
        node: str,
        events: list[dict[str, Any]],
        *,
        batch_id: str | None = None,
        dropped: int = 0,
        header_node: str | None = None,
        xfcc: str | None = None,
    ) -> httpx.Response:
        body = batch(node, events, batch_id=batch_id, dropped=dropped)
        headers = {
            "authorization": f"Bearer {token}",
            "x-meshveil-node": header_node or node,
            "content-type": "application/json",
            "idempotency-key": body["batch_id"],
        }
        if xfcc is not None:
            headers["x-forwarded-client-cert"] = xfcc
        with self.plane.client() as client:
            return client.post("/v1/telemetry", content=json.dumps(body), headers=headers)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


def event_id() -> str:
    return f"5eed{next(_sequence):012x}-{next(_sequence):012x}"


def batch(
    node: str, events: list[dict[str, Any]], *, batch_id: str | None = None, dropped: int = 0
) -> dict[str, Any]:
    return {
        "schema": "meshveil.telemetry.v1",
        "batch_id": batch_id or f"5eed000000000000-b{next(_sequence):012x}",
        "module": "meshveil-ueba",
        "plugin": "ueba-inbound",
        "node": node,
        "created_unix_ms": now_ms(),
        "dropped": dropped,
        "events": events,
    }


def anomaly(
    *,
    identity: str = "38d6667c2cff6f42c7e39d0e5a4cc44c",
    route: str = "cards",
    action: str = "block",
    score: float = 24.925,
    at_ms: int | None = None,
    detector: str | None = "credit_card",
) -> dict[str, Any]:
    reasons: list[dict[str, Any]] = [
        {
            "kind": "zscore",
            "feature": "findings",
            "value": 146.0,
            "z": score,
            "baseline": {"scope": "entity", "mean": 21.375, "stddev": 2.587, "windows": 7},
        },
        {"kind": "hour_of_day", "hour_utc": 3, "share": 0.0, "z": 4.87},
    ]
    if detector is not None:
        reasons.append(
            {
                "kind": "rule",
                "rule": "card-volume",
                "feature": "findings",
                "detector": detector,
                "value": 612.25,
                "threshold": 500,
                "window_seconds": 3600,
                "action": action,
            }
        )
    time_ms = at_ms or now_ms()
    return {
        "event_id": event_id(),
        "type": "anomaly",
        "time_unix_ms": time_ms,
        "module": "meshveil-ueba",
        "plugin": "ueba-inbound",
        "entity": {"kind": "bearer_jwt", "id": identity, "verified": False},
        "group": {
            "kind": "peer_principal",
            "id": "9e94f70498908adec575fcda84b616de",
            "verified": True,
            "value": WEB_PRINCIPAL,
        },
        "request": {
            "id": "req-1",
            "method": "GET",
            "endpoint": "cc9bc4102a254a4f",
            "route": route,
            "status": 200,
        },
        "score": score,
        "action": action,
        "enforced": action in ("throttle", "block"),
        "reasons": reasons,
        "window": {
            "start_unix_s": time_ms // 1000,
            "seconds": 60,
            "requests": 11,
            "response_bytes": 121,
            "findings": 146,
            "errors": 0,
            "endpoints": 1.004,
        },
    }


def finding(
    *findings: dict[str, Any],
    route: str = "cards",
    action: str = "alert",
    direction: str = "response",
    at_ms: int | None = None,
    peer: bool = True,
    **extra: Any,
) -> dict[str, Any]:
    """A finding event as filters/pipeline/events.zig writes it (plus the event id and
    plugin its sender stamps); `action` is every finding's that does not name its own."""
    event: dict[str, Any] = {
        "event_id": event_id(),
        "type": "finding",
        "module": "meshveil-dlp",
        "plugin": "dlp-inbound",
        "time_unix_ms": at_ms or now_ms(),
        "policy": "checkout-pii",
        "tenant": "shop",
        "route": route,
        "direction": direction,
        "request": {"id": "req-2", "method": "GET"},
        "enforced": action == "block",
        "findings": [{"action": action, **item} for item in (findings or (cards(3),))],
        "unsampled": 0,
        **extra,
    }
    if peer:
        event["group"] = {
            "kind": "peer_principal",
            "id": "9e94f70498908adec575fcda84b616de",
            "verified": True,
            "value": WEB_PRINCIPAL,
        }
    return event


def cards(
    count: int, sample: str | None = "************1111", location: str = "$.cards[*].number"
) -> dict[str, Any]:
    where: dict[str, Any] = {
        "where": "body",
        "path": location,
        "count": count,
        "fingerprints": ["a1b2c3d4e5f60718"],
    }
    if sample is not None:
        where["masked_sample"] = sample
    return {"detector": "credit_card", "entity": "CREDIT_CARD", "count": count, "locations": [where]}


def emails(count: int, sample: str | None = "a****@*******.com") -> dict[str, Any]:
    where: dict[str, Any] = {"where": "body", "path": "$.owner.email", "count": count}
    if sample is not None:
        where["masked_sample"] = sample
    return {"detector": "email", "count": count, "locations": [where]}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def collector(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Collector]:
    folder = tmp_path_factory.mktemp("telemetry-plane")
    with database_url(request.param, folder) as url, running_plane(folder, database_url=url) as plane:
        tokens = {}
        with plane.admin() as admin:
            for tenant in TENANTS:
                created = admin.post("/v1/tenants", json={"name": tenant, "namespaces": [tenant]})
                assert created.status_code == 201, created.text
            for role, tenant in itertools.product(ROLES, TENANTS):
                created = admin.post(
                    "/v1/tokens", json={"name": f"{role}-{tenant}", "role": role, "tenants": [tenant]}
                )
                assert created.status_code == 201, created.text
                tokens[(role, tenant)] = created.json()["token"]
        yield Collector(plane, tokens)
