"""The parser class of every `meshveil` command: arguments can be added when the command
is used rather than when the command line is built."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

AddArguments = Callable[[argparse.ArgumentParser], None]


class CommandParser(argparse.ArgumentParser):
    """An `ArgumentParser` with `defer`: arguments whose choices or defaults come from heavy
    modules (wasmtime, SQLAlchemy, FastAPI, every bench target) are added only when this
    parser parses or prints its help, so one command does not pay for the others' imports."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._deferred: list[AddArguments] = []

    def defer(self, add_arguments: AddArguments) -> None:
        self._deferred.append(add_arguments)

    def _complete(self) -> None:
        while self._deferred:
            self._deferred.pop(0)(self)

    def parse_known_args(  # type: ignore[override]
        self, args: Sequence[str] | None = None, namespace: argparse.Namespace | None = None
    ) -> tuple[argparse.Namespace, list[str]]:
        self._complete()
        return super().parse_known_args(args, namespace)

    def format_help(self) -> str:
        self._complete()
        return super().format_help()

    def format_usage(self) -> str:
        self._complete()
        return super().format_usage()


def defer(parser: argparse.ArgumentParser, add_arguments: AddArguments) -> None:
    """`parser.defer(add_arguments)` when it is a `CommandParser`, else adds them now."""
    if isinstance(parser, CommandParser):
        parser.defer(add_arguments)
    else:
        add_arguments(parser)
