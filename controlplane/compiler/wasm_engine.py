"""The Zig engine (filters/engine/) inside Wasm, run from Python.

Both ways in go through the scan-probe test module (filters/testdata/scan_probe.zig):

- `PluginEngine` is the real plugin path: the tables are the plugin configuration, a
  text is a request body streamed through the harness host (Envoy's semantics), and the
  findings come back in the probe's local reply.
- `DirectEngine` instantiates the module bare in wasmtime (every import stubbed) and
  calls its exported entry points: a scan at given chunk cuts, a validator, and a timed
  loop that scans a buffer N times inside the module, so no Python call overhead is
  counted in the engine's speed.
"""

from __future__ import annotations

import argparse
import json
import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import wasmtime

from controlplane.modules.build import BuildError, build_modules
from controlplane.modules.sources import default_filters_dir
from controlplane.modules.toolchain import ToolchainError
from harness.host import FilterChain, Host, HostConfig, PluginConfig, PluginLoadError
from harness.host.runtime import engine_config
from harness.traffic.headers import RequestTarget, request_headers
from harness.traffic.model import HttpExchange, HttpMessage

SCAN_PROBE = "scan-probe"
DEFAULT_MODULES_DIR = Path("build") / "filters"
_FINDING_WORDS = struct.Struct("<5I")


class WasmEngineError(RuntimeError):
    """The probe module is missing, cannot be built, or refused the tables."""


@dataclass(frozen=True)
class WasmFinding:
    detector: int
    """Index of the detector in the tables."""
    pattern: int
    score: int
    start: int
    end: int


@dataclass(frozen=True)
class PluginFinding:
    detector: str
    entity: str
    pattern: int
    score: int
    start: int
    end: int


def add_module_arguments(parser: argparse.ArgumentParser) -> None:
    """`--modules DIR` and `--rebuild`, for commands that run the probe (see `scan_probe_module`)."""
    parser.add_argument(
        "--modules",
        type=Path,
        default=DEFAULT_MODULES_DIR,
        metavar="DIR",
        help=f"folder with the built modules (default {DEFAULT_MODULES_DIR}; built there when missing)",
    )
    parser.add_argument("--rebuild", action="store_true", help="build the modules even when they exist")


def scan_probe_module(modules_dir: Path = DEFAULT_MODULES_DIR, *, rebuild: bool = False) -> Path:
    """The built scan-probe module under `modules_dir`, building the modules when it is missing."""
    path = modules_dir / "testdata" / f"{SCAN_PROBE}.wasm"
    if rebuild or not path.is_file():
        try:
            build_modules(modules_dir, default_filters_dir())
        except (BuildError, ToolchainError) as error:
            raise WasmEngineError(f"cannot build the modules into {modules_dir}: {error}") from error
    if not path.is_file():
        raise WasmEngineError(f"the build did not produce {path}")
    return path


class PluginEngine:
    """The probe loaded as a plugin in the harness host, the tables as its configuration."""

    def __init__(self, module: Path | bytes, tables: bytes) -> None:
        self._host = Host(HostConfig())
        try:
            plugin = self._host.load_plugin(
                PluginConfig(name=SCAN_PROBE, module=module, configuration=tables)
            )
        except PluginLoadError as error:
            reasons = [record.message for record in self._host.logs if record.plugin == SCAN_PROBE]
            self._host.close()
            if reasons:
                raise WasmEngineError(f"the scan probe refused the tables: {'; '.join(reasons)}") from error
            raise WasmEngineError(f"cannot load the scan probe: {error}") from error
        self._chain = FilterChain(self._host, [plugin])
        self._exchanges = 0

    def scan(self, chunks: Sequence[bytes]) -> list[PluginFinding]:
        """Findings in the request body that arrives as `chunks`, sorted by span."""
        self._exchanges += 1
        body = [chunk for chunk in chunks if chunk]
        target = RequestTarget("http", "scan-probe.local", "/scan")
        headers = request_headers(
            "POST",
            target,
            [("content-length", str(sum(map(len, body))))],
            request_id_seed=f"scan#{self._exchanges}",
        )
        exchange = HttpExchange(
            request=HttpMessage(headers, body),
            response=HttpMessage([(":status", "200")], []),
            exchange_id=str(self._exchanges),
        )
        outcome = self._chain.run(exchange)
        reply = outcome.local_reply
        if reply is None or reply.status != 200:
            logs = "; ".join(record.message for record in outcome.logs)
            raise WasmEngineError(f"the scan probe did not answer with its findings ({logs or 'no log'})")
        document: dict[str, Any] = json.loads(reply.body)
        if document["dropped"]:
            raise WasmEngineError(f"the scan probe dropped {document['dropped']} findings past its limit")
        findings = [PluginFinding(**item) for item in document["findings"]]
        return sorted(findings, key=lambda f: (f.start, f.end, f.pattern))

    def close(self) -> None:
        self._host.close()

    def __enter__(self) -> PluginEngine:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


