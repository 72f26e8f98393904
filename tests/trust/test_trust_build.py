"""`meshveil build --trust-root`: anchors compiled in, a build id that names the build, and
byte-identical output for the same inputs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from controlplane.cli import main
from controlplane.modules.build import BuiltModule
from controlplane.modules.capabilities import CAPABILITIES_SECTION
from controlplane.modules.wasm_binary import parse, without_custom_sections
from controlplane.trust.admission import AdmissionRequest, assess_module
from controlplane.trust.anchors import BUILD_ID_PLACEHOLDER, build_id_of
from controlplane.trust.build_info import BUILD_SECTION, read_build_info
from controlplane.trust.module_signing import ClaimRequest, sign_with_claims
from controlplane.trust.policy import EnvironmentPolicy
from controlplane.trust.trust_root import TrustRoot
from tests.trust.conftest import NOW, KeyRing

FILTERS = ("meshveil-dlp", "meshveil-mask", "meshveil-ueba")


def test_cli_build_with_trust_root_is_reproducible(
    trusted_modules: dict[str, BuiltModule],
    trust_root_path: Path,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["build", "--out", str(tmp_path), "--trust-root", str(trust_root_path)]) == 0
    assert "config verification: on, trust version 1" in capsys.readouterr().out
    for name in FILTERS:
        assert (tmp_path / f"{name}.wasm").read_bytes() == trusted_modules[name].path.read_bytes(), name
    report = {
        entry["name"]: entry for entry in json.loads((tmp_path / "modules.json").read_text())["modules"]
    }
    assert report["meshveil-dlp"]["trust_version"] == 1
    assert report["meshveil-dlp"]["build_id"] == trusted_modules["meshveil-dlp"].build_id


def test_build_record_names_the_module_and_its_trust(
    trusted_modules: dict[str, BuiltModule], built_modules: dict[str, BuiltModule]
) -> None:
    trusted = read_build_info(parse(trusted_modules["meshveil-mask"].path.read_bytes()))
    plain = read_build_info(parse(built_modules["meshveil-mask"].path.read_bytes()))
    assert trusted is not None and plain is not None
    assert trusted.module == "meshveil-mask" and trusted.trust_version == 1 and trusted.verifies_configs
    assert plain.trust_version is None and not plain.verifies_configs
    # The trust root is part of the build's identity: configs for one build do not fit the other.
    assert trusted.build_id != plain.build_id and len(trusted.build_id) == 64


def test_build_id_is_the_hash_of_the_compiled_module(trusted_modules: dict[str, BuiltModule]) -> None:
    module = trusted_modules["meshveil-dlp"]
    data = module.path.read_bytes()
    assert BUILD_ID_PLACEHOLDER not in data
    code = without_custom_sections(data, {CAPABILITIES_SECTION, BUILD_SECTION})
    assert build_id_of(code, module.build_id)
    # Any other module's id does not fit this one.
    assert not build_id_of(code, trusted_modules["meshveil-mask"].build_id)


def test_the_compiled_keys_are_in_the_module(
    trusted_modules: dict[str, BuiltModule], trust_root: TrustRoot
) -> None:
    data = trusted_modules["meshveil-dlp"].path.read_bytes()
    for key in trust_root.current.keys:
        assert key.raw in data


def test_prod_policy_admits_only_modules_that_verify_configs(
    trusted_modules: dict[str, BuiltModule],
    built_modules: dict[str, BuiltModule],
    key_ring: KeyRing,
    trust_root: TrustRoot,
) -> None:
    prod = EnvironmentPolicy("prod", ("release-1",), require_config_verification=True)
    request = AdmissionRequest(trust_root.current, NOW, prod)

    def reasons(module: BuiltModule) -> set[str]:
        signed = sign_with_claims(
            module.path.read_bytes(), key_ring["release-1"], request=ClaimRequest(now=NOW)
        )
        return {refusal.reason for refusal in assess_module(signed.signed.module, request).refusals}

    assert reasons(trusted_modules["meshveil-dlp"]) == set()
    assert reasons(built_modules["meshveil-dlp"]) == {"config_unverified"}
