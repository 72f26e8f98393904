"""A change is pushed to the streams whose tenant it concerns, and to no other."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest

from tests.api.conftest import YAML, policy_text
from tests.xds.conftest import ECDS_TYPE, Served, Stream, next_response, node, pump

QUIET_SECONDS = 1.0


@pytest.fixture
def channel(served: Served) -> Iterator[grpc.Channel]:
    with grpc.insecure_channel(served.plane.xds_target) as opened:
        yield opened


def test_another_tenants_change_is_not_pushed_and_our_own_is(served: Served, channel: grpc.Channel) -> None:
    stream = Stream(channel)
    names = ["meshveil-dlp"]
    stream.send(DiscoveryRequest(node=node("sidecar~scope"), resource_names=names, type_url=ECDS_TYPE))
    answers = pump(stream)
    first = next_response(answers, 10.0)
    assert first is not None
    stream.send(
        DiscoveryRequest(
            version_info=first.version_info,
            response_nonce=first.nonce,
            resource_names=names,
            type_url=ECDS_TYPE,
        )
    )
    with served.plane.admin() as admin:
        token = admin.post(
            "/v1/tokens", json={"name": "shop-author", "role": "policy-author", "tenants": ["shop"]}
        ).json()["token"]
    with served.plane.client(token) as shop:
        shop.post(
            "/v1/policies", content=policy_text("theirs", "shop", "shop"), headers=YAML
        ).raise_for_status()
    assert next_response(answers, QUIET_SECONDS) is None

    with served.plane.client(served.author_token) as ours:
        changed = policy_text("served").replace(b"threshold: 10", b"threshold: 13")
        ours.put(f"/v1/policies/{served.policy_id}", content=changed, headers=YAML).raise_for_status()
    pushed = next_response(answers, 10.0)
    assert pushed is not None and pushed.version_info != first.version_info
    stream.close()
