"""The policy document, as pydantic v2 models.

A platform team writes one policy per set of workloads: which routes to protect (path
glob, method, host), in which directions and content types, which detectors to run with
what thresholds, what to do with a finding (block / alert / tag, and how to mask it),
how bodies are handled (streaming or buffered, gzip) and what happens when a filter
fails. Field names are snake_case in YAML too, so an error path
(`routes[2].detectors.credit_card.threshold`) is exactly what the author typed.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

API_VERSION = "meshveil.io/v1alpha1"
KIND = "DataProtectionPolicy"

_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?$")
_DETECTOR_ID = re.compile(r"^[a-z][a-z0-9_-]{0,63}$")
_PATH_GLOB = re.compile(r"^/[A-Za-z0-9._~!$&'()*+,;=:@%/-]*$")
_HOST_GLOB = re.compile(r"^(\*|(\*\.)?[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?)(:[0-9]{1,5})?$")
_MEDIA_RANGE = re.compile(r"^([a-z0-9][a-z0-9!#$&^_.+-]{0,126})/(\*|[a-z0-9][a-z0-9!#$&^_.+-]{0,126})$")
_HEADER_NAME = re.compile(r"^[a-z0-9!#$%&'*+.^_`|~-]{1,128}$")
_LABEL_KEY = re.compile(
    r"^([a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?/)?[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?$"
)
_LABEL_VALUE = re.compile(r"^([A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?)?$")
_KEY_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")

MAX_ROUTES = 256
MAX_DETECTORS_PER_ROUTE = 128
MAX_BUFFER_BYTES_CEILING = 64 * 1024 * 1024


def _matches(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


DnsLabel = Annotated[str, _matches(_DNS_LABEL, "a DNS label (lowercase letters, digits, '-'; at most 63)")]
DetectorId = Annotated[
    str, _matches(_DETECTOR_ID, "a detector id (lowercase letters, digits, '-', '_'; starting with a letter)")
]
PathGlob = Annotated[str, _matches(_PATH_GLOB, "a path glob starting with '/' ('*' one segment, '**' any)")]
HostGlob = Annotated[str, _matches(_HOST_GLOB, "a lowercase host name, optionally '*.' prefixed or ':port'")]
MediaRange = Annotated[
    str, _matches(_MEDIA_RANGE, "a lowercase media type like 'application/json' or 'text/*'")
]
HeaderName = Annotated[str, _matches(_HEADER_NAME, "a lowercase HTTP header name")]
LabelKey = Annotated[str, _matches(_LABEL_KEY, "a Kubernetes label key")]
LabelValue = Annotated[str, _matches(_LABEL_VALUE, "a Kubernetes label value")]
KeyRef = Annotated[str, _matches(_KEY_REF, "a key reference (letters, digits, '.', '_', '-'; at most 64)")]


class _Strict(BaseModel):
    """Unknown fields are errors: a typo must not silently turn protection off."""

    model_config = ConfigDict(extra="forbid", frozen=True)


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


class PartialMask(_Strict):
    type: Literal["partial"]
    character: str = Field(default="*", min_length=1, max_length=1)
    keep_first: int = Field(default=0, ge=0, le=64)
    keep_last: int = Field(default=4, ge=0, le=64)


class RedactMask(_Strict):
    type: Literal["redact"]
    placeholder: str | None = Field(default=None, min_length=1, max_length=64)
    """Written in place of the value; by default `[REDACTED:<ENTITY>]` (e.g. CREDIT_CARD)."""


class HashMask(_Strict):
    """Keyed hash token: HMAC-SHA-256 of the value, truncated; joinable, not reversible."""

    type: Literal["hash"]
    key_ref: KeyRef
    """Name of the tenant's token key; the key itself never appears in a policy."""
    truncate_bytes: int = Field(default=16, ge=8, le=32)
    prefix: str = Field(default="tok_", max_length=16)


class FormatPreservingMask(_Strict):
    """Replace each character by one of the same class (digit, letter), keyed and stable."""

    type: Literal["format_preserving"]
    key_ref: KeyRef
    keep_last: int = Field(default=0, ge=0, le=64)


class DropFieldMask(_Strict):
    """Remove the JSON field (or form field) holding the value; buffered bodies only."""

    type: Literal["drop_field"]


MaskAction = Annotated[
    PartialMask | RedactMask | HashMask | FormatPreservingMask | DropFieldMask, Field(discriminator="type")
]


class DetectorRule(_Strict):
    enabled: bool = True
    threshold: int = Field(default=1, ge=1, le=1_000_000)
    """Findings in one message before `action` fires (e.g. block at more than 10 card numbers)."""
    min_confidence: float = Field(default=0.5, ge=0.0, le=1.0)
    action: DetectorAction = DetectorAction.ALERT
    mask: MaskAction | None = None


class RouteMatch(_Strict):
    paths: tuple[PathGlob, ...] = Field(default=("/**",), min_length=1, max_length=64)
    methods: tuple[HttpMethod, ...] = Field(default=(), max_length=7)
    """Empty matches every method."""
    hosts: tuple[HostGlob, ...] = Field(default=(), max_length=64)
    """Empty matches every host (`:authority`)."""


class BodyHandling(_Strict):
    mode: BodyMode = BodyMode.STREAMING
    max_buffer_bytes: int = Field(default=1024 * 1024, ge=1024, le=MAX_BUFFER_BYTES_CEILING)
    on_overflow: OverflowAction = OverflowAction.BLOCK
    scan_numbers: bool = False
    """Scan JSON numbers (and protobuf varints) too: for card or account numbers sent as numbers."""


class Route(_Strict):
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


class WorkloadSelector(_Strict):
    namespace: DnsLabel
    labels: dict[LabelKey, LabelValue] = Field(default_factory=dict, max_length=32)
    """Every label must match; empty selects the whole namespace."""
    service_account: DnsLabel | None = None
    """Matches the SPIFFE id's service account when the sidecar connects over mTLS."""


class Targets(_Strict):
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


class Behaviour(_Strict):
    """Per-identity behaviour analytics (the ueba filter)."""

    enabled: bool = False
    identity_header: HeaderName = "x-user-id"
    anomaly_threshold: float = Field(default=4.0, ge=1.0, le=100.0)
    """Score (in standard deviations from the identity's baseline) that counts as anomalous."""
    action: Literal["alert", "tag", "throttle", "block"] = "alert"


class FindingsTelemetry(_Strict):
    """What the DLP filter's finding events may carry besides detector, count and location."""

    fingerprint_key_ref: KeyRef | None = None
    """Name of the tenant's key for a keyed fingerprint (HMAC-SHA-256) of each found value, so
    analysts can correlate findings without seeing them; none: events carry no fingerprint."""


class Policy(_Strict):
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

    @model_validator(mode="after")
    def _route_names_are_unique(self) -> Policy:
        seen: set[str] = set()
        for index, route in enumerate(self.routes):
            if route.name in seen:
                raise ValueError(f"routes[{index}].name: {route.name!r} is used by an earlier route")
            seen.add(route.name)
        return self

    def detector_ids(self) -> frozenset[str]:
        return frozenset(detector for route in self.routes for detector in route.detectors)
