"""Validation errors that name the field: `routes[2].detectors.credit_card.threshold: must be >= 1`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldProblem:
    path: str
    """Dotted path with list indexes, e.g. `routes[2].match.methods[0]`; empty for the document."""
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class PolicyError(ValueError):
    """A policy document that cannot be used; `problems` lists every bad field."""

    def __init__(self, problems: Sequence[FieldProblem]) -> None:
        assert problems, "a PolicyError needs at least one problem"
        self.problems = tuple(problems)
        super().__init__("; ".join(str(problem) for problem in self.problems))


def join_path(location: Sequence[str | int]) -> str:
    path = ""
    for part in location:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else part
    return path
