"""Bodies as lines of text a person can read and a diff can compare.

JSON is pretty-printed (so a diff shows the one value a filter masked, not one changed
line of a kilobyte), gRPC frames are decoded with the descriptor set when there is one,
other text is shown as is, and anything else as a hex dump.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

from google.protobuf.descriptor import Descriptor

from harness.traffic.grpc_frames import split_frames
from harness.traffic.model import Headers
from harness.traffic.protobuf_schema import MessageSchemas, SchemaError
from harness.traffic.protobuf_wire import decode_raw_lines

HEX_BYTES_PER_LINE = 16
MAX_LINES = 400
"""Lines shown per body; a diff of longer bodies compares the first MAX_LINES only."""


@dataclass(frozen=True)
class BodyContext:
    """What is known about a body besides its bytes."""

    content_type: str = ""
    grpc_message: Descriptor | None = None
    """The protobuf type of this direction's messages, when a descriptor set names it."""
    schemas: MessageSchemas | None = None


def context_for(
    request_headers: Headers, message_headers: Headers, *, response: bool, schemas: MessageSchemas | None
) -> BodyContext:
    """The context of one direction's body, using the request's `:path` to find gRPC types."""
    content_type = next((value for name, value in message_headers if name == "content-type"), "")
    if schemas is None or not content_type.startswith("application/grpc"):
        return BodyContext(content_type=content_type)
    path = next((value for name, value in request_headers if name == ":path"), "")
    service, _, method = path.lstrip("/").partition("/")
    try:
        descriptor = schemas.method(service, method)
    except SchemaError:
        return BodyContext(content_type=content_type)
    message = descriptor.output_type if response else descriptor.input_type
    return BodyContext(content_type=content_type, grpc_message=message, schemas=schemas)


def body_pair_lines(before: bytes, after: bytes, context: BodyContext) -> tuple[list[str], list[str]]:
    """Both sides of a change rendered the same way, so a diff lines them up: JSON only
    when both sides are JSON, text only when both are text, else hex."""
    if context.content_type.startswith("application/grpc"):
        return _limit(_grpc_lines(before, context)), _limit(_grpc_lines(after, context))
    for render in (_json_lines, _text_lines):
        rendered = (render(before), render(after))
        if rendered[0] is not None and rendered[1] is not None:
            return _limit(rendered[0]), _limit(rendered[1])
    return _limit(hex_lines(before)), _limit(hex_lines(after))


def _limit(lines: list[str]) -> list[str]:
    if len(lines) > MAX_LINES:
        return [*lines[:MAX_LINES], f"… {len(lines) - MAX_LINES} more lines"]
    return lines


def hex_lines(data: bytes, offset: int = 0) -> list[str]:
    lines = []
    for start in range(0, len(data), HEX_BYTES_PER_LINE):
        row = data[start : start + HEX_BYTES_PER_LINE]
        printable = "".join(chr(byte) if 32 <= byte < 127 else "." for byte in row)
        lines.append(f"{offset + start:08x}  {row.hex(' '):<{HEX_BYTES_PER_LINE * 3 - 1}}  |{printable}|")
    return lines


def _json_lines(body: bytes) -> list[str] | None:
    if not body:
        return []
    stripped = body.lstrip()
    if stripped[:1] not in (b"{", b"["):
        return None
    try:
        value = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None
    return json.dumps(value, indent=2, ensure_ascii=False).splitlines()


def _text_lines(body: bytes) -> list[str] | None:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        return None
    if any(ord(character) < 32 and character not in "\t\r\n" for character in text):
        return None
    return text.splitlines()


def _grpc_lines(body: bytes, context: BodyContext) -> list[str]:
    split = split_frames(body)
    lines: list[str] = []
    offset = 0
    for number, frame in enumerate(split.frames, start=1):
        flag = ", compressed" if frame.compressed else ""
        lines.append(f"message {number} ({len(frame.payload)} bytes{flag})")
        lines.extend(
            f"  {line}" for line in _message_lines(frame.payload, frame.compressed, context, offset + 5)
        )
        offset += 5 + len(frame.payload)
    if split.trailing:
        lines.append(f"{len(split.trailing)} bytes that are not a whole gRPC frame")
        lines.extend(f"  {line}" for line in hex_lines(split.trailing, offset))
    return lines


def _message_lines(payload: bytes, compressed: bool, context: BodyContext, offset: int) -> list[str]:
    if context.grpc_message is not None and context.schemas is not None and not compressed:
        try:
            return context.schemas.decode_to_text(context.grpc_message, payload).splitlines()
        except SchemaError as error:
            return [f"(not decodable: {error})", *hex_lines(payload, offset)]
    if not compressed:
        raw = decode_raw_lines(payload)
        if raw:
            return raw
    return hex_lines(payload, offset)
