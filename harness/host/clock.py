"""The host's virtual clock: time only moves when the harness moves it, so ticks,
callout latencies and timestamps are reproducible run to run.
"""

from __future__ import annotations

from dataclasses import dataclass

NANOS_PER_MILLISECOND = 1_000_000

DEFAULT_EPOCH_NANOS = 1_767_225_600_000_000_000
"""2026-01-01T00:00:00Z: a fixed start so recorded timestamps do not depend on the day."""


@dataclass
class VirtualClock:
    """Wall time (what proxy_get_current_time_nanoseconds answers) and monotonic time,
    both in nanoseconds, advanced together by `advance_ms`."""

    wall_nanos: int = DEFAULT_EPOCH_NANOS
    monotonic_nanos: int = 0

    def advance_ms(self, milliseconds: int) -> None:
        if milliseconds < 0:
            raise ValueError(f"the clock cannot go backwards ({milliseconds} ms)")
        self.advance_nanos(milliseconds * NANOS_PER_MILLISECOND)

    def advance_nanos(self, nanoseconds: int) -> None:
        if nanoseconds < 0:
            raise ValueError(f"the clock cannot go backwards ({nanoseconds} ns)")
        self.wall_nanos += nanoseconds
        self.monotonic_nanos += nanoseconds

    @property
    def monotonic_ms(self) -> int:
        return self.monotonic_nanos // NANOS_PER_MILLISECOND
