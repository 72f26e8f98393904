"""Unified diffs of what a filter changed: headers, bodies and trailers, before and after."""

from __future__ import annotations

import difflib
from dataclasses import dataclass

from harness.host.outcome import FilterObservation
from harness.replay.body_view import BodyContext, body_pair_lines
from harness.traffic.model import Headers

CONTEXT_LINES = 2


@dataclass(frozen=True)
class PartDiff:
    part: str
    """'headers', 'body' or 'trailers'."""
    lines: list[str]


def header_lines(headers: Headers) -> list[str]:
    return [f"{name}: {value}" for name, value in headers]


def unified(before: list[str], after: list[str], label: str) -> list[str]:
    return list(
        difflib.unified_diff(before, after, f"{label} before", f"{label} after", lineterm="", n=CONTEXT_LINES)
    )


def observation_diffs(observation: FilterObservation, body_context: BodyContext) -> list[PartDiff]:
    """The parts this filter changed, each as a unified diff; nothing for parts it left alone.

    A part the filter never saw (None) is not compared.
    """
    diffs: list[PartDiff] = []
    label = f"{observation.filter} {observation.phase.value}"
    headers = (observation.headers_before, observation.headers_after)
    if headers[0] is not None and headers[1] is not None and headers[0] != headers[1]:
        diffs.append(
            PartDiff(
                "headers", unified(header_lines(headers[0]), header_lines(headers[1]), f"{label} headers")
            )
        )
    body = (observation.body_before, observation.body_after)
    if body[0] is not None and body[1] is not None and body[0] != body[1]:
        before_lines, after_lines = body_pair_lines(body[0], body[1], body_context)
        lines = unified(before_lines, after_lines, f"{label} body")
        if not lines:
            # Same rendering, different bytes (e.g. JSON whitespace): say so rather than show nothing.
            lines = [f"bytes differ ({len(body[0])} -> {len(body[1])}) but read the same"]
        diffs.append(PartDiff("body", lines))
    trailers = (observation.trailers_before, observation.trailers_after)
    if trailers[0] is not None and trailers[1] is not None and trailers[0] != trailers[1]:
        diffs.append(
            PartDiff(
                "trailers", unified(header_lines(trailers[0]), header_lines(trailers[1]), f"{label} trailers")
            )
        )
    return diffs
