"""Links a module's imports to host functions, as cpp-host's `registerCallbacks` does.

- env.proxy_* functions of the catalog, for the ABI versions that have them (the ABI 0.1.0
  names only for 0.1.0 modules, continue/close_stream for 0.2.x, get_log_level for 0.2.1);
- the WASI subset under wasi_snapshot_preview1 and wasi_unstable;
- env.pthread_equal and env.emscripten_notify_memory_growth, always;
- anything else, or a signature that differs from the catalog, fails the load.

A capability left out of the plugin's allowlist is linked to a stub, as Envoy's
capability_restriction_config does: proxy functions log "Attempted call to restricted
proxy-wasm capability" and answer INTERNAL_FAILURE, WASI functions log and answer
ENOTCAPABLE (76). During the module's start functions and while the host calls its
allocator, only a few calls are allowed (cpp-host's restricted callbacks); any other traps.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.abi.catalog import HOST_FUNCTIONS, WASI_FUNCTIONS, WASI_MODULES, FunctionSignature
from harness.host.hostcalls import (
    buffers,
    callouts,
    foreign,
    headers,
    logging,
    metrics,
    properties,
    shared,
    stream,
    timers,
    wasi,
)
from harness.host.hostcalls.args import RawValues, u32
from harness.host.native import HostCallAbortError, RawCallback
from harness.host.types import LogLevel, Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm

HostCall = Callable[["WasmVm", RawValues], int]

PROXY_CALLS: dict[str, HostCall] = {
    **logging.CALLS,
    **timers.CALLS,
    **buffers.CALLS,
    **headers.CALLS,
    **properties.CALLS,
    **stream.CALLS,
    **shared.CALLS,
    **callouts.CALLS,
    **metrics.CALLS,
    **foreign.CALLS,
}


def _pthread_equal(vm: WasmVm, values: RawValues) -> int:
    del vm
    return int(u32(values, 0) == u32(values, 1))


def _emscripten_notify_memory_growth(vm: WasmVm, values: RawValues) -> int:
    del vm, values
    return 0


ENV_EXTRAS: dict[str, tuple[HostCall, FunctionSignature]] = {
    "pthread_equal": (_pthread_equal, FunctionSignature(("i32", "i32"), ("i32",))),
    "emscripten_notify_memory_growth": (_emscripten_notify_memory_growth, FunctionSignature(("i32",), ())),
}

ALLOCATION_ALLOWED_CALLS = frozenset(
    {
        "env.proxy_log",
        *(
            f"{module}.{name}"
            for module in WASI_MODULES
            for name in ("fd_write", "clock_time_get", "poll_oneoff")
        ),
    }
)
"""What cpp-host lets a module call from inside its allocator (allocMemory)."""


class LinkError(Exception):
    pass


def _missing(module: str, name: str, why: str = "") -> LinkError:
    suffix = f" ({why})" if why else ""
    return LinkError(f"Failed to load Wasm module due to a missing import: {module}.{name}{suffix}")


def resolve_import(vm: WasmVm, module: str, name: str, signature: FunctionSignature) -> RawCallback:
    qualified = f"{module}.{name}"
    if module == "env" and name in ENV_EXTRAS:
        implementation, expected = ENV_EXTRAS[name]
        _check_signature(qualified, signature, expected)
        return _bind(vm, qualified, implementation, has_result=bool(expected.results))
    if module == "env":
        host_function = HOST_FUNCTIONS.get(name)
        if host_function is None or name not in PROXY_CALLS:
            raise _missing(module, name)
        if vm.abi_version not in host_function.versions:
            assert vm.abi_version is not None
            raise _missing(module, name, f"not provided to ABI {vm.abi_version.value} modules")
        _check_signature(qualified, signature, host_function.signature)
        if not _allowed(vm, name):
            return _bind(vm, qualified, _proxy_stub(name), has_result=True)
        return _bind(vm, qualified, PROXY_CALLS[name], has_result=True)
    if module in WASI_MODULES:
        expected_wasi = WASI_FUNCTIONS.get(name)
        if expected_wasi is None or name not in wasi.CALLS:
            raise _missing(module, name)
        _check_signature(qualified, signature, expected_wasi)
        implementation = wasi.CALLS[name] if _allowed(vm, name) else _wasi_stub(name)
        return _bind(vm, qualified, implementation, has_result=bool(expected_wasi.results))
    raise _missing(module, name)


def _check_signature(qualified: str, actual: FunctionSignature, expected: FunctionSignature) -> None:
    if actual != expected:
        raise LinkError(
            f"Failed to load Wasm module due to an import type mismatch: {qualified} is imported as "
            f"{actual}, the host provides {expected}"
        )


def _allowed(vm: WasmVm, capability: str) -> bool:
    allowed = vm.settings.allowed_capabilities
    return not allowed or capability in allowed


def _stub(notice: str, answer: int) -> HostCall:
    """What a restricted capability is linked to: an error log line and a refusal."""

    def stub(vm: WasmVm, values: RawValues) -> int:
        del values
        vm.services.recorder.host_note(vm.active_context(), notice, LogLevel.ERROR)
        return answer

    return stub


def _proxy_stub(name: str) -> HostCall:
    return _stub(f"Attempted call to restricted proxy-wasm capability: {name}", Status.INTERNAL_FAILURE)


def _wasi_stub(name: str) -> HostCall:
    return _stub(f"Attempted call to restricted WASI capability: {name}", wasi.ENOTCAPABLE)


def _bind(vm: WasmVm, qualified: str, implementation: HostCall, *, has_result: bool) -> RawCallback:
    def call(values: RawValues) -> int:
        restricted = vm.restricted_calls
        if restricted is not None and qualified not in restricted:
            raise HostCallAbortError(
                f"restricted host function {qualified} called during {vm.restriction_reason}"
            )
        result = implementation(vm, values)
        if has_result:
            values[0].i32 = result
        return 0

    return call
