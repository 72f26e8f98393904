"""The hot path into and out of wasmtime, through its unchecked C API.

wasmtime-py's generic `Func.__call__` looks the function type up and boxes every argument on
every call (about 26 µs); a replay makes tens of calls per exchange, so the host calls
`wasmtime_func_call_unchecked` with a preallocated argument array instead (about 1.6 µs),
and host functions are registered with `wasmtime_func_new_unchecked`, reading their
arguments straight from the raw value array. Everything that touches wasmtime-py internals
(`_bindings`, `Store._context`, `Func._func`, `Memory._memory`) lives in this module, so a
wasmtime upgrade is checked in one place (the version is pinned in pyproject.toml).
"""

from __future__ import annotations

import ctypes
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import wasmtime
from wasmtime import _bindings as ffi

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")
U32_MASK = 0xFFFFFFFF

RawCallback = Callable[[Any], int]
"""A host function: receives the raw value array, writes results into it, returns 0 or a trap."""


class ModuleTrapError(Exception):
    """A call into the module ended in a trap (or an interruption)."""

    def __init__(self, message: str, code: wasmtime.TrapCode | None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code

    @property
    def interrupted(self) -> bool:
        return self.code is wasmtime.TrapCode.INTERRUPT


class HostCallAbortError(Exception):
    """Raised inside a host function to unwind the guest with a trap carrying `reason`."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class PendingHostFailure:
    """The Python exception a host function raised, kept until the guest call unwinds."""

    error: BaseException | None = None


class EpochDeadline:
    """Sets a store's epoch deadline with one C call (wasmtime-py's wrapper costs ~3 µs)."""

    __slots__ = ("_context",)

    def __init__(self, store: wasmtime.Store) -> None:
        self._context = store._context()

    def set(self, epochs: int) -> None:
        ffi._wasmtime_context_set_epoch_deadline(self._context, epochs)


def new_trap(message: str) -> int:
    """A fresh trap pointer (as an integer) that a raw host function may return."""
    encoded = message.encode("utf-8", "replace")
    trap = ffi.wasmtime_trap_new(encoded, len(encoded))
    address = ctypes.cast(trap, ctypes.c_void_p).value
    assert address is not None
    return address


def define_raw_function(
    store: wasmtime.Store,
    func_type: wasmtime.FuncType,
    callback: RawCallback,
    failure: PendingHostFailure,
) -> tuple[wasmtime.Func, Any]:
    """A host function whose `callback` reads and writes the raw value array directly.

    Returns the Func and the ctypes trampoline, which the caller must keep alive as long as
    the store lives (ctypes frees a callback object once nothing references it).
    """

    def trampoline(_env: Any, _caller: Any, values: Any, _count: int) -> int:
        try:
            return callback(values)
        except HostCallAbortError as abort:
            return new_trap(abort.reason)
        except BaseException as error:  # a host bug must unwind the guest, not crash the process
            failure.error = error
            return new_trap(f"host function failed: {type(error).__name__}: {error}")

    raw = ffi.wasmtime_func_unchecked_callback_t(trampoline)
    handle = ffi.wasmtime_func_t()
    ffi.wasmtime_func_new_unchecked(
        store._context(), func_type.ptr(), raw, None, _NO_FINALIZER, ctypes.byref(handle)
    )
    return wasmtime.Func._from_raw(handle), raw


def _no_finalizer(_data: Any) -> None:
    """The environment pointer is always NULL; there is nothing to free."""


_NO_FINALIZER = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_no_finalizer)


class ExportedFunction:
    """One module export, pre-bound to its store with a reusable argument array."""

    __slots__ = ("_args", "_context", "_handle", "_trap", "_trap_ref", "name", "param_count", "result_count")

    def __init__(self, store: wasmtime.Store, func: wasmtime.Func, name: str) -> None:
        func_type = func.type(store)
        self.name = name
        self.param_count = len(func_type.params)
        self.result_count = len(func_type.results)
        self._context = store._context()
        self._handle = ctypes.byref(func._func)
        self._args = (ffi.wasmtime_val_raw * max(self.param_count, self.result_count, 1))()
        self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
        self._trap_ref = ctypes.byref(self._trap)

    def call(self, *args: int) -> int:
        """Calls with i32/i64 arguments; answers the first result (0 when there is none).

        Raises ModuleTrapError when the module traps or is interrupted.
        """
        assert len(args) == self.param_count, f"{self.name}: {len(args)} args for {self.param_count} params"
        values = self._args
        for index, value in enumerate(args):
            values[index].i64 = value
        error = ffi._wasmtime_func_call_unchecked(
            self._context, self._handle, values, len(values), self._trap_ref
        )
        if error or self._trap:
            self._raise(error)
        if self.result_count == 0:
            return 0
        return values[0].i64 & U32_MASK

    def _raise(self, error: Any) -> None:
        if self._trap:
            trap = wasmtime.Trap._from_ptr(self._trap)
            # A fresh slot: the trap object now owns the old pointer.
            self._trap = ctypes.POINTER(ffi.wasm_trap_t)()
            self._trap_ref = ctypes.byref(self._trap)
            raise ModuleTrapError(describe_trap(trap), trap.trap_code)
        raise ModuleTrapError(_cause(str(wasmtime.WasmtimeError._from_ptr(error))), None)


def _cause(message: str) -> str:
    """wasmtime puts the backtrace first and the reason after "Caused by:"."""
    _head, marker, tail = message.partition("Caused by:")
    text = tail if marker else message
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    return lines[0] if lines else message.strip()


def describe_trap(trap: wasmtime.Trap) -> str:
    """'wasm trap: wasm `unreachable` instruction executed (in parse_body)'."""
    reason = _cause(trap.message)
    names = [frame.func_name for frame in trap.frames if frame.func_name]
    return f"{reason} (in {names[0]})" if names else reason


class GuestMemory:
    """Bounds-checked access to a module's linear memory.

    The memory may grow (and in principle move) during any call into the module, so every
    access re-reads base and size; both are one C call each.
    """

    __slots__ = ("_context", "_handle")

    def __init__(self, store: wasmtime.Store, memory: wasmtime.Memory) -> None:
        self._context = store._context()
        self._handle = ctypes.byref(memory._memory)

    @property
    def size(self) -> int:
        return int(ffi._wasmtime_memory_data_size(self._context, self._handle))

    def _base(self) -> int:
        pointer = ffi._wasmtime_memory_data(self._context, self._handle)
        return ctypes.cast(pointer, ctypes.c_void_p).value or 0

    def in_bounds(self, address: int, length: int) -> bool:
        return address >= 0 and length >= 0 and address + length <= self.size

    def read(self, address: int, length: int) -> bytes | None:
        """The bytes, or None when the range is outside memory."""
        if length == 0:
            return b""
        if not self.in_bounds(address, length):
            return None
        return ctypes.string_at(self._base() + address, length)

    def write(self, address: int, data: bytes) -> bool:
        if not data:
            return self.in_bounds(address, 0)
        if not self.in_bounds(address, len(data)):
            return False
        ctypes.memmove(self._base() + address, data, len(data))
        return True

    def write_u32(self, address: int, value: int) -> bool:
        return self.write(address, _U32.pack(value & U32_MASK))

    def write_u64(self, address: int, value: int) -> bool:
        return self.write(address, _U64.pack(value & 0xFFFFFFFFFFFFFFFF))

    def read_u32(self, address: int) -> int | None:
        data = self.read(address, 4)
        return None if data is None else int(_U32.unpack(data)[0])
