"""Reference implementations of the validators the engine runs on candidate matches.

Each takes the matched bytes (separators included) and the detector's integer parameter
and says whether the candidate is real. The Zig engine's validators must agree with these
on every input; ids are part of the table format, so they never change meaning.
Integer arithmetic only (entropy uses a fixed-point log2) so both sides agree exactly.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass


def digits_of(value: bytes) -> list[int]:
    return [byte - 0x30 for byte in value if 0x30 <= byte <= 0x39]


def _separators(value: bytes) -> set[int]:
    return {byte for byte in value if not _is_ascii_alnum(byte)}


def _is_ascii_alnum(byte: int) -> bool:
    return 0x30 <= byte <= 0x39 or 0x41 <= byte <= 0x5A or 0x61 <= byte <= 0x7A


def _alnum_upper(value: bytes) -> bytes:
    """The ASCII letters and digits of a value, letters upper-cased (other bytes dropped)."""
    return bytes(byte & ~0x20 if 0x61 <= byte <= 0x7A else byte for byte in value if _is_ascii_alnum(byte))


def luhn_ok(digits: list[int]) -> bool:
    total = 0
    for index, digit in enumerate(reversed(digits)):
        doubled = digit * 2 if index % 2 == 1 else digit
        total += doubled - 9 if doubled > 9 else doubled
    return total % 10 == 0


def luhn(value: bytes, parameter: int) -> bool:
    """Payment cards: 12-19 digits, one kind of separator at most, Luhn, not all one digit."""
    digits = digits_of(value)
    if not 12 <= len(digits) <= 19 or len(_separators(value)) > 1:
        return False
    return len(set(digits)) > 1 and luhn_ok(digits)


def us_ssn(value: bytes, parameter: int) -> bool:
    """SSA rules: area not 000, 666 or 9xx; group not 00; serial not 0000; known samples out."""
    digits = digits_of(value)
    if len(digits) != 9 or len(_separators(value)) > 1 or len(set(digits)) == 1:
        return False
    text = "".join(map(str, digits))
    area, group, serial = text[:3], text[3:5], text[5:]
    if area in ("000", "666") or area[0] == "9" or group == "00" or serial == "0000":
        return False
    return text not in ("123456789", "078051120", "219099999")


def us_itin(value: bytes, parameter: int) -> bool:
    """IRS: 9xx-[50-65|70-88|90-92|94-99]-xxxx."""
    digits = digits_of(value)
    if len(digits) != 9 or digits[0] != 9 or len(_separators(value)) > 1:
        return False
    group = digits[3] * 10 + digits[4]
    return 50 <= group <= 65 or 70 <= group <= 88 or 90 <= group <= 92 or 94 <= group <= 99


def aba_routing(value: bytes, parameter: int) -> bool:
    """Federal Reserve prefixes and the 3-7-1 checksum."""
    digits = digits_of(value)
    if len(digits) != 9:
        return False
    prefix = digits[0] * 10 + digits[1]
    if not (prefix <= 12 or 21 <= prefix <= 32 or 61 <= prefix <= 72 or prefix == 80):
        return False
    weights = (3, 7, 1) * 3
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 10 == 0 and len(set(digits)) > 1


IBAN_LENGTHS = {
    "AD": 24, "AE": 23, "AL": 28, "AT": 20, "AZ": 28, "BA": 20, "BE": 16, "BG": 22, "BH": 22, "BR": 29,
    "BY": 28, "CH": 21, "CR": 22, "CY": 28, "CZ": 24, "DE": 22, "DK": 18, "DO": 28, "EE": 20, "EG": 29,
    "ES": 24, "FI": 18, "FO": 18, "FR": 27, "GB": 22, "GE": 22, "GI": 23, "GL": 18, "GR": 27, "GT": 28,
    "HR": 21, "HU": 28, "IE": 22, "IL": 23, "IQ": 23, "IS": 26, "IT": 27, "JO": 30, "KW": 30, "KZ": 20,
    "LB": 28, "LC": 32, "LI": 21, "LT": 20, "LU": 20, "LV": 21, "MC": 27, "MD": 24, "ME": 22, "MK": 19,
    "MR": 27, "MT": 31, "MU": 30, "NL": 18, "NO": 15, "PK": 24, "PL": 28, "PS": 29, "PT": 25, "QA": 29,
    "RO": 24, "RS": 22, "SA": 24, "SC": 31, "SE": 24, "SI": 19, "SK": 24, "SM": 27, "ST": 25, "SV": 28,
    "TL": 23, "TN": 24, "TR": 26, "UA": 29, "VA": 22, "VG": 24, "XK": 20,
}  # fmt: skip


def iban(value: bytes, parameter: int) -> bool:
    """ISO 13616: the country's length and check digits that make the number 1 mod 97."""
    text = _alnum_upper(value).decode()
    if IBAN_LENGTHS.get(text[:2]) != len(text) or not text[2:4].isdigit():
        return False
    remainder = 0
    for char in text[4:] + text[:4]:
        for digit in str(int(char, 36)):
            remainder = (remainder * 10 + int(digit)) % 97
    return remainder == 1


