"""Signed filter configs: the statement inside the DSSE envelope, and the bundle that is
the plugin configuration Envoy hands the filter.

Bundle (the `configuration` bytes of the Wasm plugin), compact JSON:

    {"schema": "meshveil.bundle/v1",
     "trust": [<trust statements newer than the module's compiled trust version>],
     "config": <DSSE envelope, payloadType application/vnd.meshveil.config.v1+json>}

Config payload (canonical JSON):

    {"plugin": "dlp-inbound", "version": 7, "issued_at": 1767225600, "expires": 1767312000,
     "module": {"name": "meshveil-dlp", "build_id": "<hex>", "sha256": "<hex>"},
     "targets": {"nodes": ["<node id>"], "workloads": [{"namespace": "shop", "name": "checkout"}]},
     "key_ids": ["<hex>", ...], "config": "<base64 of the filter's own config>"}

The inner `config` is opaque here: the filter logic defines it. The bounds below are the
filter's; the control plane refuses to produce what a filter would refuse.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from controlplane.trust.dsse import Envelope, sign_envelope
from controlplane.trust.encoding import (
    b64decode,
    b64encode,
    canonical_json,
    require,
    require_keys,
    strict_json_object,
)
from controlplane.trust.errors import TrustError
from controlplane.trust.keys import Signer
from controlplane.trust.trust_root import STATEMENTS_PER_CONFIG_MAX

CONFIG_PAYLOAD_TYPE = "application/vnd.meshveil.config.v1+json"
BUNDLE_SCHEMA = "meshveil.bundle/v1"
BUNDLE_BYTES_MAX = 1024 * 1024
CONFIG_BYTES_MAX = 512 * 1024
TARGETS_MAX = 64
NAME_BYTES_MAX = 253
WILDCARD = "*"


@dataclass(frozen=True)
class ModuleIdentity:
    name: str
    build_id: str
    sha256: str


@dataclass(frozen=True)
class Workload:
    namespace: str
    name: str
    """A workload name, or "*" for every workload of the namespace."""

    def matches(self, namespace: str, name: str) -> bool:
        return self.namespace == namespace and self.name in (WILDCARD, name)


@dataclass(frozen=True)
class Targets:
    nodes: tuple[str, ...] = ()
    workloads: tuple[Workload, ...] = ()

    def __post_init__(self) -> None:
        if not self.nodes and not self.workloads:
            raise TrustError("a config must name the nodes or workloads it is for")
        if len(self.nodes) > TARGETS_MAX or len(self.workloads) > TARGETS_MAX:
            raise TrustError(f"at most {TARGETS_MAX} nodes and {TARGETS_MAX} workloads per config")
        names = [*self.nodes, *(w.namespace for w in self.workloads), *(w.name for w in self.workloads)]
        if any(not name or len(name.encode()) > NAME_BYTES_MAX for name in names):
            raise TrustError(f"target names must be 1-{NAME_BYTES_MAX} bytes")

    def matches(self, node_id: str, namespace: str, workload: str) -> bool:
        return node_id in self.nodes or any(item.matches(namespace, workload) for item in self.workloads)

    def to_json(self) -> dict[str, Any]:
        return {
            "nodes": list(self.nodes),
            "workloads": [{"namespace": item.namespace, "name": item.name} for item in self.workloads],
        }


@dataclass(frozen=True)
class ConfigStatement:
    plugin: str
    """The Wasm plugin's name in Envoy (its `name`); versions are monotonic per plugin and target."""
    version: int
    issued_at: int
    expires: int
    module: ModuleIdentity
    targets: Targets
    key_ids: tuple[str, ...]
    config: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.version < 2**53:
            raise TrustError("config version must be a positive integer below 2^53")
        if self.issued_at < 0:
            raise TrustError("a config cannot be issued before 1970")
        if self.expires <= self.issued_at:
            raise TrustError("a config must expire after it is issued")
        if len(self.config) > CONFIG_BYTES_MAX:
            raise TrustError(
                f"the filter config is {len(self.config)} bytes; the limit is {CONFIG_BYTES_MAX}"
            )
        if not self.plugin or len(self.plugin.encode()) > NAME_BYTES_MAX:
            raise TrustError(f"plugin name must be 1-{NAME_BYTES_MAX} bytes")

    def to_payload(self) -> bytes:
        document = {
            "plugin": self.plugin,
            "version": self.version,
            "issued_at": self.issued_at,
            "expires": self.expires,
            "module": {
                "name": self.module.name,
                "build_id": self.module.build_id,
                "sha256": self.module.sha256,
            },
            "targets": self.targets.to_json(),
            "key_ids": list(self.key_ids),
            "config": b64encode(self.config),
        }
        return canonical_json(document)

    @classmethod
    def from_payload(cls, raw: bytes, what: str) -> ConfigStatement:
        document = strict_json_object(raw, what)
        fields = {"plugin", "version", "issued_at", "expires", "module", "targets", "key_ids", "config"}
        require_keys(document, fields, what)
        module = require(document, "module", dict, what)
        require_keys(module, {"name", "build_id", "sha256"}, f"{what} module")
        targets = require(document, "targets", dict, what)
        require_keys(targets, {"nodes", "workloads"}, f"{what} targets")
        workloads = []
        for entry in require(targets, "workloads", list, what):
            if not isinstance(entry, dict):
                raise TrustError(f"{what}: a workload must be a JSON object")
            require_keys(entry, {"namespace", "name"}, f"{what} workload")
            workloads.append(
                Workload(require(entry, "namespace", str, what), require(entry, "name", str, what))
            )
        return cls(
            plugin=require(document, "plugin", str, what),
            version=require(document, "version", int, what),
            issued_at=require(document, "issued_at", int, what),
            expires=require(document, "expires", int, what),
            module=ModuleIdentity(
                require(module, "name", str, what),
                require(module, "build_id", str, what),
                require(module, "sha256", str, what),
            ),
            targets=Targets(tuple(_strings(targets, "nodes", what)), tuple(workloads)),
            key_ids=tuple(_strings(document, "key_ids", what)),
            config=b64decode(require(document, "config", str, what), f"{what} config"),
        )


