"""Totals over a replay: what happened to how many exchanges, and where the time went."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from harness.replay.results import ExchangeResult, Verdict


@dataclass
class ReplaySummary:
    exchanges: int = 0
    verdicts: Counter[Verdict] = field(default_factory=Counter)
    filter_failures: int = 0
    logs: int = 0
    callouts: int = 0
    module_seconds: dict[str, float] = field(default_factory=dict)
    """Filter name -> seconds inside its Wasm callbacks, over all exchanges."""
    host_seconds: float = 0.0
    """Seconds inside the host's chain runs (modules included)."""
    wall_seconds: float = 0.0
    """Seconds of the whole replay, loading plugins excluded."""

    def add(self, result: ExchangeResult) -> None:
        self.exchanges += 1
        self.verdicts[result.verdict] += 1
        self.filter_failures += result.filter_failures
        outcome = result.outcome
        if outcome is None:
            return
        self.logs += len(outcome.logs)
        self.callouts += sum(len(observation.callouts) for observation in outcome.filters)
        for name, seconds in outcome.module_seconds.items():
            self.module_seconds[name] = self.module_seconds.get(name, 0.0) + seconds
        self.host_seconds += outcome.host_seconds

    def count(self, verdict: Verdict) -> int:
        return self.verdicts[verdict]

    @property
    def exchanges_per_second(self) -> float:
        return self.exchanges / self.wall_seconds if self.wall_seconds > 0 else 0.0

    @property
    def ok(self) -> bool:
        """Every exchange replayed and no filter trapped or overran its deadline."""
        return self.count(Verdict.ERROR) == 0 and self.filter_failures == 0

    def to_json(self) -> dict[str, object]:
        return {
            "exchanges": self.exchanges,
            **{verdict.value: self.count(verdict) for verdict in Verdict},
            "filter_failures": self.filter_failures,
            "logs": self.logs,
            "callouts": self.callouts,
            "module_seconds": dict(self.module_seconds),
            "host_seconds": self.host_seconds,
            "wall_seconds": self.wall_seconds,
            "exchanges_per_second": self.exchanges_per_second,
        }