def uk_nhs(value: bytes, parameter: int) -> bool:
    """Modulus 11 with weights 10..2; a check value of 10 is never issued."""
    digits = digits_of(value)
    if len(digits) != 10 or len(set(digits)) == 1:
        return False
    check = 11 - sum(d * w for d, w in zip(digits[:9], range(10, 1, -1), strict=True)) % 11
    check = 0 if check == 11 else check
    return check != 10 and check == digits[9]


def uk_nino(value: bytes, parameter: int) -> bool:
    """HMRC prefix rules: no D F I Q U V, no O second, not BG GB KN NK NT TN ZZ; suffix A-D."""
    text = _alnum_upper(value).decode()
    if len(text) != 9 or not text[2:8].isdigit() or text[8] not in "ABCD":
        return False
    first, second = text[0], text[1]
    if first in "DFIQUV" or second in "DFIQUVO" or not (first.isalpha() and second.isalpha()):
        return False
    return text[:2] not in ("BG", "GB", "KN", "NK", "NT", "TN", "ZZ")


def log2_q16(value: int) -> int:
    """log2(value) in 16.16 fixed point by repeated squaring: integer steps only."""
    assert value >= 1
    integer = value.bit_length() - 1
    mantissa = (value << 30) >> integer
    fraction = 0
    for _ in range(16):
        mantissa = (mantissa * mantissa) >> 30
        fraction <<= 1
        if mantissa >= 1 << 31:
            mantissa >>= 1
            fraction |= 1
    return (integer << 16) | fraction


def entropy(value: bytes, parameter: int) -> bool:
    """Shannon entropy of the byte distribution at least `parameter` thousandths of a bit per byte."""
    count = len(value)
    if count == 0:
        return False
    spread = count * log2_q16(count) - sum(c * log2_q16(c) for c in Counter(value).values())
    return spread * 1000 >= parameter * 65536 * count


