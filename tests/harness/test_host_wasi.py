"""The WASI subset Envoy provides, under wasi_snapshot_preview1 and wasi_unstable."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.host import LogLevel, PluginConfig, VirtualClock
from tests.harness.host_support import make_host, wasm_runtime, wat

__all__ = ["make_host", "wasm_runtime"]

FIXTURE = Path(__file__).parent / "fixtures" / "host" / "wasi_calls.wat"
ERRNO = {
    "stdout write": 0,
    "stderr write": 0,
    "write to a file descriptor that is not stdout/stderr": 8,
    "realtime clock": 0,
    "monotonic clock": 0,
    "process cputime clock": 58,
    "random bytes": 0,
    "random bytes past 64 KiB": 28,
    "environ sizes": 0,
    "environ": 0,
    "args sizes": 0,
    "poll a clock": 0,
    "sched_yield": 0,
    "fd_read": 52,
    "path_open": 44,
    "fd_prestat_get": 8,
    "fdstat of stdout": 0,
    "fd_fdstat_set_flags": 52,
    "clock resolution": 0,
    "fd_write under wasi_unstable": 0,
    "fdstat of another descriptor": 8,
}


@pytest.fixture
def wasi_host(make_host: Any) -> tuple[Any, Any]:
    clock = VirtualClock(wall_nanos=1_000_000_000_123, monotonic_nanos=42)
    host = make_host(clock=clock, random_seed=7)
    plugin = host.load_plugin(
        PluginConfig(name="wasi", module=wat(FIXTURE.read_text()), environment={"MODE": "test", "A": "1"})
    )
    return host, plugin.instances[0].vm.memory


@pytest.mark.parametrize(("index", "case"), list(enumerate(ERRNO)), ids=list(ERRNO))
def test_wasi_errno(wasi_host: tuple[Any, Any], index: int, case: str) -> None:
    _, memory = wasi_host
    assert memory.read_u32(1024 + 4 * index) == ERRNO[case]


def test_stdout_and_stderr_become_log_records(wasi_host: tuple[Any, Any]) -> None:
    host, memory = wasi_host
    records = [
        (record.source, record.level, record.message) for record in host.logs if record.source != "host"
    ]
    assert records == [
        ("stdout", LogLevel.INFO, "hello"),  # the trailing newline is dropped, as cpp-host does
        ("stderr", LogLevel.ERROR, "oops"),
        ("stdout", LogLevel.INFO, "oops"),
    ]
    assert memory.read_u32(200) == 6  # bytes written, newline included
    assert any(
        record.message == "wasi_unstable proc_exit(3)" for record in host.logs if record.source == "host"
    )


def test_clocks_random_and_environment(wasi_host: tuple[Any, Any], make_host: Any) -> None:
    _, memory = wasi_host
    assert int.from_bytes(memory.read(208, 8), "little") == 1_000_000_000_123
    assert int.from_bytes(memory.read(216, 8), "little") == 42
    assert int.from_bytes(memory.read(264, 8), "little") == 1
    first_random = memory.read(300, 16)
    # Same seed, same bytes: a replay is reproducible.
    again = make_host(clock=VirtualClock(), random_seed=7).load_plugin(
        PluginConfig(name="wasi", module=wat(FIXTURE.read_text()), environment={"MODE": "test", "A": "1"})
    )
    assert again.instances[0].vm.memory.read(300, 16) == first_random
    assert (memory.read_u32(232), memory.read_u32(236)) == (2, len("A=1\0MODE=test\0"))
    first, second = memory.read_u32(240), memory.read_u32(244)
    assert memory.read(first, 4) == b"A=1\0" and memory.read(second, 10) == b"MODE=test\0"
    assert (memory.read_u32(248), memory.read_u32(252)) == (0, 0)


def test_poll_and_fdstat_shapes(wasi_host: tuple[Any, Any]) -> None:
    _, memory = wasi_host
    assert memory.read_u32(256) == 1
    event = memory.read(600, 32)
    assert event is not None
    assert int.from_bytes(event[0:8], "little") == 7  # userdata echoed
    assert int.from_bytes(event[8:10], "little") == 0 and event[10] == 0  # no error, clock event
    fdstat = memory.read(640, 24)
    assert fdstat is not None
    assert int.from_bytes(fdstat[8:16], "little") == 64  # rights: FD_WRITE
