"""Protobuf wire format read without a schema, as `protoc --decode_raw` shows it:
field numbers with varints, fixed-width numbers, strings, and nested messages.

Used to show gRPC payloads when no descriptor set was given. Nesting is followed to
MAX_DEPTH levels; deeper length-delimited fields are shown as bytes.
"""

from __future__ import annotations

import json

MAX_DEPTH = 8
_MAX_VARINT_BYTES = 10
_WIRE_VARINT, _WIRE_FIXED64, _WIRE_LENGTH, _WIRE_FIXED32 = 0, 1, 2, 5


class _NotAMessageError(Exception):
    pass


def decode_raw_lines(data: bytes, depth: int = 0) -> list[str] | None:
    """Lines like `1: "u-42"`, `3: 41`, `4 {` … `}`; None when `data` is not a whole message."""
    assert 0 <= depth <= MAX_DEPTH
    try:
        return _fields(data, depth)
    except _NotAMessageError:
        return None


def _fields(data: bytes, depth: int) -> list[str]:
    lines: list[str] = []
    offset = 0
    while offset < len(data):
        key, offset = _varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise _NotAMessageError
        if wire_type == _WIRE_VARINT:
            value, offset = _varint(data, offset)
            lines.append(f"{number}: {value}")
        elif wire_type in (_WIRE_FIXED64, _WIRE_FIXED32):
            width = 8 if wire_type == _WIRE_FIXED64 else 4
            if offset + width > len(data):
                raise _NotAMessageError
            value = int.from_bytes(data[offset : offset + width], "little")
            lines.append(f"{number}: 0x{value:0{width * 2}x}")
            offset += width
        elif wire_type == _WIRE_LENGTH:
            length, offset = _varint(data, offset)
            if offset + length > len(data):
                raise _NotAMessageError
            lines.extend(_length_delimited(number, data[offset : offset + length], depth))
            offset += length
        else:
            # Groups (3, 4) are deprecated and rare; treat them as not decodable.
            raise _NotAMessageError
    return lines


def _length_delimited(number: int, payload: bytes, depth: int) -> list[str]:
    text = _printable(payload)
    if text is not None:
        return [f"{number}: {json.dumps(text, ensure_ascii=False)}"]
    nested = decode_raw_lines(payload, depth + 1) if depth < MAX_DEPTH and payload else None
    if nested:
        return [f"{number} {{", *(f"  {line}" for line in nested), "}"]
    return [f"{number}: 0x{payload.hex()}"]


def _printable(payload: bytes) -> str | None:
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if all(character.isprintable() for character in text):
        return text
    return None


def _varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for index in range(_MAX_VARINT_BYTES):
        if offset + index >= len(data):
            raise _NotAMessageError
        byte = data[offset + index]
        value |= (byte & 0x7F) << (7 * index)
        if byte < 0x80:
            return value, offset + index + 1
    raise _NotAMessageError
