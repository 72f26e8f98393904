"""gRPC capture reader: one call per JSON line, replayed as HTTP/2 gRPC exchanges.

Schema of a line (blank lines are skipped; lines are counted from 1):

    {
      "id": "get-user-1",                        optional; default: the line number
      "service": "acme.users.v1.Users",          required; package-qualified service
      "method": "GetUser",                       required
      "authority": "users.shop.svc:50051",       required
      "scheme": "http",                          optional; http (default) or https
      "connection": {"source.principal": "spiffe://…"},   optional; as in JSON lines
      "started_at": "2026-01-05T10:00:00Z",      optional; as in JSON lines
      "metadata": {"authorization": "Bearer …"}, optional; request metadata, as headers in
                                                 the JSON lines schema ([[k, v]] or {k: v})
      "request": [MESSAGE, …],                   the client's messages (unary: exactly one)
      "response_metadata": {…},                  optional; the server's initial metadata
      "response": [MESSAGE, …],                  the server's messages
      "status": 0,                               optional; grpc-status, 0 (OK) by default
      "message": "not found",                    optional; grpc-message
      "trailers": {…}                            optional; more trailing metadata
    }

    MESSAGE is {"base64": "CgNib2I="} (serialised protobuf), optionally with
    "compressed": true when the bytes are already compressed with the call's
    grpc-encoding; or {"json": {"name": "bob"}}, encoded with the method's input or
    output type from the descriptor set given with --descriptor-set.

Each call becomes what Envoy carries for it: request headers `:method POST`,
`:path /service/method`, `content-type: application/grpc`, `te: trailers`, a body of
5-byte length-prefixed frames (one chunk per message), then a response with
`:status 200`, frames, and `grpc-status`/`grpc-message` trailers. A failed call without
messages is sent trailers-only (grpc-status in the response headers), as gRPC servers do.
"""

from __future__ import annotations

from pathlib import Path
from urllib.parse import quote

from google.protobuf.descriptor import Descriptor

from harness.traffic.bodies import decode_base64
from harness.traffic.capture import Capture
from harness.traffic.errors import FieldError, TrafficError
from harness.traffic.grpc_frames import MAX_MESSAGE_SIZE, encode_frame
from harness.traffic.headers import RequestTarget, request_headers, response_headers
from harness.traffic.json_fields import JsonObject, describe
from harness.traffic.jsonl import header_pairs, iter_json_lines, started_at, string_map
from harness.traffic.model import Headers, HttpExchange, HttpMessage
from harness.traffic.protobuf_schema import MessageSchemas, SchemaError

GRPC_CONTENT_TYPE = "application/grpc"
_FIELDS = (
    "id",
    "service",
    "method",
    "authority",
    "scheme",
    "connection",
    "comment",
    "started_at",
    "metadata",
    "request",
    "response_metadata",
    "response",
    "status",
    "message",
    "trailers",
)
_MAX_STATUS = 16  # UNAUTHENTICATED, the last code gRPC defines


def read_grpc(path: Path, schemas: MessageSchemas | None = None, source: str | None = None) -> Capture:
    name = source or str(path)
    capture = Capture(source=name, format="grpc", exchanges=[])
    for line_number, record in iter_json_lines(path, name):
        try:
            capture.exchanges.append(_read_call(JsonObject(record, ""), line_number, name, schemas))
        except FieldError as error:
            raise TrafficError(name, f"line {line_number}", str(error)) from error
    return capture


