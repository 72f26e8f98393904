"""Deterministic synthetic traffic: JSON API exchanges of an exact body size.

Benchmarks need the same bytes every run (a fixed seed), bodies of a known size (the
1 KB target), and content shaped like real API traffic (nested objects, arrays, strings
that look like names, e-mail addresses and ids) so scanning costs are representative.
"""

from __future__ import annotations

import json
import random
from typing import Any

from harness.traffic.headers import RequestTarget, request_headers, response_headers
from harness.traffic.model import HttpExchange, HttpMessage

DEFAULT_SEED = 20260101
_FIRST_NAMES = ("ada", "grace", "alan", "edsger", "barbara", "ken", "margaret", "dennis", "frances", "john")
_LAST_NAMES = (
    "lovelace",
    "hopper",
    "turing",
    "dijkstra",
    "liskov",
    "thompson",
    "hamilton",
    "ritchie",
    "allen",
)
_WORDS = ("alpha", "bravo", "charlie", "delta", "echo", "foxtrot", "golf", "hotel", "india", "juliet", "kilo")


def json_exchanges(count: int, body_size: int = 1024, seed: int = DEFAULT_SEED) -> list[HttpExchange]:
    """`count` POST exchanges whose request and response bodies are JSON of exactly `body_size` bytes."""
    assert count >= 0
    generator = random.Random(seed)  # noqa: S311 - reproducible test data, not secrets
    return [_exchange(generator, index, body_size) for index in range(count)]


def json_body(generator: random.Random, size: int) -> bytes:
    """A JSON object of exactly `size` bytes (compact separators, padded in a string field)."""
    document: dict[str, Any] = {"id": f"ord_{generator.getrandbits(48):012x}", "items": [], "note": ""}
    customer = _person(generator)
    document["customer"] = customer
    while True:
        item = {"sku": f"SKU-{generator.randrange(10**6):06d}", "qty": generator.randrange(1, 9)}
        item["price"] = f"{generator.randrange(100, 99999) / 100:.2f}"
        document["items"].append(item)
        if len(_encode(document)) > size * 3 // 4:
            document["items"].pop()
            break
    padding = size - len(_encode(document))
    if padding < 0:
        raise ValueError(f"a synthetic body cannot be as small as {size} bytes")
    words: list[str] = []
    length = 0
    while length < padding:
        words.append(generator.choice(_WORDS))
        length += len(words[-1]) + 1
    document["note"] = (" ".join(words) + ".")[:padding]
    encoded = _encode(document)
    assert len(encoded) == size, (len(encoded), size)
    return encoded


def _exchange(generator: random.Random, index: int, body_size: int) -> HttpExchange:
    request_body = json_body(generator, body_size)
    response_body = json_body(generator, body_size)
    target = RequestTarget("https", "orders.shop.svc:8080", f"/api/v1/orders?page={index % 50}")
    recorded = [
        ("content-type", "application/json"),
        ("content-length", str(len(request_body))),
        ("accept", "application/json"),
        ("user-agent", "meshveil-bench/1"),
        ("authorization", f"Bearer {generator.getrandbits(128):032x}"),
    ]
    headers = request_headers("POST", target, recorded, request_id_seed=f"bench#{index}")
    response = response_headers(
        200, [("content-type", "application/json"), ("content-length", str(len(response_body)))], "status"
    )
    return HttpExchange(
        request=HttpMessage(headers, [request_body]),
        response=HttpMessage(response, [response_body]),
        exchange_id=str(index + 1),
        source=f"synthetic#{index + 1}",
        connection={"source.address": f"10.0.{index % 250}.{1 + index % 200}:{40000 + index % 20000}"},
    )


def _person(generator: random.Random) -> dict[str, str]:
    first, last = generator.choice(_FIRST_NAMES), generator.choice(_LAST_NAMES)
    return {
        "name": f"{first.title()} {last.title()}",
        "email": f"{first}.{last}@example.com",
        "phone": f"+1-555-{generator.randrange(10**4):04d}",
        "account": f"acct_{generator.getrandbits(40):010x}",
    }


def _encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":")).encode("utf-8")
