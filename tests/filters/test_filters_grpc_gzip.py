"""gRPC and gzip bodies through the real filters: gRPC frames split across chunks at every
offset come out as valid frames whose protobuf decodes (lengths fixed up); a gzip body is
decoded, masked and re-encoded so gzip and json read it; a gzip bomb is refused before it
is expanded; a compressed body is never passed on unscanned unless the policy says so."""

from __future__ import annotations

import gzip
import json
import struct
from pathlib import Path
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from controlplane.policy.model import Policy
from tests.filters.filters_support import CARD, SSN, Exchange, chunks, load, sidecar


def _payment_class() -> Any:
    """shop.Payment { name = 1; Details details = 2; repeated string notes = 3 } with
    Details { card = 1; int64 amount = 2; Holder holder = 3 } and Holder { ssn = 1 }."""
    file = descriptor_pb2.FileDescriptorProto(name="filters_test.proto", package="shop", syntax="proto3")
    kinds = descriptor_pb2.FieldDescriptorProto
    fields = {
        "Holder": [("ssn", 1, kinds.TYPE_STRING, "")],
        "Details": [
            ("card", 1, kinds.TYPE_STRING, ""),
            ("amount", 2, kinds.TYPE_INT64, ""),
            ("holder", 3, kinds.TYPE_MESSAGE, ".shop.Holder"),
        ],
        "Payment": [
            ("name", 1, kinds.TYPE_STRING, ""),
            ("details", 2, kinds.TYPE_MESSAGE, ".shop.Details"),
            ("notes", 3, kinds.TYPE_STRING, ""),
        ],
    }
    for message, members in fields.items():
        described = file.message_type.add(name=message)
        for name, number, kind, type_name in members:
            label = kinds.LABEL_REPEATED if name == "notes" else kinds.LABEL_OPTIONAL
            field = described.field.add(name=name, number=number, type=kind, label=label)
            if type_name:
                field.type_name = type_name
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("shop.Payment"))


PAYMENT = _payment_class()


def frame(message: bytes) -> bytes:
    return struct.pack(">BI", 0, len(message)) + message


def frames(body: bytes) -> list[bytes]:
    """The messages of a gRPC body; every prefix's length must be exact."""
    messages = []
    while body:
        assert len(body) >= 5 and body[0] == 0
        (length,) = struct.unpack(">I", body[1:5])
        assert len(body) >= 5 + length, "a frame runs past the body"
        messages.append(body[5 : 5 + length])
        body = body[5 + length :]
    return messages


def grpc_policy() -> Policy:
    return load(
        "  - name: payments\n"
        "    match: {paths: ['/shop.Payments/**']}\n"
        "    content_types: [application/grpc]\n"
        "    detectors:\n"
        "      credit-card: {action: alert, mask: {type: partial}}\n"
        "      us-ssn: {action: alert, mask: {type: redact}}\n"
    )


def test_grpc_frames_split_at_every_offset_stay_valid_and_decode(modules: dict[str, Path]) -> None:
    first = PAYMENT(name="Ada", notes=["card " + CARD, "fine"])
    first.details.card = CARD
    first.details.amount = 1999
    first.details.holder.ssn = SSN
    second = PAYMENT(name="Grace", notes=["nothing here"])
    body = frame(first.SerializeToString()) + frame(second.SerializeToString())
    with sidecar(modules, grpc_policy()) as car:
        for cut in range(1, len(body)):
            exchange = Exchange(
                path="/shop.Payments/Get",
                response_type="application/grpc",
                response_chunks=chunks(body, [cut]),
                response_trailers=[("grpc-status", "0")],
            ).build(f"cut-{cut}")
            outcome = car.run(exchange)
            assert outcome.local_reply is None and not outcome.stream_reset, cut
            decoded = [PAYMENT.FromString(message) for message in frames(outcome.response_to_client.body)]
            assert decoded[0].details.card == "**** **** **** 1111", cut
            assert decoded[0].details.holder.ssn == "[REDACTED:US_SSN]"
            assert decoded[0].details.amount == 1999
            assert list(decoded[0].notes) == ["card **** **** **** 1111", "fine"]
            assert decoded[1] == second
        metrics = car.host.metrics
    cuts = len(body) - 1
    assert metrics["meshveil.dlp.route.payments.detector.credit-card.response.findings"] == 2 * cuts
    assert metrics["meshveil.dlp.route.payments.detector.us-ssn.response.findings"] == cuts


