"""The policy's `behaviour` section: what meshveil-ueba watches and what it does about it.

Names follow the filter's own config (filters/ueba/config.zig), so an error path such as
`behaviour.rules[0].detector` points at what the author typed and at what the filter
receives. Secrets never appear here: the identity hashing key is named by `identity_key_ref`
and looked up in the control plane's key material when the policy is compiled.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from controlplane.policy.fields import DetectorId, HeaderName, KeyRef, Strict, matches

# The filter's bounds (filters/ueba/limits.zig): a policy asking for more is refused here,
# with the field named, rather than by the filter at configure time.
SOURCES_MAX = 8
RULES_MAX = 16
BANDS_MAX = 8
NAME_BYTES_MAX = 64
ENTITIES_MAX = 65536
GROUPS_MAX = 4096
PROBES = 8
BATCH_EVENTS_MAX = 64
QUEUE_EVENTS_MAX = 1 << 20

_CLAIM = re.compile(r"^[A-Za-z0-9_.:-]{1,64}$")
_RULE_NAME = re.compile(r"^[a-z0-9]([-a-z0-9_.]{0,62}[a-z0-9])?$")

ClaimName = Annotated[str, matches(_CLAIM, "a JWT claim name (letters, digits, '_', '.', ':', '-')")]
RuleName = Annotated[str, matches(_RULE_NAME, "a rule name (lowercase letters, digits, '-', '_', '.')")]


class IdentitySourceKind(StrEnum):
    JWT_PAYLOAD_HEADER = "jwt_payload_header"
    """The JWT payload Istio's RequestAuthentication verified and forwarded (outputPayloadToHeader)."""
    BEARER_JWT = "bearer_jwt"
    """The payload of `Authorization: Bearer`, read but NOT verified (events say so)."""
    PEER_PRINCIPAL = "peer_principal"
    """The mTLS peer's principal (a SPIFFE id under Istio)."""
    API_KEY_HEADER = "api_key_header"
    """An API key header; only its keyed hash is kept."""
    SOURCE_IP = "source_ip"
    HEADER = "header"
    """Any other request header (unverified), hashed like the rest."""

    def needs_header(self) -> bool:
        return self in (
            IdentitySourceKind.JWT_PAYLOAD_HEADER,
            IdentitySourceKind.API_KEY_HEADER,
            IdentitySourceKind.HEADER,
        )

    def is_jwt(self) -> bool:
        return self in (IdentitySourceKind.JWT_PAYLOAD_HEADER, IdentitySourceKind.BEARER_JWT)


class IdentitySource(Strict):
    source: IdentitySourceKind
    header: HeaderName | None = None
    """The header it is read from: needed by jwt_payload_header, api_key_header and header."""
    claim: ClaimName | None = None
    """JWT sources: the claim naming the identity (default `sub`)."""

    @model_validator(mode="after")
    def _fits_the_kind(self) -> IdentitySource:
        kind = self.source
        if kind.needs_header() and self.header is None:
            raise ValueError(f"source {kind.value} needs a header")
        if not kind.needs_header() and self.header is not None:
            raise ValueError(f"source {kind.value} takes no header")
        if not kind.is_jwt() and self.claim is not None:
            raise ValueError(f"source {kind.value} takes no claim (only JWT sources do)")
        return self


class Feature(StrEnum):
    REQUESTS = "requests"
    RESPONSE_BYTES = "response_bytes"
    FINDINGS = "findings"
    ERRORS = "errors"
    ENDPOINTS = "endpoints"
    HOUR_OF_DAY = "hour_of_day"


class BehaviourAction(StrEnum):
    """Ordered: each includes the ones before (a block is also recorded and tagged)."""

    RECORD = "record"
    """Count it and send an anomaly event."""
    TAG = "tag"
    """Also name the anomaly in the response's tag header."""
    THROTTLE = "throttle"
    """Also answer 429 with Retry-After, now and for throttle_seconds."""
    BLOCK = "block"
    """Also answer 403, now and for block_seconds."""


class ScoreBand(Strict):
    min_score: float = Field(gt=0, le=1000)
    """Anomaly score (standard deviations from the identity's baseline) the band starts at."""
    action: BehaviourAction


class ThresholdRule(Strict):
    """e.g. "more than 500 card numbers per hour": counted over a sliding window."""

    name: RuleName
    feature: Literal["requests", "response_bytes", "findings", "errors"]
    detector: DetectorId | None = None
    """findings only: the detector counted (as the policy's routes name it); none counts all."""
    threshold: int = Field(ge=1, le=10**15)
    window_seconds: int = Field(default=3600, ge=1, le=7 * 86400)
    action: BehaviourAction = BehaviourAction.BLOCK

    @model_validator(mode="after")
    def _detector_counts_findings(self) -> ThresholdRule:
        if self.detector is not None and self.feature != "findings":
            raise ValueError("only a findings rule names a detector")
        return self


class MinStddev(Strict):
    """Floors under each baseline's standard deviation, so a very regular identity is not
    flagged for a tiny change."""

    requests: float = Field(default=2, gt=0)
    response_bytes: float = Field(default=4096, gt=0)
    findings: float = Field(default=2, gt=0)
    errors: float = Field(default=1, gt=0)
    endpoints: float = Field(default=2, gt=0)


