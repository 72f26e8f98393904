"""Shared data (with CAS) and shared queues, partitioned by vm_id as in cpp-host."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def proxy_get_shared_data(vm: WasmVm, values: RawValues) -> int:
    key = vm.memory.read(u32(values, 0), u32(values, 1))
    if key is None:
        return Status.INVALID_MEMORY_ACCESS
    entry = vm.services.shared_data.get(vm.settings.vm_id, key)
    if entry is None:
        return Status.NOT_FOUND
    value, cas = entry
    if not vm.copy_out(value, u32(values, 2), u32(values, 3)):
        return Status.INVALID_MEMORY_ACCESS
    if not vm.memory.write_u32(u32(values, 4), cas):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_set_shared_data(vm: WasmVm, values: RawValues) -> int:
    key = vm.memory.read(u32(values, 0), u32(values, 1))
    value = vm.memory.read(u32(values, 2), u32(values, 3))
    if key is None or value is None:
        return Status.INVALID_MEMORY_ACCESS
    return vm.services.shared_data.set(vm.settings.vm_id, key, value, u32(values, 4))


def proxy_register_shared_queue(vm: WasmVm, values: RawValues) -> int:
    name = vm.memory.read(u32(values, 0), u32(values, 1))
    if name is None:
        return Status.INVALID_MEMORY_ACCESS
    # Notifications go to the root context: a stream registering speaks for its root.
    root = vm.active_context().root
    services = vm.services
    token = services.shared_queues.register(
        vm.settings.vm_id, name, lambda queue_token: services.post_queue_ready(root, queue_token)
    )
    if not vm.memory.write_u32(u32(values, 2), token):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_resolve_shared_queue(vm: WasmVm, values: RawValues) -> int:
    vm_id = vm.memory.read(u32(values, 0), u32(values, 1))
    name = vm.memory.read(u32(values, 2), u32(values, 3))
    if vm_id is None or name is None:
        return Status.INVALID_MEMORY_ACCESS
    target_vm = vm_id.decode("utf-8", "surrogateescape") or vm.settings.vm_id
    token = vm.services.shared_queues.resolve(target_vm, name)
    if token is None or vm.failed:
        return Status.NOT_FOUND
    if not vm.memory.write_u32(u32(values, 4), token):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_enqueue_shared_queue(vm: WasmVm, values: RawValues) -> int:
    data = vm.memory.read(u32(values, 1), u32(values, 2))
    if data is None:
        return Status.INVALID_MEMORY_ACCESS
    return vm.services.shared_queues.enqueue(u32(values, 0), data)


def proxy_dequeue_shared_queue(vm: WasmVm, values: RawValues) -> int:
    status, data = vm.services.shared_queues.dequeue(u32(values, 0))
    if status is not Status.OK:
        return status
    if not vm.copy_out(data, u32(values, 1), u32(values, 2)):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


CALLS = {
    "proxy_get_shared_data": proxy_get_shared_data,
    "proxy_set_shared_data": proxy_set_shared_data,
    "proxy_register_shared_queue": proxy_register_shared_queue,
    "proxy_resolve_shared_queue": proxy_resolve_shared_queue,
    "proxy_enqueue_shared_queue": proxy_enqueue_shared_queue,
    "proxy_dequeue_shared_queue": proxy_dequeue_shared_queue,
}
