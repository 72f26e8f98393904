"""Small timing helpers: best-of-several loops, so one descheduled slice on a shared
machine does not decide a per-call figure."""

from __future__ import annotations

import time
from collections.abc import Callable


def best_seconds_per_call(call: Callable[[], object], calls: int, repeats: int = 5) -> float:
    """The fastest of `repeats` loops of `calls` calls, divided by `calls`."""
    assert calls > 0 and repeats > 0
    best = float("inf")
    for _ in range(repeats):
        started = time.perf_counter()
        for _ in range(calls):
            call()
        best = min(best, time.perf_counter() - started)
    return best / calls
