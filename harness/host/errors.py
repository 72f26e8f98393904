"""Errors the host raises to its caller (never into a module: modules get status codes)."""

from __future__ import annotations


class HostError(RuntimeError):
    """A misuse of the harness API (unknown worker, plugin from another host, ...)."""


class PluginLoadError(HostError):
    """A plugin could not be started: the module does not load or link, or its
    proxy_on_vm_start / proxy_on_configure answered false (Envoy rejects the config)."""

    def __init__(self, plugin: str, reason: str) -> None:
        super().__init__(f"plugin {plugin!r}: {reason}")
        self.plugin = plugin
        self.reason = reason
