"""The corpus `meshveil bench scan` measures: traffic shaped like a service mesh's, from a
fixed seed, clean or with about 1% of its bytes planted sensitive values.

Four kinds of documents, one per line: JSON API responses, service log batches, form
posts and LLM chat transcripts. A planted value is valid for its kind (Luhn, mod-97,
SSA and NHS rules) and sits where such data sits in real traffic (a "card_number"
member, a log key, a form field, a sentence in a chat); its span and Presidio entity
name are recorded, the ground truth for recall and false positives. The clean variant
plants nothing, so anything found in it is a false positive.
"""

from __future__ import annotations

import base64
import json
import random
import string
from collections.abc import Callable
from dataclasses import dataclass, field

DEFAULT_SEED = 20260401
DENSE_FRACTION = 0.01
"""Share of the dense corpus's bytes that are planted values."""


@dataclass(frozen=True)
class Planted:
    entity: str
    """Presidio's entity name (meshveil's detectors report the same names)."""
    start: int
    end: int


@dataclass(frozen=True)
class Corpus:
    data: bytes
    planted: tuple[Planted, ...]

    @property
    def planted_bytes(self) -> int:
        return sum(item.end - item.start for item in self.planted)


# -- Values -----------------------------------------------------------------------------

_FIRST = (
    "ada",
    "grace",
    "alan",
    "edsger",
    "barbara",
    "ken",
    "margaret",
    "dennis",
    "frances",
    "john",
    "radia",
)
_LAST = ("lovelace", "hopper", "turing", "dijkstra", "liskov", "thompson", "hamilton", "ritchie", "allen")
_DOMAINS = ("example.com", "mail.example.org", "corp.example.net", "shop.example.co.uk")
_WORDS = (
    "order", "shipment", "invoice", "delivery", "warehouse", "customer", "payment", "refund", "status",
    "pending", "the", "a", "to", "of", "and", "with", "for", "your", "request", "was", "processed",
    "please", "check", "update", "account", "settings", "product", "catalog", "review", "rating",
)  # fmt: skip


def _digits(rng: random.Random, count: int) -> str:
    return "".join(rng.choice(string.digits) for _ in range(count))


def _luhn_check_digit(body: str) -> str:
    total = 0
    for index, char in enumerate(reversed(body)):
        digit = int(char) * 2 if index % 2 == 0 else int(char)
        total += digit - 9 if digit > 9 else digit
    return str((10 - total % 10) % 10)


def card_number(rng: random.Random) -> str:
    prefix = rng.choice(("4", "51", "52", "55"))
    body = prefix + _digits(rng, 15 - len(prefix))
    number = body + _luhn_check_digit(body)
    separator = rng.choice((" ", "-", ""))
    return separator.join(number[index : index + 4] for index in range(0, 16, 4))


def us_ssn(rng: random.Random) -> str:
    area = rng.choice([value for value in range(1, 900) if value != 666])
    return f"{area:03d}-{rng.randrange(1, 100):02d}-{rng.randrange(1, 10000):04d}"


def email(rng: random.Random) -> str:
    return f"{rng.choice(_FIRST)}.{rng.choice(_LAST)}{rng.randrange(100)}@{rng.choice(_DOMAINS)}"


def phone(rng: random.Random) -> str:
    number = f"{rng.randrange(200, 999)} {_digits(rng, 3)} {_digits(rng, 4)}"
    return rng.choice((f"+1 {number}", f"({number[:3]}) {number[4:7]}-{number[8:]}"))


def iban(rng: random.Random) -> str:
    country, length = rng.choice((("DE", 22), ("GB", 22), ("FR", 27), ("NL", 18)))
    if country == "GB":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 14)
    elif country == "NL":
        bban = "".join(rng.choice(string.ascii_uppercase) for _ in range(4)) + _digits(rng, 10)
    else:
        bban = _digits(rng, length - 4)
    numeric = "".join(str(int(char, 36)) for char in bban + country + "00")
    code = f"{country}{98 - int(numeric) % 97:02d}{bban}"
    return (
        " ".join(code[index : index + 4] for index in range(0, len(code), 4)) if rng.random() < 0.5 else code
    )


def ipv4(rng: random.Random) -> str:
    return rng.choice(("203.0.113", "198.51.100", f"10.{rng.randrange(256)}.{rng.randrange(256)}")) + (
        f".{rng.randrange(1, 255)}"
    )


