"""The reference scanner: the algorithm the Zig engine runs, over the same decoded tables.

Semantics, per pattern: the leftmost-longest, non-overlapping matches (POSIX) among the
matches no longer than the pattern's max_length, scanning left to right, each search
resuming where the previous match of that pattern ended.

How: the scan DFAs (unanchored, all patterns) report the positions where some match of a
pattern ends (hot path: one class and one transition lookup per byte). On such an event
(rare path) the pattern's reverse DFA finds the leftmost start of a match ending there,
earlier starts that end later are probed with the forward DFA, and the forward DFA
extends the leftmost start to its longest match. Findings then get validator, exclusion,
context and threshold. The scanner is resumable: when a rare path needs bytes that have
not arrived, it stops before that event and resumes there with the next chunk, keeping
`history_bytes` of the past, so any chunking finds exactly what one pass finds.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.compiler.dfa import BYTE_CONTEXTS, Context, Dfa
from controlplane.compiler.tables import (
    PATTERN_REQUIRES_CONTEXT,
    SCORE_SCALE,
    DetectorEntry,
    MatcherTables,
    PatternEntry,
)
from controlplane.detectors.validators import run_validator


@dataclass(frozen=True)
class Finding:
    detector: str
    pattern: int
    start: int
    end: int
    """Byte offsets from the start of the stream, end exclusive."""
    score: int
    """Thousandths."""


class _NeedMoreInputError(Exception):
    """A rare path needs bytes past what has arrived; the scan stops before the event."""


def _is_letter(byte: int) -> bool:
    return 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


class StreamScanner:
    """Feed chunks in order; `feed(..., final=True)` once at the end of the stream."""

    def __init__(self, tables: MatcherTables) -> None:
        self.tables = tables
        self.scan_dfas = [tables.automata[index] for index in tables.scan_automata]
        self.states = [dfa.starts[Context.EDGE] for dfa in self.scan_dfas]
        self.position = 0
        """Absolute offset of the next byte the scan DFAs read."""
        self.resume = [0] * len(tables.patterns)
        """Per pattern: where its next match may start (the end of its previous match)."""
        self.buffer = bytearray()
        self.buffer_start = 0
        self.final = False

    @property
    def end(self) -> int:
        return self.buffer_start + len(self.buffer)

    def byte(self, offset: int) -> int:
        assert offset >= self.buffer_start, "the engine read before its history window"
        if offset >= self.end:
            raise _NeedMoreInputError
        return self.buffer[offset - self.buffer_start]

    def at_end(self, offset: int) -> bool:
        """True at the end of the text; raises while more bytes may still come."""
        if offset < self.end:
            return False
        if self.final:
            return True
        raise _NeedMoreInputError

    def feed(self, data: bytes, *, final: bool = False) -> list[Finding]:
        assert not self.final, "the stream already ended"
        self.buffer += data
        self.final = final
        findings: list[Finding] = []
        self._scan(findings)
        keep_from = max(self.buffer_start, self.position - self.tables.history_bytes)
        del self.buffer[: keep_from - self.buffer_start]
        self.buffer_start = keep_from
        return findings

    def _scan(self, findings: list[Finding]) -> None:
        while self.position < self.end:
            byte = self.buffer[self.position - self.buffer_start]
            before = list(self.states)
            for index, dfa in enumerate(self.scan_dfas):
                self.states[index] = dfa.step(self.states[index], dfa.byte_classes[byte])
            try:
                self._events(self.position, findings)
            except _NeedMoreInputError:
                assert not self.final, "a final chunk never waits for more input"
                self.states = before
                return
            self.position += 1
        if self.final:
            for index, dfa in enumerate(self.scan_dfas):
                self.states[index] = dfa.step(self.states[index], dfa.eoi_class)
            self._events(self.position, findings)

    def _events(self, end: int, findings: list[Finding]) -> None:
        for index, dfa in enumerate(self.scan_dfas):
            state = self.states[index]
            if state >= dfa.first_match_state:
                for pattern in dfa.matches[state]:
                    finding = self._match_ending_at(pattern, end)
                    if finding is not None:
                        findings.append(finding)

    def _match_ending_at(self, pattern: int, end: int) -> Finding | None:
        entry = self.tables.patterns[pattern]
        lowest = max(self.resume[pattern], end - entry.max_length)
        if end - lowest < entry.min_length:
            return None
        first_start = self._leftmost_start(self.tables.automata[entry.reverse], end, lowest)
        if first_start is None:
            return None
        forward = self.tables.automata[entry.forward]
        start = first_start
        for candidate in range(max(self.resume[pattern], end - entry.max_length + 1), first_start):
            if self._longest_end(forward, candidate, entry.max_length, stop_at_first=True) is not None:
                start = candidate
                break
        match_end = self._longest_end(forward, start, entry.max_length, stop_at_first=False)
        assert match_end is not None and match_end > start
        detector = self.tables.detectors[entry.detector]
        score = self._score(detector, entry, start, match_end)
        self.resume[pattern] = match_end
        if score < detector.threshold:
            return None
        return Finding(detector.id, pattern, start, match_end, score)

    def _leftmost_start(self, reverse: Dfa, end: int, lowest: int) -> int | None:
        """Reads backwards from `end` to `lowest`: the smallest start of a match ending at `end`."""
        state = reverse.starts[Context.EDGE if self.at_end(end) else BYTE_CONTEXTS[self.byte(end)]]
        found = None
        offset = end - 1
        while offset >= lowest:
            state = reverse.step(state, reverse.byte_classes[self.byte(offset)])
            if state == 0:
                return found
            if state >= reverse.first_match_state:
                found = offset + 1
            offset -= 1
        input_class = reverse.eoi_class if lowest == 0 else reverse.byte_classes[self.byte(lowest - 1)]
        if reverse.step(state, input_class) >= reverse.first_match_state:
            found = lowest
        return found

    def _longest_end(self, forward: Dfa, start: int, max_length: int, *, stop_at_first: bool) -> int | None:
        """Reads forwards from `start`: the end of the longest match (or of any, if stop_at_first)."""
        state = forward.starts[Context.EDGE if start == 0 else BYTE_CONTEXTS[self.byte(start - 1)]]
        found = None
        offset = start
        while offset <= start + max_length:
            if self.at_end(offset):
                if forward.step(state, forward.eoi_class) >= forward.first_match_state:
                    found = offset
                return found
            state = forward.step(state, forward.byte_classes[self.byte(offset)])
            if state == 0:
                return found
            if state >= forward.first_match_state:
                found = offset
                if stop_at_first:
                    return found
            offset += 1
        return found

    def _score(self, detector: DetectorEntry, pattern: PatternEntry, start: int, end: int) -> int:
        """Presidio's scoring: validator sets 1.0 or drops; exclusions drop; context boosts."""
        value = bytes(self.byte(offset) for offset in range(start, end))
        score = pattern.score
        if detector.validator:
            if not run_validator(detector.validator, value, detector.validator_parameter):
                return 0
            score = SCORE_SCALE
        for exclusion in detector.exclusions:
            if _full_match(self.tables.automata[exclusion], value):
                return 0
        supported = bool(detector.context_words) and self._context_supports(detector, start, end)
        if supported:
            score = min(SCORE_SCALE, max(score + detector.context_boost, detector.context_floor))
        elif pattern.flags & PATTERN_REQUIRES_CONTEXT:
            return 0
        return score

    def _context_supports(self, detector: DetectorEntry, start: int, end: int) -> bool:
        words = self._tokens_before(start, detector) + self._tokens_after(end, detector)
        return any(word in token for token in words for word in detector.context_words)

    def _tokens_before(self, start: int, detector: DetectorEntry) -> list[bytes]:
        window_start = max(0, start - detector.context_bytes)
        tokens = _letter_runs(bytes(self.byte(offset) for offset in range(window_start, start)))
        # A word cut by the window's edge is not a word of the text.
        if tokens and window_start > 0 and tokens[0][0] == 0 and _is_letter(self.byte(window_start - 1)):
            tokens = tokens[1:]
        return [token for _, token in tokens[-detector.words_before :]] if detector.words_before else []

    def _tokens_after(self, end: int, detector: DetectorEntry) -> list[bytes]:
        if not detector.words_after:
            return []
        window = bytearray()
        offset = end
        while offset < end + detector.context_bytes and not self.at_end(offset):
            window.append(self.byte(offset))
            offset += 1
        tokens = _letter_runs(bytes(window))
        touches_edge = bool(tokens) and tokens[-1][0] + len(tokens[-1][1]) == len(window)
        if touches_edge and not self.at_end(offset) and _is_letter(self.byte(offset)):
            tokens = tokens[:-1]
        return [token for _, token in tokens[: detector.words_after]]


def _letter_runs(window: bytes) -> list[tuple[int, bytes]]:
    """(offset, lower-cased token) of each maximal run of ASCII letters."""
    runs: list[tuple[int, bytes]] = []
    run_start = -1
    for offset, byte in enumerate((*window, 0)):
        if _is_letter(byte):
            if run_start < 0:
                run_start = offset
        elif run_start >= 0:
            runs.append((run_start, window[run_start:offset].lower()))
            run_start = -1
    return runs


def _full_match(dfa: Dfa, value: bytes) -> bool:
    state = dfa.starts[Context.EDGE]
    for byte in value:
        state = dfa.step(state, dfa.byte_classes[byte])
        if state == 0:
            return False
    return dfa.step(state, dfa.eoi_class) >= dfa.first_match_state


def scan(tables: MatcherTables, data: bytes) -> list[Finding]:
    """Everything the engine finds in `data` as one whole text."""
    return StreamScanner(tables).feed(data, final=True)
