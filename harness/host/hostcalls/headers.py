"""The header-map host functions, with Envoy's answers:

- an unknown map type is BAD_ARGUMENT;
- a map that is not reachable from this callback (e.g. request headers after
  on_request_headers returned Continue) is BAD_ARGUMENT, except in the access-log phase where
  reads answer an empty map / NOT_FOUND (Envoy PR 15224);
- a missing header is NOT_FOUND, or an empty value with OK for ABI 0.1.0 modules;
- proxy_get_header_map_size answers the map's byte size (names plus values), not its count.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.abi.catalog import AbiVersion
from harness.host.header_map import HeaderMap
from harness.host.hostcalls.args import RawValues, u32
from harness.host.pairs import decode_text, encode_text, parse, serialize
from harness.host.types import MapType, Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm

MAP_TYPE_MAX = max(MapType)


def _text(vm: WasmVm, address: int, size: int) -> str | None:
    data = vm.memory.read(address, size)
    return None if data is None else decode_text(data)


def proxy_get_header_map_value(vm: WasmVm, values: RawValues) -> int:
    kind = u32(values, 0)
    if kind > MAP_TYPE_MAX:
        return Status.BAD_ARGUMENT
    key = _text(vm, u32(values, 1), u32(values, 2))
    if key is None:
        return Status.INVALID_MEMORY_ACCESS
    context = vm.active_context()
    header_map = context.readable_map(MapType(kind))
    value: str | None = None
    if header_map is None:
        if not context.in_log_phase:
            return Status.BAD_ARGUMENT
    else:
        value = header_map.get(key)
    if value is None:
        if vm.abi_version is not AbiVersion.V0_1_0:
            return Status.NOT_FOUND
        value = ""
    if not vm.copy_out(encode_text(value), u32(values, 3), u32(values, 4)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def _readable(vm: WasmVm, kind: int) -> tuple[Status, HeaderMap | None]:
    """The map to read, or why not: an unknown type or a map not reachable from here is
    BAD_ARGUMENT, except in the access-log phase where it reads as empty."""
    if kind > MAP_TYPE_MAX:
        return Status.BAD_ARGUMENT, None
    context = vm.active_context()
    header_map = context.readable_map(MapType(kind))
    if header_map is None and not context.in_log_phase:
        return Status.BAD_ARGUMENT, None
    return Status.OK, header_map


def proxy_get_header_map_pairs(vm: WasmVm, values: RawValues) -> int:
    status, header_map = _readable(vm, u32(values, 0))
    if status is not Status.OK:
        return status
    # An empty map is handed over as a null pointer and size 0 (cpp-host copies "").
    data = serialize(header_map.to_byte_pairs()) if header_map else b""
    if not vm.copy_out(data, u32(values, 1), u32(values, 2)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_get_header_map_size(vm: WasmVm, values: RawValues) -> int:
    status, header_map = _readable(vm, u32(values, 0))
    if status is not Status.OK:
        return status
    size = header_map.byte_size if header_map is not None else 0
    if not vm.memory.write_u32(u32(values, 1), size):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def _mutable(vm: WasmVm, kind: int) -> HeaderMap | None:
    return vm.active_context().mutable_map(MapType(kind))


def proxy_set_header_map_pairs(vm: WasmVm, values: RawValues) -> int:
    kind = u32(values, 0)
    if kind > MAP_TYPE_MAX:
        return Status.BAD_ARGUMENT
    data = vm.memory.read(u32(values, 1), u32(values, 2))
    if data is None:
        return Status.INVALID_MEMORY_ACCESS
    header_map = _mutable(vm, kind)
    if header_map is None:
        return Status.BAD_ARGUMENT
    header_map.set_all((decode_text(name), decode_text(value)) for name, value in parse(data))
    return Status.OK


def proxy_add_header_map_value(vm: WasmVm, values: RawValues) -> int:
    return _write_one(vm, values, replace=False)


def proxy_replace_header_map_value(vm: WasmVm, values: RawValues) -> int:
    return _write_one(vm, values, replace=True)


def _write_one(vm: WasmVm, values: RawValues, *, replace: bool) -> int:
    kind = u32(values, 0)
    if kind > MAP_TYPE_MAX:
        return Status.BAD_ARGUMENT
    key = _text(vm, u32(values, 1), u32(values, 2))
    value = _text(vm, u32(values, 3), u32(values, 4))
    if key is None or value is None:
        return Status.INVALID_MEMORY_ACCESS
    header_map = _mutable(vm, kind)
    if header_map is None:
        return Status.BAD_ARGUMENT
    if replace:
        header_map.replace(key, value)
    else:
        header_map.add(key, value)
    return Status.OK


def proxy_remove_header_map_value(vm: WasmVm, values: RawValues) -> int:
    kind = u32(values, 0)
    if kind > MAP_TYPE_MAX:
        return Status.BAD_ARGUMENT
    key = _text(vm, u32(values, 1), u32(values, 2))
    if key is None:
        return Status.INVALID_MEMORY_ACCESS
    header_map = _mutable(vm, kind)
    if header_map is None:
        return Status.BAD_ARGUMENT
    header_map.remove(key)
    return Status.OK


CALLS = {
    "proxy_get_header_map_value": proxy_get_header_map_value,
    "proxy_get_header_map_pairs": proxy_get_header_map_pairs,
    "proxy_get_header_map_size": proxy_get_header_map_size,
    "proxy_set_header_map_pairs": proxy_set_header_map_pairs,
    "proxy_add_header_map_value": proxy_add_header_map_value,
    "proxy_replace_header_map_value": proxy_replace_header_map_value,
    "proxy_remove_header_map_value": proxy_remove_header_map_value,
}
