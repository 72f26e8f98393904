"""YAML or JSON text to a validated `Policy`, with every problem named by its field path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic_core import ErrorDetails

from controlplane.policy.detector_ids import DetectorCatalog, check_detector_ids
from controlplane.policy.errors import FieldProblem, PolicyError, join_path
from controlplane.policy.grpc_schema import resolve_descriptor_set_file
from controlplane.policy.model import Policy

YAML_MEDIA_TYPES = frozenset({"application/yaml", "application/x-yaml", "text/yaml", "text/x-yaml"})
JSON_MEDIA_TYPES = frozenset({"application/json"})
MAX_DOCUMENT_BYTES = 1024 * 1024


# libyaml's parser when PyYAML has it: the pure-Python one dominates a policy apply.
class _UniqueKeyLoader(yaml.CSafeLoader if yaml.__with_libyaml__ else yaml.SafeLoader):  # type: ignore[misc]
    """SafeLoader that refuses duplicate keys instead of keeping the last one silently."""


def _construct_mapping(
    loader: _UniqueKeyLoader, node: yaml.MappingNode, deep: bool = False
) -> dict[Any, Any]:
    mapping: dict[Any, Any] = {}
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=deep)
        if key in mapping:
            mark = key_node.start_mark
            raise yaml.constructor.ConstructorError(
                None, None, f"duplicate key {key!r} (line {mark.line + 1})", mark
            )
        mapping[key] = loader.construct_object(value_node, deep=deep)
    return mapping


_UniqueKeyLoader.add_constructor(yaml.resolver.BaseResolver.DEFAULT_MAPPING_TAG, _construct_mapping)


def parse_document(text: bytes, media_type: str) -> Any:
    """The raw document (before validation); `media_type` picks YAML or JSON."""
    if len(text) > MAX_DOCUMENT_BYTES:
        raise PolicyError([FieldProblem("", f"document is larger than {MAX_DOCUMENT_BYTES} bytes")])
    media = media_type.split(";", 1)[0].strip().lower()
    try:
        decoded = text.decode("utf-8")
    except UnicodeDecodeError as error:
        raise PolicyError([FieldProblem("", f"not UTF-8 text (byte {error.start})")]) from error
    if media in JSON_MEDIA_TYPES:
        try:
            return json.loads(decoded, object_pairs_hook=_refuse_duplicate_json_keys)
        except json.JSONDecodeError as error:
            message = f"not valid JSON: {error.msg} (line {error.lineno}, column {error.colno})"
            raise PolicyError([FieldProblem("", message)]) from error
        except _DuplicateKeyError as error:
            raise PolicyError([FieldProblem("", f"not valid JSON: {error}")]) from error
    if media in YAML_MEDIA_TYPES:
        try:
            return yaml.load(decoded, Loader=_UniqueKeyLoader)  # noqa: S506 - a SafeLoader subclass
        except yaml.YAMLError as error:
            raise PolicyError([FieldProblem("", f"not valid YAML: {_yaml_reason(error)}")]) from error
    supported = ", ".join(sorted(YAML_MEDIA_TYPES | JSON_MEDIA_TYPES))
    raise PolicyError([FieldProblem("", f"unsupported media type {media!r}; send one of {supported}")])


def validate_document(document: Any, catalog: DetectorCatalog | None = None) -> Policy:
    if not isinstance(document, dict):
        raise PolicyError([FieldProblem("", "a policy must be a mapping (YAML) or an object (JSON)")])
    try:
        policy = Policy.model_validate(document)
    except ValidationError as error:
        raise PolicyError([_problem(detail) for detail in error.errors()]) from error
    if catalog is not None:
        problems = check_detector_ids(policy, catalog)
        if problems:
            raise PolicyError(problems)
    return policy


def load_policy(
    text: bytes, media_type: str, catalog: DetectorCatalog | None = None, base_dir: Path | None = None
) -> Policy:
    """`base_dir`: the policy was read from a file there, so paths in it (a gRPC descriptor
    set) are resolved; without it (the REST API) they are refused."""
    document = parse_document(text, media_type)
    if base_dir is not None:
        document = resolve_descriptor_set_file(document, base_dir)
    return validate_document(document, catalog)


class _DuplicateKeyError(ValueError):
    pass


def _refuse_duplicate_json_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    document: dict[str, Any] = {}
    for key, value in pairs:
        if key in document:
            raise _DuplicateKeyError(f"duplicate key {key!r}")
        document[key] = value
    return document


def _yaml_reason(error: yaml.YAMLError) -> str:
    if isinstance(error, yaml.MarkedYAMLError) and error.problem_mark is not None:
        mark = error.problem_mark
        return f"{error.problem} (line {mark.line + 1}, column {mark.column + 1})"
    return str(error).splitlines()[0]


def _problem(detail: ErrorDetails) -> FieldProblem:
    location = [part for part in detail["loc"] if part != "[key]"]
    # A discriminated union adds the tag ("partial") to the location; the author never typed it.
    location = [part for index, part in enumerate(location) if not _is_union_tag(location, index)]
    return FieldProblem(join_path(location), _message(detail))


def _is_union_tag(location: list[str | int], index: int) -> bool:
    return index > 0 and location[index - 1] == "mask" and location[index] in _MASK_TYPES


_MASK_TYPES = frozenset({"partial", "redact", "hash", "format_preserving", "drop_field"})


def _message(detail: ErrorDetails) -> str:
    kind = detail["type"]
    context = detail.get("ctx", {})
    messages = {
        "missing": "is required",
        "extra_forbidden": "unknown field",
        "greater_than_equal": f"must be >= {context.get('ge')}",
        "less_than_equal": f"must be <= {context.get('le')}",
        "greater_than": f"must be > {context.get('gt')}",
        "less_than": f"must be < {context.get('lt')}",
        "literal_error": f"must be {context.get('expected')}",
        "enum": f"must be one of {context.get('expected')}",
        "union_tag_invalid": f"type must be one of {context.get('expected_tags')}",
        "union_tag_not_found": "needs a 'type' field",
        "too_short": f"must have at least {context.get('min_length')} item(s)",
        "too_long": f"must have at most {context.get('max_length')} item(s)",
        "string_too_short": f"must be at least {context.get('min_length')} character(s)",
        "string_too_long": f"must be at most {context.get('max_length')} character(s)",
    }
    if kind in messages:
        return messages[kind]
    message = detail["msg"]
    return message.removeprefix("Value error, ")[:1].lower() + message.removeprefix("Value error, ")[1:]
