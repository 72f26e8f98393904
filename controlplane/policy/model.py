"""The policy document, as pydantic v2 models.

A platform team writes one policy per set of workloads: which routes to protect (path
glob, method, host), in which directions and content types, which detectors to run with
what thresholds, what to do with a finding (block / alert / tag, and how to mask it),
how bodies are handled (streaming or buffered, gzip) and what happens when a filter
fails. Field names are snake_case in YAML too, so an error path
(`routes[2].detectors.credit_card.threshold`) is exactly what the author typed.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Annotated, Literal

from pydantic import Field, model_validator

from controlplane.policy.behaviour import Behaviour, EventDelivery
from controlplane.policy.fields import (
    DetectorId,
    DnsLabel,
    HostGlob,
    KeyRef,
    LabelKey,
    LabelValue,
    MediaRange,
    PathGlob,
    Strict,
)
from controlplane.policy.grpc_schema import GrpcSchemas

API_VERSION = "meshveil.io/v1alpha1"
KIND = "DataProtectionPolicy"

MAX_ROUTES = 256
MAX_DETECTORS_PER_ROUTE = 128
MAX_BUFFER_BYTES_CEILING = 64 * 1024 * 1024


class Direction(StrEnum):
    REQUEST = "request"
    RESPONSE = "response"


class HttpMethod(StrEnum):
    GET = "GET"
    HEAD = "HEAD"
    POST = "POST"
    PUT = "PUT"
    PATCH = "PATCH"
    DELETE = "DELETE"
    OPTIONS = "OPTIONS"


class FailureMode(StrEnum):
    """What Envoy does with traffic when the filter fails (Envoy's failure_policy)."""

    FAIL_OPEN = "fail_open"
    FAIL_CLOSED = "fail_closed"


class DetectorAction(StrEnum):
    BLOCK = "block"
    ALERT = "alert"
    TAG = "tag"


class BodyMode(StrEnum):
    STREAMING = "streaming"
    """Scan chunk by chunk with a held-back tail; bounded memory, any body size."""
    BUFFERED = "buffered"
    """Hold the body up to max_buffer_bytes and scan it whole (needed to drop JSON fields)."""


class OverflowAction(StrEnum):
    """What a buffered route does with a body larger than max_buffer_bytes."""

    BLOCK = "block"
    STREAM = "stream"
    """Fall back to streaming scan for the rest; masking that needs the whole body is skipped and reported."""


class GzipHandling(StrEnum):
    DECODE = "decode"
    BLOCK = "block"
    PASS_AND_ALERT = "pass_and_alert"  # noqa: S105 - an option name
    """Let it through unscanned, but say so in telemetry: never silently."""


class PartialMask(Strict):
    type: Literal["partial"]
    character: str = Field(default="*", min_length=1, max_length=1)
    keep_first: int = Field(default=0, ge=0, le=64)
    keep_last: int = Field(default=4, ge=0, le=64)


class RedactMask(Strict):
    type: Literal["redact"]
    placeholder: str | None = Field(default=None, min_length=1, max_length=64)
    """Written in place of the value; by default `[REDACTED:<ENTITY>]` (e.g. CREDIT_CARD)."""


class HashMask(Strict):
    """Keyed hash token: HMAC-SHA-256 of the value, truncated; joinable, not reversible."""

    type: Literal["hash"]
    key_ref: KeyRef
    """Name of the tenant's token key; the key itself never appears in a policy."""
    truncate_bytes: int = Field(default=16, ge=8, le=32)
    prefix: str = Field(default="tok_", max_length=16)


class FormatPreservingMask(Strict):
    """Replace each character by one of the same class (digit, letter), keyed and stable."""

    type: Literal["format_preserving"]
    key_ref: KeyRef
    keep_last: int = Field(default=0, ge=0, le=64)


class DropFieldMask(Strict):
    """Remove the JSON field (or form field) holding the value; buffered bodies only."""

    type: Literal["drop_field"]


MaskAction = Annotated[
    PartialMask | RedactMask | HashMask | FormatPreservingMask | DropFieldMask, Field(discriminator="type")
]


class DetectorRule(Strict):
    enabled: bool = True
    threshold: int = Field(default=1, ge=1, le=1_000_000)
    """Findings in one message before `action` fires (e.g. block at more than 10 card numbers)."""
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    action: DetectorAction = DetectorAction.ALERT
    mask: MaskAction | None = None


class RouteMatch(Strict):
    paths: tuple[PathGlob, ...] = Field(default=("/**",), min_length=1, max_length=64)
    methods: tuple[HttpMethod, ...] = Field(default=(), max_length=7)
    """Empty matches every method."""
    hosts: tuple[HostGlob, ...] = Field(default=(), max_length=64)
    """Empty matches every host (`:authority`)."""


class BodyHandling(Strict):
    mode: BodyMode = BodyMode.STREAMING
    max_buffer_bytes: int = Field(default=1024 * 1024, ge=1024, le=MAX_BUFFER_BYTES_CEILING)
    on_overflow: OverflowAction = OverflowAction.BLOCK
    scan_numbers: bool = False
    """Scan JSON numbers (and protobuf varints) too: for card or account numbers sent as numbers."""


class Route(Strict):
    name: DnsLabel
    match: RouteMatch = RouteMatch()
    directions: tuple[Direction, ...] = Field(default=(Direction.REQUEST, Direction.RESPONSE), min_length=1)
    content_types: tuple[MediaRange, ...] = Field(
        default=("application/json", "application/x-www-form-urlencoded", "text/*"),
        min_length=1,
        max_length=32,
    )
    body: BodyHandling = BodyHandling()
    gzip: GzipHandling = GzipHandling.DECODE
    detectors: dict[DetectorId, DetectorRule] = Field(min_length=1, max_length=MAX_DETECTORS_PER_ROUTE)

    @model_validator(mode="after")
    def _drop_field_needs_a_buffer(self) -> Route:
        dropping = sorted(
            name for name, rule in self.detectors.items() if isinstance(rule.mask, DropFieldMask)
        )
        if dropping and self.body.mode is not BodyMode.BUFFERED:
            raise ValueError(f"detectors {', '.join(dropping)} drop fields, which needs body.mode: buffered")
        return self


class WorkloadSelector(Strict):
    namespace: DnsLabel
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=32)
    """Every label must match; empty selects the whole namespace."""
    service_account: DnsLabel | None = None
    """Matches the SPIFFE id's service account when the sidecar connects over mTLS."""


