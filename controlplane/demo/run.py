"""`meshveil demo` end to end: a control plane on the embedded default (SQLite in a data
folder), a tenant, per-node telemetry credentials and an analyst token; the bundled
traffic replayed through the three filters in the harness with the sample policy, one
sidecar per service, on virtual clocks that end at the present; the filters' telemetry
into the plane's collector; the summary; optionally, the plane left serving the dashboard.
"""

from __future__ import annotations

import dataclasses
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from controlplane.api.runtime import ControlPlane
from controlplane.api.threaded import plane_in_thread
from controlplane.config import load_config
from controlplane.demo.rest_client import RestClient
from controlplane.demo.sidecars import DEMO_DIR, SIDECARS, Sidecar, SidecarPlan, sidecar_for, start_sidecars
from controlplane.demo.summary import DemoSummary, summarize
from controlplane.modules.build import build_modules
from controlplane.modules.sources import default_filters_dir
from controlplane.policy.compile import FilterName
from harness.host import PluginLoadError
from harness.replay.policy_chain import read_policy
from harness.traffic import read_traffic
from harness.traffic.model import HttpExchange

TRAFFIC = DEMO_DIR / "traffic.jsonl"
POLICY = DEMO_DIR / "policy.yaml"
TENANT = "demo"
NAMESPACE = "shop"
ANALYST_TOKEN_FILE = "analyst-token"  # noqa: S105 - a file name
FLUSH_MS = 30_000
"""Virtual time after the last exchange, for the filters' telemetry batches to go out."""
FILTER_MODULES = ("meshveil-ueba", "meshveil-mask", "meshveil-dlp")

Say = Callable[[str], None]


@dataclass(frozen=True)
class DemoOptions:
    data_dir: Path
    modules_dir: Path
    rest_port: int = 0
    traffic: Path = TRAFFIC
    policy: Path = POLICY


@dataclass(frozen=True)
class DemoRun:
    plane: ControlPlane
    dashboard_url: str
    analyst_token_file: Path
    summary: DemoSummary
    chain: str
    """The filters the exchanges went through, and where their configs came from."""


class DemoError(RuntimeError):
    """The demo could not run; the message says what to do."""


@contextmanager
def demo(options: DemoOptions, say: Say) -> Iterator[DemoRun]:
    """Runs the demo and yields its result while the control plane still serves."""
    modules_dir = _modules(options, say)
    config = load_config(
        environ={},
        overrides={
            "data_dir": options.data_dir,
            "rest_port": options.rest_port,
            "xds_port": 0,
            "log_level": "warning",
        },
    )
    say(f"starting the control plane (SQLite in {options.data_dir}) ...")
    with plane_in_thread(config) as plane:
        base_url = f"http://{config.rest_host}:{plane.rest_port}"
        admin_token = (options.data_dir / "admin-token").read_text(encoding="utf-8").strip()
        admin = RestClient(base_url, admin_token)
        node_tokens, analyst_token = _enrol(admin)
        token_file = _write_secret(options.data_dir / ANALYST_TOKEN_FILE, analyst_token)
        exchanges = _shifted_to_now(options.traffic)
        start_ms = round((exchanges[0].started_at or time.time()) * 1000) - 1000
        read_policy(options.policy)  # a bad policy is one line naming the field, before anything runs
        plan = SidecarPlan(options.policy, modules_dir, base_url, start_ms)
        sidecars, chain = _sidecars(plan, node_tokens, say)
        try:
            say(f"replaying {len(exchanges)} exchanges from {options.traffic.name} through {chain} ...")
            _replay(sidecars, exchanges)
            analyst = RestClient(base_url, analyst_token)
            since = datetime.fromtimestamp(start_ms / 1000 - 60, UTC).isoformat()
            summary = summarize(sidecars, analyst, since)
        finally:
            for sidecar in sidecars:
                sidecar.host.close()
        yield DemoRun(plane, f"{base_url}/ui/", token_file, summary, chain)


def _modules(options: DemoOptions, say: Say) -> Path:
    if all((options.modules_dir / f"{name}.wasm").is_file() for name in FILTER_MODULES):
        return options.modules_dir
    built = options.data_dir / "filters"
    say(f"no filter modules in {options.modules_dir}; building them into {built} ...")
    build_modules(built, default_filters_dir())
    return built


def _enrol(admin: RestClient) -> tuple[dict[str, str], str]:
    """The demo tenant, a telemetry credential per sidecar and an analyst token."""
    admin.post("/v1/tenants", {"name": TENANT, "namespaces": [NAMESPACE]})
    node_tokens = {}
    for spec in SIDECARS:
        created = admin.post(
            "/v1/telemetry/nodes", {"node_id": spec.node_id, "tenant": TENANT, "service": spec.service}
        )
        node_tokens[spec.node_id] = str(created["token"])
    analyst = admin.post("/v1/tokens", {"name": "demo-analyst", "role": "analyst", "tenants": [TENANT]})
    return node_tokens, str(analyst["token"])


def _write_secret(path: Path, secret: str) -> Path:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(secret + "\n")
    return path


def _shifted_to_now(traffic: Path) -> list[HttpExchange]:
    """The capture's exchanges with their recorded spacing, moved so that the last one
    happened a little before now (the dashboard's default range is the last 24 hours)."""
    exchanges = read_traffic(traffic).exchanges
    times = [exchange.started_at for exchange in exchanges if exchange.started_at is not None]
    if not times:
        raise DemoError(f"{traffic}: the demo needs exchanges with started_at times")
    # Whole minutes, so the capture's minute windows stay the behaviour filter's windows.
    shift = (time.time() - FLUSH_MS / 1000 - 5 - max(times)) // 60 * 60
    return [
        dataclasses.replace(exchange, started_at=exchange.started_at + shift)
        for exchange in exchanges
        if exchange.started_at is not None
    ]


def _sidecars(plan: SidecarPlan, node_tokens: dict[str, str], say: Say) -> tuple[list[Sidecar], str]:
    """The sidecars with the policy's filters; with the policy's meshveil-ueba alone (saying
    so) when the others do not load."""
    try:
        sidecars = start_sidecars(plan, node_tokens)
    except PluginLoadError as error:
        say(f"the policy's filters did not load ({error}); going on with meshveil-ueba alone")
        alone = dataclasses.replace(plan, only=(FilterName.UEBA.value,))
        return start_sidecars(alone, node_tokens), "meshveil-ueba alone (configured by the policy)"
    names = [plugin.name for plugin in sidecars[0].chain.plugins]
    policy = read_policy(plan.policy)
    return sidecars, f"{' -> '.join(names)} (configured by policy {policy.tenant}/{policy.name})"


def _replay(sidecars: list[Sidecar], exchanges: list[HttpExchange]) -> None:
    """Plays each exchange on its service's sidecar with every clock at its start time,
    then lets the clocks run on so batched telemetry goes out."""
    last_ms = 0
    for exchange in exchanges:
        sidecar = sidecar_for(sidecars, exchange)
        if sidecar is None or exchange.started_at is None:
            continue
        last_ms = round(exchange.started_at * 1000)
        for each in sidecars:
            each.advance_to(last_ms)
        sidecar.run(exchange)
    for each in sidecars:
        each.advance_to(last_ms + FLUSH_MS)
