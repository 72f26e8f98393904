"""The MVFT field table compiled from a descriptor set: what the protobuf walker reads."""

from __future__ import annotations

import struct
from dataclasses import dataclass

import pytest
from google.protobuf import descriptor_pb2

from controlplane.policy.grpc_field_table import FieldKind, FieldTableError, build_field_table

_FIELD = descriptor_pb2.FieldDescriptorProto


def _field(
    message: descriptor_pb2.DescriptorProto, name: str, number: int, kind: int, type_name: str = ""
) -> None:
    field = message.field.add(name=name, number=number, type=kind, label=_FIELD.LABEL_OPTIONAL)
    if type_name:
        field.type_name = type_name


def _common_file() -> descriptor_pb2.FileDescriptorProto:
    common = descriptor_pb2.FileDescriptorProto(
        name="shop/common.proto", package="shop.common", syntax="proto3"
    )
    address = common.message_type.add(name="Address")
    _field(address, "street", 1, _FIELD.TYPE_STRING)
    _field(address, "postcode", 2, _FIELD.TYPE_STRING)
    unused = common.message_type.add(name="Unused")
    _field(unused, "ignored", 1, _FIELD.TYPE_STRING)
    return common


def _payments_file() -> descriptor_pb2.FileDescriptorProto:
    payments = descriptor_pb2.FileDescriptorProto(
        name="shop/payments.proto", package="shop.payments", syntax="proto3", dependency=["shop/common.proto"]
    )
    charge = payments.message_type.add(name="Charge")
    # Declared out of number order: the table sorts by number.
    _field(charge, "card", 4, _FIELD.TYPE_MESSAGE, ".shop.payments.Card")
    _field(charge, "customer_email", 1, _FIELD.TYPE_STRING)
    _field(charge, "amount_cents", 2, _FIELD.TYPE_INT64)
    _field(charge, "receipt_pdf", 3, _FIELD.TYPE_BYTES)
    card = payments.message_type.add(name="Card")
    _field(card, "number", 1, _FIELD.TYPE_STRING)
    _field(card, "billing", 2, _FIELD.TYPE_MESSAGE, ".shop.common.Address")
    # A recursive type: the table must stay finite.
    _field(card, "replaced_by", 3, _FIELD.TYPE_MESSAGE, ".shop.payments.Card")
    result = payments.message_type.add(name="ChargeResult")
    _field(result, "charge_id", 1, _FIELD.TYPE_STRING)
    service = payments.service.add(name="Payments")
    service.method.add(
        name="Charge", input_type=".shop.payments.Charge", output_type=".shop.payments.ChargeResult"
    )
    return payments


def _descriptor_set(*files: descriptor_pb2.FileDescriptorProto) -> bytes:
    return descriptor_pb2.FileDescriptorSet(file=list(files)).SerializeToString()


@dataclass(frozen=True)
class DecodedField:
    message: int
    number: int
    kind: int
    child: int
    name: str


def _decode(table: bytes) -> tuple[list[tuple[str, int, int]], int, list[DecodedField]]:
    """An independent reader of the layout filters/walkers/protobuf.zig parses."""
    assert table[:5] == b"MVFT\x01"
    offset = 5
    (method_count,) = struct.unpack_from("<H", table, offset)
    offset += 2
    methods = []
    for _ in range(method_count):
        (path_len,) = struct.unpack_from("<H", table, offset)
        offset += 2
        path = table[offset : offset + path_len].decode()
        offset += path_len
        request, response = struct.unpack_from("<HH", table, offset)
        offset += 4
        methods.append((path, request, response))
    message_count, field_count = struct.unpack_from("<HI", table, offset)
    offset += 6
    fields = []
    for _ in range(field_count):
        message, number, kind, child, name_len = struct.unpack_from("<HIBHB", table, offset)
        offset += 10
        name = table[offset : offset + name_len].decode()
        offset += name_len
        fields.append(DecodedField(message, number, kind, child, name))
    assert offset == len(table), "no trailing bytes"
    return methods, message_count, fields


def test_methods_fields_and_nested_types_are_named() -> None:
    table = build_field_table(_descriptor_set(_common_file(), _payments_file()))
    methods, message_count, fields = _decode(table.encode())
    assert [path for path, _, _ in methods] == ["/shop.payments.Payments/Charge"]
    names = table.messages
    assert message_count == len(names)
    _, request, response = methods[0]
    assert names[request] == "shop.payments.Charge"
    assert names[response] == "shop.payments.ChargeResult"
    by_message = {(names[field.message], field.number): field for field in fields}
    assert by_message["shop.payments.Charge", 1].name == "customer_email"
    assert by_message["shop.payments.Charge", 1].kind == FieldKind.STRING
    assert by_message["shop.payments.Charge", 2].kind == FieldKind.SCALAR
    assert by_message["shop.payments.Charge", 3].kind == FieldKind.BYTES
    card = by_message["shop.payments.Charge", 4]
    assert (card.kind, names[card.child]) == (FieldKind.MESSAGE, "shop.payments.Card")
    billing = by_message["shop.payments.Card", 2]
    assert names[billing.child] == "shop.common.Address"
    recursive = by_message["shop.payments.Card", 3]
    assert names[recursive.child] == "shop.payments.Card"
    assert by_message["shop.common.Address", 1].name == "street"
    # Types no method reaches stay out of the config.
    assert "shop.common.Unused" not in names


def test_fields_are_sorted_as_the_walker_binary_searches_them() -> None:
    _, _, fields = _decode(build_field_table(_descriptor_set(_common_file(), _payments_file())).encode())
    keys = [(field.message, field.number) for field in fields]
    assert keys == sorted(keys)
    assert len(set(keys)) == len(keys)


def test_the_same_descriptor_set_gives_the_same_bytes() -> None:
    data = _descriptor_set(_common_file(), _payments_file())
    assert build_field_table(data).encode() == build_field_table(data).encode()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"\xff\xff\xff", "not a FileDescriptorSet"),
        (b"", "holds no files"),
        (_descriptor_set(_common_file()), "defines no service methods"),
        (_descriptor_set(_payments_file()), "shop/payments.proto"),
    ],
    ids=["garbage", "empty", "no-services", "missing-import"],
)
def test_unusable_descriptor_sets_are_refused_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(FieldTableError, match=reason) as raised:
        build_field_table(data, "schemas/shop.pb")
    assert str(raised.value).startswith("schemas/shop.pb: ")
