"""The demo's sidecars: one harness host (one Envoy) per service, each running the three
filters in Envoy's chain order with the configs the sample policy compiles to for that
node (its own telemetry credential inside), and its telemetry cluster answered by the
real control plane."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from controlplane.demo.collector_bridge import CollectorBridge
from controlplane.policy.mask_keys import EphemeralKeys, KeySource
from controlplane.policy.telemetry_sink import TelemetrySink
from harness.host import FilterChain, Host, HostConfig, VirtualClock
from harness.host.outcome import ExchangeOutcome
from harness.replay.policy_chain import PolicyChain, chain_from_policy
from harness.traffic.model import HttpExchange

DEMO_DIR = Path(__file__).resolve().parent
TELEMETRY_CLUSTER = "meshveil-controlplane"
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
    outcomes: list[ExchangeOutcome] = field(default_factory=list)
    played: int = 0

    def run(self, exchange: HttpExchange) -> ExchangeOutcome:
        outcome = self.chain.run(exchange, worker=self.played % WORKERS)
        self.played += 1
        self.outcomes.append(outcome)
        return outcome

    def advance_to(self, wall_ms: int) -> None:
        """Moves the virtual clock forward (never back), firing ticks and callout answers."""
        now_ms = self.host.clock.wall_nanos // 1_000_000
        if wall_ms > now_ms:
            self.host.advance_time(wall_ms - now_ms)


@dataclass(frozen=True)
class SidecarPlan:
    """What every demo sidecar runs and where it reports."""

    policy: Path
    modules_dir: Path
    collector_url: str
    start_ms: int
    """Where the sidecars' virtual clocks start (wall time, milliseconds)."""
    keys: KeySource = field(default_factory=EphemeralKeys)
    """The demo control plane's key material (identity and token keys), made up for the run
    and shared by the sidecars, so identities and tokens join across services."""
    only: tuple[str, ...] | None = None
    """Run only these of the policy's filters (None: all)."""


def policy_chain(plan: SidecarPlan, token: str) -> PolicyChain:
    """The policy's filters with the configs compiled for one node: its credential and the
    collector's cluster go into the configs of the filters that send telemetry."""
    sink = TelemetrySink(cluster=TELEMETRY_CLUSTER, token=token)
    chain = chain_from_policy(plan.policy, plan.modules_dir, keys=plan.keys, telemetry=sink)
    if plan.only is None:
        return chain
    return dataclasses.replace(
        chain, plugins=[config for config in chain.plugins if config.name in plan.only]
    )


def start_sidecars(plan: SidecarPlan, node_tokens: dict[str, str]) -> list[Sidecar]:
    """One host per service, each with the policy's filters in Envoy's chain order
    (ueba, mask, dlp)."""
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
    chain = policy_chain(plan, token)
    bridge = CollectorBridge(plan.collector_url)
    clock = VirtualClock(wall_nanos=plan.start_ms * 1_000_000)
    upstreams = {TELEMETRY_CLUSTER: bridge.upstream()}
    host = Host(HostConfig(workers=WORKERS, clock=clock, node_id=spec.node_id, upstreams=upstreams))
    try:
        plugins = [host.load_plugin(config) for config in chain.plugins]
    except BaseException:
        host.close()
        raise
    return Sidecar(spec, host, FilterChain(host, plugins), bridge)


def sidecar_for(sidecars: Sequence[Sidecar], exchange: HttpExchange) -> Sidecar | None:
    authority = exchange.request.header(":authority")
    return next((sidecar for sidecar in sidecars if sidecar.spec.authority == authority), None)
