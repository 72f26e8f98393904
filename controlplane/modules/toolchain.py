"""The Zig toolchain, as shipped by the `ziglang` package from PyPI."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

# Pinned in pyproject.toml as well; a different compiler may produce different bytes.
ZIG_VERSION = "0.14.1"


class ToolchainError(RuntimeError):
    pass


def zig_command() -> list[str]:
    return [sys.executable, "-m", "ziglang"]


def zig_version() -> str:
    try:
        completed = subprocess.run([*zig_command(), "version"], capture_output=True, text=True, check=False)
    except OSError as error:
        raise ToolchainError(f"cannot run the Zig compiler: {error}") from error
    if completed.returncode != 0:
        raise ToolchainError(
            "the Zig compiler is not installed; install meshveil with pip so that the 'ziglang' "
            f"package ({ZIG_VERSION}) comes with it"
        )
    return completed.stdout.strip()


def require_pinned_zig() -> None:
    version = zig_version()
    if version != ZIG_VERSION:
        raise ToolchainError(f"Zig {version} found, but meshveil builds with Zig {ZIG_VERSION} exactly")


def default_cache_dir() -> Path:
    """Zig's caches, outside the source tree so that clean clones reuse them."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshveil" / "zig"
