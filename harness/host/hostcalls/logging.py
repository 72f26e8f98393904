"""proxy_log and proxy_get_log_level."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import LogLevel, Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def proxy_log(vm: WasmVm, values: RawValues) -> int:
    level, address, size = u32(values, 0), u32(values, 1), u32(values, 2)
    if level > LogLevel.CRITICAL:
        return Status.BAD_ARGUMENT
    message = vm.memory.read(address, size)
    if message is None:
        return Status.INVALID_MEMORY_ACCESS
    vm.services.recorder.log(vm.active_context(), LogLevel(level), message, "proxy_log")
    return Status.OK


def proxy_get_log_level(vm: WasmVm, values: RawValues) -> int:
    if not vm.memory.write_u32(u32(values, 0), int(vm.services.config.log_level)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


CALLS = {"proxy_log": proxy_log, "proxy_get_log_level": proxy_get_log_level}
