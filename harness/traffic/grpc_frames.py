"""gRPC's length-prefixed message framing (gRPC over HTTP/2, "Length-Prefixed-Message").

Each message on the wire is one flag byte (1 = compressed with the call's grpc-encoding),
a 4-byte big-endian length, then that many bytes of (usually protobuf) payload.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

FRAME_HEADER_SIZE = 5
# gRPC's default receive limit is 4 MiB; larger is refused rather than trusted.
MAX_MESSAGE_SIZE = 4 * 1024 * 1024
_HEADER = struct.Struct(">BI")


@dataclass(frozen=True)
class GrpcFrame:
    payload: bytes
    compressed: bool = False


@dataclass(frozen=True)
class SplitFrames:
    frames: list[GrpcFrame]
    trailing: bytes
    """Bytes after the last whole frame: a truncated frame, or not gRPC at all."""


def encode_frame(payload: bytes, *, compressed: bool = False) -> bytes:
    assert len(payload) <= MAX_MESSAGE_SIZE, "message larger than gRPC's limit"
    return _HEADER.pack(1 if compressed else 0, len(payload)) + payload


def split_frames(data: bytes) -> SplitFrames:
    """The whole frames at the start of `data`, and what is left over.

    Stops at the first header whose flag is not 0/1 or whose length runs past the data,
    so a body that is not gRPC comes back as trailing bytes, never as an exception.
    """
    frames: list[GrpcFrame] = []
    offset = 0
    while len(data) - offset >= FRAME_HEADER_SIZE:
        flag, length = _HEADER.unpack_from(data, offset)
        end = offset + FRAME_HEADER_SIZE + length
        if flag > 1 or length > MAX_MESSAGE_SIZE or end > len(data):
            break
        frames.append(GrpcFrame(data[offset + FRAME_HEADER_SIZE : end], compressed=flag == 1))
        offset = end
    return SplitFrames(frames, data[offset:])
