"""How a host and its plugins are set up: the harness's equivalent of Envoy's bootstrap
and of one `envoy.extensions.wasm.v3.PluginConfig` each.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING

from harness.host.clock import VirtualClock
from harness.host.types import LogLevel
from harness.host.upstreams import FakeUpstream

if TYPE_CHECKING:
    from harness.host.runtime import WasmRuntime

DEFAULT_CALLBACK_DEADLINE_MS = 1_000
"""Wall-clock budget of one callback into Wasm before it is interrupted (a runaway loop)."""

DEFAULT_MEMORY_LIMIT_BYTES = 256 * 1024 * 1024
"""Linear-memory ceiling per VM; growth past it fails inside the module (memory.grow = -1)."""

DEFAULT_BUFFER_LIMIT_BYTES = 1024 * 1024
"""Envoy's default per-connection buffer limit: buffering more body is a 413 (request) or 500."""

ForeignFunction = Callable[[bytes], bytes]
"""A host extension callable through proxy_call_foreign_function: arguments in, result out."""


class FailurePolicy(Enum):
    """What happens to traffic when a plugin's VM traps or overruns its deadline.

    Envoy's `failure_policy` (`envoy.extensions.wasm.v3.FailurePolicy`): FAIL_CLOSED answers
    503 locally, FAIL_OPEN skips the filter, FAIL_RELOAD replaces the VM and fails the
    stream that saw the failure closed.
    """

    FAIL_CLOSED = "fail_closed"
    FAIL_OPEN = "fail_open"
    FAIL_RELOAD = "fail_reload"


@dataclass(frozen=True)
class PluginConfig:
    """One plugin: a module plus the configuration Envoy would hand it."""

    name: str
    module: Path | bytes
    root_id: str = ""
    vm_id: str = ""
    configuration: bytes = b""
    vm_configuration: bytes = b""
    allowed_capabilities: frozenset[str] | None = None
    """Envoy's capability_restriction_config: None or an empty set allows everything;
    otherwise only the named host functions (and WASI functions) are available."""
    failure_policy: FailurePolicy = FailurePolicy.FAIL_CLOSED
    callback_deadline_ms: int = DEFAULT_CALLBACK_DEADLINE_MS
    memory_limit_bytes: int = DEFAULT_MEMORY_LIMIT_BYTES
    environment: dict[str, str] = field(default_factory=dict)
    """Environment variables visible through WASI environ_get (Envoy's vm_config.environment_variables)."""

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("plugin name must not be empty")
        if self.callback_deadline_ms <= 0:
            raise ValueError(f"plugin {self.name!r}: callback_deadline_ms must be positive")
        if self.memory_limit_bytes < 64 * 1024:
            raise ValueError(f"plugin {self.name!r}: memory_limit_bytes must be at least one page (65536)")


@dataclass
class HostConfig:
    """One "Envoy process": workers, clock, upstreams for callouts, node identity."""

    workers: int = 1
    """VMs per plugin, as Envoy runs one per worker thread (concurrency)."""
    clock: VirtualClock | None = None
    """None starts a fresh virtual clock at a fixed instant, so runs are reproducible."""
    upstreams: dict[str, FakeUpstream] = field(default_factory=dict)
    """Cluster name -> fake upstream answering proxy_http_call / proxy_grpc_call."""
    log_level: LogLevel = LogLevel.TRACE
    """What proxy_get_log_level answers; records below it are dropped as Envoy drops them."""
    node_id: str = "meshveil-harness"
    node_cluster: str = "meshveil"
    node_metadata: dict[str, str] = field(default_factory=dict)
    properties: dict[str, bytes] = field(default_factory=dict)
    """Extra property paths (dot- or NUL-separated) answered verbatim, e.g. 'xds.cluster_name'."""
    random_seed: int = 0
    """Seed of WASI random_get, so runs are reproducible."""
    foreign_functions: dict[str, ForeignFunction] = field(default_factory=dict)
    """Functions answered by proxy_call_foreign_function; any other name is NOT_FOUND."""
    buffer_limit_bytes: int = DEFAULT_BUFFER_LIMIT_BYTES
    downstream_address: str = "127.0.0.1:51000"
    """source.address when an exchange carries no connection facts."""
    listener_address: str = "127.0.0.1:15006"
    """destination.address when an exchange carries no connection facts."""
    upstream_address: str = "127.0.0.1:8080"
    cluster_name: str = "upstream"
    route_name: str = "default"
    virtual_host_name: str = "default"
    listener_direction: int = 1
    """envoy.config.core.v3.TrafficDirection: 0 unspecified, 1 inbound, 2 outbound."""
    log_history: int = 10_000
    """Most host-level log records kept (per-exchange records are in the outcomes)."""
    runtime: WasmRuntime | None = None
    """A wasmtime runtime to share between hosts (compiled modules are cached per runtime)."""

    def __post_init__(self) -> None:
        if not 1 <= self.workers <= 256:
            raise ValueError(f"workers must be between 1 and 256, got {self.workers}")
        if self.buffer_limit_bytes <= 0:
            raise ValueError(f"buffer_limit_bytes must be positive, got {self.buffer_limit_bytes}")
