"""Field types the policy's sections share: validated strings (DNS labels, globs, header
names, key references) and the strict base model."""

from __future__ import annotations

import re
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict

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


def matches(pattern: re.Pattern[str], what: str) -> AfterValidator:
    def check(value: str) -> str:
        if not pattern.match(value):
            raise ValueError(f"must be {what}")
        return value

    return AfterValidator(check)


DnsLabel = Annotated[str, matches(_DNS_LABEL, "a DNS label (lowercase letters, digits, '-'; at most 63)")]
DetectorId = Annotated[
    str, matches(_DETECTOR_ID, "a detector id (lowercase letters, digits, '-', '_'; starting with a letter)")
]
PathGlob = Annotated[str, matches(_PATH_GLOB, "a path glob starting with '/' ('*' one segment, '**' any)")]
HostGlob = Annotated[str, matches(_HOST_GLOB, "a lowercase host name, optionally '*.' prefixed or ':port'")]
MediaRange = Annotated[
    str, matches(_MEDIA_RANGE, "a lowercase media type like 'application/json' or 'text/*'")
]
HeaderName = Annotated[str, matches(_HEADER_NAME, "a lowercase HTTP header name")]
LabelKey = Annotated[str, matches(_LABEL_KEY, "a Kubernetes label key")]
LabelValue = Annotated[str, matches(_LABEL_VALUE, "a Kubernetes label value")]
KeyRef = Annotated[str, matches(_KEY_REF, "a key reference (letters, digits, '.', '_', '-'; at most 64)")]


class Strict(BaseModel):
    """Unknown fields are errors: a typo must not silently turn protection off."""

    model_config = ConfigDict(extra="forbid", frozen=True)
