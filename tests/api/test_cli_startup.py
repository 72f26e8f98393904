"""`meshveil` builds its command line without loading what the commands run on (FastAPI,
SQLAlchemy, gRPC, wasmtime, cryptography): one command does not pay the others' start-up.
Every command and option is still in `--help`."""

from __future__ import annotations

import subprocess
import sys

import pytest

from controlplane.cli import main
from controlplane.config import OPTIONS

HEAVY = ("fastapi", "sqlalchemy", "alembic", "grpc", "uvicorn", "wasmtime", "cryptography", "yaml")
COMMANDS = (
    "demo",
    "build",
    "validate",
    "sign",
    "sign-config",
    "verify",
    "keys",
    "serve",
    "package",
    "replay",
    "bench",
    "detectors",
)


def _loaded_after(code: str) -> list[str]:
    probe = f"import sys\n{code}\nprint('loaded:', *(m for m in {HEAVY!r} if m in sys.modules))"
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    last = result.stdout.splitlines()[-1]
    assert last.startswith("loaded:"), result.stdout
    return last.split()[1:]


def test_building_the_command_line_loads_no_command_stack() -> None:
    assert _loaded_after("from controlplane.cli import make_parser; make_parser()") == []


def test_a_command_loads_only_its_own_stack() -> None:
    # `keys list` of an empty folder: the trust library, not the web or database stacks.
    code = (
        "import tempfile\nfrom controlplane.cli import main\n"
        "with tempfile.TemporaryDirectory() as folder: main(['keys', 'list', folder])"
    )
    assert _loaded_after(code) == ["cryptography"]


def test_help_lists_every_command(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert all(command in text for command in COMMANDS), text


def test_a_commands_help_lists_its_options(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit):
        main(["serve", "--help"])
    text = capsys.readouterr().out
    assert all(option.flag in text for option in OPTIONS)
    with pytest.raises(SystemExit):
        main(["bench", "xds", "--help"])
    assert "--streams" in capsys.readouterr().out