def _read_call(call: JsonObject, line_number: int, name: str, schemas: MessageSchemas | None) -> HttpExchange:
    call.reject_unknown(_FIELDS)
    exchange_id = call.string("id", str(line_number))
    service, method = call.string("service"), call.string("method")
    if "/" in service or "/" in method or not service or not method:
        raise call.error(
            "service", f"and method must be non-empty names without '/' (got {service!r}, {method!r})"
        )
    input_type, output_type = _message_types(call, schemas, service, method)
    scheme = call.string("scheme", "http")
    if scheme not in ("http", "https"):
        raise call.error("scheme", f"{scheme!r} must be 'http' or 'https'")
    target = RequestTarget(scheme=scheme, authority=call.string("authority"), path=f"/{service}/{method}")
    metadata = [
        *header_pairs(call, "metadata"),
        ("content-type", GRPC_CONTENT_TYPE),
        ("te", "trailers"),
    ]
    request = HttpMessage(
        request_headers("POST", target, metadata, request_id_seed=f"{name}#{exchange_id}"),
        _frames(call, "request", input_type, schemas),
    )
    return HttpExchange(
        request=request,
        response=_response(call, output_type, schemas),
        exchange_id=exchange_id,
        source=f"{name}#line {line_number}",
        connection=string_map(call, "connection"),
        protocol="HTTP/2",
        started_at=started_at(call),
    )


def _message_types(
    call: JsonObject, schemas: MessageSchemas | None, service: str, method: str
) -> tuple[Descriptor | None, Descriptor | None]:
    if schemas is None:
        return None, None
    try:
        descriptor = schemas.method(service, method)
    except SchemaError as error:
        raise call.error("method", str(error)) from error
    return descriptor.input_type, descriptor.output_type


def _response(
    call: JsonObject, output_type: Descriptor | None, schemas: MessageSchemas | None
) -> HttpMessage:
    status = call.integer("status", 0)
    if not 0 <= status <= _MAX_STATUS:
        raise call.error("status", f"{status} is not a gRPC status code (0-{_MAX_STATUS})")
    status_headers: Headers = [("grpc-status", str(status))]
    if "message" in call:
        # grpc-message is percent-encoded on the wire (gRPC over HTTP/2, "Status-Message").
        status_headers.append(
            ("grpc-message", quote(call.string("message"), safe=" !\"#$&'()*+,-./:;<=>?@[\\]^_`{|}~"))
        )
    initial = [*header_pairs(call, "response_metadata"), ("content-type", GRPC_CONTENT_TYPE)]
    chunks = _frames(call, "response", output_type, schemas)
    trailers = [*status_headers, *header_pairs(call, "trailers")]
    if not chunks and status != 0:
        # Trailers-only: the status rides in the only header block.
        return HttpMessage(response_headers(200, [*initial, *trailers], "status"))
    return HttpMessage(response_headers(200, initial, "status"), chunks, trailers)


def _frames(
    call: JsonObject, key: str, descriptor: Descriptor | None, schemas: MessageSchemas | None
) -> list[bytes]:
    frames: list[bytes] = []
    for message in call.objects(key):
        message.reject_unknown(("base64", "json", "compressed"))
        if "base64" in message and "json" in message:
            raise message.error("json", "cannot be given together with base64")
        compressed = message.boolean("compressed", default=False)
        if "base64" in message:
            payload = decode_base64(message.string("base64"), message.field_path("base64"))
        elif "json" in message:
            if compressed:
                raise message.error("compressed", "applies only to base64 messages")
            payload = _encode_json(message, descriptor, schemas)
        else:
            raise message.error("base64", "or json is required")
        if len(payload) > MAX_MESSAGE_SIZE:
            raise message.error("base64", f"message is {len(payload)} bytes, over gRPC's {MAX_MESSAGE_SIZE}")
        frames.append(encode_frame(payload, compressed=compressed))
    return frames


def _encode_json(message: JsonObject, descriptor: Descriptor | None, schemas: MessageSchemas | None) -> bytes:
    if schemas is None or descriptor is None:
        raise message.error("json", "needs a descriptor set (--descriptor-set FILE.pb) to encode")
    value = message.raw("json")
    if not isinstance(value, dict):
        raise message.error("json", f"must be an object, not {describe(value)}")
    try:
        return schemas.encode_json(descriptor, value)
    except SchemaError as error:
        raise message.error("json", str(error)) from error
