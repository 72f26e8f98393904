"""Helpers for the meshveil-ueba tests: its configuration, clients that identify themselves
the ways the filter reads (JWT, API key, mTLS principal, address), exchanges whose response
carries the DLP filter's findings tag, a telemetry collector that can go down, and a
driver that plays traffic through the harness host on a virtual clock.
"""

from __future__ import annotations

import base64
import json
import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from controlplane.modules.build import BuiltModule
from harness.host import (
    CalloutFailure,
    CalloutRequest,
    FakeUpstream,
    FilterChain,
    Host,
    HttpReply,
    Plugin,
    PluginConfig,
)
from harness.host.outcome import ExchangeOutcome
from harness.host.upstreams import Answer
from harness.traffic.model import HttpExchange, HttpMessage

MODULE = "meshveil-ueba"
IDENTITY_KEY = "6d65736876656984756562612d746573742d6b6579"  # 21 bytes of test key
COLLECTOR = "meshveil-collector"
FINDINGS_HEADER = "x-meshveil-findings"
TAG_HEADER = "x-meshveil-ueba"
ENTITY_PREFIX = b"meshveil.ueba.v1/default/e/"


@pytest.fixture(scope="session")
def ueba_code(built_modules: dict[str, BuiltModule]) -> bytes:
    return built_modules[MODULE].path.read_bytes()


def ueba_config(**overrides: Any) -> bytes:
    """The filter's inner config (filters/ueba/config.zig) with test-sized defaults."""
    config: dict[str, Any] = {
        "identity_key": IDENTITY_KEY,
        "entity_sources": [
            {"source": "jwt_payload_header", "header": "x-jwt-payload"},
            {"source": "bearer_jwt"},
            {"source": "api_key_header", "header": "x-api-key"},
            {"source": "source_ip"},
        ],
        "group_sources": [{"source": "peer_principal"}],
        "window_seconds": 60,
        "warmup_windows": 5,
        "ewma_alpha": 0.2,
        "telemetry": {"cluster": COLLECTOR, "token": "node-token-1", "batch_events": 4, "timeout_ms": 2000},
    }
    config.update(overrides)
    return json.dumps(config).encode()


