"""Reading arguments from and writing results to wasmtime's raw value array."""

from __future__ import annotations

from typing import Any

U32_MASK = 0xFFFFFFFF

RawValues = Any
"""ctypes array of wasmtime_val_raw: index i holds parameter i; index 0 receives the result."""


def u32(values: RawValues, index: int) -> int:
    return int(values[index].i32) & U32_MASK


def i32(values: RawValues, index: int) -> int:
    return int(values[index].i32)


def i64(values: RawValues, index: int) -> int:
    return int(values[index].i64)


def u64(values: RawValues, index: int) -> int:
    return int(values[index].i64) & 0xFFFFFFFFFFFFFFFF
