"""proxy_http_call and the gRPC call/stream functions: argument handling (the callout
semantics live in harness.host.callouts)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.header_map import HeaderMap
from harness.host.hostcalls.args import RawValues, u32
from harness.host.pairs import parse
from harness.host.types import Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def _header_map(data: bytes) -> HeaderMap:
    return HeaderMap.from_byte_pairs(parse(data))


def proxy_http_call(vm: WasmVm, values: RawValues) -> int:
    upstream = vm.memory.read(u32(values, 0), u32(values, 1))
    headers = vm.memory.read(u32(values, 2), u32(values, 3))
    body = vm.memory.read(u32(values, 4), u32(values, 5))
    trailers = vm.memory.read(u32(values, 6), u32(values, 7))
    token_out = u32(values, 9)
    if upstream is None or headers is None or body is None or trailers is None:
        return Status.INVALID_MEMORY_ACCESS
    # cpp-host writes a zero token first, so a bad pointer fails before anything is sent.
    if not vm.memory.write_u32(token_out, 0):
        return Status.INVALID_MEMORY_ACCESS
    status, token = vm.services.callouts.http_call(
        vm.active_context(),
        upstream.decode("utf-8", "replace"),
        headers=_header_map(headers),
        body=body,
        trailers=_header_map(trailers),
        timeout_ms=u32(values, 8),
    )
    vm.memory.write_u32(token_out, token)
    return status


def proxy_grpc_call(vm: WasmVm, values: RawValues) -> int:
    service = vm.memory.read(u32(values, 0), u32(values, 1))
    service_name = vm.memory.read(u32(values, 2), u32(values, 3))
    method = vm.memory.read(u32(values, 4), u32(values, 5))
    metadata = vm.memory.read(u32(values, 6), u32(values, 7))
    message = vm.memory.read(u32(values, 8), u32(values, 9))
    if service is None or service_name is None or method is None or metadata is None or message is None:
        return Status.INVALID_MEMORY_ACCESS
    status, token = vm.services.callouts.grpc_call(
        vm.active_context(),
        service=service,
        service_name=service_name.decode("utf-8", "replace"),
        method=method.decode("utf-8", "replace"),
        metadata=_header_map(metadata),
        message=message,
        timeout_ms=u32(values, 10),
    )
    if status is not Status.OK:
        return status
    if not vm.memory.write_u32(u32(values, 11), token):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_grpc_stream(vm: WasmVm, values: RawValues) -> int:
    service = vm.memory.read(u32(values, 0), u32(values, 1))
    service_name = vm.memory.read(u32(values, 2), u32(values, 3))
    method = vm.memory.read(u32(values, 4), u32(values, 5))
    metadata = vm.memory.read(u32(values, 6), u32(values, 7))
    if service is None or service_name is None or method is None or metadata is None:
        return Status.INVALID_MEMORY_ACCESS
    status, token = vm.services.callouts.grpc_stream(
        vm.active_context(),
        service,
        service_name.decode("utf-8", "replace"),
        method.decode("utf-8", "replace"),
        _header_map(metadata),
    )
    if status is not Status.OK:
        return status
    if not vm.memory.write_u32(u32(values, 8), token):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_grpc_send(vm: WasmVm, values: RawValues) -> int:
    message = vm.memory.read(u32(values, 1), u32(values, 2))
    if message is None:
        return Status.INVALID_MEMORY_ACCESS
    return vm.services.callouts.grpc_send(vm.active_context(), u32(values, 0), message, u32(values, 3) != 0)


def proxy_grpc_cancel(vm: WasmVm, values: RawValues) -> int:
    return vm.services.callouts.grpc_cancel(vm.active_context(), u32(values, 0))


def proxy_grpc_close(vm: WasmVm, values: RawValues) -> int:
    return vm.services.callouts.grpc_close(vm.active_context(), u32(values, 0))


CALLS = {
    "proxy_http_call": proxy_http_call,
    "proxy_grpc_call": proxy_grpc_call,
    "proxy_grpc_stream": proxy_grpc_stream,
    "proxy_grpc_send": proxy_grpc_send,
    "proxy_grpc_cancel": proxy_grpc_cancel,
    "proxy_grpc_close": proxy_grpc_close,
}
