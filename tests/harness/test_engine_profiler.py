"""MESHVEIL_WASM_PROFILER: wasmtime writes a perf map so `perf` can name module functions."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from harness.host.runtime import PROFILER_ENV, WasmRuntime, engine_config


def test_an_unknown_profiler_is_refused_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILER_ENV, "vtune-please")
    with pytest.raises(ValueError, match=r"PROFILER='vtune-please': choose one of perfmap, jitdump"):
        engine_config()


def test_perfmap_lists_compiled_functions(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PROFILER_ENV, "perfmap")
    runtime = WasmRuntime()
    # wasmtime writes each function it compiles to /tmp/perf-<pid>.map, where perf finds it.
    code = bytes.fromhex(
        "0061736d01000000"  # magic, version
        "010401600000"  # type: () -> ()
        "03020100"  # one function of type 0
        "0a040102000b"  # its body: nothing
    )
    runtime.compile(code)
    perf_map = Path(f"/tmp/perf-{os.getpid()}.map")
    assert "wasm[0]::function[0]" in perf_map.read_text()