_DAYS_IN_MONTH = (31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def _valid_date(year: int, month: int, day: int) -> bool:
    if not (1900 <= year <= 2099 and 1 <= month <= 12 and 1 <= day <= _DAYS_IN_MONTH[month - 1]):
        return False
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    return not (month == 2 and day == 29 and not leap)


def _number_groups(value: bytes) -> list[tuple[int, int]]:
    """(value, digit count) of each run of ASCII digits."""
    groups: list[tuple[int, int]] = []
    number, length = 0, 0
    for byte in (*value, 0):
        if 0x30 <= byte <= 0x39:
            number, length = number * 10 + byte - 0x30, length + 1
        elif length:
            groups.append((number, length))
            number, length = 0, 0
    return groups


def calendar_date(value: bytes, parameter: int) -> bool:
    """A real date: year first (Y-M-D) or last (M/D/Y or D/M/Y), years 1900-2099."""
    groups = _number_groups(value)
    if len(groups) != 3:
        return False
    (a, a_len), (b, _), (c, c_len) = groups
    if a_len == 4:
        return _valid_date(a, b, c)
    if c_len == 4:
        return _valid_date(c, a, b) or _valid_date(c, b, a)
    return False


_NIF_LETTERS = "TRWAGMYFPDXBNJZSQVHLCKE"


def es_nif(value: bytes, parameter: int) -> bool:
    """Spanish DNI/NIF: 8 digits and the letter of their value mod 23."""
    text = _alnum_upper(value).decode()
    return len(text) == 9 and text[:8].isdigit() and _NIF_LETTERS[int(text[:8]) % 23] == text[8]


def es_nie(value: bytes, parameter: int) -> bool:
    """Spanish NIE: X/Y/Z stand for 0/1/2, then as a NIF."""
    text = _alnum_upper(value).decode()
    if len(text) != 9 or text[0] not in "XYZ" or not text[1:8].isdigit():
        return False
    return _NIF_LETTERS[int(str("XYZ".index(text[0])) + text[1:8]) % 23] == text[8]


def au_abn(value: bytes, parameter: int) -> bool:
    """Australian Business Number: first digit minus 1, weighted sum divisible by 89."""
    digits = digits_of(value)
    if len(digits) != 11 or digits[0] == 0:
        return False
    digits[0] -= 1
    weights = (10, 1, 3, 5, 7, 9, 11, 13, 15, 17, 19)
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 89 == 0


def au_acn(value: bytes, parameter: int) -> bool:
    """Australian Company Number: weights 8..1, complement of the sum mod 10."""
    digits = digits_of(value)
    if len(digits) != 9:
        return False
    total = sum(d * w for d, w in zip(digits[:8], range(8, 0, -1), strict=True))
    return (10 - total % 10) % 10 == digits[8]


def au_tfn(value: bytes, parameter: int) -> bool:
    """Australian Tax File Number: 9 digits, weighted sum divisible by 11."""
    digits = digits_of(value)
    if len(digits) != 9 or len(set(digits)) == 1:
        return False
    weights = (1, 4, 3, 7, 5, 8, 6, 9, 10)
    return sum(d * w for d, w in zip(digits, weights, strict=True)) % 11 == 0


def au_medicare(value: bytes, parameter: int) -> bool:
    """Australian Medicare card: first digit 2-6, check digit from weights 1 3 7 9."""
    digits = digits_of(value)
    if len(digits) != 10 or not 2 <= digits[0] <= 6:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9)
    return sum(d * w for d, w in zip(digits[:8], weights, strict=True)) % 10 == digits[8]


_VERHOEFF_D = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 2, 3, 4, 0, 6, 7, 8, 9, 5), (2, 3, 4, 0, 1, 7, 8, 9, 5, 6),
    (3, 4, 0, 1, 2, 8, 9, 5, 6, 7), (4, 0, 1, 2, 3, 9, 5, 6, 7, 8), (5, 9, 8, 7, 6, 0, 4, 3, 2, 1),
    (6, 5, 9, 8, 7, 1, 0, 4, 3, 2), (7, 6, 5, 9, 8, 2, 1, 0, 4, 3), (8, 7, 6, 5, 9, 3, 2, 1, 0, 4),
    (9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
)  # fmt: skip
_VERHOEFF_P = (
    (0, 1, 2, 3, 4, 5, 6, 7, 8, 9), (1, 5, 7, 6, 2, 8, 3, 0, 9, 4), (5, 8, 0, 3, 7, 9, 6, 1, 4, 2),
    (8, 9, 1, 6, 0, 4, 3, 5, 2, 7), (9, 4, 5, 3, 1, 2, 6, 8, 7, 0), (4, 2, 8, 6, 5, 7, 3, 9, 0, 1),
    (2, 7, 9, 3, 8, 0, 6, 4, 1, 5), (7, 0, 4, 6, 9, 1, 3, 2, 5, 8),
)  # fmt: skip


def in_aadhaar(value: bytes, parameter: int) -> bool:
    """Indian Aadhaar: 12 digits, first 2-9, Verhoeff checksum."""
    digits = digits_of(value)
    if len(digits) != 12 or digits[0] < 2 or len(_separators(value)) > 1:
        return False
    check = 0
    for index, digit in enumerate(reversed(digits)):
        check = _VERHOEFF_D[check][_VERHOEFF_P[index % 8][digit]]
    return check == 0


def pl_pesel(value: bytes, parameter: int) -> bool:
    """Polish PESEL: weights 1 3 7 9 repeating; the check digit completes the sum to 10."""
    digits = digits_of(value)
    if len(digits) != 11:
        return False
    weights = (1, 3, 7, 9, 1, 3, 7, 9, 1, 3)
    total = sum(d * w for d, w in zip(digits[:10], weights, strict=True))
    month = (digits[2] * 10 + digits[3]) % 20
    return (10 - total % 10) % 10 == digits[10] and 1 <= month <= 12


