"""The Zig walkers and mask operations, built for wasm32, checked against independent
decoders: what the probe writes must parse (json, urllib, gzip, google.protobuf) and hold
exactly what the Python oracle says, however the input is cut into chunks."""

from __future__ import annotations

import gzip
import json
import struct
import urllib.parse
from typing import Any

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from controlplane.modules.build import BuiltModule
from harness.bench.walker_probe import DigitsAction, Format, Option, ProbeError, WalkerProbe
from tests.walkers import oracle

PROPERTY_SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)


@pytest.fixture(scope="module")
def probe(built_modules: dict[str, BuiltModule]) -> WalkerProbe:
    return WalkerProbe(str(built_modules["walker-probe"].path))


# ---------------------------------------------------------------- generated data

SENSITIVE = ["4111 1111 1111 1111", "123-45-6789", "5500000000000004", "secret", "987654321"]
printable = st.characters(exclude_categories=("Cs", "Cc"))
filler = st.text(printable, max_size=12)
sensitive_text = st.builds(
    lambda before, item, after: before + item + after, filler, st.sampled_from(SENSITIVE), filler
)
strings = st.one_of(st.text(st.characters(codec="utf-8"), max_size=40), sensitive_text)
keys = st.one_of(
    st.sampled_from(["email", "ssn", "card", "note"]), st.text("abcdefgh", min_size=1, max_size=6)
)
emails = st.builds(lambda user: {"email": user + "@example.com"}, st.text("abcxyz", min_size=1, max_size=5))
scalars = st.one_of(strings, st.integers(min_value=-(10**15), max_value=10**15), st.booleans(), st.none())
documents = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(keys, children, max_size=4), emails
    ),
    max_leaves=20,
)
chunk_lengths = st.integers(min_value=1, max_value=64)


# ---------------------------------------------------------------- JSON


@PROPERTY_SETTINGS
@given(document=documents, chunk_len=chunk_lengths, ensure_ascii=st.booleans())
def test_json_masked_at_any_chunking_matches_the_oracle(
    probe: WalkerProbe, document: Any, chunk_len: int, ensure_ascii: bool
) -> None:
    body = json.dumps(document, ensure_ascii=ensure_ascii).encode()
    masked = probe.mask(body, Format.JSON, chunk_len=chunk_len, options=Option.SCAN_NUMBERS)
    assert json.loads(masked) == oracle.mask_json(document, oracle.partial_mask, numbers=True)
    # Nothing sensitive survives, whatever the chunking.
    for item in ("4111 1111 1111 1111", "123-45-6789", "5500000000000004"):
        assert item not in masked.decode()


@PROPERTY_SETTINGS
@given(document=documents, chunk_len=chunk_lengths)
def test_json_redaction_and_hash_tokens(probe: WalkerProbe, document: Any, chunk_len: int) -> None:
    body = json.dumps(document).encode()
    redacted = probe.mask(body, Format.JSON, chunk_len=chunk_len, action=DigitsAction.REDACT)
    assert json.loads(redacted) == oracle.mask_json(document, oracle.redact("[REDACTED:DIGITS]"))
    hashed = probe.mask(body, Format.JSON, chunk_len=chunk_len, action=DigitsAction.HASH)
    assert json.loads(hashed) == oracle.mask_json(document, oracle.hash_token)


def _has_digits_finding(text: str, context_key: str) -> bool:
    if context_key == "email" and "@" in text:
        return False
    return any(sum(char.isdigit() for char in run) >= 9 for run in oracle.DIGIT_RUN.findall(text))


def _dropped(value: Any, context_key: str = "") -> Any:
    """What dropping members and elements with a digits finding leaves."""

    def drops(item: Any, key: str) -> bool:
        if isinstance(item, bool) or item is None:
            return False
        if isinstance(item, int):
            return _has_digits_finding(str(item), key)
        return isinstance(item, str) and _has_digits_finding(item, key)

    remove_digits: oracle.Masker = lambda _run: ""  # noqa: E731 - the drop of a key's digits
    if isinstance(value, dict):
        return {
            oracle.mask_text(key, remove_digits): _dropped(item, key)
            for key, item in value.items()
            if not drops(item, key)
        }
    if isinstance(value, list):
        return [_dropped(item, context_key) for item in value if not drops(item, context_key)]
    return oracle.mask_json(value, remove_digits, context_key, numbers=True)


