"""The progress bar draws on a terminal only, and erases itself before the report."""

from __future__ import annotations

import io

from harness.replay.progress import ProgressBar


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_draws_progress_on_a_terminal_and_erases_it() -> None:
    terminal = Terminal()
    bar = ProgressBar(10, terminal, show_after_seconds=0, redraw_seconds=0)
    bar.update(5)
    drawn = terminal.getvalue()
    assert drawn.startswith("\r[" + "#" * 15 + "-" * 15 + "] 5/10 exchanges  ")
    assert drawn.endswith(" s left")
    bar.finish()
    assert terminal.getvalue() == drawn + "\r\x1b[2K"
    # Nothing left to erase.
    bar.finish()
    assert terminal.getvalue() == drawn + "\r\x1b[2K"


def test_silent_when_not_a_terminal() -> None:
    pipe = io.StringIO()
    bar = ProgressBar(10, pipe, show_after_seconds=0, redraw_seconds=0)
    bar.update(5)
    bar.finish()
    assert pipe.getvalue() == ""


def test_short_replays_never_show_a_bar() -> None:
    terminal = Terminal()
    bar = ProgressBar(10, terminal, show_after_seconds=60)
    bar.update(9)
    bar.finish()
    assert terminal.getvalue() == ""