class Targets(Strict):
    workloads: tuple[WorkloadSelector, ...] = Field(default=(), max_length=64)
    """At most 64 nodes and 64 workloads: the signed config's bounds."""
    nodes: tuple[Annotated[str, Field(min_length=1, max_length=256)], ...] = Field(
        default=(), max_length=1024
    )
    """Envoy node ids, for pinning a policy to particular sidecars."""

    @model_validator(mode="after")
    def _selects_something(self) -> Targets:
        if not self.workloads and not self.nodes:
            raise ValueError("must name at least one workload or node")
        return self

    def namespaces(self) -> frozenset[str]:
        return frozenset(selector.namespace for selector in self.workloads)


class FindingsTelemetry(Strict):
    """What the DLP filter's finding events may carry besides detector, count and location."""

    fingerprint_key_ref: KeyRef | None = None
    """Name of the tenant's key for a keyed fingerprint (HMAC-SHA-256) of each found value, so
    analysts can correlate findings without seeing them; none: events carry no fingerprint."""
    delivery: EventDelivery = EventDelivery()
    """How the filters batch their finding and anomaly events to the collector."""


class Policy(Strict):
    api_version: Literal["meshveil.io/v1alpha1"]
    kind: Literal["DataProtectionPolicy"]
    name: DnsLabel
    tenant: DnsLabel
    description: str = Field(default="", max_length=2000)
    priority: int = Field(default=0, ge=-1000, le=1000)
    """When several policies of a tenant select one workload, the highest priority wins."""
    targets: Targets
    failure: FailureMode = FailureMode.FAIL_CLOSED
    routes: tuple[Route, ...] = Field(min_length=1, max_length=MAX_ROUTES)
    behaviour: Behaviour = Behaviour()
    telemetry: FindingsTelemetry = FindingsTelemetry()
    grpc: GrpcSchemas | None = None
    """A descriptor set naming gRPC fields in findings (grpc_schema.py); none: field numbers."""

    @model_validator(mode="after")
    def _route_names_are_unique(self) -> Policy:
        seen: set[str] = set()
        for index, route in enumerate(self.routes):
            if route.name in seen:
                raise ValueError(f"routes[{index}].name: {route.name!r} is used by an earlier route")
            seen.add(route.name)
        return self

    @model_validator(mode="after")
    def _behaviour_rules_count_enabled_detectors(self) -> Policy:
        # The DLP filter reports findings under the routes' detector ids; a rule naming any
        # other id would never count anything.
        enabled = {name for route in self.routes for name, rule in route.detectors.items() if rule.enabled}
        for index, rule in enumerate(self.behaviour.rules):
            if rule.detector is not None and rule.detector not in enabled:
                raise ValueError(
                    f"behaviour.rules[{index}].detector: {rule.detector!r} is not enabled on any route"
                )
        return self

    def detector_ids(self) -> frozenset[str]:
        return frozenset(detector for route in self.routes for detector in route.detectors)
