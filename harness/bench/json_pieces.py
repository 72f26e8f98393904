"""A JSON body as the filters' JSON walker hands it to the engine: one record per key
and per string value, each value with the key of its nearest enclosing object member
(the context the filters scan it with, `key: value`). Numbers, booleans and nulls are
left out, as the default policy leaves them.

Record layout (what the scan probe's `meshveil_bench_pieces` reads): the key's length
and the value's length as little-endian u16, then the key's bytes and the value's.
"""

from __future__ import annotations

import json
import struct

RECORD_HEADER = struct.Struct("<HH")
KEY_BYTES_MAX = 64
"""The walker keeps at most this much of a key as context (walker.context_key_bytes_max)."""
VALUE_BYTES_MAX = 4096
"""The walker hands longer values over in pieces of this size (walker.piece_bytes_max)."""


def json_pieces(body: bytes) -> list[tuple[bytes, bytes]]:
    """(context key, value) per piece the walker scans, in document order."""
    pieces: list[tuple[bytes, bytes]] = []
    _walk(json.loads(body), b"", pieces)
    return pieces


def encode_pieces(pieces: list[tuple[bytes, bytes]]) -> bytes:
    records = bytearray()
    for full_key, value in pieces:
        key = full_key[:KEY_BYTES_MAX]
        for start in range(0, max(len(value), 1), VALUE_BYTES_MAX):
            part = value[start : start + VALUE_BYTES_MAX]
            records += RECORD_HEADER.pack(len(key), len(part)) + key + part
    return bytes(records)


def _walk(node: object, key: bytes, pieces: list[tuple[bytes, bytes]]) -> None:
    if isinstance(node, dict):
        for name, child in node.items():
            encoded = name.encode()
            pieces.append((b"", encoded))
            _walk(child, encoded, pieces)
    elif isinstance(node, list):
        for child in node:
            _walk(child, key, pieces)
    elif isinstance(node, str):
        pieces.append((key, node.encode()))
