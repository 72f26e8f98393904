"""The one error type commands raise to end with a message and an exit code."""

from __future__ import annotations

# Exit codes: 0 success, 1 the command ran and found problems (e.g. an invalid module),
# 2 the command could not run as asked (bad arguments, unreadable input, failed build).
EXIT_FINDINGS = 1
EXIT_USAGE = 2


class CliError(Exception):
    def __init__(self, message: str, exit_code: int = EXIT_USAGE) -> None:
        super().__init__(message)
        self.exit_code = exit_code
