"""ECDS over gRPC, driven the way Envoy drives it: first request, ACK, NACK, reconnect,
subscription changes, pushes after a REST change, and delta xDS."""

from __future__ import annotations

import base64
import hashlib
import time
from collections.abc import Iterator

import grpc
import pytest
from envoy_data_plane.envoy.config.core.v3 import TypedExtensionConfig
from envoy_data_plane.envoy.extensions.filters.http.wasm.v3 import Wasm
from envoy_data_plane.envoy.service.discovery.v3 import (
    DeltaDiscoveryRequest,
    DeltaDiscoveryResponse,
    DiscoveryRequest,
    DiscoveryResponse,
)
from envoy_data_plane.google.protobuf import BytesValue
from envoy_data_plane.google.rpc import Status

from controlplane.trust.config_statement import Bundle, ConfigStatement
from tests.api.conftest import YAML, policy_text
from tests.xds.conftest import DELTA, ECDS_TYPE, Served, Stream, node

NAMES = ["meshveil-dlp", "meshveil-mask"]


@pytest.fixture
def channel(served: Served) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.plane.xds_target) as opened:
        yield opened


def first_request(names: list[str] = NAMES, **fields: object) -> DiscoveryRequest:
    return DiscoveryRequest(node=node(), resource_names=names, type_url=ECDS_TYPE, **fields)


def rollout(served: Served) -> dict:
    with served.plane.client(served.author_token) as client:
        return client.get(f"/v1/rollouts/{served.policy_id}").json()


