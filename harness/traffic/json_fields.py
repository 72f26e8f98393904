"""Typed reads from parsed JSON that say which field was wrong when the input is bad.

Every reader walks untrusted JSON; these helpers turn "KeyError: 'text'" into
"request.postData.text must be a string, not a number", with the dotted path of the
field. The reader then prefixes the file and entry (see `errors.TrafficError`).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from harness.traffic.errors import FieldError

_JSON_TYPE_NAMES = {
    str: "a string",
    int: "a number",
    float: "a number",
    bool: "true/false",
    list: "an array",
    dict: "an object",
    type(None): "null",
}


def describe(value: object) -> str:
    return _JSON_TYPE_NAMES.get(type(value), type(value).__name__)


def join_path(parent: str, key: str | int) -> str:
    if isinstance(key, int):
        return f"{parent}[{key}]"
    return f"{parent}.{key}" if parent else key


class JsonObject:
    """A JSON object that knows where it sits in its document."""

    def __init__(self, data: object, path: str) -> None:
        if not isinstance(data, dict):
            raise FieldError(path, f"must be an object, not {describe(data)}")
        self._data: Mapping[str, Any] = data
        self.path = path

    def __contains__(self, key: str) -> bool:
        return key in self._data and self._data[key] is not None

    def __iter__(self) -> Iterator[str]:
        return iter(self._data)

    def raw(self, key: str) -> Any:
        return self._data.get(key)

    def field_path(self, key: str | int) -> str:
        return join_path(self.path, key)

    def error(self, key: str, problem: str) -> FieldError:
        return FieldError(self.field_path(key), problem)

    def reject_unknown(self, allowed: Iterable[str]) -> None:
        unknown = sorted(set(self._data) - set(allowed))
        if unknown:
            names = ", ".join(repr(name) for name in unknown)
            plural = "s" if len(unknown) > 1 else ""
            raise FieldError(self.path or "record", f"has unknown field{plural} {names}")

    def string(self, key: str, default: str | None = None) -> str:
        value = self._data.get(key)
        if value is None:
            if default is None:
                raise self.error(key, "is missing")
            return default
        if not isinstance(value, str):
            raise self.error(key, f"must be a string, not {describe(value)}")
        return value

    def optional_string(self, key: str) -> str | None:
        return self.string(key, "") if key in self else None

    def integer(self, key: str, default: int | None = None) -> int:
        value = self._data.get(key)
        if value is None:
            if default is None:
                raise self.error(key, "is missing")
            return default
        # bool is an int in Python but never a number in JSON.
        if isinstance(value, bool) or not isinstance(value, int):
            raise self.error(key, f"must be an integer, not {describe(value)}")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self._data.get(key)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(key, f"must be true or false, not {describe(value)}")
        return value

    def object(self, key: str) -> JsonObject:
        if key not in self:
            raise self.error(key, "is missing")
        return JsonObject(self._data[key], self.field_path(key))

    def optional_object(self, key: str) -> JsonObject | None:
        return self.object(key) if key in self else None

    def array(self, key: str, *, required: bool = False) -> list[Any]:
        value = self._data.get(key)
        if value is None:
            if required:
                raise self.error(key, "is missing")
            return []
        if not isinstance(value, list):
            raise self.error(key, f"must be an array, not {describe(value)}")
        return value

    def objects(self, key: str) -> Iterator[JsonObject]:
        """The elements of an array of objects, each with its own path."""
        for index, item in enumerate(self.array(key)):
            yield JsonObject(item, join_path(self.field_path(key), index))
