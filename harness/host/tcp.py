"""TCP (network filter) streams, played as Envoy's Wasm network filter sees a connection:

- proxy_on_new_connection per filter, in order (the stream context is created then);
- client bytes through the filters in order (proxy_on_downstream_data, Envoy's read filters),
  server bytes through them in reverse (proxy_on_upstream_data, the write filters);
- a filter that answers Pause (StopIteration) keeps the bytes: the connection's buffer grows
  and the filter is called again with all of it when more arrives, until it continues
  (proxy_continue_stream DOWNSTREAM) or the stream ends;
- the server's end of stream is proxy_on_upstream_connection_close; the client's close is
  proxy_on_downstream_connection_close, after which Envoy's onCloseTCP runs proxy_on_done,
  proxy_on_log and proxy_on_delete (in that order for TCP);
- proxy_close_stream DOWNSTREAM or UPSTREAM closes the connection.
"""

from __future__ import annotations

import contextlib
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from harness.host.buffers import BodyBuffer
from harness.host.config import FailurePolicy
from harness.host.context import Context, ContextKind, StreamInfo
from harness.host.outcome import CallbackRecord, FailureRecord, FilterObservation, Phase, TcpOutcome
from harness.host.types import FilterStatus, PeerType, StreamType
from harness.host.vm import VmFailedError

if TYPE_CHECKING:
    from harness.host.host import Host
    from harness.host.plugin import Plugin

PAUSE = 1


@dataclass
class TcpConversation:
    """A recorded TCP connection: what the client sent, then what the server answered."""

    connection_id: str
    downstream: list[bytes]
    """Client-to-server chunks, in order."""
    upstream: list[bytes]
    """Server-to-client chunks, in order."""
    connection: dict[str, str] = field(default_factory=dict)


class _ConnectionClosedError(Exception):
    pass


@dataclass
class _NetworkFilter:
    plugin: Plugin
    context: Context | None
    observations: dict[Phase, FilterObservation] = field(default_factory=dict)
    held: dict[Phase, BodyBuffer] = field(default_factory=dict)
    stopped: dict[Phase, bool] = field(default_factory=dict)
    """Phase -> end_stream of the data the filter is holding (it answered Pause)."""
    skipped: bool = False

    def observation(self, phase: Phase) -> FilterObservation:
        if phase not in self.observations:
            self.observations[phase] = FilterObservation(filter=self.plugin.name, phase=phase)
        return self.observations[phase]


