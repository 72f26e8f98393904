"""JSON lines reader: one exchange per line, written by hand or by tools.

Schema of a line (a JSON object; blank lines are skipped; lines are counted from 1):

    {
      "id": "login-1",                        optional; default: the line number
      "protocol": "HTTP/2",                   optional; HTTP/1.0, HTTP/1.1 (default), HTTP/2, HTTP/3
      "connection": {                         optional; facts the host answers as properties
        "source.address": "10.0.0.7:51234",
        "source.principal": "spiffe://cluster.local/ns/shop/sa/web"
      },
      "comment": "anything",                  optional; ignored
      "started_at": "2026-01-05T10:00:00Z",   optional; when the request was sent (ISO 8601);
                                              the replay's virtual clock follows it
      "request": {                            required
        "method": "POST",                     default GET
        "url": "https://api.example.com/v1/users?page=2",
                                              or instead of url: "path": "/v1/users?page=2",
                                              "authority": "api.example.com", "scheme": "https"
                                              (scheme defaults to http)
        "headers": [["content-type", "application/json"], ["x-tag", "a"], ["x-tag", "b"]],
                                              or an object: {"content-type": "application/json",
                                              "x-tag": ["a", "b"]}; no pseudo-headers here
        "body": "{\"card\": \"4111 1111",      a string, or an array of strings: the chunks in the
                                              order they arrive, e.g. ["{\"card\": \"4111 11",
                                              "11 1111 1111 1111\"}"] splits a value across two
        "body_encoding": "base64",            optional; "utf-8" (default) or "base64" for every
                                              string in body
        "json": {"card": "4111 1111 …"},      instead of body: the compact serialisation of any
                                              JSON value, as one chunk
        "trailers": [["grpc-status", "0"]]    optional; like headers
      },
      "response": {                           optional; default {"status": 200} with no body
        "status": 200,                        default 200
        "headers": …, "body": …, "body_encoding": …, "json": …, "trailers": …   as for request
      }
    }

Headers are shaped as Envoy presents them to filters (`:authority`, `:path`, `:method`,
`:scheme` first; `:status` on responses; hop-by-hop headers removed; `x-request-id` and
`x-forwarded-proto` added when absent), see `harness.traffic.headers`. Unlike HAR, a
`content-length` is left as written, so a test can replay a mismatch on purpose. Unknown
fields are errors, so a typo never silently changes a replay.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from harness.traffic.bodies import decode_base64
from harness.traffic.capture import Capture
from harness.traffic.errors import FieldError, TrafficError
from harness.traffic.headers import (
    RequestTarget,
    check_method,
    clean_header_list,
    request_headers,
    response_headers,
)
from harness.traffic.json_fields import JsonObject, describe, join_path
from harness.traffic.model import Headers, HttpExchange, HttpMessage
from harness.traffic.timestamps import parse_timestamp

PROTOCOLS = ("HTTP/1.0", "HTTP/1.1", "HTTP/2", "HTTP/3")
_RECORD_FIELDS = ("id", "protocol", "connection", "comment", "started_at", "request", "response")
_MESSAGE_FIELDS = ("headers", "body", "body_encoding", "json", "trailers")
_REQUEST_FIELDS = (*_MESSAGE_FIELDS, "method", "url", "path", "authority", "scheme")
_RESPONSE_FIELDS = (*_MESSAGE_FIELDS, "status")


def read_jsonl(path: Path, source: str | None = None) -> Capture:
    name = source or str(path)
    capture = Capture(source=name, format="jsonl", exchanges=[])
    for line_number, record in iter_json_lines(path, name):
        try:
            capture.exchanges.append(_read_record(JsonObject(record, ""), line_number, name))
        except FieldError as error:
            raise TrafficError(name, f"line {line_number}", str(error)) from error
    return capture


def iter_json_lines(path: Path, name: str) -> Iterator[tuple[int, Any]]:
    """(line number, parsed value) for every non-blank line; bad JSON names its line."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as error:
        raise TrafficError(name, "", f"cannot read: {error.strerror or error}") from error
    with handle:
        line_number = 0
        try:
            for line_number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                try:
                    yield line_number, json.loads(line.rstrip("\r\n"))
                except json.JSONDecodeError as error:
                    raise TrafficError(
                        name, f"line {line_number}", f"not JSON: {error.msg} (column {error.colno})"
                    ) from error
        except UnicodeDecodeError as error:
            raise TrafficError(name, f"line {line_number + 1}", "is not UTF-8") from error