@PROPERTY_SETTINGS
@given(document=st.dictionaries(st.text("abcdefgh", min_size=1, max_size=6), documents, max_size=5))
def test_json_drop_removes_members_and_stays_valid(probe: WalkerProbe, document: dict[str, Any]) -> None:
    body = json.dumps(document, indent=1).encode()
    for chunk_len in (1, 7, len(body)):
        masked = probe.mask(
            body,
            Format.JSON,
            chunk_len=chunk_len,
            action=DigitsAction.DROP,
            options=Option.HOLD_MEMBERS | Option.SCAN_NUMBERS,
        )
        assert json.loads(masked) == _dropped(document)


def test_format_preserving_keeps_length_classes_and_luhn(probe: WalkerProbe) -> None:
    body = json.dumps({"pan": "4111 1111 1111 1111", "ssn": "123-45-6789", "n": 123456789012}).encode()
    masked = json.loads(
        probe.mask(body, Format.JSON, action=DigitsAction.FORMAT_PRESERVING, options=Option.SCAN_NUMBERS)
    )
    pan = masked["pan"]
    assert len(pan) == 19 and pan[4] == " " and pan.endswith("1111") and pan != "4111 1111 1111 1111"
    assert _luhn_valid(pan)
    assert masked["ssn"][3] == "-" and masked["ssn"][6] == "-" and masked["ssn"].endswith("6789")
    # Digits stay digits, so the number stays a JSON number (or a string if it gained a leading 0).
    assert str(masked["n"]).isdigit() and len(str(masked["n"])) == 12
    again = json.loads(
        probe.mask(body, Format.JSON, action=DigitsAction.FORMAT_PRESERVING, options=Option.SCAN_NUMBERS)
    )
    assert again == masked


def _luhn_valid(text: str) -> bool:
    digits = [int(char) for char in text if char.isdigit()][::-1]
    total = sum(
        digit if index % 2 == 0 else (digit * 2 - 9 if digit > 4 else digit * 2)
        for index, digit in enumerate(digits)
    )
    return total % 10 == 0


def test_long_string_values_are_masked_across_pieces(probe: WalkerProbe) -> None:
    # Values far longer than one piece (4 KiB), with card numbers every few hundred bytes.
    text = ("lorem ipsum dolor 4111 1111 1111 1111 sit amet " * 400).strip()
    document = {"doc": text, "escaped": text.replace(" ", "\\") + "\u00e9\n"}
    body = json.dumps(document).encode()
    masked = probe.mask(body, Format.JSON, chunk_len=1000)
    assert json.loads(masked) == oracle.mask_json(document, oracle.partial_mask)
    assert probe.stats().unmasked == 0


def test_json_lines(probe: WalkerProbe) -> None:
    rows = [{"card": "4111111111111111"}, {"note": "secret"}, {"ok": 1}]
    body = b"\n".join(json.dumps(row).encode() for row in rows) + b"\n"
    masked = probe.mask(body, Format.JSON_LINES, chunk_len=5)
    assert [json.loads(line) for line in masked.splitlines()] == [
        oracle.mask_json(row, oracle.partial_mask) for row in rows
    ]


def test_malformed_json_is_refused_not_passed(probe: WalkerProbe) -> None:
    with pytest.raises(ProbeError) as refused:
        probe.mask(b'{"card": "4111111111111111", oops}', Format.JSON)
    assert refused.value.name == "JsonSyntax"
    with pytest.raises(ProbeError) as deep:
        probe.mask(b"[" * 65 + b"]" * 65, Format.JSON)
    assert deep.value.name == "TooDeep"


# ---------------------------------------------------------------- forms, queries, cookies

form_names = st.text(
    st.characters(exclude_categories=("Cs", "Cc"), exclude_characters="0123456789"), max_size=8
)
form_pairs = st.lists(
    st.tuples(st.one_of(form_names, st.just("email")), st.one_of(strings, emails.map(lambda e: e["email"]))),
    max_size=6,
)


@PROPERTY_SETTINGS
@given(pairs=form_pairs, chunk_len=chunk_lengths)
def test_forms_masked_at_any_chunking_decode_to_the_oracle(
    probe: WalkerProbe, pairs: list[tuple[str, str]], chunk_len: int
) -> None:
    body = urllib.parse.urlencode(pairs).encode()
    masked = probe.mask(body, Format.FORM, chunk_len=chunk_len)
    expected = [
        (oracle.mask_text(name, oracle.partial_mask), oracle.mask_text(value, oracle.partial_mask, name))
        for name, value in urllib.parse.parse_qsl(body.decode(), keep_blank_values=True)
    ]
    assert urllib.parse.parse_qsl(masked.decode(), keep_blank_values=True) == expected


