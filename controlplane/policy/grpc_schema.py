"""The policy's `grpc` section: a descriptor set, so the filters name gRPC fields.

    grpc:
      descriptor_set: <base64 of a FileDescriptorSet>   # protoc --include_imports -o set.pb
      # or, when the policy is read from a file (meshveil replay --policy):
      descriptor_set_file: protos/shop.pb                 # relative to the policy file

Without it the protobuf walker names a finding's field by numbers (`4.1`); with it, by
name (`card.number`) for the methods the set defines. The set is compiled here, at
validation, into the field table the DLP and mask configs carry (grpc_field_table.py), so
a bad set is refused with the compiler's message under `grpc.descriptor_set`. A policy
sent over the REST API has no file system to read from: there the set travels as base64.
"""

from __future__ import annotations

import base64
import binascii
from pathlib import Path
from typing import Any

from pydantic import Field, PrivateAttr, field_validator, model_validator

from controlplane.policy.errors import FieldProblem, PolicyError
from controlplane.policy.fields import Strict
from controlplane.policy.grpc_field_table import FieldTableError, build_field_table

FIELD_TABLE_BYTES_MAX = 192 * 1024
"""Bound on the compiled field table. It rides base64-encoded (4/3 larger) in the DLP and
mask configs beside the matcher tables, inside the signed config's 512 KiB; a set past it
is refused at validation: compile one holding only the services the policy covers."""
DESCRIPTOR_SET_TEXT_MAX = 1024 * 1024
FILE_KEY = "descriptor_set_file"


class GrpcSchemas(Strict):
    descriptor_set: str = Field(min_length=1, max_length=DESCRIPTOR_SET_TEXT_MAX)
    """A serialised `google.protobuf.FileDescriptorSet`, base64 (standard alphabet)."""
    _field_table: bytes = PrivateAttr(default=b"")

    @model_validator(mode="before")
    @classmethod
    def _no_unresolved_path(cls, data: Any) -> Any:
        if isinstance(data, dict) and FILE_KEY in data:
            raise ValueError(
                f"{FILE_KEY} is read only when the policy comes from a file (meshveil replay "
                "--policy); elsewhere (the REST API) give descriptor_set as base64"
            )
        return data

    @field_validator("descriptor_set")
    @classmethod
    def _compiles(cls, text: str) -> str:
        compile_descriptor_set(text)
        return text

    @model_validator(mode="after")
    def _keep_table(self) -> GrpcSchemas:
        # Compiled once more here: a field validator cannot keep what it computed.
        self._field_table = compile_descriptor_set(self.descriptor_set)
        return self

    def field_table(self) -> bytes:
        """The compiled MVFT field table (filters/walkers/protobuf.zig reads it)."""
        return self._field_table


def compile_descriptor_set(text: str) -> bytes:
    """The field table of a base64 descriptor set; ValueError saying what is wrong."""
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError) as error:
        raise ValueError(f"not base64 ({error})") from error
    try:
        table = build_field_table(raw, "the descriptor set").encode()
    except FieldTableError as error:
        raise ValueError(str(error)) from error
    if len(table) > FIELD_TABLE_BYTES_MAX:
        raise ValueError(
            f"its field table takes {len(table)} bytes, over the bound of {FIELD_TABLE_BYTES_MAX}; "
            "give a set with only the services this policy covers"
        )
    return table


def resolve_descriptor_set_file(document: Any, base_dir: Path) -> Any:
    """`document` with `grpc.descriptor_set_file` (a path relative to `base_dir`) read and
    put in `grpc.descriptor_set` as base64; other documents come back as they are."""
    if not isinstance(document, dict) or not isinstance(document.get("grpc"), dict):
        return document
    section = dict(document["grpc"])
    if FILE_KEY not in section:
        return document
    where = f"grpc.{FILE_KEY}"
    if "descriptor_set" in section:
        raise PolicyError([FieldProblem(where, "give descriptor_set or descriptor_set_file, not both")])
    name = section.pop(FILE_KEY)
    if not isinstance(name, str) or not name:
        raise PolicyError([FieldProblem(where, "must be a path relative to the policy file")])
    path = base_dir / name
    try:
        raw = path.read_bytes()
    except OSError as error:
        raise PolicyError([FieldProblem(where, f"cannot read {path} ({error.strerror})")]) from error
    section["descriptor_set"] = base64.b64encode(raw).decode("ascii")
    return {**document, "grpc": section}
