"""The proxy-Wasm host of the harness: runs filter modules in wasmtime with Envoy's semantics.

    host = Host(HostConfig(workers=2))
    plugin = host.load_plugin(PluginConfig(name="dlp", module=Path("meshveil-dlp.wasm")))
    outcome = FilterChain(host, [plugin]).run(exchange)

`Host` is one Envoy process (VMs per worker, shared data and queues, virtual clock, fake
upstreams, metrics); `Plugin` is a loaded plugin; `FilterChain.run` plays an exchange as
Envoy's HTTP filter manager would and answers an `ExchangeOutcome`.
"""

from harness.host.chain import FilterChain
from harness.host.clock import VirtualClock
from harness.host.config import FailurePolicy, HostConfig, PluginConfig
from harness.host.errors import HostError, PluginLoadError
from harness.host.host import Host
from harness.host.outcome import (
    CallbackRecord,
    CalloutRecord,
    ExchangeOutcome,
    FailureKind,
    FailureRecord,
    FilterObservation,
    LocalReply,
    LogRecord,
    Phase,
    TcpOutcome,
)
from harness.host.plugin import Plugin
from harness.host.runtime import WasmRuntime
from harness.host.tcp import TcpConversation
from harness.host.types import Action, FilterStatus, LogLevel
from harness.host.upstreams import CalloutFailure, CalloutRequest, FakeUpstream, GrpcReply, HttpReply

__all__ = [
    "Action",
    "CallbackRecord",
    "CalloutFailure",
    "CalloutRecord",
    "CalloutRequest",
    "ExchangeOutcome",
    "FailureKind",
    "FailurePolicy",
    "FailureRecord",
    "FakeUpstream",
    "FilterChain",
    "FilterObservation",
    "FilterStatus",
    "GrpcReply",
    "Host",
    "HostConfig",
    "HostError",
    "HttpReply",
    "LocalReply",
    "LogLevel",
    "LogRecord",
    "Phase",
    "Plugin",
    "PluginConfig",
    "PluginLoadError",
    "TcpConversation",
    "TcpOutcome",
    "VirtualClock",
    "WasmRuntime",
]
