"""Protobuf message types from a descriptor set, to encode and decode gRPC payloads.

A descriptor set is what `protoc --descriptor_set_out=FILE.pb --include_imports` writes
(a serialised `google.protobuf.FileDescriptorSet`). With one, gRPC messages can be
written as JSON in capture files and shown decoded in replay reports.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import Descriptor, MethodDescriptor
from google.protobuf.message import DecodeError

from controlplane.policy.grpc_field_table import FieldTableError, parse_descriptor_set


class SchemaError(ValueError):
    pass


class MessageSchemas:
    """The services and message types of one descriptor set."""

    def __init__(self, pool: descriptor_pool.DescriptorPool, source: str) -> None:
        self.source = source
        self._pool = pool

    @classmethod
    def from_file(cls, path: Path) -> MessageSchemas:
        try:
            data = path.read_bytes()
        except OSError as error:
            raise SchemaError(f"{path}: cannot read: {error.strerror or error}") from error
        try:
            parsed = parse_descriptor_set(data, str(path))
        except FieldTableError as error:
            raise SchemaError(str(error)) from error
        return cls(parsed.pool, str(path))

    def method(self, service: str, method: str) -> MethodDescriptor:
        try:
            service_descriptor = self._pool.FindServiceByName(service)
        except KeyError:
            raise SchemaError(f"service {service!r} is not in {self.source}") from None
        found = service_descriptor.methods_by_name.get(method)
        if found is None:
            raise SchemaError(f"service {service!r} has no method {method!r} in {self.source}")
        return found

    def encode_json(self, descriptor: Descriptor, value: dict[str, Any]) -> bytes:
        message_class = message_factory.GetMessageClass(descriptor)
        message = message_class()
        try:
            json_format.ParseDict(value, message)
        except json_format.ParseError as error:
            raise SchemaError(f"not a valid {descriptor.full_name}: {error}") from error
        return message.SerializeToString(deterministic=True)

    def decode(self, descriptor: Descriptor, payload: bytes) -> dict[str, Any]:
        message_class = message_factory.GetMessageClass(descriptor)
        message = message_class()
        try:
            message.ParseFromString(payload)
        except DecodeError as error:
            raise SchemaError(f"not a valid {descriptor.full_name} message ({error})") from error
        decoded: dict[str, Any] = json_format.MessageToDict(message, preserving_proto_field_name=True)
        return decoded

    def decode_to_text(self, descriptor: Descriptor, payload: bytes) -> str:
        return json.dumps(self.decode(descriptor, payload), indent=2, sort_keys=True, ensure_ascii=False)
