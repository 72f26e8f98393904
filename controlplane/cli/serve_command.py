"""`meshveil serve`: the control plane (REST API, ECDS server, module serving) in one process."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from controlplane.cli.errors import CliError
from controlplane.cli.parser import defer


def register(subparsers: Any) -> None:
    parser: argparse.ArgumentParser = subparsers.add_parser(
        "serve",
        help="run the control plane: REST API, ECDS server and module serving",
        description=(
            "Run meshveil's control plane. With no options it keeps an SQLite database and its signing "
            "keys in ~/.local/share/meshveil and listens on loopback. Every option can also be set in a "
            "YAML file (--config) or as an environment variable MESHVEIL_<OPTION>; flags win over the "
            "environment, which wins over the file."
        ),
    )
    defer(parser, _add_arguments)
    parser.set_defaults(handler=run)


def _add_arguments(parser: argparse.ArgumentParser) -> None:
    from controlplane.config import OPTIONS  # noqa: PLC0415 - loads YAML; only `serve` needs it

    parser.add_argument(
        "--config", type=Path, default=None, help="YAML file of options (names as below, with '_')"
    )
    for option in OPTIONS:
        default = f" (default {option.default})" if option.default is not None else ""
        parser.add_argument(
            option.flag,
            dest=option.name,
            default=None,
            metavar=option.name.upper(),
            help=f"{option.help}{default}; env {option.env_name}",
        )
    parser.add_argument(
        "--trust-root",
        type=Path,
        default=None,
        help="trust root file (keys.pub) modules are admitted against",
    )
    parser.add_argument(
        "--samples-dir", type=Path, default=None, help="folder of recorded traffic dry runs can name"
    )


def run(arguments: argparse.Namespace) -> int:
    # Imported here so other commands do not load the web, database and gRPC stacks.
    import asyncio  # noqa: PLC0415
    import logging  # noqa: PLC0415

    from controlplane.api.runtime import ControlPlane, Extras  # noqa: PLC0415
    from controlplane.config import OPTIONS, ConfigError, load_config  # noqa: PLC0415
    from controlplane.storage.database import DatabaseError  # noqa: PLC0415
    from controlplane.trust.errors import TrustError  # noqa: PLC0415

    overrides = {}
    for option in OPTIONS:
        raw = getattr(arguments, option.name)
        if raw is not None:
            try:
                overrides[option.name] = option.parse(raw)
            except ValueError as error:
                raise CliError(f"{option.flag}: {raw!r} {error}") from error
    try:
        config = load_config(arguments.config, overrides=overrides)
    except ConfigError as error:
        raise CliError(str(error)) from error
    for path, flag in ((arguments.trust_root, "--trust-root"), (arguments.samples_dir, "--samples-dir")):
        if path is not None and not path.exists():
            raise CliError(f"{flag}: no such file or folder: {path}")
    logging.basicConfig(
        level=config.log_level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    plane = ControlPlane(config, Extras(trust_root=arguments.trust_root, samples_dir=arguments.samples_dir))

    async def main() -> None:
        await plane.start()
        scheme = "https" if config.tls_cert else "http"
        print(
            f"meshveil control plane: REST {scheme}://{config.rest_host}:{plane.rest_port} (docs at /docs)",
            flush=True,
        )
        print(f"meshveil control plane: ECDS gRPC {config.xds_host}:{plane.xds_port}", flush=True)
        if plane.admin_token_file is not None:
            print(f"meshveil control plane: admin token written to {plane.admin_token_file}", flush=True)
        try:
            await plane.wait()
        finally:
            await plane.stop()

    try:
        asyncio.run(main())
    except (DatabaseError, TrustError, OSError) as error:
        raise CliError(str(error)) from error
    return 0
