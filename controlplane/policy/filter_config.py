"""The DLP and mask filters' config: what a policy compiles to for `meshveil-dlp` and
`meshveil-mask` (read by filters/pipeline/config.zig).

Layout (little-endian):

    0   "MVPC"            magic
    4   u16               format version (1)
    6   u16               header bytes (16)
    8   u32               JSON length
    12  u32               matcher tables length
    16  JSON              the routes and rules (below), UTF-8
    ..  zero padding to an 8-byte boundary
    ..  matcher tables    controlplane/compiler/README.md (empty when no detector is on)

The JSON names detectors by their index in the tables (`detectors[i]` is table detector
`i`), so the filter never looks a name up on the hot path:

    {"format": "meshveil.filter-config/v1", "filter": "meshveil-dlp",
     "policy": "checkout-pii", "tenant": "payments", "failure": "fail_closed",
     "detectors": [{"id": "credit-card", "entity": "CREDIT_CARD"}, ...],
     "fingerprint_key": "<hex>" | null,                      (DLP only)
     "grpc_fields": "<base64>",   (optional: the policy's gRPC descriptor set compiled to
                 the "MVFT" field table, grpc_field_table.py; gRPC findings then carry
                 field names. At most grpc_schema.FIELD_TABLE_BYTES_MAX bytes before
                 base64; a config past CONFIG_BYTES_MAX as a whole is refused at compile)
     "telemetry": {"cluster": …, "token": …, "batch_events": 32, …},   (DLP only, optional;
                 filters/telemetry/settings.zig: where finding events are sent)
     "routes": [{"name": "card-api", "paths": ["/v1/cards/**"], "methods": ["GET"],
                 "hosts": [], "request": false, "response": true,
                 "content_types": ["application/json"], "mode": "buffered",
                 "max_buffer_bytes": 1048576, "on_overflow": "stream", "gzip": "decode",
                 "scan_numbers": false,
                 "rules": [{"detector": 0, "min_score": 800, "threshold": 10,
                            "action": "block"}]}]}             (mask: "mask" instead of
                                                               threshold and action)

Mask specs: `{"type": "partial", "character": "*", "keep_first": 0, "keep_last": 4}`,
`{"type": "redact", "placeholder": "[REDACTED:CREDIT_CARD]"}`, `{"type": "hash",
"key": "<hex>", "truncate_bytes": 16, "prefix": "tok_"}`, `{"type":
"format_preserving", "key": "<hex>", "keep_last": 4}`, `{"type": "drop_field"}`. A hash or
format-preserving mask whose key the `KeySource` lacks is compiled as a labelled
redaction with `"missing_key": "<key_ref>"`, which the filter logs at configure time: the
value is still hidden, only joins are lost.
"""

from __future__ import annotations

import base64
import json
import struct
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from controlplane.compiler.cache import compiled_tables
from controlplane.compiler.tables import SCORE_SCALE
from controlplane.detectors.model import Detector
from controlplane.policy.mask_keys import KeySource
from controlplane.policy.model import (
    DetectorRule,
    Direction,
    DropFieldMask,
    FormatPreservingMask,
    HashMask,
    MaskAction,
    PartialMask,
    Policy,
    RedactMask,
    Route,
)
from controlplane.policy.telemetry_sink import TelemetrySink
from controlplane.trust.encoding import canonical_json

MAGIC = b"MVPC"
FORMAT_VERSION = 1
HEADER = struct.Struct("<4sHHII")
JSON_FORMAT = "meshveil.filter-config/v1"
CONFIG_BYTES_MAX = 512 * 1024
"""The largest inner config a filter accepts (filters/trust/limits.zig, config_bytes_max)."""
PLACEHOLDER_BYTES_MAX = 64


class FilterConfigError(ValueError):
    """The policy cannot be compiled for a filter; the message names the field."""


@dataclass(frozen=True)
class _Selected:
    """One rule a route gives the filter, with where it came from (for error messages)."""

    where: str
    detector: Detector
    rule: DetectorRule


def build_filter_config(
    policy: Policy,
    filter_name: str,
    catalog: Sequence[Detector],
    keys: KeySource,
    telemetry: TelemetrySink | None = None,
) -> bytes:
    """The packed config of `filter_name` ("meshveil-dlp" or "meshveil-mask"); the DLP
    filter's carries `telemetry` (where it sends its finding events) when given."""
    masking = filter_name == "meshveil-mask"
    by_id = {detector.id: detector for detector in catalog}
    routes = [
        (index, route, _selected(index, route, by_id, masking)) for index, route in enumerate(policy.routes)
    ]
    detectors = _table_detectors([item for _, _, selected in routes for item in selected])
    index_of = {detector.id: index for index, detector in enumerate(detectors)}
    document: dict[str, Any] = {
        "format": JSON_FORMAT,
        "filter": filter_name,
        "policy": policy.name,
        "tenant": policy.tenant,
        "failure": policy.failure.value,
        "detectors": [{"id": detector.id, "entity": detector.entity} for detector in detectors],
        "routes": [
            _route(route, selected, index_of, keys, masking) for _, route, selected in routes if selected
        ],
    }
    if policy.grpc is not None:
        document["grpc_fields"] = base64.b64encode(policy.grpc.field_table()).decode("ascii")
    if not masking:
        document["fingerprint_key"] = _fingerprint_key(policy, keys)
        if telemetry is not None:
            document["telemetry"] = telemetry.document(policy.telemetry.delivery)
    tables = compiled_tables(detectors) if detectors else b""
    return _pack(canonical_json(document), tables)


