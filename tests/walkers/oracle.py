"""What the walker probe should output, computed independently in Python on decoded data.

It mirrors the probe's stand-in scanner (masking/test_support.zig): digit runs of 9 or more
digits, with single '-' or ' ' between digits, are detector 1; "secret" is detector 2
(redacted to [REDACTED:SECRET]); a value under an "email" key that holds '@' is
detector 3 (redacted whole to [REDACTED:EMAIL]). Mask operations follow their Zig
definitions (masking/partial.zig, token.zig).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable

TEST_KEY = b"0123456789abcdef0123456789abcdef"
DIGIT_RUN = re.compile(r"[0-9](?:[- ]?[0-9])*")
SECRET = "secret"
SECRET_PLACEHOLDER = "[REDACTED:SECRET]"
EMAIL_PLACEHOLDER = "[REDACTED:EMAIL]"

Masker = Callable[[str], str]


def partial_mask(value: str, keep_last: int = 4, character: str = "*") -> str:
    """masking/partial.zig with its defaults: separators (ASCII punctuation and space) stay."""
    counted = [not _is_separator(char) for char in value]
    total = sum(counted)
    keep = 0 if keep_last >= total else keep_last
    seen = 0
    out = []
    for char, is_counted in zip(value, counted, strict=True):
        if not is_counted:
            out.append(char)
            continue
        seen += 1
        out.append(char if seen > total - keep else character)
    return "".join(out)


def _is_separator(char: str) -> bool:
    return ord(char) < 0x80 and not char.isalnum()


def hash_token(value: str, prefix: str = "tok_", truncate_bytes: int = 16) -> str:
    mac = hmac.new(TEST_KEY, b"meshveil-token-v1\x00" + value.encode(), hashlib.sha256).hexdigest()
    return prefix + mac[: 2 * truncate_bytes]


def redact(placeholder: str) -> Masker:
    return lambda _value: placeholder


def mask_text(text: str, digits: Masker | None, context_key: str = "") -> str:
    """One scanned value, masked as the probe's scanner and policy would."""
    if context_key == "email" and "@" in text:
        return EMAIL_PLACEHOLDER
    out = []
    index = 0
    while index < len(text):
        match = DIGIT_RUN.match(text, index)
        if match:
            run = match.group()
            digit_count = sum(char.isdigit() for char in run)
            out.append(digits(run) if digits is not None and digit_count >= 9 else run)
            index = match.end()
        elif text.startswith(SECRET, index):
            out.append(SECRET_PLACEHOLDER)
            index += len(SECRET)
        else:
            out.append(text[index])
            index += 1
    return "".join(out)


def mask_json(
    value: object, digits: Masker | None, context_key: str = "", *, numbers: bool = False
) -> object:
    """A decoded JSON document, masked: keys and strings, numbers when asked."""
    if isinstance(value, dict):
        return {
            mask_text(key, digits): mask_json(item, digits, key, numbers=numbers)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [mask_json(item, digits, context_key, numbers=numbers) for item in value]
    if isinstance(value, str):
        return mask_text(value, digits, context_key)
    if numbers and isinstance(value, int) and not isinstance(value, bool):
        text = str(value)
        masked = mask_text(text, digits, context_key)
        return value if masked == text else _as_json_number_or_string(masked)
    return value


def _as_json_number_or_string(text: str) -> object:
    return int(text) if re.fullmatch(r"-?(0|[1-9][0-9]*)", text) else text
