"""A control plane with signed modules uploaded, a tenant and a policy: ready to serve ECDS."""

from __future__ import annotations

import queue
import threading
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from envoy_data_plane.google.protobuf import Struct

from controlplane.modules.build import BuiltModule
from controlplane.trust.keys import FileSigner
from tests.api.conftest import YAML, policy_text
from tests.service_fixture import RunningPlane, make_trust, running_plane, signed_module

ECDS_TYPE = "type.googleapis.com/envoy.config.core.v3.TypedExtensionConfig"
SOTW = "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/StreamExtensionConfigs"
DELTA = "/envoy.service.extension.v3.ExtensionConfigDiscoveryService/DeltaExtensionConfigs"


@dataclass
class Served:
    plane: RunningPlane
    policy_id: str
    author_token: str


def node(
    node_id: str = "sidecar~10.0.0.1~checkout-1.payments~payments.svc.cluster.local",
    namespace: str = "payments",
) -> Node:
    return Node(
        id=node_id,
        cluster="checkout",
        metadata=Struct.from_dict({"NAMESPACE": namespace, "LABELS": {"app": "checkout"}}),
    )


class Stream:
    """An Envoy-like SotW client: requests go in a queue, responses come back in order."""

    def __init__(self, channel: grpc.Channel, method: str = SOTW) -> None:
        self._requests: queue.Queue[bytes | None] = queue.Queue()
        call = channel.stream_stream(method, request_serializer=None, response_deserializer=None)
        self._responses = call(iter(self._requests.get, None))

    def send(self, request: DiscoveryRequest) -> None:
        self._requests.put(bytes(request))

    def receive(self, parse: type = DiscoveryResponse) -> object:
        return parse.parse(next(self._responses))

    def close(self) -> None:
        self._requests.put(None)


def pump(stream: Stream) -> queue.Queue[object]:
    """Every response of the stream, in order, from one reader thread."""
    answers: queue.Queue[object] = queue.Queue()

    def read() -> None:
        try:
            while True:
                answers.put(stream.receive())
        except (grpc.RpcError, StopIteration):
            return

    threading.Thread(target=read, daemon=True).start()
    return answers


def next_response(answers: queue.Queue[object], seconds: float) -> DiscoveryResponse | None:
    """The next response, or None when none came within `seconds`."""
    try:
        response = answers.get(timeout=seconds)
    except queue.Empty:
        return None
    assert isinstance(response, DiscoveryResponse)
    return response


def prepare(
    plane: RunningPlane, built_modules: dict[str, BuiltModule], signer: FileSigner, policy: bytes
) -> Served:
    """Uploads the signed filter modules, makes tenants payments and shop, a policy author
    for payments, and creates `policy` as that author."""
    with plane.admin() as admin:
        for name in ("meshveil-dlp", "meshveil-mask", "meshveil-ueba"):
            uploaded = admin.post("/v1/modules", content=signed_module(built_modules[name], signer))
            assert uploaded.status_code == 201, uploaded.text
        admin.post("/v1/tenants", json={"name": "payments", "namespaces": ["payments"]}).raise_for_status()
        admin.post("/v1/tenants", json={"name": "shop", "namespaces": ["shop"]}).raise_for_status()
        token = admin.post(
            "/v1/tokens", json={"name": "a", "role": "policy-author", "tenants": ["payments"]}
        ).json()["token"]
    with plane.client(token) as client:
        created = client.post("/v1/policies", content=policy, headers=YAML)
        assert created.status_code == 201, created.text
    return Served(plane, created.json()["id"], token)


@pytest.fixture(scope="module")
def served(
    tmp_path_factory: pytest.TempPathFactory, built_modules: dict[str, BuiltModule]
) -> Iterator[Served]:
    trust = make_trust(tmp_path_factory.mktemp("trust"))
    with running_plane(
        tmp_path_factory.mktemp("plane"), trust_root=trust.root_file, poll_interval=0.1
    ) as plane:
        yield prepare(plane, built_modules, trust.signer, policy_text("served"))