def _strings(document: dict[str, Any], key: str, what: str) -> list[str]:
    values: list[object] = require(document, key, list, what)
    strings = [value for value in values if isinstance(value, str)]
    if len(strings) != len(values):
        raise TrustError(f"{what}: {key!r} must list strings")
    return strings


@dataclass(frozen=True)
class Bundle:
    trust: tuple[Envelope, ...]
    config: Envelope

    def to_bytes(self) -> bytes:
        document = {
            "schema": BUNDLE_SCHEMA,
            "trust": [envelope.to_json() for envelope in self.trust],
            "config": self.config.to_json(),
        }
        return json.dumps(document, separators=(",", ":")).encode("utf-8")

    @classmethod
    def from_bytes(cls, raw: bytes) -> Bundle:
        what = "bundle"
        document = strict_json_object(raw, what)
        require_keys(document, {"schema", "trust", "config"}, what)
        if require(document, "schema", str, what) != BUNDLE_SCHEMA:
            raise TrustError(f"{what}: schema is not {BUNDLE_SCHEMA!r}")
        trust = tuple(
            Envelope.from_json(item, f"trust statement {index}")
            for index, item in enumerate(require(document, "trust", list, what))
        )
        return cls(trust, Envelope.from_json(require(document, "config", dict, what), "config envelope"))


def sign_config(
    statement: ConfigStatement, signers: Sequence[Signer], trust: Sequence[Envelope] = ()
) -> bytes:
    """The plugin configuration bytes: `statement` signed by `signers`, with the trust
    statements the target module needs to know those signers."""
    signer_ids = {signer.public_key.key_id for signer in signers}
    if signer_ids != set(statement.key_ids):
        raise TrustError("the statement's key_ids must be exactly the keys that sign it")
    if len(trust) > STATEMENTS_PER_CONFIG_MAX:
        raise TrustError(f"a config carries at most {STATEMENTS_PER_CONFIG_MAX} trust statements")
    bundle = Bundle(
        tuple(trust), sign_envelope(CONFIG_PAYLOAD_TYPE, statement.to_payload(), signers)
    ).to_bytes()
    if len(bundle) > BUNDLE_BYTES_MAX:
        raise TrustError(
            f"the signed config is {len(bundle)} bytes; filters refuse more than {BUNDLE_BYTES_MAX}"
        )
    return bundle