def nhs_number(rng: random.Random) -> str:
    while True:
        body = _digits(rng, 9)
        check = 11 - sum(int(d) * w for d, w in zip(body, range(10, 1, -1), strict=True)) % 11
        check = 0 if check == 11 else check
        if check != 10 and len(set(body)) > 1:
            number = body + str(check)
            return f"{number[:3]} {number[3:6]} {number[6:]}"


def bank_account(rng: random.Random) -> str:
    return str(rng.randrange(1, 10)) + _digits(rng, rng.randrange(9, 13))


def aws_access_key(rng: random.Random) -> str:
    return "AKIA" + "".join(rng.choice(string.ascii_uppercase + "234567") for _ in range(16))


def github_token(rng: random.Random) -> str:
    return "ghp_" + "".join(rng.choice(string.ascii_letters + string.digits) for _ in range(36))


def jwt(rng: random.Random) -> str:
    def encode(document: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(document).encode()).decode().rstrip("=")

    signature = "".join(rng.choice(string.ascii_letters + string.digits + "-_") for _ in range(43))
    payload = {"sub": f"user-{rng.randrange(10**6)}", "iat": 1714665234 + rng.randrange(10**5)}
    return f"{encode({'alg': 'HS256', 'typ': 'JWT'})}.{encode(payload)}.{signature}"


@dataclass(frozen=True)
class Kind:
    entity: str
    make: Callable[[random.Random], str]
    key: str
    """The member, field or log key such a value travels under (its context)."""
    sentence: str
    """How a person writes it in a chat message; {} is the value."""


KINDS = (
    Kind("CREDIT_CARD", card_number, "card_number", "my card is {} exp 09/27"),
    Kind("US_SSN", us_ssn, "ssn", "my social security number is {}"),
    Kind("EMAIL_ADDRESS", email, "email", "write to me at {} please"),
    Kind("PHONE_NUMBER", phone, "phone", "call me on {} tomorrow"),
    Kind("IBAN_CODE", iban, "iban", "the IBAN for the refund is {}"),
    Kind("IP_ADDRESS", ipv4, "client_ip", "the server at {} is down"),
    Kind("UK_NHS", nhs_number, "nhs_number", "my NHS number is {}"),
    Kind("US_BANK_NUMBER", bank_account, "bank_account_number", "my bank account number is {}"),
    Kind("AWS_ACCESS_KEY", aws_access_key, "aws_access_key_id", "I used the key {} in the script"),
    Kind("GITHUB_TOKEN", github_token, "github_token", "here is my token {} for the CI"),
    Kind("JWT", jwt, "authorization", "the bearer token was {} when it failed"),
)


# -- Documents --------------------------------------------------------------------------


@dataclass
class _Writer:
    rng: random.Random
    density: float
    parts: list[str] = field(default_factory=list)
    length: int = 0
    planted: list[Planted] = field(default_factory=list)
    planted_bytes: int = 0

    def text(self, value: str) -> None:
        self.parts.append(value)
        self.length += len(value.encode())

    def wants_value(self) -> bool:
        """Plant here when the planted share is below the target density."""
        return self.density > 0 and self.planted_bytes < self.density * max(self.length, 1)

    def value(self, kind: Kind, value: str, template: str = "{}") -> None:
        before, after = template.split("{}")
        self.text(before)
        start = self.length
        self.text(value)
        self.planted.append(Planted(kind.entity, start, self.length))
        self.planted_bytes += self.length - start
        self.text(after)


def _sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(_WORDS) for _ in range(words)).capitalize() + "."


def _json_document(writer: _Writer) -> None:
    rng = writer.rng
    writer.text('{"data":[')
    for index in range(rng.randrange(2, 6)):
        if index:
            writer.text(",")
        record = {
            "id": f"ord_{rng.getrandbits(48):012x}",
            "customer": f"{rng.choice(_FIRST).title()} {rng.choice(_LAST).title()}",
            "created_at": f"2024-{rng.randrange(1, 13):02d}-{rng.randrange(1, 29):02d}T"
            f"{rng.randrange(24):02d}:{rng.randrange(60):02d}:{rng.randrange(60):02d}Z",
            "status": rng.choice(("pending", "shipped", "delivered", "refunded")),
            "total": f"{rng.randrange(100, 99999) / 100:.2f}",
            "items": rng.randrange(1, 9),
            "note": _sentence(rng, rng.randrange(3, 12)),
        }
        writer.text(json.dumps(record)[:-1])
        if writer.wants_value():
            kind = rng.choice(KINDS)
            writer.value(kind, kind.make(rng), f', "{kind.key}": "{{}}"')
        writer.text("}")
    writer.text(f'],"page":{rng.randrange(1, 40)},"has_more":{rng.choice(("true", "false"))}}}')


