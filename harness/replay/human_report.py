"""The replay report for people: per exchange what each filter did, then a summary."""

from __future__ import annotations

from dataclasses import dataclass

from harness.host.outcome import (
    CallbackRecord,
    CalloutRecord,
    ExchangeOutcome,
    FailureRecord,
    FilterObservation,
    LocalReply,
    Phase,
)
from harness.replay.body_view import context_for
from harness.replay.diffs import observation_diffs
from harness.replay.results import ExchangeResult, Verdict, flow_order
from harness.replay.run import ReplayRun
from harness.traffic.model import HttpExchange
from harness.traffic.protobuf_schema import MessageSchemas

INDENT = "    "
_PREVIEW_CHARACTERS = 200


@dataclass(frozen=True)
class ReportOptions:
    only_changed: bool = False
    """Leave out exchanges that every filter passed unchanged."""
    schemas: MessageSchemas | None = None
    """Descriptor set used to show gRPC messages decoded."""


def exchange_lines(result: ExchangeResult, options: ReportOptions) -> list[str]:
    """Everything about one exchange, or nothing when `only_changed` hides it."""
    if options.only_changed and result.verdict is Verdict.UNCHANGED:
        return []
    exchange = result.exchange
    lines = [_title(result)]
    lines.extend(f"{INDENT}note: {note}" for note in exchange.notes)
    if result.outcome is None:
        lines.append(f"{INDENT}error: {result.error}")
        return lines
    outcome = result.outcome
    for observation in flow_order(outcome.filters):
        lines.extend(_observation_lines(observation, exchange, options))
    if outcome.local_reply is not None:
        lines.extend(_local_reply_lines(outcome.local_reply))
    if outcome.stream_reset:
        lines.append(f"{INDENT}stream reset: the client got no complete response")
    lines.append(f"{INDENT}{_ending(outcome)}")
    return lines


def summary_lines(run: ReplayRun) -> list[str]:
    summary, workers, chain = run.summary, run.workers, run.chain_names
    rate = f"{summary.exchanges_per_second:,.0f} exchanges/s"
    worker_text = f"{workers} worker{'s' if workers != 1 else ''}"
    lines = [
        f"replayed {summary.exchanges} exchange{'s' if summary.exchanges != 1 else ''} through "
        f"{' -> '.join(chain)} on {worker_text} in {summary.wall_seconds:.3f} s ({rate})",
        INDENT + ", ".join(f"{summary.count(verdict)} {verdict.value}" for verdict in Verdict),
        f"{INDENT}{summary.filter_failures} filter failures, {summary.logs} log records, "
        f"{summary.callouts} callouts",
    ]
    if summary.module_seconds:
        per_filter = ", ".join(
            f"{name} {seconds * 1000:.1f} ms" for name, seconds in summary.module_seconds.items()
        )
        chain_ms = summary.host_seconds * 1000
        lines.append(f"{INDENT}time in modules: {per_filter}; in the host's chain runs: {chain_ms:.1f} ms")
    for reason in run.capture.skipped:
        lines.append(f"{INDENT}skipped: {reason}")
    return lines


def _title(result: ExchangeResult) -> str:
    exchange = result.exchange
    request = exchange.request
    scheme, authority = request.header(":scheme") or "http", request.header(":authority") or ""
    target = f"{scheme}://{authority}{request.header(':path') or ''}"
    recorded_status = exchange.response.header(":status") or "?"
    return (
        f"[{result.verdict.value}] {exchange.exchange_id}  {request.header(':method') or '?'} {target}  "
        f"(recorded {recorded_status}; {exchange.source}; worker {result.worker})"
    )


def _observation_lines(
    observation: FilterObservation, exchange: HttpExchange, options: ReportOptions
) -> list[str]:
    details: list[str] = []
    # Every stream ends with log/done/delete; only what happened in them is worth a line.
    if observation.callbacks and observation.phase is not Phase.COMPLETION:
        details.append("callbacks: " + ", ".join(_callback_text(record) for record in observation.callbacks))
    details.extend(f"log {record.level.name.lower()}: {record.message}" for record in observation.logs)
    details.extend(
        f"metric {name} {change:+d}" for name, change in sorted(observation.metric_changes.items()) if change
    )
    details.extend(_callout_text(callout) for callout in observation.callouts)
    details.extend(_failure_text(failure) for failure in observation.failures)
    response = observation.phase is Phase.RESPONSE
    message = exchange.response if response else exchange.request
    context = context_for(
        exchange.request.headers, message.headers, response=response, schemas=options.schemas
    )
    for diff in observation_diffs(observation, context):
        details.append(f"changed {diff.part}:")
        details.extend(f"{INDENT}{line}" for line in diff.lines)
    if not details:
        return []
    head = f"{INDENT}{observation.filter} ({observation.phase.value})"
    return [head, *(f"{INDENT * 2}{line}" for line in details)]


def _callback_text(record: CallbackRecord) -> str:
    name = record.callback.removeprefix("proxy_on_")
    flags = " eos" if record.end_of_stream else ""
    size = f" {record.size}" if record.size is not None else ""
    action = f" -> {record.action.name.lower()}" if record.action is not None else ""
    return f"{name}({size.strip()}{flags}){action}"


def _callout_text(callout: CalloutRecord) -> str:
    target = (
        f"{callout.service}/{callout.method}"
        if callout.service
        else (_header(callout.headers, ":path") or "")
    )
    status = f" {callout.response_status}" if callout.response_status is not None else ""
    return (
        f"callout {callout.kind} #{callout.call_id} to {callout.upstream} {target} "
        f"({len(callout.body)} bytes, timeout {callout.timeout_ms} ms): {callout.result}{status}"
    )


def _failure_text(failure: FailureRecord) -> str:
    policy = failure.policy.value if failure.policy is not None else "no policy"
    what = f"FAILURE {failure.kind.value} in {failure.callback}: {failure.message}"
    return f"{what} ({policy}: {failure.consequence})"


def _local_reply_lines(reply: LocalReply) -> list[str]:
    lines = [
        f"{INDENT}local reply {reply.status} from {reply.sent_by}"
        + (f": {reply.details}" if reply.details else "")
    ]
    if reply.grpc_status is not None:
        lines.append(f"{INDENT * 2}grpc-status {reply.grpc_status}")
    if reply.body:
        lines.append(f"{INDENT * 2}body: {_preview(reply.body)}")
    return lines


def _ending(outcome: ExchangeOutcome) -> str:
    client_status = outcome.response_to_client.header(":status") or "?"
    if outcome.request_to_upstream is None:
        upstream = "upstream not called"
    else:
        upstream = f"upstream got {len(outcome.request_to_upstream.body)} body bytes"
    module_ms = sum(outcome.module_seconds.values()) * 1000
    return (
        f"{upstream}; client got {client_status} with {len(outcome.response_to_client.body)} body bytes; "
        f"{module_ms:.2f} ms in modules, {outcome.host_seconds * 1000:.2f} ms total"
    )


def _preview(body: bytes) -> str:
    text = body[:_PREVIEW_CHARACTERS].decode("utf-8", errors="replace")
    more = f" … ({len(body)} bytes)" if len(body) > _PREVIEW_CHARACTERS else ""
    return repr(text) + more


def _header(headers: list[tuple[str, str]], name: str) -> str | None:
    return next((value for key, value in headers if key == name), None)
