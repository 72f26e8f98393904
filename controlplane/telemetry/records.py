"""From validated wire events to stored rows (`StoredRow`, in the table's column order).

An anomaly event is one row. A finding event is one row per finding (detector and
location), numbered by `part`, so "findings by detector" is a plain GROUP BY and a
drill-down still shows the whole event (every row carries it in `detail`, as JSON text
the validated model wrote: only known fields, no unvetted masked sample).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import NamedTuple

from controlplane.telemetry.wire import (
    AnomalyEvent,
    DetectorFindings,
    FindingEvent,
    FindingLocation,
    Identity,
)

MASK_CHARACTERS = frozenset("*#Xx•")
_REDACTION_LABEL = re.compile(r"^\[[A-Z0-9_:. -]{1,62}\]$")
# A keyed-hash token as the mask filter writes it: a prefix ("tok_") and hex. Without the
# prefix a "token" could be a raw card number (all digits are hex), so it must be there.
_HASH_TOKEN = re.compile(r"^[A-Za-z][A-Za-z0-9]{0,14}_[0-9a-f]{16,64}$")
_SPIFFE = re.compile(r"^spiffe://[^/]+/ns/(?P<namespace>[^/]+)/sa/(?P<account>[^/]+)$")


@dataclass(frozen=True)
class Origin:
    """Who sent the batch, as its credential (not the batch) says."""

    node_ref: int
    tenant: str
    service: str
    received_ms: int
    plugin: str = ""
    """The batch's plugin, for events that do not name theirs."""


def masked_sample_or_none(sample: str | None) -> str | None:
    """The sample if it visibly hides its value: a redaction label, a keyed-hash token
    with its prefix, or at least half mask characters. Anything else could be a raw value a filter let
    slip, and is not stored."""
    if not sample:
        return None
    if _REDACTION_LABEL.match(sample) or _HASH_TOKEN.match(sample):
        return sample
    masked = sum(1 for character in sample if character in MASK_CHARACTERS)
    return sample if masked * 2 >= len(sample) else None


def peer_of(group: Identity | None, entity: Identity | None) -> str | None:
    """A readable name of the other side: a revealed SPIFFE id as `namespace/account`, a
    revealed value as is, else the keyed id of the group (never an unrevealed value)."""
    if group is not None and group.value:
        return _readable(group.value)
    if entity is not None and entity.kind == "peer_principal" and entity.value:
        return _readable(entity.value)
    if group is not None:
        return f"group:{group.id[:12]}"
    return None


@lru_cache(maxsize=4096)
def _readable(value: str) -> str:
    match = _SPIFFE.match(value)
    return f"{match['namespace']}/{match['account']}" if match else value


class StoredRow(NamedTuple):
    """One row of `telemetry_events` (every column but `id`), in column order, so a batch
    flattens straight into the INSERT's parameters."""

    tenant: str
    node_ref: int
    event_id: str
    part: int
    type: str
    time_ms: int
    received_ms: int
    module: str
    plugin: str
    service: str
    peer: str | None
    direction: str | None
    route: str | None
    method: str | None
    status: int | None
    request_id: str | None
    action: str
    enforced: bool
    detector: str | None
    findings: int
    score: float | None
    location_kind: str | None
    location: str | None
    masked_sample: str | None
    fingerprints: str | None
    identity_kind: str | None
    identity: str | None
    detail: str
    """The validated event as JSON text."""


def anomaly_rows(event: AnomalyEvent, origin: Origin) -> list[StoredRow]:
    request = event.request
    identity = event.entity
    findings = round(event.window.findings) if event.window is not None else 0
    return [
        StoredRow(
            origin.tenant,
            origin.node_ref,
            event.event_id,
            0,
            "anomaly",
            event.time_unix_ms,
            origin.received_ms,
            event.module,
            event.plugin or origin.plugin,
            origin.service,
            peer_of(event.group, identity),
            None,
            request.route or None,
            request.method or None,
            request.status or None,
            request.id or None,
            event.action,
            event.enforced,
            event.rule_detector(),
            max(0, findings),
            event.score,
            None,
            None,
            None,
            None,
            identity.kind,
            identity.id,
            event.model_dump_json(exclude_none=True),
        )
    ]


@dataclass(frozen=True)
class _Part:
    """One row's worth of a finding event: a detector at one location (or the rest of
    its count, where the filter kept no location)."""

    finding: DetectorFindings
    count: int
    location: FindingLocation | None


def finding_rows(event: FindingEvent, origin: Origin) -> tuple[list[StoredRow], int]:
    """The rows, and how many masked samples were left out as not visibly masked."""
    vetted, withheld = _vetted(event)
    detail = vetted.model_dump_json(exclude_none=True)
    request = event.request
    identity = event.entity
    peer = peer_of(event.group, identity)
    rows = [
        StoredRow(
            origin.tenant,
            origin.node_ref,
            event.event_id,
            index,
            "finding",
            event.time_unix_ms,
            origin.received_ms,
            event.module,
            event.plugin or origin.plugin,
            origin.service,
            peer,
            event.direction,
            event.route_name or None,
            request.method or None,
            request.status or None,
            request.id or None,
            part.finding.action,
            event.enforced,
            part.finding.detector,
            part.count,
            None,
            part.location.where if part.location else None,
            part.location.path if part.location else None,
            part.location.masked_sample if part.location else None,
            " ".join(part.location.fingerprints) or None if part.location else None,
            identity.kind if identity is not None else None,
            identity.id if identity is not None else None,
            detail,
        )
        for index, part in enumerate(_parts(vetted))
    ]
    return rows, withheld


def _parts(event: FindingEvent) -> list[_Part]:
    """Every location of every detector, then, per detector, what its locations do not
    account for, so the rows' counts add up to the event's."""
    parts = []
    for finding in event.findings:
        located = 0
        for location in finding.locations:
            parts.append(_Part(finding, location.count, location))
            located += location.count
        if finding.count > located:
            parts.append(_Part(finding, finding.count - located, None))
    return parts


def _vetted(event: FindingEvent) -> tuple[FindingEvent, int]:
    """The event with every masked sample that does not visibly hide its value removed,
    and how many were removed."""
    withheld = 0
    findings = []
    for finding in event.findings:
        locations = []
        for location in finding.locations:
            sample = masked_sample_or_none(location.masked_sample)
            if sample != location.masked_sample:
                withheld += 1
                location = location.model_copy(update={"masked_sample": sample})  # noqa: PLW2901 - replaced on purpose
            locations.append(location)
        findings.append(finding.model_copy(update={"locations": locations}) if withheld else finding)
    if not withheld:
        return event, 0
    return event.model_copy(update={"findings": findings}), withheld
