"""Who a request is from, as the policy names it (Istio's forwarded JWT payload, a bearer
token read unverified, an API key, the peer address, the mTLS principal as peer group),
and what of it may leave the filter: keyed hashes only, unless the policy reveals a kind.
Also: the configuration is refused with the field named, and responses are measured
(bytes when no length was given, errors) as the policy's rules expect."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

import pytest

from harness.host import Host, PluginConfig, PluginLoadError
from tests.harness.host_support import make_host, wasm_runtime
from tests.ueba.ueba_support import (
    FINDINGS_HEADER,
    IDENTITY_KEY,
    Client,
    Deployment,
    DeploymentFactory,
    bearer_token,
    deploy,
    exchange,
    refused,
    ueba_code,
    ueba_config,
)

__all__ = ["deploy", "make_host", "ueba_code", "wasm_runtime"]

RECORD_RULE = {
    "name": "any-cards",
    "feature": "findings",
    "threshold": 1,
    "window_seconds": 60,
    "action": "record",
}
KINDS = {"jwt_payload_header": 0, "bearer_jwt": 1, "peer_principal": 2, "api_key_header": 3, "source_ip": 4}


def keyed_hash(role: str, kind: str, value: str) -> str:
    mac = hmac.new(bytes.fromhex(IDENTITY_KEY), digestmod=hashlib.sha256)
    mac.update(b"meshveil-ueba-identity-v1" + bytes([ord(role), KINDS[kind]]) + value.encode())
    return mac.digest()[:16].hex()


def recorded_entities(deployment: Deployment) -> list[dict[str, Any]]:
    deployment.host.advance_time(2_000)
    events = sorted(deployment.collector.accepted.values(), key=lambda event: event["event_id"])
    return [event["entity"] for event in events]


def everything_that_left(deployment: Deployment) -> str:
    bodies = [request.body.decode() for request in deployment.collector.batches]
    headers = [json.dumps(request.headers) for request in deployment.collector.batches]
    logs = [record.message for record in deployment.host.logs]
    return "\n".join(bodies + headers + logs)


def test_each_source_identifies_by_a_keyed_hash(deploy: DeploymentFactory) -> None:
    deployment = deploy(workers=1, rules=[RECORD_RULE], event_interval_seconds=3600)
    clients = [
        Client("ivy", via="istio", address="10.3.0.1:1"),
        Client("bert", via="bearer", address="10.3.0.2:2"),
        Client("kay", via="api_key", address="10.3.0.3:3"),
        Client("anon", via="address", address="10.3.0.4:4"),
    ]
    for client in clients:
        deployment.run(client, findings={"credit_card": 2})
        # The same identity again (another port): one entity, so no second event.
        deployment.run(
            Client(client.name, via=client.via, address=client.address[:-1] + "9"),
            findings={"credit_card": 2},
        )
    assert recorded_entities(deployment) == [
        {"kind": "jwt_payload_header", "id": keyed_hash("e", "jwt_payload_header", "ivy"), "verified": True},
        {"kind": "bearer_jwt", "id": keyed_hash("e", "bearer_jwt", "bert"), "verified": False},
        {"kind": "api_key_header", "id": keyed_hash("e", "api_key_header", "key-kay"), "verified": True},
        {"kind": "source_ip", "id": keyed_hash("e", "source_ip", "10.3.0.4"), "verified": True},
    ]
    assert len(deployment.entity_records(4096)) == 4


def test_raw_identities_never_leave_unless_the_policy_reveals_them(deploy: DeploymentFactory) -> None:
    hidden = deploy(workers=1, rules=[RECORD_RULE])
    hidden.run(Client("kay", via="api_key", address="10.3.0.7:7"), findings={"credit_card": 3})
    hidden.run(Client("bert", via="bearer", address="10.3.0.8:8"), findings={"credit_card": 3})
    hidden.host.advance_time(2_000)
    leaked = everything_that_left(hidden)
    for raw in ("key-kay", "bert", "10.3.0.7", "10.3.0.8", "spiffe://cluster.local/ns/shop/sa/web"):
        assert raw not in leaked
    group = next(iter(hidden.collector.accepted.values()))["group"]
    assert group == {
        "kind": "peer_principal",
        "id": keyed_hash("g", "peer_principal", "spiffe://cluster.local/ns/shop/sa/web"),
        "verified": True,
    }

    revealing = deploy(workers=1, rules=[RECORD_RULE], reveal_identities=["peer_principal"])
    revealing.run(Client("kay", via="api_key", address="10.3.0.7:7"), findings={"credit_card": 3})
    revealing.host.advance_time(2_000)
    event = next(iter(revealing.collector.accepted.values()))
    assert event["group"]["value"] == "spiffe://cluster.local/ns/shop/sa/web"
    assert "value" not in event["entity"]
    assert "key-kay" not in everything_that_left(revealing)


def test_sources_are_tried_in_the_policy_order(deploy: DeploymentFactory) -> None:
    deployment = deploy(
        workers=1,
        rules=[RECORD_RULE],
        entity_sources=[{"source": "api_key_header", "header": "x-api-key"}, {"source": "bearer_jwt"}],
    )
    # The bearer token is there too, but the API key comes first in the policy.
    with_both = Client("kay", via="api_key")
    deployment.chain.run(
        exchange(
            with_both,
            "both",
            findings={"credit_card": 2},
            extra_headers=[("authorization", f"Bearer {bearer_token({'sub': 'kay'})}")],
        )
    )
    deployment.run(Client("bert", via="bearer"), findings={"credit_card": 2})
    assert [entity["kind"] for entity in recorded_entities(deployment)] == ["api_key_header", "bearer_jwt"]


@pytest.mark.parametrize(
    ("config", "expected"),
    [
        (ueba_config(entity_sources=[]), "entity_sources: list at least one source"),
        (ueba_config(identity_key="abcd"), "identity_key: expected 32 to 128 hex characters"),
        (ueba_config(window_seconds=0), "window_seconds: expected 1 to 86400, got 0"),
        (ueba_config(colour="blue"), "unknown field"),
        (b"not json", "not valid JSON"),
    ],
)
def test_a_bad_configuration_is_refused_with_the_field_named(
    make_host: Host, ueba_code: bytes, config: bytes, expected: str
) -> None:
    host = make_host(workers=1)  # type: ignore[operator]
    with pytest.raises(PluginLoadError):
        host.load_plugin(PluginConfig(name="ueba", module=ueba_code, configuration=config))
    messages = [record.message for record in host.logs]
    assert any(
        "meshveil-ueba: configuration refused" in message and expected in message for message in messages
    ), messages


def test_bytes_without_a_length_are_counted_as_they_pass(deploy: DeploymentFactory) -> None:
    rule = {
        "name": "bytes-out",
        "feature": "response_bytes",
        "threshold": 1000,
        "window_seconds": 60,
        "action": "block",
    }
    deployment = deploy(workers=2, rules=[rule])
    mallory = Client("mallory", address="10.3.0.9:9")
    body = b"x" * 800
    # No content-length: the bytes are known only at the end of each response.
    first = deployment.run(mallory, worker=0, body=body, content_length=False)
    second = deployment.run(mallory, worker=1, body=body, content_length=False)
    third = deployment.run(mallory, worker=0, body=body, content_length=False)
    assert [refused(first), refused(second), refused(third)] == [None, None, 403]


def test_error_responses_count_toward_error_rules(deploy: DeploymentFactory) -> None:
    rule = {"name": "errors", "feature": "errors", "threshold": 3, "window_seconds": 60, "action": "throttle"}
    deployment = deploy(workers=1, rules=[rule], throttle_seconds=10)
    prober = Client("prober", address="10.3.0.10:1")
    statuses = [refused(deployment.run(prober, status=404)) for _ in range(3)]
    # A trailers-only gRPC failure answers HTTP 200 and is an error all the same.
    grpc_failure = deployment.run(prober, extra_response_headers=[("grpc-status", "14")])
    assert [*statuses, refused(grpc_failure)] == [None, None, None, 429]
    assert refused(deployment.run(Client("fine", address="10.3.0.11:1"), status=200)) is None


def test_the_findings_tag_stays_inside_the_mesh(deploy: DeploymentFactory) -> None:
    api_keys_only = [{"source": "api_key_header", "header": "x-api-key"}]
    stripping = deploy(workers=1, entity_sources=api_keys_only)
    outcome = stripping.run(Client("kay", via="api_key"), findings={"credit_card": 2})
    assert outcome.response_to_client.header(FINDINGS_HEADER) is None
    # Also for requests the filter could not attribute to anyone.
    unknown = stripping.run(Client("ivy", via="istio"), findings={"email": 1})
    assert stripping.metric("meshveil.ueba.unidentified") == 1
    assert unknown.response_to_client.header(FINDINGS_HEADER) is None

    keeping = deploy(workers=1, strip_findings_header=False)
    outcome = keeping.run(Client("ivy", via="istio"), findings={"credit_card": 2})
    assert outcome.response_to_client.header(FINDINGS_HEADER) == "credit_card=2"
