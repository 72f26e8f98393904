"""Time and the tick timer: proxy_get_current_time_nanoseconds, proxy_set_tick_period_milliseconds."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import Status

if TYPE_CHECKING:
    from harness.host.vm import WasmVm


def proxy_get_current_time_nanoseconds(vm: WasmVm, values: RawValues) -> int:
    if not vm.memory.write_u64(u32(values, 0), vm.services.clock.wall_nanos):
        return Status.INVALID_MEMORY_ACCESS
    return Status.OK


def proxy_set_tick_period_milliseconds(vm: WasmVm, values: RawValues) -> int:
    # The timer belongs to the root context, whichever context asks (cpp-host setTimerPeriod).
    vm.services.timers.set_period(vm.active_context().root, u32(values, 0))
    return Status.OK


CALLS = {
    "proxy_get_current_time_nanoseconds": proxy_get_current_time_nanoseconds,
    "proxy_set_tick_period_milliseconds": proxy_set_tick_period_milliseconds,
}
