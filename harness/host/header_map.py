"""An HTTP header map with Envoy's `HeaderMapImpl` semantics, which is what a module sees
through the header-map host functions:

- names are lowercased on insert (`LowerCaseString`);
- pseudo-headers (':method', ...) are kept in front of regular headers, in insert order;
- `get` answers the first value of a name;
- `replace` (setCopy) removes every value of the name and appends the new one (the
  `http_set_copy_replace_all_headers` behaviour, on by default in current Envoy);
- `byte_size` is the sum of name and value lengths (what proxy_get_header_map_size answers).
"""

from __future__ import annotations

from collections.abc import Iterable

from harness.host.pairs import BytePairs, decode_text, encode_text
from harness.traffic.model import Headers

_UPPER = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_LOWER = "abcdefghijklmnopqrstuvwxyz"
_ASCII_LOWERCASE = str.maketrans(_UPPER, _LOWER)


def lower_name(name: str) -> str:
    """ASCII lowercasing, as Envoy's LowerCaseString does (non-ASCII bytes are left alone)."""
    return name.translate(_ASCII_LOWERCASE)


class HeaderMap:
    __slots__ = ("_entries", "_pseudo_count")

    def __init__(self, headers: Iterable[tuple[str, str]] = ()) -> None:
        self._entries: list[tuple[str, str]] = []
        self._pseudo_count = 0
        for name, value in headers:
            self.add(name, value)

    def __len__(self) -> int:
        return len(self._entries)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, HeaderMap) and self._entries == other._entries

    __hash__ = None  # type: ignore[assignment]  # mutable, so not hashable

    def __repr__(self) -> str:
        return f"HeaderMap({self._entries!r})"

    def to_headers(self) -> Headers:
        return list(self._entries)

    def to_byte_pairs(self) -> BytePairs:
        return [(encode_text(name), encode_text(value)) for name, value in self._entries]

    def copy(self) -> HeaderMap:
        clone = HeaderMap()
        clone._entries = list(self._entries)
        clone._pseudo_count = self._pseudo_count
        return clone

    def get(self, name: str) -> str | None:
        key = lower_name(name)
        for entry_name, value in self._entries:
            if entry_name == key:
                return value
        return None

    def add(self, name: str, value: str) -> None:
        key = lower_name(name)
        if key.startswith(":"):
            self._entries.insert(self._pseudo_count, (key, value))
            self._pseudo_count += 1
        else:
            self._entries.append((key, value))

    def remove(self, name: str) -> None:
        key = lower_name(name)
        kept = [entry for entry in self._entries if entry[0] != key]
        if len(kept) != len(self._entries):
            self._entries = kept
            self._pseudo_count = sum(1 for entry in kept if entry[0].startswith(":"))

    def replace(self, name: str, value: str) -> None:
        self.remove(name)
        self.add(name, value)

    def set_all(self, pairs: Iterable[tuple[str, str]]) -> None:
        self._entries = []
        self._pseudo_count = 0
        for name, value in pairs:
            self.add(name, value)

    @property
    def byte_size(self) -> int:
        return sum(len(encode_text(name)) + len(encode_text(value)) for name, value in self._entries)

    @staticmethod
    def from_byte_pairs(pairs: BytePairs) -> HeaderMap:
        return HeaderMap((decode_text(name), decode_text(value)) for name, value in pairs)
