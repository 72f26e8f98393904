"""Modules, keys, tokens, tenants, audit, health and metrics over REST, per role."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from controlplane.modules.build import BuiltModule
from tests.api.conftest import policy_text
from tests.service_fixture import RunningPlane, make_trust, running_plane
from tests.xds.conftest import Served, prepare


@dataclass
class Platform:
    plane: RunningPlane
    served: Served
    tokens: dict[str, str]
    dlp: bytes


@pytest.fixture(scope="module")
def platform(
    tmp_path_factory: pytest.TempPathFactory, built_modules: dict[str, BuiltModule]
) -> Iterator[Platform]:
    trust = make_trust(tmp_path_factory.mktemp("trust"))
    with running_plane(tmp_path_factory.mktemp("plane"), trust_root=trust.root_file) as plane:
        served = prepare(plane, built_modules, trust.signer, policy_text("platform"))
        tokens = {"policy-author": served.author_token}
        with plane.admin() as admin:
            for role in ("analyst", "read-only"):
                response = admin.post(
                    "/v1/tokens", json={"name": role, "role": role, "tenants": ["payments"]}
                )
                tokens[role] = response.json()["token"]
        yield Platform(plane, served, tokens, built_modules["meshveil-dlp"].path.read_bytes())


def test_only_admins_upload_modules_and_unsigned_ones_are_refused(platform: Platform) -> None:
    with platform.plane.client(platform.tokens["policy-author"]) as author:
        assert author.post("/v1/modules", content=platform.dlp).status_code == 403
    with platform.plane.admin() as admin:
        refused = admin.post("/v1/modules", content=platform.dlp)
    assert refused.status_code == 422
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["type"].split("/")[-1].startswith("module-")


def test_modules_are_listed_and_served_by_sha256(platform: Platform) -> None:
    with platform.plane.client(platform.tokens["read-only"]) as reader:
        listed = reader.get("/v1/modules").json()
        assert {item["name"] for item in listed} == {"meshveil-dlp", "meshveil-mask", "meshveil-ueba"}
        dlp = next(item for item in listed if item["name"] == "meshveil-dlp")
        assert reader.get(f"/v1/modules/{dlp['sha256']}").json()["capabilities"] == dlp["capabilities"]
    with platform.plane.client() as anonymous:  # sidecars fetch modules without a token
        fetched = anonymous.get(f"/v1/modules/{dlp['sha256']}/bytes")
        assert fetched.status_code == 200 and fetched.headers["content-type"] == "application/wasm"
        assert hashlib.sha256(fetched.content).hexdigest() == dlp["sha256"]
        assert anonymous.get(f"/v1/modules/{'0' * 64}/bytes").status_code == 404
        assert anonymous.get("/v1/modules").status_code == 401


def test_key_rotation_is_admin_only_and_re_signs_every_config(platform: Platform) -> None:
    policy = platform.served.policy_id
    with platform.plane.client(platform.tokens["read-only"]) as reader:
        before = reader.get("/v1/keys").json()
        served_before = reader.get(f"/v1/rollouts/{policy}").json()["resources"]
    assert [key["state"] for key in before] == ["active"]
    assert before[0]["public_key_pem"].startswith("-----BEGIN PUBLIC KEY-----")
    with platform.plane.client(platform.tokens["policy-author"]) as author:
        assert author.post("/v1/keys/rotate").status_code == 403
    with platform.plane.admin() as admin:
        rotated = admin.post("/v1/keys/rotate")
        assert rotated.status_code == 201
        states = {key["key_id"]: key["state"] for key in rotated.json()}
        assert states[before[0]["key_id"]] == "retired" and list(states.values()).count("active") == 1
        served_after = admin.get(f"/v1/rollouts/{policy}").json()["resources"]
        events = admin.get("/v1/audit", params={"limit": 1000}).json()
    assert set(served_after) == set(served_before)
    assert all(served_after[name] != served_before[name] for name in served_before)
    assert any(event["action"] == "key.rotate" for event in events)


def test_tokens_and_tenants_are_admin_business(platform: Platform) -> None:
    with platform.plane.client(platform.tokens["policy-author"]) as author:
        assert (
            author.post("/v1/tokens", json={"name": "x", "role": "admin", "tenants": ["*"]}).status_code
            == 403
        )
        assert author.post("/v1/tenants", json={"name": "x", "namespaces": ["x"]}).status_code == 403
    with platform.plane.admin() as admin:
        wide = admin.post("/v1/tokens", json={"name": "wide", "role": "analyst", "tenants": ["*"]})
        assert wide.status_code == 422 and "only admin tokens" in wide.json()["detail"]
        taken = admin.post("/v1/tenants", json={"name": "copycat", "namespaces": ["payments"]})
        assert taken.status_code == 409
        created = admin.post(
            "/v1/tokens", json={"name": "short-lived", "role": "analyst", "tenants": ["payments"]}
        )
        token = created.json()["token"]
        with platform.plane.client(token) as holder:
            assert holder.get("/v1/policies").status_code == 200
        assert admin.delete(f"/v1/tokens/{created.json()['id']}").status_code == 204
        listed = {item["id"]: item for item in admin.get("/v1/tokens").json()}
        assert listed[created.json()["id"]]["revoked_at"] is not None
        assert "token" not in listed[created.json()["id"]]  # shown once, at creation
    with platform.plane.client(token) as holder:
        assert holder.get("/v1/policies").status_code == 401


def test_tenant_tokens_read_their_tenants_audit_events_only(platform: Platform) -> None:
    with platform.plane.client(platform.tokens["analyst"]) as analyst:
        events = analyst.get("/v1/audit", params={"limit": 1000}).json()
    assert events and {event["tenant"] for event in events} == {"payments"}
    create = next(event for event in events if event["action"] == "policy.create")
    assert create["actor"].startswith("token:") and len(create["after_hash"]) == 64


def test_health_readiness_and_metrics(platform: Platform) -> None:
    with platform.plane.client() as anonymous:
        assert anonymous.get("/healthz").json() == {"status": "ok"}
        ready = anonymous.get("/readyz").json()
        metrics = anonymous.get("/metrics")
    assert ready["status"] == "ready" and ready["snapshot_generation"] <= ready["generation"]
    assert ready["problems"] == []
    assert metrics.headers["content-type"].startswith("text/plain")
    lines = dict(
        line.split(" ", 1) for line in metrics.text.splitlines() if line and not line.startswith("#")
    )
    assert float(lines["meshveil_served_policies"]) == 1.0
    assert float(lines["meshveil_config_generation"]) == ready["snapshot_generation"]
    assert "meshveil_xds_streams" in lines and "meshveil_xds_acks_total" in lines


def test_a_wrong_method_is_a_405_that_lists_every_allowed_one(platform: Platform) -> None:
    with platform.plane.admin() as admin:
        # GET and POST are both served at /v1/policies, on different routes.
        response = admin.delete("/v1/policies")
        assert response.status_code == 405
        assert response.headers["allow"] == "GET, POST"
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["detail"] == "DELETE is not allowed on /v1/policies; allowed: GET, POST"
        # The ingest path, served past FastAPI's routing for POST, answers the same way.
        response = admin.get("/v1/telemetry")
        assert response.status_code == 405
        assert response.headers["allow"] == "POST"
