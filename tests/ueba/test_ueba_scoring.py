"""meshveil-ueba scores synthetic traffic: a planted exfiltration (one identity's card-number
volume rising 50x) is caught within a few requests, normal identities are left alone, rules
act without a baseline, and each band's action is what the client sees."""

from __future__ import annotations

import hashlib
import hmac

from tests.harness.host_support import make_host, wasm_runtime
from tests.ueba.ueba_support import (
    IDENTITY_KEY,
    Client,
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

ALICE = Client("alice", address="10.0.0.1:40001")
BOB = Client("bob", address="10.0.0.2:40002")
MALLORY = Client("mallory", address="10.0.0.3:40003")

SCORING = {
    "min_stddev": {"findings": 5},
    "max_entities": 64,
    "sweep_slots_per_tick": 16,
}
DETECTED_WITHIN = 3


def normal(clients: list[Client], *, minutes: int, workers: int, seed: int) -> list[Step]:
    """Ten requests a minute, one to three card numbers per response: about twenty a minute."""
    return steady_schedule(clients, minutes=minutes, per_minute=10, cards=(1, 3), workers=workers, seed=seed)


def exfiltrating(clients: list[Client], *, minutes: int, workers: int, seed: int) -> list[Step]:
    """The same rate, fifty times the card numbers."""
    return steady_schedule(
        clients, minutes=minutes, per_minute=10, cards=(50, 150), workers=workers, seed=seed
    )


def entity_id(kind: int, value: str) -> str:
    """The keyed hash the filter documents (entity.zig): never the raw identity."""
    mac = hmac.new(bytes.fromhex(IDENTITY_KEY), digestmod=hashlib.sha256)
    mac.update(b"meshveil-ueba-identity-v1" + bytes([ord("e"), kind]) + value.encode())
    return mac.digest()[:16].hex()


def test_planted_exfiltration_is_caught_within_a_few_requests_and_normal_identities_are_not(
    deploy: DeploymentFactory,
) -> None:
    deployment = deploy(workers=2, **SCORING)
    warm = normal([ALICE, BOB, MALLORY], minutes=8, workers=2, seed=7)
    results = play(deployment, warm)
    # Three more minutes: alice and bob as before, mallory pulls fifty times the cards.
    start = 8 * 60_000
    later = normal([ALICE, BOB], minutes=3, workers=2, seed=8)
    surge = exfiltrating([MALLORY], minutes=3, workers=2, seed=9)
    results += play(deployment, sorted(later + surge, key=lambda step: step.at_ms), start_ms=start)
    deployment.host.advance_time(5_000)

    for step, outcome in results:
        if step.client is not MALLORY or step.cards < 50:
            assert refused(outcome) is None, f"{step.client.name} refused at {step.at_ms} ms"
            assert tag_of(outcome) is None, f"{step.client.name} tagged at {step.at_ms} ms"
    exfiltration = [outcome for step, outcome in results if step.client is MALLORY and step.cards >= 50]
    first_refusal = next(index for index, outcome in enumerate(exfiltration) if refused(outcome))
    assert first_refusal < DETECTED_WITHIN
    # From then on her responses never reach her: the data stays in.
    assert all(refused(outcome) in (429, 403) for outcome in exfiltration[first_refusal:])

    events = list(deployment.collector.accepted.values())
    assert events, "no anomaly event reached the collector"
    assert {event["entity"]["id"] for event in events} == {entity_id(1, "mallory")}
    first = min(events, key=lambda event: event["time_unix_ms"])
    assert first["action"] in ("throttle", "block") and first["enforced"] is True
    assert first["entity"] == {"kind": "bearer_jwt", "id": entity_id(1, "mallory"), "verified": False}
    reason = next(item for item in first["reasons"] if item["feature"] == "findings")
    assert reason["baseline"]["scope"] == "entity"
    assert reason["baseline"]["windows"] >= 5
    assert 15 <= reason["baseline"]["mean"] <= 25
    assert reason["value"] >= 50
    assert deployment.metric("meshveil.ueba.anomalies") >= 1


def test_a_new_identity_is_judged_against_its_peer_group(deploy: DeploymentFactory) -> None:
    deployment = deploy(workers=2, **SCORING)
    # Two members of the web service account teach the group what a minute looks like.
    play(deployment, normal([ALICE, BOB], minutes=7, workers=2, seed=3))
    newcomer = Client("eve", address="10.0.0.4:40004")
    deployment.host.advance_time(1_000)
    outcome = deployment.run(newcomer, 0, findings={"credit_card": 120})
    assert refused(outcome) in (429, 403)
    deployment.host.advance_time(5_000)
    event = next(iter(deployment.collector.accepted.values()))
    reason = next(item for item in event["reasons"] if item["feature"] == "findings")
    assert reason["baseline"]["scope"] == "group"
    assert event["group"]["kind"] == "peer_principal"


def test_a_rule_threshold_blocks_without_any_baseline(deploy: DeploymentFactory) -> None:
    rule = {
        "name": "card-volume",
        "feature": "findings",
        "detector": "credit_card",
        "threshold": 500,
        "window_seconds": 3600,
        "action": "block",
    }
    deployment = deploy(workers=2, rules=[rule], **SCORING)
    outcomes = [
        deployment.run(MALLORY, index % 2, findings={"credit_card": 120, "email": 40}) for index in range(6)
    ]
    deployment.host.advance_time(5_000)
    # 120 a response: the fifth response takes the hour past 500.
    assert [refused(outcome) for outcome in outcomes] == [None, None, None, None, 403, 403]
    assert (
        outcomes[5].local_reply is not None
        and outcomes[5].local_reply.details == "meshveil_ueba_block_penalty"
    )
    assert outcomes[5].request_to_upstream is None
    event = next(iter(deployment.collector.accepted.values()))
    hit = next(item for item in event["reasons"] if item["kind"] == "rule")
    assert hit["rule"] == "card-volume" and hit["threshold"] == 500 and hit["value"] > 500
    assert deployment.metric("meshveil.ueba.rule_hits") >= 1


def test_each_band_acts_as_configured(deploy: DeploymentFactory) -> None:
    bands = [{"min_score": 3, "action": "tag"}, {"min_score": 50, "action": "throttle"}]
    deployment = deploy(workers=1, bands=bands, throttle_seconds=30, **SCORING)
    play(deployment, normal([ALICE], minutes=6, workers=1, seed=5))
    deployment.host.advance_time(1_000)
    # A moderate rise: tagged, passed on.
    tagged = deployment.run(ALICE, findings={"credit_card": 60})
    assert refused(tagged) is None
    tag = tag_of(tagged)
    assert tag is not None and tag.startswith("action=tag; score=")
    # A large one: 429 with Retry-After, and the next request is refused before the upstream.
    throttled = deployment.run(ALICE, findings={"credit_card": 900})
    assert refused(throttled) == 429
    assert throttled.local_reply is not None
    assert ("retry-after", "30") in throttled.local_reply.headers
    deployment.host.advance_time(10_000)
    again = deployment.run(ALICE, findings={"credit_card": 1})
    assert refused(again) == 429 and again.request_to_upstream is None
    assert ("retry-after", "20") in again.local_reply.headers  # type: ignore[union-attr]
    # After the throttle ends, the identity is served again.
    deployment.host.advance_time(21_000)
    assert refused(deployment.run(ALICE, findings={"credit_card": 2})) is None
    assert deployment.metric("meshveil.ueba.actions.tag") == 1
    assert deployment.metric("meshveil.ueba.actions.throttle") == 1
    assert deployment.metric("meshveil.ueba.refused_by_penalty") == 1


def test_unidentified_requests_pass_untouched(deploy: DeploymentFactory) -> None:
    deployment = deploy(workers=1, entity_sources=[{"source": "api_key_header", "header": "x-api-key"}])
    outcome = deployment.run(ALICE, findings={"credit_card": 10_000})
    assert refused(outcome) is None and tag_of(outcome) is None
    assert deployment.metric("meshveil.ueba.unidentified") == 1
    assert deployment.metric("meshveil.ueba.exchanges") == 0


def test_an_office_hours_identity_is_flagged_at_three_in_the_morning(deploy: DeploymentFactory) -> None:
    # Hourly ticks: two simulated days stay cheap.
    deployment = deploy(workers=1, score_features=["hour_of_day"], tick_ms=3_600_000)
    clerk = Client("clerk", address="10.0.0.5:1")
    day_ms = 86_400_000
    office = [
        Step(day * day_ms + hour * 3_600_000 + slot * 90_000, clerk, 1, 0)
        for day in range(2)
        for hour in range(9, 17)
        for slot in range(40)
    ]
    results = play(deployment, office)
    assert all(refused(outcome) is None and tag_of(outcome) is None for _step, outcome in results)
    assert deployment.collector.accepted == {}
    # Day three: 03:00 UTC is an hour this identity never works; 10:00 is an ordinary one.
    play(
        deployment,
        [Step(2 * day_ms + 3 * 3_600_000, clerk, 1, 0), Step(2 * day_ms + 10 * 3_600_000, clerk, 1, 0)],
    )
    deployment.host.advance_time(3_600_000)
    events = list(deployment.collector.accepted.values())
    assert len(events) == 1
    reason = events[0]["reasons"][0]
    assert reason["kind"] == "hour_of_day" and reason["hour_utc"] == 3
    assert reason["share"] == 0 and reason["z"] >= 4