def jwt_payload(claims: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()


def bearer_token(claims: dict[str, Any]) -> str:
    """A compact JWT with a dummy signature: the filter reads it unverified, as documented."""
    return f"{jwt_payload({'alg': 'RS256'})}.{jwt_payload(claims)}.c2lnbmF0dXJl"


@dataclass(frozen=True)
class Client:
    """One identity and how its requests carry it."""

    name: str
    principal: str = "spiffe://cluster.local/ns/shop/sa/web"
    address: str = "10.0.0.9:41000"
    via: str = "bearer"
    """'bearer', 'istio' (forwarded payload header), 'api_key' or 'address' (no credential)."""

    def headers(self) -> list[tuple[str, str]]:
        if self.via == "bearer":
            return [("authorization", f"Bearer {bearer_token({'sub': self.name})}")]
        if self.via == "istio":
            return [("x-jwt-payload", jwt_payload({"iss": "idp", "sub": self.name}))]
        if self.via == "api_key":
            return [("x-api-key", f"key-{self.name}")]
        return []


def exchange(
    client: Client,
    exchange_id: str,
    *,
    findings: dict[str, int] | None = None,
    status: int = 200,
    path: str = "/v1/cards",
    body: bytes = b'{"ok":true}',
    content_length: bool = True,
    extra_headers: list[tuple[str, str]] | None = None,
    extra_response_headers: list[tuple[str, str]] | None = None,
) -> HttpExchange:
    response_headers = [(":status", str(status)), ("content-type", "application/json")]
    response_headers.extend(extra_response_headers or [])
    if content_length:
        response_headers.append(("content-length", str(len(body))))
    if findings:
        response_headers.append(
            (FINDINGS_HEADER, ", ".join(f"{name}={count}" for name, count in findings.items()))
        )
    request_headers = [
        (":method", "GET"),
        (":path", path),
        (":authority", "api.shop"),
        (":scheme", "http"),
        ("x-request-id", f"req-{exchange_id}"),
        *client.headers(),
        *(extra_headers or []),
    ]
    return HttpExchange(
        request=HttpMessage(headers=request_headers),
        response=HttpMessage(headers=response_headers, body_chunks=[body] if body else []),
        exchange_id=exchange_id,
        connection={"source.address": client.address, "source.principal": client.principal},
    )


def refused(outcome: ExchangeOutcome) -> int | None:
    """The status of the filter's own answer (429 or 403), or None when it let the exchange be."""
    reply = outcome.local_reply
    return reply.status if reply is not None and reply.details.startswith("meshveil_ueba_") else None


def tag_of(outcome: ExchangeOutcome) -> str | None:
    return next((value for name, value in outcome.response_to_client.headers if name == TAG_HEADER), None)


@dataclass
class Collector:
    """The control plane's ingest endpoint as the filter meets it: up (200), down (503, a
    connection failure, or a hang until the call times out). Like the real collector it
    deduplicates by event id, so `accepted` holds each event once however often it came."""

    mode: str = "up"
    accepted: dict[str, dict[str, Any]] = field(default_factory=dict)
    duplicates_seen: int = 0
    batches: list[CalloutRequest] = field(default_factory=list)
    stored_while_hanging: bool = False
    """When hanging, store the batch before the (lost) answer: the retry must not double count."""

    def upstream(self) -> FakeUpstream:
        return FakeUpstream(reply=self.answer)

    def answer(self, request: CalloutRequest) -> Answer:
        self.batches.append(request)
        if self.mode == "down":
            return HttpReply(status=503, body=b"collector unavailable")
        if self.mode == "unreachable":
            return CalloutFailure.CONNECTION_FAILURE
        if self.mode == "hang":
            if self.stored_while_hanging:
                self._store(request)
            return CalloutFailure.HANG
        self._store(request)
        return HttpReply(status=202)

    def _store(self, request: CalloutRequest) -> None:
        envelope = json.loads(request.body)
        for event in envelope["events"]:
            if event["event_id"] in self.accepted:
                self.duplicates_seen += 1
            self.accepted[event["event_id"]] = event

    def envelopes(self) -> list[dict[str, Any]]:
        return [json.loads(request.body) for request in self.batches]


@dataclass
class Deployment:
    """One host running the UEBA plugin on `workers` VMs, with a collector."""

    host: Host
    plugin: Plugin
    chain: FilterChain
    collector: Collector
    played: int = 0

    def run(self, client: Client, worker: int = 0, **options: Any) -> ExchangeOutcome:
        self.played += 1
        return self.chain.run(exchange(client, f"exchange-{self.played}", **options), worker=worker)

    def metric(self, name: str) -> int:
        return self.host.metrics.get(name, 0)

    def entity_records(self, capacity: int) -> list[bytes]:
        """Live entity records in shared data (non-empty slot values)."""
        records = []
        for slot in range(capacity):
            entry = self.host.shared_data("", ENTITY_PREFIX + str(slot).encode())
            if entry is not None and entry[0]:
                records.append(entry[0])
        return records


DeploymentFactory = Callable[..., Deployment]


@pytest.fixture
def deploy(make_host: Callable[..., Host], ueba_code: bytes) -> Iterator[DeploymentFactory]:
    def factory(workers: int = 2, collector: Collector | None = None, **config: Any) -> Deployment:
        sink = collector or Collector()
        host = make_host(workers=workers, upstreams={COLLECTOR: sink.upstream()})
        plugin = host.load_plugin(
            PluginConfig(name="ueba", module=ueba_code, configuration=ueba_config(**config))
        )
        return Deployment(host, plugin, FilterChain(host, [plugin]), sink)

    yield factory


@dataclass(frozen=True)
class Step:
    """One exchange of a synthetic schedule, at `at_ms` on the virtual clock."""

    at_ms: int
    client: Client
    cards: int
    worker: int


def steady_schedule(
    clients: list[Client], *, minutes: int, per_minute: int, cards: tuple[int, int], workers: int, seed: int
) -> list[Step]:
    """Each client sends `per_minute` requests a minute at jittered times, each response
    returning a card count drawn from `cards`; requests land on random workers."""
    rng = random.Random(seed)
    steps = []
    gap_ms = 60_000 // per_minute
    for client in clients:
        for index in range(minutes * per_minute):
            at = index * gap_ms + rng.randrange(gap_ms // 2)
            steps.append(Step(at, client, rng.randint(*cards), rng.randrange(workers)))
    return sorted(steps, key=lambda step: (step.at_ms, step.client.name))


def play(deployment: Deployment, steps: list[Step], start_ms: int = 0) -> list[tuple[Step, ExchangeOutcome]]:
    """Plays `steps` in time order, `at_ms` after `start_ms` on the host's monotonic clock,
    moving the clock (and so firing ticks and callout answers) between them."""
    results = []
    for step in steps:
        wait = start_ms + step.at_ms - deployment.host.clock.monotonic_ms
        if wait > 0:
            deployment.host.advance_time(wait)
        findings = {"credit_card": step.cards} if step.cards else None
        results.append((step, deployment.run(step.client, step.worker, findings=findings)))
    return results
