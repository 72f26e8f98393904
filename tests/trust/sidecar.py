"""A sidecar in the harness running one meshveil filter, and the control plane's side of
pushing it modules and configs: what the attack-matrix tests drive."""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from controlplane.trust.admission import AdmissionRequest, admit_module
from controlplane.trust.capability_restriction import allowed_capabilities
from harness.host import ExchangeOutcome, FilterChain, Host, HostConfig, Phase, Plugin, PluginConfig
from harness.host.clock import VirtualClock
from harness.traffic.model import HttpExchange, HttpMessage
from tests.trust.bundles import Target

PLUGIN = "dlp-inbound"
_REFUSAL = re.compile(r"configuration refused \[(\w+)\]")


@dataclass
class Sidecar:
    """One Envoy process with the dlp filter. `push_config` is an ECDS update: Envoy builds
    the new plugin's root context in the running VM, so the VM's state carries over."""

    target: Target
    now: int
    host: Host = field(init=False)
    module: bytes = b""
    capabilities: frozenset[str] | None = None
    plugin: Plugin | None = None

    def __post_init__(self) -> None:
        self.host = Host(
            HostConfig(
                clock=VirtualClock(wall_nanos=self.now * 1_000_000_000),
                node_id=self.target.node_id,
                node_metadata={"NAMESPACE": self.target.namespace, "WORKLOAD_NAME": self.target.workload},
            )
        )

    def deploy_module(self, module: bytes, request: AdmissionRequest) -> None:
        """The control plane's gate: only an admitted module runs, restricted to its claims.
        Raises RefusedError and leaves the running module in place otherwise."""
        admitted = admit_module(module, request)
        self.module = module
        self.capabilities = allowed_capabilities(admitted.claims)

    def push_config(self, configuration: bytes) -> None:
        previous = self.plugin
        if previous is not None:
            # The harness has no ECDS update yet: retire the running plugin, keep its VM.
            previous.unload()
            self.host.plugins.remove(previous)
            self.plugin = None
        self.plugin = self.host.load_plugin(
            PluginConfig(
                name=self.target.plugin,
                vm_id="meshveil",
                module=self.module,
                configuration=configuration,
                allowed_capabilities=self.capabilities,
            )
        )

    def advance(self, seconds: int) -> None:
        self.host.clock.advance_ms(seconds * 1000)
        self.now += seconds

    @property
    def config_version(self) -> int:
        return self.host.metrics[f"{self.target.module}.config.version"]

    def refusals(self) -> list[str]:
        return [match.group(1) for record in self.host.logs if (match := _REFUSAL.search(record.message))]

    def serve(self, body: bytes = b'{"card": "4111 1111 1111 1111"}') -> ExchangeOutcome:
        """One request through the filter and the recorded response back."""
        assert isinstance(self.plugin, Plugin)
        exchange = HttpExchange(
            request=HttpMessage(
                headers=[(":method", "POST"), (":path", "/orders"), (":authority", "checkout.shop")],
                body_chunks=[body],
            ),
            response=HttpMessage(headers=[(":status", "200"), ("content-type", "application/json")]),
            exchange_id="order-1",
        )
        return FilterChain(self.host, [self.plugin]).run(exchange)


def passed_through(outcome: ExchangeOutcome, plugin: str) -> bool:
    """The filter saw the request and the response, and both went on their way."""
    request = outcome.observation(plugin, Phase.REQUEST)
    response = outcome.observation(plugin, Phase.RESPONSE)
    seen = [
        record.callback
        for observation in (request, response)
        if observation
        for record in observation.callbacks
    ]
    return (
        outcome.local_reply is None
        and outcome.request_to_upstream is not None
        and outcome.response_to_client.header(":status") == "200"
        and "proxy_on_request_headers" in seen
        and "proxy_on_response_headers" in seen
    )
