"""Buffers a module reads and writes through proxy_get/set_buffer_bytes.

A `BodyBuffer` is a mutable HTTP body or TCP data chunk with the `copyFrom` semantics of
Envoy's `Buffer` wrapper (context.cc): start=0 with size=0 prepends, start=0 with a size at
least the buffer length replaces everything, start at or past the end appends, and any
other window is BAD_ARGUMENT. A `FixedBuffer` holds configuration, call data or a callout
response; writing it is BAD_ARGUMENT, as for cpp-host's string-backed `BufferBase`.
"""

from __future__ import annotations

from harness.host.types import Status


class BodyBuffer:
    __slots__ = ("data",)

    def __init__(self, data: bytes = b"") -> None:
        self.data = bytearray(data)

    def __len__(self) -> int:
        return len(self.data)

    def read(self, start: int, length: int) -> bytes:
        return bytes(self.data[start : start + length])

    def copy_from(self, start: int, length: int, value: bytes) -> Status:
        size = len(self.data)
        if start == 0:
            if length == 0:
                self.data[0:0] = value
                return Status.OK
            if length >= size:
                self.data[:] = value
                return Status.OK
            return Status.BAD_ARGUMENT
        if start >= size:
            self.data.extend(value)
            return Status.OK
        return Status.BAD_ARGUMENT


class FixedBuffer:
    __slots__ = ("data",)

    def __init__(self, data: bytes) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def read(self, start: int, length: int) -> bytes:
        return self.data[start : start + length]

    def copy_from(self, start: int, length: int, value: bytes) -> Status:
        del start, length, value
        return Status.BAD_ARGUMENT


Buffer = BodyBuffer | FixedBuffer
