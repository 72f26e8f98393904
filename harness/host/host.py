"""The Host: one "Envoy process" for the harness.

It owns the clock, the event loop, shared data and queues, the metrics store, the fake
upstreams and the VMs. VMs are created per worker and shared between plugins whose vm_id,
VM configuration and module are the same (cpp-host's vm key), as Envoy shares them.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from harness.host.clock import VirtualClock
from harness.host.config import HostConfig, PluginConfig
from harness.host.context import Context
from harness.host.errors import HostError, PluginLoadError
from harness.host.events import EventLoop
from harness.host.metrics import MetricsStore
from harness.host.outcome import FailureRecord, LogRecord
from harness.host.plugin import Plugin, PluginInstance
from harness.host.runtime import CompiledModule, WasmRuntime
from harness.host.services import HostServices, Recorder
from harness.host.types import LogLevel
from harness.host.vm import VmFailedError, VmLoadError, VmSettings, WasmVm

RUNTIME_STAT_PREFIX = "wasm.envoy.wasm.runtime.wasmtime."
"""Envoy's per-runtime VM stats: '<prefix>created' (counter) and '<prefix>active' (gauge)."""

_POLICY_CONSEQUENCE = {
    "fail_closed": "streams_fail_closed",
    "fail_open": "filter_skipped",
    "fail_reload": "vm_reloaded_on_next_stream",
}


