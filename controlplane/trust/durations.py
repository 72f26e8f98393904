"""Durations and instants as the CLI takes them: `90d`, `12h`, `30m`, `45s`, or seconds."""

from __future__ import annotations

import re
import time

from controlplane.trust.errors import TrustError

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}
_DURATION = re.compile(r"^(\d+)([smhdw]?)$")


def parse_duration(text: str) -> int:
    match = _DURATION.fullmatch(text.strip())
    if not match or int(match.group(1)) == 0:
        raise TrustError(f"{text!r} is not a positive duration like 90d, 12h, 30m or 3600")
    return int(match.group(1)) * _UNITS[match.group(2) or "s"]


def now_or(override: int | None) -> int:
    """Unix seconds: `override` (for reproducible runs and tests) or the wall clock."""
    return int(time.time()) if override is None else override
