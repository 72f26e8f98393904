"""ECDS over mTLS: sidecars with a certificate from the configured CA are served by their
SPIFFE id; without a certificate, or with one from another CA, the handshake is refused;
REST polling (which carries no verifiable identity) is refused when mTLS is required."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass

import grpc
import pytest
from envoy_data_plane.envoy.config.core.v3 import Node
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse
from envoy_data_plane.google.protobuf import Struct

from controlplane.modules.build import BuiltModule
from controlplane.policy.filter_config import HEADER
from controlplane.trust.config_statement import Bundle, ConfigStatement
from tests.api.conftest import policy_text
from tests.service_fixture import make_trust, running_plane
from tests.xds.certificates import CertificateAuthority, Issued
from tests.xds.conftest import ECDS_TYPE, Served, Stream, prepare

NAMES = ["meshveil-dlp", "meshveil-mask"]
TRUST_DOMAIN = "cluster.local"
CHECKOUT = f"spiffe://{TRUST_DOMAIN}/ns/payments/sa/checkout"


@dataclass
class MtlsPlane:
    served: Served
    ca: CertificateAuthority
    other_ca: CertificateAuthority


def service_account_policy() -> bytes:
    """The example policy, selecting the workload by service account instead of labels."""
    text = policy_text("by-identity").decode()
    selector = "      labels:\n        app: checkout\n"
    assert selector in text
    return text.replace(selector, "      service_account: checkout\n").encode()


@pytest.fixture(scope="module")
def mtls(
    tmp_path_factory: pytest.TempPathFactory, built_modules: dict[str, BuiltModule]
) -> Iterator[MtlsPlane]:
    pki = tmp_path_factory.mktemp("pki")
    ca, other_ca = CertificateAuthority("mesh root"), CertificateAuthority("someone else's root")
    (pki / "ca.crt").write_bytes(ca.cert_pem)
    server_key, server_cert = ca.server().write(pki, "server")
    trust = make_trust(tmp_path_factory.mktemp("trust"))
    with running_plane(
        tmp_path_factory.mktemp("plane"),
        trust_root=trust.root_file,
        server_ca=pki / "ca.crt",
        tls_cert=server_cert,
        tls_key=server_key,
        client_ca=pki / "ca.crt",
        trust_domain=TRUST_DOMAIN,
        poll_interval=0.1,
    ) as plane:
        yield MtlsPlane(prepare(plane, built_modules, trust.signer, service_account_policy()), ca, other_ca)


def channel(mtls: MtlsPlane, client: Issued | None) -> grpc.Channel:
    credentials = grpc.ssl_channel_credentials(
        root_certificates=mtls.ca.cert_pem,
        private_key=client.key_pem if client else None,
        certificate_chain=client.cert_pem if client else None,
    )
    return grpc.secure_channel(mtls.served.plane.xds_target, credentials)


def request(node_id: str, metadata: dict[str, object] | None = None) -> DiscoveryRequest:
    node = Node(id=node_id, cluster="checkout", metadata=Struct.from_dict(metadata or {}))
    return DiscoveryRequest(node=node, resource_names=NAMES, type_url=ECDS_TYPE)


def first_response(mtls: MtlsPlane, client: Issued | None, sent: DiscoveryRequest) -> DiscoveryResponse:
    with channel(mtls, client) as opened:
        stream = Stream(opened)
        stream.send(sent)
        try:
            response = stream.receive()
        finally:
            stream.close()
    assert isinstance(response, DiscoveryResponse)
    return response


def names_in(response: DiscoveryResponse) -> set[str]:
    return {item.unpack().name for item in response.resources}


def test_certificate_from_the_ca_is_served_by_its_spiffe_id(mtls: MtlsPlane) -> None:
    # No NAMESPACE in the metadata: namespace and service account come from the certificate.
    response = first_response(mtls, mtls.ca.workload([CHECKOUT]), request("sidecar~checkout"))
    assert names_in(response) == set(NAMES)


def test_spiffe_service_account_decides_what_is_served(mtls: MtlsPlane) -> None:
    other_account = mtls.ca.workload([f"spiffe://{TRUST_DOMAIN}/ns/payments/sa/reporting"])
    response = first_response(mtls, other_account, request("sidecar~reporting"))
    assert names_in(response) == set()


def test_node_claiming_another_namespace_than_its_certificate_is_refused(mtls: MtlsPlane) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        first_response(mtls, mtls.ca.workload([CHECKOUT]), request("sidecar~liar", {"NAMESPACE": "shop"}))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "claims namespace 'shop'" in str(raised.value.details())


@pytest.mark.parametrize(
    "uris",
    [
        ["spiffe://elsewhere.example/ns/payments/sa/checkout"],
        [CHECKOUT, f"spiffe://{TRUST_DOMAIN}/ns/shop/sa/checkout"],
        [],
    ],
    ids=["foreign-trust-domain", "two-spiffe-ids", "no-spiffe-id"],
)
def test_certificate_without_one_spiffe_id_of_the_trust_domain_is_refused(
    mtls: MtlsPlane, uris: list[str]
) -> None:
    with pytest.raises(grpc.RpcError) as raised:
        first_response(mtls, mtls.ca.workload(uris), request("sidecar~odd"))
    assert raised.value.code() == grpc.StatusCode.PERMISSION_DENIED


@pytest.mark.parametrize("client", ["none", "other-ca"])
def test_handshake_without_a_certificate_from_the_ca_is_refused(mtls: MtlsPlane, client: str) -> None:
    issued = mtls.other_ca.workload([CHECKOUT]) if client == "other-ca" else None
    with pytest.raises(grpc.RpcError) as raised:
        first_response(mtls, issued, request("sidecar~checkout"))
    # The TLS handshake fails before any RPC runs: no stream, no response.
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_plaintext_client_is_refused(mtls: MtlsPlane) -> None:
    with grpc.insecure_channel(mtls.served.plane.xds_target) as opened:
        stream = Stream(opened)
        stream.send(request("sidecar~checkout"))
        with pytest.raises(grpc.RpcError) as raised:
            stream.receive()
    assert raised.value.code() == grpc.StatusCode.UNAVAILABLE


def test_rest_polling_is_refused_when_mtls_is_required(mtls: MtlsPlane) -> None:
    poll = {
        "node": {"id": "sidecar~rest", "metadata": {"NAMESPACE": "payments"}},
        "resourceNames": NAMES,
        "typeUrl": ECDS_TYPE,
    }
    with mtls.served.plane.client() as client:
        response = client.post("/v3/discovery:extension_configs", json=poll)
        # The REST API itself is served over TLS and still works with a token.
        assert client.get("/healthz").status_code == 200
    assert response.status_code == 403
    assert response.headers["content-type"] == "application/problem+json"
    assert "requires mTLS" in response.json()["detail"]


def telemetry_in(response: DiscoveryResponse, name: str) -> dict[str, object] | None:
    """The `telemetry` object of resource `name`'s signed config (None: it has no sink)."""
    typed = next(item.unpack() for item in response.resources if item.unpack().name == name)
    wasm = typed.typed_config.unpack()
    bundle = Bundle.from_bytes(wasm.config.configuration.unpack().value)
    packed = ConfigStatement.from_payload(bundle.config.payload, "config").config
    _, _, header_size, document_size, _ = HEADER.unpack_from(packed)
    sink: dict[str, object] | None = json.loads(packed[header_size : header_size + document_size]).get(
        "telemetry"
    )
    return sink


def test_node_telemetry_credential_only_for_a_node_id_of_the_peers_namespace(mtls: MtlsPlane) -> None:
    peer = mtls.ca.workload([CHECKOUT])
    own = first_response(
        mtls, peer, request("sidecar~10.0.0.1~checkout-7d9f8b6c5-x2x9z.payments~payments.svc")
    )
    own_sink = telemetry_in(own, "meshveil-dlp")
    assert own_sink is not None and str(own_sink["token"]).startswith("mvn_")
    # The same certificate claiming a pod of another namespace gets its config, but no
    # credential: it cannot collect the tokens of other namespaces' nodes.
    other = first_response(mtls, peer, request("sidecar~10.0.0.2~checkout-7d9f8b6c5-x2x9z.shop~shop.svc"))
    assert names_in(other) == set(NAMES)
    assert telemetry_in(other, "meshveil-dlp") is None