def _read_record(record: JsonObject, line_number: int, name: str) -> HttpExchange:
    record.reject_unknown(_RECORD_FIELDS)
    exchange_id = record.string("id", str(line_number))
    protocol = record.string("protocol", "HTTP/1.1")
    if protocol not in PROTOCOLS:
        raise record.error("protocol", f"{protocol!r} is not one of {', '.join(PROTOCOLS)}")
    request = record.object("request")
    request.reject_unknown(_REQUEST_FIELDS)
    method = check_method(request.string("method", "GET"), request.field_path("method"))
    recorded = header_pairs(request, "headers")
    headers = request_headers(method, _target(request), recorded, request_id_seed=f"{name}#{exchange_id}")
    response = record.optional_object("response")
    return HttpExchange(
        request=HttpMessage(headers, body_chunks(request), header_pairs(request, "trailers")),
        response=_response(response),
        exchange_id=exchange_id,
        source=f"{name}#line {line_number}",
        connection=string_map(record, "connection"),
        protocol=protocol,
        started_at=started_at(record),
    )


def _target(request: JsonObject) -> RequestTarget:
    if "url" in request:
        for conflicting in ("path", "authority", "scheme"):
            if conflicting in request:
                raise request.error(conflicting, "cannot be given together with url")
        return RequestTarget.from_url(request.string("url"), request.field_path("url"))
    path = request.string("path")
    if not path.startswith("/"):
        raise request.error("path", f"{path!r} must start with '/'")
    scheme = request.string("scheme", "http")
    if scheme not in ("http", "https"):
        raise request.error("scheme", f"{scheme!r} must be 'http' or 'https'")
    return RequestTarget(scheme=scheme, authority=request.string("authority"), path=path)


def _response(response: JsonObject | None) -> HttpMessage:
    if response is None:
        return HttpMessage(response_headers(200, [], "response.status"))
    response.reject_unknown(_RESPONSE_FIELDS)
    status = response.integer("status", 200)
    headers = response_headers(status, header_pairs(response, "headers"), response.field_path("status"))
    return HttpMessage(headers, body_chunks(response), header_pairs(response, "trailers"))


def header_pairs(message: JsonObject, key: str) -> Headers:
    """Headers written as [[name, value], …] or {name: value or [values]}; no pseudo-headers."""
    raw = message.raw(key)
    field = message.field_path(key)
    pairs: list[tuple[str, str]] = []
    if raw is None:
        return []
    if isinstance(raw, dict):
        for name, value in raw.items():
            values = value if isinstance(value, list) else [value]
            for item in values:
                if not isinstance(item, str):
                    raise FieldError(
                        join_path(field, name),
                        f"must be a string or an array of strings, not {describe(item)}",
                    )
                pairs.append((name, item))
    elif isinstance(raw, list):
        for index, item in enumerate(raw):
            if not (
                isinstance(item, list) and len(item) == 2 and all(isinstance(part, str) for part in item)
            ):
                raise FieldError(join_path(field, index), "must be a [name, value] pair of strings")
            pairs.append((item[0], item[1]))
    else:
        raise FieldError(field, f"must be an array of [name, value] pairs or an object, not {describe(raw)}")
    for index, (name, _) in enumerate(pairs):
        if name.startswith(":"):
            raise FieldError(
                join_path(field, index), f"{name!r} is a pseudo-header; use the method/url fields instead"
            )
    return clean_header_list(pairs, field)


def body_chunks(message: JsonObject) -> list[bytes]:
    if "json" in message:
        if "body" in message:
            raise message.error("json", "cannot be given together with body")
        return [json.dumps(message.raw("json"), separators=(",", ":"), ensure_ascii=False).encode("utf-8")]
    raw = message.raw("body")
    if raw is None:
        return []
    encoding = message.string("body_encoding", "utf-8")
    if encoding not in ("utf-8", "base64"):
        raise message.error("body_encoding", f"{encoding!r} is not supported (only 'utf-8' or 'base64')")
    field = message.field_path("body")
    pieces = raw if isinstance(raw, list) else [raw]
    chunks: list[bytes] = []
    for index, piece in enumerate(pieces):
        where = join_path(field, index) if isinstance(raw, list) else field
        if not isinstance(piece, str):
            raise FieldError(where, f"must be a string, not {describe(piece)}")
        chunk = decode_base64(piece, where) if encoding == "base64" else piece.encode("utf-8")
        # An empty chunk carries nothing to a filter; Envoy never delivers one mid-stream.
        if chunk:
            chunks.append(chunk)
    return chunks


def started_at(record: JsonObject) -> float | None:
    text = record.optional_string("started_at")
    return parse_timestamp(text, record.field_path("started_at")) if text else None


def string_map(record: JsonObject, key: str) -> dict[str, str]:
    facts = record.optional_object(key)
    if facts is None:
        return {}
    return {name: facts.string(name) for name in facts}
