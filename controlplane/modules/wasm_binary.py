"""A reader for the parts of a WebAssembly binary that a proxy-Wasm host cares about.

It reads the section framing, types, imports, functions, memories, exports, the start
section and custom sections: enough to check a module's interface before any engine
loads it. Full validation of code is left to wasmtime. Every malformed input raises
`WasmFormatError` with the byte offset where reading failed.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from enum import IntEnum

from harness.abi.catalog import FunctionSignature

MAGIC = b"\x00asm"
VERSION_1 = b"\x01\x00\x00\x00"
PAGE_SIZE = 64 * 1024


class WasmFormatError(ValueError):
    def __init__(self, message: str, offset: int) -> None:
        super().__init__(f"{message} (at byte {offset})")
        self.offset = offset


class SectionId(IntEnum):
    CUSTOM = 0
    TYPE = 1
    IMPORT = 2
    FUNCTION = 3
    TABLE = 4
    MEMORY = 5
    GLOBAL = 6
    EXPORT = 7
    START = 8
    ELEMENT = 9
    CODE = 10
    DATA = 11
    DATA_COUNT = 12
    TAG = 13


# The order non-custom sections must appear in (DataCount sits before Code; Tag after Memory).
_SECTION_ORDER = [
    SectionId.TYPE,
    SectionId.IMPORT,
    SectionId.FUNCTION,
    SectionId.TABLE,
    SectionId.MEMORY,
    SectionId.TAG,
    SectionId.GLOBAL,
    SectionId.EXPORT,
    SectionId.START,
    SectionId.ELEMENT,
    SectionId.DATA_COUNT,
    SectionId.CODE,
    SectionId.DATA,
]

VALUE_TYPES = {
    0x7F: "i32",
    0x7E: "i64",
    0x7D: "f32",
    0x7C: "f64",
    0x7B: "v128",
    0x70: "funcref",
    0x6F: "externref",
}


class ExternalKind(IntEnum):
    FUNCTION = 0
    TABLE = 1
    MEMORY = 2
    GLOBAL = 3
    TAG = 4


@dataclass(frozen=True)
class Limits:
    minimum: int
    maximum: int | None
    shared: bool = False
    is_64: bool = False


@dataclass(frozen=True)
class Import:
    module: str
    name: str
    kind: ExternalKind
    signature: FunctionSignature | None = None
    limits: Limits | None = None


@dataclass(frozen=True)
class Export:
    name: str
    kind: ExternalKind
    index: int


@dataclass(frozen=True)
class Section:
    id: int
    start: int
    """Offset of the section's id byte."""
    end: int
    """Offset just past the section's payload."""
    name: str | None = None
    """Custom sections only."""
    payload_start: int = 0


@dataclass
class WasmModule:
    sections: list[Section] = field(default_factory=list)
    types: list[FunctionSignature] = field(default_factory=list)
    imports: list[Import] = field(default_factory=list)
    function_type_indices: list[int] = field(default_factory=list)
    memories: list[Limits] = field(default_factory=list)
    exports: list[Export] = field(default_factory=list)
    start_function: int | None = None
    custom_sections: dict[str, list[bytes]] = field(default_factory=dict)

    @property
    def imported_functions(self) -> list[Import]:
        return [item for item in self.imports if item.kind is ExternalKind.FUNCTION]

    def export_named(self, name: str) -> Export | None:
        return next((export for export in self.exports if export.name == name), None)

    def function_signature(self, function_index: int) -> FunctionSignature | None:
        """Signature of a function by its index in the function index space (imports first)."""
        imported = self.imported_functions
        if function_index < len(imported):
            return imported[function_index].signature
        local = function_index - len(imported)
        if 0 <= local < len(self.function_type_indices):
            type_index = self.function_type_indices[local]
            return self.types[type_index] if type_index < len(self.types) else None
        return None

    def memory_limits(self, memory_index: int) -> Limits | None:
        imported = [item.limits for item in self.imports if item.kind is ExternalKind.MEMORY]
        every = [*imported, *self.memories]
        limits = every[memory_index] if memory_index < len(every) else None
        return limits


