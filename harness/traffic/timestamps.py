"""Recorded timestamps (ISO 8601, as HAR's startedDateTime) as seconds since the epoch."""

from __future__ import annotations

from datetime import UTC, datetime

from harness.traffic.errors import FieldError


def parse_timestamp(text: str, field: str) -> float:
    """'2026-01-05T10:00:00.123Z' -> seconds; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise FieldError(field, f"{text!r} is not an ISO 8601 date and time") from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()
