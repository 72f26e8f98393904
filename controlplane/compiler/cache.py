"""Compiled tables cached on disk by the hash of what produced them.

Compiling the whole catalog takes seconds of subset construction; `detectors test` and the
tests reuse the result while the definitions, the options and the compiler are unchanged.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from pathlib import Path

from controlplane.compiler.compile import CompileOptions, compile_detectors
from controlplane.compiler.tables import FORMAT_VERSION
from controlplane.detectors.model import Detector

COMPILER_DIR = Path(__file__).resolve().parent
VALIDATORS_FILE = COMPILER_DIR.parent / "detectors" / "validators.py"


def default_cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "meshveil" / "tables"


def cache_key(detectors: Sequence[Detector], options: CompileOptions) -> str:
    digest = hashlib.sha256(f"{FORMAT_VERSION}\n{options!r}\n{list(detectors)!r}\n".encode())
    for source in sorted(COMPILER_DIR.glob("*.py")):
        digest.update(source.read_bytes())
    digest.update(VALIDATORS_FILE.read_bytes())
    return digest.hexdigest()


def compiled_tables(
    detectors: Sequence[Detector], options: CompileOptions | None = None, cache_dir: Path | None = None
) -> bytes:
    """The encoded tables of `detectors`, from the cache when it has them."""
    options = options or CompileOptions()
    folder = cache_dir or default_cache_dir()
    path = folder / f"{cache_key(detectors, options)}.mvmt"
    try:
        return path.read_bytes()
    except OSError:
        pass
    encoded = compile_detectors(detectors, options).encoded
    try:
        folder.mkdir(parents=True, exist_ok=True)
        temporary = path.with_suffix(f".{os.getpid()}.partial")
        temporary.write_bytes(encoded)
        temporary.replace(path)
    except OSError:
        pass  # a read-only home still compiles, only slower
    return encoded
