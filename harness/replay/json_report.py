"""The replay report for machines (`--json`): one JSON document.

Bodies are {"size": n, "text": "…"} when they are UTF-8 and {"size": n, "base64": "…"}
otherwise; headers are [[name, value], …]. Each filter observation lists its callbacks,
logs, metric changes, callouts and failures, and, only for the parts it changed, the
before and after values under "changes".
"""

from __future__ import annotations

import base64
from typing import Any

from harness.host.config import PluginConfig
from harness.host.outcome import CalloutRecord, ExchangeOutcome, FailureRecord, FilterObservation, LocalReply
from harness.replay.results import ExchangeResult, flow_order
from harness.replay.run import ReplayRun
from harness.traffic.model import Headers, HttpMessage

FORMAT_VERSION = 1


def replay_document(run: ReplayRun) -> dict[str, Any]:
    return {
        "format_version": FORMAT_VERSION,
        "source": run.capture.source,
        "traffic_format": run.capture.format,
        "workers": run.workers,
        "chain": [_plugin_json(config) for config in run.chain],
        "exchanges": [exchange_json(result) for result in run.results],
        "skipped": list(run.capture.skipped),
        "summary": run.summary.to_json(),
    }


def exchange_json(result: ExchangeResult) -> dict[str, Any]:
    exchange = result.exchange
    document: dict[str, Any] = {
        "id": exchange.exchange_id,
        "source": exchange.source,
        "worker": result.worker,
        "protocol": exchange.protocol,
        "started_at": exchange.started_at,
        "connection": dict(exchange.connection),
        "notes": list(exchange.notes),
        "verdict": result.verdict.value,
        "error": result.error,
        "request": message_json(exchange.request),
        "response": message_json(exchange.response),
    }
    if result.outcome is not None:
        document.update(_outcome_json(result.outcome))
    return document


def message_json(message: HttpMessage) -> dict[str, Any]:
    return {
        "headers": headers_json(message.headers),
        "body": body_json(message.body),
        "chunks": len(message.body_chunks),
        "trailers": headers_json(message.trailers),
    }


def headers_json(headers: Headers) -> list[list[str]]:
    return [[name, value] for name, value in headers]


def body_json(body: bytes) -> dict[str, Any]:
    try:
        return {"size": len(body), "text": body.decode("utf-8")}
    except UnicodeDecodeError:
        return {"size": len(body), "base64": base64.b64encode(body).decode("ascii")}


def _outcome_json(outcome: ExchangeOutcome) -> dict[str, Any]:
    return {
        "request_to_upstream": None
        if outcome.request_to_upstream is None
        else message_json(outcome.request_to_upstream),
        "response_to_client": message_json(outcome.response_to_client),
        "local_reply": None if outcome.local_reply is None else _local_reply_json(outcome.local_reply),
        "stream_reset": outcome.stream_reset,
        "filters": [_observation_json(observation) for observation in flow_order(outcome.filters)],
        "timing": {"module_seconds": dict(outcome.module_seconds), "host_seconds": outcome.host_seconds},
    }


def _observation_json(observation: FilterObservation) -> dict[str, Any]:
    return {
        "filter": observation.filter,
        "phase": observation.phase.value,
        "modified": observation.modified,
        "callbacks": [
            {
                "callback": record.callback,
                "action": None if record.action is None else record.action.name.lower(),
                "end_of_stream": record.end_of_stream,
                "size": record.size,
                "module_seconds": record.module_seconds,
            }
            for record in observation.callbacks
        ],
        "changes": _changes_json(observation),
        "logs": [
            {"level": record.level.name.lower(), "message": record.message, "source": record.source}
            for record in observation.logs
        ],
        "metric_changes": dict(observation.metric_changes),
        "callouts": [_callout_json(callout) for callout in observation.callouts],
        "failures": [_failure_json(failure) for failure in observation.failures],
        "module_seconds": observation.module_seconds,
    }


def _changes_json(observation: FilterObservation) -> dict[str, Any]:
    changes: dict[str, Any] = {}
    if observation.headers_before != observation.headers_after:
        changes["headers"] = _before_after(
            observation.headers_before, observation.headers_after, headers_json
        )
    if observation.body_before != observation.body_after:
        changes["body"] = _before_after(observation.body_before, observation.body_after, body_json)
    if observation.trailers_before != observation.trailers_after:
        changes["trailers"] = _before_after(
            observation.trailers_before, observation.trailers_after, headers_json
        )
    return changes


def _before_after(before: Any, after: Any, convert: Any) -> dict[str, Any]:
    return {
        "before": None if before is None else convert(before),
        "after": None if after is None else convert(after),
    }


def _callout_json(callout: CalloutRecord) -> dict[str, Any]:
    return {
        "kind": callout.kind,
        "upstream": callout.upstream,
        "call_id": callout.call_id,
        "service": callout.service,
        "method": callout.method,
        "headers": headers_json(callout.headers),
        "body": body_json(callout.body),
        "timeout_ms": callout.timeout_ms,
        "result": callout.result,
        "response_status": callout.response_status,
    }


def _failure_json(failure: FailureRecord) -> dict[str, Any]:
    return {
        "kind": failure.kind.value,
        "callback": failure.callback,
        "message": failure.message,
        "policy": None if failure.policy is None else failure.policy.value,
        "consequence": failure.consequence,
    }


def _local_reply_json(reply: LocalReply) -> dict[str, Any]:
    return {
        "status": reply.status,
        "sent_by": reply.sent_by,
        "details": reply.details,
        "grpc_status": reply.grpc_status,
        "headers": headers_json(reply.headers),
        "body": body_json(reply.body),
    }


def _plugin_json(config: PluginConfig) -> dict[str, Any]:
    module = config.module if isinstance(config.module, bytes) else None
    return {
        "name": config.name,
        "module": f"<{len(module)} bytes>" if module is not None else str(config.module),
        "root_id": config.root_id,
        "vm_id": config.vm_id,
        "failure_policy": config.failure_policy.value,
        "configuration_size": len(config.configuration),
    }
