"""`meshveil replay` end to end: real modules in the harness host, asserted reports."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime

from controlplane.cli import main
from harness.bench.pass_through import pass_through_module
from tests.harness.fixtures.traffic.users_schema import write_descriptor_set

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"


@pytest.fixture(scope="module")
def test_filter(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The hand-written filter in fixtures/traffic/test_filters.wat, compiled."""
    path = tmp_path_factory.mktemp("wat") / "test-filter.wasm"
    path.write_bytes(wasmtime.wat2wasm((FIXTURES / "test_filters.wat").read_text()))
    return path


@pytest.fixture(scope="module")
def pass_through_chain(tmp_path_factory: pytest.TempPathFactory) -> list[str]:
    module = tmp_path_factory.mktemp("pass") / "pass-through.wasm"
    module.write_bytes(pass_through_module())
    arguments = []
    for name in ("dlp", "mask", "ueba"):
        arguments += ["--plugin", f"name={name},module={module}"]
    return arguments


def replay(capsys: pytest.CaptureFixture[str], *arguments: str) -> tuple[int, str, str]:
    code = main(["replay", *arguments])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def write_lines(path: Path, *records: object) -> Path:
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_filter_changes_show_as_diffs_and_the_summary_counts_them(
    capsys: pytest.CaptureFixture[str], test_filter: Path
) -> None:
    code, out, err = replay(
        capsys, str(FIXTURES / "payments.jsonl"), "--plugin", f"name=test,module={test_filter}"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("[modified] pay-1  POST https://payments.example.com/v1/charges")
    assert "    test (request)" in lines
    assert any(line.strip() == "log info: test filter: request passed" for line in lines)
    # The masked body is no longer JSON, so both sides are shown as text.
    assert any(line.strip() == '-{"card":"4111 1111 1111 1111","amount":1999}' for line in lines)
    assert any(line.strip() == '+{"card":"#### #### #### ####","amount":####}' for line in lines)
    assert any(line.strip() == "+x-stamped: yes" for line in lines)
    # The body arrived in two chunks; the filter buffered the first (pause) until the end.
    assert any(
        "request_body(16) -> pause" in line and "request_body(44 eos) -> continue" in line for line in lines
    )
    assert lines[-4].startswith("replayed 3 exchanges through test on 1 worker in ")
    assert lines[-3] == "    0 blocked, 3 modified, 0 unchanged, 0 error"
    assert lines[-2].startswith("    0 filter failures, 3 log records, 0 callouts")


def test_local_reply_blocks_the_exchange(
    capsys: pytest.CaptureFixture[str], test_filter: Path, tmp_path: Path
) -> None:
    traffic = write_lines(
        tmp_path / "block.jsonl",
        {"id": "evil", "request": {"url": "http://api.example.com/x", "headers": {"x-block": "1"}}},
    )
    code, out, err = replay(capsys, str(traffic), "--plugin", f"name=test,module={test_filter}")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("[blocked] evil  GET http://api.example.com/x")
    assert "    local reply 403 from test: blocked" in lines
    assert "        body: 'blocked by test'" in lines
    assert any(line.startswith("    upstream not called; client got 403") for line in lines)
    assert "    1 blocked, 0 modified, 0 unchanged, 0 error" in lines


def test_json_report_and_workers(capsys: pytest.CaptureFixture[str], test_filter: Path) -> None:
    code, out, _ = replay(
        capsys, str(FIXTURES / "payments.jsonl"), "--plugin", str(test_filter), "--workers", "2", "--json"
    )
    assert code == 0
    document = json.loads(out)
    assert document["workers"] == 2
    assert [exchange["worker"] for exchange in document["exchanges"]] == [0, 1, 0]
    assert [exchange["verdict"] for exchange in document["exchanges"]] == ["modified"] * 3
    first = document["exchanges"][0]
    assert first["request_to_upstream"]["body"]["text"] == '{"card":"#### #### #### ####","amount":####}'
    assert ["x-stamped", "yes"] in first["response_to_client"]["headers"]
    phases = [(item["filter"], item["phase"]) for item in first["filters"]]
    assert ("test-filter", "request") in phases
    assert ("test-filter", "response") in phases
    assert document["summary"]["modified"] == 3


def test_chunk_size_recuts_bodies(capsys: pytest.CaptureFixture[str], test_filter: Path) -> None:
    code, out, _ = replay(
        capsys, str(FIXTURES / "payments.jsonl"), "--plugin", str(test_filter), "--chunk-size", "10", "--json"
    )
    assert code == 0
    first = json.loads(out)["exchanges"][0]
    request = next(item for item in first["filters"] if item["phase"] == "request")
    body_calls = [call for call in request["callbacks"] if call["callback"] == "proxy_on_request_body"]
    # 44 bytes in chunks of 10: four paused, the fifth (end of stream) continues.
    assert [call["action"] for call in body_calls][-1] == "continue"
    assert len(body_calls) == 5


def test_pass_through_filters_leave_a_har_capture_unchanged(
    capsys: pytest.CaptureFixture[str], pass_through_chain: list[str]
) -> None:
    code, out, err = replay(capsys, str(FIXTURES / "shop.har"), *pass_through_chain, "--quiet")
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("replayed 5 exchanges through dlp -> mask -> ueba on 1 worker in ")
    assert lines[1] == "    0 blocked, 0 modified, 5 unchanged, 0 error"
    assert (
        lines[-1]
        == f"    skipped: {FIXTURES / 'shop.har'}: entry 3: response.status 0 (no response was recorded)"
    )


def test_grpc_replay_decodes_messages_with_a_descriptor_set(
    capsys: pytest.CaptureFixture[str], test_filter: Path, tmp_path: Path
) -> None:
    descriptors = write_descriptor_set(tmp_path / "users.pb")
    code, out, err = replay(
        capsys,
        str(FIXTURES / "users.grpc.jsonl"),
        "--plugin",
        str(test_filter),
        "--descriptor-set",
        str(descriptors),
        "--only-changed",
    )
    assert code == 0, err
    lines = [line.strip() for line in out.splitlines()]
    # Digits in the framed request become '#', and the decoded view shows it field by field.
    assert '-    "user_id": "u-42"' in lines
    assert '+    "user_id": "u-##"' in lines


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            [str(FIXTURES / "bad-encoding.har")],
            f"{FIXTURES / 'bad-encoding.har'}: entry 3: response.content.encoding 'rot13' is not supported",
        ),
        ([str(FIXTURES / "bad-line.jsonl")], "bad-line.jsonl: line 2: response.status must be an integer"),
        ([str(FIXTURES / "shop.har"), "--workers", "0"], "--workers must be between 1 and 256, got 0"),
        (
            [str(FIXTURES / "shop.har"), "--chunk-size", "0"],
            "--chunk-size must be a positive number of bytes",
        ),
        ([str(FIXTURES / "users.grpc.jsonl")], "request[0].json needs a descriptor set"),
        (["nope.har"], "nope.har: cannot read: No such file or directory"),
    ],
)
def test_bad_input_is_one_line_and_exit_code_2(
    capsys: pytest.CaptureFixture[str], test_filter: Path, arguments: list[str], message: str
) -> None:
    code, out, err = replay(capsys, *arguments, "--plugin", str(test_filter))
    assert code == 2
    assert out == ""
    assert len(err.splitlines()) == 1
    assert err.startswith("meshveil: error: ")
    assert message in err