class DirectEngine:
    """The probe instantiated bare in wasmtime; the engine is called through its exports."""

    def __init__(self, module: Path | bytes, tables: bytes) -> None:
        code = module.read_bytes() if isinstance(module, Path) else module
        engine = wasmtime.Engine(engine_config())
        self._store = wasmtime.Store(engine)
        compiled = wasmtime.Module(engine, code)
        imports = [self._stub(item.type) for item in compiled.imports]
        exports = wasmtime.Instance(self._store, compiled, imports).exports(self._store)
        self._memory = self._export(exports, "memory", wasmtime.Memory)
        self._alloc = self._export(exports, "meshveil_bench_alloc", wasmtime.Func)
        self._configure = self._export(exports, "meshveil_bench_configure", wasmtime.Func)
        self._bench_scan = self._export(exports, "meshveil_bench_scan", wasmtime.Func)
        self._bench_pieces = self._export(exports, "meshveil_bench_pieces", wasmtime.Func)
        self._scan_chunks = self._export(exports, "meshveil_scan_chunks", wasmtime.Func)
        self._validate = self._export(exports, "meshveil_validate", wasmtime.Func)
        tables_at = self._place(tables)
        if self._configure(self._store, tables_at, len(tables)) != 0:
            raise WasmEngineError("the scan probe refused the tables")
        self._buffer_at = 0
        self._buffer_size = 0

    def scan(self, data: bytes, cuts: Sequence[int] = (), capacity: int = 4096) -> list[WasmFinding]:
        """Findings of `data` fed in chunks cut at `cuts`, sorted by span."""
        words = struct.pack(f"<{len(cuts)}I", *sorted(cuts))
        region = self._buffer(len(data) + len(words) + 4 + capacity * _FINDING_WORDS.size)
        self._memory.write(self._store, data, region)
        cuts_at = region + len(data) + (-len(data) % 4)
        self._memory.write(self._store, words, cuts_at)
        out_at = cuts_at + len(words)
        count = self._scan_chunks(self._store, region, len(data), cuts_at, len(cuts), out_at, capacity)
        if count > capacity:
            raise WasmEngineError(f"{count} findings, more than the capacity of {capacity}")
        raw = self._memory.read(self._store, out_at, out_at + count * _FINDING_WORDS.size)
        findings = [WasmFinding(*_FINDING_WORDS.unpack_from(raw, index * 20)) for index in range(count)]
        return sorted(findings, key=lambda f: (f.start, f.end, f.pattern))

    def validate(self, validator_id: int, value: bytes, parameter: int = 0) -> bool:
        region = self._buffer(len(value))
        self._memory.write(self._store, value, region)
        answer = self._validate(self._store, validator_id, region, len(value), parameter)
        if answer == 2:
            raise WasmEngineError(f"the engine has no validator {validator_id}")
        return bool(answer)

    def load(self, data: bytes) -> int:
        """Copies `data` into the module for `time_scan`; answers its address."""
        region = self._buffer(len(data))
        self._memory.write(self._store, data, region)
        return region

    def time_scan(self, address: int, length: int, iterations: int) -> tuple[float, int]:
        """Seconds for `iterations` whole scans of loaded bytes inside the module, and findings per scan."""
        return self._timed(self._bench_scan, address, length, iterations)

    def time_pieces(self, address: int, length: int, iterations: int) -> tuple[float, int]:
        """Like `time_scan` for loaded key/value records (`json_pieces.encode_pieces`), each
        scanned on its own as the filters scan a JSON value: seconds and findings per pass."""
        return self._timed(self._bench_pieces, address, length, iterations)

    def _timed(self, export: wasmtime.Func, address: int, length: int, iterations: int) -> tuple[float, int]:
        started = time.perf_counter()
        found = export(self._store, address, length, iterations)
        return time.perf_counter() - started, int(found)

    def _buffer(self, size: int) -> int:
        if size > self._buffer_size:
            address = self._alloc(self._store, max(size, 1))
            if address == 0:
                raise WasmEngineError(f"the scan probe cannot hold {size} bytes")
            self._buffer_at, self._buffer_size = int(address), size
        return self._buffer_at

    def _place(self, data: bytes) -> int:
        address = int(self._alloc(self._store, max(len(data), 1)))
        if address == 0:
            raise WasmEngineError(f"the scan probe cannot hold {len(data)} bytes")
        self._memory.write(self._store, data, address)
        return address

    @staticmethod
    def _export(exports: Any, name: str, kind: type) -> Any:
        item = exports.get(name)
        if not isinstance(item, kind):
            raise WasmEngineError(f"the scan probe does not export {name}")
        return item

    def _stub(self, item_type: Any) -> wasmtime.Func:
        if not isinstance(item_type, wasmtime.FuncType):
            raise WasmEngineError(f"a bare instance can only stub function imports, not {item_type}")
        results = [0 for _ in item_type.results]

        def answer(*_arguments: object) -> object:
            return results[0] if len(results) == 1 else (None if not results else list(results))

        return wasmtime.Func(self._store, item_type, answer)
