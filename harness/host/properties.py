"""Answers for proxy_get_property, shaped like Envoy's attribute tree and serialised the way
Envoy's `serializeValue` does: strings and bytes as-is, int/uint as 8 little-endian bytes,
bools as one byte, doubles as 8 bytes, durations and timestamps as int64 nanoseconds, maps
and lists as pairs (lists with empty values), protobuf messages in wire format.

A path is NUL-separated segments (the SDKs join ["request", "path"] as "request\\0path");
Envoy does not split on dots, so neither does this. The first segment picks a top-level
attribute; later ones index maps, message fields and lists. A top-level name that is no
attribute is looked up in the stream's filter state under "wasm.<name>", where
proxy_set_property stores values.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from harness.host.config import HostConfig
from harness.host.context import Context, StreamInfo
from harness.host.header_map import HeaderMap
from harness.host.pairs import encode_text, serialize
from harness.host.protobuf import encode_node
from harness.host.types import Status

FILTER_STATE_PREFIX = b"wasm."


@dataclass(frozen=True)
class Int:
    value: int


@dataclass(frozen=True)
class UInt:
    value: int


@dataclass(frozen=True)
class Duration:
    nanos: int


@dataclass(frozen=True)
class Timestamp:
    nanos: int


@dataclass(frozen=True)
class Message:
    """A protobuf message: readable field by field, serialised whole as `encoded`."""

    fields: dict[str, PropertyValue]
    encoded: bytes


PropertyValue = (
    str
    | bytes
    | bool
    | float
    | Int
    | UInt
    | Duration
    | Timestamp
    | Message
    | dict[str, "PropertyValue"]
    | list["PropertyValue"]
)

_I64 = struct.Struct("<q")
_U64 = struct.Struct("<Q")
_F64 = struct.Struct("<d")

# Connection facts an exchange may carry, with the attribute type Envoy gives them.
_TYPED_FACTS: dict[str, Callable[[str], PropertyValue]] = {
    "source.port": lambda text: Int(int(text)),
    "destination.port": lambda text: Int(int(text)),
    "upstream.port": lambda text: Int(int(text)),
    "connection.id": lambda text: UInt(int(text)),
    "connection.mtls": lambda text: text.lower() in ("1", "true", "yes"),
    "response.code": lambda text: Int(int(text)),
    "request.size": lambda text: Int(int(text)),
}


def serialize_value(value: PropertyValue) -> bytes:
    encoder = _ENCODERS.get(type(value))
    if encoder is None:
        raise TypeError(f"no serialisation for {type(value).__name__}")
    return encoder(value)


def _encode_map(value: PropertyValue) -> bytes:
    assert isinstance(value, dict)
    return serialize((encode_text(key), serialize_value(item)) for key, item in value.items())


def _encode_list(value: PropertyValue) -> bytes:
    assert isinstance(value, list)
    return serialize((serialize_value(item), b"") for item in value)


_ENCODERS: dict[type, Callable[[Any], bytes]] = {
    str: encode_text,
    bytes: bytes,
    bool: lambda value: b"\x01" if value else b"\x00",
    float: _F64.pack,
    Int: lambda value: _I64.pack(value.value),
    UInt: lambda value: _U64.pack(value.value),
    Duration: lambda value: _I64.pack(value.nanos),
    Timestamp: lambda value: _I64.pack(value.nanos),
    Message: lambda value: value.encoded,
    dict: _encode_map,
    list: _encode_list,
}


def resolve(context: Context, path: bytes) -> tuple[Status, bytes]:
    """The serialised value at `path` as seen from `context`, or NOT_FOUND."""
    segments = path.split(b"\x00")
    text_path = "\x00".join(segment.decode("utf-8", "surrogateescape") for segment in segments)
    override = _override(context, text_path)
    if override is not None:
        return Status.OK, override
    value = _top_level(context, segments[0].decode("utf-8", "surrogateescape"))
    for segment in segments[1:]:
        if value is None:
            break
        value = _step(value, segment.decode("utf-8", "surrogateescape"))
    if value is None:
        return Status.NOT_FOUND, b""
    return Status.OK, serialize_value(value)


def set_property(context: Context, path: bytes, value: bytes) -> Status:
    """Envoy keeps set properties in the stream's filter state; without a stream: NOT_FOUND."""
    if context.stream is None:
        return Status.NOT_FOUND
    context.stream.filter_state[FILTER_STATE_PREFIX + path] = value
    return Status.OK


