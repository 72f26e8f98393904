"""The WASI subset Envoy provides (under both wasi_snapshot_preview1 and wasi_unstable), with
its answers: stdout and stderr go to the log at info and error level, there are no files
(path_open is NOENT, fd_read ENOSYS, prestat BADF), no arguments, the environment is the
VM's configured variables, clocks are the host's virtual clocks, and random bytes come from
the host's seeded generator. proc_exit only logs, as in cpp-host; modules trap right after.

sched_yield, poll_oneoff, fd_fdstat_set_flags, clock_res_get and the remaining fd_/path_
calls came with cpp-host's "add all wasi hostcalls used by Go SDK" (PR 533). poll_oneoff
answers every subscription at once (clock subscriptions fire immediately: a module cannot
make virtual time pass by sleeping), and writes to stdout/stderr are always ready.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import TYPE_CHECKING

from harness.host.hostcalls.args import RawValues, u32
from harness.host.types import LogLevel

if TYPE_CHECKING:
    from harness.host.vm import WasmVm

ESUCCESS = 0
EBADF = 8
EFAULT = 21
EINVAL = 28
ENOENT = 44
ENOSYS = 52
ENOTSUP = 58
RANDOM_GET_MAX_BYTES = 64 * 1024
FD_STDOUT = 1
FD_STDERR = 2
CLOCK_REALTIME = 0
CLOCK_MONOTONIC = 1
RIGHTS_FD_WRITE = 64
SUBSCRIPTION_BYTES = 48
EVENT_BYTES = 32
EVENT_CLOCK = 0
EVENT_FD_WRITE = 2
POLL_SUBSCRIPTIONS_MAX = 1024

WasiCall = Callable[["WasmVm", RawValues], int]

_IOVEC = struct.Struct("<II")
_FDSTAT = struct.Struct("<QQQ")
_EVENT = struct.Struct("<QHBxxxxxQHxxxxxx")


def fd_write(vm: WasmVm, values: RawValues) -> int:
    fd, iovs, count, written_out = u32(values, 0), u32(values, 1), u32(values, 2), u32(values, 3)
    if fd == FD_STDOUT:
        level = LogLevel.INFO
    elif fd == FD_STDERR:
        level = LogLevel.ERROR
    else:
        return EBADF
    parts: list[bytes] = []
    for index in range(count):
        entry = vm.memory.read(iovs + index * 8, 8)
        if entry is None:
            return EFAULT
        address, length = _IOVEC.unpack(entry)
        if length:
            data = vm.memory.read(address, length)
            if data is None:
                return EFAULT
            parts.append(data)
    message = b"".join(parts)
    if message:
        text = message[:-1] if message.endswith(b"\n") else message
        vm.services.recorder.log(vm.active_context(), level, text, "stdout" if fd == FD_STDOUT else "stderr")
    if not vm.memory.write_u32(written_out, len(message)):
        return EFAULT
    return ESUCCESS


def fd_fdstat_get(vm: WasmVm, values: RawValues) -> int:
    if u32(values, 0) not in (FD_STDOUT, FD_STDERR):
        return EBADF
    # A 24-byte fdstat: unknown file type, rights = FD_WRITE (cpp-host ignores a bad pointer).
    vm.memory.write(u32(values, 1), _FDSTAT.pack(0, RIGHTS_FD_WRITE, 0))
    return ESUCCESS


def _noted(message: str, answer: int) -> WasiCall:
    """cpp-host calls context->error() for these, which Envoy logs at trace level."""

    def call(vm: WasmVm, values: RawValues) -> int:
        del values
        vm.services.recorder.host_note(vm.active_context(), message)
        return answer

    return call


def _answer(code: int) -> WasiCall:
    def call(vm: WasmVm, values: RawValues) -> int:
        del vm, values
        return code

    return call


def environ_sizes_get(vm: WasmVm, values: RawValues) -> int:
    environment = vm.settings.environment
    size = sum(len(key.encode()) + len(value.encode()) + 2 for key, value in environment)
    if not (
        vm.memory.write_u32(u32(values, 0), len(environment)) and vm.memory.write_u32(u32(values, 1), size)
    ):
        return EFAULT
    return ESUCCESS


def environ_get(vm: WasmVm, values: RawValues) -> int:
    pointers, buffer = u32(values, 0), u32(values, 1)
    for key, value in vm.settings.environment:
        entry = f"{key}={value}".encode() + b"\x00"
        if not (vm.memory.write_u32(pointers, buffer) and vm.memory.write(buffer, entry)):
            return EFAULT
        pointers += 4
        buffer += len(entry)
    return ESUCCESS


def args_sizes_get(vm: WasmVm, values: RawValues) -> int:
    if not (vm.memory.write_u32(u32(values, 0), 0) and vm.memory.write_u32(u32(values, 1), 0)):
        return EFAULT
    return ESUCCESS


def _clock_nanos(vm: WasmVm, clock_id: int) -> int | None:
    if clock_id == CLOCK_REALTIME:
        return vm.services.clock.wall_nanos
    if clock_id == CLOCK_MONOTONIC:
        return vm.services.clock.monotonic_nanos
    return None


def clock_time_get(vm: WasmVm, values: RawValues) -> int:
    nanos = _clock_nanos(vm, u32(values, 0))
    if nanos is None:
        return ENOTSUP
    if not vm.memory.write_u64(u32(values, 2), nanos):
        return EFAULT
    return ESUCCESS


def clock_res_get(vm: WasmVm, values: RawValues) -> int:
    if _clock_nanos(vm, u32(values, 0)) is None:
        return ENOTSUP
    if not vm.memory.write_u64(u32(values, 1), 1):
        return EFAULT
    return ESUCCESS


def random_get(vm: WasmVm, values: RawValues) -> int:
    address, length = u32(values, 0), u32(values, 1)
    if length > RANDOM_GET_MAX_BYTES:
        return EINVAL
    if length == 0:
        return ESUCCESS
    if not vm.memory.write(address, vm.services.random.randbytes(length)):
        return EFAULT
    return ESUCCESS


def poll_oneoff(vm: WasmVm, values: RawValues) -> int:
    subscriptions, events_out, count, count_out = (
        u32(values, 0),
        u32(values, 1),
        u32(values, 2),
        u32(values, 3),
    )
    if count == 0 or count > POLL_SUBSCRIPTIONS_MAX:
        return EINVAL
    written = 0
    for index in range(count):
        subscription = vm.memory.read(subscriptions + index * SUBSCRIPTION_BYTES, SUBSCRIPTION_BYTES)
        if subscription is None:
            return EFAULT
        userdata = int.from_bytes(subscription[0:8], "little")
        tag = subscription[8]
        error = ESUCCESS
        if tag != EVENT_CLOCK:
            fd = int.from_bytes(subscription[16:20], "little")
            error = ESUCCESS if tag == EVENT_FD_WRITE and fd in (FD_STDOUT, FD_STDERR) else EBADF
        event = _EVENT.pack(userdata, error, tag, 0, 0)
        if not vm.memory.write(events_out + written * EVENT_BYTES, event):
            return EFAULT
        written += 1
    if not vm.memory.write_u32(count_out, written):
        return EFAULT
    return ESUCCESS


def proc_exit(vm: WasmVm, values: RawValues) -> int:
    vm.services.recorder.host_note(vm.active_context(), f"wasi_unstable proc_exit({u32(values, 0)})")
    return 0


CALLS = {
    "fd_write": fd_write,
    "fd_read": _answer(ENOSYS),
    "fd_seek": _noted("wasi_unstable fd_seek", ESUCCESS),
    "fd_close": _noted("wasi_unstable fd_close", ESUCCESS),
    "fd_fdstat_get": fd_fdstat_get,
    "fd_fdstat_set_flags": _answer(ENOSYS),
    "fd_prestat_get": _answer(EBADF),
    "fd_prestat_dir_name": _answer(ENOSYS),
    "fd_filestat_get": _answer(EBADF),
    "fd_pread": _answer(ENOSYS),
    "fd_readdir": _answer(ENOSYS),
    "path_open": _answer(ENOENT),
    "path_filestat_get": _answer(ENOENT),
    "path_remove_directory": _answer(ENOENT),
    "path_unlink_file": _answer(ENOENT),
    "environ_get": environ_get,
    "environ_sizes_get": environ_sizes_get,
    "args_get": _answer(ESUCCESS),
    "args_sizes_get": args_sizes_get,
    "clock_time_get": clock_time_get,
    "clock_res_get": clock_res_get,
    "random_get": random_get,
    "poll_oneoff": poll_oneoff,
    "sched_yield": _answer(ESUCCESS),
    "proc_exit": proc_exit,
}
"""WASI name -> implementation; answers are WASI errno values."""

ENOTCAPABLE = 76
