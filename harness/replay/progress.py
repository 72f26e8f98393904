"""A one-line progress bar on stderr for long replays, drawn only on a terminal."""

from __future__ import annotations

import sys
import time
from typing import TextIO

BAR_WIDTH = 30
SHOW_AFTER_SECONDS = 0.5
"""Short replays finish before a bar would help; it appears once a run takes longer."""
REDRAW_SECONDS = 0.1


class ProgressBar:
    def __init__(
        self,
        total: int,
        stream: TextIO | None = None,
        *,
        enabled: bool | None = None,
        show_after_seconds: float = SHOW_AFTER_SECONDS,
        redraw_seconds: float = REDRAW_SECONDS,
    ) -> None:
        self.total = max(total, 0)
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.show_after_seconds = show_after_seconds
        self.redraw_seconds = redraw_seconds
        self._started = time.monotonic()
        self._last_draw = 0.0
        self._drawn = False

    def update(self, done: int) -> None:
        if not self.enabled:
            return
        now = time.monotonic()
        if now - self._started < self.show_after_seconds or now - self._last_draw < self.redraw_seconds:
            return
        self._last_draw = now
        self._draw(done, now)

    def finish(self) -> None:
        """Erase the bar so the report that follows starts on a clean line."""
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False

    def _draw(self, done: int, now: float) -> None:
        fraction = min(done / self.total, 1.0) if self.total else 1.0
        filled = int(fraction * BAR_WIDTH)
        rate = done / max(now - self._started, 1e-9)
        remaining = (self.total - done) / rate if rate > 0 else 0.0
        bar = "#" * filled + "-" * (BAR_WIDTH - filled)
        self.stream.write(f"\r[{bar}] {done}/{self.total} exchanges  {rate:,.0f}/s  ~{remaining:.0f} s left")
        self.stream.flush()
        self._drawn = True
