"""gRPC field names from the policy's descriptor set, through the real DLP and mask modules:
a card number in `Charge.card.number` is reported at `card.number` in the DLP filter's
finding events and masked by the mask filter, the frame stays valid protobuf; without a descriptor set, or
for a `:path` the set does not define, the path is field numbers (`4.1`), as before."""

from __future__ import annotations

import base64
import json
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.filter_config import FORMAT_VERSION, HEADER, MAGIC, unpack
from controlplane.policy.model import Policy
from harness.host import Host, HostConfig, PluginConfig, PluginLoadError
from tests.filters.filters_support import CARD, KEYS, Exchange, chunks, load, sidecar
from tests.filters.test_filters_grpc_gzip import frame, frames

CHARGE_PATH = "/shop.payments.Payments/Charge"
_KINDS = descriptor_pb2.FieldDescriptorProto


def _payments_file() -> descriptor_pb2.FileDescriptorProto:
    """Charge { customer_email = 1; amount_cents = 2; Card card = 4 }, Card { number = 1;
    holder = 2 } and ChargeResult { charge_id = 1; Card card = 2 }: the card sits at a
    different field number on each side, so a root taken from the wrong side shows."""
    file = descriptor_pb2.FileDescriptorProto(
        name="shop/payments.proto", package="shop.payments", syntax="proto3"
    )
    members = {
        "Card": [("number", 1, _KINDS.TYPE_STRING, ""), ("holder", 2, _KINDS.TYPE_STRING, "")],
        "Charge": [
            ("customer_email", 1, _KINDS.TYPE_STRING, ""),
            ("amount_cents", 2, _KINDS.TYPE_INT64, ""),
            ("card", 4, _KINDS.TYPE_MESSAGE, ".shop.payments.Card"),
        ],
        "ChargeResult": [
            ("charge_id", 1, _KINDS.TYPE_STRING, ""),
            ("card", 2, _KINDS.TYPE_MESSAGE, ".shop.payments.Card"),
        ],
    }
    for name, fields in members.items():
        message = file.message_type.add(name=name)
        for field_name, number, kind, type_name in fields:
            field = message.field.add(name=field_name, number=number, type=kind, label=_KINDS.LABEL_OPTIONAL)
            if type_name:
                field.type_name = type_name
    service = file.service.add(name="Payments")
    service.method.add(
        name="Charge", input_type=".shop.payments.Charge", output_type=".shop.payments.ChargeResult"
    )
    return file


FILE = _payments_file()
DESCRIPTOR_SET = descriptor_pb2.FileDescriptorSet(file=[FILE]).SerializeToString()


def _message_class(name: str) -> Any:
    pool = descriptor_pool.DescriptorPool()
    pool.Add(FILE)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName(f"shop.payments.{name}"))


CHARGE = _message_class("Charge")
CHARGE_RESULT = _message_class("ChargeResult")

ROUTES = (
    "  - name: payments\n"
    "    content_types: [application/grpc]\n"
    "    detectors:\n"
    "      credit-card: {action: alert, mask: {type: partial}}\n"
)


def payments_policy(named: bool) -> Policy:
    extra = f"grpc: {{descriptor_set: {base64.b64encode(DESCRIPTOR_SET).decode()}}}\n" if named else ""
    return load(ROUTES, extra=extra)


def charge_body() -> bytes:
    charge = CHARGE(customer_email="nobody", amount_cents=1999)
    charge.card.number = CARD
    return frame(charge.SerializeToString())


def result_body() -> bytes:
    result = CHARGE_RESULT(charge_id="ch_1")
    result.card.number = CARD
    result.card.holder = "Ada"
    return frame(result.SerializeToString())


def grpc_exchange(path: str, request: bytes, response: bytes, cut: int) -> Exchange:
    return Exchange(
        path=path,
        request_type="application/grpc",
        response_type="application/grpc",
        request_chunks=chunks(request, [cut]),
        response_chunks=chunks(response, [cut]),
        response_trailers=[("grpc-status", "0")],
    )