class EventDelivery(Strict):
    """How the filter batches its events to the control plane's collector."""

    batch_events: int = Field(default=32, ge=1, le=BATCH_EVENTS_MAX)
    queue_events_max: int = Field(default=1024, ge=1, le=QUEUE_EVENTS_MAX)
    """Events held while the collector is unreachable; more are dropped (and counted)."""
    timeout_ms: int = Field(default=5000, ge=1, le=600_000)
    backoff_initial_ms: int = Field(default=1000, ge=1, le=3_600_000)
    backoff_max_ms: int = Field(default=60_000, ge=1, le=3_600_000)
    max_attempts: int = Field(default=20, ge=0, le=1_000_000)
    """Attempts per batch before its events are dropped and counted; 0: no limit."""
    include_path: bool = False
    """Send the request path with each event (paths can carry identifiers)."""

    @model_validator(mode="after")
    def _bounds_are_ordered(self) -> EventDelivery:
        if self.queue_events_max < self.batch_events:
            raise ValueError("queue_events_max must be at least batch_events")
        if self.backoff_max_ms < self.backoff_initial_ms:
            raise ValueError("backoff_max_ms must be at least backoff_initial_ms")
        return self


DEFAULT_ENTITY_SOURCES = (
    IdentitySource(source=IdentitySourceKind.BEARER_JWT),
    IdentitySource(source=IdentitySourceKind.PEER_PRINCIPAL),
    IdentitySource(source=IdentitySourceKind.SOURCE_IP),
)
DEFAULT_BANDS = (
    ScoreBand(min_score=4, action=BehaviourAction.RECORD),
    ScoreBand(min_score=6, action=BehaviourAction.TAG),
    ScoreBand(min_score=10, action=BehaviourAction.THROTTLE),
    ScoreBand(min_score=20, action=BehaviourAction.BLOCK),
)
_LEGACY_ACTIONS = {"alert": BehaviourAction.RECORD}


class Behaviour(Strict):
    """Per-identity behaviour analytics (the meshveil-ueba filter)."""

    enabled: bool = False
    identity_key_ref: KeyRef = "behaviour-identity-key"
    """The control plane's key that identities are hashed under (HMAC-SHA-256)."""
    entity_sources: tuple[IdentitySource, ...] = Field(
        default=DEFAULT_ENTITY_SOURCES, min_length=1, max_length=SOURCES_MAX
    )
    """Where a request's identity comes from; the first that yields a value wins."""
    group_sources: tuple[IdentitySource, ...] = Field(default=(), max_length=SOURCES_MAX)
    """The peer group a new identity is compared with (e.g. the calling service account)."""
    reveal_identities: tuple[IdentitySourceKind, ...] = Field(default=(), max_length=6)
    """Identity kinds whose raw value may reach telemetry; the others travel hashed only."""
    identity_header: HeaderName | None = None
    """Shorthand: a request header read (unverified) before entity_sources."""
    tag_header: HeaderName = "x-meshveil-ueba"
    window_seconds: int = Field(default=60, ge=1, le=86400)
    warmup_windows: int = Field(default=10, ge=1, le=100_000)
    """Windows an identity is watched before its own baseline scores it."""
    ewma_alpha: float = Field(default=0.1, gt=0, le=1)
    max_entities: int = Field(default=4096, ge=PROBES, le=ENTITIES_MAX)
    max_groups: int = Field(default=256, ge=PROBES, le=GROUPS_MAX)
    entity_ttl_seconds: int = Field(default=7 * 86400, ge=1, le=366 * 86400)
    score_features: tuple[Feature, ...] = Field(default=tuple(Feature), max_length=6)
    min_stddev: MinStddev = MinStddev()
    bands: tuple[ScoreBand, ...] | None = Field(default=None, min_length=1, max_length=BANDS_MAX)
    """What each anomaly score does; default: record at 4, tag at 6, throttle at 10, block at 20."""
    anomaly_threshold: float | None = Field(default=None, ge=1.0, le=100.0)
    """Shorthand for one band: the score that counts as anomalous, with `action`."""
    action: Literal["alert", "record", "tag", "throttle", "block"] | None = None
    rules: tuple[ThresholdRule, ...] = Field(default=(), max_length=RULES_MAX)
    throttle_seconds: int = Field(default=60, ge=1, le=86400)
    block_seconds: int = Field(default=300, ge=1, le=7 * 86400)
    event_interval_seconds: int = Field(default=60, ge=0, le=86400)
    """Least time between two anomaly events about one identity."""

    @model_validator(mode="after")
    def _consistent(self) -> Behaviour:
        if self.bands is not None and (self.anomaly_threshold is not None or self.action is not None):
            raise ValueError("give either bands or anomaly_threshold with action, not both")
        if self.bands is not None:
            for index in range(1, len(self.bands)):
                if self.bands[index].min_score <= self.bands[index - 1].min_score:
                    raise ValueError(f"bands[{index}].min_score: must be above the band before it")
        names = [rule.name for rule in self.rules]
        for index, name in enumerate(names):
            if name in names[:index]:
                raise ValueError(f"rules[{index}].name: {name!r} is used by an earlier rule")
        if self.entity_ttl_seconds < self.window_seconds:
            raise ValueError("entity_ttl_seconds: must be at least window_seconds")
        if self.identity_header is not None and len(self.entity_sources) >= SOURCES_MAX:
            raise ValueError(f"identity_header and entity_sources together list more than {SOURCES_MAX}")
        return self

    def score_bands(self) -> tuple[ScoreBand, ...]:
        """The bands the filter applies: as listed, from the shorthand, or the defaults."""
        if self.bands is not None:
            return self.bands
        if self.anomaly_threshold is None and self.action is None:
            return DEFAULT_BANDS
        named = self.action or "record"
        action = _LEGACY_ACTIONS[named] if named in _LEGACY_ACTIONS else BehaviourAction(named)
        return (ScoreBand(min_score=self.anomaly_threshold or 4.0, action=action),)

    def identity_sources(self) -> tuple[IdentitySource, ...]:
        if self.identity_header is None:
            return self.entity_sources
        header = IdentitySource(source=IdentitySourceKind.HEADER, header=self.identity_header)
        return (header, *self.entity_sources)
