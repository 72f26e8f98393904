"""`meshveil detectors ...` and the definition loader's error messages."""

from __future__ import annotations

from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.detectors.loader import DefinitionError, load_text
from controlplane.modules.build import BuiltModule


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["detectors", *argv])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_list_and_show(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "list")
    assert code == 0 and len(out.splitlines()) >= 40 and "credit-card" in out
    code, out, _ = run(capsys, "show", "iban-code")
    assert code == 0 and "IBAN_CODE" in out and "validator:   iban" in out and "finds:" in out


def test_show_unknown_detector_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, err = run(capsys, "show", "no-such")
    assert (
        code == 2
        and out == ""
        and err.strip() == "meshveil: error: no detector with id no-such; see 'meshveil detectors list'"
    )


def test_test_runs_the_wasm_engine_and_names_it(
    capsys: pytest.CaptureFixture[str], built_modules: dict[str, BuiltModule]
) -> None:
    modules = built_modules["scan-probe"].path.parents[1]
    text = "SSN 536-22-1234 and card 4111 1111 1111 1111"
    code, out, _ = run(capsys, "test", "--modules", str(modules), text)
    assert code == 0
    assert out.splitlines()[0] == "engine: Zig engine in the scan-probe module, run by the harness host"
    assert "us-ssn" in out and "536-22-1234" in out and "credit-card" in out and "2 finding(s)" in out
    code, reference, _ = run(capsys, "test", "--reference", text)
    assert code == 0 and "Python reference scanner" in reference
    assert reference.splitlines()[1:] == out.splitlines()[1:]


def test_test_with_a_broken_module_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "testdata").mkdir()
    (tmp_path / "testdata" / "scan-probe.wasm").write_bytes(b"\0asm not really")
    code, out, err = run(capsys, "test", "--modules", str(tmp_path), "--only", "us-ssn", "536-22-1234")
    assert code == 2 and out == "" and len(err.strip().splitlines()) == 1
    assert err.startswith("meshveil: error: cannot load the scan probe: ")


def test_import_refuses_with_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    source = tmp_path / "recognizers.yaml"
    source.write_text(
        "recognizers:\n  - name: R\n    supported_entity: X\n    patterns:\n"
        "      - {name: p, regex: '(?<=a)b', score: 0.5}\n"
    )
    code, _, err = run(capsys, "import", str(source))
    assert code == 2 and len(err.strip().splitlines()) == 1 and "lookahead or lookbehind" in err


def test_import_writes_catalog_yaml_usable_with_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = tmp_path / "recognizers.yaml"
    source.write_text(
        "recognizers:\n  - name: Employee ids\n    supported_entity: EMPLOYEE_ID\n    patterns:\n"
        "      - {name: emp, regex: '\\bEMP-\\d{6}\\b', score: 0.7}\n"
    )
    out_file = tmp_path / "imported.yaml"
    code, out, _ = run(capsys, "import", str(source), "--out", str(out_file))
    assert code == 0 and "imported employee-ids" in out
    code, out, _ = run(
        capsys,
        "test",
        "--reference",
        "--file",
        str(out_file),
        "--only",
        "employee-ids",
        "badge emp-123456 ok",
    )
    assert code == 0 and "employee-ids" in out and "emp-123456" in out


def test_compile_reports_sizes_and_refuses_past_the_bound(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = run(
        capsys, "compile", "--only", "us-ssn", "--only", "credit-card", "--out", str(tmp_path / "t.bin")
    )
    assert code == 0 and "scan automaton 0" in out and (tmp_path / "t.bin").stat().st_size > 0
    code, _, err = run(capsys, "compile", "--only", "slack-token", "--max-bytes", "4096")
    assert code == 2 and "over the bound of 4096" in err and "slack-token" in err


HEAD = "detectors:\n  - id: x\n    entity: X\n    description: d\n"


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ("detectors:\n  - id: Bad_Id\n", "detectors[0]: id: 'Bad_Id' must be lower-case words"),
        (HEAD + "    patterns: []\n",
         "detectors[0] (x): patterns: a detector needs at least one pattern"),
        (HEAD + "    patterns:\n      - {name: p, regex: a, score: 2}\n",
         "patterns[0]: score: must be a number from 0.0 to 1.0"),
        (HEAD + "    colour: red\n", "unknown field(s) colour"),
        (HEAD + "    patterns:\n      - {name: p, regex: a, score: 1}\n"
         "    context: {words: ['account#']}\n", "'account#' can never match"),
    ],
)  # fmt: skip
def test_loader_errors_name_file_detector_and_field(document: str, message: str) -> None:
    with pytest.raises(DefinitionError) as error:
        load_text(document, "mine.yaml")
    assert str(error.value).startswith("mine.yaml: ") and message in str(error.value)
