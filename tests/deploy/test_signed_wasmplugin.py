"""Istio-managed delivery with signed configs: `POST /v1/policies/{id}/wasmplugins` renders a
WasmPlugin per filter whose pluginConfig is the signed bundle. The manifests must pass
Istio's schema, and the real module must accept the bundle after Istio's Struct -> JSON
round trip (other key order, other whitespace), under the plugin name Istio gives it."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml
from google.protobuf import json_format, struct_pb2

from controlplane.modules.build import BuiltModule
from controlplane.packaging.signed_wasmplugin import PLACEMENT
from controlplane.trust.keys import generate_key_files
from controlplane.trust.trust_root import TrustRoot
from controlplane.trust.trust_state import next_state, sign_statement
from controlplane.xds.bench.seed import policy_yaml, signed_module
from harness.host import Host, HostConfig, PluginConfig, PluginLoadError
from harness.host.clock import VirtualClock
from tests.deploy.schemas import DEPLOY_DIR, documents, validate_manifest
from tests.service_fixture import RunningPlane, running_plane
from tests.trust.keys import KeyRing

DLP = "meshveil-dlp"
YAML = {"Content-Type": "application/yaml"}
WEEK = 7 * 24 * 3600


@dataclass
class Rendered:
    plane: RunningPlane
    policy_id: str
    manifests: list[dict[str, Any]]


def _plane_trust_root(folder: Path, root: TrustRoot, key_ring: KeyRing) -> Path:
    """The session trust root, moved (by a statement its keys sign) to one that also trusts
    the control plane's config key, the way an operator adds a config key."""
    plane_key = generate_key_files(folder / "keys", "plane-config").public_key
    current = root.current
    new = next_state(current, keys=[*current.keys, plane_key], threshold=1)
    statement = sign_statement(current, new, [key_ring["release-1"], key_ring["release-2"]], int(time.time()))
    path = folder / "keys.pub"
    root.appended(statement).save(path)
    return path


@pytest.fixture(scope="module")
def rendered(
    tmp_path_factory: pytest.TempPathFactory,
    trusted_modules: dict[str, BuiltModule],
    trust_root: TrustRoot,
    key_ring: KeyRing,
) -> Iterator[Rendered]:
    data_dir = tmp_path_factory.mktemp("plane")
    root_file = _plane_trust_root(data_dir, trust_root, key_ring)
    with running_plane(data_dir, trust_root=root_file) as plane, plane.admin() as admin:
        for name in (DLP, "meshveil-mask"):
            module = trusted_modules[name].path.read_bytes()
            response = admin.post("/v1/modules", content=signed_module(module, key_ring["release-1"]))
            assert response.status_code == 201, response.text
        assert (
            admin.post("/v1/tenants", json={"name": "payments", "namespaces": ["payments"]}).status_code
            == 201
        )
        created = admin.post(
            "/v1/policies", content=policy_yaml("cards", "payments", "payments", 10), headers=YAML
        )
        assert created.status_code == 201, created.text
        policy_id = created.json()["id"]
        response = admin.post(f"/v1/policies/{policy_id}/wasmplugins", json={"validity_seconds": WEEK})
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("application/yaml")
        yield Rendered(plane, policy_id, list(yaml.safe_load_all(response.text)))


def _by_plugin(rendered: Rendered, plugin: str) -> dict[str, Any]:
    return next(item for item in rendered.manifests if item["spec"]["pluginName"] == plugin)


def test_one_wasmplugin_per_filter_passes_istios_schema(rendered: Rendered) -> None:
    assert sorted(item["spec"]["pluginName"] for item in rendered.manifests) == [DLP, "meshveil-mask"]
    for manifest in rendered.manifests:
        validate_manifest(manifest)
        assert manifest["metadata"]["namespace"] == "payments"
        assert manifest["spec"]["selector"] == {"matchLabels": {"app": "checkout"}}
        assert manifest["spec"]["failStrategy"] == "FAIL_CLOSE"
    dlp = _by_plugin(rendered, DLP)
    assert dlp["spec"]["url"].startswith(rendered.plane.rest_url + "/v1/modules/")
    assert dlp["spec"]["url"].endswith(f"/{dlp['spec']['sha256']}/bytes")


