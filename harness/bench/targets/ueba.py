"""`meshveil bench ueba`: what the behaviour-analytics filter costs per exchange.

The same deterministic 1 KB JSON exchanges, each from one of `--identities` JWT
identities and tagged with a DLP findings count, go through the built meshveil-ueba
module (identify, shared-state read-modify-write, score, telemetry) and, for comparison,
through the pass-through filter the harness bench uses. The virtual clock moves between
exchanges, so windows close, baselines learn and ticks age the state as in service.
Printed side by side: exchanges per second both ways, time inside the module, and the
ratio of the two chains' time per exchange.
"""

from __future__ import annotations

import argparse
import base64
import itertools
import json
import os
import time
from dataclasses import dataclass
from pathlib import Path

from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.load import load_policy
from controlplane.policy.mask_keys import MappedKeys
from controlplane.policy.telemetry_sink import TelemetrySink
from harness.bench.pass_through import pass_through_module
from harness.bench.registry import BenchError, BenchTarget
from harness.bench.report import BenchReport
from harness.host import FakeUpstream, FilterChain, Host, HostConfig, HttpReply, PluginConfig, PluginLoadError
from harness.traffic.model import HttpExchange, HttpMessage
from harness.traffic.synthetic import DEFAULT_SEED, json_exchanges

DEFAULT_MODULE = Path("build/filters/meshveil-ueba.wasm")
COLLECTOR = "meshveil-collector"
IDENTITY_KEY_REF = "bench-identity-key"
NODE_TOKEN = "bench-node-token"  # noqa: S105 - the bench's stand-in collector takes any token
_POLICY = f"""\
api_version: meshveil.io/v1alpha1
kind: DataProtectionPolicy
name: bench
tenant: bench
targets: {{workloads: [{{namespace: bench}}]}}
routes:
  - name: api
    match: {{paths: ["/**"]}}
    directions: [response]
    content_types: [application/json]
    detectors:
      credit-card: {{action: alert}}
behaviour:
  enabled: true
  identity_key_ref: {IDENTITY_KEY_REF}
  entity_sources: [{{source: bearer_jwt}}, {{source: source_ip}}]
  group_sources: [{{source: peer_principal}}]
  max_entities: MAX_ENTITIES
  rules:
    - {{name: card-volume, feature: findings, detector: credit-card, threshold: 500,
       window_seconds: 3600, action: block}}
"""
DISTINCT_EXCHANGES = 256
MICRO = 1e6


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--module",
        type=Path,
        default=DEFAULT_MODULE,
        metavar="FILE.wasm",
        help=f"the meshveil-ueba module (default {DEFAULT_MODULE}, from `meshveil build`)",
    )
    parser.add_argument(
        "--count", type=int, default=2_000, metavar="N", help="exchanges to time (default 2000)"
    )
    parser.add_argument(
        "--warmup", type=int, default=500, metavar="N", help="untimed exchanges first (default 500)"
    )
    parser.add_argument(
        "--identities",
        type=int,
        default=50,
        metavar="N",
        help="distinct identities in the traffic (default 50)",
    )
    parser.add_argument("--workers", type=int, default=2, metavar="N", help="VMs per plugin (default 2)")
    parser.add_argument(
        "--step-ms", type=int, default=250, metavar="MS", help="virtual time between exchanges (default 250)"
    )
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED, help="seed of the synthetic traffic")


@dataclass
class ChainTiming:
    exchanges: int = 0
    wall_seconds: float = 0.0
    module_seconds: float = 0.0


def run(arguments: argparse.Namespace) -> BenchReport:
    _check(arguments)
    load_before = os.getloadavg()[0]
    module = _read_module(arguments.module)
    traffic = _traffic(arguments.identities, arguments.seed)
    ueba_config = PluginConfig(name="ueba", module=module, configuration=_config(arguments.identities))
    pass_config = PluginConfig(name="pass-through", module=pass_through_module())
    ueba, ueba_metrics = _time(ueba_config, traffic, arguments)
    passing, _ = _time(pass_config, traffic, arguments)
    return _report(arguments, ueba, passing, ueba_metrics, load_before)


def _check(arguments: argparse.Namespace) -> None:
    if arguments.count <= 0 or arguments.warmup < 0:
        raise BenchError("--count must be positive and --warmup must not be negative")
    if not 1 <= arguments.identities <= 4096:
        raise BenchError(f"--identities must be between 1 and 4096, got {arguments.identities}")
    if not 1 <= arguments.workers <= 256:
        raise BenchError(f"--workers must be between 1 and 256, got {arguments.workers}")
    if arguments.step_ms < 0:
        raise BenchError(f"--step-ms must not be negative, got {arguments.step_ms}")


