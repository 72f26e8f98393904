"""The error every traffic reader raises: one line that names the file and the entry."""

from __future__ import annotations


class TrafficError(ValueError):
    """Input that cannot be read as traffic, located as precisely as the format allows.

    `str(error)` reads "capture.har: entry 3: response.content.encoding 'rot13' is not
    supported": the source, then where in it, then what was wrong.
    """

    def __init__(self, source: str, location: str, problem: str) -> None:
        self.source = source
        self.location = location
        self.problem = problem
        parts = [part for part in (source, location, problem) if part]
        super().__init__(": ".join(parts))


class FieldError(ValueError):
    """A problem inside one record, before the reader knows which record it is in.

    Readers catch it and re-raise a `TrafficError` that adds the file and entry. `path` is
    the dotted field path within the record and `problem` reads on from it:
    "response.content.encoding" + "'rot13' is not supported".
    """

    def __init__(self, path: str, problem: str) -> None:
        self.path = path
        self.problem = problem
        super().__init__(f"{path} {problem}" if path else problem)