def wait_for(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def test_first_response_wraps_the_wasm_filter_with_a_signed_config(
    served: Served, channel: grpc.Channel
) -> None:
    stream = Stream(channel)
    stream.send(first_request())
    response = stream.receive()
    assert isinstance(response, DiscoveryResponse)
    assert response.type_url == ECDS_TYPE and response.nonce and response.version_info
    configs = {item.unpack().name: item.unpack() for item in response.resources}
    assert set(configs) == set(NAMES)
    dlp = configs["meshveil-dlp"]
    assert isinstance(dlp, TypedExtensionConfig)
    wasm = dlp.typed_config.unpack()
    assert isinstance(wasm, Wasm)
    vm = wasm.config.vm_config
    assert vm.vm_id == "meshveil.payments"
    assert vm.code.remote.http_uri.uri.endswith(f"/v1/modules/{vm.code.remote.sha256}/bytes")
    with served.plane.client() as anonymous:
        fetched = anonymous.get(vm.code.remote.http_uri.uri.split(served.plane.rest_url, 1)[1])
    assert hashlib.sha256(fetched.content).hexdigest() == vm.code.remote.sha256
    assert "proxy_log" in wasm.config.capability_restriction_config.allowed_capabilities
    configuration = wasm.config.configuration.unpack()
    assert isinstance(configuration, BytesValue)
    bundle = Bundle.from_bytes(configuration.value)
    statement = ConfigStatement.from_payload(bundle.config.payload, "config")
    assert statement.plugin == "meshveil-dlp" and statement.module.sha256 == vm.code.remote.sha256
    assert statement.targets.workloads[0].namespace == "payments"
    stream.close()


def test_ack_then_nack_keeps_the_acked_version_and_records_envoys_error(
    served: Served, channel: grpc.Channel
) -> None:
    stream = Stream(channel)
    stream.send(first_request())
    first = stream.receive()
    stream.send(first_request(version_info=first.version_info, response_nonce=first.nonce))
    wait_for(lambda: any(item["state"] == "acked" for item in rollout(served)["nodes"]))
    # A policy change is pushed to the open stream without it asking.
    with served.plane.client(served.author_token) as client:
        changed = policy_text("served").replace(b"threshold: 10", b"threshold: 11")
        client.put(f"/v1/policies/{served.policy_id}", content=changed, headers=YAML).raise_for_status()
    pushed = stream.receive()
    assert pushed.version_info != first.version_info
    error = "Failed to load Wasm module due to a missing import: env.proxy_frobnicate"
    stream.send(
        first_request(
            version_info=first.version_info,
            response_nonce=pushed.nonce,
            error_detail=Status(code=13, message=error),
        )
    )
    wait_for(lambda: any(item["state"] == "nacked" for item in rollout(served)["nodes"]))
    nacked = [item for item in rollout(served)["nodes"] if item["state"] == "nacked"]
    assert error in nacked[0]["error_detail"] and "code 13" in nacked[0]["error_detail"]
    stream.close()
    # Reconnecting with the ACKed version: the rejected version is not sent again.
    again = Stream(channel)
    again.send(first_request())
    reply = again.receive()
    assert reply.version_info == first.version_info
    again.close()


def test_reconnect_with_the_current_version_gets_nothing_resent(
    served: Served, channel: grpc.Channel
) -> None:
    stream = Stream(channel)
    other = node("sidecar~10.0.0.9~checkout-9.payments~payments.svc.cluster.local")
    stream.send(DiscoveryRequest(node=other, resource_names=NAMES, type_url=ECDS_TYPE))
    current = stream.receive()
    stream.close()
    again = Stream(channel)
    again.send(
        DiscoveryRequest(
            node=other, resource_names=NAMES, type_url=ECDS_TYPE, version_info=current.version_info
        )
    )
    # Nothing is due, so the next thing on the stream is the answer to a subscription change.
    again.send(
        DiscoveryRequest(
            node=other, resource_names=["meshveil-dlp"], type_url=ECDS_TYPE, version_info=current.version_info
        )
    )
    narrowed = again.receive()
    assert [item.unpack().name for item in narrowed.resources] == ["meshveil-dlp"]
    again.close()


def test_other_tenants_and_unknown_namespaces_get_no_resources(served: Served, channel: grpc.Channel) -> None:
    for namespace in ("shop", "nowhere"):
        stream = Stream(channel)
        stream.send(
            DiscoveryRequest(
                node=node(f"sidecar~{namespace}", namespace), resource_names=NAMES, type_url=ECDS_TYPE
            )
        )
        assert list(stream.receive().resources) == []
        stream.close()


def test_stream_without_node_is_refused(served: Served, channel: grpc.Channel) -> None:
    stream = Stream(channel)
    stream.send(DiscoveryRequest(resource_names=NAMES, type_url=ECDS_TYPE))
    with pytest.raises(grpc.RpcError) as raised:
        stream.receive()
    assert raised.value.code() == grpc.StatusCode.INVALID_ARGUMENT


def test_delta_subscribe_ack_and_unsubscribe(served: Served, channel: grpc.Channel) -> None:
    stream = Stream(channel, DELTA)
    delta_node = node("sidecar~delta")
    stream.send(
        DeltaDiscoveryRequest(node=delta_node, type_url=ECDS_TYPE, resource_names_subscribe=["meshveil-dlp"])
    )
    first = stream.receive(DeltaDiscoveryResponse)
    assert [item.name for item in first.resources] == ["meshveil-dlp"]
    stream.send(
        DeltaDiscoveryRequest(
            type_url=ECDS_TYPE, response_nonce=first.nonce, resource_names_subscribe=["meshveil-mask"]
        )
    )
    second = stream.receive(DeltaDiscoveryResponse)
    assert [item.name for item in second.resources] == ["meshveil-mask"]
    stream.close()
    # Reconnect saying what we have: nothing is resent until something changes.
    again = Stream(channel, DELTA)
    versions = {
        first.resources[0].name: first.resources[0].version,
        second.resources[0].name: second.resources[0].version,
    }
    again.send(
        DeltaDiscoveryRequest(
            node=delta_node,
            type_url=ECDS_TYPE,
            resource_names_subscribe=list(versions),
            initial_resource_versions=versions,
        )
    )
    with served.plane.client(served.author_token) as client:
        changed = policy_text("served").replace(b"threshold: 10", b"threshold: 12")
        client.put(f"/v1/policies/{served.policy_id}", content=changed, headers=YAML).raise_for_status()
    pushed = again.receive(DeltaDiscoveryResponse)
    assert {item.name for item in pushed.resources} == set(versions)
    assert all(item.version != versions[item.name] for item in pushed.resources)
    again.close()


def test_rest_transport_answers_envoy_json(served: Served) -> None:
    request = {
        "node": {"id": "sidecar~rest", "metadata": {"NAMESPACE": "payments", "LABELS": {"app": "checkout"}}},
        "resourceNames": ["meshveil-dlp"],
        "typeUrl": ECDS_TYPE,
    }
    with served.plane.client() as client:
        first = client.post("/v3/discovery:extension_configs", json=request).json()
        assert first["resources"][0]["@type"] == ECDS_TYPE
        assert first["resources"][0]["name"] == "meshveil-dlp"
        wasm = first["resources"][0]["typedConfig"]["config"]
        assert wasm["vmConfig"]["vmId"] == "meshveil.payments"
        Bundle.from_bytes(base64.b64decode(wasm["configuration"]["value"]))
        ack = {**request, "versionInfo": first["versionInfo"], "responseNonce": first["nonce"]}
        second = client.post("/v3/discovery:extension_configs", json=ack).json()
    assert second["versionInfo"] == first["versionInfo"] and second["nonce"] != first["nonce"]
