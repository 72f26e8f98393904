"""The trust root file (`keys.pub`): the first trust state and every statement since.

    {"schema": "meshveil.trust-root/v1",
     "root": {"version": 1, "threshold": 2, "keys": [...], "revoked": []},
     "statements": [<DSSE trust statement for version 2>, ...]}

Loading verifies the whole chain, so the current state is never taken on faith. `meshveil
build --trust-root` compiles the current state into the filters; configs then carry the
statements newer than the state a module was built with.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from controlplane.trust.dsse import Envelope
from controlplane.trust.encoding import read_input, require, require_keys, strict_json_object
from controlplane.trust.errors import TrustError
from controlplane.trust.trust_state import TrustState, apply_statement

TRUST_ROOT_SCHEMA = "meshveil.trust-root/v1"
DEFAULT_TRUST_ROOT_NAME = "keys.pub"
# The filter applies at most this many statements from one config; older builds need a rebuild.
STATEMENTS_PER_CONFIG_MAX = 8


@dataclass(frozen=True)
class TrustRoot:
    root: TrustState
    statements: tuple[Envelope, ...] = ()

    @property
    def current(self) -> TrustState:
        state = self.root
        for envelope in self.statements:
            state = apply_statement(state, envelope)
        return state

    def states(self) -> list[TrustState]:
        """Every state from the first to the current one."""
        found = [self.root]
        for envelope in self.statements:
            found.append(apply_statement(found[-1], envelope))
        return found

    def statements_after(self, version: int) -> tuple[Envelope, ...]:
        """What a filter compiled with trust `version` needs to reach the current state."""
        if version < self.root.version or version > self.root.version + len(self.statements):
            raise TrustError(f"trust version {version} is not in this trust root's history")
        needed = self.statements[version - self.root.version :]
        if len(needed) > STATEMENTS_PER_CONFIG_MAX:
            raise TrustError(
                f"a module built with trust version {version} needs {len(needed)} statements, more than the "
                f"{STATEMENTS_PER_CONFIG_MAX} a config may carry; rebuild it with the current trust root"
            )
        return needed

    def appended(self, envelope: Envelope) -> TrustRoot:
        updated = TrustRoot(self.root, (*self.statements, envelope))
        updated.current  # noqa: B018 - verifies the new statement against the chain
        return updated

    def to_json(self) -> dict[str, Any]:
        return {
            "schema": TRUST_ROOT_SCHEMA,
            "root": self.root.to_json(),
            "statements": [envelope.to_json() for envelope in self.statements],
        }

    @classmethod
    def from_json(cls, raw: bytes, source: str) -> TrustRoot:
        document = strict_json_object(raw, source)
        require_keys(document, {"schema", "root", "statements"}, source)
        schema = require(document, "schema", str, source)
        if schema != TRUST_ROOT_SCHEMA:
            raise TrustError(f"{source}: schema {schema!r} is not {TRUST_ROOT_SCHEMA!r}")
        root = TrustState.from_json(require(document, "root", dict, source), f"{source} root")
        statements = tuple(
            Envelope.from_json(item, f"{source} statement {index}")
            for index, item in enumerate(require(document, "statements", list, source))
        )
        trust_root = cls(root, statements)
        try:
            trust_root.current  # noqa: B018 - a root whose chain does not verify is unusable
        except TrustError as error:
            raise TrustError(f"{source}: {error}") from error
        return trust_root

    @classmethod
    def load(cls, path: Path) -> TrustRoot:
        return cls.from_json(read_input(path, "trust root"), str(path))

    def save(self, path: Path) -> None:
        temporary = path.with_name(path.name + ".partial")
        temporary.write_text(json.dumps(self.to_json(), indent=2) + "\n")
        temporary.replace(path)
