"""A hand-issued node credential's way back after revocation: issuing again rotates it (the
old token stays dead, the node keeps its totals), audited; what cannot be done is refused
with problem JSON that says why. Derived (ECDS) credentials: test_ecds_node_credentials."""

from __future__ import annotations

from typing import Any

from tests.telemetry.support import Collector, anomaly, collector

__all__ = ["collector"]

NODE = "sidecar~10.0.0.21~billing-6d7e8f9a0-rrrrr.shop~shop.svc.cluster.local"


def node_row(collector: Collector, node_id: str) -> dict[str, Any]:
    with collector.api("analyst") as analyst:
        listed: list[dict[str, Any]] = analyst.get("/v1/telemetry/nodes").json()
    return next(item for item in listed if item["node_id"] == node_id)


def audit_actions(collector: Collector, node_id: str) -> list[str]:
    with collector.plane.admin() as admin:
        entries: list[dict[str, Any]] = admin.get("/v1/audit", params={"limit": 1000}).json()
    return sorted(item["action"] for item in entries if item["object_id"] == node_id)


def test_issuing_again_after_revoking_rotates_the_credential(collector: Collector) -> None:
    first = collector.issue_node(NODE)
    assert collector.send(first, NODE, [anomaly()]).status_code == 200
    with collector.api("admin") as admin:
        live = admin.post("/v1/telemetry/nodes", json={"node_id": NODE, "tenant": "shop"})
        assert live.status_code == 409
        assert live.headers["content-type"] == "application/problem+json"
        assert "revoke it, then issue again" in live.json()["detail"]
        assert admin.delete(f"/v1/telemetry/nodes/{NODE}").status_code == 204
    assert collector.send(first, NODE, [anomaly()]).status_code == 401

    second = collector.issue_node(NODE)
    assert second != first
    assert collector.send(first, NODE, [anomaly()]).status_code == 401
    assert collector.send(second, NODE, [anomaly()]).status_code == 200
    row = node_row(collector, NODE)
    assert row["revoked_at"] is None
    assert (row["batches"], row["events_accepted"]) == (2, 2), "the node's totals survive a rotation"
    assert audit_actions(collector, NODE) == [
        "telemetry-node.create",
        "telemetry-node.revoke",
        "telemetry-node.rotate",
    ]


def test_what_cannot_be_issued_or_rotated_is_refused_with_the_reason(collector: Collector) -> None:
    node = "sidecar~10.0.0.22~refunds-6d7e8f9a0-sssss.shop~shop.svc.cluster.local"
    collector.issue_node(node)
    with collector.plane.admin() as admin:
        assert admin.delete(f"/v1/telemetry/nodes/{node}").status_code == 204
        # Not into another tenant: its events so far are shop's.
        moved = admin.post("/v1/telemetry/nodes", json={"node_id": node, "tenant": "payments"})
        assert moved.status_code == 409 and "another tenant" in moved.json()["detail"]
        # The rotate route is for derived credentials; a hand-issued one is issued again.
        rotated = admin.post(f"/v1/telemetry/nodes/{node}/rotate")
        assert rotated.status_code == 409
        assert rotated.headers["content-type"] == "application/problem+json"
        assert "hand-issued" in rotated.json()["detail"]
        assert admin.post("/v1/telemetry/nodes/no-such-node/rotate").status_code == 404


def test_only_an_admin_of_the_nodes_tenant_may_rotate(collector: Collector) -> None:
    node = "sidecar~10.0.0.23~coupons-6d7e8f9a0-ttttt.shop~shop.svc.cluster.local"
    collector.issue_node(node)
    for role, tenant in (("analyst", "shop"), ("policy-author", "shop"), ("admin", "payments")):
        with collector.api(role, tenant) as client:
            refused = client.post(f"/v1/telemetry/nodes/{node}/rotate")
            assert refused.status_code in (403, 404), (role, tenant, refused.text)
            assert refused.headers["content-type"] == "application/problem+json"
    assert node_row(collector, node)["revoked_at"] is None
