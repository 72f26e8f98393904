"""Dry run: a policy's live configs through the real filter modules in the harness.

Each filter the policy configures runs with exactly what Envoy would get: the module
bytes by sha256, the signed configuration, the capability restriction and the tenant's
VM id, all taken from the served snapshot; traffic is an uploaded HAR / JSON lines
file or a named sample from the samples folder.
"""

from __future__ import annotations

import re
import tempfile
import time
from pathlib import Path
from typing import Any

from envoy_data_plane.envoy.extensions.filters.http.wasm.v3 import Wasm
from envoy_data_plane.envoy.extensions.wasm.v3 import FailurePolicy as EnvoyFailurePolicy
from envoy_data_plane.google.protobuf import BytesValue

from controlplane.api.context import ServiceContext
from controlplane.api.problems import Problem
from controlplane.policy.compile import CHAIN_ORDER
from controlplane.policy.model import Policy
from controlplane.storage import modules
from controlplane.xds.node import NAMESPACE_KEY
from controlplane.xds.snapshot import ServedResource

_SAMPLE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
TRAFFIC_SUFFIXES = (".har", ".jsonl", ".json")


def sample_path(context: ServiceContext, name: str) -> Path:
    if context.samples_dir is None:
        raise Problem(404, "no sample set is configured on this control plane")
    if not _SAMPLE_NAME.match(name):
        raise Problem(422, "sample: must be a file name from the sample set", kind="invalid-request")
    for suffix in ("", *TRAFFIC_SUFFIXES):
        candidate = context.samples_dir / f"{name}{suffix}"
        if candidate.is_file():
            return candidate
    raise Problem(404, f"sample {name!r} not found")


def list_samples(context: ServiceContext) -> list[str]:
    if context.samples_dir is None or not context.samples_dir.is_dir():
        return []
    return sorted(path.name for path in context.samples_dir.iterdir() if path.suffix in TRAFFIC_SUFFIXES)


def run_dry_run(context: ServiceContext, policy_id: str, traffic: Path, source: str) -> dict[str, Any]:
    """The replay report; `source` names the traffic in it (not the spooled file's path)."""
    # The harness is imported here so the API keeps working on a machine without wasmtime.
    from harness.host.config import FailurePolicy, PluginConfig  # noqa: PLC0415
    from harness.replay.json_report import replay_document  # noqa: PLC0415
    from harness.replay.runner import ReplayError, ReplayOptions, replay  # noqa: PLC0415
    from harness.traffic.errors import TrafficError  # noqa: PLC0415
    from harness.traffic.formats import read_traffic  # noqa: PLC0415

    context.hub.wait_settled()
    served = next(
        (item for item in context.hub.snapshot.policies if item.version.policy_id == policy_id), None
    )
    if served is None or not served.resources:
        raise Problem(409, "this policy has no served config yet (see GET /readyz for snapshot problems)")
    chain = []
    in_chain_order = [served.resources[name] for name in CHAIN_ORDER if name in served.resources]
    for resource in in_chain_order:
        plugin = _plugin(resource)
        with context.database.read() as session:
            data = modules.get_bytes(session, plugin["sha256"])
        if data is None:
            raise Problem(409, f"module {plugin['sha256']} is no longer stored")
        failure = FailurePolicy.FAIL_OPEN if plugin["fail_open"] else FailurePolicy.FAIL_CLOSED
        chain.append(
            PluginConfig(
                name=resource.name,
                module=data,
                root_id=plugin["root_id"],
                vm_id=plugin["vm_id"],
                configuration=plugin["configuration"],
                allowed_capabilities=plugin["allowed"],
                failure_policy=failure,
            )
        )
    try:
        capture = read_traffic(traffic)
    except (TrafficError, ValueError) as error:
        raise Problem(422, f"traffic: {error}", kind="invalid-traffic") from error
    node_id, metadata = dry_run_node(served.policy)
    # Now, not the capture's recorded time: the configs were signed now and are checked
    # against the filter's clock; the node is one the policy targets.
    options = ReplayOptions(
        recorded_time=False, node_id=node_id, node_metadata=metadata, start_wall_nanos=time.time_ns()
    )
    try:
        run = replay(capture, chain, options)
    except ReplayError as error:
        raise Problem(422, f"the filters did not load: {error}", kind="dry-run-failed") from error
    document = replay_document(run)
    document["source"] = source
    document["policy"] = {"id": policy_id, "version": served.version.version, "serial": served.version.serial}
    return document


def dry_run_node(policy: Policy) -> tuple[str, dict[str, str]]:
    """A sidecar the policy selects, as Envoy describes it to the filters: in the namespace
    of its first workload selector, or its first pinned node id."""
    if policy.targets.workloads:
        namespace = policy.targets.workloads[0].namespace
        return f"sidecar~dry-run~{namespace}", {NAMESPACE_KEY: namespace}
    return policy.targets.nodes[0], {}


def _plugin(resource: ServedResource) -> dict[str, Any]:
    wasm = resource.message.typed_config.unpack() if resource.message.typed_config else None
    assert isinstance(wasm, Wasm) and wasm.config is not None and wasm.config.vm_config is not None
    config = wasm.config
    vm = config.vm_config
    assert vm is not None and vm.code is not None and vm.code.remote is not None
    configuration = config.configuration.unpack() if config.configuration else None
    assert isinstance(configuration, BytesValue)
    restriction = config.capability_restriction_config
    return {
        "sha256": vm.code.remote.sha256,
        "root_id": config.root_id,
        "vm_id": vm.vm_id,
        "configuration": configuration.value,
        "allowed": frozenset(restriction.allowed_capabilities) if restriction else None,
        "fail_open": config.failure_policy == EnvoyFailurePolicy.FAIL_OPEN,
    }


def spool_upload(data: bytes, filename: str) -> Path:
    """The upload in a temporary file named like the original (the reader sniffs by suffix)."""
    suffix = Path(filename).suffix if Path(filename).suffix in TRAFFIC_SUFFIXES else ""
    handle = tempfile.NamedTemporaryFile(prefix="meshveil-dry-run-", suffix=suffix, delete=False)  # noqa: SIM115
    with handle:
        handle.write(data)
    return Path(handle.name)