def card_locations(events: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(where, path) of every credit-card location, request events first."""
    return [
        (event["direction"], location["path"])
        for event in events
        for finding in event["findings"]
        if finding["detector"] == "credit-card"
        for location in finding["locations"]
    ]


@pytest.mark.parametrize("cut", [1, 7, 20])
def test_fields_are_named_by_the_descriptor_set_and_masked(modules: dict[str, Path], cut: int) -> None:
    with sidecar(modules, payments_policy(named=True)) as car:
        outcome = car.run(grpc_exchange(CHARGE_PATH, charge_body(), result_body(), cut).build())
        events = car.queued_events()
        logs = car.log_text()
    assert outcome.local_reply is None and not outcome.stream_reset
    # Request: mask runs before DLP, so DLP sees it masked; response: DLP sees it first.
    assert outcome.request_to_upstream is not None
    (request,) = (CHARGE.FromString(message) for message in frames(outcome.request_to_upstream.body))
    assert request.card.number == "**** **** **** 1111" and request.amount_cents == 1999
    (response,) = (CHARGE_RESULT.FromString(m) for m in frames(outcome.response_to_client.body))
    assert response.card.number == "**** **** **** 1111" and response.card.holder == "Ada"
    assert response.charge_id == "ch_1"
    assert card_locations(events) == [("response", "card.number")]
    # The mask filter's report counts what it masked (it sends no events: DLP does).
    assert "meshveil-mask: route payments request req-0001: credit-card=1 (masked)" in logs


def test_each_side_uses_its_own_message_type(modules: dict[str, Path]) -> None:
    with sidecar(modules, payments_policy(named=True), (FilterName.DLP,)) as car:
        car.run(grpc_exchange(CHARGE_PATH, charge_body(), result_body(), 3).build())
        events = car.queued_events()
    assert sorted(card_locations(events)) == [("request", "card.number"), ("response", "card.number")]


@pytest.mark.parametrize(("named", "path"), [(False, CHARGE_PATH), (True, "/shop.payments.Payments/Refund")])
def test_without_a_known_method_fields_are_numbered(modules: dict[str, Path], named: bool, path: str) -> None:
    with sidecar(modules, payments_policy(named), (FilterName.DLP,)) as car:
        car.run(grpc_exchange(path, charge_body(), result_body(), 3).build())
        events = car.queued_events()
    assert sorted(card_locations(events)) == [("request", "4.1"), ("response", "2.1")]


def repack(document: dict[str, Any], tables: bytes) -> bytes:
    """A filter config holding `document` as it is (filter_config.py's layout)."""
    text = json.dumps(document).encode()
    padding = b"\0" * (-(HEADER.size + len(text)) % 8)
    return HEADER.pack(MAGIC, FORMAT_VERSION, HEADER.size, len(text), len(tables)) + text + padding + tables


def test_a_malformed_field_table_is_refused_at_configure(modules: dict[str, Path]) -> None:
    policy = payments_policy(named=True)
    document, tables = unpack(compile_filter_config(policy, FilterName.DLP, KEYS))
    table = base64.b64decode(document["grpc_fields"])
    document["grpc_fields"] = base64.b64encode(table[:-2]).decode()
    configuration = repack(document, tables)
    with Host(HostConfig()) as host:
        with pytest.raises(PluginLoadError):
            host.load_plugin(
                PluginConfig(name="meshveil-dlp", module=modules["meshveil-dlp"], configuration=configuration)
            )
        logs = "\n".join(record.message for record in host.logs)
    assert "meshveil-dlp: configuration version 0 refused: grpc_fields: field table: truncated" in logs


def test_frames_stay_valid_protobuf_at_every_cut(modules: dict[str, Path]) -> None:
    body = result_body() + result_body()
    with sidecar(modules, payments_policy(named=True)) as car:
        for cut in range(1, len(body)):
            outcome = car.run(grpc_exchange(CHARGE_PATH, b"", body, cut).build(f"cut-{cut}"))
            decoded = [CHARGE_RESULT.FromString(m) for m in frames(outcome.response_to_client.body)]
            assert [result.card.number for result in decoded] == ["**** **** **** 1111"] * 2, cut
        events = car.queued_events()
    assert {path for _, path in card_locations(events)} == {"card.number"}
