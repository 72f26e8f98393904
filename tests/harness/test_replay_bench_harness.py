"""`meshveil bench harness` runs and reports a sane structure (no timing is asserted)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import wasmtime

from controlplane.cli import main
from harness.bench.host_call_timer import timed_host_calls
from harness.bench.pass_through import pass_through_module
from harness.bench.registry import discover_targets
from harness.host import FilterChain, Host, HostConfig, PluginConfig
from tests.harness.host_support import exchange

FIXTURES = Path(__file__).parent / "fixtures" / "traffic"
QUICK = ("--count", "30", "--warmup", "2", "--callback-calls", "50")


def bench(capsys: pytest.CaptureFixture[str], *options: str) -> tuple[int, str, str]:
    code = main(["bench", "harness", *options])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_targets_are_discovered_from_their_package() -> None:
    names = [target.name for target in discover_targets()]
    assert "harness" in names
    assert names == sorted(names)


def test_bench_harness_reports_rates_and_overheads(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = bench(capsys, *QUICK, "--json")
    assert code == 0
    report = json.loads(out)
    assert report["target"] == "harness"
    assert report["setup"]["chain"] == "pass-1 -> pass-2 -> pass-3 (pass-through filters)"
    assert report["setup"]["exchanges timed"] == 30
    values = {item["name"]: item["value"] for item in report["measurements"]}
    assert values["exchanges per second"] > 0
    assert values["time per exchange"] >= values["  inside modules"] > 0
    # Each filter: request headers and body, response headers and body, log, done, delete.
    assert values["callbacks per exchange"] == 21
    assert values["empty callback, wasmtime-py call"] > 0
    assert values["empty callback, unchecked C call"] > 0
    assert values["empty callback through the host"] > 0
    (check,) = report["checks"]
    assert check["required"] == 1000
    assert check["met"] == (check["measured"] >= 1000)


def test_bench_harness_human_output(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = bench(capsys, "--count", "5", "--warmup", "0", "--callback-calls", "10")
    lines = out.splitlines()
    assert code == 0
    assert lines[0] == "bench harness"
    assert any(
        line.strip().startswith("exchanges per second") and line.rstrip().endswith("s)") for line in lines
    )
    assert any(line.strip().startswith("target >= 1,000 exchanges/s") for line in lines)


def test_any_chain_can_be_benched_and_then_states_no_target(
    capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    module = tmp_path / "stamp.wasm"
    module.write_bytes(wasmtime.wat2wasm((FIXTURES / "test_filters.wat").read_text()))
    code, out, err = bench(capsys, *QUICK, "--plugin", f"name=stamp,module={module}", "--json")
    assert code == 0, err
    report = json.loads(out)
    assert report["setup"]["chain"] == "stamp"
    assert report["checks"] == []


@pytest.mark.parametrize(
    ("options", "message"),
    [
        (("--count", "0"), "--count must be positive, got 0"),
        (("--seconds", "-1"), "--seconds must be positive, got -1.0"),
        (("--workers", "0"), "--workers must be between 1 and 256, got 0"),
        (("--body-size", "10"), "--body-size must be at least 256 bytes, got 10"),
        (("--plugin", "missing.wasm"), "--plugin 'missing.wasm': no such file"),
    ],
)
def test_bad_options_are_one_line_errors(
    capsys: pytest.CaptureFixture[str], options: tuple[str, ...], message: str
) -> None:
    code, out, err = bench(capsys, *options)
    assert (code, out) == (2, "")
    assert err.startswith("meshveil: error: ")
    assert message in err
    assert len(err.splitlines()) == 1


def test_the_calibrating_pass_through_makes_exactly_its_host_calls() -> None:
    """The host-call calibration of `bench filters` rests on this count."""
    with timed_host_calls() as timer, Host(HostConfig()) as host:
        counts = []
        for calls in (0, 7, 32):
            module = pass_through_module(end_callbacks=False, host_calls=calls)
            chain = FilterChain(host, [host.load_plugin(PluginConfig(name=f"pass-{calls}", module=module))])
            timer.reset()
            outcome = chain.run(exchange())
            assert outcome.local_reply is None
            counts.append(timer.calls)
    assert counts == [0, 7, 32]
    with pytest.raises(ValueError, match="host_calls must not be negative"):
        pass_through_module(host_calls=-1)
