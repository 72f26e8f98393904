"""Errors of the trust package. Each refusal carries a stable reason code and a message."""

from __future__ import annotations


class TrustError(ValueError):
    """Input that cannot be used (a malformed key file, trust root, policy or envelope)."""


class RefusedError(TrustError):
    """Something was checked and refused; `reason` is a stable code, the message says why."""

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
