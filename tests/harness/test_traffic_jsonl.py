"""JSON lines of exchanges: the documented schema, chunked and base64 bodies, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.traffic import HttpExchange, TrafficError
from harness.traffic.jsonl import read_jsonl

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"


def write_lines(tmp_path: Path, *records: object) -> Path:
    path = tmp_path / "traffic.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


@pytest.fixture(scope="module")
def payments() -> list[HttpExchange]:
    return read_jsonl(FIXTURES / "payments.jsonl").exchanges


def test_body_chunks_arrive_as_written(payments: list[HttpExchange]) -> None:
    request = payments[0].request
    assert request.body_chunks == [b'{"card":"4111 11', b'11 1111 1111","amount":1999}']
    assert [(name, value) for name, value in request.headers if name != "x-request-id"] == [
        (":authority", "payments.example.com"),
        (":path", "/v1/charges"),
        (":method", "POST"),
        (":scheme", "https"),
        ("content-type", "application/json"),
        ("x-tag", "a"),
        ("x-tag", "b"),
        ("x-forwarded-proto", "https"),
    ]


def test_connection_facts_id_and_source(payments: list[HttpExchange]) -> None:
    exchange = payments[0]
    assert exchange.exchange_id == "pay-1"
    assert exchange.source.endswith("payments.jsonl#line 1")
    assert exchange.connection == {
        "source.address": "10.0.0.7:51234",
        "source.principal": "spiffe://cluster.local/ns/shop/sa/web",
    }


def test_json_body_is_serialised_compactly(payments: list[HttpExchange]) -> None:
    response = payments[0].response
    assert response.headers == [(":status", "201"), ("content-type", "application/json")]
    assert response.body_chunks == [b'{"id":"ch_1","last4":"1111"}']


def test_path_form_base64_body_trailers_and_header_object(payments: list[HttpExchange]) -> None:
    # The blank line 2 is skipped; this record is line 3 and takes its number as id.
    exchange = payments[1]
    assert exchange.exchange_id == "3"
    request = exchange.request
    assert request.header(":authority") == "payments.internal:8080"
    assert request.header(":path") == "/v1/refunds?charge=ch_1"
    assert request.header(":scheme") == "http"
    assert request.header(":method") == "GET"
    assert [value for name, value in request.headers if name == "x-tag"] == ["c", "d"]
    assert request.header("connection") is None
    assert request.body_chunks == [b"\x00\x01\x02\xff"]
    assert request.trailers == [("x-checksum", "abc")]
    assert exchange.response.headers == [(":status", "404")]
    assert exchange.response.body == b"not found"
    assert exchange.response.trailers == [("x-served-by", "node-2")]


def test_defaults_response_and_protocol(payments: list[HttpExchange]) -> None:
    exchange = payments[2]
    assert exchange.protocol == "HTTP/2"
    assert exchange.request.header(":method") == "GET"
    assert exchange.response.headers == [(":status", "200")]
    assert exchange.response.body_chunks == []


def test_malformed_line_is_named() -> None:
    with pytest.raises(TrafficError) as caught:
        read_jsonl(FIXTURES / "bad-line.jsonl")
    assert (
        str(caught.value)
        == f"{FIXTURES / 'bad-line.jsonl'}: line 2: response.status must be an integer, not a string"
    )


@pytest.mark.parametrize(
    ("record", "message"),
    [
        ({"request": {"url": "http://a/"}, "reponse": {}}, "record has unknown field 'reponse'"),
        ({"request": {"url": "http://a/", "bdy": "x"}}, "request has unknown field 'bdy'"),
        ({"response": {}}, "request is missing"),
        ({"request": {"path": "/x"}}, "request.authority is missing"),
        ({"request": {"path": "x", "authority": "a"}}, "request.path 'x' must start with '/'"),
        ({"request": {"url": "http://a/", "path": "/"}}, "request.path cannot be given together with url"),
        (
            {"request": {"url": "http://a/", "body": "x", "json": {}}},
            "request.json cannot be given together with body",
        ),
        (
            {"request": {"url": "http://a/", "body": ["ok", 7]}},
            "request.body[1] must be a string, not a number",
        ),
        (
            {"request": {"url": "http://a/", "body": "!!", "body_encoding": "base64"}},
            "request.body is not valid base64",
        ),
        (
            {"request": {"url": "http://a/", "body": "x", "body_encoding": "latin-1"}},
            "request.body_encoding 'latin-1' is not supported",
        ),
        (
            {"request": {"url": "http://a/", "headers": [["a"]]}},
            "request.headers[0] must be a [name, value] pair of strings",
        ),
        (
            {"request": {"url": "http://a/", "headers": {"a": 1}}},
            "request.headers.a must be a string or an array of strings, not a number",
        ),
        (
            {"request": {"url": "http://a/", "headers": [[":path", "/x"]]}},
            "request.headers[0] ':path' is a pseudo-header",
        ),
        (
            {"request": {"url": "http://a/", "headers": "a: b"}},
            "request.headers must be an array of [name, value] pairs or an object",
        ),
        (
            {"request": {"url": "http://a/", "headers": [["x-ok", "1"], ["bad name", "v"]]}},
            "request.headers[1] name 'bad name' is not a valid header name",
        ),
        ({"protocol": "SPDY", "request": {"url": "http://a/"}}, "protocol 'SPDY' is not one of"),
        (
            {"connection": {"source.address": 5}, "request": {"url": "http://a/"}},
            "connection.source.address must be a string",
        ),
        ([1, 2], "must be an object, not an array"),
    ],
)
def test_schema_violations_name_line_and_field(tmp_path: Path, record: object, message: str) -> None:
    path = write_lines(tmp_path, {"request": {"url": "http://ok/"}}, record)
    with pytest.raises(TrafficError) as caught:
        read_jsonl(path)
    assert str(caught.value).startswith(f"{path}: line 2: {message}")


def test_line_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "t.jsonl"
    path.write_text('{"request": {"url": "http://a/"}}\n{"request": \n')
    with pytest.raises(TrafficError, match=r"t\.jsonl: line 2: not JSON: Expecting value \(column 13\)$"):
        read_jsonl(path)


def test_missing_file_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(TrafficError, match=r"nope\.jsonl: cannot read: No such file or directory$"):
        read_jsonl(tmp_path / "nope.jsonl")


def test_empty_chunks_are_dropped(tmp_path: Path) -> None:
    path = write_lines(tmp_path, {"request": {"url": "http://a/", "body": ["", "ab", ""]}})
    assert read_jsonl(path).exchanges[0].request.body_chunks == [b"ab"]


def test_started_at_is_read_as_epoch_seconds(tmp_path: Path) -> None:
    path = write_lines(
        tmp_path,
        {"started_at": "2026-03-01T12:00:00.5Z", "request": {"url": "http://a/"}},
        {"started_at": "2026-03-01T12:00:00", "request": {"url": "http://a/"}},
        {"request": {"url": "http://a/"}},
        {"started_at": "yesterday", "request": {"url": "http://a/"}},
    )
    with pytest.raises(
        TrafficError, match=r"line 4: started_at 'yesterday' is not an ISO 8601 date and time$"
    ):
        read_jsonl(path)
    path.write_text("\n".join(path.read_text().splitlines()[:3]) + "\n")
    assert [exchange.started_at for exchange in read_jsonl(path).exchanges] == [
        1772366400.5,
        1772366400.0,
        None,
    ]
