"""One Wasm VM: a module instance in its own store, as one Envoy worker holds it.

The VM links the module's imports against the host functions (or against capability stubs
and nothing else: an import the host does not provide fails the load, as in cpp-host),
resolves the callbacks the module exports, and runs every call into the module with a
deadline. The first trap or interruption marks the VM failed for good (Envoy's
FailState::RuntimeError); the owner then applies the plugin's failure policy.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import wasmtime

from harness.abi.catalog import CALLBACKS, WASI_FUNCTIONS, WASI_MODULES, FunctionSignature
from harness.host.context import Context, ContextKind
from harness.host.hostcalls.registry import ALLOCATION_ALLOWED_CALLS, LinkError, resolve_import
from harness.host.metrics import VmMetrics
from harness.host.native import (
    EpochDeadline,
    ExportedFunction,
    GuestMemory,
    ModuleTrapError,
    PendingHostFailure,
    define_raw_function,
)
from harness.host.outcome import FailureKind
from harness.host.runtime import CompiledModule, WasmRuntime

if TYPE_CHECKING:
    from harness.host.services import HostServices

WASM_PAGE_BYTES = 64 * 1024
MEMORY_LIMIT_WINDOW_BYTES = 1024 * 1024
NESTED_CALL_DEPTH_MAX = 8
"""Host functions call back into the module (to allocate); nesting deeper is a bug."""

START_ALLOWED_CALLS = frozenset(
    {"env.proxy_log", *(f"{module}.{name}" for module in WASI_MODULES for name in WASI_FUNCTIONS)}
)
"""What _initialize / _start / main may call (cpp-host's `WasmBase::startVm` restricted
callbacks): proxy_log and WASI only. cpp-host PR 533 opened the WASI list up because Go runs
its package initializers there; proxy-wasm calls other than logging stay refused."""


class VmLoadError(Exception):
    """The module cannot be linked, instantiated or started."""


class VmFailedError(Exception):
    """A call into the module trapped, ran out of time or hit the memory ceiling."""

    def __init__(self, kind: FailureKind, callback: str, message: str) -> None:
        super().__init__(f"{callback}: {message}")
        self.kind = kind
        self.callback = callback
        self.message = message


@dataclass(frozen=True)
class VmSettings:
    """What identifies and bounds a VM (shared by the plugins that share it)."""

    vm_id: str
    vm_configuration: bytes
    allowed_capabilities: frozenset[str] | None
    memory_limit_bytes: int
    callback_deadline_ms: int
    environment: tuple[tuple[str, str], ...] = ()


@dataclass
class _Callbacks:
    """The module's exports, bound once; absent ones are None."""

    functions: dict[str, ExportedFunction] = field(default_factory=dict)

    def get(self, name: str) -> ExportedFunction | None:
        return self.functions.get(name)


