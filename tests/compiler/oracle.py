"""What Python's re says the engine must find: leftmost-longest, non-overlapping spans.

re itself is leftmost-first; this oracle asks re, at each start from the left, whether
any match starts there (re backtracks through every alternative), then which is the
longest end, by requiring exactly k characters to remain after the match (a lookahead,
so \\b and $ at the end still see the real next character).
"""

from __future__ import annotations

import functools
import re


@functools.lru_cache(maxsize=4096)
def _compiled(regex: str, flags: int, remaining: int | None) -> re.Pattern[str]:
    if remaining is None:
        return re.compile(regex, flags)
    return re.compile(f"(?:{regex})(?=(?s:.){{{remaining}}}\\Z)", flags)


def leftmost_longest(regex: str, flags: int, text: str) -> list[tuple[int, int]]:
    spans: list[tuple[int, int]] = []
    position, length = 0, len(text)
    anywhere = _compiled(regex, flags, None)
    while position < length:
        start = next((s for s in range(position, length) if anywhere.match(text, s)), None)
        if start is None:
            break
        end = next(
            e for e in range(length, start, -1) if _compiled(regex, flags, length - e).match(text, start)
        )
        spans.append((start, end))
        position = end
    return spans


def char_spans(text: str, byte_spans: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Byte offsets into text.encode() as character offsets; every offset must fall on a character."""
    by_byte = {}
    offset = 0
    for index, char in enumerate(text):
        by_byte[offset] = index
        offset += len(char.encode())
    by_byte[offset] = len(text)
    return [(by_byte[start], by_byte[end]) for start, end in byte_spans]
