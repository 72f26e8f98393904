"""The policy's `grpc.descriptor_set`: validated by compiling it (errors name the field and
carry the compiler's message), read from a file only when the policy came from one, and
compiled into the DLP and mask configs as the field table the walker reads."""

from __future__ import annotations

import base64
from pathlib import Path

import pytest
from google.protobuf import descriptor_pb2

from controlplane.policy.compile import FilterName, compile_filter_config
from controlplane.policy.errors import PolicyError
from controlplane.policy.filter_config import unpack
from controlplane.policy.grpc_field_table import build_field_table
from controlplane.policy.grpc_schema import FIELD_TABLE_BYTES_MAX
from controlplane.policy.load import load_policy

_FIELD = descriptor_pb2.FieldDescriptorProto


def descriptor_set(fields: int = 1) -> bytes:
    file = descriptor_pb2.FileDescriptorProto(name="shop.proto", package="shop", syntax="proto3")
    card = file.message_type.add(name="Card")
    for number in range(1, fields + 1):
        name = "number" if number == 1 else f"field_{number:04d}_" + "x" * 40
        card.field.add(name=name, number=number, type=_FIELD.TYPE_STRING, label=_FIELD.LABEL_OPTIONAL)
    file.service.add(name="Cards").method.add(name="Get", input_type=".shop.Card", output_type=".shop.Card")
    return descriptor_pb2.FileDescriptorSet(file=[file]).SerializeToString()


def policy_text(grpc: str) -> bytes:
    return (
        "api_version: meshveil.io/v1alpha1\n"
        "kind: DataProtectionPolicy\n"
        "name: cards\n"
        "tenant: shop\n"
        "targets: {workloads: [{namespace: shop}]}\n"
        f"grpc: {grpc}\n"
        "routes:\n"
        "  - name: cards\n"
        "    content_types: [application/grpc]\n"
        "    detectors: {credit-card: {mask: {type: partial}}}\n"
    ).encode()


def encoded(data: bytes) -> str:
    return base64.b64encode(data).decode()


def problems(text: bytes, base_dir: Path | None = None) -> list[str]:
    with pytest.raises(PolicyError) as caught:
        load_policy(text, "application/yaml", base_dir=base_dir)
    return [str(problem) for problem in caught.value.problems]


def test_a_base64_descriptor_set_compiles_into_both_filter_configs() -> None:
    raw = descriptor_set()
    policy = load_policy(policy_text(f"{{descriptor_set: {encoded(raw)}}}"), "application/yaml")
    expected = build_field_table(raw).encode()
    for name in (FilterName.DLP, FilterName.MASK):
        document, _ = unpack(compile_filter_config(policy, name))
        assert base64.b64decode(document["grpc_fields"]) == expected


def test_without_a_descriptor_set_configs_carry_no_field_table() -> None:
    text = policy_text("{descriptor_set: x}").replace(b"grpc: {descriptor_set: x}\n", b"")
    policy = load_policy(text, "application/yaml")
    assert policy.grpc is None
    assert "grpc_fields" not in unpack(compile_filter_config(policy, FilterName.DLP))[0]


@pytest.mark.parametrize(
    ("grpc", "message"),
    [
        ("{descriptor_set: 'not base64!'}", "grpc.descriptor_set: not base64"),
        (
            "{descriptor_set: " + encoded(b"\xff\xff") + "}",
            "grpc.descriptor_set: the descriptor set: not a FileDescriptorSet",
        ),
        ("{descriptor_set: ''}", "grpc.descriptor_set: must be at least 1 character"),
        ("{descriptor_set: AAAA, extra: 1}", "grpc.extra: unknown field"),
    ],
)
def test_a_bad_descriptor_set_is_refused_by_field(grpc: str, message: str) -> None:
    assert any(problem.startswith(message) for problem in problems(policy_text(grpc))), problems(
        policy_text(grpc)
    )


def test_a_set_without_services_is_refused_with_the_compilers_message() -> None:
    file = descriptor_pb2.FileDescriptorProto(name="empty.proto", package="shop")
    file.message_type.add(name="Lonely")
    raw = descriptor_pb2.FileDescriptorSet(file=[file]).SerializeToString()
    assert problems(policy_text(f"{{descriptor_set: {encoded(raw)}}}")) == [
        "grpc.descriptor_set: the descriptor set: the descriptor set defines no service methods"
    ]


def test_a_field_table_past_its_bound_is_refused() -> None:
    raw = descriptor_set(fields=4000)
    assert len(build_field_table(raw).encode()) > FIELD_TABLE_BYTES_MAX
    (problem,) = problems(policy_text(f"{{descriptor_set: {encoded(raw)}}}"))
    assert problem.startswith("grpc.descriptor_set: its field table takes ")
    assert f"over the bound of {FIELD_TABLE_BYTES_MAX}" in problem


def test_a_file_path_is_read_relative_to_the_policy_file(tmp_path: Path) -> None:
    (tmp_path / "protos").mkdir()
    (tmp_path / "protos" / "shop.pb").write_bytes(descriptor_set())
    text = policy_text("{descriptor_set_file: protos/shop.pb}")
    policy = load_policy(text, "application/yaml", base_dir=tmp_path)
    assert policy.grpc is not None
    assert policy.grpc.field_table() == build_field_table(descriptor_set()).encode()
    (missing,) = problems(policy_text("{descriptor_set_file: protos/none.pb}"), tmp_path)
    assert missing.startswith("grpc.descriptor_set_file: cannot read ")


def test_a_file_path_is_refused_where_there_is_no_file_system() -> None:
    (problem,) = problems(policy_text("{descriptor_set_file: protos/shop.pb}"))
    assert problem.startswith("grpc: descriptor_set_file is read only when the policy comes from a file")
    assert "give descriptor_set as base64" in problem


def test_replay_resolves_the_path_from_the_policy_files_directory(tmp_path: Path) -> None:
    from harness.replay.policy_chain import read_policy  # noqa: PLC0415

    (tmp_path / "shop.pb").write_bytes(descriptor_set())
    policy_file = tmp_path / "policy.yaml"
    policy_file.write_bytes(policy_text("{descriptor_set_file: shop.pb}"))
    policy = read_policy(policy_file)
    assert policy.grpc is not None and policy.grpc.field_table()[:4] == b"MVFT"