def _log_batch(writer: _Writer) -> None:
    rng = writer.rng
    for _ in range(rng.randrange(4, 12)):
        writer.text(
            f"2024-05-{rng.randrange(1, 29):02d}T{rng.randrange(24):02d}:{rng.randrange(60):02d}:"
            f"{rng.randrange(60):02d}.{rng.randrange(1000):03d}Z {rng.choice(('INFO', 'WARN', 'DEBUG'))} "
            f"[{rng.choice(('api', 'worker', 'billing', 'auth'))}-{rng.randrange(8)}] "
            f"{rng.choice(('GET', 'POST', 'PUT'))} /api/v{rng.randrange(1, 3)}/{rng.choice(_WORDS)}s/"
            f"{rng.randrange(10**5)} status={rng.choice((200, 201, 204, 404, 500))} "
            f"duration_ms={rng.randrange(1, 900)} trace={rng.getrandbits(64):016x}"
        )
        if writer.wants_value():
            kind = rng.choice(KINDS)
            writer.value(kind, kind.make(rng), f" {kind.key}={{}}")
        writer.text(" | ")
    writer.text("end")


def _form_post(writer: _Writer) -> None:
    rng = writer.rng
    writer.text(
        f"first_name={rng.choice(_FIRST).title()}&last_name={rng.choice(_LAST).title()}"
        f"&city={rng.choice(('London', 'Paris', 'Berlin', 'Austin'))}&quantity={rng.randrange(1, 20)}"
        f"&comment={'+'.join(_sentence(rng, rng.randrange(4, 14)).split())}"
    )
    if writer.wants_value():
        kind = rng.choice(KINDS)
        writer.value(kind, kind.make(rng).replace(" ", ""), f"&{kind.key}={{}}")
    writer.text(f"&csrf={rng.getrandbits(96):024x}")


def _chat(writer: _Writer) -> None:
    rng = writer.rng
    writer.text('{"model":"assistant-1","messages":[')
    for turn in range(rng.randrange(2, 7)):
        role = "user" if turn % 2 == 0 else "assistant"
        writer.text(
            ("," if turn else "") + f'{{"role":"{role}","content":"{_sentence(rng, rng.randrange(6, 30))}'
        )
        if role == "user" and writer.wants_value():
            kind = rng.choice(KINDS)
            writer.value(kind, kind.make(rng), " " + kind.sentence + ".")
        writer.text(f' {_sentence(rng, rng.randrange(4, 20))}"}}')
    writer.text("]}")


_DOCUMENTS = (_json_document, _json_document, _log_batch, _form_post, _chat)


def build_corpus(size: int, *, seed: int = DEFAULT_SEED, density: float = 0.0) -> Corpus:
    """About `size` bytes of documents, one per line; `density` of them planted values."""
    assert size > 0 and 0.0 <= density < 0.5
    writer = _Writer(random.Random(seed), density)  # noqa: S311 - reproducible test data
    while writer.length < size:
        writer.rng.choice(_DOCUMENTS)(writer)
        writer.text("\n")
    return Corpus("".join(writer.parts).encode(), tuple(writer.planted))


def json_bodies(
    count: int, *, size: int = 1024, seed: int = DEFAULT_SEED, density: float = 0.0
) -> list[bytes]:
    """`count` JSON API responses of exactly `size` bytes (filled up with a last text member)."""
    rng = random.Random(seed)  # noqa: S311 - reproducible test data
    bodies: list[bytes] = []
    while len(bodies) < count:
        writer = _Writer(rng, density)
        _json_document(writer)
        document = "".join(writer.parts)[:-1]
        room = size - len(document.encode()) - len(',"summary":""}')
        if room < 0:
            continue
        summary = ""
        while len(summary) < room:
            summary += _sentence(rng, 12) + " "
        bodies.append((document + ',"summary":"' + summary[:room] + '"}').encode())
    return bodies
