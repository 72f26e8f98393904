"""`meshveil keys`: generate signing keys, make and inspect trust roots, rotate and revoke.

Private keys are written with mode 0600 and never printed; a trust root (`keys.pub`) holds
public keys only and is safe to commit and to hand to `meshveil build --trust-root`.
"""

from __future__ import annotations

import argparse
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from controlplane.cli.errors import CliError
from controlplane.cli.parser import defer

if TYPE_CHECKING:
    from controlplane.trust.trust_root import TrustRoot
    from controlplane.trust.trust_state import TrustState

# The trust library (cryptography) is imported where it is used, so other commands do not
# load it.


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "keys",
        help="manage signing keys and trust roots (generate, list, root, rotate, revoke)",
        description="Manage Ed25519 signing keys and the trust root the filters are built with.",
    )
    defer(parser, _add_actions)


def _add_actions(parser: argparse.ArgumentParser) -> None:
    from controlplane.trust.trust_root import DEFAULT_TRUST_ROOT_NAME  # noqa: PLC0415

    actions = parser.add_subparsers(dest="keys_action", metavar="ACTION", required=True)

    generate = actions.add_parser(
        "generate", help="create a key pair (NAME.key, mode 0600, and NAME.pub.pem)"
    )
    generate.add_argument("--out", type=Path, required=True, help="folder for the key files")
    generate.add_argument("--name", required=True, help="key name, e.g. release-1")
    generate.set_defaults(handler=_generate)

    listing = actions.add_parser("list", help="list the keys in a folder, or a trust root's state")
    listing.add_argument("path", type=Path, help="a key folder or a trust root file")
    listing.set_defaults(handler=_list)

    root = actions.add_parser("root", help="create a trust root from public keys")
    root.add_argument("public_keys", nargs="+", type=Path, metavar="NAME.pub.pem")
    root.add_argument("--threshold", type=int, required=True, help="how many of the keys must sign")
    root.add_argument(
        "--out", type=Path, default=Path(DEFAULT_TRUST_ROOT_NAME), help="trust root file to write"
    )
    root.set_defaults(handler=_root)

    rotate = actions.add_parser("rotate", help="move the trust root to new keys, signed by the current ones")
    _statement_arguments(rotate)
    rotate.add_argument("--add", type=Path, action="append", default=[], metavar="NAME.pub.pem")
    rotate.add_argument("--remove", action="append", default=[], metavar="KEY", help="key name or id to drop")
    rotate.set_defaults(handler=_rotate)

    revoke = actions.add_parser("revoke", help="revoke keys for good, signed by the current ones")
    _statement_arguments(revoke)
    revoke.add_argument("keys", nargs="+", metavar="KEY", help="key name or id to revoke")
    revoke.set_defaults(handler=_revoke)


def _statement_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.trust.trust_root import DEFAULT_TRUST_ROOT_NAME  # noqa: PLC0415

    parser.add_argument(
        "--root", type=Path, default=Path(DEFAULT_TRUST_ROOT_NAME), help="trust root file to update"
    )
    parser.add_argument(
        "--sign-with",
        type=Path,
        action="append",
        required=True,
        metavar="NAME.key",
        help="current key (repeat)",
    )
    parser.add_argument("--threshold", type=int, default=None, help="new threshold (default: unchanged)")
    parser.add_argument(
        "--now", type=int, default=None, metavar="SECONDS", help="issue time (default: the clock)"
    )


def _generate(arguments: argparse.Namespace) -> int:
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.keys import generate_key_files  # noqa: PLC0415

    try:
        generated = generate_key_files(arguments.out, arguments.name)
    except TrustError as error:
        raise CliError(str(error)) from error
    print(f"key {generated.public_key.name}  id {generated.public_key.key_id}")
    print(f"  private {generated.private_path} (mode 0600; keep it secret)")
    print(f"  public  {generated.public_path}")
    return 0


def _list(arguments: argparse.Namespace) -> int:
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415

    path: Path = arguments.path
    try:
        if path.is_dir():
            _list_folder(path)
        else:
            _list_root(TrustRoot.load(path))
    except TrustError as error:
        raise CliError(str(error)) from error
    return 0


