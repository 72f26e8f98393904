"""Helpers for the host tests: a shared wasmtime runtime, the built ABI probe, exchanges
that carry probe scripts, and a parser for the probe's `probe <phase> <command>: ...` logs.

Test modules import the fixtures they use from here (pytest picks fixtures up from a test
module's namespace).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import pytest
import wasmtime

from controlplane.modules.build import BuiltModule
from harness.host import FilterChain, Host, HostConfig, LogRecord, Plugin, PluginConfig, WasmRuntime
from harness.host.outcome import ExchangeOutcome
from harness.traffic.model import Headers, HttpExchange, HttpMessage

PROBE = "abi-probe"
_LINE = re.compile(r"^probe (?P<phase>\S+) (?P<command>\S+): (?P<status>\S+)(?: (?P<detail>.*))?$")
_ESCAPE = re.compile(r"\\x([0-9a-f]{2})")


@pytest.fixture(scope="session")
def wasm_runtime() -> Iterator[WasmRuntime]:
    runtime = WasmRuntime()
    yield runtime
    runtime.close()


@pytest.fixture(scope="session")
def probe_code(built_modules: dict[str, BuiltModule]) -> bytes:
    return built_modules[PROBE].path.read_bytes()


@pytest.fixture
def make_host(wasm_runtime: WasmRuntime) -> Iterator[Any]:
    """A factory of hosts sharing the session's runtime; all are closed after the test."""
    hosts: list[Host] = []

    def factory(**settings: Any) -> Host:
        host = Host(HostConfig(runtime=wasm_runtime, **settings))
        hosts.append(host)
        return host

    yield factory
    for host in hosts:
        host.close()


def wat(text: str) -> bytes:
    return wasmtime.wat2wasm(text)


def unescape(text: str) -> bytes:
    """The probe's escaping undone: printable ASCII as is, \\xNN for everything else."""
    return _ESCAPE.sub(lambda match: chr(int(match.group(1), 16)), text).encode("latin-1")


@dataclass(frozen=True)
class ProbeLine:
    phase: str
    command: str
    status: str
    detail: str

    @property
    def words(self) -> list[str]:
        return self.detail.split(" ") if self.detail else []

    @property
    def value(self) -> bytes:
        """The last word of the detail, unescaped (the bytes a getter returned)."""
        words = self.detail.split(" ", 1) if self.detail else [""]
        return unescape(words[-1])


def probe_lines(records: Iterable[LogRecord]) -> list[ProbeLine]:
    lines = []
    for record in records:
        match = _LINE.match(record.message)
        if match is not None:
            lines.append(ProbeLine(match["phase"], match["command"], match["status"], match["detail"] or ""))
    return lines


def results(records: Iterable[LogRecord], phase: str) -> list[ProbeLine]:
    return [line for line in probe_lines(records) if line.phase == phase]


def only(records: Iterable[LogRecord], phase: str, command: str) -> ProbeLine:
    matching = [line for line in results(records, phase) if line.command == command]
    assert len(matching) == 1, f"expected one {phase} {command}, got {matching}"
    return matching[0]


def answers(records: Iterable[LogRecord], phase: str, prefix: str = "") -> list[str]:
    """'STATUS detail' of each command of `phase` whose name starts with `prefix`, in order."""
    return [
        f"{line.status} {line.detail}".rstrip()
        for line in results(records, phase)
        if line.command.startswith(prefix)
    ]


def called(records: Iterable[LogRecord]) -> list[str]:
    """The probe's callbacks in order: 'request_headers 3 1', ..."""
    return [
        record.message.removeprefix("probe ").replace(" called", "", 1)
        for record in records
        if record.message.startswith("probe ") and " called" in record.message.split(":", 1)[0]
    ]


def exchange(
    scripts: dict[str, str] | None = None,
    *,
    method: str = "GET",
    path: str = "/items?id=7",
    extra_headers: Headers | None = None,
    body: list[bytes] | None = None,
    trailers: Headers | None = None,
    response_headers: Headers | None = None,
    response_body: list[bytes] | None = None,
    response_trailers: Headers | None = None,
    connection: dict[str, str] | None = None,
) -> HttpExchange:
    headers: Headers = [
        (":method", method),
        (":path", path),
        (":authority", "shop.example"),
        (":scheme", "https"),
    ]
    headers += extra_headers or []
    headers += [(f"x-probe-{phase}", script) for phase, script in (scripts or {}).items()]
    return HttpExchange(
        request=HttpMessage(headers=headers, body_chunks=body or [], trailers=trailers or []),
        response=HttpMessage(
            headers=response_headers or [(":status", "200"), ("content-type", "text/plain")],
            body_chunks=response_body if response_body is not None else [b"fine"],
            trailers=response_trailers or [],
        ),
        exchange_id="probe",
        connection=connection or {},
    )


@contextmanager
def probe_plugin(host: Host, code: bytes, **settings: Any) -> Iterator[Plugin]:
    name = settings.pop("name", "probe")
    yield host.load_plugin(PluginConfig(name=name, module=code, **settings))


def run_probe(
    host: Host, code: bytes, scripts: dict[str, str], **exchange_settings: Any
) -> tuple[ExchangeOutcome, list[LogRecord]]:
    """Loads the probe (once per host) and plays one exchange carrying `scripts`."""
    plugin = next((item for item in host.plugins if item.name == "probe"), None)
    if plugin is None:
        plugin = host.load_plugin(PluginConfig(name="probe", module=code))
    outcome = FilterChain(host, [plugin]).run(exchange(scripts, **exchange_settings))
    return outcome, outcome.logs
