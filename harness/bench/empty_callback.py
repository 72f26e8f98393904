"""A module instantiated bare in wasmtime, every import a stub, to time a call into an
empty callback without any host in between: the floor the host's overhead is measured
against."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import wasmtime

from harness.host import Plugin
from harness.host.native import ExportedFunction

EMPTY_CALLBACK = "proxy_on_delete"
"""With an unknown context id, meshveil's dispatcher returns at once: an empty callback.
Every module exports it (`proxy_on_log` only where a context handles logging)."""
UNKNOWN_CONTEXT_ID = 0x7FFF_FFF0


class BareModule:
    def __init__(self, code: bytes) -> None:
        self.engine = wasmtime.Engine()
        self.store = wasmtime.Store(self.engine)
        module = wasmtime.Module(self.engine, code)
        imports = [self._stub(item.type) for item in module.imports]
        instance = wasmtime.Instance(self.store, module, imports)
        export = instance.exports(self.store).get(EMPTY_CALLBACK)
        if not isinstance(export, wasmtime.Func):
            raise ValueError(f"the module does not export {EMPTY_CALLBACK}")
        self.function = export
        self._raw = ExportedFunction(self.store, export, EMPTY_CALLBACK)

    def generic_call(self) -> Callable[[], object]:
        """wasmtime-py's ordinary `Func.__call__`: type lookup and boxing on every call."""
        function, store = self.function, self.store
        return lambda: function(store, UNKNOWN_CONTEXT_ID)

    def unchecked_call(self) -> Callable[[], object]:
        """The C API's unchecked call with a preallocated argument array, as the host makes it."""
        raw = self._raw
        return lambda: raw.call(UNKNOWN_CONTEXT_ID)

    def _stub(self, item_type: Any) -> wasmtime.Func:
        if not isinstance(item_type, wasmtime.FuncType):
            raise ValueError(f"a bare instance can only stub function imports, not {item_type}")
        results = [0 for _ in item_type.results]

        def answer(*_arguments: object) -> object:
            if not results:
                return None
            return results[0] if len(results) == 1 else list(results)

        return wasmtime.Func(self.store, item_type, answer)


def host_round_trip(plugin: Plugin, worker: int = 0) -> Callable[[], object]:
    """The same empty callback through the host's own path for calls outside a stream
    (context switch, deadline, failure handling), as ticks and queue wake-ups take it."""
    instance = plugin.instance(worker)
    dispatch, root = instance.vm.services.dispatch, instance.root
    return lambda: dispatch(root, EMPTY_CALLBACK, UNKNOWN_CONTEXT_ID)
