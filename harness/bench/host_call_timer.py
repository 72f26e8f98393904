"""Time spent in the harness's host functions, so a benchmark can tell the module's own
work from the (Python) host's.

The harness times each callback from the moment it enters Wasm to its return, host calls
included; in Envoy those host calls are C++ and cheap, here they are Python and not. Inside
`timed_host_calls()`, plugins loaded link every proxy-Wasm host function through a wrapper
that adds its duration to `HostCallTimer.seconds`; in-module time is then the callbacks'
time minus that. Loading outside the block links the plain functions (no cost).
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from harness.host.hostcalls import registry

if TYPE_CHECKING:
    from harness.host.hostcalls.args import RawValues
    from harness.host.vm import WasmVm


@dataclass
class HostCallTimer:
    seconds: float = 0.0
    calls: int = 0

    def reset(self) -> None:
        self.seconds = 0.0
        self.calls = 0


@contextmanager
def timed_host_calls() -> Iterator[HostCallTimer]:
    """Plugins loaded inside this block time their host calls into the yielded timer."""
    timer = HostCallTimer()
    originals = dict(registry.PROXY_CALLS)

    def timed(implementation: registry.HostCall) -> registry.HostCall:
        def call(vm: WasmVm, values: RawValues) -> int:
            started = time.perf_counter()
            try:
                return implementation(vm, values)
            finally:
                timer.seconds += time.perf_counter() - started
                timer.calls += 1

        return call

    registry.PROXY_CALLS.update({name: timed(function) for name, function in originals.items()})
    try:
        yield timer
    finally:
        registry.PROXY_CALLS.update(originals)
