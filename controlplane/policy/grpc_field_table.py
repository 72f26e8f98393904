"""gRPC field names for the filters: a descriptor set compiled to the "MVFT" field table.

Without a schema the protobuf walker names a finding's field by numbers (`2.1`); with
this table, carried in the signed filter config, it says `card.number` and knows which
length-delimited fields are strings, bytes or nested messages. The binary layout is the
one `filters/walkers/protobuf.zig` (`FieldTable.parse`) reads:

    "MVFT" u8 version(=1)
    u16 method_count, then per method:  u16 path_len, path, u16 request, u16 response
    u16 message_count
    u32 field_count, then per field:    u16 message, u32 number, u8 kind, u16 child,
                                        u8 name_len, name

all little-endian, fields sorted by (message, number). Only the message types a method
reaches (through its request, its response and their message fields) are included, so
a large descriptor set with `--include_imports` does not bloat the config.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from enum import IntEnum

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.descriptor import Descriptor, FieldDescriptor
from google.protobuf.message import DecodeError

MAGIC = b"MVFT"
VERSION = 1
METHODS_MAX = 256
"""Bounds the filters size their fixed tables by (filters/pipeline/config.zig)."""
MESSAGES_MAX = 1024
FIELDS_MAX = 8192
NAME_BYTES_MAX = 255


class FieldKind(IntEnum):
    SCALAR = 0
    STRING = 1
    BYTES = 2
    MESSAGE = 3


class FieldTableError(ValueError):
    """A descriptor set that cannot become a field table; the message says which part."""


@dataclass(frozen=True)
class MethodEntry:
    path: str
    """The gRPC `:path`, `/package.Service/Method`."""
    request: int
    response: int


@dataclass(frozen=True)
class FieldEntry:
    message: int
    number: int
    kind: FieldKind
    child: int
    name: str


@dataclass(frozen=True)
class FieldTable:
    methods: tuple[MethodEntry, ...]
    messages: tuple[str, ...]
    """Full names of the message types, by index."""
    fields: tuple[FieldEntry, ...]

    def encode(self) -> bytes:
        out = bytearray(MAGIC)
        out += struct.pack("<BH", VERSION, len(self.methods))
        for method in self.methods:
            path = method.path.encode("ascii")
            out += struct.pack("<H", len(path)) + path + struct.pack("<HH", method.request, method.response)
        out += struct.pack("<HI", len(self.messages), len(self.fields))
        for field in self.fields:
            name = field.name.encode("ascii")
            out += struct.pack("<HIBHB", field.message, field.number, field.kind, field.child, len(name))
            out += name
        return bytes(out)


@dataclass(frozen=True)
class DescriptorSet:
    files: descriptor_pb2.FileDescriptorSet
    pool: descriptor_pool.DescriptorPool
    """Every file of `files`, imports resolved."""


def parse_descriptor_set(data: bytes, source: str) -> DescriptorSet:
    """A serialised `FileDescriptorSet` and a pool holding every file of it."""
    files = descriptor_pb2.FileDescriptorSet()
    try:
        files.ParseFromString(data)
    except DecodeError as error:
        raise FieldTableError(f"{source}: not a FileDescriptorSet ({error})") from error
    if not files.file:
        raise FieldTableError(f"{source}: the descriptor set holds no files")
    pool = descriptor_pool.DescriptorPool()
    for file_proto in files.file:
        try:
            pool.Add(file_proto)
        except (TypeError, ValueError) as error:
            raise FieldTableError(f"{source}: {file_proto.name}: {error}") from error
    for file_proto in files.file:
        try:
            pool.FindFileByName(file_proto.name)
        except KeyError as error:
            raise FieldTableError(f"{source}: {file_proto.name}: imports a file not in the set") from error
    return DescriptorSet(files, pool)


def build_field_table(data: bytes, source: str = "descriptor set") -> FieldTable:
    """The field table of every method in the descriptor set `data`."""
    parsed = parse_descriptor_set(data, source)
    pool = parsed.pool
    indexes: dict[str, int] = {}
    ordered: list[Descriptor] = []

    def index_of(message: Descriptor) -> int:
        if message.full_name not in indexes:
            if len(ordered) == MESSAGES_MAX:
                raise FieldTableError(f"{source}: its methods reach more than {MESSAGES_MAX} message types")
            indexes[message.full_name] = len(ordered)
            ordered.append(message)
        return indexes[message.full_name]

    methods: list[MethodEntry] = []
    for service_name in _service_names(parsed.files.file):
        service = pool.FindServiceByName(service_name)
        for method in service.methods:
            if len(methods) == METHODS_MAX:
                raise FieldTableError(f"{source}: more than {METHODS_MAX} methods")
            path = f"/{service.full_name}/{method.name}"
            methods.append(MethodEntry(path, index_of(method.input_type), index_of(method.output_type)))
    if not methods:
        raise FieldTableError(f"{source}: the descriptor set defines no service methods")

    fields: list[FieldEntry] = []
    walked = 0
    # `ordered` grows while it is walked: every reachable message type is visited once.
    while walked < len(ordered):
        message = ordered[walked]
        for field in sorted(message.fields, key=lambda item: item.number):
            fields.append(_field_entry(walked, message, field, index_of, source))
        walked += 1
    if len(fields) > FIELDS_MAX:
        raise FieldTableError(f"{source}: its methods reach {len(fields)} fields (at most {FIELDS_MAX})")
    return FieldTable(tuple(methods), tuple(message.full_name for message in ordered), tuple(fields))


def _service_names(files: Iterable[descriptor_pb2.FileDescriptorProto]) -> list[str]:
    names: list[str] = []
    for file_proto in files:
        prefix = f"{file_proto.package}." if file_proto.package else ""
        names.extend(prefix + service.name for service in file_proto.service)
    return sorted(names)


def _field_entry(
    message_index: int,
    message: Descriptor,
    field: FieldDescriptor,
    index_of: Callable[[Descriptor], int],
    source: str,
) -> FieldEntry:
    name = field.name
    if not name.isascii() or not name.isprintable() or "." in name or len(name) > NAME_BYTES_MAX:
        raise FieldTableError(
            f"{source}: {message.full_name}.{name}: field name is not short printable ASCII"
        )
    if field.type in (FieldDescriptor.TYPE_MESSAGE, FieldDescriptor.TYPE_GROUP):
        assert field.message_type is not None, "a message field names its type"
        child = index_of(field.message_type)
        return FieldEntry(message_index, field.number, FieldKind.MESSAGE, child, name)
    kind = {
        FieldDescriptor.TYPE_STRING: FieldKind.STRING,
        FieldDescriptor.TYPE_BYTES: FieldKind.BYTES,
    }.get(field.type, FieldKind.SCALAR)
    return FieldEntry(message_index, field.number, kind, 0, name)
