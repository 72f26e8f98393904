"""proxy_get_property and proxy_set_property (the answers come from harness.host.properties)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host import properties
from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def proxy_get_property(vm: WasmVm, values: RawValues) -> int:
    path = vm.memory.read(u32(values, 0), u32(values, 1))
    if path is None:
        return Status.INVALID_MEMORY_ACCESS
    status, value = properties.resolve(vm.active_context(), path)
    if status is not Status.OK:
        return status
    if not vm.copy_out(value, u32(values, 2), u32(values, 3)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_set_property(vm: WasmVm, values: RawValues) -> int:
    path = vm.memory.read(u32(values, 0), u32(values, 1))
    value = vm.memory.read(u32(values, 2), u32(values, 3))
    if path is None or value is None:
        return Status.INVALID_MEMORY_ACCESS
    return properties.set_property(vm.active_context(), path, value)


CALLS = {"proxy_get_property": proxy_get_property, "proxy_set_property": proxy_set_property}
