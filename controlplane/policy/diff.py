"""Field-by-field differences between two versions of a policy document."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from controlplane.policy.errors import join_path

# Policy documents nest about six levels deep; this bound only guards against misuse.
MAX_DEPTH = 32


class ChangeKind(StrEnum):
    ADDED = "added"
    REMOVED = "removed"
    CHANGED = "changed"


@dataclass(frozen=True)
class FieldChange:
    path: str
    kind: ChangeKind
    before: Any
    after: Any


def diff_documents(before: Any, after: Any) -> list[FieldChange]:
    changes: list[FieldChange] = []
    _walk([], before, after, changes)
    return changes


def _walk(location: list[str | int], before: Any, after: Any, changes: list[FieldChange]) -> None:
    assert len(location) <= MAX_DEPTH, "policy documents are not nested this deeply"
    if isinstance(before, dict) and isinstance(after, dict):
        for key in sorted(set(before) | set(after)):
            if key not in after:
                changes.append(
                    FieldChange(join_path([*location, key]), ChangeKind.REMOVED, before[key], None)
                )
            elif key not in before:
                changes.append(FieldChange(join_path([*location, key]), ChangeKind.ADDED, None, after[key]))
            else:
                _walk([*location, key], before[key], after[key], changes)
        return
    if isinstance(before, list) and isinstance(after, list):
        for index in range(max(len(before), len(after))):
            if index >= len(after):
                changes.append(
                    FieldChange(join_path([*location, index]), ChangeKind.REMOVED, before[index], None)
                )
            elif index >= len(before):
                changes.append(
                    FieldChange(join_path([*location, index]), ChangeKind.ADDED, None, after[index])
                )
            else:
                _walk([*location, index], before[index], after[index], changes)
        return
    if before != after or type(before) is not type(after):
        changes.append(FieldChange(join_path(location), ChangeKind.CHANGED, before, after))
