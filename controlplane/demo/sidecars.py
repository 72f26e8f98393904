"""The demo's sidecars: one harness host (one Envoy) per service, each running the three
filters in Envoy's chain order with the sample policy's configs, its own node id and
telemetry credential, and its telemetry cluster answered by the real control plane."""

from __future__ import annotations

import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from controlplane.demo.collector_bridge import CollectorBridge
from controlplane.demo.findings_drain import FindingsDrain
from controlplane.demo.rest_client import RestClient
from controlplane.policy.compile import FilterName
from harness.host import FilterChain, Host, HostConfig, PluginConfig, VirtualClock
from harness.host.outcome import ExchangeOutcome
from harness.replay.policy_chain import PolicyChain
from harness.traffic.model import HttpExchange

DEMO_DIR = Path(__file__).resolve().parent
UEBA_SETTINGS = DEMO_DIR / "ueba.yaml"
TELEMETRY_CLUSTER = "meshveil-controlplane"
UEBA_PLUGIN = "ueba-inbound"
WORKERS = 2


@dataclass(frozen=True)
class SidecarSpec:
    service: str
    authority: str
    node_id: str


SIDECARS = (
    SidecarSpec(
        "checkout",
        "checkout.shop.svc.cluster.local",
        "sidecar~10.0.0.7~checkout-7d9f8b6c5-x2x9z.shop~shop.svc.cluster.local",
    ),
    SidecarSpec(
        "accounts",
        "accounts.shop.svc.cluster.local",
        "sidecar~10.0.0.9~accounts-6b7c8d9e0-k3l4m.shop~shop.svc.cluster.local",
    ),
)


@dataclass
class Sidecar:
    spec: SidecarSpec
    host: Host
    chain: FilterChain
    bridge: CollectorBridge
    drain: FindingsDrain | None
    outcomes: list[ExchangeOutcome] = field(default_factory=list)
    played: int = 0

    def run(self, exchange: HttpExchange) -> ExchangeOutcome:
        outcome = self.chain.run(exchange, worker=self.played % WORKERS)
        self.played += 1
        self.outcomes.append(outcome)
        if self.drain is not None:
            self.drain.take()
        return outcome

    def advance_to(self, wall_ms: int) -> None:
        """Moves the virtual clock forward (never back), firing ticks and callout answers."""
        now_ms = self.host.clock.wall_nanos // 1_000_000
        if wall_ms > now_ms:
            self.host.advance_time(wall_ms - now_ms)


def ueba_settings(node_token: str, identity_key: str) -> bytes:
    settings: dict[str, Any] = yaml.safe_load(UEBA_SETTINGS.read_text(encoding="utf-8"))
    settings["identity_key"] = identity_key
    settings["telemetry"] = {"cluster": TELEMETRY_CLUSTER, "token": node_token, "batch_events": 32}
    return json.dumps(settings).encode()


@dataclass(frozen=True)
class SidecarPlan:
    """What every demo sidecar runs and where it reports."""

    policy_chain: PolicyChain
    """The filters the policy compiles to (mask, DLP), with their configs."""
    ueba_module: Path
    collector_url: str
    start_ms: int
    """Where the sidecars' virtual clocks start (wall time, milliseconds)."""
    identity_key: str = field(default_factory=lambda: secrets.token_hex(32))


def start_sidecars(plan: SidecarPlan, node_tokens: dict[str, str]) -> list[Sidecar]:
    """One host per service. meshveil-ueba, whose settings policies do not compile yet,
    goes in front of the policy's filters with the settings of ueba.yaml, as in Envoy's
    chain (ueba, mask, dlp)."""
    sidecars: list[Sidecar] = []
    try:
        for spec in SIDECARS:
            sidecars.append(_start(spec, plan, node_tokens[spec.node_id]))
    except BaseException:
        for sidecar in sidecars:
            sidecar.host.close()
        raise
    return sidecars


def _start(spec: SidecarSpec, plan: SidecarPlan, token: str) -> Sidecar:
    bridge = CollectorBridge(plan.collector_url)
    clock = VirtualClock(wall_nanos=plan.start_ms * 1_000_000)
    upstreams = {TELEMETRY_CLUSTER: bridge.upstream()}
    host = Host(HostConfig(workers=WORKERS, clock=clock, node_id=spec.node_id, upstreams=upstreams))
    try:
        settings = ueba_settings(token, plan.identity_key)
        ueba = PluginConfig(name=UEBA_PLUGIN, module=plan.ueba_module, configuration=settings)
        plugins = [host.load_plugin(config) for config in (ueba, *plan.policy_chain.plugins)]
    except BaseException:
        host.close()
        raise
    drain = None
    if any(config.name == FilterName.DLP.value for config in plan.policy_chain.plugins):
        drain = FindingsDrain(host, RestClient(plan.collector_url, token), spec.node_id, FilterName.DLP.value)
    return Sidecar(spec, host, FilterChain(host, plugins), bridge, drain)


def sidecar_for(sidecars: Sequence[Sidecar], exchange: HttpExchange) -> Sidecar | None:
    authority = exchange.request.header(":authority")
    return next((sidecar for sidecar in sidecars if sidecar.spec.authority == authority), None)
