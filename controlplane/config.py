"""Service configuration for `meshveil serve`: defaults, then a YAML file, then environment
variables (`MESHVEIL_<OPTION>`), then command-line flags; the later source wins.

Every option is declared once in `OPTIONS`, which the CLI turns into flags, so `--help`,
the file format and the environment names never drift apart. With no configuration at
all the service keeps an SQLite database and its signing keys in a data folder
(`$XDG_DATA_HOME/meshveil`, else `~/.local/share/meshveil`) and listens on loopback.
"""

from __future__ import annotations

import os
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import yaml

ENV_PREFIX = "MESHVEIL_"
CLUSTER_NAME_MAX = 253


class ConfigError(ValueError):
    """A configuration value that cannot be used; the message names the option and its source."""


@dataclass(frozen=True)
class Option:
    name: str
    parse: Callable[[str], Any]
    help: str
    default: Any = None

    @property
    def env_name(self) -> str:
        return ENV_PREFIX + self.name.upper()

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")


def _port(text: str) -> int:
    port = int(text)
    if not 0 <= port <= 65535:
        raise ValueError("must be between 0 and 65535")
    return port


def _positive_float(text: str) -> float:
    value = float(text)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be positive")
    return value


def _bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError("must be true or false")


def _log_level(text: str) -> str:
    lowered = text.lower()
    if lowered not in {"debug", "info", "warning", "error"}:
        raise ValueError("must be one of debug, info, warning, error")
    return lowered


def _http_url(text: str) -> str:
    if not text.startswith(("http://", "https://")) or len(text) <= len("https://"):
        raise ValueError("must be an http:// or https:// URL")
    return text


OPTIONS: tuple[Option, ...] = (
    Option(
        "data_dir", Path, "folder for the SQLite database and signing keys (default ~/.local/share/meshveil)"
    ),
    Option(
        "database_url", str, "SQLAlchemy URL, e.g. postgresql://user@host/db (default: SQLite in data_dir)"
    ),
    Option("rest_host", str, "address the REST API listens on", "127.0.0.1"),
    Option("rest_port", _port, "port of the REST API (0 picks a free port)", 8080),
    Option("xds_host", str, "address the ECDS gRPC server listens on", "127.0.0.1"),
    Option("xds_port", _port, "port of the ECDS gRPC server (0 picks a free port)", 18000),
    Option("public_url", str, "base URL sidecars fetch modules from (default http://REST_HOST:REST_PORT)"),
    Option("module_cluster", str, "Envoy cluster that reaches public_url", "meshveil-controlplane"),
    Option("tls_cert", Path, "PEM certificate chain for REST and xDS (enables TLS)"),
    Option("tls_key", Path, "PEM private key for tls_cert"),
    Option("client_ca", Path, "PEM CA bundle: xDS clients must present a certificate it signed (mTLS)"),
    Option("trust_domain", str, "accept only SPIFFE ids of this trust domain from xDS clients"),
    Option("keys_dir", Path, "folder of config signing keys (default DATA_DIR/keys)"),
    Option(
        "poll_interval", _positive_float, "seconds between checks for changes made by other replicas", 0.5
    ),
    Option("config_validity", _positive_int, "seconds a signed config stays valid", 24 * 3600),
    Option("resign_interval", _positive_int, "seconds between re-signing configs before they expire", 3600),
    Option(
        "bootstrap_admin_token", _bool, "on first start, write an admin token to DATA_DIR/admin-token", True
    ),
    Option("log_level", _log_level, "debug, info, warning or error", "info"),
    Option("telemetry_retention_days", _positive_float, "days telemetry events are kept", 30.0),
    Option("otlp_endpoint", _http_url, "OTLP/HTTP receiver telemetry also goes to, e.g. http://otel:4318"),
    Option(
        "node_telemetry",
        _bool,
        "give each ECDS node's DLP/UEBA config a telemetry sink with its own credential "
        "(only to mTLS-verified nodes, see node_telemetry_unverified)",
        True,
    ),
    Option(
        "node_telemetry_unverified",
        _bool,
        "also give node credentials to xDS clients without a verified client certificate; their node "
        "id is only their claim, so anyone reaching the xDS port could collect any node's credential "
        "(tests and local demos only)",
        False,
    ),
    Option(
        "telemetry_cluster",
        str,
        "Envoy cluster that reaches the collector (this service's REST API) from a sidecar",
        "meshveil-controlplane",
    ),
    Option(
        "telemetry_authority",
        str,
        "Host header of the filters' telemetry calls (default: the host of public_url, else the cluster)",
    ),
)
OPTIONS_BY_NAME = {option.name: option for option in OPTIONS}


