"""Helpers for the meshveil-dlp and meshveil-mask tests: policies compiled by the real
control plane, a sidecar (harness host) running the built modules in Envoy's order, JSON
exchanges cut into chunks, and everything the filters emit, gathered for leak checks."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.load import load_policy
from controlplane.policy.mask_keys import MappedKeys
from controlplane.policy.model import Policy
from harness.host import FilterChain, Host, HostConfig, PluginConfig
from harness.host.outcome import ExchangeOutcome
from harness.host.types import Status
from harness.traffic.model import HttpExchange, HttpMessage

TOKEN_KEY = bytes(range(32))
"""The tenant's token key in these tests (hash tokens and fingerprints)."""
KEYS = MappedKeys({"token-key": TOKEN_KEY, "fpe-key": bytes(range(100, 132))})

CARD = "4111 1111 1111 1111"
CARD_2 = "5500 0000 0000 0004"
EMAIL = "ada.lovelace@example.com"
IBAN = "DE89 3704 0044 0532 0130 00"
SSN = "536-22-1234"


def policy_yaml(routes: str, failure: str = "fail_closed", extra: str = "") -> bytes:
    """A policy document around `routes` (YAML, indented as list items under `routes:`)."""
    return (
        "api_version: meshveil.io/v1alpha1\n"
        "kind: DataProtectionPolicy\n"
        "name: test-policy\n"
        "tenant: shop\n"
        "targets: {workloads: [{namespace: shop}]}\n"
        f"failure: {failure}\n"
        f"{extra}"
        f"routes:\n{routes}"
    ).encode()


def load(routes: str, failure: str = "fail_closed", extra: str = "") -> Policy:
    return load_policy(policy_yaml(routes, failure, extra), "application/yaml")


@dataclass
class Sidecar:
    """One Envoy's worth of harness with mask and DLP loaded (in chain order)."""

    host: Host
    chain: FilterChain
    names: tuple[str, ...]

    def run(self, exchange: HttpExchange) -> ExchangeOutcome:
        return self.chain.run(exchange)

    def queued_events(self) -> list[dict[str, Any]]:
        """Every finding event in the DLP filter's shared queue (taken out of it)."""
        queues = self.host.services.shared_queues
        token = queues.resolve("", b"meshveil.findings.v1")
        events = []
        while token is not None:
            status, item = queues.dequeue(token)
            if status is not Status.OK:
                break
            events.append(json.loads(item))
        return events

    def log_text(self) -> str:
        return "\n".join(record.message for record in self.host.logs)


@contextmanager
def sidecar(
    modules: dict[str, Path],
    policy: Policy,
    filters: Sequence[FilterName] = (FilterName.MASK, FilterName.DLP),
    configs: dict[FilterName, bytes] | None = None,
    host_config: HostConfig | None = None,
) -> Iterator[Sidecar]:
    """`modules` maps module names to .wasm paths; configs default to `policy` compiled."""
    with Host(host_config or HostConfig()) as host:
        plugins = []
        for name in filters:
            configuration = (configs or {}).get(name) or compile_filter_config(policy, name, KEYS)
            plugins.append(
                host.load_plugin(
                    PluginConfig(name=name.value, module=modules[name.value], configuration=configuration)
                )
            )
        yield Sidecar(host, FilterChain(host, plugins), tuple(name.value for name in filters))


def chunks(body: bytes, cuts: Sequence[int]) -> list[bytes]:
    """`body` cut at the given offsets (empty pieces left out)."""
    edges = [0, *sorted(cuts), len(body)]
    return [body[start:end] for start, end in itertools.pairwise(edges) if end > start]


@dataclass
class Exchange:
    """A request and response to build an `HttpExchange` from; bodies already cut."""

    path: str = "/v1/orders"
    method: str = "POST"
    request_chunks: list[bytes] = field(default_factory=list)
    response_chunks: list[bytes] = field(default_factory=list)
    request_type: str = "application/json"
    response_type: str = "application/json"
    request_headers: list[tuple[str, str]] = field(default_factory=list)
    response_headers: list[tuple[str, str]] = field(default_factory=list)
    request_id: str = "req-0001"
    response_trailers: list[tuple[str, str]] | None = None

    def build(self, exchange_id: str = "x") -> HttpExchange:
        request_body = b"".join(self.request_chunks)
        response_body = b"".join(self.response_chunks)
        request_headers = [
            (":method", self.method),
            (":path", self.path),
            (":authority", "orders.shop"),
            (":scheme", "http"),
            ("x-request-id", self.request_id),
            ("content-type", self.request_type),
            ("content-length", str(len(request_body))),
            *self.request_headers,
        ]
        response_headers = [
            (":status", "200"),
            ("content-type", self.response_type),
            ("content-length", str(len(response_body))),
            *self.response_headers,
        ]
        return HttpExchange(
            request=HttpMessage(headers=request_headers, body_chunks=list(self.request_chunks)),
            response=HttpMessage(
                headers=response_headers,
                body_chunks=list(self.response_chunks),
                trailers=self.response_trailers or [],
            ),
            exchange_id=exchange_id,
        )
