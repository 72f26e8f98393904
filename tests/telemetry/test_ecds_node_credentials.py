"""Sidecars served over ECDS get, inside their own signed DLP config, a telemetry sink with
their own credential (derived from the control plane's secret and the node id), and the
collector accepts it as that node's: the real module, run in the harness with the config
exactly as served, sends finding events that are stored under the node's tenant and
service. One node's token is refused for another node id, and a revoked node's token is
refused until the credential is rotated (a new token; the old one stays dead). A node's
hand-issued credential gives way to the derived one once the node is served over ECDS.
Runs on SQLite, and on PostgreSQL where MESHVEIL_TEST_POSTGRES_URL is set."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import pytest
from envoy_data_plane.envoy.config.core.v3 import TypedExtensionConfig
from envoy_data_plane.envoy.extensions.filters.http.wasm.v3 import Wasm
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from envoy_data_plane.google.protobuf import BytesValue

from controlplane.cli import main
from controlplane.demo.collector_bridge import CollectorBridge
from controlplane.modules.build import BuiltModule
from controlplane.policy.filter_config import HEADER
from controlplane.trust.config_verification import FilterFacts, verify_bundle
from controlplane.trust.keys import generate_key_files
from controlplane.trust.trust_root import TrustRoot
from harness.host import FilterChain, PluginConfig, WasmRuntime
from tests.harness.host_support import wasm_runtime
from tests.service_fixture import RunningPlane, make_trust, running_plane, signed_module
from tests.storage.databases import database_url
from tests.telemetry.sidecar_support import (
    CLUSTER,
    node_row,
    profile,
    profile_policy,
    sidecar_host,
    stored_events,
)
from tests.telemetry.support import batch, finding
from tests.xds.conftest import ECDS_TYPE, Stream, node

__all__ = ["wasm_runtime"]

NAMESPACE = "shop"
NODE_A = "sidecar~10.0.0.11~checkout-7d9f8b6c5-aaaaa.shop~shop.svc.cluster.local"
NODE_B = "sidecar~10.0.0.12~accounts-5c6d7e8f9-bbbbb.shop~shop.svc.cluster.local"
DLP = "meshveil-dlp"
POLICY = profile_policy("{batch_events: 2, timeout_ms: 2000, backoff_initial_ms: 500, backoff_max_ms: 2000}")


@dataclass
class Mesh:
    plane: RunningPlane
    trust_root: TrustRoot
    analyst: str


@contextmanager
def seeded_mesh(
    folder: Path, built: BuiltModule, database: str | None = None, **options: object
) -> Iterator[Mesh]:
    """A control plane serving POLICY to tenant shop, with its config key in the trust root.
    Its xDS is plaintext, so node credentials are allowed to unverified clients explicitly."""
    options.setdefault("node_telemetry_unverified", True)
    trust = make_trust(folder / "trust")
    # The control plane's config key, added to the trust root by a signed statement, as an
    # operator does: configs then verify against the root alone.
    config_key = generate_key_files(folder / "config-keys", "config-signing")
    rotate = ["keys", "rotate", "--root", str(trust.root_file), "--sign-with", str(trust.key_file)]
    assert main([*rotate, "--add", str(config_key.public_path)]) == 0
    with (
        running_plane(
            folder / "plane",
            database_url=database,
            trust_root=trust.root_file,
            keys_dir=folder / "config-keys",
            poll_interval=0.1,
            **options,
        ) as plane,
        plane.admin() as admin,
    ):
        uploaded = admin.post("/v1/modules", content=signed_module(built, trust.signer))
        assert uploaded.status_code == 201, uploaded.text
        admin.post("/v1/tenants", json={"name": "shop", "namespaces": [NAMESPACE]}).raise_for_status()
        author = admin.post("/v1/tokens", json={"name": "a", "role": "policy-author", "tenants": ["shop"]})
        analyst = admin.post("/v1/tokens", json={"name": "b", "role": "analyst", "tenants": ["shop"]})
        with plane.client(author.json()["token"]) as client:
            created = client.post(
                "/v1/policies", content=POLICY, headers={"Content-Type": "application/yaml"}
            )
            assert created.status_code == 201, created.text
        yield Mesh(plane, TrustRoot.load(trust.root_file), analyst.json()["token"])


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def mesh(
    request: pytest.FixtureRequest,
    tmp_path_factory: pytest.TempPathFactory,
    built_modules: dict[str, BuiltModule],
) -> Iterator[Mesh]:
    folder = tmp_path_factory.mktemp("ecds-telemetry")
    with (
        database_url(request.param, folder) as url,
        seeded_mesh(folder, built_modules[DLP], url) as mesh,
    ):
        yield mesh


def served_configuration(mesh: Mesh, node_id: str) -> bytes:
    """The signed plugin configuration of the DLP resource the node is served over gRPC SotW."""
    with grpc.insecure_channel(mesh.plane.xds_target) as channel:
        stream = Stream(channel)
        stream.send(DiscoveryRequest(node=node(node_id, NAMESPACE), resource_names=[DLP], type_url=ECDS_TYPE))
        try:
            response = stream.receive()
        finally:
            stream.close()
    assert isinstance(response, DiscoveryResponse) and len(response.resources) == 1
    typed = response.resources[0].unpack()
    assert isinstance(typed, TypedExtensionConfig) and typed.typed_config is not None
    wasm = typed.typed_config.unpack()
    assert isinstance(wasm, Wasm) and wasm.config is not None and wasm.config.configuration is not None
    value = wasm.config.configuration.unpack()
    assert isinstance(value, BytesValue)
    return value.value


def verified_config(mesh: Mesh, built: BuiltModule, node_id: str, configuration: bytes) -> bytes:
    """The compiled filter config inside the signed bundle, after checking the bundle as a
    filter built with the trust root does (signature, module, node, time)."""
    facts = FilterFacts(DLP, built.build_id, int(time.time()), node_id, NAMESPACE, "checkout", DLP)
    return verify_bundle(configuration, mesh.trust_root.current, facts, None).statement.config


def verified_sink(mesh: Mesh, built: BuiltModule, node_id: str, configuration: bytes) -> dict[str, Any]:
    """The `telemetry` object of the verified config."""
    packed = verified_config(mesh, built, node_id, configuration)
    _, _, header_size, document_size, _ = HEADER.unpack_from(packed)
    document = json.loads(packed[header_size : header_size + document_size])
    sink: dict[str, Any] = document["telemetry"]
    return sink


def enrolled(mesh: Mesh, node_id: str) -> dict[str, Any]:
    """The node's row in the collector's node list, once the control plane has written it."""
    return node_row(mesh.plane, mesh.analyst, node_id)


def send(mesh: Mesh, token: str, node_id: str, header_node: str | None = None) -> int:
    body = batch(node_id, [finding(route="profile", peer=False)])
    body["module"], body["plugin"] = DLP, DLP
    headers = {
        "authorization": f"Bearer {token}",
        "x-meshveil-node": header_node or node_id,
        "content-type": "application/json",
        "idempotency-key": body["batch_id"],
    }
    with mesh.plane.client() as client:
        return client.post("/v1/telemetry", content=json.dumps(body), headers=headers).status_code


def test_two_nodes_get_their_own_tokens_in_their_signed_configs(
    mesh: Mesh, built_modules: dict[str, BuiltModule]
) -> None:
    built = built_modules[DLP]
    first = verified_sink(mesh, built, NODE_A, served_configuration(mesh, NODE_A))
    second = verified_sink(mesh, built, NODE_B, served_configuration(mesh, NODE_B))
    assert first["token"].startswith("mvn_") and second["token"].startswith("mvn_")
    assert first["token"] != second["token"]
    assert first["cluster"] == second["cluster"] == CLUSTER
    assert first["authority"] == CLUSTER  # no public_url or telemetry_authority configured
    # Served again (a reconnect, another replica): the same credential.
    assert verified_sink(mesh, built, NODE_A, served_configuration(mesh, NODE_A))["token"] == first["token"]
    assert (enrolled(mesh, NODE_A)["service"], enrolled(mesh, NODE_B)["service"]) == ("checkout", "accounts")
    assert enrolled(mesh, NODE_A)["tenant"] == "shop"


def test_the_module_sends_with_the_served_credential_and_events_are_the_nodes(
    mesh: Mesh, wasm_runtime: WasmRuntime, built_modules: dict[str, BuiltModule]
) -> None:
    built = built_modules[DLP]
    # The session's modules are built without a trust root, so they take the compiled config
    # itself: the one in the bundle as served, once its signature is checked here.
    configuration = verified_config(mesh, built, NODE_A, served_configuration(mesh, NODE_A))
    enrolled(mesh, NODE_A)
    bridge = CollectorBridge(mesh.plane.rest_url)
    host = sidecar_host(wasm_runtime, NODE_A, bridge, workers=1, node_metadata={"NAMESPACE": NAMESPACE})
    plugin = host.load_plugin(
        PluginConfig(name=DLP, root_id=DLP, module=built.path.read_bytes(), configuration=configuration)
    )
    chain = FilterChain(host, [plugin])
    with host:
        for index in range(4):
            chain.run(profile(index, "ecds", "checkout"))
        host.advance_time(5_000)
    assert bridge.statuses and all(status == 200 for status in bridge.statuses), bridge.statuses
    events = stored_events(mesh.plane, mesh.analyst, type="finding")
    ours = [event for event in events if str(event.get("request_id", "")).startswith("ecds-")]
    assert len(ours) == 4
    assert {(event["service"], event["tenant"]) for event in ours} == {("checkout", "shop")}
    assert enrolled(mesh, NODE_A)["events_accepted"] >= 4
    assert "@example.com" not in json.dumps(ours)


def test_one_nodes_token_is_refused_for_another_node(
    mesh: Mesh, built_modules: dict[str, BuiltModule]
) -> None:
    token = verified_sink(mesh, built_modules[DLP], NODE_A, served_configuration(mesh, NODE_A))["token"]
    enrolled(mesh, NODE_A)
    assert send(mesh, token, NODE_A) == 200
    assert send(mesh, token, NODE_B) == 403
    assert send(mesh, token, NODE_A, header_node=NODE_B) == 403


def test_a_revoked_nodes_derived_token_is_refused(mesh: Mesh, built_modules: dict[str, BuiltModule]) -> None:
    revoked = "sidecar~10.0.0.13~reports-4b5c6d7e8-ccccc.shop~shop.svc.cluster.local"
    token = verified_sink(mesh, built_modules[DLP], revoked, served_configuration(mesh, revoked))["token"]
    enrolled(mesh, revoked)
    assert send(mesh, token, revoked) == 200
    with mesh.plane.admin() as admin:
        assert admin.delete(f"/v1/telemetry/nodes/{revoked}").status_code == 204
    assert send(mesh, token, revoked) == 401
    # Served again, the node is not silently re-enrolled: revoked stays revoked.
    served_configuration(mesh, revoked)
    time.sleep(0.5)
    assert send(mesh, token, revoked) == 401
    assert enrolled(mesh, revoked)["revoked_at"] is not None


def eventually_answered(mesh: Mesh, token: str, node_id: str, status: int) -> None:
    """Waits for a batch sent with `token` to get `status`: the control plane writes derived
    credentials in the background, and the collector caches a checked token for a second."""
    deadline = time.monotonic() + 10
    while (answered := send(mesh, token, node_id)) != status:
        assert time.monotonic() < deadline, f"answered {answered}, not {status}"
        time.sleep(0.1)


def served_token(mesh: Mesh, built: BuiltModule, node_id: str, unlike: str | None = None) -> str:
    """The token in the node's served config; with `unlike`, once it differs from that one
    (after a rotation the snapshot is rebuilt in the background)."""
    deadline = time.monotonic() + 10
    while True:
        token: str = verified_sink(mesh, built, node_id, served_configuration(mesh, node_id))["token"]
        if token != unlike:
            return token
        assert time.monotonic() < deadline, "the node is still served its old token"
        time.sleep(0.1)


def audit_actions(mesh: Mesh, node_id: str) -> list[tuple[str, str]]:
    with mesh.plane.admin() as admin:
        entries: list[dict[str, Any]] = admin.get("/v1/audit", params={"limit": 1000}).json()
    return sorted((item["action"], item["actor"]) for item in entries if item["object_id"] == node_id)


def test_a_hand_issued_credential_gives_way_to_the_derived_one_once_ecds_serves_the_node(
    mesh: Mesh, built_modules: dict[str, BuiltModule]
) -> None:
    adopted = "sidecar~10.0.0.14~search-4b5c6d7e8-ddddd.shop~shop.svc.cluster.local"
    with mesh.plane.admin() as admin:
        issued = admin.post("/v1/telemetry/nodes", json={"node_id": adopted, "tenant": "shop"})
    assert issued.status_code == 201, issued.text
    issued_token = issued.json()["token"]
    assert send(mesh, issued_token, adopted) == 200
    derived = served_token(mesh, built_modules[DLP], adopted)
    assert derived != issued_token
    # The config the node now runs carries the derived token: that one is accepted.
    eventually_answered(mesh, derived, adopted, 200)
    eventually_answered(mesh, issued_token, adopted, 401)
    row = enrolled(mesh, adopted)
    assert (row["created_by"], row["revoked_at"]) == ("system:ecds", None)
    # The same row: what the node sent with its issued token still counts.
    assert row["events_accepted"] >= 2
    assert ("telemetry-node.adopt", "system:ecds") in audit_actions(mesh, adopted)
    with mesh.plane.admin() as admin:
        again = admin.post("/v1/telemetry/nodes", json={"node_id": adopted, "tenant": "shop"})
    assert again.status_code == 409 and "served over ECDS" in again.json()["detail"]


def test_rotating_a_revoked_derived_credential_serves_a_new_token_and_the_old_stays_dead(
    mesh: Mesh, built_modules: dict[str, BuiltModule]
) -> None:
    rotated = "sidecar~10.0.0.15~ratings-4b5c6d7e8-eeeee.shop~shop.svc.cluster.local"
    built = built_modules[DLP]
    old = served_token(mesh, built, rotated)
    eventually_answered(mesh, old, rotated, 200)
    with mesh.plane.admin() as admin:
        assert admin.delete(f"/v1/telemetry/nodes/{rotated}").status_code == 204
        # Issuing by hand is no way back for a node served over ECDS: the answer says which is.
        issued = admin.post("/v1/telemetry/nodes", json={"node_id": rotated, "tenant": "shop"})
        assert issued.status_code == 409 and "rotate" in issued.json()["detail"]
        answer = admin.post(f"/v1/telemetry/nodes/{rotated}/rotate")
    assert answer.status_code == 200, answer.text
    assert answer.json()["revoked_at"] is None
    assert send(mesh, old, rotated) == 401
    new = served_token(mesh, built, rotated, unlike=old)
    eventually_answered(mesh, new, rotated, 200)
    assert send(mesh, old, rotated) == 401
    # Stable: served again (a reconnect), the node keeps its new token.
    assert served_token(mesh, built, rotated) == new
    assert enrolled(mesh, rotated)["events_accepted"] == 2, "the node keeps its totals"
    actions = [action for action, _ in audit_actions(mesh, rotated)]
    assert actions == ["telemetry-node.revoke", "telemetry-node.rotate"]


def test_a_configured_authority_is_served_and_no_sink_when_node_telemetry_is_off(
    tmp_path: Path, built_modules: dict[str, BuiltModule]
) -> None:
    built = built_modules[DLP]
    with seeded_mesh(tmp_path / "on", built, telemetry_authority="collector.mesh:8443") as mesh:
        sink = verified_sink(mesh, built, NODE_A, served_configuration(mesh, NODE_A))
    assert (sink["cluster"], sink["authority"]) == (CLUSTER, "collector.mesh:8443")
    with seeded_mesh(tmp_path / "off", built, node_telemetry=False) as mesh:
        packed = verified_config(mesh, built, NODE_A, served_configuration(mesh, NODE_A))
        _, _, header_size, document_size, _ = HEADER.unpack_from(packed)
        assert "telemetry" not in json.loads(packed[header_size : header_size + document_size])
        with mesh.plane.client(mesh.analyst) as analyst:
            assert analyst.get("/v1/telemetry/nodes").json() == []


def test_without_mtls_no_node_gets_a_credential_unless_explicitly_allowed(
    tmp_path: Path, built_modules: dict[str, BuiltModule]
) -> None:
    """Over plaintext xDS a node id is only the client's claim: by default nobody gets a
    credential, so a client reaching the port cannot collect other nodes' tokens."""
    built = built_modules[DLP]
    with seeded_mesh(tmp_path, built, node_telemetry_unverified=False) as mesh:
        packed = verified_config(mesh, built, NODE_A, served_configuration(mesh, NODE_A))
        _, _, header_size, document_size, _ = HEADER.unpack_from(packed)
        assert "telemetry" not in json.loads(packed[header_size : header_size + document_size])
        with mesh.plane.client(mesh.analyst) as analyst:
            assert analyst.get("/v1/telemetry/nodes").json() == []
