"""What a filter decides about a config bundle, in Python: the same checks, in the same
order and with the same reason codes as `filters/trust/` runs inside the module.

The control plane uses it to check a bundle before pushing it (`meshveil verify
--config`), and the tests compare its verdicts with the module's.

Reason codes: too_large, not_signed, bad_trust_statement, wrong_payload_type, malformed,
revoked_key, bad_signature, unknown_key, below_threshold, unlisted_signer, wrong_module,
wrong_plugin, wrong_target, not_yet_valid, expired, rollback, config_too_large.
"""

from __future__ import annotations

from dataclasses import dataclass

from controlplane.trust.config_statement import (
    BUNDLE_BYTES_MAX,
    CONFIG_PAYLOAD_TYPE,
    Bundle,
    ConfigStatement,
)
from controlplane.trust.errors import RefusedError, TrustError
from controlplane.trust.trust_root import STATEMENTS_PER_CONFIG_MAX
from controlplane.trust.trust_state import TrustState, apply_statement, statement_version

# A config issued this far in the future is still taken: clocks of sidecars drift.
CLOCK_SKEW_SECONDS = 60


@dataclass(frozen=True)
class FilterFacts:
    """What the filter knows about itself (compiled in) and learns from the host."""

    module_name: str
    build_id: str
    now: int
    node_id: str = ""
    namespace: str = ""
    workload: str = ""
    plugin_name: str | None = None
    """None when the host does not expose `plugin_name`; the plugin check is then skipped."""


@dataclass(frozen=True)
class VerifiedConfig:
    statement: ConfigStatement
    trust: TrustState
    signers: frozenset[str]


def verify_bundle(
    raw: bytes, trust: TrustState, facts: FilterFacts, last_version: int | None
) -> VerifiedConfig:
    if len(raw) > BUNDLE_BYTES_MAX:
        raise RefusedError(
            "too_large", f"the configuration is {len(raw)} bytes; at most {BUNDLE_BYTES_MAX} are read"
        )
    try:
        bundle = Bundle.from_bytes(raw)
    except TrustError as error:
        raise RefusedError(
            "not_signed", f"the configuration is not a signed meshveil bundle ({error})"
        ) from error
    trust = _apply_chain(trust, bundle)
    envelope = bundle.config
    if envelope.payload_type != CONFIG_PAYLOAD_TYPE:
        raise RefusedError("wrong_payload_type", f"the envelope's payload type is {envelope.payload_type!r}")
    signers = trust.verified_signers(envelope, "the config")
    try:
        statement = ConfigStatement.from_payload(envelope.payload, "config payload")
    except TrustError as error:
        raise RefusedError("malformed", str(error)) from error
    unlisted = sorted(signers - set(statement.key_ids))
    if unlisted:
        raise RefusedError("unlisted_signer", f"key {unlisted[0]} signed but the payload does not list it")
    _check_identity(statement, facts)
    _check_time(statement, facts.now)
    if last_version is not None and statement.version <= last_version:
        raise RefusedError(
            "rollback", f"version {statement.version} is not newer than the running {last_version}"
        )
    return VerifiedConfig(statement, trust, signers)


def _apply_chain(trust: TrustState, bundle: Bundle) -> TrustState:
    if len(bundle.trust) > STATEMENTS_PER_CONFIG_MAX:
        raise RefusedError(
            "bad_trust_statement",
            f"{len(bundle.trust)} trust statements; at most {STATEMENTS_PER_CONFIG_MAX}",
        )
    for envelope in bundle.trust:
        try:
            # Statements the filter already knows (compiled in or applied) are skipped unverified:
            # skipping grants nothing.
            if statement_version(envelope) <= trust.version:
                continue
            trust = apply_statement(trust, envelope)
        except TrustError as error:
            raise RefusedError("bad_trust_statement", f"trust statement refused: {error}") from error
    return trust


def _check_identity(statement: ConfigStatement, facts: FilterFacts) -> None:
    if statement.module.name != facts.module_name or statement.module.build_id != facts.build_id:
        raise RefusedError(
            "wrong_module",
            f"the config is for {statement.module.name} build {statement.module.build_id[:12]}, "
            f"this is {facts.module_name} build {facts.build_id[:12]}",
        )
    if facts.plugin_name is not None and statement.plugin != facts.plugin_name:
        raise RefusedError(
            "wrong_plugin", f"the config is for plugin {statement.plugin!r}, this is {facts.plugin_name!r}"
        )
    if not statement.targets.matches(facts.node_id, facts.namespace, facts.workload):
        raise RefusedError("wrong_target", "the config does not target this node or workload")


def _check_time(statement: ConfigStatement, now: int) -> None:
    if now + CLOCK_SKEW_SECONDS < statement.issued_at:
        raise RefusedError(
            "not_yet_valid", f"the config is issued at {statement.issued_at}, in the future (now {now})"
        )
    if now >= statement.expires:
        raise RefusedError("expired", f"the config expired at {statement.expires} (now {now})")