def _read_module(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise BenchError(f"cannot read {path}: {error.strerror} (run `meshveil build` first)") from error


def _config(identities: int) -> bytes:
    """Compiled, as the control plane does, from a realistic policy: JWT then address, peer
    groups, a rule, default bands, telemetry on."""
    policy = load_policy(
        _POLICY.replace("MAX_ENTITIES", str(max(64, 2 * identities))).encode(), "application/yaml"
    )
    keys = MappedKeys({IDENTITY_KEY_REF: b"bench-identity-key-0123456789abc"})
    sink = TelemetrySink(cluster=COLLECTOR, token=NODE_TOKEN)
    return compile_filter_config(policy, FilterName.UEBA, keys=keys, telemetry=sink)


def _token(subject: str) -> str:
    def encode(claims: dict[str, str]) -> str:
        return base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    return f"{encode({'alg': 'RS256'})}.{encode({'sub': subject})}.c2ln"


def _traffic(identities: int, seed: int) -> list[HttpExchange]:
    """Synthetic JSON exchanges, each from one identity, each response tagged by DLP."""
    tokens = [_token(f"user-{index}@example.com") for index in range(identities)]
    exchanges = []
    # At least one exchange per identity, so every identity is in the traffic.
    for index, base in enumerate(json_exchanges(max(DISTINCT_EXCHANGES, identities), 1024, seed)):
        # The synthetic exchanges carry opaque bearer tokens; these carry JWTs instead.
        headers = [(name, value) for name, value in base.request.headers if name != "authorization"]
        request = HttpMessage(
            headers=[*headers, ("authorization", f"Bearer {tokens[index % identities]}")],
            body_chunks=base.request.body_chunks,
        )
        response = HttpMessage(
            headers=[*base.response.headers, ("x-meshveil-findings", f"credit-card={index % 3}, email=1")],
            body_chunks=base.response.body_chunks,
        )
        connection = {
            "source.principal": "spiffe://cluster.local/ns/shop/sa/web",
            "source.address": "10.0.0.1:5",
        }
        exchanges.append(HttpExchange(request, response, base.exchange_id, connection=connection))
    return exchanges


def _time(
    config: PluginConfig, traffic: list[HttpExchange], arguments: argparse.Namespace
) -> tuple[ChainTiming, dict[str, int]]:
    upstreams = {COLLECTOR: FakeUpstream(reply=HttpReply(status=202))}
    with Host(HostConfig(workers=arguments.workers, upstreams=upstreams)) as host:
        try:
            plugin = host.load_plugin(config)
        except PluginLoadError as error:
            raise BenchError(str(error)) from error
        chain = FilterChain(host, [plugin])
        workers = itertools.cycle(range(arguments.workers))
        stream = itertools.cycle(traffic)
        for _ in range(arguments.warmup):
            host.advance_time(arguments.step_ms)
            chain.run(next(stream), worker=next(workers))
        timing = ChainTiming()
        started = time.perf_counter()
        for _ in range(arguments.count):
            host.advance_time(arguments.step_ms)
            outcome = chain.run(next(stream), worker=next(workers))
            timing.module_seconds += sum(outcome.module_seconds.values())
            timing.exchanges += 1
        timing.wall_seconds = time.perf_counter() - started
        return timing, host.metrics


def _report(
    arguments: argparse.Namespace,
    ueba: ChainTiming,
    passing: ChainTiming,
    metrics: dict[str, int],
    load_before: float,
) -> BenchReport:
    report = BenchReport(target="ueba")
    report.setup = {
        "module": str(arguments.module),
        "traffic": (
            f"1 KB JSON both ways, {arguments.identities} JWT identities, findings-tagged, "
            f"seed {arguments.seed}"
        ),
        "virtual time between exchanges": f"{arguments.step_ms} ms",
        "workers": arguments.workers,
        "exchanges timed": ueba.exchanges,
        # Other processes share the cores; a loaded machine explains a slow run.
        "load average before (1 min)": f"{load_before:.2f}",
    }
    per_ueba = ueba.wall_seconds / ueba.exchanges
    per_pass = passing.wall_seconds / passing.exchanges
    report.add("ueba exchanges per second", 1 / per_ueba, "/s")
    report.add("pass-through exchanges per second", 1 / per_pass, "/s")
    report.add("ueba time per exchange", per_ueba * MICRO, "µs", "chain run incl. host and ticks")
    report.add("  inside the ueba module", ueba.module_seconds / ueba.exchanges * MICRO, "µs")
    report.add("pass-through time per exchange", per_pass * MICRO, "µs")
    report.add("  inside the pass-through module", passing.module_seconds / passing.exchanges * MICRO, "µs")
    report.add("ueba / pass-through time per exchange", per_ueba / per_pass, "x")
    report.add("state updates given up", metrics.get("meshveil.ueba.state.update_failures", 0), "")
    report.add("entities evicted", metrics.get("meshveil.ueba.state.evictions", 0), "")
    report.add("anomalies", metrics.get("meshveil.ueba.anomalies", 0), "", "steady traffic: expect none")
    return report


TARGET = BenchTarget(
    name="ueba",
    help="per-exchange cost of the behaviour-analytics filter next to a pass-through filter",
    add_arguments=add_arguments,
    run=run,
)
