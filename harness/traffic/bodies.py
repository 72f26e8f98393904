"""Body bytes from recorded text: transfer encodings of the capture, content encodings of
HTTP, and the chunking that decides how a body reaches a filter."""

from __future__ import annotations

import base64
import binascii
import gzip
import zlib
from dataclasses import dataclass

from harness.traffic.errors import FieldError

# Content codings the standard library can re-apply; others are refused by name.
REENCODABLE_CODINGS = ("gzip", "x-gzip", "deflate", "identity")


def decode_text(text: str, encoding: str | None, field: str) -> bytes:
    """Bytes of a recorded body: UTF-8 text, or base64 when the capture says so.

    `field` names the encoding field for the error message ("response.content.encoding").
    """
    if encoding is None or encoding == "":
        return text.encode("utf-8")
    if encoding.lower() != "base64":
        raise FieldError(field, f"{encoding!r} is not supported (only 'base64')")
    return decode_base64(text, field.rpartition(".")[0] or field)


def decode_base64(text: str, field: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise FieldError(field, f"is not valid base64 ({error})") from error


@dataclass(frozen=True)
class EncodedBody:
    body: bytes
    content_encoding: str | None
    """The `content-encoding` header value to present, None to remove the header."""
    note: str | None = None


def reapply_content_encoding(body: bytes, coding: str) -> EncodedBody:
    """Compress a decoded body again as its `content-encoding` header says it travelled.

    Browsers record bodies decoded, but on the wire, and so in Envoy, a filter sees them
    compressed. gzip and deflate are re-applied (deterministically: gzip mtime 0). A
    coding the standard library lacks (br, zstd) cannot be; then the body goes decoded
    and the header is dropped, so the filter is never told a lie about the bytes, and the
    returned note says so.
    """
    codings = [part.strip().lower() for part in coding.split(",") if part.strip()]
    unsupported = [name for name in codings if name not in REENCODABLE_CODINGS]
    if unsupported:
        note = (
            f"content-encoding {unsupported[0]!r} cannot be re-applied; body replayed decoded, header removed"
        )
        return EncodedBody(body, None, note)
    # Codings are listed in the order they were applied.
    for name in codings:
        if name in ("gzip", "x-gzip"):
            body = gzip.compress(body, mtime=0)
        elif name == "deflate":
            body = zlib.compress(body)
    return EncodedBody(body, coding)


def split_chunks(body: bytes, chunk_size: int) -> list[bytes]:
    """Cut a body into `chunk_size` pieces (the last may be shorter); no body, no chunks."""
    assert chunk_size > 0, "chunk size must be positive"
    return [body[offset : offset + chunk_size] for offset in range(0, len(body), chunk_size)]
