"""HAR 1.2 reader: the HTTP Archive format browsers and proxies export.

Each `log.entries[i]` becomes one exchange. Entries are counted from 1 in messages
("capture.har: entry 3: …"), so entry 3 is `log.entries[2]`. What the reader does to
replay an entry as Envoy would have carried it:

- `:authority`, `:path`, `:method`, `:scheme` come from the request URL (a recorded
  `Host` or `:authority` header wins); HTTP/2 pseudo-headers in the header lists are
  replaced by these, hop-by-hop headers dropped (see `headers`).
- The request body is `postData.text` (base64 when `postData.encoding` says so), or, for
  form posts recorded only as `params`, those parameters url-encoded again.
- The response body is `content.text` (base64 when `content.encoding` is "base64").
  HAR holds it decoded, so a `content-encoding` of gzip or deflate is applied again;
  others (br) leave the body decoded without the header, with a note on the exchange.
  A body the capture left out is replayed empty, with a note.
- `content-length` is made to agree with the body replayed.
- Entries with response status 0 (the browser never got a response) are skipped.
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlencode

from harness.traffic.bodies import decode_text, reapply_content_encoding
from harness.traffic.capture import Capture
from harness.traffic.errors import FieldError, TrafficError
from harness.traffic.headers import (
    RequestTarget,
    check_method,
    clean_header_list,
    request_headers,
    response_headers,
    set_content_length,
)
from harness.traffic.json_fields import JsonObject
from harness.traffic.model import Headers, HttpExchange, HttpMessage
from harness.traffic.timestamps import parse_timestamp

_PROTOCOLS = {
    "http/1.0": "HTTP/1.0",
    "http/1.1": "HTTP/1.1",
    "h2": "HTTP/2",
    "http/2": "HTTP/2",
    "http/2.0": "HTTP/2",
    "h3": "HTTP/3",
    "http/3": "HTTP/3",
}
_FORM_MIME = "application/x-www-form-urlencoded"


def read_har(path: Path, source: str | None = None) -> Capture:
    name = source or str(path)
    document = load_json_document(path, name)
    try:
        entries = JsonObject(document, "").object("log").array("entries", required=True)
    except FieldError as error:
        raise TrafficError(name, "", str(error)) from error
    capture = Capture(source=name, format="har", exchanges=[])
    for number, raw_entry in enumerate(entries, start=1):
        location = f"entry {number}"
        try:
            # Paths inside an entry start at the entry: "response.content.encoding".
            exchange = _read_entry(JsonObject(raw_entry, ""), number, name)
        except FieldError as error:
            raise TrafficError(name, location, str(error)) from error
        if exchange is None:
            capture.skipped.append(f"{name}: {location}: response.status 0 (no response was recorded)")
        else:
            capture.exchanges.append(exchange)
    return capture


def load_json_document(path: Path, name: str) -> object:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as error:
        raise TrafficError(name, "", f"cannot read: {error.strerror or error}") from error
    except UnicodeDecodeError as error:
        raise TrafficError(name, f"byte {error.start}", "is not UTF-8") from error
    try:
        return json.loads(text)
    except json.JSONDecodeError as error:
        raise TrafficError(
            name, f"line {error.lineno} column {error.colno}", f"not JSON: {error.msg}"
        ) from error


def _read_entry(entry: JsonObject, number: int, name: str) -> HttpExchange | None:
    request = entry.object("request")
    response = entry.object("response")
    status = response.integer("status")
    if status == 0:
        return None
    method = check_method(request.string("method"), request.field_path("method"))
    target = _target(request)
    recorded_request = _header_list(request)
    request_body = _request_body(request)
    headers = request_headers(method, target, recorded_request, request_id_seed=f"{name}#entry {number}")
    notes: list[str] = []
    response_message = _response(response, status, notes)
    exchange = HttpExchange(
        request=HttpMessage(set_content_length(headers, len(request_body)), _chunks(request_body)),
        response=response_message,
        exchange_id=str(number),
        source=f"{name}#entry {number}",
        connection=_connection_facts(entry, target),
        protocol=_PROTOCOLS.get(request.string("httpVersion", "").lower(), "HTTP/1.1"),
        notes=notes,
        started_at=_started_at(entry),
    )
    return exchange


def _target(request: JsonObject) -> RequestTarget:
    target = RequestTarget.from_url(request.string("url"), request.field_path("url"))
    if "?" in target.path:
        return target
    # Some exporters keep the query only in queryString.
    query = [(item.string("name"), item.string("value", "")) for item in request.objects("queryString")]
    if not query:
        return target
    return RequestTarget(target.scheme, target.authority, f"{target.path}?{urlencode(query)}")


def _header_list(message: JsonObject) -> Headers:
    pairs = [(item.string("name"), item.string("value", "")) for item in message.objects("headers")]
    return clean_header_list(pairs, message.field_path("headers"))


def _request_body(request: JsonObject) -> bytes:
    post = request.optional_object("postData")
    if post is None:
        return b""
    if "text" in post:
        # `encoding` is not in HAR 1.2 for postData, but several exporters write it.
        return decode_text(post.string("text"), post.optional_string("encoding"), post.field_path("encoding"))
    params = [(item.string("name"), item.string("value", "")) for item in post.objects("params")]
    if not params:
        return b""
    mime = post.string("mimeType", "")
    if not mime.lower().startswith(_FORM_MIME):
        raise post.error(
            "text", f"is missing, and params can only rebuild {_FORM_MIME} bodies (not {mime!r})"
        )
    return urlencode(params).encode("ascii")


def _response(response: JsonObject, status: int, notes: list[str]) -> HttpMessage:
    headers = response_headers(status, _header_list(response), response.field_path("status"))
    content = response.optional_object("content")
    body = b""
    if content is not None and "text" in content:
        body = decode_text(
            content.string("text"), content.optional_string("encoding"), content.field_path("encoding")
        )
    elif content is not None and content.integer("size", 0) > 0:
        notes.append(f"response body not recorded ({content.integer('size')} bytes); replayed empty")
    coding = next((value for key, value in headers if key == "content-encoding"), None)
    if body and coding is not None:
        encoded = reapply_content_encoding(body, coding)
        body = encoded.body
        if encoded.note is not None:
            notes.append(encoded.note)
            headers = [(key, value) for key, value in headers if key != "content-encoding"]
    return HttpMessage(set_content_length(headers, len(body)), _chunks(body))


def _started_at(entry: JsonObject) -> float | None:
    text = entry.optional_string("startedDateTime")
    return parse_timestamp(text, entry.field_path("startedDateTime")) if text else None


def _connection_facts(entry: JsonObject, target: RequestTarget) -> dict[str, str]:
    server = entry.optional_string("serverIPAddress")
    if not server:
        return {}
    host = server.strip("[]")
    _, _, port = target.authority.rpartition(":")
    if not port.isdigit():
        port = "443" if target.scheme == "https" else "80"
    address = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    return {"destination.address": address}


def _chunks(body: bytes) -> list[bytes]:
    return [body] if body else []
