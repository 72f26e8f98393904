"""Detector ids in a policy must name detectors that exist.

The detector catalog lives in `controlplane.detectors`; this check takes anything that can
say which ids it knows, so the policy model does not depend on how the catalog is built.
"""

from __future__ import annotations

from typing import Protocol

from controlplane.policy.errors import FieldProblem
from controlplane.policy.model import Policy


class DetectorCatalog(Protocol):
    def detector_ids(self) -> frozenset[str]: ...


class FixedCatalog:
    """A catalog given as a set of ids (tests, or a deployment that pins its detectors)."""

    def __init__(self, ids: frozenset[str]) -> None:
        self._ids = ids

    def detector_ids(self) -> frozenset[str]:
        return self._ids


def check_detector_ids(policy: Policy, catalog: DetectorCatalog) -> list[FieldProblem]:
    known = catalog.detector_ids()
    problems = []
    for index, route in enumerate(policy.routes):
        for detector in route.detectors:
            if detector not in known:
                problems.append(FieldProblem(f"routes[{index}].detectors.{detector}", "unknown detector id"))
    return problems


class BuiltinCatalog:
    """The detectors `controlplane.detectors` ships, loaded once on first use."""

    def __init__(self) -> None:
        self._ids: frozenset[str] | None = None

    def detector_ids(self) -> frozenset[str]:
        if self._ids is None:
            from controlplane.detectors.loader import builtin_catalog  # noqa: PLC0415 - loaded on first use

            self._ids = frozenset(detector.id for detector in builtin_catalog())
        return self._ids