def test_query_string_and_cookies(probe: WalkerProbe) -> None:
    target = b"/pay?card=4111+1111+1111+1111&email=ada%40example.com&x=1#frag"
    masked = probe.mask(target, Format.QUERY).decode()
    path, _, query = masked.partition("?")
    assert path == "/pay"
    assert urllib.parse.parse_qsl(query.partition("#")[0]) == [
        ("card", "**** **** **** 1111"),
        ("email", "[REDACTED:EMAIL]"),
        ("x", "1"),
    ]
    cookies = probe.mask(b'sid=abc; card="5500000000000004"; n=secret', Format.COOKIE)
    assert cookies == b'sid=abc; card="************0004"; n=[REDACTED:SECRET]'


# ---------------------------------------------------------------- text and server-sent events


def test_plain_text_split_everywhere(probe: WalkerProbe) -> None:
    body = b"call 4111 1111 1111 1111 or 123-45-6789; the secret is out\n" * 3
    expected = oracle.mask_text(body.decode(), oracle.partial_mask).encode()
    for chunk_len in range(1, 40):
        assert probe.mask(body, Format.TEXT, chunk_len=chunk_len) == expected


def test_llm_event_stream(probe: WalkerProbe) -> None:
    events = [
        {"choices": [{"delta": {"content": "Your card 4111 1111 1111 1111 is"}}]},
        {"choices": [{"delta": {"content": " on file; ssn 123-45-6789"}}]},
        {"choices": [{"delta": {}, "finish_reason": "stop"}]},
    ]
    body = b"".join(b"data: " + json.dumps(event).encode() + b"\n\n" for event in events)
    body += b": comment 4111111111111111\n\ndata: [DONE]\n\n"
    for chunk_len in (1, 3, 17, len(body)):
        masked = probe.mask(body, Format.EVENT_STREAM, chunk_len=chunk_len)
        blocks = masked.split(b"\n\n")
        decoded = [json.loads(block[len(b"data: ") :]) for block in blocks[:3]]
        assert decoded == [oracle.mask_json(event, oracle.partial_mask) for event in events]
        # Comments pass as they are; the scan covers data only.
        assert blocks[3] == b": comment 4111111111111111"
        assert blocks[4] == b"data: [DONE]"


# ---------------------------------------------------------------- gzip


@PROPERTY_SETTINGS
@given(document=documents, chunk_len=st.integers(min_value=1, max_value=200))
def test_gzip_round_trip(probe: WalkerProbe, document: Any, chunk_len: int) -> None:
    body = gzip.compress(json.dumps(document).encode())
    expected = oracle.mask_json(document, oracle.partial_mask)
    for encoder in (Option.NONE, Option.LZ77):
        reencoded = probe.mask(body, Format.JSON, chunk_len=chunk_len, options=Option.GZIP_BODY | encoder)
        assert json.loads(gzip.decompress(reencoded)) == expected
    decoded = probe.mask(
        body, Format.JSON, chunk_len=chunk_len, options=Option.GZIP_BODY | Option.DECODE_ONLY
    )
    assert json.loads(decoded) == expected


def test_gzip_bomb_is_refused(probe: WalkerProbe) -> None:
    bomb = gzip.compress(b'["' + b" " * (32 * 1024 * 1024) + b'"]', compresslevel=9)
    assert len(bomb) < 64 * 1024
    with pytest.raises(ProbeError) as refused:
        probe.mask(bomb, Format.JSON, chunk_len=4096, options=Option.GZIP_BODY)
    assert refused.value.name == "RatioTooHigh"


def test_corrupt_gzip_is_refused(probe: WalkerProbe) -> None:
    body = bytearray(gzip.compress(b'{"a": "4111111111111111"}'))
    body[-8] ^= 0xFF  # the CRC-32
    with pytest.raises(ProbeError) as refused:
        probe.mask(bytes(body), Format.JSON, options=Option.GZIP_BODY)
    assert refused.value.name == "InvalidData"


# ---------------------------------------------------------------- gRPC and protobuf


def _payment_class() -> Any:
    """probe.Payment { name, details { card, amount, holder { ssn } }, notes[] } at run time."""
    file = descriptor_pb2.FileDescriptorProto(name="walker_probe.proto", package="probe", syntax="proto3")
    string = descriptor_pb2.FieldDescriptorProto.TYPE_STRING
    message = descriptor_pb2.FieldDescriptorProto.TYPE_MESSAGE
    int64 = descriptor_pb2.FieldDescriptorProto.TYPE_INT64
    optional = descriptor_pb2.FieldDescriptorProto.LABEL_OPTIONAL
    repeated = descriptor_pb2.FieldDescriptorProto.LABEL_REPEATED

    def add(name: str, fields: list[tuple[str, int, int, int, str]]) -> None:
        described = file.message_type.add(name=name)
        for field_name, number, field_type, label, type_name in fields:
            field = described.field.add(name=field_name, number=number, type=field_type, label=label)
            if type_name:
                field.type_name = type_name

    add("Holder", [("ssn", 1, string, optional, "")])
    add(
        "Details",
        [
            ("card", 1, string, optional, ""),
            ("amount", 2, int64, optional, ""),
            ("holder", 3, message, optional, ".probe.Holder"),
        ],
    )
    add(
        "Payment",
        [
            ("name", 1, string, optional, ""),
            ("details", 2, message, optional, ".probe.Details"),
            ("notes", 3, string, repeated, ""),
        ],
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("probe.Payment"))


