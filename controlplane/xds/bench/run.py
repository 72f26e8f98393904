"""The xDS benchmark: a `meshveil serve` process, a fleet process of simulated sidecars with
one ECDS stream each, and this process changing policies over REST.

Measured:
- push: from just before `PUT /v1/policies/{id}` is sent until a sidecar has ACKed the
  new version, for every sidecar in every round (p50 / p99 / max);
- REST apply: the latency of `PUT /v1/policies/{id}` (validate, store, audit, re-sign,
  publish to this replica's streams) while the fleet is connected, for a policy of another
  tenant whose change no sidecar receives, and for the pushed changes themselves.
"""

from __future__ import annotations

import math
import multiprocessing
import tempfile
import time
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import httpx

from controlplane.modules.build import build_modules
from controlplane.modules.sources import default_filters_dir
from controlplane.policy.compile import FilterName
from controlplane.trust.keys import FileSigner
from controlplane.xds.bench.plane_process import PlaneProcess, serve_process
from controlplane.xds.bench.seed import make_trust, policy_yaml, signed_module
from controlplane.xds.bench.sidecars import MAX_SIDECARS, FleetSpec, run_fleet
from harness.bench.registry import BenchError
from harness.bench.report import BenchReport, TargetCheck

PUSH_P99_TARGET_MS = 2_000.0
APPLY_P50_TARGET_MS = 20.0
YAML = {"Content-Type": "application/yaml"}
MODULES = (FilterName.DLP.value, FilterName.MASK.value, FilterName.UEBA.value)
STARTUP_SECONDS = 60.0
PIPE_SLACK_SECONDS = 5.0
APPLY_SPACING_SECONDS = 0.1
MS = 1000.0


@dataclass(frozen=True)
class XdsBenchOptions:
    streams: int
    rounds: int
    applies: int
    deadline: float
    poll_interval: float
    modules_dir: Path | None


@dataclass
class Samples:
    connect_seconds: float = 0.0
    push_ms: list[float] = field(default_factory=list)
    """One per sidecar per round."""
    pushed_apply_ms: list[float] = field(default_factory=list)
    quiet_apply_ms: list[float] = field(default_factory=list)


@dataclass
class Seeded:
    pushed_policy: str
    quiet_policy: str
    author_token: str


def percentile(values: list[float], fraction: float) -> float:
    """Nearest-rank percentile (p99 of 1,000 values is the 990th smallest)."""
    assert values and 0 < fraction <= 1
    ordered = sorted(values)
    return ordered[max(math.ceil(fraction * len(ordered)) - 1, 0)]


def _modules(options: XdsBenchOptions, scratch: Path) -> dict[str, bytes]:
    if options.modules_dir is not None:
        paths = {name: options.modules_dir / f"{name}.wasm" for name in MODULES}
        missing = [str(path) for path in paths.values() if not path.is_file()]
        if missing:
            raise BenchError(f"--modules: missing {', '.join(missing)} (run `meshveil build`)")
        return {name: path.read_bytes() for name, path in paths.items()}
    built = {module.name: module for module in build_modules(scratch / "modules", default_filters_dir())}
    return {name: built[name].path.read_bytes() for name in MODULES}


def _seed(plane: PlaneProcess, modules: dict[str, bytes], signer: FileSigner) -> Seeded:
    with httpx.Client(
        base_url=plane.rest_url, headers={"Authorization": f"Bearer {plane.admin_token}"}
    ) as admin:
        for name in MODULES:
            response = admin.post("/v1/modules", content=signed_module(modules[name], signer))
            _expect(response, 201, f"upload {name}")
        for tenant in ("payments", "shop"):
            response = admin.post("/v1/tenants", json={"name": tenant, "namespaces": [tenant]})
            _expect(response, 201, f"create tenant {tenant}")
        response = admin.post(
            "/v1/tokens", json={"name": "bench", "role": "policy-author", "tenants": ["payments", "shop"]}
        )
        _expect(response, 201, "create a token")
        token = response.json()["token"]
    with httpx.Client(base_url=plane.rest_url, headers={"Authorization": f"Bearer {token}"}) as author:
        pushed = author.post(
            "/v1/policies", content=policy_yaml("bench", "payments", "payments", 10), headers=YAML
        )
        _expect(pushed, 201, "create the pushed policy")
        quiet = author.post("/v1/policies", content=policy_yaml("quiet", "shop", "shop", 10), headers=YAML)
        _expect(quiet, 201, "create the quiet policy")
    return Seeded(pushed.json()["id"], quiet.json()["id"], token)


def _expect(response: httpx.Response, status: int, what: str) -> None:
    if response.status_code != status:
        raise BenchError(f"{what}: HTTP {response.status_code}: {response.text[:300]}")


def _receive(pipe: Connection, seconds: float, what: str) -> tuple[Any, ...]:
    if not pipe.poll(seconds):
        raise BenchError(f"the sidecar fleet did not answer ({what}) within {seconds:.0f} s")
    message: tuple[Any, ...] = pipe.recv()
    return message


def _apply(client: httpx.Client, policy_id: str, body: bytes) -> float:
    started = time.monotonic()
    response = client.put(f"/v1/policies/{policy_id}", content=body, headers=YAML)
    elapsed = time.monotonic() - started
    _expect(response, 200, "apply a policy change")
    return elapsed


