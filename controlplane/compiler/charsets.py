"""Sets of Unicode code points as sorted ranges, and their UTF-8 byte sequences."""

from __future__ import annotations

from collections.abc import Iterable

MAX_CODE_POINT = 0x10FFFF
SURROGATES = (0xD800, 0xDFFF)

CodeRanges = tuple[tuple[int, int], ...]
"""Sorted, non-overlapping, non-adjacent inclusive ranges of code points."""

ByteSequence = tuple[tuple[int, int], ...]
"""One inclusive byte range per position of a UTF-8 encoded character."""

# re.ASCII semantics: these are the only word, digit and space characters.
ASCII_DIGITS: CodeRanges = ((0x30, 0x39),)
ASCII_WORD: CodeRanges = ((0x30, 0x39), (0x41, 0x5A), (0x5F, 0x5F), (0x61, 0x7A))
ASCII_SPACE: CodeRanges = ((0x09, 0x0D), (0x20, 0x20))


def normalize(ranges: Iterable[tuple[int, int]]) -> CodeRanges:
    merged: list[tuple[int, int]] = []
    for low, high in sorted(ranges):
        assert 0 <= low <= high <= MAX_CODE_POINT
        if merged and low <= merged[-1][1] + 1:
            merged[-1] = (merged[-1][0], max(merged[-1][1], high))
        else:
            merged.append((low, high))
    return tuple(merged)


def negate(ranges: CodeRanges) -> CodeRanges:
    result: list[tuple[int, int]] = []
    next_low = 0
    for low, high in ranges:
        if low > next_low:
            result.append((next_low, low - 1))
        next_low = high + 1
    if next_low <= MAX_CODE_POINT:
        result.append((next_low, MAX_CODE_POINT))
    return tuple(result)


def ascii_case_closure(ranges: CodeRanges) -> CodeRanges:
    """Adds the other case of every ASCII letter (re.IGNORECASE under re.ASCII)."""
    extra: list[tuple[int, int]] = []
    for low, high in ranges:
        for first, last, shift in ((0x41, 0x5A, 0x20), (0x61, 0x7A, -0x20)):
            overlap_low, overlap_high = max(low, first), min(high, last)
            if overlap_low <= overlap_high:
                extra.append((overlap_low + shift, overlap_high + shift))
    return normalize((*ranges, *extra))


def without_surrogates(ranges: CodeRanges) -> CodeRanges:
    """UTF-8 cannot encode surrogates, so no byte sequence can match them."""
    result: list[tuple[int, int]] = []
    for low, high in ranges:
        if high < SURROGATES[0] or low > SURROGATES[1]:
            result.append((low, high))
            continue
        if low < SURROGATES[0]:
            result.append((low, SURROGATES[0] - 1))
        if high > SURROGATES[1]:
            result.append((SURROGATES[1] + 1, high))
    return tuple(result)


def utf8_sequences(ranges: CodeRanges) -> list[ByteSequence]:
    """Byte-range sequences whose union is exactly the UTF-8 encodings of `ranges`."""
    sequences: list[ByteSequence] = []
    pending = list(reversed(without_surrogates(ranges)))
    while pending:
        low, high = pending.pop()
        split = _split_once(low, high)
        if split is None:
            low_bytes, high_bytes = chr(low).encode(), chr(high).encode()
            sequences.append(tuple(zip(low_bytes, high_bytes, strict=True)))
        else:
            pending.extend(reversed(split))
    return sequences


_LENGTH_LIMITS = (0x7F, 0x7FF, 0xFFFF, MAX_CODE_POINT)


def _split_once(low: int, high: int) -> tuple[tuple[int, int], tuple[int, int]] | None:
    """Splits a range until every byte position of its encodings spans one contiguous range."""
    for limit in _LENGTH_LIMITS[:-1]:
        if low <= limit < high:
            return (low, limit), (limit + 1, high)
    if high <= 0x7F:
        return None
    for continuation_bytes in range(1, 4):
        mask = (1 << (6 * continuation_bytes)) - 1
        if low & ~mask != high & ~mask:
            if low & mask != 0:
                return (low, low | mask), ((low | mask) + 1, high)
            if high & mask != mask:
                return (low, (high & ~mask) - 1), (high & ~mask, high)
    return None
