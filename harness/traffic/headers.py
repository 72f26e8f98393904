"""Header lists as Envoy's HTTP connection manager hands them to the filter chain.

Recordings hold what one client saw on one connection: HTTP/1 `Host` and hop-by-hop
headers, or HTTP/2 pseudo-headers and split cookies. Envoy's codecs and its connection
manager reshape both before the first filter runs (`ConnectionManagerUtility::
mutateRequestHeaders` removes connection-specific headers; the HTTP/1 codec turns `Host`
into `:authority`; the HTTP/2 codec joins `cookie` crumbs with "; "), so the readers do
the same here and every filter sees one canonical shape, whatever the capture format.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from urllib.parse import urlsplit

from harness.traffic.errors import FieldError
from harness.traffic.model import Headers

# Connection-specific headers: they describe the recording client's hop, not the mesh's
# (RFC 9110 §7.6.1; HTTP/2 forbids them, RFC 9113 §8.2.2; Envoy strips them).
HOP_BY_HOP = frozenset({"connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade"})
# A token (RFC 9110 §5.1), or a pseudo-header name; values never carry CR, LF or NUL.
_HEADER_NAME = re.compile(r":?[!#$%&'*+\-.^_`|~0-9a-z]+")
_FORBIDDEN_IN_VALUE = re.compile(r"[\r\n\x00]")
_METHOD_CHARACTERS = frozenset(
    "!#$%&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
)
# Stable namespace so a replay of the same file always carries the same request ids.
_REQUEST_ID_NAMESPACE = uuid.UUID("6f1d2f3a-8c1e-4a57-9a3c-2b0c1f8e5d40")


@dataclass(frozen=True)
class RequestTarget:
    """Where a request went: the parts Envoy exposes as `:scheme`, `:authority`, `:path`."""

    scheme: str
    authority: str
    path: str

    @classmethod
    def from_url(cls, url: str, field: str) -> RequestTarget:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise FieldError(field, f"{url!r} is not an absolute http(s) URL")
        # Userinfo never reaches the wire as part of :authority.
        authority = parts.netloc.rpartition("@")[2]
        path = parts.path or "/"
        if parts.query:
            path = f"{path}?{parts.query}"
        return cls(scheme=parts.scheme, authority=authority, path=path)


def check_method(method: str, field: str) -> str:
    if not method or not set(method) <= _METHOD_CHARACTERS:
        raise FieldError(field, f"{method!r} is not an HTTP method")
    return method


def clean_header_list(pairs: Iterable[tuple[str, str]], field: str) -> Headers:
    """Lowercase names and refuse what no HTTP codec would accept."""
    cleaned: Headers = []
    for index, (name, value) in enumerate(pairs):
        lowered = name.strip().lower()
        if not _HEADER_NAME.fullmatch(lowered):
            raise FieldError(f"{field}[{index}]", f"name {name!r} is not a valid header name")
        if _FORBIDDEN_IN_VALUE.search(value):
            raise FieldError(f"{field}[{index}]", f"({lowered!r}) has a CR, LF or NUL in its value")
        cleaned.append((lowered, value))
    return cleaned


def request_headers(
    method: str,
    target: RequestTarget,
    recorded: Headers,
    *,
    request_id_seed: str,
) -> Headers:
    """Pseudo-headers first (as Envoy orders them), then the recorded headers, reshaped.

    A recorded `Host` or `:authority` wins over the URL's authority: it is what the
    client sent. `x-forwarded-proto` and `x-request-id` are added when absent, as Envoy's
    connection manager does before the filters run; the id is derived from
    `request_id_seed` so replays are reproducible.
    """
    authority = _first(recorded, ":authority") or _first(recorded, "host") or target.authority
    regular = [
        (name, value)
        for name, value in recorded
        if not name.startswith(":") and name != "host" and not _is_hop_by_hop(name, value)
    ]
    regular = _join_cookies(regular)
    if _first(regular, "x-forwarded-proto") is None:
        regular.append(("x-forwarded-proto", target.scheme))
    if _first(regular, "x-request-id") is None:
        regular.append(("x-request-id", str(uuid.uuid5(_REQUEST_ID_NAMESPACE, request_id_seed))))
    pseudo = [
        (":authority", authority),
        (":path", target.path),
        (":method", method),
        (":scheme", target.scheme),
    ]
    return pseudo + regular


def response_headers(status: int, recorded: Headers, field: str) -> Headers:
    if not 100 <= status <= 599:
        raise FieldError(field, f"{status} is not an HTTP status code")
    regular = [
        (name, value)
        for name, value in recorded
        if not name.startswith(":") and not _is_hop_by_hop(name, value)
    ]
    return [(":status", str(status)), *regular]


def set_content_length(headers: Headers, length: int) -> Headers:
    """Make a recorded content-length agree with the body the replay delivers."""
    return [(name, str(length) if name == "content-length" else value) for name, value in headers]


def _is_hop_by_hop(name: str, value: str) -> bool:
    # `te: trailers` is the one connection-level value HTTP/2 lets through (gRPC needs it).
    if name == "te":
        return value.strip().lower() != "trailers"
    return name in HOP_BY_HOP


def _join_cookies(headers: Headers) -> Headers:
    crumbs = [value for name, value in headers if name == "cookie"]
    if len(crumbs) <= 1:
        return list(headers)
    joined: Headers = []
    for name, value in headers:
        if name != "cookie":
            joined.append((name, value))
        elif crumbs:
            joined.append(("cookie", "; ".join(crumbs)))
            crumbs = []
    return joined


def _first(headers: Headers, name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)
