"""HAR 1.2 files become exchanges shaped as Envoy presents them to filters."""

from __future__ import annotations

import gzip
import json
import re
from pathlib import Path

import pytest

from harness.traffic import HttpExchange, TrafficError
from harness.traffic.har import read_har

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"
UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")


def without_request_id(exchange: HttpExchange) -> list[tuple[str, str]]:
    return [(name, value) for name, value in exchange.request.headers if name != "x-request-id"]


def write_har(tmp_path: Path, entries: list[object]) -> Path:
    path = tmp_path / "capture.har"
    path.write_text(json.dumps({"log": {"version": "1.2", "entries": entries}}))
    return path


def minimal_entry(**response_content: object) -> dict[str, object]:
    return {
        "request": {"method": "GET", "url": "http://a.example.com/", "headers": []},
        "response": {"status": 200, "headers": [], "content": {"size": 0, **response_content}},
    }


@pytest.fixture(scope="module")
def shop() -> list[HttpExchange]:
    capture = read_har(FIXTURES / "shop.har")
    assert capture.format == "har"
    return capture.exchanges


def test_http2_entry_gets_envoy_pseudo_headers_and_joined_cookies(shop: list[HttpExchange]) -> None:
    exchange = shop[0]
    assert without_request_id(exchange) == [
        (":authority", "shop.example.com"),
        (":path", "/api/orders?page=2"),
        (":method", "GET"),
        (":scheme", "https"),
        ("accept", "application/json"),
        ("cookie", "session=abc; theme=dark"),
        ("x-forwarded-proto", "https"),
    ]
    assert exchange.request.body_chunks == []
    assert exchange.protocol == "HTTP/2"
    assert exchange.exchange_id == "1"
    assert exchange.source.endswith("shop.har#entry 1")
    assert exchange.connection == {"destination.address": "203.0.113.10:443"}
    # startedDateTime 2026-01-05T10:00:00.000Z
    assert exchange.started_at == 1767607200.0


def test_response_content_length_agrees_with_the_replayed_body(shop: list[HttpExchange]) -> None:
    response = shop[0].response
    assert response.body == b'{"orders":[{"id":1,"total":"19.99"}]}'
    assert response.headers == [
        (":status", "200"),
        ("content-type", "application/json"),
        ("content-length", str(len(response.body))),
    ]


def test_form_post_recorded_as_params_is_rebuilt_and_host_becomes_authority(shop: list[HttpExchange]) -> None:
    exchange = shop[1]
    assert exchange.request.body == b"user=alice&pass=s3cr3t%26x"
    assert without_request_id(exchange) == [
        (":authority", "shop.example.com:8080"),
        (":path", "/api/login"),
        (":method", "POST"),
        (":scheme", "http"),
        ("content-type", "application/x-www-form-urlencoded"),
        ("content-length", "26"),
        ("x-forwarded-proto", "http"),
    ]
    # Hop-by-hop headers of the recording client's connection are gone.
    assert exchange.response.headers == [(":status", "302"), ("location", "/home")]
    assert exchange.response.body_chunks == []


def test_unanswered_entry_is_skipped_and_reported() -> None:
    capture = read_har(FIXTURES / "shop.har")
    assert [exchange.exchange_id for exchange in capture.exchanges] == ["1", "2", "4", "5", "6"]
    assert capture.skipped == [
        f"{FIXTURES / 'shop.har'}: entry 3: response.status 0 (no response was recorded)"
    ]


def test_base64_post_data_userinfo_and_ipv6_server(shop: list[HttpExchange]) -> None:
    exchange = shop[2]
    assert exchange.request.body == bytes([0, 1, 2, 3, 4])
    assert exchange.request.header(":authority") == "shop.example.com:8443"
    assert exchange.connection == {"destination.address": "[2001:db8::7]:8443"}


def test_gzip_response_is_compressed_again_as_it_travelled(shop: list[HttpExchange]) -> None:
    response = shop[2].response
    assert response.header("content-encoding") == "gzip"
    assert gzip.decompress(response.body) == b'{"email":"a@example.com"}'
    assert response.header("content-length") == str(len(response.body))
    assert shop[2].notes == []


def test_brotli_response_is_replayed_decoded_without_the_header_and_noted(shop: list[HttpExchange]) -> None:
    exchange = shop[3]
    assert exchange.response.body == b"console.log(1);"
    assert exchange.response.header("content-encoding") is None
    assert exchange.notes == [
        "content-encoding 'br' cannot be re-applied; body replayed decoded, header removed"
    ]


def test_body_the_capture_left_out_is_replayed_empty_and_noted(shop: list[HttpExchange]) -> None:
    exchange = shop[4]
    assert exchange.response.body_chunks == []
    assert exchange.notes == ["response body not recorded (512 bytes); replayed empty"]


