"""A loaded plugin: one root context on one VM per worker, as Envoy runs a plugin on every
worker thread.

Starting a root follows cpp-host's `ContextBase::onStart` and `onConfigure`:
proxy_on_context_create(root, 0) (the plugin configuration is readable meanwhile), then
proxy_on_vm_start with the VM configuration size, then proxy_on_configure with the plugin
configuration size. A false answer from either, or a trap, rejects the plugin, as Envoy
rejects the configuration. (Envoy first runs the same sequence on a throw-away "canary" VM;
the harness relies on the per-worker run, which fails the same way.)
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.host.config import FailurePolicy, PluginConfig
from harness.host.context import Context, ContextKind, HttpState, StreamInfo, TcpState
from harness.host.errors import PluginLoadError
from harness.host.outcome import FilterObservation
from harness.host.types import Status
from harness.host.vm import VmFailedError, WasmVm

if TYPE_CHECKING:
    from harness.host.host import Host


class PluginInstance:
    """A plugin on one worker: its VM, its root context, and where its records go."""

    def __init__(self, plugin: Plugin, worker: int, vm: WasmVm) -> None:
        self.plugin = plugin
        self.config = plugin.config
        self.worker = worker
        self.vm = vm
        self.root = vm.new_context(ContextKind.ROOT)
        self.root.plugin = self
        self.observation: FilterObservation | None = None
        """Where logs, metric changes, callouts and module time of this plugin go right now."""
        self.pending_done = False

    @property
    def failed(self) -> bool:
        return self.vm.failed

    def add_module_time(self, seconds: float) -> None:
        if self.observation is not None:
            self.observation.module_seconds += seconds

    def start(self) -> None:
        """Root context create, vm_start and configure; raises PluginLoadError."""
        vm, root, config = self.vm, self.root, self.config
        try:
            if vm.has("proxy_on_context_create"):
                root.plugin_configuration = config.configuration
                try:
                    vm.call_named(root, "proxy_on_context_create", root.id, 0)
                finally:
                    root.plugin_configuration = None
            root.created_in_vm = True
            started = vm.call_named(root, "proxy_on_vm_start", root.id, len(vm.settings.vm_configuration))
            if started == 0:
                raise PluginLoadError(
                    config.name, "proxy_on_vm_start returned false (Envoy: Failed to start Wasm VM)"
                )
            root.plugin_configuration = config.configuration
            try:
                configured = vm.call_named(root, "proxy_on_configure", root.id, len(config.configuration))
            finally:
                root.plugin_configuration = None
            if configured == 0:
                raise PluginLoadError(
                    config.name,
                    "proxy_on_configure returned false: the plugin rejected its configuration "
                    "(Envoy: Failed to configure Wasm plugin)",
                )
        except VmFailedError as failure:
            raise PluginLoadError(config.name, f"{failure.callback} failed: {failure.message}") from failure

    def new_stream_context(self, kind: ContextKind, stream: StreamInfo) -> Context:
        """A stream context; proxy_on_context_create is called when the stream first reaches it."""
        context = self.vm.new_context(kind, parent=self.root)
        context.stream = stream
        if kind is ContextKind.HTTP:
            context.http = HttpState()
        else:
            context.tcp = TcpState()
        return context

    def done_requested(self, vm: WasmVm) -> int:
        """proxy_done: finishes a shutdown the root deferred by answering false to on_done."""
        if not self.pending_done or vm is not self.vm:
            return Status.NOT_FOUND
        self.pending_done = False
        services = vm.services
        # Envoy deletes after the current call returns, never inside it.
        services.events.post(self._delete_root)
        return Status.OK

    def shutdown(self) -> None:
        """proxy_on_done on the root; proxy_on_delete now, or after the module calls proxy_done
        (until then the root keeps its timers and callouts, as cpp-host's pending_done_)."""
        done = self.vm.services.dispatch(self.root, "proxy_on_done", self.root.id)
        if done == 0:
            self.pending_done = True
            return
        self._delete_root()

    def _delete_root(self) -> None:
        services = self.vm.services
        services.dispatch(self.root, "proxy_on_delete", self.root.id)
        services.timers.cancel(self.root)
        services.callouts.forget(self.root)
        self.root.destroyed = True
        self.vm.forget_context(self.root)


class Plugin:
    """One plugin configuration loaded on every worker of a host."""

    def __init__(self, host: Host, config: PluginConfig) -> None:
        self.host = host
        self.config = config
        self.instances: list[PluginInstance] = []

    @property
    def name(self) -> str:
        return self.config.name

    def __repr__(self) -> str:
        return f"Plugin({self.config.name!r}, workers={len(self.instances)})"

    def instance(self, worker: int) -> PluginInstance:
        """The plugin on `worker`; with FAIL_RELOAD a failed VM is replaced first (Envoy
        creates a new VM for the next stream after a failure)."""
        if not 0 <= worker < len(self.instances):
            raise IndexError(f"plugin {self.name!r} has no worker {worker} (workers: {len(self.instances)})")
        current = self.instances[worker]
        if current.failed and self.config.failure_policy is FailurePolicy.FAIL_RELOAD:
            replacement = self.host.reload_instance(self, worker)
            if replacement is not None:
                self.instances[worker] = replacement
                return replacement
        return current

    def failed(self, worker: int = 0) -> bool:
        return self.instances[worker].failed

    def unload(self) -> None:
        """Shuts the plugin down on every worker (root proxy_on_done / proxy_on_delete)."""
        for instance in self.instances:
            if not instance.failed:
                instance.shutdown()
