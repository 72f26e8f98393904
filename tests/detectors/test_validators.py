"""The reference validators on known-good and known-bad values."""

from __future__ import annotations

import math

import pytest

from controlplane.detectors import validators
from controlplane.detectors.validators import VALIDATORS, VALIDATORS_BY_NAME, log2_q16

CASES = [
    ("luhn", [b"4111 1111 1111 1111", b"5500-0000-0000-0004", b"378282246310005"],
     [b"4111 1111 1111 1112", b"0000 0000 0000 0000", b"4111-1111 1111-1111"]),
    ("us_ssn", [b"536-22-1234", b"078 05 1121"],
     [b"000-12-3456", b"666-12-3456", b"900-12-3456", b"536-00-1234", b"536-22-0000", b"123-45-6789",
      b"111-11-1111", b"536-22.1234"]),
    ("us_itin", [b"912-70-1234", b"900-94-0000"], [b"912-40-1234", b"812-70-1234", b"912-93-1234"]),
    ("aba_routing", [b"021000021", b"011000015", b"0110-0001-5"], [b"021000022", b"991000021", b"000000000"]),
    ("iban", [b"DE89 3704 0044 0532 0130 00", b"GB82WEST12345698765432", b"NO9386011117947"],
     [b"GB82WEST12345698765431", b"DE89 3704 0044 0532 0130", b"XX82WEST12345698765432"]),
    ("uk_nhs", [b"943 476 5919", b"9434765919"], [b"943 476 5918", b"1111111111"]),
    ("uk_nino", [b"AB123456C", b"JG 10 37 59 A"], [b"GB123456A", b"QQ123456C", b"AB123456E", b"AO123456A"]),
    ("calendar_date", [b"1984-02-29", b"12/31/1990", b"31.12.1990"],
     [b"1985-02-29", b"2024-13-01", b"1899-01-01"]),
    ("es_nif", [b"12345678Z"], [b"12345678A"]),
    ("es_nie", [b"X1234567L"], [b"X1234567A"]),
    ("au_abn", [b"51 824 753 556"], [b"51 824 753 557"]),
    ("au_acn", [b"004 085 616"], [b"004 085 617"]),
    ("au_tfn", [b"123 456 782"], [b"123 456 789"]),
    ("au_medicare", [b"2123 45670 1"], [b"2123 45671 1", b"7123 45670 1"]),
    ("in_aadhaar", [b"2345 6789 0124"], [b"2345 6789 0125", b"1345 6789 0124"]),
    ("pl_pesel", [b"44051401359"], [b"44051401358"]),
    ("fi_hetu", [b"131052-308T"], [b"131052-308U", b"131352-308T"]),
    ("sg_nric", [b"S1234567D"], [b"S1234567E"]),
    ("it_fiscal_code", [b"RSSMRA85T10A562S"], [b"RSSMRA85T10A562T"]),
    ("us_npi", [b"1234567893"], [b"1234567890"]),
    ("ca_sin", [b"130 692 544"], [b"130 692 545", b"046 454 286"]),
    ("nl_bsn", [b"111222333"], [b"111222334"]),
    ("br_cpf", [b"111.444.777-35"], [b"111.444.777-36", b"111.111.111-11"]),
    ("jwt", [b"eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.sig"],
     [b"eyJub3QiOiJhIn0.eyJzdWIiOiIxIn0.sig", b"e.x.y"]),
    ("ipv6", [b"2001:db8::1", b"::ffff:192.0.2.1", b"1:2:3:4:5:6:7:8"], [b"1:2:3", b"1::2::3", b"12345::1"]),
    ("bitcoin_address", [b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN2", b"3J98t1WpEZ73CNmQviecrnyiWrnqRhWNLy",
                         b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdq"],
     [b"1BvBMSEYstWetqTFn5Au4m4GFg7xJaNVN3", b"bc1qar0srrr7xfkvy5l643lydnw9re59gtzzwf5mdr"]),
]  # fmt: skip


@pytest.mark.parametrize(("name", "good", "bad"), CASES, ids=[case[0] for case in CASES])
def test_validator_accepts_known_good_and_rejects_known_bad(
    name: str, good: list[bytes], bad: list[bytes]
) -> None:
    function = VALIDATORS_BY_NAME[name].function
    for value in good:
        assert function(value, 0), value
    for value in bad:
        assert not function(value, 0), value


def test_every_validator_is_covered_and_ids_are_stable() -> None:
    assert {case[0] for case in CASES} | {"entropy"} == {spec.name for spec in VALIDATORS}
    assert [spec.id for spec in VALIDATORS] == list(range(1, len(VALIDATORS) + 1))
    assert VALIDATORS_BY_NAME["luhn"].id == 1 and VALIDATORS_BY_NAME["bitcoin_address"].id == 27


def test_entropy_threshold_in_thousandths_of_a_bit() -> None:
    assert validators.entropy(b"abcdefgh", 3000)  # exactly 3 bits per byte
    assert not validators.entropy(b"abcdefgh", 3001)
    assert not validators.entropy(b"aaaaaaaaaaaaaaaaaaaa", 1)
    assert validators.entropy(b"wJalrXUtnFEMI/K7MDENG/bPxRfiCYzQ9vL2nT8s", 4000)


@pytest.mark.parametrize("value", [1, 2, 3, 10, 255, 1000, 4096, 65535])
def test_fixed_point_log2_is_within_its_resolution(value: int) -> None:
    assert abs(log2_q16(value) / 65536 - math.log2(value)) < 2 / 65536