@dataclass(frozen=True)
class ServiceConfig:
    data_dir: Path
    database_url: str
    rest_host: str
    rest_port: int
    xds_host: str
    xds_port: int
    public_url: str | None
    module_cluster: str
    tls_cert: Path | None
    tls_key: Path | None
    client_ca: Path | None
    trust_domain: str | None
    keys_dir: Path
    poll_interval: float
    config_validity: int
    resign_interval: int
    bootstrap_admin_token: bool
    log_level: str
    telemetry_retention_days: float
    otlp_endpoint: str | None
    node_telemetry: bool
    node_telemetry_unverified: bool
    telemetry_cluster: str
    telemetry_authority: str | None
    replica_id: str

    def module_base_url(self, rest_port: int | None = None) -> str:
        if self.public_url:
            return self.public_url.rstrip("/")
        scheme = "https" if self.tls_cert else "http"
        return f"{scheme}://{self.rest_host}:{rest_port or self.rest_port}"

    def collector_authority(self) -> str | None:
        """The Host the filters' telemetry calls carry: as configured, else public_url's."""
        if self.telemetry_authority:
            return self.telemetry_authority
        if self.public_url:
            return urlsplit(self.public_url).netloc or None
        return None


def default_data_dir(environ: Mapping[str, str]) -> Path:
    base = environ.get("XDG_DATA_HOME")
    root = Path(base) if base else Path.home() / ".local" / "share"
    return root / "meshveil"


def load_config(
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
    overrides: Mapping[str, Any] | None = None,
) -> ServiceConfig:
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {option.name: option.default for option in OPTIONS}
    if config_file is not None:
        values.update(_read_file(config_file))
    for option in OPTIONS:
        if option.env_name in environ:
            values[option.name] = _parse(option, environ[option.env_name], f"environment {option.env_name}")
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = value
    return _finish(values, environ)


def _read_file(path: Path) -> dict[str, Any]:
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ConfigError(f"{path}: cannot read: {error.strerror}") from error
    except yaml.YAMLError as error:
        raise ConfigError(f"{path}: not valid YAML: {str(error).splitlines()[0]}") from error
    if document is None:
        return {}
    if not isinstance(document, dict):
        raise ConfigError(f"{path}: expected a mapping of option names to values")
    values = {}
    for key, raw in document.items():
        option = OPTIONS_BY_NAME.get(str(key))
        if option is None:
            known = ", ".join(sorted(OPTIONS_BY_NAME))
            raise ConfigError(f"{path}: unknown option {key!r}; known options: {known}")
        values[option.name] = _parse(option, str(raw), f"{path}: {key}")
    return values


def _parse(option: Option, raw: str, where: str) -> Any:
    try:
        return option.parse(raw)
    except ValueError as error:
        raise ConfigError(
            f"{where}: {raw!r} {error}" if str(error) else f"{where}: invalid {raw!r}"
        ) from error


def _finish(values: dict[str, Any], environ: Mapping[str, str]) -> ServiceConfig:
    data_dir = Path(values["data_dir"]) if values["data_dir"] else default_data_dir(environ)
    database_url = values["database_url"] or f"sqlite:///{data_dir / 'meshveil.db'}"
    if (values["tls_cert"] is None) != (values["tls_key"] is None):
        raise ConfigError("tls_cert and tls_key must be given together")
    if values["client_ca"] is not None and values["tls_cert"] is None:
        raise ConfigError("client_ca (mTLS) needs tls_cert and tls_key")
    for name in ("tls_cert", "tls_key", "client_ca"):
        if values[name] is not None and not Path(values[name]).is_file():
            raise ConfigError(f"{name}: no such file: {values[name]}")
    if values["resign_interval"] * 2 > values["config_validity"]:
        raise ConfigError("resign_interval must be at most half of config_validity, so configs never expire")
    if not 0 < len(values["telemetry_cluster"]) <= CLUSTER_NAME_MAX:
        raise ConfigError(f"telemetry_cluster: must be 1 to {CLUSTER_NAME_MAX} characters")
    return ServiceConfig(
        data_dir=data_dir,
        database_url=database_url,
        rest_host=values["rest_host"],
        rest_port=values["rest_port"],
        xds_host=values["xds_host"],
        xds_port=values["xds_port"],
        public_url=values["public_url"],
        module_cluster=values["module_cluster"],
        tls_cert=values["tls_cert"],
        tls_key=values["tls_key"],
        client_ca=values["client_ca"],
        trust_domain=values["trust_domain"],
        keys_dir=Path(values["keys_dir"]) if values["keys_dir"] else data_dir / "keys",
        poll_interval=values["poll_interval"],
        config_validity=values["config_validity"],
        resign_interval=values["resign_interval"],
        bootstrap_admin_token=values["bootstrap_admin_token"],
        log_level=values["log_level"],
        telemetry_retention_days=values["telemetry_retention_days"],
        otlp_endpoint=values["otlp_endpoint"],
        node_telemetry=values["node_telemetry"],
        node_telemetry_unverified=values["node_telemetry_unverified"],
        telemetry_cluster=values["telemetry_cluster"],
        telemetry_authority=values["telemetry_authority"] or None,
        replica_id=f"{socket.gethostname()}-{os.getpid()}",
    )