def run_xds_bench(options: XdsBenchOptions) -> BenchReport:
    if not 0 < options.streams <= MAX_SIDECARS:
        raise BenchError(f"--streams must be between 1 and {MAX_SIDECARS}")
    if options.rounds < 1 or options.applies < 1:
        raise BenchError("--rounds and --applies must be at least 1")
    with tempfile.TemporaryDirectory(prefix="meshveil-bench-xds-") as folder:
        scratch = Path(folder)
        modules = _modules(options, scratch)
        trust = make_trust(scratch / "trust")
        with serve_process(
            scratch / "plane",
            trust.root_file,
            poll_interval=options.poll_interval,
            startup_timeout=STARTUP_SECONDS,
        ) as plane:
            seeded = _seed(plane, modules, trust.signer)
            return _measure(options, plane, seeded)


def _measure(options: XdsBenchOptions, plane: PlaneProcess, seeded: Seeded) -> BenchReport:
    spec = FleetSpec(
        target=plane.xds_target,
        count=options.streams,
        namespace="payments",
        labels={"app": "checkout"},
        resource_names=(FilterName.DLP.value, FilterName.MASK.value),
        deadline=options.deadline,
    )
    context = multiprocessing.get_context("spawn")
    parent, child = context.Pipe()
    fleet = context.Process(target=run_fleet, args=(spec, child), name="meshveil-sidecar-fleet", daemon=True)
    fleet.start()
    child.close()
    samples = Samples()
    try:
        _, connected, heard, samples.connect_seconds, failures = _receive(
            parent, options.deadline + PIPE_SLACK_SECONDS, "connect"
        )
        if not connected:
            raise BenchError(f"only {heard} of {options.streams} sidecars got a first config: {failures}")
        headers = {"Authorization": f"Bearer {seeded.author_token}"}
        with httpx.Client(base_url=plane.rest_url, headers=headers) as author:
            for round_index in range(options.rounds):
                parent.send("arm")
                _receive(parent, PIPE_SLACK_SECONDS, "arm")
                body = policy_yaml("bench", "payments", "payments", 11 + round_index)
                started = time.monotonic()
                samples.pushed_apply_ms.append(_apply(author, seeded.pushed_policy, body) * MS)
                _, done, times, failures = _receive(parent, options.deadline + PIPE_SLACK_SECONDS, "round")
                if not done:
                    raise BenchError(
                        f"round {round_index + 1}: {len(times)} of {options.streams} sidecars ACKed the "
                        f"change within {options.deadline:.0f} s {failures}"
                    )
                samples.push_ms.extend((moment - started) * MS for moment in times)
            for apply_index in range(options.applies):
                body = policy_yaml("quiet", "shop", "shop", 11 + apply_index)
                samples.quiet_apply_ms.append(_apply(author, seeded.quiet_policy, body) * MS)
                # One apply at a time, as people make changes: each one's re-signing and
                # fan-out (after the answer) is done before the next is timed.
                time.sleep(APPLY_SPACING_SECONDS)
    finally:
        if fleet.is_alive():
            parent.send("stop")
        fleet.join(PIPE_SLACK_SECONDS)
        if fleet.is_alive():
            fleet.terminate()
        parent.close()
    return _report(options, plane, samples)


def _report(options: XdsBenchOptions, plane: PlaneProcess, samples: Samples) -> BenchReport:
    report = BenchReport("xds")
    report.setup.update(
        {
            "streams": options.streams,
            "rounds": options.rounds,
            "applies": options.applies,
            "control plane": f"meshveil serve (pid {plane.pid}), SQLite, loopback",
            "resources per stream": 2,
            "apply spacing": f"{APPLY_SPACING_SECONDS * MS:.0f} ms",
        }
    )
    report.add("connect", samples.connect_seconds * MS, "ms", f"{options.streams} streams to first ACK")
    report.add("push p50", percentile(samples.push_ms, 0.50), "ms", "REST change sent -> sidecar ACKed")
    report.add("push p99", percentile(samples.push_ms, 0.99), "ms", f"{len(samples.push_ms)} stream-rounds")
    report.add("push max", max(samples.push_ms), "ms")
    report.add(
        "apply p50", percentile(samples.quiet_apply_ms, 0.50), "ms", "PUT /v1/policies, no stream affected"
    )
    report.add(
        "apply p99", percentile(samples.quiet_apply_ms, 0.99), "ms", f"{len(samples.quiet_apply_ms)} applies"
    )
    report.add(
        "apply p50 (pushed)", percentile(samples.pushed_apply_ms, 0.50), "ms", "PUT that reaches every stream"
    )
    report.add(
        "push p99 / target",
        percentile(samples.push_ms, 0.99) / PUSH_P99_TARGET_MS,
        "x",
        "below 1 meets the target",
    )
    report.checks.append(
        TargetCheck("push p99", PUSH_P99_TARGET_MS, percentile(samples.push_ms, 0.99), "ms", at_most=True)
    )
    report.checks.append(
        TargetCheck(
            "REST apply p50",
            APPLY_P50_TARGET_MS,
            percentile(samples.quiet_apply_ms, 0.50),
            "ms",
            at_most=True,
        )
    )
    return report
