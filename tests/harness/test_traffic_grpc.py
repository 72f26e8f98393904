"""gRPC captures become HTTP/2 gRPC exchanges: framed messages, status trailers, descriptors."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

from harness.traffic import HttpExchange, TrafficError
from harness.traffic.grpc_capture import read_grpc
from harness.traffic.grpc_frames import GrpcFrame, encode_frame, split_frames
from harness.traffic.protobuf_schema import MessageSchemas, SchemaError
from harness.traffic.protobuf_wire import MAX_DEPTH, decode_raw_lines
from tests.harness.fixtures.traffic.users_schema import write_descriptor_set

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"
GET_USER_REQUEST = base64.b64decode("CgR1LTQy")
USER_42 = base64.b64decode("CgR1LTQyEg9ib2JAZXhhbXBsZS5jb20YKQ==")


@pytest.fixture(scope="module")
def schemas(tmp_path_factory: pytest.TempPathFactory) -> MessageSchemas:
    return MessageSchemas.from_file(write_descriptor_set(tmp_path_factory.mktemp("schema") / "users.pb"))


@pytest.fixture(scope="module")
def calls(schemas: MessageSchemas) -> list[HttpExchange]:
    return read_grpc(FIXTURES / "users.grpc.jsonl", schemas).exchanges


def test_unary_call_is_an_http2_grpc_exchange(calls: list[HttpExchange]) -> None:
    exchange = calls[0]
    assert exchange.protocol == "HTTP/2"
    assert exchange.exchange_id == "get-42"
    assert [(name, value) for name, value in exchange.request.headers if name != "x-request-id"] == [
        (":authority", "users.shop.svc:50051"),
        (":path", "/acme.users.v1.Users/GetUser"),
        (":method", "POST"),
        (":scheme", "http"),
        ("authorization", "Bearer t0k3n"),
        ("x-trace-bin", "AAE="),
        ("content-type", "application/grpc"),
        ("te", "trailers"),
        ("x-forwarded-proto", "http"),
    ]
    assert exchange.request.body_chunks == [b"\x00\x00\x00\x00\x06" + GET_USER_REQUEST]
    assert exchange.response.headers == [
        (":status", "200"),
        ("x-served-by", "users-7"),
        ("content-type", "application/grpc"),
    ]
    assert exchange.response.body_chunks == [encode_frame(USER_42)]
    assert exchange.response.trailers == [("grpc-status", "0")]
    assert exchange.connection == {"source.principal": "spiffe://cluster.local/ns/shop/sa/web"}


def test_failed_call_without_messages_is_trailers_only(calls: list[HttpExchange]) -> None:
    response = calls[1].response
    assert response.headers == [
        (":status", "200"),
        ("content-type", "application/grpc"),
        ("grpc-status", "5"),
        ("grpc-message", "user u-9 not found: 100%25"),
    ]
    assert response.body_chunks == []
    assert response.trailers == []


def test_json_messages_are_encoded_with_the_descriptor_set(
    calls: list[HttpExchange], schemas: MessageSchemas
) -> None:
    exchange = calls[2]
    method = schemas.method("acme.users.v1.Users", "ListUsers")
    assert [frame.payload for frame in split_frames(exchange.request.body).frames] == [
        schemas.encode_json(method.input_type, {"userId": "u-1"})
    ]
    replies = split_frames(exchange.response.body)
    assert replies.trailing == b""
    assert [schemas.decode(method.output_type, frame.payload) for frame in replies.frames] == [
        {"user_id": "u-1", "email": "a@example.com"},
        {"user_id": "u-2", "age": 7},
    ]
    # One chunk per message, as a streaming server sends them.
    assert len(exchange.response.body_chunks) == 2


def test_base64_messages_need_no_descriptor_set() -> None:
    exchange = read_grpc(FIXTURES / "users-raw.grpc.jsonl").exchanges[0]
    assert split_frames(exchange.response.body).frames == [GrpcFrame(USER_42)]


def test_json_message_without_descriptor_set_is_a_clear_error() -> None:
    with pytest.raises(TrafficError) as caught:
        read_grpc(FIXTURES / "users.grpc.jsonl")
    assert str(caught.value) == (
        f"{FIXTURES / 'users.grpc.jsonl'}: line 3: "
        "request[0].json needs a descriptor set (--descriptor-set FILE.pb) to encode"
    )


def write_calls(tmp_path: Path, *calls: object) -> Path:
    path = tmp_path / "calls.grpc.jsonl"
    path.write_text("".join(json.dumps(call) + "\n" for call in calls))
    return path


BASE = {
    "service": "acme.users.v1.Users",
    "method": "GetUser",
    "authority": "u:1",
    "request": [{"base64": "CgR1LTQy"}],
}


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"status": 17}, "status 17 is not a gRPC status code (0-16)"),
        ({"request": [{"base64": "@@"}]}, "request[0].base64 is not valid base64"),
        ({"request": [{}]}, "request[0].base64 or json is required"),
        ({"request": [{"base64": "", "json": {}}]}, "request[0].json cannot be given together with base64"),
        ({"request": [{"b64": "AA=="}]}, "request[0] has unknown field 'b64'"),
        ({"method": "Get/User"}, "service and method must be non-empty names without '/'"),
        ({"methd": "x"}, "record has unknown field 'methd'"),
        ({"scheme": "grpc"}, "scheme 'grpc' must be 'http' or 'https'"),
    ],
)
def test_malformed_calls_name_line_and_field(
    tmp_path: Path, changes: dict[str, object], message: str
) -> None:
    path = write_calls(tmp_path, BASE, {**BASE, **changes})
    with pytest.raises(TrafficError) as caught:
        read_grpc(path)
    assert str(caught.value).startswith(f"{path}: line 2: {message}")


def test_unknown_method_with_descriptor_set_is_named(tmp_path: Path, schemas: MessageSchemas) -> None:
    path = write_calls(tmp_path, {**BASE, "method": "DeleteUser"})
    with pytest.raises(
        TrafficError, match=r"line 1: method service 'acme\.users\.v1\.Users' has no method 'DeleteUser'"
    ):
        read_grpc(path, schemas)


def test_json_message_that_does_not_fit_the_type_is_named(tmp_path: Path, schemas: MessageSchemas) -> None:
    path = write_calls(tmp_path, {**BASE, "request": [{"json": {"userId": 5, "nope": 1}}]})
    with pytest.raises(
        TrafficError, match=r"line 1: request\[0\]\.json not a valid acme\.users\.v1\.GetUserRequest"
    ):
        read_grpc(path, schemas)


def test_split_frames_keeps_truncated_and_non_grpc_bytes_as_trailing() -> None:
    whole = encode_frame(b"abc") + encode_frame(b"", compressed=True)
    split = split_frames(whole + b"\x00\x00\x00\x00\x09abc")
    assert split.frames == [GrpcFrame(b"abc"), GrpcFrame(b"", compressed=True)]
    assert split.trailing == b"\x00\x00\x00\x00\x09abc"
    assert split_frames(b"{json}").frames == []
    assert split_frames(b"{json}").trailing == b"{json}"


def test_descriptor_set_errors(tmp_path: Path) -> None:
    garbage = tmp_path / "garbage.pb"
    garbage.write_bytes(b"\xff\xff\xff")
    with pytest.raises(SchemaError, match=r"garbage\.pb: not a FileDescriptorSet"):
        MessageSchemas.from_file(garbage)
    empty = tmp_path / "empty.pb"
    empty.write_bytes(b"")
    with pytest.raises(SchemaError, match=r"empty\.pb: the descriptor set holds no files"):
        MessageSchemas.from_file(empty)


def test_raw_wire_format_reads_fields_without_a_schema() -> None:
    assert decode_raw_lines(USER_42) == ['1: "u-42"', '2: "bob@example.com"', "3: 41"]
    nested = b"\x22\x04\x08\x02\x10\x03" + b"\x2d\x01\x00\x00\x00" + b"\x0a\x02\xff\x00"
    assert decode_raw_lines(nested) == ["4 {", "  1: 2", "  2: 3", "}", "5: 0x00000001", "1: 0xff00"]
    assert decode_raw_lines(b"{json}") is None
    assert decode_raw_lines(b"\x0a\x05ab") is None


def test_raw_wire_format_stops_nesting_at_the_depth_limit() -> None:
    payload = b"\x08\x01"
    for _ in range(MAX_DEPTH + 3):
        payload = b"\x0a" + bytes([len(payload)]) + payload
    lines = decode_raw_lines(payload)
    assert lines is not None
    assert sum(line.strip().endswith("{") for line in lines) == MAX_DEPTH
    assert any(line.strip().startswith("1: 0x") for line in lines)