class WasmVm:
    def __init__(
        self,
        runtime: WasmRuntime,
        compiled: CompiledModule,
        settings: VmSettings,
        services: HostServices,
        worker: int,
    ) -> None:
        self.runtime = runtime
        self.compiled = compiled
        self.settings = settings
        self.services = services
        self.worker = worker
        self.label = f"vm {settings.vm_id or '(default)'} on worker {worker}"
        self.abi_version = compiled.info.abi_version
        self.failure: VmFailedError | None = None
        self.contexts: dict[int, Context] = {}
        self.vm_context = Context(id=0, kind=ContextKind.VM, vm=self)
        self.current_context: Context = self.vm_context
        self.effective_context_id = 0
        self.restricted_calls: frozenset[str] | None = None
        self.restriction_reason = ""
        self.stop_next_iteration = False
        """Set by proxy_send_local_response: the callback's answer becomes "stop"."""
        self.metrics = VmMetrics(services.metrics)
        self.host_failure = PendingHostFailure()
        self._next_context_id = 1
        self._depth = 0
        self._deadline_epochs = runtime.deadline_epochs(settings.callback_deadline_ms)
        self._keepalive: list[Any] = []
        self.store = wasmtime.Store(runtime.engine)
        self.store.set_limits(memory_size=settings.memory_limit_bytes)
        self._deadline = EpochDeadline(self.store)
        self._deadline.set(self._deadline_epochs)
        instance = self._instantiate()
        self.memory = self._bind_memory(instance)
        self.callbacks = self._bind_callbacks(instance)
        self.allocator = self.callbacks.get("malloc") or self.callbacks.get("proxy_on_memory_allocate")
        if self.allocator is None:
            raise VmLoadError("Wasm module is missing malloc function (malloc or proxy_on_memory_allocate)")

    # -- Loading ---------------------------------------------------------------

    def _instantiate(self) -> wasmtime.Instance:
        info = self.compiled.info
        if self.abi_version is None:
            raise VmLoadError("Missing or unknown Proxy-Wasm ABI version (no proxy_abi_version_* export)")
        externs: list[wasmtime.Func] = []
        for spec in info.imports:
            if spec.signature is None:
                raise VmLoadError(
                    f"Failed to load Wasm module due to a missing import: {spec.qualified_name} "
                    "(only function imports are provided)"
                )
            try:
                binding = resolve_import(self, spec.module, spec.name, spec.signature)
            except LinkError as error:
                raise VmLoadError(str(error)) from error
            func, keepalive = define_raw_function(
                self.store, _func_type(spec.signature), binding, self.host_failure
            )
            self._keepalive.append(keepalive)
            externs.append(func)
        try:
            return wasmtime.Instance(self.store, self.compiled.module, externs)
        except (wasmtime.WasmtimeError, wasmtime.Trap) as error:
            raise VmLoadError(f"Failed to instantiate Wasm module: {_first_line(str(error))}") from error

    def _bind_memory(self, instance: wasmtime.Instance) -> GuestMemory:
        name = self.compiled.info.memory_export
        if name is None:
            raise VmLoadError("Wasm module does not export a memory")
        memory = instance.exports(self.store)[name]
        assert isinstance(memory, wasmtime.Memory)
        return GuestMemory(self.store, memory)

    def _bind_callbacks(self, instance: wasmtime.Instance) -> _Callbacks:
        exports = instance.exports(self.store)
        callbacks = _Callbacks()
        for name, signature in self.compiled.info.functions.items():
            accepted = CALLBACKS.get(name)
            if accepted is None:
                continue
            if signature not in accepted:
                expected = " or ".join(str(item) for item in accepted)
                raise VmLoadError(f"Bad function signature for: {name} is {signature}, expected {expected}")
            func = exports[name]
            assert isinstance(func, wasmtime.Func)
            callbacks.functions[name] = ExportedFunction(self.store, func, name)
        return callbacks

    def start(self) -> None:
        """Runs the module's own start functions as cpp-host's startVm does: a WASI reactor
        gets _initialize then main(0, 0) if exported; a WASI command gets _start."""
        self.restricted_calls = START_ALLOWED_CALLS
        self.restriction_reason = "VM start"
        try:
            initialize = self.callbacks.get("_initialize")
            if initialize is not None:
                self._call_start(initialize)
                main = self.callbacks.get("main")
                if main is not None:
                    self._call_start(main, *([0, 0] if main.param_count == 2 else []))
            else:
                start = self.callbacks.get("_start")
                if start is not None:
                    self._call_start(start)
        finally:
            self.restricted_calls = None

    def _call_start(self, function: ExportedFunction, *args: int) -> None:
        try:
            self.call(self.vm_context, function, *args)
        except VmFailedError as failure:
            raise VmLoadError(f"{function.name} failed: {failure.message}") from failure

    # -- Contexts --------------------------------------------------------------

    def new_context(self, kind: ContextKind, parent: Context | None = None) -> Context:
        context_id = self._next_context_id
        self._next_context_id += 1
        context = Context(id=context_id, kind=kind, vm=self, parent=parent)
        if parent is not None:
            context.plugin = parent.plugin
        self.contexts[context_id] = context
        return context

    def forget_context(self, context: Context) -> None:
        self.contexts.pop(context.id, None)

    def active_context(self) -> Context:
        """The context a host function acts for: the effective one if set and alive."""
        if self.effective_context_id:
            effective = self.contexts.get(self.effective_context_id)
            if effective is not None:
                return effective
        return self.current_context

    # -- Calling into the module ----------------------------------------------

    @property
    def failed(self) -> bool:
        return self.failure is not None

    def has(self, name: str) -> bool:
        return name in self.callbacks.functions

    def call(self, context: Context, function: ExportedFunction, *args: int) -> int:
        """Calls `function` on behalf of `context`; raises VmFailedError on trap or timeout."""
        assert self.failure is None, "no calls into a failed VM"
        assert self._depth < NESTED_CALL_DEPTH_MAX, f"{function.name}: host and module recursed too deep"
        saved_context, saved_effective = self.current_context, self.effective_context_id
        self.current_context, self.effective_context_id = context, 0
        outermost = self._depth == 0
        self._depth += 1
        started = time.perf_counter()
        try:
            if outermost:
                self._deadline.set(self._deadline_epochs)
            return function.call(*args)
        except ModuleTrapError as trap:
            self.failure = self._classify(function.name, trap)
            raise self.failure from trap
        finally:
            self._depth -= 1
            self.current_context, self.effective_context_id = saved_context, saved_effective
            if outermost and context.plugin is not None:
                context.plugin.add_module_time(time.perf_counter() - started)

    def call_named(self, context: Context, name: str, *args: int) -> int | None:
        """Calls an exported callback by name; None when the module does not export it."""
        function = self.callbacks.get(name)
        if function is None:
            return None
        return self.call(context, function, *args)

    def _classify(self, callback: str, trap: ModuleTrapError) -> VmFailedError:
        host_error = self.host_failure.error
        self.host_failure.error = None
        if isinstance(host_error, VmFailedError):
            # The module failed inside a nested call (its allocator) made by a host function.
            return host_error
        if host_error is not None:
            return VmFailedError(
                FailureKind.HOST_ERROR, callback, f"{type(host_error).__name__}: {host_error}"
            )
        if trap.interrupted:
            return VmFailedError(
                FailureKind.DEADLINE,
                callback,
                f"exceeded the callback deadline of {self.settings.callback_deadline_ms} ms",
            )
        limit = self.settings.memory_limit_bytes
        size = self.memory.size
        # wasmtime refuses growth past the limit with memory.grow = -1 and the module then
        # traps on its own; a trap with memory this close to the ceiling is taken as that.
        if size + max(MEMORY_LIMIT_WINDOW_BYTES, limit // 16) > limit:
            return VmFailedError(
                FailureKind.MEMORY_LIMIT,
                callback,
                f"{trap.message} (linear memory at {size} of its {limit}-byte ceiling)",
            )
        return VmFailedError(FailureKind.TRAP, callback, trap.message)

    # -- Memory helpers used by host functions -----------------------------------

    def allocate(self, size: int) -> int:
        """Guest memory from the module's allocator; 0 on failure (as cpp-host's allocMemory)."""
        assert self.allocator is not None
        if size > 0xFFFFFFFF:
            return 0
        saved, saved_reason = self.restricted_calls, self.restriction_reason
        self.restricted_calls = (
            ALLOCATION_ALLOWED_CALLS if saved is None else saved & ALLOCATION_ALLOWED_CALLS
        )
        self.restriction_reason = "memory allocation"
        try:
            address = self.call(self.vm_context, self.allocator, size)
        finally:
            self.restricted_calls, self.restriction_reason = saved, saved_reason
        if address == 0 or not self.memory.in_bounds(address, size):
            return 0
        return address

    def copy_out(self, data: bytes, address_out: int, size_out: int) -> bool:
        """cpp-host's copyToPointerSize: allocate, copy, write pointer and size; empty data
        writes a null pointer and size 0."""
        address = 0
        if data:
            address = self.allocate(len(data))
            if address == 0 or not self.memory.write(address, data):
                return False
        return self.memory.write_u32(address_out, address) and self.memory.write_u32(size_out, len(data))

    def keep_alive(self, item: Any) -> None:
        self._keepalive.append(item)


def _func_type(signature: FunctionSignature) -> wasmtime.FuncType:
    return wasmtime.FuncType(
        [_VALTYPES[name]() for name in signature.params],
        [_VALTYPES[name]() for name in signature.results],
    )


_VALTYPES: dict[str, Callable[[], wasmtime.ValType]] = {
    "i32": wasmtime.ValType.i32,
    "i64": wasmtime.ValType.i64,
    "f32": wasmtime.ValType.f32,
    "f64": wasmtime.ValType.f64,
}


def _first_line(message: str) -> str:
    return message.strip().split("\n", 1)[0]
