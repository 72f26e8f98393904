"""Protobuf wire helpers for splicing pre-serialized resources into responses.

Serializing a resource once per version and splicing its bytes into each node's response
is what keeps a push to a thousand streams cheap; protobuf parsers accept fields in any
order, so `bytes(message_without_resources) + spliced fields` is a valid message. The
reader decodes the few fields of the messages every ACK carries, which betterproto would
take hundreds of microseconds for.
"""

from __future__ import annotations

from collections.abc import Iterator

from controlplane.modules.wasm_binary import encode_u32


def encode_varint(value: int) -> bytes:
    """Protobuf varints are unsigned LEB128, as Wasm frames sections; the values written
    here (tags and lengths of messages this service builds) fit 32 bits."""
    return encode_u32(value)


def length_delimited(field_number: int, payload: bytes) -> bytes:
    return encode_varint((field_number << 3) | WIRE_LEN) + encode_varint(len(payload)) + payload


WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LEN = 2
WIRE_FIXED32 = 5
_VARINT_MAX_BYTES = 10
_FIXED_SIZES = {WIRE_FIXED64: 8, WIRE_FIXED32: 4}


def read_varint(data: bytes, offset: int) -> tuple[int, int]:
    """The varint at `offset` and the offset after it."""
    result = 0
    for index in range(_VARINT_MAX_BYTES):
        if offset >= len(data):
            raise ValueError("truncated varint")
        byte = data[offset]
        offset += 1
        result |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return result, offset
    raise ValueError("varint longer than 10 bytes")


def read_fields(data: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field; length-delimited values as bytes.
    Every step consumes at least one byte, so the loop ends; truncation is a ValueError."""
    offset = 0
    while offset < len(data):
        key, offset = read_varint(data, offset)
        number, wire_type = key >> 3, key & 7
        if number == 0:
            raise ValueError("field number 0")
        value: int | bytes
        if wire_type == WIRE_VARINT:
            value, offset = read_varint(data, offset)
        elif wire_type == WIRE_LEN:
            length, offset = read_varint(data, offset)
            if offset + length > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
            value, offset = data[offset : offset + length], offset + length
        elif wire_type in _FIXED_SIZES:
            size = _FIXED_SIZES[wire_type]
            if offset + size > len(data):
                raise ValueError(f"field {number} runs past the end of the message")
            value, offset = data[offset : offset + size], offset + size
        else:
            raise ValueError(f"field {number} has unsupported wire type {wire_type}")
        yield number, wire_type, value
