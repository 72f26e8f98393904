"""The wire contract of POST /v1/telemetry (docs/telemetry.md) as pydantic models.

Unknown fields are dropped rather than refused: a newer filter may add fields, and what
the collector does not know it must not store (it could be a value nobody vetted). Every
string is bounded, so a batch cannot make a row larger than its columns.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

SCHEMA = "meshveil.telemetry.v1"
EVENTS_PER_BATCH_MAX = 1024
FINDINGS_PER_EVENT_MAX = 32
REASONS_PER_EVENT_MAX = 32
FINGERPRINTS_PER_FINDING_MAX = 8
LOCATIONS_PER_FINDING_MAX = 16

Token = Annotated[str, StringConstraints(pattern=r"^[A-Za-z0-9._:~-]{1,64}$")]
"""Ids the filters make up (event and batch ids, hashes): no spaces, no markup."""
Name = Annotated[str, StringConstraints(max_length=128)]
HexId = Annotated[str, StringConstraints(pattern=r"^[0-9a-f]{8,64}$")]
UnixMillis = Annotated[int, Field(gt=0, lt=1 << 53)]
Count = Annotated[int, Field(ge=0, le=(1 << 31) - 1)]
Decimal = Annotated[float, Field(ge=-1e12, le=1e12, allow_inf_nan=False)]

IdentityKind = Literal[
    "jwt_payload_header", "bearer_jwt", "peer_principal", "api_key_header", "source_ip", "header"
]
AnomalyAction = Literal["record", "tag", "throttle", "block"]
FindingAction = Literal["below_threshold", "alert", "tag", "block", "masked"]
Feature = Literal["requests", "response_bytes", "findings", "errors", "endpoints", "hour_of_day"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Identity(_Wire):
    kind: IdentityKind
    id: HexId
    """HMAC-SHA-256 of the identity under the policy's key."""
    verified: bool
    value: Annotated[str, StringConstraints(max_length=128)] | None = None
    """Only for kinds the policy lists in `reveal_identities`."""


class RequestFacts(_Wire):
    id: Annotated[str, StringConstraints(max_length=128)] = ""
    method: Annotated[str, StringConstraints(max_length=16)] = ""
    endpoint: HexId | None = None
    path: Annotated[str, StringConstraints(max_length=1024)] | None = None
    route: Name = ""
    status: Annotated[int, Field(ge=0, le=999)] = 0


class Baseline(_Wire):
    scope: Literal["entity", "group"]
    mean: Decimal
    stddev: Decimal
    windows: Count


class ZscoreReason(_Wire):
    kind: Literal["zscore"]
    feature: Feature
    value: Decimal
    z: Decimal
    baseline: Baseline


class HourReason(_Wire):
    kind: Literal["hour_of_day"]
    hour_utc: Annotated[int, Field(ge=0, le=23)]
    share: Decimal
    z: Decimal


class RuleReason(_Wire):
    kind: Literal["rule"]
    rule: Name
    feature: Feature
    detector: Name | None = None
    value: Decimal
    threshold: Decimal
    window_seconds: Count
    action: AnomalyAction


Reason = Annotated[ZscoreReason | HourReason | RuleReason, Field(discriminator="kind")]


class Window(_Wire):
    start_unix_s: Annotated[int, Field(ge=0)]
    seconds: Count
    requests: Decimal
    response_bytes: Decimal
    findings: Decimal
    errors: Decimal
    endpoints: Decimal


class _Event(_Wire):
    event_id: Token
    """Unique per node and VM start; the sender stamps it, and keeps it across retries."""
    time_unix_ms: UnixMillis
    module: Name
    plugin: Name = ""
    """The plugin name Envoy gave the filter; the batch's when the event has none."""
    request: RequestFacts = RequestFacts()
    entity: Identity | None = None
    group: Identity | None = None
    enforced: bool = False


class AnomalyEvent(_Event):
    """meshveil-ueba: an identity behaving unlike its baseline (or over a rule)."""

    type: Literal["anomaly"]
    entity: Identity
    score: Annotated[float, Field(ge=0, le=1e9, allow_inf_nan=False)]
    action: AnomalyAction
    reasons: list[Reason] = Field(default_factory=list, max_length=REASONS_PER_EVENT_MAX)
    window: Window | None = None

    def rule_detector(self) -> str | None:
        """The detector of the first rule that fired on it, if any counted findings."""
        return next(
            (
                reason.detector
                for reason in self.reasons
                if isinstance(reason, RuleReason) and reason.detector
            ),
            None,
        )


class FindingLocation(_Wire):
    """Where in a message a detector's values were: the JSON path (array indexes folded,
    `$.cards[*].number`), form field or header name, with how many were there."""

    where: Literal["body", "header", "query", "cookie"] = "body"
    path: Annotated[str, StringConstraints(max_length=256)] | None = None
    count: Annotated[int, Field(ge=1, le=(1 << 31) - 1)]
    fingerprints: list[HexId] = Field(default_factory=list, max_length=FINGERPRINTS_PER_FINDING_MAX)
    """Keyed fingerprints (HMAC) of the values, to correlate without seeing them."""
    masked_sample: Annotated[str, StringConstraints(max_length=128)] | None = None
    """One value as the policy masks it, when the sender has it; vetted again here."""


class DetectorFindings(_Wire):
    detector: Name
    entity: Name | None = None
    """The detector's entity type (e.g. CREDIT_CARD)."""
    count: Annotated[int, Field(ge=1, le=(1 << 31) - 1)]
    action: FindingAction = "alert"
    """What the rule did with the message: below_threshold, alert, tag, block or masked."""
    locations: list[FindingLocation] = Field(default_factory=list, max_length=LOCATIONS_PER_FINDING_MAX)


class FindingEvent(_Event):
    """meshveil-dlp (filters/pipeline/events.zig): what one request or response was found
    to hold, by detector, with a few locations each."""

    type: Literal["finding"]
    route: Name = ""
    direction: Literal["request", "response"]
    policy: Name | None = None
    tenant: Name | None = None
    """The tenant the filter's policy names; the node's credential decides where events go."""
    findings: list[DetectorFindings] = Field(min_length=1, max_length=FINDINGS_PER_EVENT_MAX)
    unsampled: Count = 0
    """Findings counted beyond the locations the filter kept."""
    truncated: bool = False
    """The event ran out of room and carries counts without locations."""

    @property
    def route_name(self) -> str:
        return self.route or self.request.route


Event = Annotated[AnomalyEvent | FindingEvent, Field(discriminator="type")]


class BatchEnvelope(_Wire):
    """The batch without its events, which are validated one by one so that one bad event
    does not cost the others."""

    schema_: Literal["meshveil.telemetry.v1"] = Field(alias="schema")
    batch_id: Token
    module: Name
    plugin: Name = ""
    node: Annotated[str, StringConstraints(min_length=1, max_length=256)]
    created_unix_ms: UnixMillis | None = None
    dropped: Count = 0
    events: list[dict[str, object]] = Field(min_length=1, max_length=EVENTS_PER_BATCH_MAX)