class TcpRun:
    def __init__(self, host: Host, plugins: list[Plugin], conversation: TcpConversation, worker: int) -> None:
        self.host = host
        self.conversation = conversation
        self.stream = StreamInfo(
            exchange=None,
            connection_id=host.next_connection_id(),
            start_wall_nanos=host.clock.wall_nanos,
            connection=dict(conversation.connection),
        )
        self.filters: list[_NetworkFilter] = []
        for plugin in plugins:
            instance = plugin.instance(worker)
            context = None if instance.failed else instance.new_stream_context(ContextKind.TCP, self.stream)
            self.filters.append(_NetworkFilter(plugin, context, skipped=instance.failed))
        self.received = {Phase.REQUEST: bytearray(), Phase.RESPONSE: bytearray()}
        self.closed_by: str | None = None

    def play(self) -> TcpOutcome:
        started = time.perf_counter()
        try:
            for chain_filter in self.filters:
                self._bind(chain_filter, Phase.REQUEST)
                self._call(chain_filter, Phase.REQUEST, "proxy_on_new_connection", create=True)
            for phase, chunks in (
                (Phase.REQUEST, self.conversation.downstream),
                (Phase.RESPONSE, self.conversation.upstream),
            ):
                for index, chunk in enumerate(chunks):
                    self._send(phase, chunk, end_stream=index == len(chunks) - 1)
                    self.host.events.run_due()
                    self._resume_continued()
        except _ConnectionClosedError:
            pass
        self._close()
        for chain_filter in self.filters:
            if chain_filter.context is not None:
                chain_filter.context.destroyed = True
                chain_filter.context.vm.forget_context(chain_filter.context)
        return self._outcome(time.perf_counter() - started)

    def _bind(self, chain_filter: _NetworkFilter, phase: Phase) -> None:
        if chain_filter.context is not None and chain_filter.context.plugin is not None:
            chain_filter.context.plugin.observation = chain_filter.observation(phase)

    def _order(self, phase: Phase) -> list[_NetworkFilter]:
        return self.filters if phase is Phase.REQUEST else self.filters[::-1]

    def _send(self, phase: Phase, chunk: bytes, *, end_stream: bool, start: int = 0) -> None:
        """Passes `chunk` through the filters from `start`; a paused filter keeps it (and is
        called again with everything it holds when more arrives)."""
        order = self._order(phase)
        data = chunk
        for position in range(start, len(order)):
            chain_filter = order[position]
            if chain_filter.skipped or chain_filter.context is None:
                continue
            observation = chain_filter.observation(phase)
            observation.body_before = (observation.body_before or b"") + data
            held = chain_filter.held.setdefault(phase, BodyBuffer())
            held.data.extend(data)
            self._bind(chain_filter, phase)
            tcp = chain_filter.context.tcp
            assert tcp is not None
            if phase is Phase.REQUEST:
                tcp.downstream_data = held
            else:
                tcp.upstream_data = held
            callback = "proxy_on_downstream_data" if phase is Phase.REQUEST else "proxy_on_upstream_data"
            answer = self._call(chain_filter, phase, callback, len(held), int(end_stream))
            if answer == PAUSE and not self._take_continue(chain_filter, phase):
                chain_filter.stopped[phase] = end_stream
                return
            chain_filter.stopped.pop(phase, None)
            data = self._release(chain_filter, phase)
        self.received[phase].extend(data)

    def _release(self, chain_filter: _NetworkFilter, phase: Phase) -> bytes:
        held = chain_filter.held.setdefault(phase, BodyBuffer())
        data = bytes(held.data)
        held.data.clear()
        observation = chain_filter.observation(phase)
        observation.body_after = (observation.body_after or b"") + data
        return data

    def _take_continue(self, chain_filter: _NetworkFilter, phase: Phase) -> bool:
        tcp = chain_filter.context.tcp if chain_filter.context is not None else None
        wanted = StreamType.DOWNSTREAM if phase is Phase.REQUEST else StreamType.UPSTREAM
        if tcp is None or wanted not in tcp.continue_requested:
            return False
        tcp.continue_requested.discard(wanted)
        return True

    def _resume_continued(self) -> None:
        """A filter continued from a timer or callout answer: what it held moves on."""
        for phase in (Phase.REQUEST, Phase.RESPONSE):
            order = self._order(phase)
            for position, chain_filter in enumerate(order):
                if phase in chain_filter.stopped and self._take_continue(chain_filter, phase):
                    end_stream = chain_filter.stopped.pop(phase)
                    self._send(
                        phase, self._release(chain_filter, phase), end_stream=end_stream, start=position + 1
                    )

    def _call(
        self, chain_filter: _NetworkFilter, phase: Phase, callback: str, *args: int, create: bool = False
    ) -> int | None:
        context = chain_filter.context
        if chain_filter.skipped or context is None:
            return None
        vm = context.vm
        observation = chain_filter.observation(phase)
        before = observation.module_seconds
        try:
            if create and not context.created_in_vm:
                context.created_in_vm = True
                vm.call_named(context, "proxy_on_context_create", context.id, context.root.id)
            result = vm.call_named(context, callback, context.id, *args)
        except VmFailedError as failure:
            self._failed(chain_filter, phase, failure)
            return None
        function = vm.callbacks.get(callback)
        if function is not None and function.result_count == 0:
            result = None  # a void callback answers nothing
        status = None if result is None or callback.endswith("_close") else _network_status(result)
        observation.callbacks.append(
            CallbackRecord(
                callback,
                None if status is None else status.action,
                size=args[0] if args else None,
                module_seconds=observation.module_seconds - before,
                status=status,
                returned=result,
            )
        )
        self.host.events.run_due()
        self._apply_closes(chain_filter)
        return result

    def _apply_closes(self, chain_filter: _NetworkFilter) -> None:
        tcp = chain_filter.context.tcp if chain_filter.context is not None else None
        if tcp is not None and tcp.close_requested:
            tcp.close_requested.clear()
            self.closed_by = chain_filter.plugin.name
            raise _ConnectionClosedError

    def _failed(self, chain_filter: _NetworkFilter, phase: Phase, failure: VmFailedError) -> None:
        policy = chain_filter.plugin.config.failure_policy
        consequence = "filter_skipped" if policy is FailurePolicy.FAIL_OPEN else "connection_closed"
        chain_filter.observation(phase).failures.append(
            FailureRecord(failure.kind, failure.callback, failure.message, policy, consequence)
        )
        chain_filter.skipped = True
        if policy is not FailurePolicy.FAIL_OPEN:
            self.closed_by = chain_filter.plugin.name
            raise _ConnectionClosedError

    def _close(self) -> None:
        """Server end of stream, then the client's close and Envoy's onCloseTCP."""
        for chain_filter in self.filters:
            context = chain_filter.context
            if context is None or not context.created_in_vm or context.vm.failed:
                continue
            self._bind(chain_filter, Phase.COMPLETION)
            for callback, peer in (
                ("proxy_on_upstream_connection_close", PeerType.UNKNOWN),
                (
                    "proxy_on_downstream_connection_close",
                    PeerType.REMOTE if self.closed_by is None else PeerType.LOCAL,
                ),
            ):
                self._quietly(chain_filter, callback, int(peer))
            for callback in ("proxy_on_done", "proxy_on_log", "proxy_on_delete"):
                self._quietly(chain_filter, callback)
            if context.plugin is not None:
                context.plugin.observation = None

    def _quietly(self, chain_filter: _NetworkFilter, callback: str, *args: int) -> None:
        # The connection is closing anyway; a close asked for now changes nothing.
        with contextlib.suppress(_ConnectionClosedError):
            self._call(chain_filter, Phase.COMPLETION, callback, *args)

    def _outcome(self, host_seconds: float) -> TcpOutcome:
        observations = [
            chain_filter.observations[phase]
            for chain_filter in self.filters
            for phase in (Phase.REQUEST, Phase.RESPONSE, Phase.COMPLETION)
            if phase in chain_filter.observations
        ]
        return TcpOutcome(
            connection_id=self.conversation.connection_id,
            upstream_received=bytes(self.received[Phase.REQUEST]),
            client_received=bytes(self.received[Phase.RESPONSE]),
            closed_by_filter=self.closed_by,
            filters=observations,
            module_seconds={
                chain_filter.plugin.name: sum(
                    item.module_seconds for item in chain_filter.observations.values()
                )
                for chain_filter in self.filters
            },
            host_seconds=host_seconds,
        )


def _network_status(result: int) -> FilterStatus:
    """Envoy's Network::FilterStatus: 0 is Continue, anything else StopIteration."""
    return FilterStatus.CONTINUE if result == 0 else FilterStatus.STOP_ITERATION