def _list_folder(folder: Path) -> None:
    from controlplane.trust.keys import PRIVATE_SUFFIX, PUBLIC_SUFFIX, load_public_key  # noqa: PLC0415
    from controlplane.trust.trust_root import DEFAULT_TRUST_ROOT_NAME, TrustRoot  # noqa: PLC0415

    public_files = sorted(folder.glob(f"*{PUBLIC_SUFFIX}"))
    if not public_files:
        print(f"no keys in {folder}")
    for public_file in public_files:
        key = load_public_key(public_file)
        private_file = folder / f"{key.name}{PRIVATE_SUFFIX}"
        private = "no private key"
        if private_file.exists():
            mode = stat.S_IMODE(private_file.stat().st_mode)
            private = f"private key mode {mode:04o}" + ("" if mode & 0o077 == 0 else " (TOO OPEN)")
        print(f"{key.name:<20} {key.key_id}  {private}")
    root_file = folder / DEFAULT_TRUST_ROOT_NAME
    if root_file.is_file():
        print(f"\n{root_file}:")
        _list_root(TrustRoot.load(root_file))


def _list_root(root: TrustRoot) -> None:
    state = root.current
    print(f"trust version {state.version}: {state.threshold} of {len(state.keys)} keys must sign")
    for key in state.keys:
        print(f"  {key.name:<20} {key.key_id}")
    for key_id in sorted(state.revoked):
        print(f"  revoked              {key_id}")
    print(f"{len(root.statements)} statement(s) since version {root.root.version}")


def _root(arguments: argparse.Namespace) -> int:
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.keys import load_public_key  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415
    from controlplane.trust.trust_state import TrustState  # noqa: PLC0415

    if arguments.out.exists():
        raise CliError(f"{arguments.out} already exists; use `meshveil keys rotate` to change it")
    try:
        keys = tuple(load_public_key(path) for path in arguments.public_keys)
        root = TrustRoot(TrustState(1, arguments.threshold, keys))
    except TrustError as error:
        raise CliError(str(error)) from error
    root.save(arguments.out)
    print(f"trust root {arguments.out}: version 1, {arguments.threshold} of {len(keys)} keys must sign")
    return 0


def _rotate(arguments: argparse.Namespace) -> int:
    from controlplane.trust.keys import load_public_key  # noqa: PLC0415
    from controlplane.trust.trust_state import next_state  # noqa: PLC0415

    def change(current: TrustState) -> TrustState:
        removed = {_resolve(current, item) for item in arguments.remove}
        kept = [key for key in current.keys if key.key_id not in removed]
        added = [load_public_key(path) for path in arguments.add]
        return next_state(current, keys=[*kept, *added], threshold=arguments.threshold)

    return _append_statement(arguments, change)


def _revoke(arguments: argparse.Namespace) -> int:
    from controlplane.trust.trust_state import next_state  # noqa: PLC0415

    def change(current: TrustState) -> TrustState:
        revoked = [_resolve(current, item) for item in arguments.keys]
        return next_state(current, threshold=arguments.threshold, revoke=revoked)

    return _append_statement(arguments, change)


def _append_statement(arguments: argparse.Namespace, change: Any) -> int:
    from controlplane.trust.durations import now_or  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415
    from controlplane.trust.keys import load_signer  # noqa: PLC0415
    from controlplane.trust.trust_root import TrustRoot  # noqa: PLC0415
    from controlplane.trust.trust_state import sign_statement  # noqa: PLC0415

    try:
        root = TrustRoot.load(arguments.root)
        current = root.current
        new = change(current)
        signers = [load_signer(path) for path in arguments.sign_with]
        envelope = sign_statement(current, new, signers, now_or(arguments.now))
        updated = root.appended(envelope)
    except TrustError as error:
        raise CliError(str(error)) from error
    updated.save(arguments.root)
    print(
        f"trust root {arguments.root}: version {new.version}, "
        f"{new.threshold} of {len(new.keys)} keys must sign"
    )
    if new.revoked - current.revoked:
        print(f"  revoked {', '.join(sorted(new.revoked - current.revoked))}")
    print("  configs carry the statement from now on; rebuild modules to make it their compiled root")
    return 0


def _resolve(state: TrustState, name_or_id: str) -> str:
    from controlplane.trust.errors import TrustError  # noqa: PLC0415

    for key in state.keys:
        if name_or_id in (key.name, key.key_id):
            return key.key_id
    raise TrustError(f"trust version {state.version} has no key named {name_or_id!r}")