def _istio_json(plugin_config: dict[str, Any]) -> bytes:
    """What Istio hands the filter: the pluginConfig Struct as protobuf JSON, here with
    sorted keys and indentation, so neither order nor whitespace matches the signed bytes."""
    struct = struct_pb2.Struct()
    struct.update(plugin_config)
    text = json_format.MessageToJson(struct, indent=2, sort_keys=True)
    assert text.encode() != json.dumps(plugin_config, separators=(",", ":")).encode()
    return text.encode()


def _sidecar() -> Host:
    return Host(
        HostConfig(
            clock=VirtualClock(wall_nanos=time.time_ns()),
            node_id="sidecar~10.0.0.9~checkout-5c7d9.payments~payments.svc.cluster.local",
            node_metadata={"NAMESPACE": "payments", "WORKLOAD_NAME": "checkout"},
        )
    )


def test_the_module_accepts_the_signed_config_after_the_struct_round_trip(
    rendered: Rendered, trusted_modules: dict[str, BuiltModule]
) -> None:
    manifest = _by_plugin(rendered, DLP)
    envoy_name = f"{manifest['metadata']['namespace']}.{manifest['metadata']['name']}"
    with _sidecar() as host:
        host.load_plugin(
            PluginConfig(
                name=envoy_name,
                root_id=DLP,
                module=trusted_modules[DLP].path,
                configuration=_istio_json(manifest["spec"]["pluginConfig"]),
            )
        )
        logs = [record.message for record in host.logs]
    assert any(f"{DLP}: configuration version" in line and "accepted" in line for line in logs), logs


def test_the_signature_binds_the_plugin_name_and_the_content(
    rendered: Rendered, trusted_modules: dict[str, BuiltModule]
) -> None:
    manifest = _by_plugin(rendered, DLP)
    plugin_config = manifest["spec"]["pluginConfig"]
    tampered = json.loads(json.dumps(plugin_config))
    payload = tampered["config"]["payload"]
    tampered["config"]["payload"] = ("B" if payload[0] != "B" else "C") + payload[1:]
    for name, configuration in (
        ("payments.another-plugin", _istio_json(plugin_config)),
        (f"payments.{manifest['metadata']['name']}", _istio_json(tampered)),
    ):
        with _sidecar() as host:
            with pytest.raises(PluginLoadError):
                host.load_plugin(
                    PluginConfig(
                        name=name, root_id=DLP, module=trusted_modules[DLP].path, configuration=configuration
                    )
                )
            logs = [record.message for record in host.logs]
        assert any("refused" in line for line in logs), logs


def test_rendering_is_audited_and_needs_the_rollout_permission(rendered: Rendered) -> None:
    with rendered.plane.admin() as admin:
        events = admin.get("/v1/audit", params={"limit": 500}).json()
        reader_token = admin.post(
            "/v1/tokens", json={"name": "reader", "role": "read-only", "tenants": ["payments"]}
        ).json()["token"]
    rendering = [event for event in events if event["action"] == "policy.wasmplugin"]
    assert rendering and rendering[-1]["object_id"] == rendered.policy_id
    with rendered.plane.client(reader_token) as reader:
        refused = reader.post(f"/v1/policies/{rendered.policy_id}/wasmplugins", json={})
    assert refused.status_code == 403
    assert refused.headers["content-type"].startswith("application/problem+json")


def test_a_validity_out_of_bounds_is_a_problem(rendered: Rendered) -> None:
    with rendered.plane.admin() as admin:
        response = admin.post(f"/v1/policies/{rendered.policy_id}/wasmplugins", json={"validity_seconds": 60})
    assert response.status_code == 422
    assert "validity_seconds" in response.json()["detail"]


def test_rendered_plugins_take_their_place_in_the_chain_from_the_deploy_templates() -> None:
    templates = {
        item["spec"]["pluginName"]: item["spec"]
        for item in documents(DEPLOY_DIR / "istio" / "wasmplugins.yaml")
        if item["kind"] == "WasmPlugin"
    }
    placed = {name.value: (place.phase, place.priority) for name, place in PLACEMENT.items()}
    assert placed == {name: (spec["phase"], spec["priority"]) for name, spec in templates.items()}
