"""Replay reports, human and JSON, from hand-made outcomes (independent of the host)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.host.config import FailurePolicy, PluginConfig
from harness.host.outcome import (
    CallbackRecord,
    CalloutRecord,
    ExchangeOutcome,
    FailureKind,
    FailureRecord,
    FilterObservation,
    LocalReply,
    LogRecord,
    Phase,
)
from harness.host.types import Action, LogLevel
from harness.replay.human_report import ReportOptions, exchange_lines, summary_lines
from harness.replay.json_report import body_json, replay_document
from harness.replay.results import ExchangeResult, Verdict
from harness.replay.run import ReplayRun
from harness.traffic import HttpExchange, HttpMessage
from harness.traffic.capture import Capture
from harness.traffic.grpc_capture import read_grpc
from harness.traffic.jsonl import read_jsonl
from harness.traffic.protobuf_schema import MessageSchemas
from tests.harness.fixtures.traffic.users_schema import write_descriptor_set

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"
MASKED = b'{"card":"**** **** **** 1111","amount":1999}'


@pytest.fixture
def payment() -> HttpExchange:
    return read_jsonl(FIXTURES / "payments.jsonl").exchanges[0]


def masking_outcome(exchange: HttpExchange) -> ExchangeOutcome:
    request = exchange.request
    dlp = FilterObservation(
        filter="dlp",
        phase=Phase.REQUEST,
        headers_before=request.headers,
        headers_after=[*request.headers, ("x-meshveil-findings", "card:1")],
        body_before=request.body,
        body_after=request.body,
        callbacks=[
            CallbackRecord("proxy_on_request_headers", Action.CONTINUE, end_of_stream=False, size=9),
            CallbackRecord("proxy_on_request_body", Action.PAUSE, end_of_stream=False, size=16),
            CallbackRecord("proxy_on_request_body", Action.CONTINUE, end_of_stream=True, size=44),
        ],
        logs=[LogRecord(LogLevel.INFO, "dlp: 1 finding (card) in request body", "dlp")],
        metric_changes={"meshveil_dlp_findings": 1, "meshveil_dlp_unchanged": 0},
        callouts=[
            CalloutRecord(
                kind="http",
                upstream="telemetry",
                call_id=1,
                headers=[(":method", "POST"), (":path", "/v1/findings")],
                body=b"{}",
                timeout_ms=500,
                result="response",
                response_status=204,
            )
        ],
        module_seconds=0.002,
    )
    mask = FilterObservation(
        filter="mask",
        phase=Phase.REQUEST,
        headers_before=dlp.headers_after,
        headers_after=dlp.headers_after,
        body_before=request.body,
        body_after=MASKED,
        callbacks=[CallbackRecord("proxy_on_request_body", Action.CONTINUE, end_of_stream=True, size=44)],
        module_seconds=0.001,
    )
    return ExchangeOutcome(
        exchange_id=exchange.exchange_id,
        request_to_upstream=HttpMessage(dlp.headers_after or [], [MASKED]),
        response_to_client=exchange.response,
        local_reply=None,
        filters=[dlp, mask],
        module_seconds={"dlp": 0.002, "mask": 0.001},
        host_seconds=0.004,
    )


def blocking_outcome(exchange: HttpExchange) -> ExchangeOutcome:
    failure = FailureRecord(
        FailureKind.TRAP,
        "proxy_on_request_body",
        "wasm trap: unreachable",
        FailurePolicy.FAIL_CLOSED,
        "local_reply_503",
    )
    observation = FilterObservation(
        filter="dlp",
        phase=Phase.REQUEST,
        headers_before=exchange.request.headers,
        headers_after=exchange.request.headers,
        callbacks=[CallbackRecord("proxy_on_request_body", None, end_of_stream=True, size=44)],
        failures=[failure],
    )
    reply = LocalReply(503, b"upstream connect error", [(":status", "503")], "wasm_fail_stream", None, "host")
    return ExchangeOutcome(
        exchange_id=exchange.exchange_id,
        request_to_upstream=None,
        response_to_client=HttpMessage([(":status", "503")], [reply.body]),
        local_reply=reply,
        filters=[observation],
        module_seconds={"dlp": 0.0005},
        host_seconds=0.001,
    )


def test_modified_exchange_shows_callbacks_logs_metrics_callouts_and_diffs(payment: HttpExchange) -> None:
    result = ExchangeResult(payment, worker=1, outcome=masking_outcome(payment))
    assert result.verdict is Verdict.MODIFIED
    lines = exchange_lines(result, ReportOptions())
    text = "\n".join(lines)
    assert lines[0].startswith(
        "[modified] pay-1  POST https://payments.example.com/v1/charges  (recorded 201;"
    )
    assert lines[0].endswith("payments.jsonl#line 1; worker 1)")
    assert (
        "callbacks: request_headers(9) -> continue, request_body(16) -> pause, "
        "request_body(44 eos) -> continue" in text
    )
    assert "log info: dlp: 1 finding (card) in request body" in text
    # A metric that did not move is not worth a line.
    assert "metric meshveil_dlp_findings +1" in text
    assert "meshveil_dlp_unchanged" not in text
    assert "callout http #1 to telemetry /v1/findings (2 bytes, timeout 500 ms): response 204" in text
    assert "        changed headers:" in text
    assert "            +x-meshveil-findings: card:1" in lines
    # JSON bodies are pretty-printed, so the diff shows the one value that changed.
    body_diff = lines[lines.index("        changed body:") + 1 :]
    assert "            --- mask request body before" in body_diff
    assert '            -  "card": "4111 1111 1111 1111",' in body_diff
    assert '            +  "card": "**** **** **** 1111",' in body_diff
    assert lines[-1].endswith(
        f"client got 201 with {len(payment.response.body)} body bytes; 3.00 ms in modules, 4.00 ms total"
    )


def test_blocked_exchange_shows_the_failure_and_the_local_reply(payment: HttpExchange) -> None:
    result = ExchangeResult(payment, worker=0, outcome=blocking_outcome(payment))
    assert result.verdict is Verdict.BLOCKED
    text = "\n".join(exchange_lines(result, ReportOptions()))
    assert (
        "FAILURE trap in proxy_on_request_body: wasm trap: unreachable (fail_closed: local_reply_503)" in text
    )
    assert "local reply 503 from host: wasm_fail_stream" in text
    assert "body: 'upstream connect error'" in text
    assert "upstream not called; client got 503" in text


def test_only_changed_hides_unchanged_exchanges(payment: HttpExchange) -> None:
    untouched = ExchangeOutcome(payment.exchange_id, payment.request, payment.response, None, [], {}, 0.0)
    result = ExchangeResult(payment, worker=0, outcome=untouched)
    assert result.verdict is Verdict.UNCHANGED
    assert exchange_lines(result, ReportOptions(only_changed=True)) == []
    assert exchange_lines(result, ReportOptions())[0].startswith("[unchanged] pay-1")


def test_exchange_the_host_could_not_replay_is_an_error(payment: HttpExchange) -> None:
    result = ExchangeResult(payment, worker=0, outcome=None, error="HostError: boom")
    assert result.verdict is Verdict.ERROR
    assert exchange_lines(result, ReportOptions())[1:] == ["    error: HostError: boom"]


def test_grpc_bodies_are_decoded_with_the_descriptor_set(tmp_path: Path) -> None:
    schemas = MessageSchemas.from_file(write_descriptor_set(tmp_path / "users.pb"))
    exchange = read_grpc(FIXTURES / "users-raw.grpc.jsonl").exchanges[0]
    masked = read_grpc(FIXTURES / "users-raw.grpc.jsonl").exchanges[0].response.body.replace(b"bob@", b"xxx@")
    observation = FilterObservation(
        filter="mask",
        phase=Phase.RESPONSE,
        headers_before=exchange.response.headers,
        headers_after=exchange.response.headers,
        body_before=exchange.response.body,
        body_after=masked,
    )
    outcome = ExchangeOutcome(
        "get-42",
        exchange.request,
        HttpMessage(exchange.response.headers, [masked]),
        None,
        [observation],
        {},
        0.0,
    )
    lines = exchange_lines(ExchangeResult(exchange, 0, outcome), ReportOptions(schemas=schemas))
    assert '            -    "email": "bob@example.com",' in lines
    assert '            +    "email": "xxx@example.com",' in lines
    # Without the descriptor set, fields are read from the wire format by number.
    raw_lines = exchange_lines(ExchangeResult(exchange, 0, outcome), ReportOptions())
    assert '            -  2: "bob@example.com"' in raw_lines
    assert '            +  2: "xxx@example.com"' in raw_lines


def make_run(payment: HttpExchange) -> ReplayRun:
    chain = [PluginConfig(name="dlp", module=b"\0asm"), PluginConfig(name="mask", module=b"\0asm")]
    run = ReplayRun(
        Capture("payments.jsonl", "jsonl", [payment], ["payments.jsonl: line 9: skipped"]), chain, workers=2
    )
    for result in (
        ExchangeResult(payment, 0, masking_outcome(payment)),
        ExchangeResult(payment, 1, blocking_outcome(payment)),
        ExchangeResult(payment, 0, None, "HostError: boom"),
    ):
        run.results.append(result)
        run.summary.add(result)
    run.summary.wall_seconds = 0.5
    return run


def test_summary_counts_verdicts_failures_and_time(payment: HttpExchange) -> None:
    run = make_run(payment)
    assert not run.summary.ok
    assert summary_lines(run) == [
        "replayed 3 exchanges through dlp -> mask on 2 workers in 0.500 s (6 exchanges/s)",
        "    1 blocked, 1 modified, 0 unchanged, 1 error",
        "    1 filter failures, 1 log records, 1 callouts",
        "    time in modules: dlp 2.5 ms, mask 1.0 ms; in the host's chain runs: 5.0 ms",
        "    skipped: payments.jsonl: line 9: skipped",
    ]


def test_json_document_is_complete_and_serialisable(payment: HttpExchange) -> None:
    document = json.loads(json.dumps(replay_document(make_run(payment))))
    assert document["chain"][0] == {
        "name": "dlp",
        "module": "<4 bytes>",
        "root_id": "",
        "vm_id": "",
        "failure_policy": "fail_closed",
        "configuration_size": 0,
    }
    assert document["summary"]["blocked"] == 1
    assert document["summary"]["error"] == 1
    modified, blocked, failed = document["exchanges"]
    assert modified["verdict"] == "modified"
    assert modified["request"]["body"] == {"size": 44, "text": payment.request.body.decode()}
    assert modified["request"]["chunks"] == 2
    assert modified["request_to_upstream"]["body"]["text"] == MASKED.decode()
    dlp, mask = modified["filters"]
    assert list(dlp["changes"]) == ["headers"]
    assert dlp["changes"]["headers"]["after"][-1] == ["x-meshveil-findings", "card:1"]
    assert dlp["callbacks"][1] == {
        "callback": "proxy_on_request_body",
        "action": "pause",
        "end_of_stream": False,
        "size": 16,
        "module_seconds": 0.0,
    }
    assert dlp["callouts"][0]["response_status"] == 204
    assert mask["changes"]["body"]["after"] == {"size": len(MASKED), "text": MASKED.decode()}
    assert blocked["local_reply"]["sent_by"] == "host"
    assert blocked["request_to_upstream"] is None
    assert blocked["filters"][0]["failures"][0]["policy"] == "fail_closed"
    assert failed["error"] == "HostError: boom"
    assert "filters" not in failed
    assert document["skipped"] == ["payments.jsonl: line 9: skipped"]


def test_binary_bodies_are_base64_in_json() -> None:
    assert body_json(b"\xff\x00") == {"size": 2, "base64": "/wA="}


def test_observations_are_shown_in_the_order_traffic_met_the_filters(payment: HttpExchange) -> None:
    host_order = [
        FilterObservation(
            "a", Phase.REQUEST, callbacks=[CallbackRecord("proxy_on_request_headers", Action.CONTINUE)]
        ),
        FilterObservation(
            "a", Phase.RESPONSE, callbacks=[CallbackRecord("proxy_on_response_headers", Action.CONTINUE)]
        ),
        FilterObservation("a", Phase.COMPLETION, logs=[LogRecord(LogLevel.WARN, "a done", "a")]),
        FilterObservation(
            "b", Phase.REQUEST, callbacks=[CallbackRecord("proxy_on_request_headers", Action.CONTINUE)]
        ),
        FilterObservation(
            "b", Phase.RESPONSE, callbacks=[CallbackRecord("proxy_on_response_headers", Action.CONTINUE)]
        ),
    ]
    outcome = ExchangeOutcome("pay-1", payment.request, payment.response, None, host_order, {}, 0.0)
    lines = exchange_lines(ExchangeResult(payment, 0, outcome), ReportOptions())
    heads = [line.strip() for line in lines if line.startswith("    ") and not line.startswith("        ")]
    assert heads[:5] == ["a (request)", "b (request)", "b (response)", "a (response)", "a (completion)"]
    # End-of-stream callbacks alone are not news; the completion log record is.
    assert lines[lines.index("    a (completion)") + 1] == "        log warn: a done"
