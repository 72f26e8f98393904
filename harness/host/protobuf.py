"""The few protobuf wire-format encodings and decodings the host needs, written out so the
host has no protobuf dependency: Envoy's `node` property (envoy.config.core.v3.Node with a
Struct of string values) and the cluster name inside a GrpcService handed to proxy_grpc_call.
"""

from __future__ import annotations

from controlplane.modules.wasm_binary import encode_u32  # unsigned LEB128 is the protobuf varint

VARINT_BYTES_MAX = 10
WIRE_VARINT = 0
WIRE_FIXED64 = 1
WIRE_LENGTH_DELIMITED = 2
WIRE_FIXED32 = 5


def _length_delimited(field_number: int, payload: bytes) -> bytes:
    return encode_u32(field_number << 3 | WIRE_LENGTH_DELIMITED) + encode_u32(len(payload)) + payload


def _string_value(text: str) -> bytes:
    # google.protobuf.Value { string string_value = 3; }
    return _length_delimited(3, text.encode())


def encode_struct(fields: dict[str, str]) -> bytes:
    """google.protobuf.Struct { map<string, Value> fields = 1; } with string values."""
    entries = b""
    for key in sorted(fields):
        entry = _length_delimited(1, key.encode()) + _length_delimited(2, _string_value(fields[key]))
        entries += _length_delimited(1, entry)
    return entries


def encode_node(node_id: str, cluster: str, metadata: dict[str, str]) -> bytes:
    """envoy.config.core.v3.Node { string id = 1; string cluster = 2; Struct metadata = 3; }"""
    encoded = b""
    if node_id:
        encoded += _length_delimited(1, node_id.encode())
    if cluster:
        encoded += _length_delimited(2, cluster.encode())
    if metadata:
        encoded += _length_delimited(3, encode_struct(metadata))
    return encoded


class WireError(ValueError):
    pass


def _read_varint(data: bytes, offset: int) -> tuple[int, int]:
    value = 0
    for index in range(VARINT_BYTES_MAX):
        if offset + index >= len(data):
            raise WireError("truncated varint")
        byte = data[offset + index]
        value |= (byte & 0x7F) << (7 * index)
        if not byte & 0x80:
            return value, offset + index + 1
    raise WireError("varint too long")


def fields(data: bytes) -> list[tuple[int, int, bytes | int]]:
    """Top-level (field number, wire type, value) triples; raises WireError on bad input."""
    result: list[tuple[int, int, bytes | int]] = []
    offset = 0
    while offset < len(data):
        key, offset = _read_varint(data, offset)
        number, wire = key >> 3, key & 0x7
        if number == 0:
            raise WireError("field number 0")
        if wire == WIRE_VARINT:
            value, offset = _read_varint(data, offset)
            result.append((number, wire, value))
        elif wire == WIRE_LENGTH_DELIMITED:
            length, offset = _read_varint(data, offset)
            if offset + length > len(data):
                raise WireError("truncated field")
            result.append((number, wire, data[offset : offset + length]))
            offset += length
        elif wire in (WIRE_FIXED64, WIRE_FIXED32):
            width = 8 if wire == WIRE_FIXED64 else 4
            if offset + width > len(data):
                raise WireError("truncated fixed field")
            result.append((number, wire, data[offset : offset + width]))
            offset += width
        else:
            raise WireError(f"unsupported wire type {wire}")
    return result


def grpc_service_cluster(data: bytes) -> str | None:
    """envoy.config.core.v3.GrpcService.envoy_grpc (1).cluster_name (1), or None."""
    try:
        for number, wire, value in fields(data):
            if number == 1 and wire == WIRE_LENGTH_DELIMITED and isinstance(value, bytes):
                for inner_number, inner_wire, inner in fields(value):
                    if inner_number == 1 and inner_wire == WIRE_LENGTH_DELIMITED and isinstance(inner, bytes):
                        return inner.decode("utf-8", "replace")
    except WireError:
        return None
    return None