class _Reader:
    def __init__(self, data: bytes, start: int = 0, end: int | None = None) -> None:
        self.data = data
        self.offset = start
        self.end = len(data) if end is None else end

    def at_end(self) -> bool:
        return self.offset >= self.end

    def byte(self) -> int:
        if self.offset >= self.end:
            raise WasmFormatError("unexpected end of data", self.offset)
        value = self.data[self.offset]
        self.offset += 1
        return value

    def bytes(self, count: int) -> bytes:
        if count < 0 or self.offset + count > self.end:
            raise WasmFormatError(f"unexpected end of data reading {count} bytes", self.offset)
        value = self.data[self.offset : self.offset + count]
        self.offset += count
        return value

    def u32(self) -> int:
        return self._leb_unsigned(32)

    def u64(self) -> int:
        return self._leb_unsigned(64)

    def _leb_unsigned(self, bits: int) -> int:
        start = self.offset
        result = 0
        shift = 0
        max_bytes = (bits + 6) // 7
        for _ in range(max_bytes):
            byte = self.byte()
            result |= (byte & 0x7F) << shift
            if byte & 0x80 == 0:
                if result >= 1 << bits:
                    raise WasmFormatError(f"integer too large for u{bits}", start)
                return result
            shift += 7
        raise WasmFormatError(f"LEB128 integer longer than u{bits} allows", start)

    def name(self) -> str:
        start = self.offset
        raw = self.bytes(self.u32())
        try:
            return raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise WasmFormatError("name is not valid UTF-8", start) from error

    def value_type(self) -> str:
        start = self.offset
        code = self.byte()
        if code not in VALUE_TYPES:
            raise WasmFormatError(f"unknown value type 0x{code:02x}", start)
        return VALUE_TYPES[code]

    def limits(self) -> Limits:
        start = self.offset
        flags = self.byte()
        if flags > 0x07:
            raise WasmFormatError(f"unknown limits flags 0x{flags:02x}", start)
        is_64 = bool(flags & 0x04)
        read = self.u64 if is_64 else self.u32
        minimum = read()
        maximum = read() if flags & 0x01 else None
        return Limits(minimum, maximum, shared=bool(flags & 0x02), is_64=is_64)


def parse(data: bytes) -> WasmModule:
    """Parses `data`; raises `WasmFormatError` naming what is wrong and where."""
    if len(data) < 8:
        if not MAGIC.startswith(data[:4]) or len(data) < 4:
            raise WasmFormatError("not a WebAssembly module: shorter than its 8-byte header", 0)
        raise WasmFormatError("truncated WebAssembly header", len(data))
    if data[:4] != MAGIC:
        raise WasmFormatError(f"not a WebAssembly module: magic bytes are {data[:4].hex()}, not 0061736d", 0)
    if data[4:8] != VERSION_1:
        raise WasmFormatError(f"unsupported WebAssembly binary version {data[4:8].hex()}", 4)
    module = WasmModule()
    reader = _Reader(data, 8)
    last_order = -1
    while not reader.at_end():
        section_start = reader.offset
        section_id = reader.byte()
        size = reader.u32()
        payload_start = reader.offset
        end = payload_start + size
        if end > len(data):
            raise WasmFormatError(
                f"truncated module: section {section_id} declares {size} bytes but only "
                f"{len(data) - payload_start} remain",
                section_start,
            )
        if section_id == SectionId.CUSTOM:
            payload = _Reader(data, payload_start, end)
            name = payload.name()
            module.custom_sections.setdefault(name, []).append(data[payload.offset : end])
            module.sections.append(Section(section_id, section_start, end, name, payload.offset))
        else:
            try:
                order = _SECTION_ORDER.index(SectionId(section_id))
            except ValueError as error:
                raise WasmFormatError(f"unknown section id {section_id}", section_start) from error
            if order <= last_order:
                raise WasmFormatError(f"section {SectionId(section_id).name} out of order", section_start)
            last_order = order
            _parse_section(module, SectionId(section_id), _Reader(data, payload_start, end))
            module.sections.append(Section(section_id, section_start, end, None, payload_start))
        reader.offset = end
    return module


