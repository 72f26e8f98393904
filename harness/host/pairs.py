"""The proxy-Wasm pairs serialisation (the same format as filters/abi/header_map.zig):
a little-endian u32 count, then (key size, value size) u32 pairs, then each key and value
followed by a NUL byte.

Parsing follows proxy-wasm-cpp-host's `toPairs`: a buffer too short for its count yields no
pairs rather than an error (Envoy then acts on an empty map), and sizes that run past the
end are refused here instead of being read out of bounds.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable

_U32 = struct.Struct("<I")
_SIZES = struct.Struct("<II")

BytePairs = list[tuple[bytes, bytes]]


def serialize(pairs: Iterable[tuple[bytes, bytes]]) -> bytes:
    items = list(pairs)
    parts = [_U32.pack(len(items))]
    parts.extend(_SIZES.pack(len(key), len(value)) for key, value in items)
    for key, value in items:
        parts.extend((key, b"\x00", value, b"\x00"))
    return b"".join(parts)


def parse(data: bytes) -> BytePairs:
    """Pairs from `data`; malformed input gives what cpp-host gives: an empty list."""
    if len(data) < 4:
        return []
    (count,) = _U32.unpack_from(data, 0)
    sizes_end = 4 + count * 8
    if sizes_end > len(data):
        return []
    sizes = [_SIZES.unpack_from(data, 4 + index * 8) for index in range(count)]
    result: BytePairs = []
    offset = sizes_end
    for key_size, value_size in sizes:
        key_end = offset + key_size
        value_start = key_end + 1
        value_end = value_start + value_size
        if value_end + 1 > len(data):
            return []
        result.append((data[offset:key_end], data[value_start:value_end]))
        offset = value_end + 1
    return result


def encode_text(text: str) -> bytes:
    """Header text to the bytes a module sees; surrogate escapes round-trip arbitrary bytes."""
    return text.encode("utf-8", "surrogateescape")


def decode_text(data: bytes) -> str:
    return data.decode("utf-8", "surrogateescape")
