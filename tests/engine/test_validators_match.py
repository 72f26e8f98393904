"""The Zig validators agree with the Python reference (controlplane/detectors/validators.py)
on every input: the known cases and generated values."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from controlplane.compiler.wasm_engine import DirectEngine, WasmEngineError
from controlplane.detectors.validators import VALIDATORS, ValidatorSpec, run_validator

# Values shaped like what each validator sees, plus arbitrary bytes.
ALPHABETS = {
    "digits": "0123456789 -.",
    "alnum": "0123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdef -",
    "ip": "0123456789abcdefABCDEF:.",
    "base58": "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz0",
    "base64": "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.",
}
KNOWN = [
    b"4111 1111 1111 1111", b"536-22-1234", b"912-70-1234", b"021000021", b"DE89 3704 0044 0532 0130 00",
    b"943 476 5919", b"AB123456C", b"1984-02-29", b"12345678Z", b"X1234567L", b"51 824 753 556",
    b"004 085 616", b"123 456 782", b"2123 45670 1", b"2345 6789 0124", b"44051401359", b"131052-308T",
    b"S1234567D", b"RSSMRA85T10A562S", b"1234567893", b"130 692 544", b"111222333", b"111.444.777-35",
    b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig", b"::ffff:192.0.2.1", b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2",
    b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq", b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9vL2nT8s", b"",
    "12\u00b2 4111".encode(), b"1::1.2.3.4", b"::1.2.3.4", b"1.2.3.4", b"e30", b"IHsiYWxnIjoxfQ",
]  # fmt: skip


def check(engine: DirectEngine, spec: ValidatorSpec, value: bytes, parameter: int = 0) -> None:
    expected = run_validator(spec.id, value, parameter)
    assert engine.validate(spec.id, value, parameter) is expected, (spec.name, value, parameter)


@pytest.mark.parametrize("spec", VALIDATORS, ids=[spec.name for spec in VALIDATORS])
def test_known_values_agree(direct_engine: DirectEngine, spec: ValidatorSpec) -> None:
    for value in KNOWN:
        check(direct_engine, spec, value, 3500)


@pytest.mark.parametrize("spec", VALIDATORS, ids=[spec.name for spec in VALIDATORS])
def test_generated_values_agree(direct_engine: DirectEngine, spec: ValidatorSpec) -> None:
    values = st.one_of(
        *(st.text(alphabet=alphabet, max_size=45).map(str.encode) for alphabet in ALPHABETS.values()),
        st.binary(max_size=40),
    )

    @settings(max_examples=150, deadline=None)
    @given(value=values, parameter=st.integers(0, 6000))
    def agree(value: bytes, parameter: int) -> None:
        check(direct_engine, spec, value, parameter)

    agree()


def test_unknown_validator_id_is_refused(direct_engine: DirectEngine) -> None:
    with pytest.raises(WasmEngineError, match="no validator 99"):
        direct_engine.validate(99, b"x")