def _override(context: Context, text_path: str) -> bytes | None:
    stream = context.stream
    if stream is not None:
        fact = stream.connection.get(text_path.replace("\x00", "."))
        if fact is not None:
            typed = _TYPED_FACTS.get(text_path.replace("\x00", "."))
            return serialize_value(typed(fact) if typed else fact)
    configured = context.vm.services.config.properties
    return configured.get(text_path) or configured.get(text_path.replace("\x00", "."))


def _step(value: PropertyValue, segment: str) -> PropertyValue | None:
    if isinstance(value, dict):
        return value.get(segment)
    if isinstance(value, Message):
        return value.fields.get(segment)
    if isinstance(value, list):
        if not segment.isdigit() or int(segment) >= len(value):
            return None
        return value[int(segment)]
    return None


def _top_level(context: Context, name: str) -> PropertyValue | None:
    plugin_wide = _PLUGIN_ATTRIBUTES.get(name)
    if plugin_wide is not None:
        return plugin_wide(context)
    stream = context.stream
    if stream is None:
        return None
    provider = _STREAM_ATTRIBUTES.get(name)
    if provider is not None:
        return provider(context, stream)
    return stream.filter_state.get(FILTER_STATE_PREFIX + name.encode("utf-8", "surrogateescape"))


def _plugin_name(context: Context) -> PropertyValue | None:
    return context.plugin.config.name if context.plugin is not None else None


def _plugin_root_id(context: Context) -> PropertyValue | None:
    return context.plugin.config.root_id if context.plugin is not None else ""


def _plugin_vm_id(context: Context) -> PropertyValue | None:
    vm_id: str = context.vm.settings.vm_id
    return vm_id


def _listener_direction(context: Context) -> PropertyValue | None:
    return Int(context.vm.services.config.listener_direction) if context.plugin is not None else None


def _listener_metadata(context: Context) -> PropertyValue | None:
    return _EMPTY_METADATA if context.plugin is not None else None


StreamAttribute = Callable[[Context, StreamInfo], PropertyValue | None]


def _filter_state(info: StreamInfo) -> dict[str, PropertyValue]:
    return {key.decode("utf-8", "surrogateescape"): value for key, value in info.filter_state.items()}


_EMPTY_METADATA = Message(fields={"filter_metadata": {}}, encoded=b"")


def _node(context: Context) -> Message:
    config = context.vm.services.config
    metadata: dict[str, PropertyValue] = dict(config.node_metadata.items())
    return Message(
        fields={"id": config.node_id, "cluster": config.node_cluster, "metadata": metadata},
        encoded=encode_node(config.node_id, config.node_cluster, config.node_metadata),
    )


def _xds(context: Context) -> dict[str, PropertyValue]:
    config = context.vm.services.config
    values: dict[str, PropertyValue] = {
        "node": _node(context),
        "listener_direction": Int(config.listener_direction),
        "listener_metadata": _EMPTY_METADATA,
    }
    if context.stream is not None:
        values.update(
            {
                "cluster_name": config.cluster_name,
                "cluster_metadata": _EMPTY_METADATA,
                "route_name": config.route_name,
                "route_metadata": _EMPTY_METADATA,
                "upstream_host_metadata": _EMPTY_METADATA,
                "virtual_host_name": config.virtual_host_name,
                "virtual_host_metadata": _EMPTY_METADATA,
            }
        )
    return values


def _headers_as_map(headers: HeaderMap) -> dict[str, PropertyValue]:
    # Envoy joins repeated headers with commas in request.headers / response.headers.
    joined: dict[str, str] = {}
    for name, value in headers.to_headers():
        previous = joined.get(name)
        joined[name] = value if previous is None else f"{previous},{value}"
    return dict(joined)