_HETU_CHECKS = "0123456789ABCDEFHJKLMNPRSTUVWXY"


def fi_hetu(value: bytes, parameter: int) -> bool:
    """Finnish personal identity code: DDMMYY, century sign, 3 digits, check char mod 31."""
    raw = value.decode("ascii", "replace").upper()
    if len(raw) != 11 or not raw[:6].isdigit() or not raw[7:10].isdigit():
        return False
    if not (1 <= int(raw[:2]) <= 31 and 1 <= int(raw[2:4]) <= 12):
        return False
    return raw[6] in "+-ABCDEFUVWXY" and _HETU_CHECKS[int(raw[:6] + raw[7:10]) % 31] == raw[10]


def sg_nric(value: bytes, parameter: int) -> bool:
    """Singapore NRIC/FIN: weights 2 7 6 5 4 3 2, offsets by series, check letter tables."""
    text = _alnum_upper(value).decode()
    if len(text) != 9 or text[0] not in "STFGM" or not text[1:8].isdigit():
        return False
    weights = (2, 7, 6, 5, 4, 3, 2)
    total = sum(int(d) * w for d, w in zip(text[1:8], weights, strict=True))
    total += {"S": 0, "T": 4, "F": 0, "G": 4, "M": 3}[text[0]]
    letters = {
        "S": "JZIHGFEDCBA",
        "T": "JZIHGFEDCBA",
        "F": "XWUTRQPNMLK",
        "G": "XWUTRQPNMLK",
        "M": "KLJNPQRTUWX",
    }
    return letters[text[0]][total % 11] == text[8]


_IT_ODD = (1, 0, 5, 7, 9, 13, 15, 17, 19, 21, 2, 4, 18, 20, 11, 3, 6, 8, 12, 14, 16, 10, 22, 25, 24, 23)


def it_fiscal_code(value: bytes, parameter: int) -> bool:
    """Italian codice fiscale: 15 characters, check letter from odd/even position tables."""
    text = _alnum_upper(value).decode()
    if len(text) != 16 or not text[15].isalpha():
        return False
    total = 0
    for index, char in enumerate(text[:15]):
        position = int(char) if char.isdigit() else ord(char) - 65
        total += _IT_ODD[position] if index % 2 == 0 else position
    return chr(65 + total % 26) == text[15]


def us_npi(value: bytes, parameter: int) -> bool:
    """US National Provider Identifier: Luhn over the 80840 prefix and 10 digits."""
    digits = digits_of(value)
    return len(digits) == 10 and digits[0] in (1, 2) and luhn_ok([8, 0, 8, 4, 0, *digits])


def ca_sin(value: bytes, parameter: int) -> bool:
    """Canadian SIN: 9 digits, Luhn, first digit not 0 or 8."""
    digits = digits_of(value)
    return len(digits) == 9 and digits[0] not in (0, 8) and len(_separators(value)) <= 1 and luhn_ok(digits)


def nl_bsn(value: bytes, parameter: int) -> bool:
    """Dutch BSN: the eleven-test with weights 9..2 and -1."""
    digits = digits_of(value)
    if len(digits) != 9 or len(set(digits)) == 1:
        return False
    total = sum(d * w for d, w in zip(digits, (9, 8, 7, 6, 5, 4, 3, 2, -1), strict=True))
    return total % 11 == 0


def br_cpf(value: bytes, parameter: int) -> bool:
    """Brazilian CPF: two mod-11 check digits."""
    digits = digits_of(value)
    if len(digits) != 11 or len(set(digits)) == 1:
        return False
    for position in (9, 10):
        total = sum(d * w for d, w in zip(digits[:position], range(position + 1, 1, -1), strict=True))
        if (total * 10) % 11 % 10 != digits[position]:
            return False
    return True


_BASE64URL = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"


def base64url_decode(text: bytes) -> bytes | None:
    """Unpadded base64url; leftover bits are ignored, an impossible length is None."""
    if len(text) % 4 == 1:
        return None
    out = bytearray()
    accumulator, bits = 0, 0
    for byte in text:
        index = _BASE64URL.find(bytes((byte,)))
        if index < 0:
            return None
        accumulator = (accumulator << 6) | index
        bits += 6
        if bits >= 8:
            bits -= 8
            out.append((accumulator >> bits) & 0xFF)
    return bytes(out)


