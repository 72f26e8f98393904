"""Small encodings shared by keys, envelopes and claims: base64, canonical JSON, strict JSON."""

from __future__ import annotations

import base64
import binascii
import json
from pathlib import Path
from typing import Any

from controlplane.trust.errors import TrustError


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def b64decode(text: str, what: str) -> bytes:
    """Standard base64 with padding, as DSSE writes it; anything else is refused."""
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError) as error:
        raise TrustError(f"{what} is not valid base64: {error}") from error


def canonical_json(document: Any) -> bytes:
    """Sorted keys, no spaces, UTF-8: the same document always gives the same bytes."""
    return json.dumps(document, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _refuse_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise TrustError(f"duplicate key {key!r}")
        document[key] = value
    return document


def strict_json_object(raw: bytes, what: str) -> dict[str, Any]:
    """A JSON object; duplicate keys are refused, since the filter's reader refuses them too."""
    try:
        document = json.loads(raw, object_pairs_hook=_refuse_duplicates)
    except TrustError as error:
        raise TrustError(f"{what}: {error}") from error
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise TrustError(f"{what} is not valid JSON: {error}") from error
    if not isinstance(document, dict):
        raise TrustError(f"{what} must be a JSON object")
    return document


def require(document: dict[str, Any], key: str, kind: type, what: str) -> Any:
    """`document[key]`, which must exist and be of `kind` (bool is never an int here)."""
    if key not in document:
        raise TrustError(f"{what}: missing {key!r}")
    value = document[key]
    if not isinstance(value, kind) or (kind is int and isinstance(value, bool)):
        raise TrustError(f"{what}: {key!r} must be {kind.__name__}, not {type(value).__name__}")
    return value


def require_keys(document: dict[str, Any], allowed: set[str], what: str) -> None:
    unknown = sorted(set(document) - allowed)
    if unknown:
        raise TrustError(f"{what}: unknown field(s) {', '.join(unknown)}")


def read_input(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as error:
        raise TrustError(f"{path}: cannot read {what}: {error.strerror}") from error