def _request(info: StreamInfo) -> dict[str, PropertyValue] | None:
    headers = info.request_headers
    values: dict[str, PropertyValue] = {
        "time": Timestamp(info.start_wall_nanos),
        "protocol": info.connection.get("request.protocol", "HTTP/1.1"),
        "size": Int(info.request_body_bytes),
        "total_size": Int(info.request_body_bytes + (headers.byte_size if headers is not None else 0)),
    }
    if info.end_wall_nanos is not None:
        values["duration"] = Duration(info.end_wall_nanos - info.start_wall_nanos)
    if headers is None:
        return values
    path = headers.get(":path")
    fields = {
        "path": path,
        "url_path": path.split("?", 1)[0] if path is not None else None,
        "query": path.split("?", 1)[1] if path is not None and "?" in path else None,
        "host": headers.get(":authority"),
        "scheme": headers.get(":scheme"),
        "method": headers.get(":method"),
        "referer": headers.get("referer"),
        "useragent": headers.get("user-agent"),
        "id": headers.get("x-request-id"),
    }
    values.update({key: value for key, value in fields.items() if value is not None})
    values["headers"] = _headers_as_map(headers)
    return values


def _response(info: StreamInfo) -> dict[str, PropertyValue] | None:
    headers = info.response_headers
    if headers is None:
        return None
    values: dict[str, PropertyValue] = {
        "headers": _headers_as_map(headers),
        "flags": UInt(0),
        "size": Int(info.response_body_bytes),
        "total_size": Int(info.response_body_bytes + headers.byte_size),
        "code_details": info.response_code_details,
    }
    status = headers.get(":status")
    if status is not None and status.isdigit():
        values["code"] = Int(int(status))
    trailers = info.response_trailers
    values["trailers"] = _headers_as_map(trailers) if trailers is not None else {}
    grpc_status = (trailers.get("grpc-status") if trailers is not None else None) or headers.get(
        "grpc-status"
    )
    if grpc_status is not None and grpc_status.isdigit():
        values["grpc_status"] = Int(int(grpc_status))
    return values


def _peer(info: StreamInfo, prefix: str, default_address: str) -> dict[str, PropertyValue]:
    address = info.connection.get(f"{prefix}.address", default_address)
    values: dict[str, PropertyValue] = {"address": address}
    _host, separator, port = address.rpartition(":")
    if separator and port.isdigit():
        values["port"] = Int(int(port))
    for key, fact in info.connection.items():
        if key.startswith(prefix + "."):
            field = key[len(prefix) + 1 :]
            typed = _TYPED_FACTS.get(key)
            values[field] = typed(fact) if typed else fact
    return values


def _connection(info: StreamInfo) -> dict[str, PropertyValue]:
    values: dict[str, PropertyValue] = {"id": UInt(info.connection_id), "mtls": False}
    for key, fact in info.connection.items():
        if key.startswith("connection."):
            typed = _TYPED_FACTS.get(key)
            values[key[len("connection.") :]] = typed(fact) if typed else fact
    return values


_PLUGIN_ATTRIBUTES: dict[str, Callable[[Context], PropertyValue | None]] = {
    "plugin_name": _plugin_name,
    "plugin_root_id": _plugin_root_id,
    "plugin_vm_id": _plugin_vm_id,
    "node": _node,
    "listener_direction": _listener_direction,
    "listener_metadata": _listener_metadata,
    "xds": _xds,
}


def _config(context: Context) -> HostConfig:
    return context.vm.services.config


def _source(context: Context, info: StreamInfo) -> PropertyValue | None:
    return _peer(info, "source", _config(context).downstream_address)


def _destination(context: Context, info: StreamInfo) -> PropertyValue | None:
    return _peer(info, "destination", _config(context).listener_address)


def _upstream(context: Context, info: StreamInfo) -> PropertyValue | None:
    return _peer(info, "upstream", _config(context).upstream_address)


_STREAM_ATTRIBUTES: dict[str, StreamAttribute] = {
    "request": lambda _context, info: _request(info),
    "response": lambda _context, info: _response(info),
    "source": _source,
    "destination": _destination,
    "upstream": _upstream,
    "connection": lambda _context, info: _connection(info),
    "connection_id": lambda _context, info: UInt(info.connection_id),
    "cluster_name": lambda context, _info: _config(context).cluster_name,
    "route_name": lambda context, _info: _config(context).route_name,
    "cluster_metadata": lambda _context, _info: _EMPTY_METADATA,
    "route_metadata": lambda _context, _info: _EMPTY_METADATA,
    "upstream_host_metadata": lambda _context, _info: _EMPTY_METADATA,
    "metadata": lambda _context, _info: _EMPTY_METADATA,
    "filter_state": lambda _context, info: _filter_state(info),
}
