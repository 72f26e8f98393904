"""`meshveil demo`: the README's main job. It starts a control plane, replays the bundled
traffic through the three built filters with the sample policy, feeds their telemetry to
the collector, prints a summary that matches what the collector stored, and exits; when
the policy's filters cannot load it still runs with meshveil-ueba and says so."""

from __future__ import annotations

import re
import shutil
import sqlite3
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.demo import sample_traffic
from controlplane.modules.build import BuiltModule

ROW = re.compile(r"^  (?P<service>\w+)\s+(?P<numbers>(\d+\s*){5})$")


def filters_dir(built_modules: dict[str, BuiltModule]) -> Path:
    return built_modules["meshveil-ueba"].path.parent


def summary_rows(output: str) -> dict[str, list[int]]:
    rows = {}
    for line in output.splitlines():
        match = ROW.match(line)
        if match:
            rows[match["service"]] = [int(number) for number in match["numbers"].split()]
    return rows


def stored(data_dir: Path, query: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(data_dir / "meshveil.db") as connection:
        return connection.execute(query).fetchall()


def test_the_bundled_traffic_is_what_its_generator_makes() -> None:
    assert sample_traffic.TRAFFIC_FILE.read_text(encoding="utf-8") == sample_traffic.render()


def test_the_demo_runs_end_to_end_and_its_summary_is_what_the_collector_stored(
    built_modules: dict[str, BuiltModule], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data_dir = tmp_path / "demo"
    assert main(["demo", "--modules", str(filters_dir(built_modules)), "--data-dir", str(data_dir)]) == 0
    output = capsys.readouterr().out
    rows = summary_rows(output)
    # exchanges, found, masked, blocked, flagged
    checkout, accounts, total = rows["checkout"], rows["accounts"], rows["total"]
    assert (checkout[0], accounts[0], total[0]) == (70, 40, 110)
    assert [a + b for a, b in zip(checkout, accounts, strict=True)] == total
    # Every profile response carries an e-mail address and a phone number, masked on the way
    # out. (Found can be more than masked while the engine reports a phone number's suffix as
    # a second phone number.)
    assert accounts[2] == 80 and accounts[1] >= 80
    # Thirty export pages of 26 cards: each over the policy's threshold or over dave's baseline.
    assert checkout[3] == 30 and accounts[3] == 0
    assert checkout[4] >= 1 and accounts[4] == 0
    assert "meshveil-ueba -> meshveil-mask -> meshveil-dlp" in output
    assert re.search(r"flagged: dave \(bearer_jwt\), \d+ anomaly events", output)
    assert re.search(r"dashboard: http://127\.0\.0\.1:\d+/ui/", output)

    # What the summary says is what the collector holds.
    by_service = dict(
        stored(
            data_dir,
            "SELECT service, SUM(findings) FROM telemetry_events WHERE type = 'finding' GROUP BY service",
        )
    )
    assert by_service == {"checkout": checkout[1], "accounts": accounts[1]}
    anomalies = stored(
        data_dir, "SELECT service, identity_kind, action FROM telemetry_events WHERE type = 'anomaly'"
    )
    assert len(anomalies) == checkout[4]
    assert {(service, kind) for service, kind, _ in anomalies} == {("checkout", "bearer_jwt")}
    # Nothing stored holds a card number: the filters send none, the collector keeps none.
    details = " ".join(str(detail) for (detail,) in stored(data_dir, "SELECT detail FROM telemetry_events"))
    cards = re.findall(r'"number":"(\d{16})"', sample_traffic.TRAFFIC_FILE.read_text(encoding="utf-8"))
    assert cards and not any(card in details for card in cards)
    assert (data_dir / "analyst-token").stat().st_mode & 0o777 == 0o600


def test_without_the_policy_filters_the_demo_runs_with_ueba_alone(
    built_modules: dict[str, BuiltModule], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    modules = tmp_path / "modules"
    shutil.copytree(filters_dir(built_modules), modules)
    (modules / "meshveil-dlp.wasm").write_bytes(b"\0asm\x01\0\0\0 not a module")
    assert main(["demo", "--modules", str(modules)]) == 0
    output = capsys.readouterr().out
    assert "going on with meshveil-ueba alone" in output
    assert "through meshveil-ueba alone" in output
    rows = summary_rows(output)
    assert rows["total"][0] == 110 and rows["total"][1] == 0 and rows["total"][2] == 0
    assert rows["checkout"][4] >= 1


def test_a_data_dir_that_is_not_empty_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    (tmp_path / "something").write_text("x")
    assert main(["demo", "--data-dir", str(tmp_path)]) == 2
    error = capsys.readouterr().err.strip()
    assert error == (
        f"meshveil: error: --data-dir {tmp_path}: give an empty or new folder "
        "(the demo makes a fresh control plane)"
    )
