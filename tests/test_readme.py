"""The README's two commands are the ones that work: CI runs the test command verbatim."""

from __future__ import annotations

import re

from tests.conftest import REPO_ROOT


def readme_commands() -> list[str]:
    readme = (REPO_ROOT / "README.md").read_text()
    return re.findall(r"```sh\n(.+?)\n```", readme)


def test_readme_opens_with_the_two_commands() -> None:
    commands = readme_commands()
    assert len(commands) >= 2
    main_job, test_suite = commands[:2]
    assert main_job.startswith("python3 -m venv .venv && .venv/bin/pip install -e .")
    assert "meshveil" in main_job
    # The main job ends by showing the product work end to end (tests/demo/ runs it).
    assert main_job.endswith("&& .venv/bin/meshveil demo")
    assert test_suite.endswith(".venv/bin/pytest")


def test_ci_runs_the_readme_test_command() -> None:
    ci_script = (REPO_ROOT / ".ci" / "run").read_text().splitlines()
    assert readme_commands()[1] in ci_script
