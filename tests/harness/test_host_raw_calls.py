"""Host answers to arguments a typed SDK never sends: unknown enum values, pointers outside
linear memory, unregistered names — each with the status cpp-host's exports.cc gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from harness.host import FilterChain, PluginConfig
from harness.host.types import Status
from tests.harness.host_support import exchange, make_host, wasm_runtime, wat

__all__ = ["make_host", "wasm_runtime"]

FIXTURE = Path(__file__).parent / "fixtures" / "host" / "raw_calls.wat"
EXPECTED = [
    ("unknown map type", Status.BAD_ARGUMENT),
    ("header key outside memory", Status.INVALID_MEMORY_ACCESS),
    ("unknown buffer type", Status.BAD_ARGUMENT),
    ("continue an unknown stream type", Status.BAD_ARGUMENT),
    ("close an unknown stream type", Status.BAD_ARGUMENT),
    ("unknown log level", Status.BAD_ARGUMENT),
    ("log message outside memory", Status.INVALID_MEMORY_ACCESS),
    ("unknown metric type", Status.BAD_ARGUMENT),
    ("effective context that does not exist", Status.BAD_ARGUMENT),
    ("property result pointer outside memory", Status.INVALID_MEMORY_ACCESS),
    ("callout token pointer outside memory", Status.INVALID_MEMORY_ACCESS),
    ("callout response headers outside their callback", Status.BAD_ARGUMENT),
    ("foreign function nobody registered", Status.NOT_FOUND),
    ("missing shared data", Status.NOT_FOUND),
    ("unknown queue", Status.NOT_FOUND),
    ("reading a histogram", Status.BAD_ARGUMENT),
    ("reading a counter never defined", Status.NOT_FOUND),
    ("proxy_done without a pending shutdown", Status.NOT_FOUND),
    ("property value outside memory", Status.INVALID_MEMORY_ACCESS),
    ("size of a map that is not mutable here", Status.BAD_ARGUMENT),
    ("body bytes outside memory", Status.INVALID_MEMORY_ACCESS),
]


@pytest.fixture
def raw_answers(make_host: Any) -> list[int]:
    host = make_host()
    plugin = host.load_plugin(PluginConfig(name="raw", module=wat(FIXTURE.read_text())))
    FilterChain(host, [plugin]).run(exchange())
    memory = plugin.instances[0].vm.memory
    data = memory.read(1024, 4 * len(EXPECTED))
    assert data is not None
    return [int.from_bytes(data[index * 4 : index * 4 + 4], "little") for index in range(len(EXPECTED))]


@pytest.mark.parametrize(("index", "case"), list(enumerate(EXPECTED)), ids=[name for name, _ in EXPECTED])
def test_raw_call_answers(raw_answers: list[int], index: int, case: tuple[str, Status]) -> None:
    assert Status(raw_answers[index]) is case[1]