def gzip_policy(
    gzip_handling: str = "decode", failure: str = "fail_closed", mode: str = "streaming"
) -> Policy:
    return load(
        "  - name: orders\n"
        "    match: {paths: ['/v1/**']}\n"
        "    content_types: [application/json]\n"
        f"    body: {{mode: {mode}}}\n"
        f"    gzip: {gzip_handling}\n"
        "    detectors:\n"
        "      credit-card: {action: alert, mask: {type: redact, placeholder: '[CARD]'}}\n",
        failure,
    )


def test_gzip_round_trip_masked_and_re_encoded(modules: dict[str, Path]) -> None:
    document = {"orders": [{"card": CARD, "note": "x" * 50} for _ in range(30)]}
    compressed = gzip.compress(json.dumps(document).encode())
    with sidecar(modules, gzip_policy()) as car:
        for cut in (1, 10, len(compressed) // 2, len(compressed) - 3):
            exchange = Exchange(
                response_chunks=chunks(compressed, [cut]), response_headers=[("content-encoding", "gzip")]
            ).build()
            outcome = car.run(exchange)
            client = outcome.response_to_client
            assert client.header("content-encoding") == "gzip" and client.header("content-length") is None
            masked = json.loads(gzip.decompress(client.body))
            assert [order["card"] for order in masked["orders"]] == ["[CARD]"] * 30
        metrics = car.host.metrics
    assert metrics["meshveil.dlp.route.orders.detector.credit-card.response.findings"] == 4 * 30


def test_a_gzip_bomb_is_refused_before_it_is_expanded(modules: dict[str, Path]) -> None:
    # 32 MiB of spaces in a JSON string: about 32 KB compressed, a ratio past the bound of 200.
    inflated = b'{"note": "' + b" " * (32 * 1024 * 1024) + b'"}'
    bomb = gzip.compress(inflated, compresslevel=9)
    assert len(bomb) < len(inflated) // 500
    with sidecar(modules, gzip_policy()) as car:
        exchange = Exchange(
            request_chunks=chunks(bomb, range(4 * 1024, len(bomb), 4 * 1024)),
            request_headers=[("content-encoding", "gzip")],
        ).build()
        outcome = car.run(exchange)
        logs = car.log_text()
    assert outcome.local_reply is not None and outcome.local_reply.status == 503
    assert "RatioTooHigh" in logs or "OutputTooLarge" in logs
    # What reached the upstream before the refusal is a fraction of the bomb, never its expansion.
    upstream = outcome.request_to_upstream.body if outcome.request_to_upstream else b""
    assert len(upstream) < 2 * 1024 * 1024


@pytest.mark.parametrize(
    ("handling", "encoding", "passes"),
    [("block", "gzip", False), ("decode", "br", False), ("pass_and_alert", "br", True)],
)
def test_compressed_bodies_pass_unscanned_only_when_the_policy_says(
    modules: dict[str, Path], handling: str, encoding: str, passes: bool
) -> None:
    body = b"\x8b\x00opaque-compressed-bytes " + CARD.encode()
    with sidecar(modules, gzip_policy(handling)) as car:
        outcome = car.run(
            Exchange(request_chunks=[body], request_headers=[("content-encoding", encoding)]).build()
        )
        metrics = car.host.metrics
        logs = car.log_text()
    if passes:
        assert outcome.local_reply is None
        assert outcome.request_to_upstream is not None and outcome.request_to_upstream.body == body
        assert metrics["meshveil.dlp.bodies.passed_unscanned"] == 1
        assert "passed unscanned, as the policy allows" in logs
    else:
        assert outcome.local_reply is not None and outcome.local_reply.status == 503
        assert outcome.request_to_upstream is None or CARD.encode() not in outcome.request_to_upstream.body


def grpc_fail_open_policy(failure: str) -> Policy:
    return load(
        "  - name: payments\n"
        "    match: {paths: ['/shop.Payments/**']}\n"
        "    content_types: [application/grpc]\n"
        "    detectors:\n"
        "      credit-card: {action: alert, mask: {type: partial}}\n",
        failure,
    )


UNSCANNABLE = "meshveil.mask.values.unscannable"


def test_grpc_past_the_message_limit_fails_open_with_the_rest_intact(modules: dict[str, Path]) -> None:
    masked_first = PAYMENT(name="Ada")
    masked_first.details.card = "**** **** **** 1111"
    first = PAYMENT(name="Ada")
    first.details.card = CARD
    # Past the 64 KiB message bound: it cannot be scanned, so the policy decides.
    huge = PAYMENT(name="Big", notes=["y" * (70 * 1024)])
    last = PAYMENT(name="Grace", notes=["card " + CARD])
    head = frame(first.SerializeToString())
    body = head + frame(huge.SerializeToString()) + frame(last.SerializeToString())
    with sidecar(modules, grpc_fail_open_policy("fail_open")) as car:
        for cut in [*range(1, len(head) + 8), len(head) + 40_000, len(body) - 3]:
            before = car.host.metrics.get(UNSCANNABLE, 0)
            exchange = Exchange(
                path="/shop.Payments/Get",
                response_type="application/grpc",
                response_chunks=chunks(body, [cut]),
                response_trailers=[("grpc-status", "0")],
            ).build(f"open-{cut}")
            outcome = car.run(exchange)
            sent = outcome.response_to_client.body
            assert outcome.local_reply is None and not outcome.stream_reset, cut
            # Masked up to the frame that could not be scanned, then byte for byte as it came.
            assert sent == frame(masked_first.SerializeToString()) + body[len(head) :], cut
            assert [PAYMENT.FromString(message) for message in frames(sent)][1:] == [huge, last]
            assert outcome.response_to_client.header("content-length") is None
            assert car.host.metrics[UNSCANNABLE] == before + 1, cut
        logs = car.log_text()
    assert "the policy fails open: the rest passes as it came" in logs
    assert CARD not in logs


def test_grpc_past_the_message_limit_fails_closed_unless_the_policy_says(modules: dict[str, Path]) -> None:
    first = PAYMENT(name="Ada")
    first.details.card = CARD
    body = frame(first.SerializeToString()) + frame(PAYMENT(notes=["y" * (70 * 1024)]).SerializeToString())
    with sidecar(modules, grpc_fail_open_policy("fail_closed")) as car:
        outcome = car.run(
            Exchange(
                path="/shop.Payments/Get",
                response_type="application/grpc",
                response_chunks=chunks(body, [7, 30_000]),
                response_trailers=[("grpc-status", "0")],
            ).build()
        )
    assert outcome.local_reply is not None or outcome.stream_reset
    assert CARD.encode() not in outcome.response_to_client.body


def test_a_gzip_body_that_cannot_be_masked_fails_open_intact_or_fails_closed(
    modules: dict[str, Path],
) -> None:
    # Valid gzip around JSON that does not parse: the walker refuses it part way, after
    # a card it has masked and a long note that went on.
    start = b'{"orders": [{"card": "' + CARD.encode() + b'"}, {"note": "' + b"x" * 20_000 + b'"}, '
    broken = start + b'{"card": "' + CARD.encode() + b'" oops}]}'
    compressed = gzip.compress(broken)
    # The same body with a bad CRC: the decoder itself fails, at the very end.
    corrupt = compressed[:-8] + bytes(4) + compressed[-4:]
    headers = [("content-encoding", "gzip")]
    with sidecar(modules, gzip_policy(failure="fail_open", mode="buffered")) as car:
        # Buffered: nothing went on yet, so the whole body passes as it came.
        buffered = car.run(
            Exchange(
                request_chunks=chunks(compressed, [len(compressed) // 3]), request_headers=headers
            ).build("b")
        )
    with sidecar(modules, gzip_policy(failure="fail_open")) as car:
        # Streaming, failing after re-encoded output went on: raw bytes cannot follow
        # it, so the rest is decoded and re-encoded unscanned; the stream stays valid.
        streamed = [
            car.run(
                Exchange(request_chunks=chunks(compressed, cuts), request_headers=headers).build(f"s-{cuts}")
            )
            for cuts in ([40, len(compressed) - 20], [25], list(range(50, len(compressed), 50)))
        ]
        unscannable = car.host.metrics[UNSCANNABLE]
        # A stream the decoder refuses cannot be continued at all: it fails closed.
        refused = car.run(
            Exchange(request_chunks=chunks(corrupt, [40, len(corrupt) - 6]), request_headers=headers).build(
                "c"
            )
        )
        logs = car.log_text()
    assert buffered.local_reply is None
    assert buffered.request_to_upstream is not None and buffered.request_to_upstream.body == compressed
    masked_start = start.replace(CARD.encode(), b"[CARD]")
    for outcome in streamed:
        assert outcome.local_reply is None and outcome.request_to_upstream is not None
        assert gzip.decompress(outcome.request_to_upstream.body) == masked_start + broken[len(start) :]
    assert unscannable == len(streamed)
    assert "the policy fails open: the rest passes unscanned, decoded and re-encoded" in logs
    assert refused.local_reply is not None or refused.stream_reset
    assert "cannot be continued as it came: fails closed" in logs
    assert CARD not in logs
