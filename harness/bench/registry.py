"""The bench targets: every module in `harness.bench.targets` that defines `TARGET`.

Adding `meshveil bench NAME` is one new file in that package with a `TARGET =
BenchTarget(...)`; the CLI discovers it, so no list elsewhere needs editing.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
from collections.abc import Callable
from dataclasses import dataclass

from harness.bench import targets
from harness.bench.report import BenchReport


class BenchError(RuntimeError):
    """A benchmark that could not run as asked (missing modules, bad options)."""


@dataclass(frozen=True)
class BenchTarget:
    name: str
    help: str
    add_arguments: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], BenchReport]


def discover_targets() -> list[BenchTarget]:
    """Every target, sorted by name."""
    found: list[BenchTarget] = []
    for module_info in pkgutil.iter_modules(targets.__path__):
        module = importlib.import_module(f"{targets.__name__}.{module_info.name}")
        target = getattr(module, "TARGET", None)
        if isinstance(target, BenchTarget):
            found.append(target)
    names = [target.name for target in found]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    assert not duplicates, f"bench targets defined twice: {duplicates}"
    return sorted(found, key=lambda target: target.name)