def test_missing_plugin_and_unloadable_module_are_clear(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    code, _, err = replay(capsys, str(FIXTURES / "payments.jsonl"))
    assert (code, err) == (2, "meshveil: error: name at least one filter with --plugin MODULE.wasm\n")
    junk = tmp_path / "junk.wasm"
    junk.write_bytes(b"not wasm")
    code, _, err = replay(capsys, str(FIXTURES / "payments.jsonl"), "--plugin", str(junk))
    assert code == 2
    assert err.startswith("meshveil: error: plugin 'junk': ")
    assert len(err.splitlines()) == 1


TRAPPING_FILTER = """
(module
  (memory (export "memory") 1)
  (func (export "proxy_abi_version_0_2_1"))
  (func (export "proxy_on_memory_allocate") (param i32) (result i32) (i32.const 1024))
  (func (export "proxy_on_context_create") (param i32 i32))
  (func (export "proxy_on_vm_start") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_configure") (param i32 i32) (result i32) (i32.const 1))
  (func (export "proxy_on_request_headers") (param i32 i32 i32) (result i32) unreachable))
"""


@pytest.mark.parametrize(("policy", "status"), [("fail_open", "201"), ("fail_closed", "503")])
def test_a_trapping_filter_is_reported_and_fails_the_run(
    capsys: pytest.CaptureFixture[str], tmp_path: Path, policy: str, status: str
) -> None:
    module = tmp_path / "trap.wasm"
    module.write_bytes(wasmtime.wat2wasm(TRAPPING_FILTER))
    traffic = write_lines(
        tmp_path / "one.jsonl", json.loads((FIXTURES / "payments.jsonl").read_text().splitlines()[0])
    )
    code, out, _ = replay(capsys, str(traffic), "--plugin", f"name=trap,module={module},failure={policy}")
    assert code == 1
    failure = next(line.strip() for line in out.splitlines() if "FAILURE" in line)
    assert failure.startswith("FAILURE trap in proxy_on_request_headers: ")
    assert f"({policy}: " in failure
    assert any(
        line.startswith("    upstream") and f"client got {status}" in line for line in out.splitlines()
    )
    assert "    1 filter failures, " in out


def clock_seen(document: dict[str, object]) -> list[int]:
    """The host time the test filter saw in each response (its x-now-hex header)."""
    exchanges = document["exchanges"]
    assert isinstance(exchanges, list)
    return [
        int(
            next(value for name, value in exchange["response_to_client"]["headers"] if name == "x-now-hex"),
            16,
        )
        for exchange in exchanges
    ]


def test_virtual_clock_follows_recorded_timestamps(
    capsys: pytest.CaptureFixture[str], test_filter: Path, tmp_path: Path
) -> None:
    traffic = write_lines(
        tmp_path / "timed.jsonl",
        {"started_at": "2026-03-01T12:00:00Z", "request": {"url": "http://a.example.com/1"}},
        {"started_at": "2026-03-01T12:00:05.250Z", "request": {"url": "http://a.example.com/2"}},
        # Out of order: the clock does not run backwards.
        {"started_at": "2026-03-01T11:00:00Z", "request": {"url": "http://a.example.com/3"}},
        {"request": {"url": "http://a.example.com/4"}},
    )
    start = 1_772_366_400 * 1_000_000_000
    code, out, _ = replay(capsys, str(traffic), "--plugin", str(test_filter), "--json")
    assert code == 0
    document = json.loads(out)
    assert clock_seen(document) == [
        start,
        start + 5_250_000_000,
        start + 5_250_000_000,
        start + 5_250_000_000,
    ]
    assert document["exchanges"][0]["started_at"] == 1_772_366_400.0
    code, out, _ = replay(capsys, str(traffic), "--plugin", str(test_filter), "--json", "--clock", "fixed")
    assert len(set(clock_seen(json.loads(out)))) == 1
    assert clock_seen(json.loads(out))[0] != start