def test_request_ids_are_uuids_stable_across_reads_and_distinct_per_entry(shop: list[HttpExchange]) -> None:
    ids = [exchange.request.header("x-request-id") for exchange in shop]
    assert all(value is not None and UUID.match(value) for value in ids)
    assert len(set(ids)) == len(ids)
    again = [
        exchange.request.header("x-request-id") for exchange in read_har(FIXTURES / "shop.har").exchanges
    ]
    assert again == ids


def test_recorded_request_id_is_kept(tmp_path: Path) -> None:
    entry = minimal_entry()
    entry["request"] = {
        "method": "GET",
        "url": "http://a.example.com/",
        "headers": [{"name": "X-Request-Id", "value": "r-1"}],
    }
    exchange = read_har(write_har(tmp_path, [entry])).exchanges[0]
    assert [value for name, value in exchange.request.headers if name == "x-request-id"] == ["r-1"]


def test_unsupported_content_encoding_names_the_entry_and_field() -> None:
    with pytest.raises(TrafficError) as caught:
        read_har(FIXTURES / "bad-encoding.har")
    assert str(caught.value) == (
        f"{FIXTURES / 'bad-encoding.har'}: entry 3: "
        "response.content.encoding 'rot13' is not supported (only 'base64')"
    )


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ({"response": {"status": 200}}, "entry 1: request is missing"),
        (
            {"request": {"method": "GET", "url": "/relative"}, "response": {"status": 200}},
            "entry 1: request.url '/relative' is not an absolute http(s) URL",
        ),
        (
            {"request": {"method": "GE T", "url": "http://a/"}, "response": {"status": 200}},
            "entry 1: request.method 'GE T' is not an HTTP method",
        ),
        (
            {"request": {"method": "GET", "url": "http://a/"}, "response": {"status": "200"}},
            "entry 1: response.status must be an integer, not a string",
        ),
        (
            {"request": {"method": "GET", "url": "http://a/"}, "response": {"status": 999}},
            "entry 1: response.status 999 is not an HTTP status code",
        ),
        (
            {
                "request": {"method": "GET", "url": "http://a/", "headers": [{"name": "x", "value": 5}]},
                "response": {"status": 200},
            },
            "entry 1: request.headers[0].value must be a string, not a number",
        ),
        (
            {
                "request": {
                    "method": "GET",
                    "url": "http://a/",
                    "headers": [{"name": "x", "value": "a\r\nb: c"}],
                },
                "response": {"status": 200},
            },
            "entry 1: request.headers[0] ('x') has a CR, LF or NUL in its value",
        ),
        (
            {
                "request": {
                    "method": "POST",
                    "url": "http://a/",
                    "postData": {"mimeType": "text/plain", "text": "%%%", "encoding": "base64"},
                },
                "response": {"status": 200},
            },
            "entry 1: request.postData is not valid base64",
        ),
        (
            {
                "request": {
                    "method": "POST",
                    "url": "http://a/",
                    "postData": {"mimeType": "multipart/form-data", "params": [{"name": "f", "value": "v"}]},
                },
                "response": {"status": 200},
            },
            "entry 1: request.postData.text is missing, "
            "and params can only rebuild application/x-www-form-urlencoded bodies",
        ),
        ("not an object", "entry 1: must be an object, not a string"),
    ],
)
def test_malformed_entries_name_the_entry_and_the_field(tmp_path: Path, entry: object, message: str) -> None:
    path = write_har(tmp_path, [minimal_entry(), entry][1:])
    with pytest.raises(TrafficError) as caught:
        read_har(path)
    assert str(caught.value).startswith(f"{path}: {message}")


def test_entry_numbers_count_from_one(tmp_path: Path) -> None:
    path = write_har(
        tmp_path, [minimal_entry(), minimal_entry(), {"request": {}, "response": {"status": 200}}]
    )
    with pytest.raises(TrafficError, match=r": entry 3: request\.method is missing$"):
        read_har(path)


def test_file_that_is_not_json_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.har"
    path.write_text('{"log": {\n  "entries": [,]\n}}')
    with pytest.raises(TrafficError, match=r"broken\.har: line 2 column 15: not JSON: Expecting value$"):
        read_har(path)


def test_missing_log_is_named(tmp_path: Path) -> None:
    path = tmp_path / "empty.har"
    path.write_text("{}")
    with pytest.raises(TrafficError, match=r"empty\.har: log is missing$"):
        read_har(path)


def test_query_kept_only_in_query_string_is_put_back(tmp_path: Path) -> None:
    entry = minimal_entry()
    entry["request"] = {
        "method": "GET",
        "url": "http://a.example.com/search",
        "queryString": [{"name": "q", "value": "a b"}, {"name": "n", "value": "1"}],
    }
    exchange = read_har(write_har(tmp_path, [entry])).exchanges[0]
    assert exchange.request.header(":path") == "/search?q=a+b&n=1"
