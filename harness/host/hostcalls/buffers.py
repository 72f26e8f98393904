"""proxy_get_buffer_bytes, proxy_set_buffer_bytes and proxy_get_buffer_status.

get_buffer_bytes follows current cpp-host exports.cc: a start past the end or an empty
window writes a null pointer and size 0 and answers OK; a window past the end is cut to the
buffer (so size 0xFFFFFFFF means "to the end"); an unknown buffer type is BAD_ARGUMENT and a
buffer that does not exist right now is NOT_FOUND.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import BufferType, Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm

BUFFER_TYPE_MAX = max(BufferType)


def proxy_get_buffer_bytes(vm: WasmVm, values: RawValues) -> int:
    kind, start, length = u32(values, 0), u32(values, 1), u32(values, 2)
    address_out, size_out = u32(values, 3), u32(values, 4)
    if kind > BUFFER_TYPE_MAX:
        return Status.BAD_ARGUMENT
    buffer = vm.active_context().buffer(BufferType(kind))
    if buffer is None:
        return Status.NOT_FOUND
    size = len(buffer)
    if start > size:
        length = 0
    elif start + length > size:
        length = size - start
    if length == 0:
        ok = vm.memory.write_u32(address_out, 0) and vm.memory.write_u32(size_out, 0)
        return Status.OK if ok else Status.INVALID_MEMORY_ACCESS
    if not vm.copy_out(buffer.read(start, length), address_out, size_out):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_set_buffer_bytes(vm: WasmVm, values: RawValues) -> int:
    kind, start, length = u32(values, 0), u32(values, 1), u32(values, 2)
    if kind > BUFFER_TYPE_MAX:
        return Status.BAD_ARGUMENT
    buffer = vm.active_context().buffer(BufferType(kind))
    if buffer is None:
        return Status.NOT_FOUND
    data = vm.memory.read(u32(values, 3), u32(values, 4))
    if data is None:
        return Status.INVALID_MEMORY_ACCESS
    return buffer.copy_from(start, length, data)


def proxy_get_buffer_status(vm: WasmVm, values: RawValues) -> int:
    kind = u32(values, 0)
    if kind > BUFFER_TYPE_MAX:
        return Status.BAD_ARGUMENT
    buffer = vm.active_context().buffer(BufferType(kind))
    if buffer is None:
        return Status.NOT_FOUND
    if not (vm.memory.write_u32(u32(values, 1), len(buffer)) and vm.memory.write_u32(u32(values, 2), 0)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


CALLS = {
    "proxy_get_buffer_bytes": proxy_get_buffer_bytes,
    "proxy_set_buffer_bytes": proxy_set_buffer_bytes,
    "proxy_get_buffer_status": proxy_get_buffer_status,
}
