"""The result of replaying one exchange, and the one-word verdict reports sort it by."""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from harness.host.outcome import ExchangeOutcome, FilterObservation, Phase
from harness.traffic.model import HttpExchange


class Verdict(Enum):
    BLOCKED = "blocked"
    """A local reply or a reset ended the stream: the client did not get the upstream's answer."""
    MODIFIED = "modified"
    """Some filter changed headers, a body or trailers on the way."""
    UNCHANGED = "unchanged"
    ERROR = "error"
    """The harness could not replay the exchange (see `ExchangeResult.error`)."""


@dataclass
class ExchangeResult:
    exchange: HttpExchange
    worker: int
    outcome: ExchangeOutcome | None
    error: str | None = None

    @property
    def verdict(self) -> Verdict:
        if self.outcome is None:
            return Verdict.ERROR
        if self.outcome.local_reply is not None or self.outcome.stream_reset:
            return Verdict.BLOCKED
        if any(observation.modified for observation in self.outcome.filters):
            return Verdict.MODIFIED
        return Verdict.UNCHANGED

    @property
    def filter_failures(self) -> int:
        return len(self.outcome.failures) if self.outcome is not None else 0


def flow_order(observations: list[FilterObservation]) -> list[FilterObservation]:
    """Observations in the order traffic met the filters: the request through the chain,
    the response back through it in reverse, then the end-of-stream callbacks."""
    position = {name: index for index, name in enumerate(dict.fromkeys(item.filter for item in observations))}

    def by_phase(phase: Phase, reverse: bool) -> list[FilterObservation]:
        chosen = [item for item in observations if item.phase is phase]
        return sorted(chosen, key=lambda item: position[item.filter], reverse=reverse)

    return by_phase(Phase.REQUEST, False) + by_phase(Phase.RESPONSE, True) + by_phase(Phase.COMPLETION, False)