class Host:
    def __init__(self, config: HostConfig | None = None) -> None:
        self.config = config or HostConfig()
        self.clock = self.config.clock or VirtualClock()
        self._owns_runtime = self.config.runtime is None
        self.runtime = self.config.runtime or WasmRuntime()
        self.events = EventLoop(self.clock)
        self._metrics = MetricsStore()
        self._recorder = Recorder(self.config)
        self.services = HostServices(
            config=self.config,
            clock=self.clock,
            events=self.events,
            metrics=self._metrics,
            recorder=self._recorder,
            on_failure=self._on_background_failure,
        )
        self.plugins: list[Plugin] = []
        self._vms: dict[tuple[int, str], WasmVm] = {}
        self._next_connection_id = 1

    # -- Plugins -------------------------------------------------------------------

    def load_plugin(self, config: PluginConfig) -> Plugin:
        """Starts `config` on every worker; raises PluginLoadError naming what failed."""
        if any(plugin.name == config.name for plugin in self.plugins):
            raise PluginLoadError(config.name, "a plugin with this name is already loaded")
        compiled = self._compile(config)
        plugin = Plugin(self, config)
        created: list[tuple[int, str]] = []
        try:
            for worker in range(self.config.workers):
                vm, fresh = self._vm_for(worker, config, compiled)
                if fresh:
                    created.append((worker, self._vm_key(config, compiled)))
                instance = PluginInstance(plugin, worker, vm)
                plugin.instances.append(instance)
                instance.start()
        except PluginLoadError:
            self._discard(plugin, created)
            raise
        self.plugins.append(plugin)
        return plugin

    def _compile(self, config: PluginConfig) -> CompiledModule:
        if isinstance(config.module, Path):
            try:
                code = config.module.read_bytes()
            except OSError as error:
                raise PluginLoadError(
                    config.name, f"cannot read module {config.module}: {error.strerror}"
                ) from error
        else:
            code = config.module
        try:
            return self.runtime.compile(code)
        except ValueError as error:
            raise PluginLoadError(config.name, str(error)) from error

    @staticmethod
    def _vm_key(config: PluginConfig, compiled: CompiledModule) -> str:
        digest = hashlib.sha256()
        for part in (config.vm_id.encode(), config.vm_configuration, compiled.sha256.encode()):
            digest.update(len(part).to_bytes(8, "little"))
            digest.update(part)
        return digest.hexdigest()

    @staticmethod
    def _settings(config: PluginConfig) -> VmSettings:
        return VmSettings(
            vm_id=config.vm_id,
            vm_configuration=config.vm_configuration,
            allowed_capabilities=config.allowed_capabilities or None,
            memory_limit_bytes=config.memory_limit_bytes,
            callback_deadline_ms=config.callback_deadline_ms,
            environment=tuple(sorted(config.environment.items())),
        )

    def _vm_for(self, worker: int, config: PluginConfig, compiled: CompiledModule) -> tuple[WasmVm, bool]:
        key = (worker, self._vm_key(config, compiled))
        settings = self._settings(config)
        existing = self._vms.get(key)
        if existing is not None and not existing.failed:
            if existing.settings != settings:
                raise PluginLoadError(
                    config.name,
                    "shares a VM (same vm_id, VM configuration and module) with a plugin that has other "
                    "capabilities, limits or environment; Envoy would apply the first plugin's to both — "
                    "give this plugin its own vm_id",
                )
            return existing, False
        vm = self._create_vm(worker, config, compiled, settings)
        self._vms[key] = vm
        return vm, True

    def _create_vm(
        self, worker: int, config: PluginConfig, compiled: CompiledModule, settings: VmSettings
    ) -> WasmVm:
        try:
            vm = WasmVm(self.runtime, compiled, settings, self.services, worker)
            vm.start()
        except VmLoadError as error:
            raise PluginLoadError(config.name, str(error)) from error
        self._metrics.add_counter(RUNTIME_STAT_PREFIX + "created", 1)
        self._metrics.add_gauge(RUNTIME_STAT_PREFIX + "active", 1)
        return vm

    def _discard(self, plugin: Plugin, created: list[tuple[int, str]]) -> None:
        for instance in plugin.instances:
            instance.vm.forget_context(instance.root)
        for key in created:
            if self._vms.pop(key, None) is not None:
                self._metrics.add_gauge(RUNTIME_STAT_PREFIX + "active", -1)

    def reload_instance(self, plugin: Plugin, worker: int) -> PluginInstance | None:
        """A fresh VM and root for a FAIL_RELOAD plugin whose VM failed; None if that fails too."""
        compiled = self.runtime.compile(plugin.instances[worker].vm.compiled.code)
        key = (worker, self._vm_key(plugin.config, compiled))
        stale = self._vms.get(key)
        if stale is not None and stale.failed:
            del self._vms[key]
            self._metrics.add_gauge(RUNTIME_STAT_PREFIX + "active", -1)
        try:
            vm, _fresh = self._vm_for(worker, plugin.config, compiled)
            instance = PluginInstance(plugin, worker, vm)
            instance.start()
        except PluginLoadError as error:
            self._recorder.logs.append(
                LogRecord(LogLevel.ERROR, f"reload failed: {error.reason}", plugin.name, "host")
            )
            return None
        return instance

    # -- Time and background work ----------------------------------------------------

    def advance_time(self, milliseconds: int) -> None:
        """Moves the virtual clock forward, firing due ticks, callout answers and queue
        notifications in time order."""
        if milliseconds < 0:
            raise HostError(f"cannot advance time by a negative amount ({milliseconds} ms)")
        self.events.run_until(self.clock.monotonic_nanos + milliseconds * 1_000_000)

    def run_pending(self) -> None:
        """Runs everything due now (posted queue notifications, zero-latency answers)."""
        self.events.run_due()

    def _on_background_failure(self, context: Context, failure: VmFailedError) -> None:
        plugin = context.plugin
        policy = plugin.config.failure_policy if plugin is not None else None
        record = FailureRecord(
            kind=failure.kind,
            callback=failure.callback,
            message=failure.message,
            policy=policy,
            consequence=_POLICY_CONSEQUENCE[policy.value] if policy is not None else "vm_failed",
        )
        self._recorder.failure(context, record)
        self._recorder.host_note(
            context, f"Function: {failure.callback} failed: {failure.message}", LogLevel.ERROR
        )

    # -- Observation -------------------------------------------------------------

    @property
    def metrics(self) -> dict[str, int]:
        """Counters and gauges by stat name: module-defined ones and Envoy's runtime stats."""
        return self._metrics.snapshot()

    @property
    def histograms(self) -> dict[str, list[int]]:
        return {name: list(values) for name, values in self._metrics.histograms.items()}

    @property
    def logs(self) -> list[LogRecord]:
        return list(self._recorder.logs)

    @property
    def failures(self) -> list[FailureRecord]:
        return list(self._recorder.failures)

    def shared_data(self, vm_id: str, key: bytes) -> tuple[bytes, int] | None:
        """A shared-data entry (value, cas) as the modules of `vm_id` see it."""
        return self.services.shared_data.get(vm_id, key)

    def next_connection_id(self) -> int:
        connection_id = self._next_connection_id
        self._next_connection_id += 1
        return connection_id

    def close(self) -> None:
        """Shuts plugins down and stops the runtime's ticker (if this host created it)."""
        for plugin in self.plugins:
            plugin.unload()
        self.plugins.clear()
        self._vms.clear()
        if self._owns_runtime:
            self.runtime.close()

    def __enter__(self) -> Host:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
