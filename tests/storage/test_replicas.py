"""Two control-plane replicas on one database: a change written through one reaches the
other's ECDS streams within its poll interval, with the same signed bytes."""

from __future__ import annotations

import queue
import time
from contextlib import ExitStack
from pathlib import Path

import grpc
import pytest
from envoy_data_plane.envoy.service.discovery.v3 import DiscoveryRequest, DiscoveryResponse

from controlplane.modules.build import BuiltModule
from tests.api.conftest import YAML, policy_text
from tests.service_fixture import RunningPlane, make_trust, running_plane
from tests.storage.databases import database_url
from tests.xds.conftest import ECDS_TYPE, Stream, next_response, node, prepare, pump

POLL_INTERVAL = 0.3
# A refresh is one read and, for a changed policy, a signature per filter; on a shared,
# busy two-core machine that can take seconds. A replica that never polled would miss
# this bound by far (it would never push at all).
REFRESH_ALLOWANCE = 3.0
NAMES = ["meshveil-dlp", "meshveil-mask"]


def first_response(stream: Stream) -> tuple[DiscoveryResponse, queue.Queue[object]]:
    stream.send(DiscoveryRequest(node=node("sidecar~replica"), resource_names=NAMES, type_url=ECDS_TYPE))
    answers = pump(stream)
    response = next_response(answers, 10.0)
    assert response is not None
    return response, answers


def wait_until_caught_up(follower: RunningPlane, leader: RunningPlane) -> None:
    with leader.client() as client:
        generation = client.get("/readyz").json()["generation"]
    deadline = time.monotonic() + 10
    with follower.client() as client:
        while client.get("/readyz").json()["snapshot_generation"] < generation:
            assert time.monotonic() < deadline, "the follower never caught up"
            time.sleep(0.05)


@pytest.mark.parametrize("kind", ["sqlite", "postgresql"])
def test_a_write_through_one_replica_is_pushed_by_the_other(
    kind: str, tmp_path: Path, built_modules: dict[str, BuiltModule]
) -> None:
    trust = make_trust(tmp_path / "trust")
    with ExitStack() as stack:
        url = stack.enter_context(database_url(kind, tmp_path))
        # What replicas behind one Service share: database, keys, and the public module URL.
        shared = {
            "database_url": url,
            "keys_dir": tmp_path / "keys",
            "public_url": "https://meshveil.example.internal:8443",
            "poll_interval": POLL_INTERVAL,
        }
        first = stack.enter_context(running_plane(tmp_path / "a", trust_root=trust.root_file, **shared))
        second = stack.enter_context(running_plane(tmp_path / "b", trust_root=trust.root_file, **shared))
        served = prepare(first, built_modules, trust.signer, policy_text("replicated"))
        wait_until_caught_up(second, first)

        on_first = stack.enter_context(grpc.insecure_channel(first.xds_target))
        on_second = stack.enter_context(grpc.insecure_channel(second.xds_target))
        stream = Stream(on_second)
        before, answers = first_response(stream)
        assert {item.unpack().name for item in before.resources} == set(NAMES)
        stream.send(
            DiscoveryRequest(
                version_info=before.version_info,
                response_nonce=before.nonce,
                resource_names=NAMES,
                type_url=ECDS_TYPE,
            )
        )

        changed = policy_text("replicated").replace(b"threshold: 10", b"threshold: 42")
        with first.client(served.author_token) as client:
            started = time.monotonic()
            client.put(f"/v1/policies/{served.policy_id}", content=changed, headers=YAML).raise_for_status()
        pushed = next_response(answers, POLL_INTERVAL + REFRESH_ALLOWANCE)
        elapsed = time.monotonic() - started
        assert pushed is not None, "the other replica did not push the change"
        assert pushed.version_info != before.version_info
        assert elapsed < POLL_INTERVAL + REFRESH_ALLOWANCE, f"pushed after {elapsed:.2f} s"

        # Both replicas sign the same bytes: a sidecar moving between them is not re-sent anything.
        direct, _ = first_response(Stream(on_first))
        assert direct.version_info == pushed.version_info
        assert [item.value for item in direct.resources] == [item.value for item in pushed.resources]
        stream.close()
