"""What a traffic reader returns: the exchanges to replay and what it had to leave out."""

from __future__ import annotations

from dataclasses import dataclass, field

from harness.traffic.model import HttpExchange


@dataclass
class Capture:
    source: str
    """The file the exchanges came from, as the user named it."""
    format: str
    """"har", "jsonl" or "grpc"."""
    exchanges: list[HttpExchange]
    skipped: list[str] = field(default_factory=list)
    """One line per record that holds no replayable exchange, e.g. a HAR entry whose
    request never got a response (status 0)."""
