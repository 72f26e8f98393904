"""Each node's own telemetry credential, in its own signed DLP and UEBA configs.

Configs are signed per policy version, credentials are per node: so a filter config that
carries a sink is compiled once per policy version with a placeholder token, and for each
node the placeholder is replaced by the node's derived token (`telemetry.nodes.derived_token`,
at the node's credential epoch, which rotating the credential moves on) and the result
signed. Compiling (matcher tables) is what is slow; one Ed25519 signature per node is cheap,
and the signed bytes are cached per (resource, node, epoch), so a push that changes nothing
for a node re-signs nothing for it.

The token is only ever put into the config of the node it was derived for; the node is
enrolled (its token's hash stored with its tenant and service) the first time it is served
one, so the collector accepts it like an issued token, and revoking the node refuses it.
"""

from __future__ import annotations

import secrets
import threading
from collections import OrderedDict
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import Generic, TypeVar

from sqlalchemy.orm import Session

from controlplane.policy.telemetry_sink import TelemetrySink
from controlplane.storage.tokens import hash_token
from controlplane.telemetry.nodes import (
    NODE_TOKEN_PREFIX,
    Enrolment,
    derived_token,
    rotated_epochs,
    service_of,
)
from controlplane.xds.node import NodeIdentity

NODE_RESOURCE_BYTES_MAX = 1 << 30
"""Signed per-node resources kept, in bytes (a DLP resource with its matcher tables takes
tens of KiB): 10,000 nodes with two resources each fit; beyond that the least recently
served are signed again when next needed."""
TOKEN_CHARS = len(derived_token(b"\0" * 32, "t", "n"))
CacheKey = tuple[int, str, str, int, str]
"""(serial, filter, module sha256, epoch, key id): what signed bytes depend on besides the node."""
NodeKey = tuple[CacheKey, str, int]
"""(template cache key, node id, the node's credential epoch)."""
Entry = TypeVar("Entry")


@dataclass(frozen=True)
class NodeSinkSettings:
    """How sidecars reach the collector (an Envoy cluster in their bootstrap), and the secret
    node tokens are derived from."""

    cluster: str
    authority: str | None
    secret: bytes
    unverified_nodes: bool = False
    """Also give credentials to xDS clients without a verified client certificate. Their
    node id is then only their own claim, so any client that reaches the xDS port could
    collect any node's credential: for tests and local demos only."""


@dataclass(frozen=True)
class NodeTemplate:
    """A resource's config compiled with `placeholder` where a node's token goes."""

    config: bytes
    placeholder: bytes
    cache_key: CacheKey

    def for_token(self, token: str) -> bytes:
        encoded = token.encode("ascii")
        assert len(encoded) == len(self.placeholder), "a node token has the placeholder's length"
        assert self.config.count(self.placeholder) == 1, "the placeholder occurs once in the config"
        # Same length, so the DLP config's header (which records the JSON's length) stays right.
        return self.config.replace(self.placeholder, encoded)


class NodeSink:
    """The placeholder sink templates are compiled with, and each node's credential."""

    def __init__(self, settings: NodeSinkSettings, enrol: Callable[[Enrolment], None]) -> None:
        self._settings = settings
        self._enrol = enrol
        # Random, so no policy text can contain it by chance or on purpose.
        self._placeholder = NODE_TOKEN_PREFIX + secrets.token_urlsafe(32)
        assert len(self._placeholder) == TOKEN_CHARS
        self._epochs: dict[str, int] = {}
        """Nodes whose credential was rotated; replaced whole, never changed in place, so the
        event loop reads it while the snapshot builder's thread loads the next one."""

    @property
    def unverified_nodes(self) -> bool:
        return self._settings.unverified_nodes

    def load_epochs(self, session: Session) -> None:
        """Reads the rotated credentials' epochs; part of each snapshot build, so a rotation
        (which moves the config generation on) reaches every replica."""
        self._epochs = rotated_epochs(session)

    def epoch_of(self, node: NodeIdentity) -> int:
        return self._epochs.get(node.node_id, 0)

    @property
    def placeholder(self) -> bytes:
        return self._placeholder.encode("ascii")

    def template_sink(self) -> TelemetrySink:
        return TelemetrySink(
            cluster=self._settings.cluster, token=self._placeholder, authority=self._settings.authority
        )

    def token_for(self, node: NodeIdentity, tenant: str, epoch: int = 0) -> str:
        """The node's token at `epoch`; enrols the node (the enroller skips what it already wrote)."""
        token = derived_token(self._settings.secret, tenant, node.node_id, epoch)
        self._enrol(Enrolment(node.node_id, tenant, service_of(node.node_id), hash_token(token), epoch))
        return token


class NodeResourceCache(Generic[Entry]):
    """Signed per-node resources by (template cache key, node id, credential epoch), bounded in bytes, least
    recently used dropped first. Filled from the event loop, pruned by the snapshot builder's
    thread, hence the lock."""

    def __init__(self, size_of: Callable[[Entry], int], max_bytes: int = NODE_RESOURCE_BYTES_MAX) -> None:
        self._entries: OrderedDict[NodeKey, Entry] = OrderedDict()
        self._size_of = size_of
        self._max_bytes = max_bytes
        self._bytes = 0
        self._lock = threading.Lock()

    def get(self, key: NodeKey) -> Entry | None:
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None:
                self._entries.move_to_end(key)
            return entry

    def put(self, key: NodeKey, value: Entry) -> None:
        with self._lock:
            previous = self._entries.pop(key, None)
            if previous is not None:
                self._bytes -= self._size_of(previous)
            self._entries[key] = value
            self._bytes += self._size_of(value)
            while self._bytes > self._max_bytes and len(self._entries) > 1:
                _, dropped = self._entries.popitem(last=False)
                self._bytes -= self._size_of(dropped)

    def retain(self, live: Collection[CacheKey]) -> None:
        """Drops the resources of templates no longer served (older versions, epochs, keys)."""
        with self._lock:
            for key in [key for key in self._entries if key[0] not in live]:
                self._bytes -= self._size_of(self._entries.pop(key))

    def __len__(self) -> int:
        return len(self._entries)
