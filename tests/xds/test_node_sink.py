"""The parts of per-node telemetry credentials that need no running control plane: tokens
derived per tenant and node, the template a node's token is put into, and the bounded
cache of per-node signed resources."""

from __future__ import annotations

import pytest

from controlplane.telemetry.nodes import Enrolment, derived_token
from controlplane.xds.node import NodeIdentity
from controlplane.xds.node_sink import NodeResourceCache, NodeSink, NodeSinkSettings, NodeTemplate

SECRET = bytes(range(32))
NODE = "sidecar~10.0.0.1~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local"


def identity(node_id: str) -> NodeIdentity:
    return NodeIdentity(node_id=node_id, namespace="shop", labels=(), service_account=None, spiffe_id=None)


def test_tokens_are_stable_and_differ_by_node_tenant_and_secret() -> None:
    token = derived_token(SECRET, "shop", NODE)
    assert token == derived_token(SECRET, "shop", NODE)
    assert token.startswith("mvn_") and token.isascii() and " " not in token
    others = {
        derived_token(SECRET, "shop", NODE + "x"),
        derived_token(SECRET, "payments", NODE),
        derived_token(bytes(32), "shop", NODE),
        # The separator keeps (tenant, node) pairs apart that would concatenate alike.
        derived_token(SECRET, "sho", "p" + NODE),
    }
    assert token not in others and len(others) == 4


def test_a_nodes_token_takes_the_placeholders_place_and_enrols_the_node() -> None:
    enrolled: list[Enrolment] = []
    sink = NodeSink(NodeSinkSettings("meshveil-controlplane", None, SECRET), enrolled.append)
    template_sink = sink.template_sink()
    config = b'{"telemetry":{"token":"' + template_sink.token.encode() + b'"}}'
    template = NodeTemplate(config, sink.placeholder, (1, "meshveil-dlp", "sha", 0, "key"))
    token = sink.token_for(identity(NODE), "shop")
    assert template.for_token(token) == b'{"telemetry":{"token":"' + token.encode() + b'"}}'
    (enrolment,) = enrolled
    assert (enrolment.node_id, enrolment.tenant, enrolment.service) == (NODE, "shop", "checkout")
    assert token not in repr(enrolment), "only the token's hash is kept for enrolment"


def test_a_template_refuses_a_token_of_another_length() -> None:
    sink = NodeSink(NodeSinkSettings("c", None, SECRET), lambda _: None)
    template = NodeTemplate(sink.placeholder, sink.placeholder, (1, "f", "m", 0, "k"))
    with pytest.raises(AssertionError):
        template.for_token("mvn_short")


def test_the_cache_is_bounded_in_bytes_and_drops_templates_no_longer_served() -> None:
    cache: NodeResourceCache[bytes] = NodeResourceCache(len, max_bytes=250)
    old, new = (1, "f", "m", 0, "k"), (2, "f", "m", 0, "k")
    for index in range(3):
        cache.put((old, f"n{index}"), b"x" * 100)
    assert len(cache) == 2 and cache.get((old, "n0")) is None, "the least recently used went first"
    cache.put((new, "n1"), b"y" * 10)
    cache.retain([new])
    assert cache.get((old, "n2")) is None and cache.get((new, "n1")) == b"y" * 10
