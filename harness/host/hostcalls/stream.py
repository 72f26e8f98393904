"""Stream control and context management: local replies, continue/close, status, effective
context, proxy_done, and the ABI 0.1.0 names Envoy still registers for 0.1.0 modules.

Like Envoy, continue and local replies are not acted on inside the call: they are recorded
on the context and carried out by the filter chain once the callback returns (Envoy's
addAfterVmCallAction). A local reply also forces the callback's answer to "stop"
(cpp-host's stopNextIteration), and a second one on the same stream does nothing.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from harness.host.context import LocalReplyRequest
from harness.host.hostcalls.args import RawValues, i32, u32
from harness.host.pairs import decode_text, parse
from harness.host.types import Status, StreamType

if TYPE_CHECKING:
    from harness.host.vm import WasmVm

STREAM_TYPE_MAX = max(StreamType)
GRPC_STATUS_MAX = 16
_WHITESPACE = re.compile(r"\s")


def proxy_send_local_response(vm: WasmVm, values: RawValues) -> int:
    details = vm.memory.read(u32(values, 1), u32(values, 2))
    body = vm.memory.read(u32(values, 3), u32(values, 4))
    headers = vm.memory.read(u32(values, 5), u32(values, 6))
    if details is None or body is None or headers is None:
        return Status.INVALID_MEMORY_ACCESS
    context = vm.active_context()
    vm.stop_next_iteration = True
    http = context.http
    if http is not None and not http.local_reply_sent:
        grpc_status = i32(values, 7)
        http.local_reply = LocalReplyRequest(
            status=u32(values, 0),
            body=body,
            headers=[(decode_text(name), decode_text(value)) for name, value in parse(headers)],
            # Envoy replaces whitespace in response code details (StringUtil::replaceAllEmptySpace).
            details=_WHITESPACE.sub("_", decode_text(details)),
            grpc_status=grpc_status if 0 <= grpc_status <= GRPC_STATUS_MAX else None,
        )
        http.local_reply_sent = True
    return Status.OK


def _continue(vm: WasmVm, stream_type: StreamType) -> int:
    context = vm.active_context()
    if stream_type in (StreamType.HTTP_REQUEST, StreamType.HTTP_RESPONSE):
        http = context.http
        if http is not None:
            http.continue_requested.add(stream_type)
            # Envoy forgets the maps of the direction it continues.
            if stream_type is StreamType.HTTP_REQUEST:
                http.request_headers = http.request_trailers = http.request_body = None
            else:
                http.response_headers = http.response_trailers = http.response_body = None
        return Status.OK
    if context.tcp is not None:
        context.tcp.continue_requested.add(stream_type)
        return Status.OK
    return Status.BAD_ARGUMENT


def proxy_continue_stream(vm: WasmVm, values: RawValues) -> int:
    kind = u32(values, 0)
    if kind > STREAM_TYPE_MAX:
        return Status.BAD_ARGUMENT
    return _continue(vm, StreamType(kind))


def proxy_close_stream(vm: WasmVm, values: RawValues) -> int:
    kind = u32(values, 0)
    if kind > STREAM_TYPE_MAX:
        return Status.BAD_ARGUMENT
    context = vm.active_context()
    stream_type = StreamType(kind)
    if stream_type in (StreamType.HTTP_REQUEST, StreamType.HTTP_RESPONSE):
        if context.http is not None:
            context.http.reset_requested = True
    elif context.tcp is not None:
        context.tcp.close_requested.add(stream_type)
    return Status.OK


def proxy_get_status(vm: WasmVm, values: RawValues) -> int:
    root = vm.active_context().root
    if not vm.memory.write_u32(u32(values, 0), root.status_code):
        return Status.INVALID_MEMORY_ACCESS
    if not vm.copy_out(root.status_message, u32(values, 1), u32(values, 2)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_set_effective_context(vm: WasmVm, values: RawValues) -> int:
    context_id = u32(values, 0)
    if context_id != 0 and context_id not in vm.contexts:
        return Status.BAD_ARGUMENT
    vm.effective_context_id = context_id
    return Status.OK


def proxy_done(vm: WasmVm, values: RawValues) -> int:
    del values
    plugin = vm.active_context().plugin
    if plugin is None:
        return Status.NOT_FOUND
    return plugin.done_requested(vm)


def proxy_continue_request(vm: WasmVm, values: RawValues) -> int:
    del values
    return _continue(vm, StreamType.HTTP_REQUEST)


def proxy_continue_response(vm: WasmVm, values: RawValues) -> int:
    del values
    return _continue(vm, StreamType.HTTP_RESPONSE)


def proxy_clear_route_cache(vm: WasmVm, values: RawValues) -> int:
    del vm, values
    return Status.OK


def proxy_get_configuration(vm: WasmVm, values: RawValues) -> int:
    # ABI 0.1.0: the plugin configuration during on_configure, else the VM configuration.
    root = vm.active_context().root
    configuration = root.plugin_configuration
    if configuration is None:
        configuration = vm.settings.vm_configuration
    if not vm.copy_out(configuration, u32(values, 0), u32(values, 1)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


CALLS = {
    "proxy_send_local_response": proxy_send_local_response,
    "proxy_continue_stream": proxy_continue_stream,
    "proxy_close_stream": proxy_close_stream,
    "proxy_get_status": proxy_get_status,
    "proxy_set_effective_context": proxy_set_effective_context,
    "proxy_done": proxy_done,
    "proxy_continue_request": proxy_continue_request,
    "proxy_continue_response": proxy_continue_response,
    "proxy_clear_route_cache": proxy_clear_route_cache,
    "proxy_get_configuration": proxy_get_configuration,
}
