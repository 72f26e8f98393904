"""proxy_call_foreign_function: NOT_FOUND unless the host registered the name
(HostConfig.foreign_functions); a registered function that raises is INTERNAL_FAILURE."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def proxy_call_foreign_function(vm: WasmVm, values: RawValues) -> int:
    name = vm.memory.read(u32(values, 0), u32(values, 1))
    if name is None:
        return Status.INVALID_MEMORY_ACCESS
    arguments = vm.memory.read(u32(values, 2), u32(values, 3))
    if arguments is None:
        return Status.INVALID_MEMORY_ACCESS
    function = vm.services.config.foreign_functions.get(name.decode("utf-8", "replace"))
    if function is None:
        return Status.NOT_FOUND
    try:
        result = function(arguments)
    except Exception as error:  # a failing extension is the module's INTERNAL_FAILURE
        vm.services.recorder.host_note(vm.active_context(), f"foreign function {name!r} failed: {error}")
        return Status.INTERNAL_FAILURE
    return _hand_back(vm, result, u32(values, 4), u32(values, 5))


def _hand_back(vm: WasmVm, result: bytes, results_out: int, size_out: int) -> int:
    """cpp-host writes the result only where the module asked for it (non-null pointers)."""
    address = 0
    if results_out and result:
        address = vm.allocate(len(result))
        if address == 0 or not vm.memory.write(address, result):
            return Status.INVALID_MEMORY_ACCESS
    if results_out and not vm.memory.write_u32(results_out, address):
        return Status.INVALID_MEMORY_ACCESS
    if size_out and not vm.memory.write_u32(size_out, len(result)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


CALLS = {"proxy_call_foreign_function": proxy_call_foreign_function}
