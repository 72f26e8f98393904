"""Synthetic telemetry batches as the filters send them (docs/telemetry.md): anomaly events
shaped like meshveil-ueba's and finding events with two findings each, deterministic for a
seed, with unique event ids per batch and times over the last hour in sending order."""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from typing import Any

DETECTORS = ("credit_card", "email", "us_ssn", "iban", "phone_number")
ROUTES = ("cards", "accounts", "orders", "profile")
HOUR_MS = 3_600_000


@dataclass(frozen=True)
class SyntheticBatch:
    body: bytes
    events: int


def anomaly_event(rng: random.Random, event_id: str, time_ms: int) -> dict[str, Any]:
    mean = rng.uniform(10, 40)
    value = mean * rng.uniform(4, 8)
    return {
        "event_id": event_id,
        "type": "anomaly",
        "time_unix_ms": time_ms,
        "module": "meshveil-ueba",
        "plugin": "ueba-inbound",
        "entity": {"kind": "bearer_jwt", "id": f"{rng.getrandbits(128):032x}", "verified": False},
        "group": {
            "kind": "peer_principal",
            "id": f"{rng.getrandbits(128):032x}",
            "verified": True,
            "value": "spiffe://cluster.local/ns/shop/sa/web",
        },
        "request": {
            "id": f"{rng.getrandbits(64):016x}",
            "method": "GET",
            "endpoint": f"{rng.getrandbits(64):016x}",
            "route": rng.choice(ROUTES),
            "status": 200,
        },
        "score": round(rng.uniform(4, 30), 3),
        "action": rng.choice(("record", "tag", "throttle", "block")),
        "enforced": False,
        "reasons": [
            {
                "kind": "zscore",
                "feature": "findings",
                "value": round(value, 3),
                "z": round((value - mean) / 3, 3),
                "baseline": {"scope": "entity", "mean": round(mean, 3), "stddev": 3.0, "windows": 12},
            },
            {"kind": "hour_of_day", "hour_utc": rng.randrange(24), "share": 0.0, "z": 4.87},
        ],
        "window": {
            "start_unix_s": time_ms // 1000 // 60 * 60,
            "seconds": 60,
            "requests": 11,
            "response_bytes": 12100,
            "findings": round(value),
            "errors": 0,
            "endpoints": 1.004,
        },
    }


def finding_event(rng: random.Random, event_id: str, time_ms: int) -> dict[str, Any]:
    """Shaped like meshveil-dlp's (filters/pipeline/events.zig): findings by detector, each
    with the locations the filter kept (here one per detector, holding its whole count)."""
    first, second = rng.sample(DETECTORS, 2)
    first_count, second_count = rng.randint(1, 40), rng.randint(1, 5)
    return {
        "event_id": event_id,
        "type": "finding",
        "module": "meshveil-dlp",
        "plugin": "dlp-inbound",
        "time_unix_ms": time_ms,
        "policy": "shop-pii",
        "tenant": "shop",
        "route": rng.choice(ROUTES),
        "direction": "response",
        "request": {"id": f"{rng.getrandbits(64):016x}", "method": "GET", "status": 200},
        "enforced": False,
        "findings": [
            {
                "detector": first,
                "count": first_count,
                "action": rng.choice(("alert", "tag", "block")),
                "locations": [
                    {
                        "where": "body",
                        "path": "$.items[*].value",
                        "count": first_count,
                        "fingerprints": [f"{rng.getrandbits(64):016x}"],
                        "masked_sample": "************4242",
                    }
                ],
            },
            {
                "detector": second,
                "count": second_count,
                "action": "alert",
                "locations": [{"where": "body", "path": "$.owner.contact", "count": second_count}],
            },
        ],
        "unsampled": 0,
    }


def synthetic_batches(
    node: str, *, batches: int, events_per_batch: int, now_ms: int, seed: int
) -> list[SyntheticBatch]:
    """Half anomaly, half finding events; every event id unique across the batches. Times
    spread over the hour before `now_ms` in sending order, as a sidecar's queue holds them
    (its events are stamped when they happen and leave in that order)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data, not a secret
    nonce = f"{rng.getrandbits(64):016x}"
    made = []
    sequence = 0
    total = batches * events_per_batch
    for batch_number in range(batches):
        events = []
        for _ in range(events_per_batch):
            sequence += 1
            event_id = f"{nonce}-{sequence:012x}"
            time_ms = now_ms - HOUR_MS + sequence * HOUR_MS // total
            make = anomaly_event if sequence % 2 else finding_event
            events.append(make(rng, event_id, time_ms))
        envelope = {
            "schema": "meshveil.telemetry.v1",
            "batch_id": f"{nonce}-b{batch_number:012x}",
            "module": "meshveil-ueba",
            "plugin": "ueba-inbound",
            "node": node,
            "created_unix_ms": now_ms,
            "dropped": 0,
            "events": events,
        }
        made.append(SyntheticBatch(json.dumps(envelope, separators=(",", ":")).encode(), len(events)))
    return made