PAYMENT = _payment_class()
proto_strings = st.one_of(st.text(printable, max_size=30), sensitive_text)


@st.composite
def payments(draw: st.DrawFn) -> Any:
    payment = PAYMENT(name=draw(proto_strings), notes=draw(st.lists(proto_strings, max_size=3)))
    if draw(st.booleans()):
        payment.details.card = draw(proto_strings)
        payment.details.amount = draw(st.integers(min_value=0, max_value=10**12))
        if draw(st.booleans()):
            payment.details.holder.ssn = draw(proto_strings)
    return payment


def _masked_payment(payment: Any, digits: oracle.Masker) -> Any:
    def mask(text: str) -> str:
        return oracle.mask_text(text, digits)

    expected = PAYMENT()
    expected.CopyFrom(payment)
    expected.name = mask(payment.name)
    expected.notes[:] = [mask(note) for note in payment.notes]
    if payment.HasField("details"):
        expected.details.card = mask(payment.details.card)
        if payment.details.HasField("holder"):
            expected.details.holder.ssn = mask(payment.details.holder.ssn)
    return expected


def _frame(message: bytes, compressed: bool = False) -> bytes:
    return struct.pack(">BI", int(compressed), len(message)) + message


def _unframe(body: bytes) -> list[bytes]:
    messages = []
    while body:
        flag, length = struct.unpack(">BI", body[:5])
        assert flag == 0
        assert len(body) >= 5 + length, "frame length runs past the body"
        messages.append(body[5 : 5 + length])
        body = body[5 + length :]
    return messages


@PROPERTY_SETTINGS
@given(messages=st.lists(payments(), min_size=1, max_size=4), chunk_len=chunk_lengths)
def test_grpc_masked_messages_decode_with_google_protobuf(
    probe: WalkerProbe, messages: list[Any], chunk_len: int
) -> None:
    body = b"".join(_frame(message.SerializeToString()) for message in messages)
    for action, digits in (
        (DigitsAction.PARTIAL, oracle.partial_mask),
        (DigitsAction.REDACT, oracle.redact("[REDACTED:DIGITS]")),
    ):
        masked = probe.mask(body, Format.GRPC, chunk_len=chunk_len, action=action)
        decoded = [PAYMENT.FromString(message) for message in _unframe(masked)]
        assert decoded == [_masked_payment(message, digits) for message in messages]


def test_grpc_compressed_messages_and_dropped_fields(probe: WalkerProbe) -> None:
    payment = PAYMENT(name="Ada", notes=["card 4111 1111 1111 1111", "fine"])
    payment.details.card = "5500000000000004"
    payment.details.amount = 1234567890123
    payment.details.holder.ssn = "123-45-6789"
    body = _frame(gzip.compress(payment.SerializeToString()), compressed=True)
    masked = probe.mask(body, Format.GRPC, chunk_len=3, options=Option.GZIP_MESSAGES)
    assert [PAYMENT.FromString(message) for message in _unframe(masked)] == [
        _masked_payment(payment, oracle.partial_mask)
    ]
    dropped = PAYMENT.FromString(
        _unframe(
            probe.mask(
                _frame(payment.SerializeToString()),
                Format.GRPC,
                action=DigitsAction.DROP,
                options=Option.SCAN_NUMBERS,
            )
        )[0]
    )
    assert list(dropped.notes) == ["fine"]
    assert dropped.details.card == "" and dropped.details.amount == 0 and dropped.details.holder.ssn == ""
    assert dropped.name == "Ada"
    with pytest.raises(ProbeError) as refused:
        probe.mask(body, Format.GRPC)
    assert refused.value.name == "CompressedMessage"


def test_grpc_frame_cut_short_is_refused(probe: WalkerProbe) -> None:
    with pytest.raises(ProbeError) as refused:
        probe.mask(_frame(b"\x0a\x03abc")[:-1], Format.GRPC)
    assert refused.value.name == "Incomplete"
