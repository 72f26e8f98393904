"""Pydantic errors as field problems an operator can act on: `events[3].score: must be >= 0`."""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import ValidationError
from pydantic_core import ErrorDetails

from controlplane.policy.errors import FieldProblem, join_path

# Discriminated unions put the tag into an error's location; the sender never wrote it.
_UNION_TAGS = frozenset({"anomaly", "finding", "zscore", "hour_of_day", "rule"})
PROBLEMS_MAX = 20


def field_problems(error: ValidationError, prefix: Sequence[str | int] = ()) -> list[FieldProblem]:
    return [_problem(detail, prefix) for detail in error.errors()[:PROBLEMS_MAX]]


def _problem(detail: ErrorDetails, prefix: Sequence[str | int]) -> FieldProblem:
    location = list(detail["loc"])
    kept = [
        part
        for index, part in enumerate(location)
        if not (part in _UNION_TAGS and (index == 0 or isinstance(location[index - 1], int)))
    ]
    return FieldProblem(join_path([*prefix, *kept]), _message(detail))


def _message(detail: ErrorDetails) -> str:
    context = detail.get("ctx", {})
    messages = {
        "missing": "is required",
        "literal_error": f"must be {context.get('expected')}",
        "union_tag_invalid": f"type must be one of {context.get('expected_tags')}",
        "union_tag_not_found": "needs a 'type' field",
        "string_pattern_mismatch": "has characters or a length the contract does not allow",
    }
    message = messages.get(detail["type"], detail["msg"])
    return message[:1].lower() + message[1:]
