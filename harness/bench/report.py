"""What a benchmark prints: named measurements with units, for people and for `--json`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Measurement:
    name: str
    value: float
    unit: str
    detail: str = ""


@dataclass(frozen=True)
class TargetCheck:
    """A speed target the project states, and whether this run met it."""

    description: str
    required: float
    measured: float
    unit: str
    at_most: bool = False
    """True for limits (latencies): met when the measurement is at most `required`."""

    @property
    def met(self) -> bool:
        return self.measured <= self.required if self.at_most else self.measured >= self.required


@dataclass
class BenchReport:
    target: str
    setup: dict[str, Any] = field(default_factory=dict)
    """What was measured under which conditions (counts, sizes, workers, modules)."""
    measurements: list[Measurement] = field(default_factory=list)
    checks: list[TargetCheck] = field(default_factory=list)

    def add(self, name: str, value: float, unit: str, detail: str = "") -> None:
        self.measurements.append(Measurement(name, value, unit, detail))

    def lines(self) -> list[str]:
        lines = [f"bench {self.target}"]
        lines.extend(f"  {key}: {value}" for key, value in self.setup.items())
        width = max((len(item.name) for item in self.measurements), default=0)
        for item in self.measurements:
            detail = f"  ({item.detail})" if item.detail else ""
            lines.append(f"  {item.name:<{width}}  {_number(item.value):>12} {item.unit}{detail}")
        for check in self.checks:
            verdict = "met" if check.met else "NOT MET"
            lines.append(
                f"  target {check.description}: {verdict} "
                f"({_number(check.measured)} {check.unit} measured, "
                f"{'at most' if check.at_most else 'at least'} {_number(check.required)} required)"
            )
        return lines

    def to_json(self) -> dict[str, Any]:
        return {
            "target": self.target,
            "setup": dict(self.setup),
            "measurements": [
                {"name": item.name, "value": item.value, "unit": item.unit, "detail": item.detail}
                for item in self.measurements
            ],
            "checks": [
                {
                    "description": check.description,
                    "required": check.required,
                    "measured": check.measured,
                    "unit": check.unit,
                    "met": check.met,
                }
                for check in self.checks
            ],
        }


def _number(value: float) -> str:
    if value >= 100:
        return f"{value:,.0f}"
    if value >= 1:
        return f"{value:.2f}"
    return f"{value:.3f}"