def _selected(index: int, route: Route, by_id: dict[str, Detector], masking: bool) -> list[_Selected]:
    selected = []
    for detector_id, rule in sorted(route.detectors.items()):
        where = f"routes[{index}].detectors.{detector_id}"
        if not rule.enabled or (masking and rule.mask is None):
            continue
        detector = by_id.get(detector_id)
        if detector is None:
            raise FilterConfigError(f"{where}: unknown detector id")
        selected.append(_Selected(where, detector, rule))
    return selected


def _table_detectors(selected: Sequence[_Selected]) -> list[Detector]:
    """Each detector once, sorted by id, reporting down to the lowest confidence any route
    asks for; routes that ask for more drop the weaker findings themselves."""
    lowest: dict[str, float] = {}
    detectors: dict[str, Detector] = {}
    for item in selected:
        detectors[item.detector.id] = item.detector
        confidence = item.rule.min_confidence
        lowest[item.detector.id] = min(confidence, lowest.get(item.detector.id, confidence))
    return [replace(detectors[name], threshold=lowest[name]) for name in sorted(detectors)]


def _route(
    route: Route, selected: Sequence[_Selected], index_of: dict[str, int], keys: KeySource, masking: bool
) -> dict[str, Any]:
    rules = []
    for item in selected:
        rule: dict[str, Any] = {
            "detector": index_of[item.detector.id],
            "min_score": round(item.rule.min_confidence * SCORE_SCALE),
        }
        if masking:
            assert item.rule.mask is not None
            rule["mask"] = _mask(item.rule.mask, item, keys)
        else:
            rule["threshold"] = item.rule.threshold
            rule["action"] = item.rule.action.value
        rules.append(rule)
    return {
        "name": route.name,
        "paths": list(route.match.paths),
        "methods": [method.value for method in route.match.methods],
        "hosts": list(route.match.hosts),
        "request": Direction.REQUEST in route.directions,
        "response": Direction.RESPONSE in route.directions,
        "content_types": list(route.content_types),
        "mode": route.body.mode.value,
        "max_buffer_bytes": route.body.max_buffer_bytes,
        "on_overflow": route.body.on_overflow.value,
        "gzip": route.gzip.value,
        "scan_numbers": route.body.scan_numbers,
        "rules": rules,
    }


def _mask(mask: MaskAction, item: _Selected, keys: KeySource) -> dict[str, Any]:
    labelled = f"[REDACTED:{item.detector.entity}]"[:PLACEHOLDER_BYTES_MAX]
    if isinstance(mask, PartialMask):
        _check_printable(mask.character, f"{item.where}.mask.character")
        return {"type": "partial", "character": mask.character, "keep_first": mask.keep_first,
                "keep_last": mask.keep_last}  # fmt: skip
    if isinstance(mask, RedactMask):
        placeholder = mask.placeholder if mask.placeholder is not None else labelled
        _check_printable(placeholder, f"{item.where}.mask.placeholder")
        return {"type": "redact", "placeholder": placeholder}
    if isinstance(mask, DropFieldMask):
        return {"type": "drop_field"}
    key = keys.key(mask.key_ref)
    if key is None:
        return {"type": "redact", "placeholder": labelled, "missing_key": mask.key_ref}
    if isinstance(mask, HashMask):
        _check_printable(mask.prefix, f"{item.where}.mask.prefix", allow_empty=True)
        return {
            "type": "hash",
            "key": key.hex(),
            "truncate_bytes": mask.truncate_bytes,
            "prefix": mask.prefix,
        }
    assert isinstance(mask, FormatPreservingMask)
    return {"type": "format_preserving", "key": key.hex(), "keep_last": mask.keep_last}


def _check_printable(text: str, where: str, *, allow_empty: bool = False) -> None:
    if (not text and not allow_empty) or not all(" " <= char <= "~" for char in text):
        raise FilterConfigError(
            f"{where}: must be printable ASCII (the filter writes it into bodies verbatim)"
        )


def _fingerprint_key(policy: Policy, keys: KeySource) -> str | None:
    name = policy.telemetry.fingerprint_key_ref
    if name is None:
        return None
    key = keys.key(name)
    if key is None:
        raise FilterConfigError(f"telemetry.fingerprint_key_ref: no key named {name!r} is available")
    return key.hex()


def _pack(document: bytes, tables: bytes) -> bytes:
    padding = b"\0" * (-(HEADER.size + len(document)) % 8)
    packed = (
        HEADER.pack(MAGIC, FORMAT_VERSION, HEADER.size, len(document), len(tables))
        + document
        + padding
        + tables
    )
    if len(packed) > CONFIG_BYTES_MAX:
        raise FilterConfigError(
            f"the compiled config takes {len(packed)} bytes (matcher tables: {len(tables)}, routes "
            f"and gRPC field names: {len(document)}), over the filters' bound of {CONFIG_BYTES_MAX}; "
            "enable fewer detectors or give a smaller gRPC descriptor set"
        )
    return packed


def unpack(config: bytes) -> tuple[dict[str, Any], bytes]:
    """The JSON document and the tables of a packed config (for tests and reports)."""
    magic, version, header_bytes, json_len, tables_len = HEADER.unpack_from(config)
    if magic != MAGIC or version != FORMAT_VERSION or header_bytes != HEADER.size:
        raise FilterConfigError("not a meshveil filter config (bad magic, version or header size)")
    document = json.loads(config[HEADER.size : HEADER.size + json_len])
    tables_start = HEADER.size + json_len + (-(HEADER.size + json_len) % 8)
    return document, config[tables_start : tables_start + tables_len]