def _parse_section(module: WasmModule, section_id: SectionId, reader: _Reader) -> None:
    parser = _SECTION_PARSERS.get(section_id)
    if parser is None:
        return  # Other sections are not needed to judge the module's interface.
    parser(module, reader)
    if not reader.at_end():
        raise WasmFormatError(f"{section_id.name} section has trailing bytes", reader.offset)


def _parse_types(module: WasmModule, reader: _Reader) -> None:
    for _ in range(reader.u32()):
        form_offset = reader.offset
        if reader.byte() != 0x60:
            raise WasmFormatError("type entry is not a function type", form_offset)
        params = tuple(reader.value_type() for _ in range(reader.u32()))
        results = tuple(reader.value_type() for _ in range(reader.u32()))
        module.types.append(FunctionSignature(params, results))


def _parse_imports(module: WasmModule, reader: _Reader) -> None:
    for _ in range(reader.u32()):
        module.imports.append(_parse_import(module, reader))


def _parse_functions(module: WasmModule, reader: _Reader) -> None:
    module.function_type_indices = [reader.u32() for _ in range(reader.u32())]


def _parse_memories(module: WasmModule, reader: _Reader) -> None:
    module.memories = [reader.limits() for _ in range(reader.u32())]


def _parse_exports(module: WasmModule, reader: _Reader) -> None:
    for _ in range(reader.u32()):
        name = reader.name()
        kind_offset = reader.offset
        kind = reader.byte()
        if kind not in ExternalKind._value2member_map_:
            raise WasmFormatError(f"unknown export kind {kind}", kind_offset)
        module.exports.append(Export(name, ExternalKind(kind), reader.u32()))


def _parse_start(module: WasmModule, reader: _Reader) -> None:
    module.start_function = reader.u32()


_SECTION_PARSERS: dict[SectionId, Callable[[WasmModule, _Reader], None]] = {
    SectionId.TYPE: _parse_types,
    SectionId.IMPORT: _parse_imports,
    SectionId.FUNCTION: _parse_functions,
    SectionId.MEMORY: _parse_memories,
    SectionId.EXPORT: _parse_exports,
    SectionId.START: _parse_start,
}


def _parse_import(module: WasmModule, reader: _Reader) -> Import:
    module_name = reader.name()
    name = reader.name()
    kind_offset = reader.offset
    kind = reader.byte()
    if kind == ExternalKind.FUNCTION:
        type_offset = reader.offset
        type_index = reader.u32()
        if type_index >= len(module.types):
            raise WasmFormatError(f"import {module_name}.{name} uses unknown type {type_index}", type_offset)
        return Import(module_name, name, ExternalKind.FUNCTION, signature=module.types[type_index])
    if kind == ExternalKind.TABLE:
        reader.byte()  # reference type
        return Import(module_name, name, ExternalKind.TABLE, limits=reader.limits())
    if kind == ExternalKind.MEMORY:
        return Import(module_name, name, ExternalKind.MEMORY, limits=reader.limits())
    if kind == ExternalKind.GLOBAL:
        reader.value_type()
        reader.byte()  # mutability
        return Import(module_name, name, ExternalKind.GLOBAL)
    if kind == ExternalKind.TAG:
        reader.byte()  # attribute
        reader.u32()  # type index
        return Import(module_name, name, ExternalKind.TAG)
    raise WasmFormatError(f"unknown import kind {kind}", kind_offset)


def encode_u32(value: int) -> bytes:
    """Unsigned LEB128, as sections and names are framed."""
    if not 0 <= value < 1 << 32:
        raise ValueError(f"{value} does not fit in u32")
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def custom_section(name: str, payload: bytes) -> bytes:
    """The bytes of a custom section named `name` carrying `payload`."""
    encoded_name = name.encode("utf-8")
    body = encode_u32(len(encoded_name)) + encoded_name + payload
    return bytes([SectionId.CUSTOM]) + encode_u32(len(body)) + body


def without_custom_sections(data: bytes, names: set[str]) -> bytes:
    """`data` with every custom section whose name is in `names` removed."""
    module = parse(data)
    out = bytearray(data[:8])
    for section in module.sections:
        if section.id == SectionId.CUSTOM and section.name in names:
            continue
        out += data[section.start : section.end]
    return bytes(out)
