"""Key files: private keys stay private, key ids are derived, nothing secret is printed."""

from __future__ import annotations

import hashlib
import stat
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import generate_key_files, load_public_key, load_signer


def test_generated_private_key_is_owner_only_and_never_overwritten(tmp_path: Path) -> None:
    generated = generate_key_files(tmp_path, "release-1")
    assert stat.S_IMODE(generated.private_path.stat().st_mode) == 0o600
    assert load_public_key(generated.public_path) == generated.public_key
    with pytest.raises(TrustError, match="refusing to overwrite"):
        generate_key_files(tmp_path, "release-1")


def test_key_id_is_the_public_keys_sha256_prefix(tmp_path: Path) -> None:
    key = generate_key_files(tmp_path, "k").public_key
    assert key.key_id == hashlib.sha256(key.raw).hexdigest()[:32]


def test_a_readable_private_key_is_refused_with_the_fix(tmp_path: Path) -> None:
    generated = generate_key_files(tmp_path, "loose")
    generated.private_path.chmod(0o644)
    with pytest.raises(TrustError, match=r"mode 0644\); run chmod 600"):
        load_signer(generated.private_path)


def test_signer_repr_and_errors_do_not_show_key_material(tmp_path: Path) -> None:
    generated = generate_key_files(tmp_path, "secret")
    pem = generated.private_path.read_text()
    signer = load_signer(generated.private_path)
    assert "PRIVATE" not in repr(signer) and pem.splitlines()[1] not in repr(signer)
    broken = tmp_path / "broken.key"
    broken.write_text(pem.replace("A", "B", 3))
    broken.chmod(0o600)
    with pytest.raises(TrustError) as raised:
        load_signer(broken)
    assert pem.splitlines()[1][:20] not in str(raised.value)


def test_bad_key_names_are_refused(tmp_path: Path) -> None:
    for name in ("", "-x", "a/b", "name\n", "x" * 65):
        with pytest.raises(TrustError, match="key name"):
            generate_key_files(tmp_path, name)


def test_keys_cli_generates_lists_and_never_prints_the_private_key(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--name", "release-1"]) == 0
    assert main(["keys", "generate", "--out", str(tmp_path), "--name", "release-2"]) == 0
    generated = capsys.readouterr().out
    private_body = (tmp_path / "release-1.key").read_text().splitlines()[1]
    assert private_body not in generated
    assert main(["keys", "list", str(tmp_path)]) == 0
    listing = capsys.readouterr().out
    assert "release-1" in listing and "private key mode 0600" in listing
    (tmp_path / "release-2.key").chmod(0o640)
    assert main(["keys", "list", str(tmp_path)]) == 0
    assert "TOO OPEN" in capsys.readouterr().out


def test_keys_cli_refuses_to_overwrite_with_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["keys", "generate", "--out", str(tmp_path), "--name", "k"]) == 0
    capsys.readouterr()
    assert main(["keys", "generate", "--out", str(tmp_path), "--name", "k"]) == 2
    error = capsys.readouterr().err
    assert error.count("\n") == 1 and "already exists" in error
