"""The wasmtime engine shared by a host's VMs: compiled-module cache and the epoch ticker
that makes per-callback deadlines possible.

Deadlines use wasmtime's epoch interruption: a daemon thread bumps the engine's epoch every
EPOCH_INTERVAL_SECONDS, and each call into a module sets its deadline a number of epochs
ahead. (Calls into wasmtime release the GIL, so the ticker runs while a module loops.)
"""

from __future__ import annotations

import hashlib
import math
import os
import threading
import time
from dataclasses import dataclass

import wasmtime

from harness.host.module_info import ModuleInfo, inspect_module

EPOCH_INTERVAL_SECONDS = 0.005
PROFILER_ENV = "MESHVEIL_WASM_PROFILER"
"""Set to perfmap or jitdump so `perf record` names the modules' functions (build them
unstripped to see Zig names; see docs/profiling.md)."""
PROFILERS = ("perfmap", "jitdump")


def engine_config() -> wasmtime.Config:
    """A wasmtime config with the profiler PROFILER_ENV asks for, if any."""
    config = wasmtime.Config()
    profiler = os.environ.get(PROFILER_ENV, "")
    if profiler:
        if profiler not in PROFILERS:
            raise ValueError(f"{PROFILER_ENV}={profiler!r}: choose one of {', '.join(PROFILERS)}")
        config.profiler = profiler
    return config


@dataclass(frozen=True)
class CompiledModule:
    module: wasmtime.Module
    info: ModuleInfo
    sha256: str
    code: bytes


class WasmRuntime:
    """One engine; modules compiled once per runtime and shared by every VM that loads them."""

    def __init__(self) -> None:
        config = engine_config()
        config.epoch_interruption = True
        self.engine = wasmtime.Engine(config)
        self._modules: dict[str, CompiledModule] = {}
        self._stop = threading.Event()
        self._ticker: threading.Thread | None = None
        self._lock = threading.Lock()

    def compile(self, code: bytes) -> CompiledModule:
        """Compiles (or returns the cached) module; raises ValueError naming what is wrong."""
        digest = hashlib.sha256(code).hexdigest()
        cached = self._modules.get(digest)
        if cached is not None:
            return cached
        try:
            module = wasmtime.Module(self.engine, code)
        except wasmtime.WasmtimeError as error:
            raise ValueError(f"not a valid WebAssembly module: {_first_line(str(error))}") from error
        compiled = CompiledModule(module=module, info=inspect_module(module), sha256=digest, code=code)
        self._modules[digest] = compiled
        return compiled

    def deadline_epochs(self, milliseconds: int) -> int:
        """Epochs to allow for a callback budget; +1 because the current epoch is partly gone."""
        self._ensure_ticker()
        return max(1, math.ceil(milliseconds / 1000 / EPOCH_INTERVAL_SECONDS)) + 1

    def _ensure_ticker(self) -> None:
        if self._ticker is not None:
            return
        with self._lock:
            if self._ticker is None:
                self._ticker = threading.Thread(target=self._tick, name="meshveil-epoch-ticker", daemon=True)
                self._ticker.start()

    def _tick(self) -> None:
        # Epochs follow elapsed time, not wake-ups: a late wake-up (a busy machine) catches
        # up, so a deadline is not stretched by scheduling delays.
        started = time.monotonic()
        epochs = 0
        while not self._stop.wait(EPOCH_INTERVAL_SECONDS):
            due = int((time.monotonic() - started) / EPOCH_INTERVAL_SECONDS)
            while epochs < due:
                self.engine.increment_epoch()
                epochs += 1

    def close(self) -> None:
        self._stop.set()
        if self._ticker is not None:
            self._ticker.join(timeout=1.0)


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0]
