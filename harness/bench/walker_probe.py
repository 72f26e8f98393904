"""Drives the walker probe (filters/testdata/walker_probe.zig) in wasmtime: the Zig body
walkers and mask operations, compiled for wasm32 as the filters are, called directly.

The tests check what it writes against independent decoders; `meshveil bench walkers`
times it."""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum, IntFlag

import wasmtime


class Format(IntEnum):
    JSON = 1
    JSON_LINES = 2
    FORM = 3
    TEXT = 4
    EVENT_STREAM = 5
    GRPC = 6
    QUERY = 7
    COOKIE = 8


class DigitsAction(IntEnum):
    """What the probe does with detector 1 (digit runs of 9+ digits)."""

    PARTIAL = 0
    REDACT = 1
    HASH = 2
    FORMAT_PRESERVING = 3
    DROP = 4
    NONE = 5


class Option(IntFlag):
    NONE = 0
    SCAN_NUMBERS = 1 << 3
    HOLD_MEMBERS = 1 << 4
    GZIP_BODY = 1 << 5
    DECODE_ONLY = 1 << 6
    GZIP_MESSAGES = 1 << 7
    LZ77 = 1 << 8
    """Re-encode with LZ77 and Huffman (std level fast) instead of Huffman only."""


class ProbeError(Exception):
    """The probe refused the input; `name` is the Zig error's name."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.name = name


@dataclass(frozen=True)
class Stats:
    findings: int
    masked: int
    dropped: int
    unmasked: int


class WalkerProbe:
    def __init__(self, path: str) -> None:
        engine = wasmtime.Engine()
        module = wasmtime.Module.from_file(engine, path)
        self._store = wasmtime.Store(engine)
        linker = wasmtime.Linker(engine)
        i32 = wasmtime.ValType.i32()
        # The probe imports proxy_log only (a panic message); keep the last one for errors.
        self.last_log = ""
        linker.define_func("env", "proxy_log", wasmtime.FuncType([i32, i32, i32], [i32]), self._log)
        self._instance = linker.instantiate(self._store, module)
        exports = self._instance.exports(self._store)
        memory = exports["memory"]
        assert isinstance(memory, wasmtime.Memory)
        self._memory = memory
        self._exports = exports

    def _log(self, level: int, address: int, length: int) -> int:
        self.last_log = self._read(address, length).decode("utf-8", "replace")
        return 0

    def _call(self, name: str, *args: int) -> int:
        function = self._exports[name]
        assert isinstance(function, wasmtime.Func)
        result = function(self._store, *args)
        assert isinstance(result, int)
        return result

    def _read(self, address: int, length: int) -> bytes:
        return bytes(self._memory.read(self._store, address, address + length))

    def mask(
        self,
        data: bytes,
        fmt: Format,
        *,
        chunk_len: int = 0,
        action: DigitsAction = DigitsAction.PARTIAL,
        options: Option = Option.NONE,
    ) -> bytes:
        """`data` through the probe, fed in chunks of `chunk_len` bytes (0: in one)."""
        address = self._call("walker_probe_input", len(data))
        if address == 0:
            raise ValueError(f"input of {len(data)} bytes is larger than the probe accepts")
        self._memory.write(self._store, data, address)
        flags = int(action) | int(options)
        result = self._call("walker_probe_run", int(fmt), len(data), chunk_len or len(data) or 1, flags)
        output = self._call("walker_probe_output")
        if result < 0:
            raise ProbeError(self._read(output, -result).decode("ascii"))
        return self._read(output, result)

    def stats(self) -> Stats:
        findings, masked, dropped, unmasked = (self._call("walker_probe_stat", index) for index in range(4))
        return Stats(findings, masked, dropped, unmasked)
