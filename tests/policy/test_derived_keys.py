"""The data-key secret file: made whole or not at all."""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import IO, Any

import pytest

from controlplane.policy.derived_keys import DataKeyError, load_or_create_secret


def test_a_failed_write_leaves_no_partial_secret_behind(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    keys_dir = tmp_path / "keys"
    real_fdopen = os.fdopen

    class FullDisk:
        def __init__(self, handle: IO[Any]) -> None:
            self._handle = handle

        def __enter__(self) -> FullDisk:
            return self

        def __exit__(self, *_: object) -> None:
            self._handle.close()

        def write(self, text: str) -> int:
            self._handle.write(text[:10])  # some of the secret reached the file
            self._handle.flush()
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(os, "fdopen", lambda *args, **kwargs: FullDisk(real_fdopen(*args, **kwargs)))
    with pytest.raises(DataKeyError, match="cannot create the data-key secret"):
        load_or_create_secret(keys_dir)
    assert list(keys_dir.iterdir()) == []
    monkeypatch.undo()
    assert len(load_or_create_secret(keys_dir)) == 32, "the next start makes the secret"