def jwt(value: bytes, parameter: int) -> bool:
    """A JSON Web Token: the first segment decodes to a JSON object naming its "alg"."""
    header = base64url_decode(value.split(b".", 1)[0])
    return header is not None and header.lstrip(b" \t\r\n").startswith(b"{") and b'"alg"' in header


def ipv6(value: bytes, parameter: int) -> bool:
    """Eight hex groups, or fewer around one '::'; an IPv4 tail counts as two groups."""
    text = value.decode("ascii", "replace")
    groups_needed = 8
    if "." in text:
        head, _, tail = text.rpartition(":")
        octets = tail.split(".")
        if len(octets) != 4 or not all(o.isdigit() and len(o) <= 3 and int(o) <= 255 for o in octets):
            return False
        text, groups_needed = head + ":" if head.endswith(":") else head, 6
    if text.count("::") > 1:
        return False
    halves = text.split("::")
    groups = [g for half in halves for g in half.split(":") if half] if len(halves) == 2 else text.split(":")
    if not all(1 <= len(g) <= 4 and all(c in "0123456789abcdefABCDEF" for c in g) for g in groups):
        return False
    return len(groups) < groups_needed if len(halves) == 2 else len(groups) == groups_needed


_BASE58 = b"123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BECH32 = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l"


def _base58check(text: bytes) -> bool:
    number = bytearray(25)
    for byte in text:
        carry = _BASE58.find(bytes((byte,)))
        if carry < 0:
            return False
        for index in range(24, -1, -1):
            carry += number[index] * 58
            number[index] = carry & 0xFF
            carry >>= 8
        if carry:
            return False
    digest = hashlib.sha256(hashlib.sha256(bytes(number[:21])).digest()).digest()
    return number[0] in (0x00, 0x05) and digest[:4] == bytes(number[21:])


def _bech32(text: bytes) -> bool:
    lowered = text.lower()
    separator = lowered.rfind(b"1")
    if lowered[:separator] != b"bc" or len(lowered) - separator < 7:
        return False
    values = [c >> 5 for c in lowered[:separator]] + [0] + [c & 31 for c in lowered[:separator]]
    for byte in lowered[separator + 1 :]:
        index = _BECH32.find(bytes((byte,)))
        if index < 0:
            return False
        values.append(index)
    checksum = 1
    generator = (0x3B6A57B2, 0x26508E6D, 0x1EA119FA, 0x3D4233DD, 0x2A1462B3)
    for item in values:
        top = checksum >> 25
        checksum = ((checksum & 0x1FFFFFF) << 5) ^ item
        for bit in range(5):
            if (top >> bit) & 1:
                checksum ^= generator[bit]
    return checksum in (1, 0x2BC830A3)


def bitcoin_address(value: bytes, parameter: int) -> bool:
    """Legacy/P2SH addresses by base58check, segwit addresses by the bech32/bech32m checksum."""
    return _bech32(value) if value[:3].lower() == b"bc1" else _base58check(value)


ValidatorFunction = Callable[[bytes, int], bool]


@dataclass(frozen=True)
class ValidatorSpec:
    id: int
    name: str
    function: ValidatorFunction


# The id is part of the table format: append only, never renumber.
VALIDATORS: tuple[ValidatorSpec, ...] = tuple(
    ValidatorSpec(index, function.__name__, function)
    for index, function in enumerate(
        (
            luhn,
            us_ssn,
            us_itin,
            aba_routing,
            iban,
            uk_nhs,
            uk_nino,
            entropy,
            calendar_date,
            es_nif,
            es_nie,
            au_abn,
            au_acn,
            au_tfn,
            au_medicare,
            in_aadhaar,
            pl_pesel,
            fi_hetu,
            sg_nric,
            it_fiscal_code,
            us_npi,
            ca_sin,
            nl_bsn,
            br_cpf,
            jwt,
            ipv6,
            bitcoin_address,
        ),
        start=1,
    )
)
VALIDATORS_BY_NAME = {spec.name: spec for spec in VALIDATORS}
VALIDATORS_BY_ID = {spec.id: spec for spec in VALIDATORS}


def run_validator(validator_id: int, value: bytes, parameter: int) -> bool:
    return VALIDATORS_BY_ID[validator_id].function(value, parameter)
