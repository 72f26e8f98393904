"""proxy_define_metric, proxy_increment_metric, proxy_record_metric, proxy_get_metric."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, i64, u32, u64
from harness.host.types import Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def proxy_define_metric(vm: WasmVm, values: RawValues) -> int:
    name = vm.memory.read(u32(values, 1), u32(values, 2))
    if name is None:
        return Status.INVALID_MEMORY_ACCESS
    status, metric_id = vm.metrics.define(u32(values, 0), name.decode("utf-8", "replace"))
    if status is not Status.OK:
        return status
    if not vm.memory.write_u32(u32(values, 3), metric_id):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def _changed(vm: WasmVm, metric_id: int, status: Status, before: int | None) -> int:
    if status is Status.OK:
        name = vm.metrics.name_of(metric_id)
        after = vm.metrics.current(metric_id)
        if name is not None and before is not None and after is not None and after != before:
            vm.services.recorder.metric(vm.active_context(), name, after - before)
    return status


def proxy_increment_metric(vm: WasmVm, values: RawValues) -> int:
    metric_id = u32(values, 0)
    before = vm.metrics.current(metric_id)
    return _changed(vm, metric_id, vm.metrics.increment(metric_id, i64(values, 1)), before)


def proxy_record_metric(vm: WasmVm, values: RawValues) -> int:
    metric_id = u32(values, 0)
    before = vm.metrics.current(metric_id)
    return _changed(vm, metric_id, vm.metrics.record(metric_id, u64(values, 1)), before)


def proxy_get_metric(vm: WasmVm, values: RawValues) -> int:
    status, value = vm.metrics.get(u32(values, 0))
    if status is not Status.OK:
        return status
    if not vm.memory.write_u64(u32(values, 1), value):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


CALLS = {
    "proxy_define_metric": proxy_define_metric,
    "proxy_increment_metric": proxy_increment_metric,
    "proxy_record_metric": proxy_record_metric,
    "proxy_get_metric": proxy_get_metric,
}
