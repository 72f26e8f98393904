"""Everything one replay produced, as the reports need it."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.host.config import PluginConfig
from harness.replay.results import ExchangeResult
from harness.replay.summary import ReplaySummary
from harness.traffic.capture import Capture


@dataclass
class ReplayRun:
    capture: Capture
    chain: list[PluginConfig]
    workers: int
    results: list[ExchangeResult] = field(default_factory=list)
    summary: ReplaySummary = field(default_factory=ReplaySummary)

    @property
    def chain_names(self) -> list[str]:
        return [config.name for config in self.chain]
