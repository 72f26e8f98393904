"""Per-entity state lives in shared data, so every worker VM sees the same behaviour:
decisions do not depend on which worker an exchange lands on, a penalty set on one worker
holds on all, the table stays within its bound (evicting the least recently seen), and
ticks clear identities idle past their TTL."""

from __future__ import annotations

from tests.harness.host_support import make_host, wasm_runtime
from tests.ueba.ueba_support import (
    Client,
    Deployment,
    DeploymentFactory,
    Step,
    deploy,
    play,
    refused,
    steady_schedule,
    tag_of,
    ueba_code,
)

__all__ = ["deploy", "make_host", "ueba_code", "wasm_runtime"]

SMALL = {"min_stddev": {"findings": 5}, "max_entities": 32, "sweep_slots_per_tick": 8, "tick_ms": 5000}
CLIENTS = [Client("carol", address="10.1.0.1:1"), Client("dave", address="10.1.0.2:2")]


def traffic(workers: int) -> list[Step]:
    """Six quiet minutes for both clients, then dave's card count jumps: spread over
    `workers` workers at random."""
    quiet = steady_schedule(CLIENTS, minutes=6, per_minute=8, cards=(1, 3), workers=workers, seed=21)
    surge = steady_schedule(CLIENTS[1:], minutes=1, per_minute=8, cards=(40, 90), workers=workers, seed=22)
    return quiet + [Step(step.at_ms + 6 * 60_000, step.client, step.cards, step.worker) for step in surge]


def decisions(deployment: Deployment, steps: list[Step]) -> list[tuple[str, int | None, str | None]]:
    return [
        (step.client.name, refused(outcome), tag_of(outcome)) for step, outcome in play(deployment, steps)
    ]


def test_decisions_and_records_do_not_depend_on_the_worker(deploy: DeploymentFactory) -> None:
    one = deploy(workers=1, **SMALL)
    four = deploy(workers=4, **SMALL)
    on_one = decisions(one, traffic(workers=1))
    on_four = decisions(four, traffic(workers=4))
    assert [step.worker for step in traffic(workers=4)].count(3) > 10  # really spread out
    assert on_one == on_four
    # Dave was stopped, carol never was: the shared baseline saw all of their traffic.
    assert any(status is not None for name, status, _tag in on_four if name == "dave")
    assert all(status is None and tag is None for name, status, tag in on_four if name == "carol")
    # The records themselves are the same bytes: one state, whatever the worker count.
    assert sorted(one.entity_records(32)) == sorted(four.entity_records(32))
    assert len(four.entity_records(32)) == 2


def test_a_penalty_set_on_one_worker_holds_on_every_worker(deploy: DeploymentFactory) -> None:
    rule = {"name": "cards", "feature": "findings", "threshold": 100, "window_seconds": 60, "action": "block"}
    deployment = deploy(workers=4, rules=[rule], block_seconds=120, **SMALL)
    mallory = Client("mallory", address="10.1.0.9:9")
    assert refused(deployment.run(mallory, worker=0, findings={"credit_card": 101})) == 403
    for worker in (1, 2, 3):
        outcome = deployment.run(mallory, worker=worker)
        assert refused(outcome) == 403
        assert outcome.request_to_upstream is None
    # Another identity on the same workers is served.
    assert refused(deployment.run(CLIENTS[0], worker=2)) is None
    # The block ends when it says it does (and the rule's minute has passed), on any worker.
    deployment.host.advance_time(121_000)
    assert refused(deployment.run(mallory, worker=3)) is None


def test_the_table_is_bounded_and_evicts_the_least_recently_seen(deploy: DeploymentFactory) -> None:
    # Eight slots: every identity's probe neighbourhood is the whole table.
    deployment = deploy(workers=2, max_entities=8, sweep_slots_per_tick=0)
    crowd = [Client(f"c{index}", address=f"10.2.0.{index}:5", via="address") for index in range(20)]
    for index, client in enumerate(crowd):
        deployment.run(client, worker=index % 2)
        deployment.host.advance_time(1_000)
    assert len(deployment.entity_records(8)) == 8
    assert deployment.host.shared_data("", b"meshveil.ueba.v1/default/e/8") is None
    assert deployment.metric("meshveil.ueba.state.evictions") == 12
    # The newest identity is still known (its next exchange updates, not evicts) ...
    deployment.run(crowd[-1], worker=0)
    assert deployment.metric("meshveil.ueba.state.evictions") == 12
    # ... the oldest one was evicted (coming back evicts someone else).
    deployment.run(crowd[0], worker=1)
    assert deployment.metric("meshveil.ueba.state.evictions") == 13


def test_ticks_clear_identities_idle_past_their_ttl(deploy: DeploymentFactory) -> None:
    deployment = deploy(
        workers=2, max_entities=16, entity_ttl_seconds=120, sweep_slots_per_tick=4, tick_ms=1000
    )
    for index, client in enumerate(CLIENTS):
        deployment.run(client, worker=index)
    assert len(deployment.entity_records(16)) == 2
    deployment.host.advance_time(60_000)
    assert len(deployment.entity_records(16)) == 2
    # Past the TTL, a few ticks cover the whole table (4 slots per tick per worker).
    deployment.host.advance_time(70_000)
    assert deployment.entity_records(16) == []
    assert deployment.metric("meshveil.ueba.state.expired") == 2
